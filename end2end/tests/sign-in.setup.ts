import { expect, test as setup } from "@playwright/test";
import { ADMIN, ADMIN_STATE, LoginPage } from "./pages/account";

/** Signs in through the real form once; the other tests reuse the cookie. */
setup("sign in as the admin", async ({ page }) => {
  await page.goto(LoginPage.path);
  await new LoginPage(page).signIn(ADMIN.email, ADMIN.password);
  await expect(page).toHaveURL("/");
  await page.context().storageState({ path: ADMIN_STATE });
});
