import type { Locator, Page } from "@playwright/test";

/** A report page (Overview, Hourly Sales, Products) for one site and range. */
export class Report {
  constructor(readonly page: Page) {}

  kpi(label: string): Locator {
    return this.page.getByTestId(`kpi-${label.toLowerCase().replaceAll(" ", "-")}`).locator(".kpi-value");
  }

  change(label: string): Locator {
    return this.page.getByTestId(`kpi-${label.toLowerCase().replaceAll(" ", "-")}`).locator(".change");
  }

  /** The cells of the table row whose first cell is `name`. */
  row(table: string, name: string | RegExp): Locator {
    return this.page.getByTestId(table).locator("tr").filter({ has: this.page.locator("th, td").first().filter({ hasText: name }) });
  }

  async cells(table: string, name: string | RegExp): Promise<string[]> {
    const row = this.page.getByTestId(table).locator("tbody tr, tfoot tr").filter({ hasText: name }).first();
    return (await row.locator("th, td").allInnerTexts()).map((text) => text.trim());
  }
}
