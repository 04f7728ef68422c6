/**
 * The exported report seen by a real browser: headless Chromium opens it offline, a screenshot is kept under
 * `tests/.tmp/`, and the charts must have actually rendered (their marks have size on the page), the tables rows.
 * Without `/usr/bin/chromium` this test fails with the install command; it is never skipped.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildReport } from "../../lib/look/report.ts";
import { withBrowserPage } from "../support/browser.ts";
import { copyRunAs, makeRunFixtures } from "../support/run_fixtures.ts";

const TMP = join(dirname(fileURLToPath(import.meta.url)), "..", ".tmp");

/** The DOM as far as the in-page checks use it (Deno's type library has no DOM). */
interface DomElement {
  getBoundingClientRect(): { width: number; height: number };
  getAttribute(name: string): string | null;
  querySelectorAll(selector: string): Iterable<DomElement>;
  open?: boolean;
}

Deno.test({
  name: "the HTML report renders in Chromium: charts with sized marks, tables with rows, no network",
  // Playwright keeps its driver pipes and timers in module state beyond one test.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "t2s-browser-" });
    try {
      const fx = await makeRunFixtures(root);
      await Deno.mkdir(TMP, { recursive: true });
      const htmlPath = join(TMP, "report.html");
      await Deno.writeTextFile(htmlPath, await buildReport([fx.a, fx.b, fx.train]));
      await withBrowserPage(htmlPath, async (page, network) => {
        await page.screenshot({ path: join(TMP, "report.png"), fullPage: true });

        const charts = await page.evaluate(() => {
          const document = (globalThis as unknown as { document: DomElement }).document;
          const visible = (el: DomElement) => {
            const r = el.getBoundingClientRect();
            return r.width > 0 && r.height > 0;
          };
          return [...document.querySelectorAll("figure.t2s-chart")].map((fig) => ({
            kind: fig.getAttribute("data-chart"),
            svg: [...fig.querySelectorAll(":scope > svg")].filter(visible).length,
            rects: [...fig.querySelectorAll(':scope > svg g[aria-label="bar"] rect')].filter(visible).length,
            paths: [...fig.querySelectorAll(':scope > svg g[aria-label="line"] path')].filter(visible).length,
            dots: [...fig.querySelectorAll(':scope > svg g[aria-label="dot"] circle')].filter(visible).length,
            axisText: [...fig.querySelectorAll(":scope > svg text")].filter(visible).length,
          }));
        });
        assertEquals(charts.map((c) => c.kind), [
          "accuracy-by-difficulty",
          "accuracy-by-database",
          "error-taxonomy",
          "token-usage",
          "loss-curve",
        ]);
        const byKind = Object.fromEntries(charts.map((c) => [c.kind, c]));
        assertEquals(byKind["accuracy-by-difficulty"].rects, 8);
        assertEquals(byKind["accuracy-by-database"].rects, 2);
        assertEquals(byKind["error-taxonomy"].rects, 23);
        // Run A's prompt/completion bars have zero width (no tokens): only run B's two show.
        assertEquals(byKind["token-usage"].rects, 2);
        assertEquals([byKind["loss-curve"].paths, byKind["loss-curve"].dots], [2, 3]);
        for (const c of charts) {
          assertEquals(c.svg, 1, `${c.kind} svg drawn`);
          assert(c.axisText > 3, `${c.kind} has visible tick labels`);
        }

        // A bar's drawn height matches its value: 57.36 % of the 260 px plot area.
        const heights = await page.locator('[data-chart="accuracy-by-difficulty"] g[aria-label="bar"] rect')
          .evaluateAll((els) => els.map((e) => e.getBoundingClientRect().height));
        assert(heights.some((h) => Math.abs(h - 2.6 * 57.36) < 0.6), `bar heights ${heights}`);

        // Nothing overflows the 1280 px viewport sideways.
        const scrollWidth = await page.evaluate(() =>
          (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document
            .documentElement.scrollWidth
        );
        assert(scrollWidth <= 1280, `page is ${scrollWidth} px wide`);

        assertEquals(await page.locator("table.official").count(), 2);
        assertEquals(await page.locator("table.official tbody tr").count(), 8);
        // One metadata card per run, in a collapsed block; one row per compared pair.
        assertEquals(await page.locator("table.meta").count(), 2);
        assert(await page.locator("table.meta tbody tr").count() >= 30);
        assertEquals(await page.locator("table.meta").first().isVisible(), false);
        assertEquals(await page.locator("table.leaderboard tbody tr").count(), 2);
        assertEquals(await page.locator("table.paired tbody tr").count(), 1);
        assertEquals(await page.locator("details.q").count(), 55 + 47);

        // Collapsed by default; opening one shows its SQL and result samples.
        const q = page.locator("details.q").first();
        assertEquals(await q.locator("pre").first().isVisible(), false);
        await page.locator("details.run").first().evaluate((e) => (e as unknown as DomElement).open = true);
        await q.locator("summary").click();
        assert(await q.locator("pre").first().isVisible());
        assert(await q.locator("table.sample tbody tr").count() > 0);
        await q.screenshot({ path: join(TMP, "report_failure.png") });

        assertEquals(network.external, []);
      });
      assert((await Deno.stat(join(TMP, "report.png"))).size > 20_000, "screenshot written");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "the report never scrolls sideways in a 1400 px window, at 3, 6 and 10 runs (hashes and paths wrap)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "t2s-width-" });
    try {
      const fx = await makeRunFixtures(root);
      // Runs with long model names (a real one, then a path-like adapter) and their 64-character prompt hashes.
      const runs = [fx.a, fx.b];
      for (let i = runs.length; i < 10; i++) {
        const dir = join(root, `copy-${i}`);
        await copyRunAs(
          fx.b,
          dir,
          `meta-llama/Llama-3.3-70B-Instruct-Turbo/adapter-checkpoint-${i}-of-a-long-run`,
        );
        runs.push(dir);
      }
      await Deno.mkdir(TMP, { recursive: true });
      for (const n of [3, 6, 10]) {
        const htmlPath = join(TMP, `report_${n}_runs.html`);
        await Deno.writeTextFile(htmlPath, await buildReport(runs.slice(0, n)));
        await withBrowserPage(htmlPath, async (page) => {
          await page.screenshot({ path: join(TMP, `report_${n}_runs.png`), fullPage: true });
          const width = await page.evaluate(() =>
            (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document
              .documentElement.scrollWidth
          );
          assert(width <= 1400, `with ${n} runs the page is ${width} px wide in a 1400 px window`);
          assertEquals(await page.locator("table.meta").count(), n);
          assertEquals(await page.locator("table.leaderboard tbody tr").count(), n);
        }, { width: 1400 });
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
