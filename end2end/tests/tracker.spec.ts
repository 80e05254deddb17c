import { gzipSync } from "node:zlib";

import { closeDb } from "./db";
import { test as base, expect } from "./fixtures";
import { POLL, STOREFRONT_BROWSER, Storefront } from "./pages/storefront";

/**
 * The tracker (public/tracker.js, built from tracker/) on a storefront (see
 * pages/storefront.ts), sending to the real server, checked in the real
 * database.
 */

const BUDGET_GZIP = 1536;
// What the server's CORS layer adds; fulfilled answers must carry it too, or
// the browser hides them from the tracker like a network error.
const CORS = { "access-control-allow-origin": "*" };

const MUG = {
  item_id: "SKU-17",
  item_name: "Blue mug",
  item_category: "Kitchen",
  item_brand: "Acme",
  price: 12.99,
  quantity: 2,
};
const CART = { currency: "EUR", value: 25.98, items: [MUG] };

const test = base.extend<{ endpointFailures: boolean }>({
  // Tests that make the ingestion endpoint fail on purpose set this: then
  // Chromium's "Failed to load resource" for the endpoint (and only that) is
  // expected, not an error.
  endpointFailures: [false, { option: true }],
  // Still automatic (an override keeps that); runs its check after this.
  browserErrors: async ({ browserErrors, endpointFailures, baseURL }, use) => {
    await use(browserErrors);
    if (endpointFailures) {
      const deliberate = (error: string) =>
        error.startsWith("console error: Failed to load resource") && error.endsWith(`(${baseURL}/api/events)`);
      const kept = browserErrors.filter((error) => !deliberate(error));
      browserErrors.splice(0, browserErrors.length, ...kept);
    }
  },
});

test.use(STOREFRONT_BROWSER);
test.afterAll(closeDb);

/** The events in a request body the tracker sent. */
function sentEvents(body: string | null): Array<{ id: string; type: string }> {
  return body ? JSON.parse(body).events : [];
}

test.describe("the tracker", () => {
  test("records the page view, queued calls and e-commerce events once each, in one session", async ({
    page,
    baseURL,
  }) => {
    const shop = new Storefront(page, baseURL!).define("/p/blue-mug", {
      title: "Blue mug",
      // Called before the tracker loaded: the stub queues them.
      head: `<script>
        storepulse("user", "cust-1042");
        storepulse("view_item", ${JSON.stringify({ ...CART, items: [{ ...MUG, quantity: 1 }], value: 12.99, list: "home" })});
      </script>`,
    });
    await shop.open("/p/blue-mug?utm_source=news&utm_medium=email&utm_campaign=bf", {
      referer: "http://search.example/",
    });
    await shop.track("add_to_cart", CART);
    const order = `T-${shop.tag}`;
    await shop.track("purchase", { ...CART, transaction_id: order, coupon: "SPRING", nested: { no: 1 } });

    await expect.poll(() => shop.counts(), POLL).toEqual({ page_view: 1, view_item: 1, add_to_cart: 1, purchase: 1 });
    await expect.poll(() => shop.queued(), POLL).toEqual([]);

    const { visitor, session } = await shop.ids();
    const rows = await shop.events();
    for (const row of rows) {
      expect(row, row.event_type).toMatchObject({
        visitor_id: visitor,
        session_id: session,
        user_id: "cust-1042",
        url: shop.url("/p/blue-mug?utm_source=news&utm_medium=email&utm_campaign=bf"),
        referrer: "http://search.example/",
        title: "Blue mug",
        utm_source: "news",
      });
    }
    expect(new Set(rows.map((row) => row.event_id)).size).toBe(4);

    const view = await shop.byType("view_item");
    expect(view).toMatchObject({ currency: "EUR", value_minor: 1299 });
    expect(view.items).toEqual([{ ...MUG, price: 1299, quantity: 1 }]);
    expect(view.props).toMatchObject({ list: "home", utm_source: "news" });

    const cart = await shop.byType("add_to_cart");
    expect(cart).toMatchObject({ currency: "EUR", value_minor: 2598, transaction_id: null });
    expect(cart.items).toEqual([{ ...MUG, price: 1299 }]);

    const purchase = await shop.byType("purchase");
    expect(purchase).toMatchObject({ currency: "EUR", value_minor: 2598, transaction_id: order, coupon: "SPRING" });
    // Scalars become props; objects are not props; the coupon is an order
    // field of its own (ga4.spec.ts checks what is sent).
    expect(purchase.props).toEqual({ utm_source: "news", utm_medium: "email", utm_campaign: "bf" });

    // The only global is `storepulse`, which the snippet's stub made.
    const added = await page.evaluate(() =>
      Object.keys(window).filter((key) => !(window as any).globalsBeforeTracker.includes(key)),
    );
    expect(added).toEqual([]);
  });

  test("records SPA navigations and back/forward as page views", async ({ page, baseURL }) => {
    const shop = new Storefront(page, baseURL!);
    await shop.open("/home?utm_source=ad");
    const home = shop.url("/home?utm_source=ad");
    const cup = shop.url("/p/red-cup");

    await page.evaluate((url) => history.pushState({}, "", url), cup);
    // Same URL: no page view.
    await page.evaluate(() => history.replaceState({ scroll: 1 }, "", location.href));
    await page.evaluate(() => history.back());
    await expect(page).toHaveURL(home);

    await expect.poll(() => shop.counts(), POLL).toEqual({ page_view: 3 });
    const { session } = await shop.ids();
    const views = await shop.events();
    expect(views.map(({ url, referrer, session_id }) => ({ url, referrer, session_id }))).toEqual([
      { url: home, referrer: null, session_id: session },
      { url: cup, referrer: home, session_id: session },
      { url: home, referrer: cup, session_id: session },
    ]);
    // The server reads UTM from the URL; later pages of the session keep the
    // landing page's campaign in props.
    expect(views[1].utm_source).toBeNull();
    expect(views[1].props).toEqual({ utm_source: "ad" });
  });

  test.describe("when the endpoint fails", () => {
    test.use({ endpointFailures: true });

    test("keeps events through an outage and a page load, then sends each once", async ({ page, baseURL }) => {
      const shop = new Storefront(page, baseURL!);
      // Routes cannot catch the beacon a page sends while it unloads, so the
      // outage takes beacons too: they vanish, as they do from a device that
      // went offline.
      await page.addInitScript(() => (navigator.sendBeacon = () => true));
      const attempted = new Set<string>();
      await page.route(shop.endpoint, (route) => {
        for (const event of sentEvents(route.request().postData())) attempted.add(event.type);
        return route.abort();
      });

      await shop.open("/p/blue-mug");
      await shop.track("add_to_cart", CART);
      await expect.poll(() => attempted.has("add_to_cart"), POLL).toBe(true);

      await shop.open("/checkout");
      await shop.track("purchase", { ...CART, transaction_id: `T-${shop.tag}` });
      await expect.poll(() => attempted.has("purchase"), POLL).toBe(true);
      expect(await shop.events()).toEqual([]);
      expect((await shop.queued()).map((event) => event.type).sort()).toEqual([
        "add_to_cart",
        "page_view",
        "page_view",
        "purchase",
      ]);

      await page.unroute(shop.endpoint);

      await expect.poll(() => shop.counts(), { timeout: 30_000 }).toEqual({
        page_view: 2,
        add_to_cart: 1,
        purchase: 1,
      });
      await expect.poll(() => shop.queued(), POLL).toEqual([]);
      const { visitor, session } = await shop.ids();
      for (const row of await shop.events()) {
        expect(row).toMatchObject({ visitor_id: visitor, session_id: session });
      }
    });

    test("drops a batch the server refuses with 400 without retrying it", async ({ page, baseURL }) => {
      const shop = new Storefront(page, baseURL!);
      const requests: string[][] = [];
      await page.route(shop.endpoint, (route) => {
        requests.push(sentEvents(route.request().postData()).map((event) => event.type));
        if (requests.length > 1) return route.continue();
        return route.fulfill({ status: 400, headers: CORS, json: { error: "body is not a JSON envelope" } });
      });

      await shop.open("/p/blue-mug");
      await expect.poll(() => requests.length, POLL).toBe(1);
      // Refused means gone: out of the queue at once, not kept for a retry.
      await expect.poll(() => shop.queued(), POLL).toEqual([]);

      await shop.track("add_to_cart", CART);
      await expect.poll(() => shop.counts(), POLL).toEqual({ add_to_cart: 1 });
      expect(requests).toEqual([["page_view"], ["add_to_cart"]]);
    });

    test("retries a 503 after its Retry-After with the same event ids", async ({ page, baseURL }) => {
      const shop = new Storefront(page, baseURL!);
      const requests: Array<{ at: number; ids: string[] }> = [];
      await page.route(shop.endpoint, (route) => {
        const ids = sentEvents(route.request().postData()).map((event) => event.id);
        requests.push({ at: Date.now(), ids });
        if (requests.length > 1) return route.continue();
        // 2 s rather than 1: distinguishable from the tracker's own first
        // backoff step (1 s). The header is exposed to the cross-origin
        // script as a server would have to.
        return route.fulfill({
          status: 503,
          headers: { ...CORS, "retry-after": "2", "access-control-expose-headers": "Retry-After" },
          json: { error: "server is overloaded, retry later" },
        });
      });

      await shop.open("/p/blue-mug");
      await shop.track("view_item", CART);

      await expect.poll(() => shop.counts(), POLL).toEqual({ page_view: 1, view_item: 1 });
      expect(requests).toHaveLength(2);
      expect(requests[1].ids).toEqual(requests[0].ids);
      expect(new Set((await shop.events()).map((row) => row.event_id))).toEqual(new Set(requests[0].ids));
      expect(requests[1].at - requests[0].at).toBeGreaterThanOrEqual(1_900);
    });
  });

  test("captures GA4 e-commerce objects pushed to the dataLayer", async ({ page, baseURL }) => {
    const shop = new Storefront(page, baseURL!, { attrs: " data-datalayer" }).define("/p/blue-mug", {
      // Pushed before the tracker loaded.
      head: `<script>
        window.dataLayer = window.dataLayer || [];
        dataLayer.push({ event: "gtm.js" });
        dataLayer.push({ event: "view_item", ecommerce: ${JSON.stringify(CART)} });
      </script>`,
    });
    await shop.open("/p/blue-mug");
    await page.evaluate((cart) => {
      const layer = (window as any).dataLayer;
      layer.push({ ecommerce: null });
      layer.push({ event: "add_to_cart", ecommerce: cart });
    }, CART);

    await expect.poll(() => shop.counts(), POLL).toEqual({ page_view: 1, view_item: 1, add_to_cart: 1 });
    const cart = await shop.byType("add_to_cart");
    expect(cart).toMatchObject({ currency: "EUR", value_minor: 2598 });
    expect(cart.items).toEqual([{ ...MUG, price: 1299 }]);
    // The shop's own dataLayer still works.
    expect(await page.evaluate(() => (window as any).dataLayer.length)).toBe(4);
  });

  test("streams over a WebSocket with data-transport=ws", async ({ page, baseURL }) => {
    const shop = new Storefront(page, baseURL!, { attrs: ' data-transport="ws"' });
    const sent: Array<{ seq: number; events: Array<{ type: string }> }> = [];
    const received: Array<Record<string, unknown>> = [];
    page.on("websocket", (socket) => {
      socket.on("framesent", ({ payload }) => sent.push(JSON.parse(String(payload))));
      socket.on("framereceived", ({ payload }) => received.push(JSON.parse(String(payload))));
    });
    const posts: string[] = [];
    page.on("request", (request) => {
      if (request.url() === shop.endpoint) posts.push(request.method());
    });

    await shop.open("/p/blue-mug");
    await shop.track("add_to_cart", CART);

    await expect.poll(() => shop.counts(), POLL).toEqual({ page_view: 1, add_to_cart: 1 });
    expect(sent.flatMap((message) => message.events.map((event) => event.type)).sort()).toEqual([
      "add_to_cart",
      "page_view",
    ]);
    await expect.poll(() => received.length, POLL).toBe(sent.length);
    expect(received).toEqual(
      sent.map(({ seq, events }) => ({ ack: seq, accepted: events.length, duplicates: 0, rejected: [], bots: 0 })),
    );
    await expect.poll(() => shop.queued(), POLL).toEqual([]);
    expect(posts).toEqual([]);
  });

  test("cookieless mode stores nothing and sends no ids", async ({ page, baseURL }) => {
    const shop = new Storefront(page, baseURL!, { attrs: " data-cookieless" });
    await shop.open("/p/blue-mug");
    await shop.track("add_to_cart", CART);

    await expect.poll(() => shop.counts(), POLL).toEqual({ page_view: 1, add_to_cart: 1 });
    for (const row of await shop.events()) {
      // The server's daily-salted hash, and a session made from it.
      expect(row.visitor_id).toMatch(/^h-[0-9a-f]{24}$/);
      expect(row.session_id).toBe(`s-${row.visitor_id}`);
    }
    expect(await page.evaluate(() => [localStorage.length, sessionStorage.length])).toEqual([0, 0]);
  });

  test("sends nothing when data-respect-dnt meets Global Privacy Control", async ({ page, baseURL }) => {
    const shop = new Storefront(page, baseURL!, { attrs: " data-respect-dnt" }).define("/p/blue-mug", {
      head: `<script>storepulse("view_item", ${JSON.stringify(CART)});</script>`,
    });
    await page.addInitScript(() => Object.defineProperty(navigator, "globalPrivacyControl", { value: true }));
    // Fake time: every timer the tracker could have set runs below, without
    // waiting for it.
    await page.clock.install();
    const requests: string[] = [];
    page.on("request", (request) => {
      if (request.url().startsWith(baseURL!) && !request.url().endsWith("/tracker.js")) requests.push(request.url());
    });

    await shop.open("/p/blue-mug");
    // The tracker ran: it took over the stub (and its queue).
    expect(await page.evaluate(() => "q" in (window as any).storepulse)).toBe(false);
    await shop.track("add_to_cart", CART);
    await page.clock.runFor(120_000);
    await page.evaluate(() => {
      document.dispatchEvent(new Event("visibilitychange"));
      window.dispatchEvent(new PageTransitionEvent("pagehide"));
    });

    expect(requests).toEqual([]);
    expect(await page.evaluate(() => [localStorage.length, sessionStorage.length])).toEqual([0, 0]);
  });

  test("the served tracker fits its budget of 1.5 KB gzip", async ({ request }) => {
    const response = await request.get("/tracker.js");
    expect(response.status()).toBe(200);
    const raw = await response.body();
    const gzip = gzipSync(raw, { level: 9 }).length;
    console.log(`tracker.js: ${raw.length} bytes raw, ${gzip} bytes gzip`);
    expect(gzip).toBeLessThanOrEqual(BUDGET_GZIP);
  });
});
