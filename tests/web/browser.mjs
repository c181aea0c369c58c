// Debian's Chromium, headless, as every page test launches it (never a browser of Playwright's own).
import { chromium } from "playwright-core";

export function launchChromium(timeoutMs) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    timeout: timeoutMs,
    // This machine has no network: Chromium's own background traffic only fails and slows it.
    args: ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
}
