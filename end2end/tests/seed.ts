import { execFileSync } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";

import type { APIRequestContext } from "@playwright/test";

import { query } from "./db";

/**
 * A site of its own with a known set of events, sent through the real
 * ingestion API (and one signed server event), so pages can be checked to
 * the cent. The site is created with the server's own CLI.
 */

export const DESKTOP_CHROME =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

export type Site = { key: string; secret: string };

export function createSite(name: string, timezone = "Europe/Berlin", currency = "USD"): Site {
  const binary = process.env.STOREPULSE_SERVER_BIN;
  if (!binary) throw new Error("STOREPULSE_SERVER_BIN must name the server binary (cargo xtask test sets it)");
  const key = `${name}-${Date.now().toString(36)}`;
  const out = execFileSync(
    binary,
    [
      "site", "add", key, "--name", `Test shop ${key}`, "--timezone", timezone, "--currency", currency,
      // The signed-in admin of the suite may see it.
      "--member", process.env.STOREPULSE_ADMIN_EMAIL ?? "admin@example.com",
    ],
    { encoding: "utf8", env: { ...process.env, STOREPULSE_LOG__FILTER: "warn" } },
  );
  const secret = /signing secret[^:]*: (\S+)/.exec(out)?.[1];
  if (!secret) throw new Error(`no signing secret in: ${out}`);
  return { key, secret };
}

type Item = { item_id: string; item_name: string; item_category: string; price: number; quantity: number };
type Event = Record<string, unknown>;

export async function send(
  request: APIRequestContext,
  site: Site,
  events: Event[],
  options: { signed?: boolean; userAgent?: string } = {},
): Promise<void> {
  const now = Date.now();
  const body = JSON.stringify({
    site: site.key,
    sent_at: now,
    events: events.map((e) => ({ id: randomUUID(), ts: now, ...e })),
  });
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": options.userAgent ?? DESKTOP_CHROME,
  };
  if (options.signed) {
    const t = Math.floor(now / 1000);
    const mac = createHmac("sha256", site.secret).update(`${t}.${body}`).digest("hex");
    headers["x-storepulse-signature"] = `t=${t},v1=${mac}`;
  }
  const response = await request.post("/api/events", { data: body, headers });
  const receipt = await response.json();
  if (response.status() !== 202 || receipt.accepted + receipt.duplicates !== events.length) {
    throw new Error(`seeding failed: ${response.status()} ${JSON.stringify(receipt)}`);
  }
  await folded();
}

/**
 * Waits until the server's fold stage has folded every stored event into
 * the reports (it runs every 250 ms), so a page opened next shows them.
 */
export async function folded(): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const [row] = await query<{ n: string }>("SELECT count(*)::text AS n FROM fold_pending");
    if (row?.n === "0") return;
    if (Date.now() > deadline) throw new Error(`the fold stage did not catch up: ${row?.n} rows pending`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export const MUG: Item = { item_id: "A", item_name: "Blue mug", item_category: "Kitchen", price: 10, quantity: 1 };
export const BOOK: Item = { item_id: "B", item_name: "Field guide", item_category: "Books", price: 5.5, quantity: 1 };

function at(item: Item, quantity: number, price = item.price): Item {
  return { ...item, quantity, price };
}

/**
 * Three sessions: one from a newsletter that buys two mugs (then $5 is
 * refunded) and whose order for a third mug the backend reports signed; one
 * from Google that adds a book and removes it; one direct that buys two
 * books. Totals: revenue $40.00 ($9.00 verified), 3 orders, refunds $5.00.
 */
export async function seedShop(request: APIRequestContext, site: Site): Promise<void> {
  const s1 = { visitor: "v-1", session: "s-1", source: "web" };
  const s2 = { visitor: "v-2", session: "s-2", source: "web" };
  const s3 = { visitor: "v-3", session: "s-3", source: "web" };
  await send(request, site, [
    { ...s1, type: "page_view", url: "https://shop.example/?utm_source=newsletter&utm_medium=email" },
    { ...s1, type: "view_item", url: "https://shop.example/p/mug", currency: "USD", value: 10, items: [at(MUG, 1)] },
    { ...s1, type: "add_to_cart", currency: "USD", value: 20, items: [at(MUG, 2)] },
    { ...s1, type: "begin_checkout", currency: "USD", value: 20, items: [at(MUG, 2)] },
    { ...s1, type: "purchase", transaction_id: "T-1", currency: "USD", value: 20, items: [at(MUG, 2)] },
    { ...s2, type: "page_view", url: "https://shop.example/", referrer: "https://www.google.com/search?q=guide" },
    { ...s2, type: "view_item", currency: "USD", value: 5.5, items: [at(BOOK, 1)] },
    { ...s2, type: "add_to_cart", currency: "USD", value: 5.5, items: [at(BOOK, 1)] },
    { ...s2, type: "remove_from_cart", currency: "USD", value: 5.5, items: [at(BOOK, 1)] },
    { ...s3, type: "page_view", url: "https://shop.example/p/guide" },
    { ...s3, type: "view_item", currency: "USD", value: 5.5, items: [at(BOOK, 1)] },
    { ...s3, type: "add_to_cart", currency: "USD", value: 11, items: [at(BOOK, 2)] },
    { ...s3, type: "begin_checkout", currency: "USD", value: 11, items: [at(BOOK, 2)] },
    { ...s3, type: "purchase", transaction_id: "T-2", currency: "USD", value: 11, items: [at(BOOK, 2)] },
    { ...s1, type: "refund", transaction_id: "T-1", currency: "USD", value: 5 },
  ]);
  await send(
    request,
    site,
    [{ ...s1, source: "server", type: "purchase", transaction_id: "T-3", currency: "USD", value: 9, items: [at(MUG, 1, 9)] }],
    { signed: true, userAgent: "shop-backend/1.0" },
  );
}
