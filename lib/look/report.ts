/**
 * Self-contained HTML reports over run directories (`deno task report [--out FILE] RUN_DIR...`): run metadata,
 * the official-style accuracy table per run, charts, paired comparisons, the inference modes compared, and every
 * failing question with its predicted and gold SQL and result samples. One file: inline CSS and SVG, no script, no
 * external URL, so it opens offline and can be mailed or archived. Everything taken from a run is HTML-escaped;
 * nothing from the environment is included. The tables live in `report_tables.ts`, the failing questions in
 * `report_failures.ts`, the modes in `report_modes.ts`; this file puts the sections together.
 *
 * @module
 */

import { loadAudit } from "../audit/mod.ts";
import { auditSection } from "./report_audit.ts";
import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { exists } from "../util/mod.ts";
import { escapeHtml, tableHtml } from "./html.ts";
import { type MetricRecord, readMetrics } from "./metrics.ts";
import { readRuns, type RunData } from "./run_data.ts";
import { failuresSection } from "./report_failures.ts";
import {
  breakable,
  comparablePairs,
  errorKindsTable,
  fmtP,
  leaderboardHtml,
  metadataTable,
  officialTable,
  runNotes,
} from "./report_tables.ts";
import { leaderboard } from "./leaderboard.ts";
import type pl from "nodejs-polars";

// Analysis and charts load nodejs-polars, a native addon that needs --allow-ffi: they are imported when a report is
// built, so that `reportCommand` can first say plainly what permission is missing instead of a stack trace.
type Analysis = typeof import("./analysis.ts");
type Paired = typeof import("./paired_test.ts");
type Charts = typeof import("./charts.ts");
type Modes = typeof import("./report_modes.ts");
let A: Analysis;
let P: Paired;
let C: Charts;
let M: Modes;

async function loadModules(): Promise<void> {
  A ??= await import("./analysis.ts");
  P ??= await import("./paired_test.ts");
  C ??= await import("./charts.ts");
  M ??= await import("./report_modes.ts");
}

/** Options of {@link buildReport}. */
export interface ReportOptions {
  /** Report title (default "text2sql evaluation report"). */
  title?: string;
  /** Failing questions listed per run at most (default 500); the rest are counted. */
  maxFailures?: number;
  /** Timestamp printed in the report (default now); fixed in tests for reproducible output. */
  generatedAt?: Date;
  /** An audit folder (`deno task audit`): adds EX on unflagged questions and the flagged failures. */
  audit?: string;
}

const CSS = `
:root { color-scheme: light; --fg: #1d1d1f; --muted: #6b6b70; --line: #dcdce0; --bg2: #f6f6f8; }
* { box-sizing: border-box; }
/* The page uses the window's width; prose keeps a readable measure. */
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0;
  padding: 24px 32px 64px; }
p, .pair, nav { max-width: 120ch; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; } h3 { font-size: 15px; margin: 18px 0 6px; }
.muted, .t2s-more { color: var(--muted); } nav a { margin-right: 12px; color: #2f5fbf; white-space: nowrap; }
/* Words and numbers never break inside: text wraps between words (and at the <wbr> after / _ - . of ids and
   paths); a table wider than the window scrolls inside its own box, the page never sideways. */
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; display: block; max-width: 100%;
  overflow-x: auto; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--bg2); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.null { color: #aaa; }
td.label { min-width: 12ch; max-width: 42ch; }
table.leaderboard td.ex { font-weight: 700; } table.leaderboard tr.unfinished td { color: var(--muted); }
table.leaderboard th, table.errors th { white-space: nowrap; } table.errors th.kind-head { white-space: normal;
  min-width: 7ch; max-width: 12ch; }
table.official td, table.official th { min-width: 90px; text-align: right; white-space: nowrap; }
table.official th:first-child, table.official td:first-child { text-align: left; }
details.meta > .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 12px;
  margin-top: 8px; }
table.meta { margin: 0; } table.meta caption { text-align: left; font-weight: 600; padding: 2px 0 4px; }
table.meta th { white-space: nowrap; width: 9em; } table.meta td { min-width: 0; }
figure.t2s-chart { max-width: 100%; overflow-x: auto; margin: 12px 0 24px; }
figure.t2s-chart svg { max-width: 100%; height: auto; }
figure.t2s-chart h2 { font-size: 14px; border: 0; margin: 0 0 4px; }
pre { background: var(--bg2); border: 1px solid var(--line); padding: 6px 8px; white-space: pre-wrap;
  overflow-wrap: anywhere; margin: 4px 0; font: 12px/1.4 ui-monospace, Menlo, Consolas, monospace; }
details { margin: 4px 0; } details > summary { cursor: pointer; }
details.run > summary { font-weight: 600; font-size: 15px; }
details.q { border-left: 3px solid var(--line); padding-left: 8px; }
details.q[data-status="wrong"] { border-color: #efb118; } details.q[data-status="pred_error"] { border-color: #ff725c; }
details.q[data-status="timeout"] { border-color: #a463f2; } details.q[data-status="gold_error"] { border-color: #404040; }
.pair { display: flex; gap: 16px; flex-wrap: wrap; } .pair > div { flex: 1 1 420px; min-width: 0; overflow-x: auto; }
.kind { font: 12px ui-monospace, monospace; background: var(--bg2); padding: 0 4px; border-radius: 3px; }
.verdict-yes { color: #1a7f37; font-weight: 600; } .verdict-no { color: var(--muted); }
.warn { background: #fff4d6; border: 1px solid #f0d58c; padding: 6px 10px; }
`;

/** Training folders (a `metrics.jsonl`, no `run.json`) given among the run directories. */
async function isTrainingDir(dir: string): Promise<boolean> {
  return !(await exists(join(dir, "run.json"))) && await exists(join(dir, "metrics.jsonl"));
}

/** Adds one `<section>` to a report and its link to the report's navigation. */
type AddSection = (id: string, heading: string, body: string) => void;

/** Width of the report's charts in px: they scale down with the window (never up), so draw them wide. */
const CHART_WIDTH = 1100;

/** The accuracy section: the charts over all runs, then the official table of each run (collapsed). */
function accuracySection(runs: RunData[], df: pl.DataFrame): string {
  const acc = A.accuracyByDifficulty(df).toRecords() as Record<string, unknown>[];
  const official = runs.map((run) => {
    // Match by id: a run with no record yet has no row in the frame, so positions would shift.
    const row = acc.find((r) => r.run === run.id);
    const heading = `<h3>${escapeHtml(run.label)} <span class="muted">(${breakable(run.id)})</span></h3>`;
    return heading + (row ? officialTable(row, run) : '<p class="muted">No question scored yet.</p>');
  }).join("\n");
  const hasRows = df.height > 0;
  return `<p class="muted">Evaluator <code>bird-ex-set</code>: a prediction is correct iff its set of result rows equals the
gold SQL's, as in the official BIRD script; any error or timeout counts as wrong.</p>
${hasRows ? C.accuracyByDifficultyChart(df, { width: CHART_WIDTH }) : ""}
${hasRows ? C.accuracyByDatabaseChart(df, { width: CHART_WIDTH }) : ""}
<details class="official"><summary>The official table of each run (count, correct, EX and Soft-F1 per difficulty)</summary>
${official}
</details>`;
}

/** The error taxonomy and, when any run used tokens, the token (and cost) sections. */
function errorAndTokenSections(runs: RunData[], df: pl.DataFrame, section: AddSection): void {
  section(
    "errors",
    "Error taxonomy",
    `${errorKindsTable(runs, A.errorTable(df).toRecords() as Record<string, unknown>[])}\n${
      C.errorTaxonomyChart(df, { width: CHART_WIDTH })
    }`,
  );
  const tokens = A.tokenUsage(df);
  const anyTokens = (tokens.toRecords() as Record<string, number | null>[]).some((r) =>
    (r.prompt_tokens ?? 0) + (r.completion_tokens ?? 0) > 0
  );
  if (!anyTokens) return;
  // No price known for any run: a column of nulls says nothing, so it is left out.
  const priced = (tokens.toRecords() as Record<string, unknown>[]).some((r) => r.cost_usd !== null);
  const all: pl.DataFrame = tokens.drop("run");
  const shown: pl.DataFrame = priced ? all : all.drop("cost_usd");
  section(
    "tokens",
    priced ? "Token use and cost" : "Token use",
    `${tableHtml(shown)}\n${C.tokenUsageChart(df, { width: CHART_WIDTH })}`,
  );
}

/** The paired comparisons of every comparable pair of runs as one table (A, B, their accuracies, the difference
 * with its CI, McNemar p, the verdict), then each pair's questions one solves and the other does not (collapsed);
 * null when no pair is comparable. */
function comparisonsSection(runs: RunData[], df: pl.DataFrame): string | null {
  const pairs = comparablePairs(runs);
  if (pairs.length === 0) return null;
  const tests = pairs.map(([a, b]) => ({ a, b, t: P.pairedTest(df, a.id, b.id) }));
  const body = tests.map(({ a, b, t }) =>
    `<tr><td class="label">${breakable(a.label)}</td><td class="label">${breakable(b.label)}</td>` +
    `<td class="num">${t.n}</td><td class="num">${t.accuracyA.toFixed(2)}</td><td class="num">${
      t.accuracyB.toFixed(2)
    }</td><td class="num">${t.diff > 0 ? "+" : ""}${t.diff.toFixed(2)}</td><td class="num">[${
      t.ciLow.toFixed(2)
    }, ${
      t.ciHigh.toFixed(2)
    }]</td><td class="num">${t.onlyA}</td><td class="num">${t.onlyB}</td><td class="num">${
      fmtP(t.mcnemarP)
    }</td><td>${
      t.significant ? '<span class="verdict-yes">yes</span>' : '<span class="verdict-no">no</span>'
    }</td></tr>`
  ).join("\n");
  const confidence = Math.round(tests[0].t.confidence * 100);
  const lists = tests.map(({ a, b }) => {
    const d = P.solvedDiff(df, a.id, b.id);
    const list = (name: string, frame: typeof d.onlyA) =>
      `<details><summary>${frame.height} ${escapeHtml(name)}</summary>${
        frame.height ? tableHtml(frame, { maxRows: 500 }) : "<p class=muted>none</p>"
      }</details>`;
    return `${list(`questions only ${a.label} solves (vs ${b.label})`, d.onlyA)}
${list(`questions only ${b.label} solves (vs ${a.label})`, d.onlyB)}`;
  }).join("\n");
  return `<p class="muted">Paired over the questions both runs answered: McNemar's exact test on the questions exactly one
run solves, and a paired-bootstrap ${confidence}% confidence interval of the accuracy difference A − B (points).
${runs.length > 6 ? "With more than six runs, each run is compared with the first." : ""}</p>
<table class="paired"><thead><tr><th>A</th><th>B</th><th class="num">questions</th><th class="num">A (%)</th>
<th class="num">B (%)</th><th class="num">A − B</th><th class="num">${confidence}% CI</th><th class="num">only A</th>
<th class="num">only B</th><th class="num">McNemar p</th><th>significant</th></tr></thead><tbody>
${body}
</tbody></table>
${lists}`;
}

/** Every section about the runs, in report order. */
function runSections(runs: RunData[], notes: Map<RunData, string>, max: number, section: AddSection): void {
  const df = A.runsFrame(runs);
  section(
    "leaderboard",
    "Leaderboard",
    `${leaderboardHtml(leaderboard(runs))}\n${metadataTable(runs, notes)}`,
  );
  section("accuracy", "Execution accuracy", accuracySection(runs, df));
  if (df.height > 0) errorAndTokenSections(runs, df, section);
  const comparisons = comparisonsSection(runs, df);
  if (comparisons !== null) section("comparisons", "Comparisons", comparisons);
  const modes = M.modesSectionHtml(runs);
  if (modes !== null) section("modes", "Inference modes", modes);
  section("failures", "Failing questions", runs.map((r) => failuresSection(r, max)).join("\n"));
}

/** Metrics streams to chart: training folders given, and any `metrics.jsonl` a run folder holds. */
function metricsOf(trainDirs: string[], runs: RunData[]): { dir: string; records: MetricRecord[] }[] {
  return [
    ...trainDirs.map((dir) => ({ dir, records: readMetrics(dir) })),
    // A run directory may also hold the metrics of the training that produced its model.
    ...runs.flatMap((r) => {
      try {
        return [{ dir: r.dir, records: readMetrics(join(r.dir, "metrics.jsonl")) }];
      } catch {
        return [];
      }
    }),
  ];
}

/**
 * Builds one self-contained HTML report over run directories (and training folders holding `metrics.jsonl`,
 * whose loss curves are drawn). Throws a one-line error naming a missing or invalid directory.
 */
export async function buildReport(runDirs: string[], options: ReportOptions = {}): Promise<string> {
  if (runDirs.length === 0) throw new Error("no run directory given");
  await loadModules();
  const isTraining = await Promise.all(runDirs.map(isTrainingDir));
  const trainDirs = runDirs.filter((_, i) => isTraining[i]);
  const runs = readRuns(runDirs.filter((_, i) => !isTraining[i]));
  const metrics = metricsOf(trainDirs, runs);
  const notes = new Map(runs.map((r) => [r, runNotes(r)]));
  const sections: string[] = [];
  const nav: [string, string][] = [];
  const section: AddSection = (id, heading, body) => {
    nav.push([id, heading]);
    sections.push(`<section id="${id}"><h2>${escapeHtml(heading)}</h2>\n${body}\n</section>`);
  };
  if (runs.length > 0) runSections(runs, notes, options.maxFailures ?? 500, section);
  if (runs.length > 0 && options.audit) {
    const audit = await loadAudit(options.audit);
    const audited = runs.map((r) => ({
      label: r.label,
      datasetSha256: r.info.dataset.sha256,
      records: r.records,
    }));
    section("audit", "Gold audit", auditSection(audited, audit));
  }
  if (metrics.length > 0) {
    section(
      "training",
      "Training",
      metrics.map((m) => C.lossCurveChart(m.records, { title: `Training loss — ${m.dir}` })).join("\n"),
    );
  }
  return page({ runs, trainDirs, notes, sections, nav }, options);
}

/** The report's page around its sections: title, counts, navigation, warnings about partial runs. */
function page(
  parts: {
    runs: RunData[];
    trainDirs: string[];
    notes: Map<RunData, string>;
    sections: string[];
    nav: string[][];
  },
  options: ReportOptions,
): string {
  const { runs, trainDirs, notes, sections, nav } = parts;
  const title = options.title ?? "text2sql evaluation report";
  const generated = (options.generatedAt ?? new Date()).toISOString();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${CSS}</style></head>
<body>
<header><h1>${escapeHtml(title)}</h1><p class="muted">Generated ${
    escapeHtml(generated)
  } · ${runs.length} run${runs.length === 1 ? "" : "s"}${
    trainDirs.length ? ` · ${trainDirs.length} training folder${trainDirs.length === 1 ? "" : "s"}` : ""
  }</p>
<nav>${nav.map(([id, h]) => `<a href="#${id}">${escapeHtml(h)}</a>`).join("")}</nav></header>
${
    // Numbers of an unfinished run are partial: say so before any table shows them.
    runs.filter((r) => notes.get(r)).map((r) =>
      `<p class="warn"><strong>${escapeHtml(r.label)}</strong> (${escapeHtml(r.id)}): ${
        escapeHtml(notes.get(r)!)
      }</p>`
    ).join("\n")}
${sections.join("\n")}
</body></html>
`;
}

/** `20261126T014500Z`: the UTC timestamp format of run and report names. */
function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

const USAGE = "usage: deno task report [--out FILE] [--audit DIR] RUN_DIR...";

/**
 * `deno task report [--out FILE] RUN_DIR...` (argv without the command name). Writes the report (default
 * `reports/<UTC timestamp>.html`), prints its path and returns 0; on a bad argument or run directory prints one
 * line to stderr and returns 2 (usage) or 1 (run directory).
 */
export async function reportCommand(argv: string[]): Promise<number> {
  const args = reportArgs(argv);
  if (typeof args === "number") return args;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    console.error(
      "report: needs --allow-ffi (nodejs-polars is a native addon); run `deno run -A lib/cli/cli.ts report ...` " +
        "or add --allow-ffi to the report task in deno.json",
    );
    return 1;
  }
  let html: string;
  try {
    html = await buildReport(args.dirs, { audit: args.audit });
  } catch (e) {
    console.error(`report: ${(e as Error).message}`);
    if (Deno.env.get("TEXT2SQL_DEBUG")) console.error((e as Error).stack);
    return 1;
  }
  return await writeReport(args.out ?? join("reports", `${stamp(new Date())}.html`), html);
}

/** The command's arguments, or the exit code when there is nothing to build (usage printed, or `--help`). */
function reportArgs(argv: string[]): { dirs: string[]; out: string | undefined; audit?: string } | number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        out: { type: "string", short: "o" },
        audit: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    console.error(`report: ${(e as Error).message}. ${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length === 0) {
    console.error(`report: no run directory given. ${USAGE}`);
    return 2;
  }
  return { dirs: parsed.positionals, out: parsed.values.out, audit: parsed.values.audit };
}

/** Writes the report and prints its path (0), or says why it cannot (1). */
async function writeReport(out: string, html: string): Promise<number> {
  try {
    await Deno.mkdir(dirname(out), { recursive: true });
    await Deno.writeTextFile(out, html);
  } catch (e) {
    console.error(`report: cannot write ${out}: ${(e as Error).message}`);
    return 1;
  }
  console.log(out);
  return 0;
}
