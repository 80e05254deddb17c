import type { Locator, Page } from "@playwright/test";

/** The dashboard's sections in navigation order. */
export const SECTIONS = [
  { path: "/", label: "Overview" },
  { path: "/hourly", label: "Hourly Sales" },
  { path: "/products", label: "Products" },
  { path: "/pages", label: "Pages" },
  { path: "/realtime", label: "Real-Time" },
  { path: "/users", label: "Users" },
  { path: "/status", label: "Status" },
] as const;


/** The frame around every page: header, main navigation and the not-found page. */
export class Shell {
  readonly header: Locator;
  readonly nav: Locator;
  readonly notFound: Locator;

  constructor(readonly page: Page) {
    this.header = page.locator("header");
    this.nav = this.header.locator('nav[aria-label="Main"]');
    this.notFound = page.getByTestId("not-found");
  }

  navLink(path: string): Locator {
    return this.nav.locator(`a[href="${path}"]`);
  }
}
