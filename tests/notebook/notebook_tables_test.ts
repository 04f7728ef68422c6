/**
 * The tables and charts `06` shows (and `02`'s, which are the same functions), as a notebook shows them: the HTML
 * bundles the display sends, laid out in a column as wide as JupyterLab's default notebook (968 px in a 1280 px
 * window) and opened in headless Chromium, at 1, 3 and 10 real runs (`tests/support/many_runs.ts`). Measured
 * through the DOM: no table wider than the notebook, no duplicated column (nor `run` beside `model`), no word or
 * number broken across lines, no chart labels overlapping.
 */
import { ok as assert } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  accuracyByDatabase,
  accuracyByDifficulty,
  accuracyByDifficultyChart,
  errorTable,
  errorTaxonomyChart,
  leaderboard,
  leaderboardRows,
  pairedTest,
  readRuns,
  runsFrame,
  tokenUsageChart,
} from "../../lib/look/mod.ts";
import { type MediaBundle, setDisplayBackend, showChart, showTable } from "../../lib/notebook/mod.ts";
import { LAYOUT_PROBE, type LayoutProblems, withBrowserPage } from "../support/browser.ts";
import { makeManyRuns } from "../support/many_runs.ts";

const TMP = join(dirname(fileURLToPath(import.meta.url)), "..", ".tmp");
/** JupyterLab's notebook column at its default layout in a 1280 px window, as measured in the issue. */
const LAB_WIDTH = 968;

/** The outputs of `06`'s table and chart cells over these runs, as the kernel would send them. */
async function outputsOf(dirs: string[]): Promise<string[]> {
  const html: string[] = [];
  setDisplayBackend({
    display(obj) {
      html.push((obj as MediaBundle)["text/html"]);
      return Promise.resolve();
    },
  });
  try {
    const runs = readRuns(dirs);
    const df = runsFrame(runs);
    const ids = runs.map((r) => r.id);
    await showTable(leaderboardRows(leaderboard(runs)));
    await showTable(
      accuracyByDifficulty(df).select("model", "simple", "moderate", "challenging", "total", "total_count"),
    );
    await showChart(accuracyByDifficultyChart(df));
    await showTable(accuracyByDatabase(df).drop("run"));
    await showChart(errorTaxonomyChart(df));
    await showTable(errorTable(df, { wide: true }).drop("run"));
    const tests = ids.slice(1).map((other) => pairedTest(df, ids[0], other));
    if (tests.length) {
      await showTable(
        tests.map((
          {
            modelA,
            modelB,
            n,
            accuracyA,
            accuracyB,
            diff,
            onlyA,
            onlyB,
            mcnemarP,
            ciLow,
            ciHigh,
            significant,
          },
        ) => ({
          modelA,
          modelB,
          n,
          accuracyA,
          accuracyB,
          diff,
          onlyA,
          onlyB,
          mcnemarP,
          ciLow,
          ciHigh,
          significant,
        })),
      );
    }
    await showChart(tokenUsageChart(df));
  } finally {
    setDisplayBackend(undefined);
  }
  return html;
}

Deno.test({
  name:
    "06's tables and charts at 1, 3 and 10 runs in a notebook-wide column: no overflow, duplicate or broken token",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "t2s-nbtables-" });
    try {
      const dirs = await makeManyRuns(join(root, "runs"), 10);
      await Deno.mkdir(TMP, { recursive: true });
      for (const n of [1, 3, 10]) {
        const outputs = await outputsOf(dirs.slice(0, n));
        const page = join(TMP, `notebook_tables_${n}_runs.html`);
        await Deno.writeTextFile(
          page,
          `<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0;font:13px system-ui">` +
            `<main style="width:${LAB_WIDTH}px;padding:0 8px">${
              outputs.map((o) => `<div class="output" style="margin:12px 0">${o}</div>`).join("\n")
            }</main></body></html>`,
        );
        const found = await withBrowserPage(page, async (p) => {
          await p.screenshot({ path: join(TMP, `notebook_tables_${n}_runs.png`), fullPage: true });
          return await p.evaluate(LAYOUT_PROBE) as LayoutProblems;
        }, { width: 1280 });
        const where = `${n} run${n === 1 ? "" : "s"}`;
        assert(found.scrolling.length === 0, `${where}: tables wider than the notebook: ${found.scrolling}`);
        assert(found.duplicated.length === 0, `${where}: duplicated columns: ${found.duplicated}`);
        assert(found.broken.length === 0, `${where}: tokens broken across lines: ${found.broken.join("; ")}`);
        assert(found.overlaps.length === 0, `${where}: chart labels overlap: ${found.overlaps.join("; ")}`);
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
