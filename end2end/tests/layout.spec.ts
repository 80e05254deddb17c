import type { Page } from "@playwright/test";
import { expect, gotoHydrated, screenshot, test } from "./fixtures";
import { createSite, send, type Site } from "./seed";

/**
 * Every page at a desktop (1280 px) and a phone (390 px) width, in the light
 * and the dark scheme, with numbers as long as a real shop's: a screenshot
 * of each, and the page must fit its width (no element wider than the
 * viewport, no table cell whose text is cut off), with chart text of at
 * least 11 px as drawn.
 */

let site: Site;

/** A shop with five-figure orders and long SKUs, in euros. */
test.beforeAll(async ({ request }) => {
  site = createSite("layout", "Europe/Berlin", "EUR");
  const item = (n: number, price: number, quantity = 1) => ({
    item_id: `SKU-${String(n).padStart(3, "0")}-XL-BLUE`,
    item_name: `Handmade oak dining table no. ${n}`,
    item_category: "Furniture",
    price,
    quantity,
  });
  const events = [];
  for (let n = 1; n <= 6; n++) {
    const s = { visitor: `lv-${n}`, session: `ls-${n}`, source: "web", user_id: `customer-with-a-long-id-${n}` };
    const value = 18434.92 * n;
    events.push(
      { ...s, type: "page_view", url: `https://shop.example/tables/oak-${n}?utm_source=newsletter-winter-sale` },
      { ...s, type: "view_item", currency: "EUR", value, items: [item(n, value)] },
      { ...s, type: "add_to_cart", currency: "EUR", value, items: [item(n, value)] },
      { ...s, type: "begin_checkout", currency: "EUR", value, items: [item(n, value)] },
      { ...s, type: "purchase", transaction_id: `LT-${n}`, currency: "EUR", value, items: [item(n, value)] },
    );
  }
  await send(request, site, events);
});

const widths = [
  { name: "desktop", width: 1280, height: 900 },
  { name: "phone", width: 390, height: 844 },
] as const;

function pages(): { path: string; name: string }[] {
  const q = `?site=${site.key}`;
  return [
    { path: `/${q}&range=today`, name: "overview-today" },
    { path: `/${q}&range=30d&compare=previous`, name: "overview-30d" },
    { path: `/hourly${q}&range=today`, name: "hourly-today" },
    { path: `/hourly${q}&range=30d`, name: "hourly-30d" },
    { path: `/products${q}&range=7d`, name: "products" },
    { path: `/pages${q}&range=7d`, name: "pages" },
    { path: `/realtime${q}`, name: "realtime" },
    { path: `/users${q}&range=7d`, name: "users" },
    { path: `/status${q}`, name: "status" },
    { path: "/sites", name: "sites" },
    { path: `/sites/${site.key}`, name: "site-settings" },
    { path: "/account", name: "account" },
  ];
}

/** What overflows: elements wider than the viewport, and cells cut off. */
async function overflow(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = [];
    const width = document.documentElement.clientWidth;
    const describe = (el: Element) =>
      `${el.tagName.toLowerCase()}${el.getAttribute("data-testid") ? `[${el.getAttribute("data-testid")}]` : ""}` +
      ` "${(el.textContent ?? "").trim().slice(0, 40)}"`;
    if (document.documentElement.scrollWidth > width + 1) {
      found.push(`the page is ${document.documentElement.scrollWidth} px wide in ${width} px`);
    }
    // Inside a scrolling panel an element may be wider than the screen (the
    // panel scrolls); anywhere else it may not.
    const inScroller = (el: Element) => {
      for (let p = el.parentElement; p; p = p.parentElement) {
        const style = getComputedStyle(p);
        if (style.overflowX === "auto" || style.overflowX === "scroll") return true;
      }
      return false;
    };
    for (const el of Array.from(document.body.querySelectorAll("*"))) {
      const box = el.getBoundingClientRect();
      if (box.width === 0 || getComputedStyle(el).display === "none") continue;
      if ((box.right > width + 1 || box.left < -1) && !inScroller(el)) {
        found.push(`${describe(el)} spans ${Math.round(box.left)}–${Math.round(box.right)} px`);
      }
    }
    for (const cell of Array.from(document.querySelectorAll("td, th"))) {
      const style = getComputedStyle(cell);
      // Ellipsized on purpose, with the whole text as its title.
      if (style.textOverflow === "ellipsis" && cell.getAttribute("title")) continue;
      if (cell.scrollWidth > cell.clientWidth + 1) {
        found.push(`cell ${describe(cell)} shows ${cell.clientWidth} of ${cell.scrollWidth} px`);
      }
    }
    return found;
  });
}

/** The smallest chart text as drawn, in CSS pixels (0 without a chart). */
async function smallestChartText(page: Page): Promise<number> {
  return page.evaluate(() => {
    let smallest = 0;
    for (const svg of Array.from(document.querySelectorAll(".chart svg"))) {
      const drawn = svg.getBoundingClientRect().width;
      if (drawn === 0) continue;
      const scale = drawn / Number(svg.getAttribute("width"));
      for (const text of Array.from(svg.querySelectorAll("text"))) {
        const px = Number(text.getAttribute("font-size")) * scale;
        smallest = smallest === 0 ? px : Math.min(smallest, px);
      }
    }
    return smallest;
  });
}

for (const scheme of ["light", "dark"] as const) {
  for (const size of widths) {
    test(`every page fits ${size.name} width (${scheme})`, async ({ page }, testInfo) => {
      await page.setViewportSize({ width: size.width, height: size.height });
      await page.emulateMedia({ colorScheme: scheme });
      for (const { path, name } of pages()) {
        const response = await gotoHydrated(page, path);
        expect(response?.status(), path).toBe(200);
        await screenshot(page, testInfo, `${name}-${size.name}-${scheme}`);
        expect(await overflow(page), `${path} at ${size.width} px`).toEqual([]);
        const text = await smallestChartText(page);
        if (text > 0) expect(text, `chart text on ${path}`).toBeGreaterThanOrEqual(11);
      }
    });
  }
}

test("the header keeps the site, range and comparison from page to page", async ({ page }) => {
  await gotoHydrated(page, `/?site=${site.key}&range=30d&compare=previous`);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Hourly Sales" }).click();
  await expect(page).toHaveURL(new RegExp(`/hourly\\?site=${site.key}&range=30d&compare=previous$`));
  await expect(page.locator(".range-site strong")).toHaveText(`Test shop ${site.key}`);
  await expect(page.locator(".chip[aria-current=page]")).toHaveText("Last 30 days");
  // Thirty days go by day: a row per day, each a link to that day's hours.
  const days = page.getByTestId("hourly-table").locator("tbody tr");
  await expect(days).toHaveCount(30);
  await days.last().getByRole("link").click();
  await expect(page).toHaveURL(/range=custom&from=\d{4}-\d{2}-\d{2}&to=\d{4}-\d{2}-\d{2}/);
  await expect(page.getByTestId("hourly-table").locator("tbody th").first()).toHaveText(/^\d{4}-\d{2}-\d{2} \d{2}:00$/);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Products" }).click();
  await expect(page).toHaveURL(new RegExp(`/products\\?site=${site.key}&range=custom`));
});

test("the charts have a continuous axis with whole ticks", async ({ page }) => {
  await gotoHydrated(page, `/hourly?site=${site.key}&range=today`);
  const labels = await page.locator(".chart .chart-wide svg text").allTextContents();
  const trimmed = labels.map((l) => l.trim());
  // Hour labels at round hours from midnight, not only the hours with sales.
  expect(trimmed).toContain("00:00");
  // Value ticks: whole euros with thousands separators, no repeats.
  const ticks = trimmed.filter((t) => /^[\d,]+$/.test(t));
  expect(ticks.length).toBeGreaterThan(1);
  expect(new Set(ticks).size).toBe(ticks.length);
  expect(ticks.some((t) => t.includes(","))).toBe(true);
});

test("a currency change that hides revenue asks first, and says how much", async ({ page }) => {
  // Its own site: the layout site's currency stays EUR for the tests above.
  const shop = createSite("currency", "Europe/Berlin", "EUR");
  await send(page.request, shop, [
    { visitor: "cv-1", session: "cs-1", type: "purchase", transaction_id: "CT-1", currency: "EUR", value: 1234.5,
      items: [{ item_id: "X", item_name: "Chair", item_category: "Furniture", price: 1234.5, quantity: 1 }] },
  ]);
  await gotoHydrated(page, `/sites/${shop.key}`);
  await expect(page.getByTestId("currency-note")).toContainText("nothing is converted");
  await page.getByLabel("Currency (ISO 4217)").fill("USD");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("alert")).toContainText("from EUR to USD hides €1,234.50 of earlier revenue (1 orders in EUR)");
  await page.getByLabel("Change the currency anyway").check();
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toHaveText("Saved.");
  await gotoHydrated(page, `/?site=${shop.key}&range=today`);
  await expect(page.locator(".range-site")).toContainText("USD");
});
