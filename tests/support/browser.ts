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

/** What {@linkcode LAYOUT_PROBE} finds on a page. */
export interface LayoutProblems {
  /** Words or numbers drawn across two lines (a line may break between words or at a `<wbr>`), with their element. */
  broken: string[];
  /** Tables wider than their box (they scroll sideways): class, scroll width > client width. */
  scrolling: string[];
  /** Tables that name a column twice, or show both `run` and `model`. */
  duplicated: string[];
  /** Pairs of chart labels (SVG text) whose boxes overlap, per chart. */
  overlaps: string[];
}

/**
 * Page-side JS (a statement list) that fills `broken` with each word or number the browser broke across lines,
 * skipping text inside `skip` (a CSS selector list) and text that is not rendered.
 */
export function brokenTokensJs(skip: string): string {
  return `  const broken = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest(${JSON.stringify(skip)}) || !el.getClientRects().length) continue;
    for (const m of node.textContent.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
      if (lines.size > 1) broken.push(m[0] + " in <" + el.tagName.toLowerCase() + ">");
    }
  }`;
}

/** Page-side JS that fills `overlaps` with each pair of chart labels (SVG text) overlapping in a `figures` element. */
export function overlapsJs(figures: string): string {
  return `  const overlaps = [];
  for (const fig of document.querySelectorAll(${JSON.stringify(figures)})) {
    const boxes = [...fig.querySelectorAll("svg text")].map((t) => ({ t: t.textContent, r: t.getBoundingClientRect() }))
      .filter((b) => b.r.width > 0 && b.t.trim());
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i].r, b = boxes[j].r;
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (w > 1 && h > 1) overlaps.push((fig.dataset.chart || "figure") + ": " + boxes[i].t + " / " + boxes[j].t);
      }
    }
  }`;
}

/**
 * A page script (for `page.evaluate`) that measures a page as a reader sees it, through the DOM: every visible
 * word's line boxes (a `Range` per whitespace-separated token in each text node: more than one line means the token
 * was broken), tables that scroll sideways, duplicated columns, overlapping chart labels. Returns
 * {@linkcode LayoutProblems}.
 */
export const LAYOUT_PROBE = `(() => {
${brokenTokensJs("pre, svg, style, script")}
  const tables = [...document.querySelectorAll("table")].filter((t) => t.getClientRects().length);
  const scrolling = tables.filter((t) => t.scrollWidth > t.clientWidth + 1)
    .map((t) => (t.className || "table") + " " + t.scrollWidth + ">" + t.clientWidth);
  const duplicated = tables.flatMap((t) => {
    const heads = [...t.querySelectorAll("thead th")].map((th) => th.textContent.trim()).filter(Boolean);
    const twice = heads.filter((h, i) => heads.indexOf(h) !== i);
    return [...twice, ...(heads.includes("run") && heads.includes("model") ? ["run and model"] : [])]
      .map((h) => (t.className || "table") + ": " + h);
  });
${overlapsJs("figure")}
  return { broken: broken.slice(0, 20), scrolling, duplicated, overlaps: overlaps.slice(0, 20) };
})()`;
