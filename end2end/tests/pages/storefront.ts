import { randomUUID } from "node:crypto";

import { expect, type Page, type Route } from "@playwright/test";

import { query } from "../db";

/**
 * A made-up storefront that embeds the real tracker (public/tracker.js) and
 * sends to the real server, for the tracker's tests. Its pages are served
 * from a fake origin, cross-origin to the server as in real life;
 * `*.localhost` is a secure context, like a shop on HTTPS. Each test's pages
 * live under a path of their own, so its stored events are told apart from
 * every other test's by URL.
 */

export const SHOP = "http://shop.localhost:8123";

/** How long tests wait for events to be stored. */
export const POLL = { timeout: 15_000 };

/**
 * Browser options for storefront tests. Headless Chromium says
 * "HeadlessChrome", which the server rightly counts as a bot and does not
 * store; the tests browse as the desktop Chrome it is. The shop is a made-up
 * public origin and the server listens on loopback: Chromium's Local Network
 * Access would block that (in real life the analytics host is public too).
 */
export const STOREFRONT_BROWSER = {
  userAgent:
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
  permissions: ["local-network-access"],
};

/**
 * An item as the server stores it: the fields the reports read, then GA4's
 * other item fields when the item has them; money (price, discount) in minor
 * units.
 */
export type StoredItem = {
  item_id: string;
  item_name: string;
  item_category: string;
  item_brand: string;
  price: number | null;
  quantity: number;
  item_variant?: string;
  item_category2?: string;
  item_category3?: string;
  item_category4?: string;
  item_category5?: string;
  affiliation?: string;
  coupon?: string;
  discount?: number;
  index?: number;
  item_list_id?: string;
  item_list_name?: string;
  location_id?: string;
  creative_name?: string;
  creative_slot?: string;
  promotion_id?: string;
  promotion_name?: string;
};

export type EventRow = {
  event_id: string;
  event_type: string;
  visitor_id: string;
  session_id: string | null;
  user_id: string | null;
  url: string;
  referrer: string | null;
  title: string | null;
  currency: string | null;
  value_minor: number | null;
  tax_minor: number | null;
  shipping_minor: number | null;
  coupon: string | null;
  transaction_id: string | null;
  utm_source: string | null;
  items: StoredItem[];
  props: Record<string, unknown>;
};

/** An event as the tracker sent it (the wire format, before the server). */
export type SentEvent = { id: string; type: string; props: Record<string, unknown> } & Record<string, unknown>;

export type PageSpec = { title?: string; head?: string; attrs?: string };

export class Storefront {
  readonly tag = randomUUID().slice(0, 8);
  readonly endpoint: string;
  private readonly pages = new Map<string, PageSpec>();
  private readonly bodies: string[] = [];
  private routed = false;

  constructor(
    readonly page: Page,
    readonly baseURL: string,
    private readonly defaults: PageSpec = {},
  ) {
    this.endpoint = `${baseURL}/api/events`;
    page.on("request", (request) => {
      const body = request.postData();
      if (request.url() === this.endpoint && body) this.bodies.push(body);
    });
  }

  url(path: string): string {
    return `${SHOP}/${this.tag}${path}`;
  }

  /** Registers what `path` (without its query) serves beyond the defaults. */
  define(path: string, spec: PageSpec): this {
    this.pages.set(path, spec);
    return this;
  }

  /** Loads `path` of this shop (a full page load). */
  async open(path: string, options: { referer?: string } = {}): Promise<void> {
    if (!this.routed) {
      await this.page.route(`${SHOP}/**`, (route) => this.serve(route));
      this.routed = true;
    }
    await this.page.goto(this.url(path), options);
  }

  private serve(route: Route): Promise<void> {
    const { pathname } = new URL(route.request().url());
    const path = pathname.slice(this.tag.length + 1);
    const spec = { title: `Demo shop ${path}`, ...this.defaults, ...this.pages.get(path) };
    const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${spec.title}</title>
<script>window.storepulse = window.storepulse || function () { (storepulse.q = storepulse.q || []).push(arguments) };</script>
${spec.head ?? ""}
<script defer src="${this.baseURL}/tracker.js" data-site="demo"${spec.attrs ?? ""}></script>
</head><body><h1>${spec.title}</h1>
<script>window.globalsBeforeTracker = Object.keys(window).concat("globalsBeforeTracker");</script>
</body></html>`;
    return route.fulfill({ contentType: "text/html", body });
  }

  /** `storepulse(name, params)` in the page, as the shop's code calls it. */
  async track(name: string, params?: object): Promise<void> {
    await this.page.evaluate(([n, p]) => (window as any).storepulse(n, p), [name, params] as const);
  }

  /** The events not yet acknowledged, as the tracker keeps them. */
  queued(): Promise<Array<{ id: string; type: string }>> {
    return this.page.evaluate(() => JSON.parse(localStorage.getItem("sp_q") ?? "[]"));
  }

  ids(): Promise<{ visitor: string; session: string }> {
    return this.page.evaluate(() => ({
      visitor: JSON.parse(localStorage.getItem("sp_v")!),
      session: JSON.parse(sessionStorage.getItem("sp_s")!).i,
    }));
  }

  /** Every event the tracker posted to the server so far, resends included, in order. */
  sent(): SentEvent[] {
    return this.bodies.flatMap((body) => JSON.parse(body).events as SentEvent[]);
  }

  /** This test's stored events, oldest first. */
  events(): Promise<EventRow[]> {
    return query<EventRow>(
      `SELECT e.event_id, e.event_type, e.visitor_id, e.session_id, e.user_id, e.url,
              e.referrer, e.title, e.currency, e.value_minor::float8 AS value_minor,
              e.tax_minor::float8 AS tax_minor, e.shipping_minor::float8 AS shipping_minor,
              e.coupon, e.transaction_id, e.utm_source, e.items, e.props
         FROM events e JOIN sites s ON s.site_id = e.site_id
        WHERE s.site_key = 'demo' AND e.url LIKE $1
        ORDER BY e.occurred_at, e.event_type`,
      [`${SHOP}/${this.tag}/%`],
    );
  }

  /** How many stored events of each type, e.g. `{page_view: 2}`. */
  async counts(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const { event_type } of await this.events()) {
      counts[event_type] = (counts[event_type] ?? 0) + 1;
    }
    return counts;
  }

  async byType(type: string): Promise<EventRow> {
    const rows = (await this.events()).filter((row) => row.event_type === type);
    expect(rows, `stored ${type} events`).toHaveLength(1);
    return rows[0];
  }
}
