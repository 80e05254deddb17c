import type { Locator, Page, Response } from "@playwright/test";
import { gotoHydrated } from "../fixtures";

/** The Status page: database reachability, schema and server facts, and a refresh button. */
export class StatusPage {
  static readonly path = "/status";

  readonly dbStatus: Locator;
  readonly schemaVersion: Locator;
  readonly serverVersion: Locator;
  readonly uptime: Locator;
  readonly checkedAt: Locator;
  readonly refreshButton: Locator;
  readonly refreshCount: Locator;

  constructor(readonly page: Page) {
    this.dbStatus = page.getByTestId("db-status");
    this.schemaVersion = page.getByTestId("schema-version");
    this.serverVersion = page.getByTestId("server-version");
    this.uptime = page.getByTestId("uptime");
    this.checkedAt = page.getByTestId("checked-at");
    this.refreshButton = page.getByTestId("refresh");
    this.refreshCount = page.getByTestId("refresh-count");
  }

  /** Opens the page and waits for hydration, so the refresh button works. */
  goto(): Promise<Response | null> {
    return gotoHydrated(this.page, StatusPage.path);
  }

  async refresh(): Promise<void> {
    await this.refreshButton.click();
  }
}
