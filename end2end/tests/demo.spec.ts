import { closeDb, query } from "./db";
import { expect, screenshot, test } from "./fixtures";
import { Shop } from "./pages/shop";

/**
 * The demo store at /demo with the real tracker in real Chromium: a shopper
 * browses, sorts (an SPA navigation), buys and reloads the thank-you page.
 * Everything is checked in the database the server writes to.
 */

// Headless Chromium says "HeadlessChrome", which the server counts as a bot.
const DESKTOP_CHROME =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

test.use({ userAgent: DESKTOP_CHROME });
test.afterAll(closeDb);

type Row = {
  event_type: string;
  source: string;
  session_id: string | null;
  url: string | null;
  value_minor: string | null;
  transaction_id: string | null;
  verified: boolean;
  items: { item_id: string; quantity: number; price_minor?: number }[];
};

async function eventsOf(visitor: string): Promise<Row[]> {
  return query<Row>(
    `SELECT event_type, source, session_id, url, value_minor::text, transaction_id, verified, items
       FROM events JOIN sites USING (site_id)
      WHERE site_key = 'demo' AND visitor_id = $1
      ORDER BY occurred_at, event_type`,
    [visitor],
  );
}

function countByType(rows: Row[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const row of rows) counts[row.event_type] = (counts[row.event_type] ?? 0) + 1;
  return counts;
}

test("a shopper's journey arrives exactly once, and a reloaded thank-you page counts once", async ({
  page,
}, testInfo) => {
  const shop = new Shop(page);
  await shop.open();
  await screenshot(page, testInfo, "demo-home");
  await shop.openCategory("Electronics");
  await shop.sortBy("price");
  await screenshot(page, testInfo, "demo-category");
  const product = await shop.openFirstProduct();
  const price = await shop.priceCents();
  await screenshot(page, testInfo, "demo-product");
  await shop.addToCart(2);
  await expect(shop.cartLink).toHaveText("Cart (2)");
  await screenshot(page, testInfo, "demo-cart");
  await shop.checkout();
  await screenshot(page, testInfo, "demo-checkout");
  const order = await shop.placeOrder();
  expect(order).toMatch(/^SP-[0-9A-F]{12}$/);
  await screenshot(page, testInfo, "demo-thank-you");
  await page.reload();
  await expect(page.locator(".order-id")).toHaveText(order);

  const { visitor, session } = await shop.trackerIds();
  expect(visitor).not.toBe("");
  // Every event left the tracker's stored queue only on a 2xx: once it is
  // empty, the server has acknowledged all of them.
  await expect
    .poll(() => page.evaluate(() => JSON.parse(localStorage.getItem("sp_q") ?? "[]").length), { timeout: 15_000 })
    .toBe(0);

  const rows = await eventsOf(visitor);
  expect(countByType(rows)).toEqual({
    // Home, category, the sorted category (pushState), product, cart,
    // checkout, thank-you and its reload.
    page_view: 8,
    view_item_list: 2,
    view_item: 1,
    add_to_cart: 1,
    begin_checkout: 1,
    // The backend's signed report; the browser's two copies were duplicates.
    purchase: 1,
  });
  expect(new Set(rows.map((row) => row.session_id))).toEqual(new Set([session]));
  expect(rows.filter((row) => row.event_type === "page_view").map((row) => new URL(row.url ?? "").pathname + new URL(row.url ?? "").search))
    .toContain("/demo/c/electronics?sort=price");

  const added = rows.find((row) => row.event_type === "add_to_cart");
  expect(added?.value_minor).toBe(String(price * 2));
  expect(added?.items[0]?.quantity).toBe(2);
  const viewed = rows.find((row) => row.event_type === "view_item");
  expect(viewed?.items).toHaveLength(1);

  const purchase = rows.find((row) => row.event_type === "purchase");
  expect(purchase).toMatchObject({ source: "server", transaction_id: order, verified: true });
  expect(purchase?.value_minor).toBe(String(price * 2));
  const orders = await query<{ verified: boolean; value_minor: string }>(
    "SELECT verified, value_minor::text FROM orders JOIN sites USING (site_id) WHERE site_key = 'demo' AND transaction_id = $1",
    [order],
  );
  expect(orders).toEqual([{ verified: true, value_minor: String(price * 2) }]);
  expect(product).not.toBe("");
});

test("removing a line reports remove_from_cart and empties the cart", async ({ page }) => {
  const shop = new Shop(page);
  await shop.open();
  await shop.openCategory("Books");
  await shop.openFirstProduct();
  await shop.addToCart(1);
  await page.getByRole("button", { name: "Remove" }).click();
  await expect(page.getByText("Your cart is empty.")).toBeVisible();
  const { visitor } = await shop.trackerIds();
  await expect
    .poll(async () => countByType(await eventsOf(visitor)).remove_from_cart ?? 0, { timeout: 15_000 })
    .toBe(1);
});

test("search reports the term and shows matching products as text", async ({ page }) => {
  const shop = new Shop(page);
  await shop.open();
  const term = '<img src=x onerror=alert(1)> mug';
  page.on("dialog", (dialog) => {
    throw new Error(`a dialog opened: ${dialog.message()}`);
  });
  await page.getByLabel("Search products").fill(term);
  await page.getByLabel("Search products").press("Enter");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(`Results for “${term}”`);
  const { visitor } = await shop.trackerIds();
  await expect
    .poll(async () => (await eventsOf(visitor)).filter((row) => row.event_type === "search").length, {
      timeout: 15_000,
    })
    .toBe(1);
  const stored = await query<{ search_term: string }>(
    "SELECT search_term FROM events WHERE visitor_id = $1 AND event_type = 'search'",
    [visitor],
  );
  expect(stored).toEqual([{ search_term: term }]);
});
