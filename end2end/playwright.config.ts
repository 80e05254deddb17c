import { defineConfig } from "@playwright/test";
import { ADMIN_STATE } from "./tests/pages/account";

// No `webServer`: `cargo leptos end-to-end` builds and starts the server
// itself (and `cargo xtask test` points STOREPULSE_BASE_URL at it).

// Debian's Chromium instead of a downloaded one. The background networking
// flags stop it from calling home on a closed network.
const chromiumLaunch = {
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

export default defineConfig({
  testDir: "./tests",
  outputDir: "test-results",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL: process.env.STOREPULSE_BASE_URL ?? "http://127.0.0.1:3000",
  },
  projects: [
    // Signs in once as the admin the server was started with; every other
    // test starts from that browser state (tests of signing in clear it).
    {
      name: "sign-in",
      testMatch: /sign-in\.setup\.ts/,
      use: { browserName: "chromium", launchOptions: chromiumLaunch },
    },
    {
      name: "chromium",
      dependencies: ["sign-in"],
      use: {
        browserName: "chromium",
        storageState: ADMIN_STATE,
        launchOptions: chromiumLaunch,
      },
    },
  ],
});
