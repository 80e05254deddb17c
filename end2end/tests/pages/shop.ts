import { expect, type Locator, type Page } from "@playwright/test";

/** The demo store at /demo, as a shopper uses it. */
export class Shop {
  readonly cartLink: Locator;

  constructor(readonly page: Page) {
    this.cartLink = page.locator(".cart-link");
  }

  async open(): Promise<void> {
    await this.page.goto("/demo");
    await expect(this.page.getByRole("heading", { name: "Good things for everyday life" })).toBeVisible();
  }

  async openCategory(name: string): Promise<void> {
    await this.page.getByRole("navigation", { name: "Categories" }).getByRole("link", { name }).click();
    await expect(this.page.getByRole("heading", { level: 1, name })).toBeVisible();
  }

  /** Sorting happens in the page (history.pushState), not by a page load. */
  async sortBy(key: "price" | "name"): Promise<void> {
    await this.page.locator(`a[data-sort="${key}"]`).click();
    await expect(this.page).toHaveURL(new RegExp(`\\?sort=${key}$`));
  }

  /** Opens the first product of the list; returns its name. */
  async openFirstProduct(): Promise<string> {
    const card = this.page.locator("#products .card").first();
    const name = (await card.locator(".name").textContent()) ?? "";
    await card.getByRole("link").click();
    await expect(this.page.getByRole("heading", { level: 1, name })).toBeVisible();
    return name;
  }

  /** The product page's price in cents, read from what the shopper sees. */
  async priceCents(): Promise<number> {
    const text = (await this.page.locator(".product .price").textContent()) ?? "";
    return Math.round(Number(text.replace(/[€,]/g, "")) * 100);
  }

  async addToCart(quantity: number): Promise<void> {
    await this.page.getByLabel("Quantity").selectOption(String(quantity));
    await this.page.getByRole("button", { name: "Add to cart" }).click();
    await expect(this.page.getByRole("heading", { name: "Your cart" })).toBeVisible();
  }

  async checkout(): Promise<void> {
    await this.page.getByRole("link", { name: "Checkout" }).click();
    await expect(this.page.getByRole("heading", { name: "Checkout" })).toBeVisible();
  }

  /** Places the order; returns its number from the thank-you page. */
  async placeOrder(): Promise<string> {
    await this.page.getByRole("button", { name: /^Place order/ }).click();
    await expect(this.page.getByRole("heading", { name: "Thank you for your order" })).toBeVisible();
    return (await this.page.locator(".order-id").textContent()) ?? "";
  }

  /** The tracker's visitor and session ids in this browser. */
  async trackerIds(): Promise<{ visitor: string; session: string }> {
    return this.page.evaluate(() => ({
      visitor: JSON.parse(localStorage.getItem("sp_v") ?? '""') as string,
      session: (JSON.parse(sessionStorage.getItem("sp_s") ?? "{}") as { i?: string }).i ?? "",
    }));
  }
}
