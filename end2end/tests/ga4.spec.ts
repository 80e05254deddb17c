import { closeDb } from "./db";
import { expect, test } from "./fixtures";
import { examples, STAN_AND_FRIENDS_TEE, type Example } from "./ga4-examples";
import { POLL, STOREFRONT_BROWSER, Storefront, type EventRow, type StoredItem } from "./pages/storefront";

/**
 * GA4 e-commerce events a shop already reports for Google, bridged by the
 * tracker's data-datalayer option in both shapes they reach window.dataLayer
 * in: gtag.js calls and Tag Manager objects. Google's own examples go in;
 * what the tracker sent and what the server stored come out.
 */

test.use(STOREFRONT_BROWSER);
test.afterAll(closeDb);

/** gtag.js's snippet as Google gives it, without loading gtag.js itself (the tests reach nothing but the server). */
const GTAG_SNIPPET = `window.dataLayer = window.dataLayer || [];
function gtag() { dataLayer.push(arguments); }
gtag("js", new Date());
gtag("config", "G-TEST000000");`;

// Google's items as the server stores them: every field GA4 defines for an
// item (not google_business_vertical), money (price, discount) in cents.
const SHIRT = {
  affiliation: "Google Merchandise Store",
  coupon: "SUMMER_FUN",
  item_category2: "Adult",
  item_category3: "Shirts",
  item_category4: "Crew",
  item_category5: "Short sleeve",
  item_list_id: "related_products",
  item_list_name: "Related Products",
  location_id: "ChIJIQBpAG2ahYAR_6128GcTUEo",
};
const STAN: StoredItem = {
  item_id: "SKU_12345",
  item_name: "Stan and Friends Tee",
  item_category: "Apparel",
  item_brand: "Google",
  price: 1001,
  quantity: 3,
  ...SHIRT,
  item_variant: "green",
  discount: 222,
  index: 0,
};
const GREY: StoredItem = {
  item_id: "SKU_12346",
  item_name: "Google Grey Women's Tee",
  item_category: "Apparel",
  item_brand: "Google",
  price: 2101,
  quantity: 2,
  ...SHIRT,
  item_variant: "gray",
  discount: 333,
  index: 1,
  promotion_id: "P_12345",
  promotion_name: "Summer Sale",
};
const PROMOTED: StoredItem = {
  ...STAN,
  creative_name: "summer_banner2",
  creative_slot: "featured_app_1",
  promotion_id: "P_12345",
  promotion_name: "Summer Sale",
};
const LIST = { item_list_id: "related_products", item_list_name: "Related products" };
const PROMOTION = {
  creative_name: "Summer Banner",
  creative_slot: "featured_app_1",
  promotion_id: "P_12345",
  promotion_name: "Summer Sale",
};
const NO_ORDER = { tax_minor: null, shipping_minor: null, coupon: null };
const CART = { currency: "USD", value_minor: 3003, items: [STAN], props: {}, ...NO_ORDER };
const NO_MONEY = { currency: null, value_minor: null, ...NO_ORDER };

/** What each of Google's examples becomes in the events table. */
const STORED: Record<string, Partial<EventRow>> = {
  view_item_list: { ...NO_MONEY, items: [STAN], props: LIST },
  select_item: { ...NO_MONEY, items: [STAN], props: LIST },
  view_item: CART,
  add_to_wishlist: CART,
  add_to_cart: CART,
  remove_from_cart: CART,
  view_cart: CART,
  // The coupon is an order field of its own, not a prop; so are tax and shipping.
  begin_checkout: { ...CART, coupon: "SUMMER_FUN" },
  add_shipping_info: { ...CART, coupon: "SUMMER_FUN", props: { shipping_tier: "Ground" } },
  add_payment_info: { ...CART, coupon: "SUMMER_FUN", props: { payment_type: "Credit Card" } },
  purchase: {
    currency: "USD",
    value_minor: 7205,
    tax_minor: 360,
    shipping_minor: 599,
    coupon: "SUMMER_SALE",
    items: [STAN, GREY],
    props: { customer_type: "new" },
  },
  refund: { ...CART, tax_minor: 111, shipping_minor: 333, coupon: "SUMMER_FUN" },
  view_promotion: { ...NO_MONEY, items: [PROMOTED], props: PROMOTION },
  select_promotion: { ...NO_MONEY, items: [PROMOTED], props: PROMOTION },
  generate_lead: { currency: "USD", value_minor: 3003, items: [], props: { lead_source: "Trade show" }, ...NO_ORDER },
};

/** The fields of an event the tracker sends as they are, beside id, type and props. */
const FIELDS = ["currency", "value", "items", "transaction_id", "tax", "shipping", "coupon"];

/**
 * Each example is stored once, as STORED says, and went out with its fields
 * unchanged: items with every GA4 item field (the server keeps those GA4
 * defines), and an order's tax, shipping and coupon as fields of their own.
 * Fields the example has not are not sent: nothing is made up.
 */
async function expectBridged(shop: Storefront, reported: Example[], transactionId: string): Promise<void> {
  const types = Object.fromEntries([["page_view", 1], ...reported.map(({ event }) => [event, 1])]);
  await expect.poll(() => shop.counts(), POLL).toEqual(types);
  await expect.poll(() => shop.queued(), POLL).toEqual([]);
  expect(Object.keys(STORED).sort(), "every example has its expected row").toEqual(
    reported.map((e) => e.event).sort(),
  );

  for (const { event, params } of reported) {
    const row = await shop.byType(event);
    const { currency, value_minor, tax_minor, shipping_minor, coupon, transaction_id, items, props } = row;
    expect({ currency, value_minor, tax_minor, shipping_minor, coupon, transaction_id, items, props }, event).toEqual({
      ...STORED[event],
      transaction_id: event === "purchase" || event === "refund" ? transactionId : null,
    });

    const copies = shop.sent().filter((e) => e.type === event);
    expect(new Set(copies.map((e) => e.id)).size, `${event} sent once`).toBe(1);
    for (const field of FIELDS) {
      if (field in params) expect(copies[0][field], `${event}.${field}`).toEqual(params[field]);
      else expect(copies[0], event).not.toHaveProperty(field);
    }
    expect(copies[0].props, `${event}.props`).toEqual(STORED[event].props);
  }
}

test.describe("GA4 e-commerce events from the dataLayer", () => {
  test("gtag.js calls with Google's examples are stored, one made before tracker.js loaded", async ({
    page,
    baseURL,
  }) => {
    const shop = new Storefront(page, baseURL!, { attrs: " data-datalayer" });
    const transactionId = `T_12345-${shop.tag}-gtag`;
    const [first, ...later] = examples(`-${shop.tag}-gtag`);
    shop.define("/p/stan-and-friends-tee", {
      head: `<script>${GTAG_SNIPPET}
gtag("event", ${JSON.stringify(first.event)}, ${JSON.stringify(first.params)});</script>`,
    });
    await shop.open("/p/stan-and-friends-tee");
    for (const { event, params } of later) {
      await page.evaluate(([name, p]) => (window as any).gtag("event", name, p), [event, params] as const);
    }

    await expectBridged(shop, [first, ...later], transactionId);
  });

  test("Tag Manager pushes of the same examples are stored, one made before tracker.js loaded", async ({
    page,
    baseURL,
  }) => {
    const shop = new Storefront(page, baseURL!, { attrs: " data-datalayer" });
    const transactionId = `T_12345-${shop.tag}-gtm`;
    const [first, ...later] = examples(`-${shop.tag}-gtm`);
    // As Google's Tag Manager guide does it: clear the previous ecommerce
    // object, then push the event.
    shop.define("/p/stan-and-friends-tee", {
      head: `<script>window.dataLayer = window.dataLayer || [];
dataLayer.push({ "gtm.start": Date.now(), event: "gtm.js" });
dataLayer.push({ ecommerce: null });
dataLayer.push(${JSON.stringify({ event: first.event, ecommerce: first.params })});</script>`,
    });
    await shop.open("/p/stan-and-friends-tee");
    for (const { event, params } of later) {
      await page.evaluate(
        ([name, ecommerce]) => {
          const { dataLayer } = window as any;
          dataLayer.push({ ecommerce: null });
          dataLayer.push({ event: name, ecommerce });
        },
        [event, params] as const,
      );
    }

    await expectBridged(shop, [first, ...later], transactionId);
    // The shop's own dataLayer still holds everything it pushed.
    expect(await page.evaluate(() => (window as any).dataLayer.length)).toBe(1 + 2 * (1 + later.length));
  });

  test("one event reported both ways is stored once; gtag's commands and other events not at all", async ({
    page,
    baseURL,
  }) => {
    const shop = new Storefront(page, baseURL!, { attrs: " data-datalayer" }).define("/cart", {
      head: `<script>${GTAG_SNIPPET}
gtag("consent", "default", { ad_storage: "denied" });
gtag("set", { currency: "USD" });
gtag("event", "login", { method: "Google" });</script>`,
    });
    const cart = examples("").find((e) => e.event === "add_to_cart")!.params;
    await shop.open("/cart");
    await page.evaluate((params) => {
      const { gtag, dataLayer } = window as any;
      gtag("event", "page_view", { page_title: "Cart" });
      // A shop that feeds gtag.js and Tag Manager alike, the same event each.
      gtag("event", "add_to_cart", params);
      dataLayer.push({ ecommerce: null });
      dataLayer.push({ event: "add_to_cart", ecommerce: { ...params } });
      // The same event twice is two events.
      gtag("event", "view_cart", params);
      gtag("event", "view_cart", params);
    }, cart);

    await expect.poll(() => shop.counts(), POLL).toEqual({ page_view: 1, add_to_cart: 1, view_cart: 2 });
    await expect.poll(() => shop.queued(), POLL).toEqual([]);
    // Resends (same id) are one event.
    const sent = new Map(shop.sent().map((e) => [e.id, e.type]));
    expect([...sent.values()]).toEqual(["page_view", "add_to_cart", "view_cart", "view_cart"]);
  });

  test("a refund that names items but no value is sent without one and valued by the server", async ({
    page,
    baseURL,
  }) => {
    const shop = new Storefront(page, baseURL!, { attrs: " data-datalayer" }).define("/orders", {
      head: `<script>${GTAG_SNIPPET}</script>`,
    });
    await shop.open("/orders");
    const transaction_id = `T-${shop.tag}`;
    const order = { transaction_id, currency: "USD", value: 30.03, items: [STAN_AND_FRIENDS_TEE] };
    const refund = { currency: "USD", transaction_id, items: [{ item_id: "SKU_12345", quantity: 1 }] };
    await page.evaluate(
      ([purchase, params]) => {
        (window as any).gtag("event", "purchase", purchase);
        (window as any).gtag("event", "refund", params);
      },
      [order, refund] as const,
    );

    // The browser does not guess a value; the server takes the price the
    // item had in the order and keeps it with the refund.
    await expect.poll(() => shop.counts(), POLL).toEqual({ page_view: 1, purchase: 1, refund: 1 });
    await expect.poll(() => shop.queued(), POLL).toEqual([]);
    const [sent] = shop.sent().filter((e) => e.type === "refund");
    expect(sent).toMatchObject(refund);
    expect(sent).not.toHaveProperty("value");
    const stored = await shop.byType("refund");
    expect(stored).toMatchObject({ currency: "USD", value_minor: 1001, transaction_id });
    expect(stored.items).toEqual([
      { item_id: "SKU_12345", item_name: "SKU_12345", item_category: "", item_brand: "", price: 1001, quantity: 1 },
    ]);
  });
});
