import { test as base, expect, type ConsoleMessage, type Page, type Response, type TestInfo } from "@playwright/test";

export { expect };

/**
 * Every test fails if the page logged a console error or threw an uncaught
 * exception: checked after the test body, when the fixture is torn down.
 */
export const test = base.extend<{ browserErrors: string[] }>({
  browserErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error" && !isDeliberateDocumentStatus(message, page)) {
          errors.push(`console error: ${message.text()} (${message.location().url})`);
        }
      });
      page.on("pageerror", (error) => errors.push(`uncaught exception: ${error.message}`));
      await use(errors);
      expect(errors, "console errors and uncaught exceptions").toEqual([]);
    },
    { auto: true },
  ],
});

/**
 * Chromium logs "Failed to load resource: the server responded with a status
 * of 404 (Not Found)" whenever the main document answers with an error
 * status, even though the page renders fine. Unknown paths and sites answer
 * 404 on purpose, so exactly that message, for the document's own URL, is
 * not an error; nor is the settings form's 409 (below). The same message for
 * any other resource (a script, the WASM, a server function) still fails
 * the test.
 */
function isDeliberateDocumentStatus(message: ConsoleMessage, page: Page): boolean {
  const deliberate = /^Failed to load resource: the server responded with a status of 404 \(/;
  if (deliberate.test(message.text()) && message.location().url === page.url()) return true;
  // A server function that asks for a confirmation answers 409 (the
  // settings form's currency change), and the page shows its message.
  const confirm = /^Failed to load resource: the server responded with a status of 409 \(/;
  return confirm.test(message.text()) && /\/api\/update_site\d*$/.test(message.location().url);
}

/** Navigates to `path` and waits until the WASM has hydrated the page, so clicks work. */
export async function gotoHydrated(page: Page, path: string): Promise<Response | null> {
  const response = await page.goto(path);
  await expect(page.locator('body[data-hydrated="true"]')).toBeAttached({ timeout: 15_000 });
  return response;
}

/** Saves a full-page screenshot as `<name>.png` in the test's output folder and attaches it to the report. */
export async function screenshot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: "image/png" });
}
