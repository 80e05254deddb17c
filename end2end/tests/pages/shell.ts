import type { Locator, Page } from "@playwright/test";

/** The dashboard's sections in navigation order. */
export const SECTIONS = [
  { path: "/", label: "Overview" },
  { path: "/hourly", label: "Hourly Sales" },
  { path: "/products", label: "Products" },
  { path: "/realtime", label: "Real-Time" },
  { path: "/users", label: "Users" },
  { path: "/status", label: "Status" },
] as const;

/** Sections that show the "not built yet" placeholder and answer 501. */
export const NOT_BUILT = SECTIONS.filter((section) => ["/realtime", "/users"].includes(section.path));

/** The frame around every page: header, main navigation and the placeholders. */
export class Shell {
  readonly header: Locator;
  readonly nav: Locator;
  readonly notBuilt: Locator;
  readonly notFound: Locator;

  constructor(readonly page: Page) {
    this.header = page.locator("header");
    this.nav = this.header.locator('nav[aria-label="Main"]');
    this.notBuilt = page.getByTestId("not-built");
    this.notFound = page.getByTestId("not-found");
  }

  navLink(path: string): Locator {
    return this.nav.locator(`a[href="${path}"]`);
  }
}
