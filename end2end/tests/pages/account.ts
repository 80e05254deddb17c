import type { Locator, Page } from "@playwright/test";

/** Where the signed-in admin's cookies are kept between the projects. */
export const ADMIN_STATE = ".auth/admin.json";

/** The admin the server under test was started with (`cargo xtask test` sets both). */
export const ADMIN = {
  email: process.env.STOREPULSE_ADMIN_EMAIL ?? "admin@example.com",
  password: process.env.STOREPULSE_ADMIN_PASSWORD ?? "e2e-admin-password",
};

/** `/login`: the sign-in form. */
export class LoginPage {
  static readonly path = "/login";
  readonly email: Locator;
  readonly password: Locator;
  readonly submit: Locator;
  readonly error: Locator;

  constructor(readonly page: Page) {
    this.email = page.getByLabel("Email");
    this.password = page.getByLabel("Password");
    this.submit = page.getByRole("button", { name: "Sign in" });
    this.error = page.getByTestId("login-error");
  }

  async signIn(email: string, password: string): Promise<void> {
    await this.email.fill(email);
    await this.password.fill(password);
    await this.submit.click();
  }
}

/** `/sites` and `/sites/:key`: the site list, the add form and a site's settings. */
export class SitesPage {
  static readonly path = "/sites";
  readonly list: Locator;
  readonly snippet: Locator;
  readonly copySnippet: Locator;

  constructor(readonly page: Page) {
    this.list = page.getByTestId("sites");
    this.snippet = page.getByTestId("snippet");
    this.copySnippet = page.getByTestId("copy-snippet");
  }

  async add(key: string, name: string, timezone: string, currency: string): Promise<void> {
    const form = this.page.locator("form", { has: this.page.getByRole("button", { name: "Add site" }) });
    await form.getByLabel("Key").fill(key);
    await form.getByLabel("Name").fill(name);
    await form.getByLabel("Time zone").fill(timezone);
    await form.getByLabel("Currency").fill(currency);
    await form.getByRole("button", { name: "Add site" }).click();
  }
}
