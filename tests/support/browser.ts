/**
 * Headless Chromium for tests that must see a page as a user does (charts drawn, tables laid out): Debian's
 * `/usr/bin/chromium` driven by `playwright-core`, a fresh profile per call, and every request that is not a local
 * file blocked and recorded, so a test can also assert that a page needs no network.
 *
 * ```ts
 * await withBrowserPage("reports/x.html", async (page, net) => {
 *   await page.screenshot({ path: "tests/.tmp/x.png", fullPage: true });
 *   assertEquals(net.external, []);
 * });
 * ```
 *
 * @module
 */

import { chromium, type Page } from "playwright-core";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** The one-line install command printed when Chromium is missing. */
export const CHROMIUM_INSTALL = "apt-get update && apt-get install -y --no-install-recommends chromium";

/** Requests the page attempted beyond local files (all were blocked). */
export interface PageNetwork {
  /** URLs of the blocked requests, in order. */
  external: string[];
}

/** Options of {@link withBrowserPage}. */
export interface BrowserPageOptions {
  /** Viewport width (default 1280). */
  width?: number;
  /** Viewport height (default 900). */
  height?: number;
  /** Origins besides local files the page may reach, e.g. a local Jupyter server `http://127.0.0.1:8888`. */
  allowOrigins?: string[];
}

/** Throws the install command when Chromium is not installed (tests must fail then, never skip). */
export function requireChromium(): void {
  try {
    Deno.statSync(CHROMIUM_PATH);
  } catch {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}; install it with: ${CHROMIUM_INSTALL}`);
  }
}

/**
 * Opens a local HTML file in headless Chromium (fresh temporary profile, no network) and runs `fn` with the page,
 * once it has loaded. The browser and the profile are removed afterwards, whatever `fn` does.
 */
export function withBrowserPage<T>(
  htmlPath: string,
  fn: (page: Page, network: PageNetwork) => Promise<T>,
  options: BrowserPageOptions = {},
): Promise<T> {
  return withBrowserUrl(pathToFileURL(resolve(htmlPath)).href, fn, options);
}

/**
 * Opens a URL in headless Chromium as {@linkcode withBrowserPage} does a file: requests beyond local files and
 * `options.allowOrigins` are blocked and recorded.
 */
export async function withBrowserUrl<T>(
  url: string,
  fn: (page: Page, network: PageNetwork) => Promise<T>,
  options: BrowserPageOptions = {},
): Promise<T> {
  requireChromium();
  const profile = await Deno.makeTempDir({ prefix: "t2s-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
    viewport: { width: options.width ?? 1280, height: options.height ?? 900 },
    timeout: 30_000,
  });
  try {
    const network: PageNetwork = { external: [] };
    await context.route("**/*", (route) => {
      const requested = route.request().url();
      if (/^(file|data|about|blob):/.test(requested)) return route.continue();
      if ((options.allowOrigins ?? []).some((origin) => requested.startsWith(`${origin}/`))) {
        return route.continue();
      }
      network.external.push(requested);
      return route.abort();
    });
    const page = context.pages()[0] ?? await context.newPage();
    await page.goto(url, { waitUntil: "load", timeout: 30_000 });
    return await fn(page, network);
  } finally {
    await context.close().catch(() => {});
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}
