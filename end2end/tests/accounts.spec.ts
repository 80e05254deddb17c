import { expect, gotoHydrated, screenshot, test } from "./fixtures";
import { ADMIN, LoginPage, SitesPage } from "./pages/account";

test.describe("signing in and out", () => {
  // A browser without the admin's cookie.
  test.use({ storageState: { cookies: [], origins: [] } });

  test("a page asks for a sign-in and returns to where it was going", async ({ page }, testInfo) => {
    await page.goto("/hourly?range=7d");
    await expect(page).toHaveURL(/\/login\?next=%2Fhourly%3Frange%3D7d$/);
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await screenshot(page, testInfo, `login-${scheme}`);
    }

    await new LoginPage(page).signIn(ADMIN.email, ADMIN.password);

    await expect(page).toHaveURL("/hourly?range=7d");
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Hourly Sales");
    const cookies = await page.context().cookies();
    const session = cookies.find((cookie) => cookie.name === "storepulse_session");
    expect(session?.httpOnly).toBe(true);
    expect(session?.sameSite).toBe("Lax");
  });

  test("a wrong password is refused with one message and no session", async ({ page }) => {
    await page.goto(LoginPage.path);
    const login = new LoginPage(page);

    await login.signIn(ADMIN.email, "not the password");

    await expect(login.error).toHaveText("Wrong email or password.");
    await login.signIn("nobody@example.com", "not the password");
    await expect(login.error).toHaveText("Wrong email or password.");
    expect(await page.context().cookies()).toEqual([]);
    await page.goto("/");
    await expect(page).toHaveURL(/\/login/);
  });

  test("signing out ends the session", async ({ page }) => {
    await page.goto(LoginPage.path);
    await new LoginPage(page).signIn(ADMIN.email, ADMIN.password);
    await expect(page).toHaveURL("/");
    const before = await page.context().cookies();

    await page.getByTestId("sign-out").click();

    await expect(page).toHaveURL(LoginPage.path);
    // Even the old cookie, put back, no longer opens a page.
    await page.context().addCookies(before);
    await page.goto("/users");
    await expect(page).toHaveURL(/\/login\?next=%2Fusers$/);
  });

  test("Real-Time says when the session ended, and links to the sign-in", async ({ page, context }) => {
    await page.goto(LoginPage.path);
    await new LoginPage(page).signIn(ADMIN.email, ADMIN.password);
    await expect(page).toHaveURL("/");
    await gotoHydrated(page, "/realtime?site=demo");
    const status = page.getByTestId("live-status");
    await expect(status).toContainText("● Live", { timeout: 10_000 });

    // Signed out in another tab: the open page learns it within a recheck.
    const other = await context.newPage();
    await other.goto("/");
    await other.getByTestId("sign-out").click();
    await expect(other).toHaveURL(LoginPage.path);

    await expect(status).toContainText("Your session ended", { timeout: 15_000 });
    const again = status.getByRole("link", { name: "Sign in again" });
    await expect(again).toHaveAttribute("href", "/login?next=%2Frealtime%3Fsite%3Ddemo");
    // (Not signed in again here: the sign-in's rate limit has seen this
    // suite's other sign-ins.)
    await again.click();
    await expect(page).toHaveURL("/login?next=%2Frealtime%3Fsite%3Ddemo");
  });
});

test("creating a site shows its snippet, which copies to the clipboard", async ({ page, context }, testInfo) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await gotoHydrated(page, SitesPage.path);
  const sites = new SitesPage(page);
  const key = `shop-${Date.now()}`;

  await sites.add(key, "Corner <b>shop</b>", "Europe/Paris", "EUR");

  await expect(page).toHaveURL(`/sites/${key}`);
  const origin = new URL(page.url()).origin;
  const expected = `<script defer src="${origin}/tracker.js" data-site="${key}"></script>`;
  await expect(sites.snippet).toHaveText(expected);
  await expect(page.getByRole("heading", { level: 2, name: /Corner <b>shop<\/b>/ })).toBeVisible();
  await expect(page.locator('[data-testid="copy-snippet"]')).toBeEnabled();
  // The settings page is hydrated after the client-side redirect; reload to be sure.
  await gotoHydrated(page, `/sites/${key}`);
  await sites.copySnippet.click();
  await expect(sites.copySnippet).toHaveText("Copied");
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(expected);
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await screenshot(page, testInfo, `site-settings-${scheme}`);
  }

  await gotoHydrated(page, SitesPage.path);
  await expect(sites.list).toContainText(key);
  await screenshot(page, testInfo, "sites-light");
});
