import { expect, gotoHydrated, screenshot, test } from "./fixtures";
import { SECTIONS, Shell } from "./pages/shell";
import { StatusPage } from "./pages/status";

const UNKNOWN_PATH = "/definitely/not/here";

/** `/hourly` -> `hourly`, `/` -> `overview`: file names for screenshots. */
function slug(path: string): string {
  return path === "/" ? "overview" : path.slice(1).replaceAll("/", "-");
}

test.describe("header", () => {
  test("shows the product name and links every section", async ({ page }) => {
    await gotoHydrated(page, StatusPage.path);
    const shell = new Shell(page);

    await expect(shell.header).toContainText("Storepulse");
    await expect(shell.nav.locator("a")).toHaveCount(SECTIONS.length);
    for (const { path, label } of SECTIONS) {
      await expect(shell.navLink(path)).toHaveText(label);
    }
  });

  test("links navigate to their sections once hydrated", async ({ page }) => {
    await gotoHydrated(page, StatusPage.path);
    const shell = new Shell(page);

    for (const { path, label } of SECTIONS.filter((section) => section.path !== StatusPage.path)) {
      await shell.navLink(path).click();
      await expect(page).toHaveURL(path);
      await expect(page.getByRole("heading", { level: 1 })).toHaveText(label === "Products" ? "Product Performance" : label === "Users" ? "User Activity" : label);
    }
    await shell.navLink(StatusPage.path).click();
    await expect(new StatusPage(page).dbStatus).toHaveText("reachable");
  });
});

test("an unknown path answers 404 with the not-found page", async ({ page }) => {
  const response = await gotoHydrated(page, UNKNOWN_PATH);

  expect(response?.status()).toBe(404);
  await expect(new Shell(page).notFound).toBeVisible();
});

test.describe("status page", () => {
  test("shows the database, schema and server facts", async ({ page }) => {
    const status = new StatusPage(page);
    const response = await status.goto();

    expect(response?.status()).toBe(200);
    await expect(status.dbStatus).toHaveText("reachable");
    await expect(status.schemaVersion).toHaveText(/^[1-9]\d*$/);
    await expect(status.serverVersion).toHaveText(/^\d+\.\d+\.\d+/);
    await expect(status.uptime).not.toBeEmpty();
    // In the site's zone, for a person; the instant in UTC for machines.
    await expect(status.checkedAt).toHaveText(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \S+$/);
    await expect(status.checkedAt).toHaveAttribute(
      "datetime",
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/,
    );
    await expect(status.refreshButton).toBeVisible();
    // Ingestion health: this process's last hour, its queue, and the fold.
    await expect(page.getByTestId("ingestion-last-hour")).toHaveText(
      /^\d+ received: \d+ accepted, \d+ duplicates, \d+ rejected, \d+ bots$/,
    );
    await expect(page.getByTestId("queue-depth")).toHaveText(/^\d+$/);
    await expect(page.getByTestId("fold-lag")).toHaveText(/^\d+\.\d s$/);
    await expect(page.getByTestId("fold-pending")).toHaveText(/^\d+$/);
    await expect(page.getByTestId("fold-error")).not.toBeEmpty();
    await expect(page.getByTestId("flush-error")).not.toBeEmpty();
  });

  test("refresh fetches a new report", async ({ page }) => {
    const status = new StatusPage(page);
    await status.goto();
    await expect(status.refreshCount).toHaveText("Not refreshed since the page loaded.");
    const firstCheck = await status.checkedAt.getAttribute("datetime");

    await status.refresh();

    await expect(status.refreshCount).toHaveText("Refreshed once on this page.");
    await expect(status.checkedAt).not.toHaveAttribute("datetime", firstCheck ?? "");
    await expect(status.dbStatus).toHaveText("reachable");
  });
});

test("the WASM and JS bundles are served compressed", async ({ request }) => {
  for (const asset of ["/pkg/storepulse.wasm", "/pkg/storepulse.js"]) {
    const response = await request.get(asset, { headers: { "accept-encoding": "gzip, br" } });

    expect(response.status(), asset).toBe(200);
    expect(response.headers()["content-encoding"], asset).toMatch(/^(br|gzip)$/);
  }
});

test.describe("server-side rendering", () => {
  test("the raw HTML of / holds the main navigation", async ({ request }) => {
    const response = await request.get("/");
    const html = await response.text();

    expect(html).toMatch(/<nav[^>]*aria-label="Main"/);
    for (const { path } of SECTIONS) {
      expect(html).toContain(`href="${path}"`);
    }
  });

  test.describe("without JavaScript", () => {
    test.use({ javaScriptEnabled: false });

    test("the status page still reports the database", async ({ page }) => {
      await page.goto(StatusPage.path);

      await expect(new StatusPage(page).dbStatus).toHaveText("reachable");
    });
  });
});

test("every page hydrates without console errors", async ({ page }, testInfo) => {
  // The fixture fails this test if any page logs an error; the screenshots
  // land in test-results/ for a look at the layout.
  for (const path of [...SECTIONS.map((section) => section.path), UNKNOWN_PATH]) {
    await gotoHydrated(page, path);
    await screenshot(page, testInfo, path === UNKNOWN_PATH ? "not-found" : slug(path));
  }
});

test("static files are revalidated, and an unchanged one costs no body", async ({ request }) => {
  const first = await request.get("/pkg/storepulse.wasm");
  expect(first.status()).toBe(200);
  expect(first.headers()["cache-control"]).toBe("no-cache");
  const modified = first.headers()["last-modified"];
  expect(modified).toBeTruthy();
  const again = await request.get("/pkg/storepulse.wasm", { headers: { "if-modified-since": modified } });
  expect(again.status()).toBe(304);
  const tracker = await request.get("/tracker.js");
  expect(tracker.headers()["cache-control"]).toBe("public, max-age=3600");
});
