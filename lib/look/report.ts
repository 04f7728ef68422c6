/**
 * Self-contained HTML reports over run directories (`deno task report [--out FILE] RUN_DIR...`): run metadata,
 * the official-style accuracy table per run, charts, paired comparisons, and every failing question with its
 * predicted and gold SQL and result samples. One file: inline CSS and SVG, no script, no external URL, so it opens
 * offline and can be mailed or archived. Everything taken from a run is HTML-escaped; nothing from the
 * environment is included.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import type { DisplayValue, ResultRecord, ResultShape } from "../types.ts";
import type { MetricRecord, PairedTestResult, RunData } from "./analysis.ts";
import { escapeHtml, tableHtml } from "./html.ts";
import { exists } from "../util/mod.ts";

// Analysis and charts load nodejs-polars, a native addon that needs --allow-ffi: they are imported when a report is
// built, so that `reportCommand` can first say plainly what permission is missing instead of a stack trace.
type Analysis = typeof import("./analysis.ts");
type Charts = typeof import("./charts.ts");
let A: Analysis;
let C: Charts;

async function loadModules(): Promise<void> {
  A ??= await import("./analysis.ts");
  C ??= await import("./charts.ts");
}

/** Options of {@link buildReport}. */
export interface ReportOptions {
  /** Report title (default "text2sql evaluation report"). */
  title?: string;
  /** Failing questions listed per run at most (default 500); the rest are counted. */
  maxFailures?: number;
  /** Timestamp printed in the report (default now); fixed in tests for reproducible output. */
  generatedAt?: Date;
}

const CSS = `
:root { color-scheme: light; --fg: #1d1d1f; --muted: #6b6b70; --line: #dcdce0; --bg2: #f6f6f8; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0;
  padding: 24px 32px 64px; max-width: 1180px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; } h3 { font-size: 15px; margin: 18px 0 6px; }
.muted, .t2s-more { color: var(--muted); } nav a { margin-right: 12px; color: #2f5fbf; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
/* The page never scrolls sideways: long values (hashes, paths, SQL) wrap, and a table with many runs scrolls
   inside its own box. */
html, body { overflow-wrap: anywhere; }
table { display: block; max-width: 100%; overflow-x: auto; }
figure.t2s-chart { max-width: 100%; overflow-x: auto; } figure.t2s-chart svg { max-width: 100%; height: auto; }
.pair > div { overflow-x: auto; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: var(--bg2); font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.null { color: #aaa; } table.official td, table.official th { min-width: 90px; text-align: right; }
table.official th:first-child, table.official td:first-child { text-align: left; }
figure.t2s-chart { margin: 12px 0 24px; } figure.t2s-chart h2 { font-size: 14px; border: 0; margin: 0 0 4px; }
pre { background: var(--bg2); border: 1px solid var(--line); padding: 6px 8px; white-space: pre-wrap;
  overflow-wrap: anywhere; margin: 4px 0; font: 12px/1.4 ui-monospace, Menlo, Consolas, monospace; }
details { margin: 4px 0; } details > summary { cursor: pointer; }
details.run > summary { font-weight: 600; font-size: 15px; }
details.q { border-left: 3px solid var(--line); padding-left: 8px; }
details.q[data-status="wrong"] { border-color: #efb118; } details.q[data-status="pred_error"] { border-color: #ff725c; }
details.q[data-status="timeout"] { border-color: #a463f2; } details.q[data-status="gold_error"] { border-color: #404040; }
.pair { display: flex; gap: 16px; flex-wrap: wrap; } .pair > div { flex: 1 1 420px; min-width: 0; }
.kind { font: 12px ui-monospace, monospace; background: var(--bg2); padding: 0 4px; border-radius: 3px; }
.verdict-yes { color: #1a7f37; font-weight: 600; } .verdict-no { color: var(--muted); }
.warn { background: #fff4d6; border: 1px solid #f0d58c; padding: 6px 10px; }
`;

/** Renders `value` as text in a cell, `—` for null/absent. */
function cell(value: unknown): string {
  if (value === null || value === undefined || value === "") return '<td class="null">—</td>';
  if (typeof value === "number") return `<td class="num">${escapeHtml(String(value))}</td>`;
  return `<td>${escapeHtml(String(value))}</td>`;
}

function fmtPct(v: unknown): string {
  return typeof v === "number" ? v.toFixed(2) : "—";
}

/** Run metadata side by side, one column per run; `notes` holds each run's {@link runNotes}. */
function metadataTable(runs: RunData[], notes: Map<RunData, string>): string {
  // A row that applies to no run (a provider for predictions files, say) is left out, not shown as dashes.
  const row = (name: string, f: (r: RunData) => unknown) => {
    const values = runs.map(f);
    if (values.every((v) => v === null || v === undefined || v === "")) return "";
    return `<tr><th>${escapeHtml(name)}</th>${values.map(cell).join("")}</tr>`;
  };
  const i = (r: RunData) => r.info;
  return `<table class="meta"><thead><tr><th></th>${
    runs.map((r) => `<th>${escapeHtml(r.label)}</th>`).join("")
  }</tr></thead><tbody>
${row("run", (r) => r.id)}
${row("model", (r) => i(r).model ?? "(predictions file)")}
${row("predictions", (r) => i(r).predictions)}
${row("provider", (r) => i(r).provider)}
${row("base URL", (r) => i(r).base_url)}
${row("model identity", (r) => i(r).model_identity)}
${row("dataset", (r) => i(r).dataset?.path)}
${row("dataset sha256", (r) => i(r).dataset?.sha256 ? `${i(r).dataset.sha256.slice(0, 12)}…` : null)}
${row("selection", (r) => selectionText(r))}
${row("questions scored", (r) => r.records.length)}
${row("prompt", (r) => [i(r).prompt?.version, i(r).prompt?.hash].filter(Boolean).join(" · "))}
${row("sampling", (r) => i(r).model && i(r).sampling ? samplingText(i(r).sampling) : null)}
${row("evaluator", (r) => i(r).evaluator)}
${row("SQL timeout", (r) => i(r).timeout_s ? `${i(r).timeout_s} s` : null)}
${row("R-VES", (r) => i(r).ves ? `${i(r).ves} repetitions; score ${r.summary?.r_ves ?? "—"}` : null)}
${row("SQLite", (r) => i(r).sqlite_version)}
${row("code version", (r) => i(r).code_version)}
${row("started", (r) => i(r).started_at)}
${row("finished", (r) => i(r).finished_at ?? "(not finished)")}
${row("notes", (r) => notes.get(r))}
</tbody></table>`;
}

/** Sampling settings that were set: a predictions file has none, and an unset `max_tokens` is not a setting. */
function samplingText(sampling: Record<string, unknown>): string | null {
  const set = Object.entries(sampling).filter(([, v]) => v !== null && v !== undefined);
  return set.length ? set.map(([k, v]) => `${k} ${v}`).join(", ") : null;
}

function selectionText(r: RunData): string {
  const s = r.info.selection;
  if (!s) return "";
  const parts = [];
  if (s.db?.length) parts.push(`db: ${s.db.join(", ")}`);
  if (s.limit !== null && s.limit !== undefined) parts.push(`limit ${s.limit}`);
  if (s.indices) parts.push(`${s.indices.length} questions`);
  return parts.join(" · ");
}

/** Why a run's numbers might surprise: still running, torn log, summary disagreeing with the records. */
function runNotes(r: RunData): string {
  const notes: string[] = [];
  if (!r.summary) notes.push("no summary.json yet (run in progress?)");
  if (r.torn) notes.push("half-written last line of results.jsonl skipped");
  const expected = r.info.selection?.indices?.length;
  if (expected && r.records.length < expected) {
    notes.push(`${expected - r.records.length} questions not scored yet`);
  }
  const correct = r.records.filter((x) => x.status === "correct").length;
  if (r.summary && (r.summary.total !== r.records.length || r.summary.correct !== correct)) {
    notes.push(
      `summary.json says ${r.summary.correct}/${r.summary.total}, records say ${correct}/${r.records.length}`,
    );
  }
  return notes.join("; ");
}

/** The official script's layout: a count row and an accuracy row over simple / moderate / challenging / total. */
function officialTable(row: Record<string, unknown>, run: RunData): string {
  const buckets = [...A.DIFFICULTIES, ...(row.unknown_count !== undefined ? ["unknown"] : []), "total"]
    .filter((b) => b === "total" || Number(row[`${b}_count`]) > 0);
  return `<table class="official"><thead><tr><th></th>${
    buckets.map((b) => `<th>${b}</th>`).join("")
  }</tr></thead>
<tbody>
<tr><td>count</td>${buckets.map((b) => `<td class="num">${row[`${b}_count`]}</td>`).join("")}</tr>
<tr><td>correct</td>${buckets.map((b) => `<td class="num">${row[`${b}_correct`]}</td>`).join("")}</tr>
<tr><td><b>EX accuracy (%)</b></td>${
    buckets.map((b) => `<td class="num"><b>${fmtPct(row[b])}</b></td>`).join("")
  }</tr>
<tr><td>Soft-F1 (%)</td>${
    buckets.map((b) => `<td class="num">${fmtPct(softF1(run.records, b))}</td>`).join("")
  }</tr>
</tbody></table>`;
}

function softF1(records: ResultRecord[], bucket: string): number | null {
  const sel = bucket === "total" ? records : records.filter((r) => r.difficulty === bucket);
  if (sel.length === 0) return null;
  return Number((100 * sel.reduce((s, r) => s + (r.soft_f1 ?? 0), 0) / sel.length).toFixed(2));
}

function fmtP(p: number): string {
  return p < 0.0001 ? p.toExponential(2) : p.toFixed(4);
}

/** The paired test as a sentence and a small table. */
function pairedHtml(t: PairedTestResult): string {
  const verdict = t.significant
    ? `<span class="verdict-yes">significant</span> at the ${Math.round((1 - t.confidence) * 100)}% level`
    : `<span class="verdict-no">not significant</span> at the ${Math.round((1 - t.confidence) * 100)}% level`;
  return `<p>On the ${t.n} questions both runs answered, <b>${escapeHtml(t.modelA)}</b> scores ${
    t.accuracyA.toFixed(2)
  }% and <b>${escapeHtml(t.modelB)}</b> ${t.accuracyB.toFixed(2)}%: a difference (A − B) of <b>${
    t.diff > 0 ? "+" : ""
  }${t.diff.toFixed(2)} points</b>, ${Math.round(t.confidence * 100)}% CI [${t.ciLow.toFixed(2)}, ${
    t.ciHigh.toFixed(2)
  }] (paired bootstrap, ${t.resamples} resamples, seed ${t.seed}); exact McNemar p = ${
    fmtP(t.mcnemarP)
  }: ${verdict}.</p>
<table class="paired"><thead><tr><th></th><th>B correct</th><th>B wrong</th></tr></thead><tbody>
<tr><th>A correct</th><td class="num">${t.bothCorrect}</td><td class="num">${t.onlyA}</td></tr>
<tr><th>A wrong</th><td class="num">${t.onlyB}</td><td class="num">${t.neither}</td></tr></tbody></table>`;
}

/** Error kinds as rows, runs as columns ("count (percent)"): stays narrow however many kinds there are. */
function errorKindsTable(runs: RunData[], rows: Record<string, unknown>[]): string {
  const kinds = (A.ERROR_KINDS as readonly string[]).filter((k) => rows.some((r) => r.error_kind === k));
  const body = kinds.map((k) =>
    `<tr><td><span class="kind">${escapeHtml(k)}</span></td>${
      runs.map((run) => {
        const r = rows.find((x) => x.run === run.id && x.error_kind === k);
        return r ? `<td class="num">${r.count} (${fmtPct(r.percent)}%)</td>` : '<td class="num null">0</td>';
      }).join("")
    }</tr>`
  ).join("\n");
  return `<table class="errors"><thead><tr><th>verdict</th>${
    runs.map((r) => `<th>${escapeHtml(r.label)}</th>`).join("")
  }</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** Every pair of runs over the same dataset that share questions; beyond 6 runs, each run against the first. */
function comparablePairs(runs: RunData[]): [RunData, RunData][] {
  const pairs: [RunData, RunData][] = [];
  for (let i = 0; i < runs.length; i++) {
    for (let j = i + 1; j < runs.length; j++) {
      if (runs.length > 6 && i > 0) continue;
      const [a, b] = [runs[i], runs[j]];
      if (a.info.dataset?.sha256 !== b.info.dataset?.sha256) continue;
      const indices = new Set(a.records.map((r) => r.index));
      if (b.records.some((r) => indices.has(r.index))) pairs.push([a, b]);
    }
  }
  return pairs;
}

function valueText(v: DisplayValue): string {
  if (v === null) return "NULL";
  if (typeof v === "object") {
    if ("int" in v) return v.int;
    if ("real" in v) return v.real;
    return `x'${v.blob.length > 32 ? v.blob.slice(0, 32) + "…" : v.blob}'`;
  }
  // TEXT that reads as a number is quoted: '1' and 1 differ for BIRD's comparison and must look different.
  if (typeof v === "string" && /^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(v)) return `'${v}'`;
  return String(v);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function resultHtml(name: string, shape: ResultShape | null): string {
  if (!shape) return `<p class="muted">${escapeHtml(name)}: no result</p>`;
  const head = shape.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("");
  const body = shape.sample.map((row) =>
    `<tr>${
      row.map((v) =>
        v === null ? '<td class="null">NULL</td>' : cell(typeof v === "number" ? v : valueText(v))
      ).join("")
    }</tr>`
  ).join("");
  const more = shape.rows > shape.sample.length ? ` (first ${shape.sample.length} shown)` : "";
  return `<p class="muted">${escapeHtml(name)}: ${
    plural(shape.rows, "row")
  }, ${shape.distinct_rows} distinct, ${plural(shape.columns.length, "column")}${more}</p>
<table class="sample"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** One failing question: question, evidence, error, predicted vs gold SQL and their result samples. */
function failureHtml(r: ResultRecord): string {
  const kind = A.errorTaxonomy(r);
  return `<details class="q" data-status="${escapeHtml(r.status)}"><summary>#${r.index} · ${
    escapeHtml(r.db_id)
  } · ${escapeHtml(r.difficulty)} · <span class="kind">${escapeHtml(kind)}</span> — ${
    escapeHtml(r.question ?? "")
  }</summary>
${r.evidence ? `<p><b>Evidence:</b> ${escapeHtml(r.evidence)}</p>` : ""}
${r.error ? `<p><b>Error:</b> <code>${escapeHtml(r.error)}</code></p>` : ""}
<div class="pair"><div><h4>Predicted SQL</h4><pre>${r.sql === null ? "(none)" : escapeHtml(r.sql)}</pre>${
    resultHtml("predicted", r.pred)
  }</div>
<div><h4>Gold SQL</h4><pre>${escapeHtml(r.gold_sql ?? "")}</pre>${resultHtml("gold", r.gold)}</div></div>
</details>`;
}

function failuresSection(run: RunData, max: number): string {
  const failing = run.records.filter((r) => r.status !== "correct").sort((a, b) => a.index - b.index);
  const shown = failing.slice(0, max);
  const more = failing.length > shown.length
    ? `<p class="t2s-more">… ${failing.length - shown.length} more not shown (raise maxFailures)</p>`
    : "";
  return `<details class="run"><summary>${
    escapeHtml(run.label)
  } — ${failing.length} of ${run.records.length} questions not correct</summary>
${shown.map(failureHtml).join("\n")}${more}</details>`;
}

/** Training folders (a `metrics.jsonl`, no `run.json`) given among the run directories. */
async function isTrainingDir(dir: string): Promise<boolean> {
  return !(await exists(join(dir, "run.json"))) && await exists(join(dir, "metrics.jsonl"));
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
  const runs = A.readRuns(runDirs.filter((_, i) => !isTraining[i]));
  const metrics: { dir: string; records: MetricRecord[] }[] = [
    ...trainDirs.map((dir) => ({ dir, records: A.readMetrics(dir) })),
    // A run directory may also hold the metrics of the training that produced its model.
    ...runs.flatMap((r) => {
      try {
        return [{ dir: r.dir, records: A.readMetrics(join(r.dir, "metrics.jsonl")) }];
      } catch {
        return [];
      }
    }),
  ];
  const notes = new Map(runs.map((r) => [r, runNotes(r)]));
  const title = options.title ?? "text2sql evaluation report";
  const generated = (options.generatedAt ?? new Date()).toISOString();
  const sections: string[] = [];
  const nav: [string, string][] = [];
  const section = (id: string, heading: string, body: string) => {
    nav.push([id, heading]);
    sections.push(`<section id="${id}"><h2>${escapeHtml(heading)}</h2>\n${body}\n</section>`);
  };

  if (runs.length > 0) {
    const df = A.runsFrame(runs);
    section("runs", "Runs", metadataTable(runs, notes));

    const acc = A.accuracyByDifficulty(df).toRecords() as Record<string, unknown>[];
    const official = runs.map((run) => {
      // Match by id: a run with no record yet has no row in the frame, so positions would shift.
      const row = acc.find((r) => r.run === run.id);
      const heading = `<h3>${escapeHtml(run.label)} <span class="muted">(${escapeHtml(run.id)})</span></h3>`;
      return heading + (row ? officialTable(row, run) : '<p class="muted">No question scored yet.</p>');
    }).join("\n");
    const hasRows = df.height > 0;
    section(
      "accuracy",
      "Execution accuracy",
      `<p class="muted">Evaluator <code>bird-ex-set</code>: a prediction is correct iff its set of result rows equals the
gold SQL's, as in the official BIRD script; any error or timeout counts as wrong.</p>
${official}
${hasRows ? C.accuracyByDifficultyChart(df) : ""}
${hasRows ? C.accuracyByDatabaseChart(df) : ""}`,
    );

    if (hasRows) {
      section(
        "errors",
        "Error taxonomy",
        `${errorKindsTable(runs, A.errorTable(df).toRecords() as Record<string, unknown>[])}\n${
          C.errorTaxonomyChart(df)
        }`,
      );
      const tokens = A.tokenUsage(df);
      const anyTokens = (tokens.toRecords() as Record<string, number>[]).some((r) =>
        r.prompt_tokens + r.completion_tokens > 0
      );
      if (anyTokens) {
        // No price known for any run: a column of nulls says nothing, so it is left out.
        const priced = (tokens.toRecords() as Record<string, unknown>[]).some((r) => r.cost_usd !== null);
        const shown = priced ? tokens : tokens.drop("cost_usd");
        section(
          "tokens",
          priced ? "Token use and cost" : "Token use",
          `${tableHtml(shown)}\n${C.tokenUsageChart(df)}`,
        );
      }
    }

    const pairs = comparablePairs(runs);
    if (pairs.length > 0) {
      const body = pairs.map(([a, b]) => {
        const t = A.pairedTest(df, a.id, b.id);
        const d = A.solvedDiff(df, a.id, b.id);
        const list = (name: string, frame: typeof d.onlyA) =>
          `<details><summary>${frame.height} ${escapeHtml(name)}</summary>${
            frame.height ? tableHtml(frame, { maxRows: 500 }) : "<p class=muted>none</p>"
          }</details>`;
        return `<h3>A = ${escapeHtml(a.label)} vs B = ${escapeHtml(b.label)}</h3>${pairedHtml(t)}
${list(`questions only ${a.label} solves`, d.onlyA)}
${list(`questions only ${b.label} solves`, d.onlyB)}`;
      }).join("\n");
      section(
        "comparisons",
        "Comparisons",
        `<p class="muted">Paired over the same questions: McNemar's exact test on the questions exactly one run solves,
and a bootstrap confidence interval of the accuracy difference.</p>\n${body}`,
      );
    }

    const max = options.maxFailures ?? 500;
    section(
      "failures",
      "Failing questions",
      runs.map((r) => failuresSection(r, max)).join("\n"),
    );
  }

  if (metrics.length > 0) {
    section(
      "training",
      "Training",
      metrics.map((m) => C.lossCurveChart(m.records, { title: `Training loss — ${m.dir}` })).join("\n"),
    );
  }

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

const USAGE = "usage: deno task report [--out FILE] RUN_DIR...";

/**
 * `deno task report [--out FILE] RUN_DIR...` (argv without the command name). Writes the report (default
 * `reports/<UTC timestamp>.html`), prints its path and returns 0; on a bad argument or run directory prints one
 * line to stderr and returns 2 (usage) or 1 (run directory).
 */
export async function reportCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { out: { type: "string", short: "o" }, help: { type: "boolean", short: "h" } },
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
  const dirs = parsed.positionals;
  if (dirs.length === 0) {
    console.error(`report: no run directory given. ${USAGE}`);
    return 2;
  }
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    console.error(
      "report: needs --allow-ffi (nodejs-polars is a native addon); run `deno run -A lib/cli/cli.ts report ...` " +
        "or add --allow-ffi to the report task in deno.json",
    );
    return 1;
  }
  let html: string;
  try {
    html = await buildReport(dirs);
  } catch (e) {
    console.error(`report: ${(e as Error).message}`);
    return 1;
  }
  const out = parsed.values.out ?? join("reports", `${stamp(new Date())}.html`);
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
