import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { parseHTML } from "linkedom";
import { loadRuns, readMetrics } from "../../lib/look/mod.ts";
import {
  accuracyByDatabaseChart,
  accuracyByDifficultyChart,
  errorTaxonomyChart,
  grpoMetricsChart,
  lossCurveChart,
  tokenUsageChart,
} from "../../lib/look/charts.ts";
import {
  createNotebookProgress,
  type DisplayBackend,
  setDisplayBackend,
  showChart,
  showHtml,
  showTable,
  tableHtml,
  tableText,
} from "../../lib/notebook/display.ts";
import {
  readMetrics as readTrainerMetrics,
  SAMPLE_GRPO_METRICS,
  SAMPLE_METRICS,
} from "../../lib/train/mod.ts";
import { copyRunAs, makeRunFixtures } from "../support/run_fixtures.ts";

const root = await Deno.makeTempDir({ prefix: "t2s-charts-" });
const fx = await makeRunFixtures(root);
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const df = loadRuns([fx.a, fx.b]);

interface El {
  getAttribute(name: string): string | null;
  textContent: string;
}
/** Elements of a chart's HTML matching a CSS selector. */
function select(html: string, selector: string): El[] {
  const { document } = parseHTML(`<!doctype html><html><body>${html}</body></html>`) as unknown as {
    document: { querySelectorAll(s: string): El[] };
  };
  return [...document.querySelectorAll(selector)];
}

/** Every chart must be a self-contained figure: inline SVG, no script, no resource from anywhere. */
function assertSelfContained(html: string, kind: string) {
  assert(html.startsWith("<figure"), "a figure");
  assertEquals(select(html, "figure")[0].getAttribute("data-chart"), kind);
  assertEquals(select(html, "figure > svg").length, 1);
  for (const bad of ["<script", "http://", "https://", "@import", "@font-face", "url("]) {
    assert(!html.includes(bad), `no ${bad}`);
  }
}

Deno.test("accuracyByDifficultyChart: one bar per model and bucket, heights proportional to accuracy", () => {
  const html = accuracyByDifficultyChart(df);
  assertSelfContained(html, "accuracy-by-difficulty");
  const bars = select(html, 'svg g[aria-label="bar"] rect');
  assertEquals(bars.length, 8); // 2 models × (simple, moderate, challenging, total)
  // y spans 0..100 % over height 320 − marginTop 24 − marginBottom 36 = 260 px.
  const heights = bars.map((b) => Number(b.getAttribute("height")));
  for (const pct of [60.49, 45.45, 66.67, 57.36, 66.67, 54.55, 66.67, 63.57]) {
    assert(heights.some((h) => Math.abs(h - 2.6 * pct) < 0.01), `a bar for ${pct}% (${heights})`);
  }
  const labels = select(html, 'svg g[aria-label="text"] text').map((t) => t.textContent);
  assert(labels.includes("57.4") && labels.includes("63.6"), labels.join());
  assert(
    html.includes("gpt-3.5-turbo-evidence") && html.includes("llama-3.3-70b-instruct"),
    "legend names models",
  );
});

Deno.test("accuracyByDatabaseChart and errorTaxonomyChart", () => {
  const db = accuracyByDatabaseChart(df, { width: 640 });
  assertSelfContained(db, "accuracy-by-database");
  assertEquals(select(db, 'svg g[aria-label="bar"] rect').length, 2);
  assertEquals(select(db, "figure > svg")[0].getAttribute("width"), "640");
  const err = errorTaxonomyChart(df);
  assertSelfContained(err, "error-taxonomy");
  // Run A has 11 distinct kinds (no generation error), run B all 12.
  const rects = select(err, 'svg g[aria-label="bar"] rect');
  assertEquals(rects.length, 23);
  const fills = new Set(rects.map((r) => r.getAttribute("fill")));
  assert(fills.has("#3ca951") && fills.has("#9c9c9c"), "correct is green, generation errors grey");
});

Deno.test("lossCurveChart: train and eval lines, eval dots; a figure that says so when empty", () => {
  const html = lossCurveChart(readMetrics(fx.train));
  assertSelfContained(html, "loss-curve");
  assertEquals(select(html, 'svg g[aria-label="line"] path').length, 2);
  assertEquals(select(html, 'svg g[aria-label="dot"] circle').length, 3);
  const empty = lossCurveChart([]);
  assert(empty.includes("No metrics recorded yet.") && empty.includes('data-chart="loss-curve"'));
});

Deno.test("grpoMetricsChart: reward with its batch-std band, frac_reward_zero_std, KL, grad_norm; KL absent said so", async () => {
  const metrics = await readTrainerMetrics(SAMPLE_GRPO_METRICS);
  const html = grpoMetricsChart(metrics, { title: "GRPO <tiny>" });
  assertEquals(select(html, "div.t2s-chart-group")[0].getAttribute("data-chart"), "grpo-metrics");
  assert(html.includes("GRPO &lt;tiny&gt;"), "the title escaped");
  for (const bad of ["<script", "http://", "https://", "@import", "@font-face", "url("]) {
    assert(!html.includes(bad), `no ${bad}`);
  }
  const panels = select(html, "div.t2s-chart-group > figure").map((f) => f.getAttribute("data-chart"));
  assertEquals(panels, ["grpo-reward", "grpo-zero-std", "grpo-kl", "grpo-grad-norm"]);
  for (const panel of panels) {
    assertEquals(select(html, `figure[data-chart="${panel}"] > svg`).length, 1, `${panel} drawn`);
    assertEquals(
      select(html, `figure[data-chart="${panel}"] g[aria-label="dot"] circle`).length,
      4,
      `${panel}: 4 steps`,
    );
  }
  // Reward: the mean and the share correct as lines, the band of ± the batch's reward_std as an area.
  assertEquals(select(html, 'figure[data-chart="grpo-reward"] g[aria-label="line"] path').length, 2);
  assertEquals(select(html, 'figure[data-chart="grpo-reward"] g[aria-label="area"] path').length, 1);
  assert(html.includes("reward_std") && html.includes("frac_reward_zero_std"));
  // The zero-std share is a fraction of groups: a fixed 0–100% axis.
  const ticks = select(html, 'figure[data-chart="grpo-zero-std"] g[aria-label="y-axis tick label"] text')
    .map((t) => t.textContent);
  assert(ticks.includes("0%") && ticks.includes("100%"), ticks.join());

  // beta 0: no kl on any line; the panel says so in a sentence, the other three are still drawn.
  const noKl = grpoMetricsChart(metrics.map((m) => m.type === "train" ? { ...m, kl: null } : m));
  const kl = select(noKl, 'figure[data-chart="grpo-kl"]')[0];
  assert(kl.textContent.includes("KL not logged") && kl.textContent.includes("beta > 0"), kl.textContent);
  assertEquals(select(noKl, 'figure[data-chart="grpo-kl"] svg').length, 0);
  assertEquals(select(noKl, "div.t2s-chart-group > figure > svg").length, 3);
  assert(!noKl.includes("t2s-empty"), "a note, not an empty chart");

  // An SFT stream has no GRPO step: an empty figure, never a chart of nulls.
  const sft = grpoMetricsChart(await readTrainerMetrics(SAMPLE_METRICS));
  assert(sft.includes("t2s-empty") && sft.includes("No GRPO step recorded yet."));
  assert(!sft.includes("<svg"));
});

Deno.test("tokenUsageChart: stacked prompt/completion bars with cost; a predictions run has no bar; empty without tokens", () => {
  const html = tokenUsageChart(df);
  assertSelfContained(html, "token-usage");
  assertEquals(select(html, 'svg g[aria-label="bar"] rect').length, 2);
  const labels = select(html, 'svg g[aria-label="text"] text').map((t) => t.textContent);
  assertEquals(labels, ["153,824 tok · $0.0926"]);
  assert(html.includes("1 run scored from predictions files asked no model."));
  assert(tokenUsageChart(loadRuns([fx.a])).includes("No token counts in these runs"));
});

Deno.test("charts escape labels taken from run files", async () => {
  const dir = join(root, "evil");
  await copyRunAs(fx.b, dir, '<img src=x onerror="alert(1)">');
  const evil = loadRuns([fx.a, dir]);
  for (const html of [accuracyByDifficultyChart(evil), errorTaxonomyChart(evil), tokenUsageChart(evil)]) {
    assert(!html.includes("<img"), "label escaped");
    assert(html.includes("&lt;img"), "label present, escaped");
  }
});

/** Captures console.log while `fn` runs. */
async function captureLog(fn: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  try {
    await fn();
  } finally {
    console.log = original;
  }
  return lines;
}

Deno.test("display outside a notebook: plain text and one-line notices, never a throw", async () => {
  const lines = await captureLog(async () => {
    await showTable(df.select("model", "index", "status").head(3));
    await showChart(accuracyByDifficultyChart(df));
    await showHtml("<b>hi</b>");
    const progress = createNotebookProgress("scoring", { total: 129 });
    for (let i = 1; i <= 129; i++) await progress.update(i);
    await progress.finish();
  });
  assertEquals(lines.length, 4, lines.join("\n"));
  assertEquals(lines[0].split("\n").slice(0, 3), [
    "model                   index  status",
    "----------------------  -----  ----------",
    "gpt-3.5-turbo-evidence  717    pred_error",
  ]);
  assertEquals(
    lines[1],
    "[chart: Execution accuracy by difficulty (BIRD EX, set semantics)] (drawn in notebooks and HTML reports only)",
  );
  assertEquals(lines[2], "[html output, 9 characters] (shown in notebooks only)");
  assert(/^scoring: 129\/129 \(100%\) done · \d+\.\d s$/.test(lines[3]), lines[3]);
});

Deno.test("display in a notebook: HTML bundles (never SVG), progress updated in place", async () => {
  const calls: { obj: Record<string, string>; options: Record<string, unknown> }[] = [];
  const backend: DisplayBackend = {
    display(obj, options = {}) {
      calls.push({ obj: obj as Record<string, string>, options });
      return Promise.resolve();
    },
  };
  setDisplayBackend(backend);
  try {
    const printed = await captureLog(async () => {
      await showTable([{ a: 1, b: "<x>" }]);
      await showChart(errorTaxonomyChart(df));
      const progress = createNotebookProgress("generating", { total: 3 });
      // Fired without awaiting, as progress callbacks are: one display, the second update throttled.
      void progress.update(1);
      void progress.update(2);
      await progress.finish("3 cached");
    });
    assertEquals(printed, []);
    assertEquals(calls.length, 4);
    for (const c of calls) {
      assertEquals(Object.keys(c.obj).sort(), ["text/html", "text/plain"]);
      assertEquals(c.options.raw, true);
    }
    assert(calls[0].obj["text/html"].includes("<td>&lt;x&gt;</td>"));
    assert(calls[1].obj["text/html"].startsWith("<figure") && calls[1].obj["text/html"].includes("<svg"));
    const [first, last] = [calls[2], calls[3]];
    assert(typeof first.options.display_id === "string");
    assertEquals([first.options.update, last.options.update], [false, true]);
    assertEquals(last.options.display_id, first.options.display_id);
    assert(last.obj["text/plain"].startsWith("generating: 3/3 (100%) done"), last.obj["text/plain"]);
    assert(last.obj["text/plain"].endsWith("· 3 cached"));
    assert(last.obj["text/html"].includes('<progress max="3" value="3"'));
  } finally {
    setDisplayBackend(undefined);
  }
});

Deno.test("display falls back to text when the kernel refuses a display", async () => {
  setDisplayBackend({ display: () => Promise.reject(new Error("no frontend")) });
  try {
    const lines = await captureLog(() => showTable([{ a: 1 }]));
    assertEquals(lines, ["a\n-\n1"]);
  } finally {
    setDisplayBackend(undefined);
  }
});

Deno.test("tableHtml / tableText: escaping, nulls, row cap", () => {
  const rows = Array.from({ length: 5 }, (_, i) => ({ i, s: i === 0 ? "</td><script>" : null }));
  const html = tableHtml(rows, { maxRows: 2, caption: "A & B" });
  assert(html.replaceAll("<wbr>", "").includes("&lt;/td&gt;&lt;script&gt;") && !html.includes("<script"));
  assert(html.includes('<td class="null">null</td>') && html.includes('<td class="num">1</td>'));
  assert(html.includes("<caption>A &amp; B</caption>") && html.includes("… 3 more rows"));
  assertEquals(tableText(rows, { maxRows: 1 }), "i  s\n-  -------------\n0  </td><script>\n… 4 more rows");
});
