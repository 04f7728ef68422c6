/**
 * The report as a person comparing models reads it: 1, 10 and 25 real runs (`tests/support/many_runs.ts`: made by
 * the evaluator against the scripted model server), opened in headless Chromium at 1280 and 1920 px, with the run
 * metadata and the official tables expanded. Measured through the DOM: the page never scrolls sideways and uses the
 * window's width, no table needs a scrollbar of its own, the widest cell, no word or number broken across lines
 * (a line may break only between words or at the `<wbr>` after `/ _ -` of an id), and no two chart labels overlap.
 * Screenshots go to `tests/.tmp/report_<runs>_runs_<width>.png`. Without `/usr/bin/chromium` this test fails with
 * the install command; it is never skipped.
 */

import { ok as assert } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildReport } from "../../lib/look/report.ts";
import { brokenTokensJs, overlapsJs, withBrowserPage } from "../support/browser.ts";
import { makeManyRuns } from "../support/many_runs.ts";

const TMP = join(dirname(fileURLToPath(import.meta.url)), "..", ".tmp");

/** What the page measures of itself (run in the page; Deno's type library has no DOM, hence a string). */
const MEASURE = `(() => {
  for (const d of document.querySelectorAll("details.meta, details.official")) d.open = true;
  const doc = document.documentElement;
${brokenTokensJs("pre, svg, details.q, summary, style")}
${overlapsJs("figure.t2s-chart")}
  // The report's own tables (a table of questions may give its prose column the room it needs).
  const cells = [...document.querySelectorAll(
    ":is(table.leaderboard, table.errors, table.paired, table.meta, table.official) :is(td, th)",
  )].filter((c) => c.getClientRects().length);
  const widestCell = cells.reduce((w, c) => c.getBoundingClientRect().width > w.width
    ? { width: c.getBoundingClientRect().width, text: c.textContent.slice(0, 80), table: c.closest("table").className }
    : w, { width: 0, text: "", table: "" });
  const widest = widestCell.width;
  const scrolling = [...document.querySelectorAll("table")]
    .filter((t) => t.getClientRects().length && !t.closest("details.q") && t.scrollWidth > t.clientWidth + 1)
    .map((t) => (t.className || "table") + " " + t.scrollWidth + ">" + t.clientWidth);
  return {
    viewport: innerWidth,
    pageWidth: doc.scrollWidth,
    bodyWidth: document.body.getBoundingClientRect().width,
    height: doc.scrollHeight,
    leaderboardRows: document.querySelectorAll("table.leaderboard tbody tr").length,
    charts: [...document.querySelectorAll("figure.t2s-chart")].map((f) => f.dataset.chart + ":" +
      (f.querySelector('g[aria-label="cell"]') ? "heatmap" : f.querySelector('g[aria-label="bar"]') ? "bars" : "other")),
    widest: Math.round(widest),
    widestText: widestCell.table + ": " + widestCell.text,
    broken: broken.slice(0, 20),
    overlaps: overlaps.slice(0, 20),
    scrolling,
  };
})()`;

interface Measured {
  viewport: number;
  pageWidth: number;
  bodyWidth: number;
  height: number;
  leaderboardRows: number;
  charts: string[];
  widest: number;
  widestText: string;
  broken: string[];
  overlaps: string[];
  scrolling: string[];
}

Deno.test({
  name:
    "the report at 1, 10 and 25 real runs, 1280 and 1920 px: no sideways scroll, no broken token, no overlap",
  // Playwright keeps its driver pipes and timers in module state beyond one test.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "t2s-layout-" });
    try {
      const runs = await makeManyRuns(join(root, "runs"), 25);
      await Deno.mkdir(TMP, { recursive: true });
      const figures: string[] = [];
      for (const n of [1, 10, 25]) {
        const htmlPath = join(TMP, `report_${n}_runs.html`);
        await Deno.writeTextFile(htmlPath, await buildReport(runs.slice(0, n)));
        for (const width of [1280, 1920]) {
          const m = await withBrowserPage(htmlPath, async (page) => {
            const measured = await page.evaluate(MEASURE) as Measured;
            await page.screenshot({ path: join(TMP, `report_${n}_runs_${width}.png`), fullPage: true });
            return measured;
          }, { width });
          const where = `${n} runs at ${width} px`;
          figures.push(`${where}: page ${m.pageWidth}×${m.height}, widest cell ${m.widest} px`);
          assert(m.pageWidth <= m.viewport, `${where}: the page is ${m.pageWidth} px wide`);
          assert(m.bodyWidth >= m.viewport - 1, `${where}: the page uses ${m.bodyWidth} of ${m.viewport} px`);
          assert(m.scrolling.length === 0, `${where}: tables scroll sideways: ${m.scrolling.join(", ")}`);
          assert(m.widest <= 0.4 * width, `${where}: a cell is ${m.widest} px wide (${m.widestText})`);
          assert(m.broken.length === 0, `${where}: tokens broken across lines: ${m.broken.join("; ")}`);
          assert(m.overlaps.length === 0, `${where}: chart labels overlap: ${m.overlaps.join("; ")}`);
          assert(m.leaderboardRows === n, `${where}: ${m.leaderboardRows} leaderboard rows`);
          // Past five runs the accuracy charts are heat maps: a row per run, the value in each cell.
          const kind = n > 5 ? "heatmap" : "bars";
          for (const chart of ["accuracy-by-difficulty", "accuracy-by-database"]) {
            assert(
              m.charts.includes(`${chart}:${kind}`),
              `${where}: ${chart} is not drawn as ${kind}: ${m.charts}`,
            );
          }
        }
      }
      console.log(figures.join("\n"));
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
