/**
 * The report's tables: run metadata side by side, the official-style accuracy table, error kinds per run, the
 * paired test as a sentence and a 2×2 table, and which pairs of runs are comparable at all. Strings of HTML,
 * everything taken from a run escaped.
 *
 * @module
 */
import { describeMode, DIFFICULTIES } from "../run/mod.ts";
import type { ResultRecord } from "../types.ts";
import { ERROR_KINDS } from "./error_taxonomy.ts";
import { breakable, escapeHtml } from "./html.ts";

export { breakable };
import { leaderboardColumns, type LeaderboardRow, runDialect } from "./leaderboard.ts";
import type { PairedTestResult } from "./paired_test.ts";
import type { RunData } from "./run_data.ts";

/** Renders `value` as text in a cell, `—` for null/absent. */
export function cell(value: unknown): string {
  if (value === null || value === undefined || value === "") return '<td class="null">—</td>';
  if (typeof value === "number") return `<td class="num">${escapeHtml(String(value))}</td>`;
  return `<td>${escapeHtml(String(value))}</td>`;
}

/** A percentage with two decimals, `—` when there is none. */
export function fmtPct(v: unknown): string {
  return typeof v === "number" ? v.toFixed(2) : "—";
}

/** A run's metadata as key/value rows: what produced it, with every prompt option and the engine. */
function metadataRows(r: RunData, notes: Map<RunData, string>): [string, unknown, boolean?][] {
  const i = r.info;
  const engine = i.engine as unknown;
  const engineText = engine && typeof engine === "object"
    ? Object.entries(engine as Record<string, unknown>).map(([k, v]) =>
      `${k} ${typeof v === "string" ? v : JSON.stringify(v)}`
    )
      .join(", ")
    : engine;
  const options = i.prompt?.options && Object.keys(i.prompt.options).length
    ? Object.entries(i.prompt.options).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(", ")
    : null;
  return [
    ["run", r.id, true],
    ["folder", r.dir, true],
    ["model", i.model ?? "(predictions file)", true],
    ["predictions", i.predictions, true],
    ["provider", i.provider],
    ["base URL", i.base_url, true],
    ["model identity", i.model_identity, true],
    ["mode", i.mode ? describeMode(i.mode) : "single answer"],
    ["dialect", runDialect(i)],
    ["dataset", i.dataset?.path, true],
    ["dataset sha256", i.dataset?.sha256 ? `${i.dataset.sha256.slice(0, 12)}…` : null],
    ["selection", selectionText(r)],
    ["questions scored", r.records.length],
    [
      "prompt",
      [
        i.prompt?.version,
        i.prompt?.hash
          ? `hash ${i.prompt.hash.replace(/^((?:sha256:)?[0-9a-f]{12})[0-9a-f]{8,}$/, "$1…")}`
          : null,
      ].filter(Boolean).join(
        " · ",
      ),
    ],
    ["prompt options", options],
    ["sampling", i.model && i.sampling ? samplingText(i.sampling) : null],
    ["evaluator", i.evaluator],
    ["SQL timeout", i.timeout_s ? `${i.timeout_s} s` : null],
    ["R-VES", i.ves ? `${i.ves} repetitions; score ${r.summary?.r_ves ?? "—"}` : null],
    ["SQLite", i.sqlite_version],
    ["engine", engineText, true],
    ["code version", i.code_version],
    ["started", i.started_at],
    ["finished", i.finished_at ?? "(not finished)"],
    ["notes", notes.get(r)],
  ];
}

/**
 * Run metadata in a collapsed `<details>` block: one card per run (key/value rows) that wrap into as many columns
 * as the page holds, so 25 runs make a grid, not a table 25 columns wide. Rows that do not apply are left out.
 */
export function metadataTable(runs: RunData[], notes: Map<RunData, string>): string {
  const card = (r: RunData) => {
    const rows = metadataRows(r, notes)
      .filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v, path]) =>
        `<tr><th>${escapeHtml(k)}</th><td${typeof v === "number" ? ' class="num"' : ""}>${
          path ? breakable(String(v)) : escapeHtml(String(v))
        }</td></tr>`
      ).join("");
    return `<table class="meta"><caption>${breakable(r.label)}</caption><tbody>${rows}</tbody></table>`;
  };
  return `<details class="meta"><summary>Run metadata: ${runs.length} run${
    runs.length === 1 ? "" : "s"
  } (model, dataset,
selection, prompt and its options, sampling, evaluator, versions)</summary>
<div class="cards">${runs.map(card).join("\n")}</div></details>`;
}

/** The leaderboard's columns that hold percentages (two decimals, as the official script prints them). */
const PERCENT_COLUMNS = new Set(["simple", "moderate", "challenging", "EX", "Soft-F1", "R-VES"]);

/** The leaderboard as a table: one row per run, best EX first; the run's folder name in the model cell's tooltip. */
export function leaderboardHtml(rows: LeaderboardRow[]): string {
  const cols = leaderboardColumns(rows);
  const head = `<th class="num">#</th>${
    cols.map((c) => `<th${c.numeric ? ' class="num"' : ""}>${escapeHtml(c.name)}</th>`).join("")
  }`;
  const body = rows.map((r, k) =>
    `<tr${r.finished ? "" : ' class="unfinished"'}><td class="num">${k + 1}</td>${
      cols.map((c) => {
        const v = c.value(r);
        if (v === null) return '<td class="null num">—</td>';
        if (c.name === "model") {
          return `<td class="label" title="${escapeHtml(r.run)}">${breakable(String(v))}</td>`;
        }
        if (typeof v === "number") {
          const text = c.name === "cost ($)"
            ? v.toFixed(4)
            : PERCENT_COLUMNS.has(c.name)
            ? v.toFixed(2)
            : v.toLocaleString("en-US");
          return `<td class="num${c.name === "EX" ? " ex" : ""}">${text}</td>`;
        }
        return `<td>${escapeHtml(v)}</td>`;
      }).join("")
    }</tr>`
  ).join("\n");
  return `<table class="leaderboard"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
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
export function runNotes(r: RunData): string {
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
export function officialTable(row: Record<string, unknown>, run: RunData): string {
  const buckets = [...DIFFICULTIES, ...(row.unknown_count !== undefined ? ["unknown"] : []), "total"]
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

/** A p-value: four decimals, or in exponent form below 0.0001 so a tiny p does not read as 0. */
export function fmtP(p: number): string {
  return p < 0.0001 ? p.toExponential(2) : p.toFixed(4);
}

/** The paired test as a sentence and a small table. */
export function pairedHtml(t: PairedTestResult): string {
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

/**
 * Error kinds per run: runs as rows, one column per kind that occurs (its name breakable at `:` and `_`), each cell
 * the percent of the run's questions, its count in the tooltip; so 25 runs add rows, never width.
 */
export function errorKindsTable(runs: RunData[], rows: Record<string, unknown>[]): string {
  const kinds = (ERROR_KINDS as readonly string[]).filter((k) => rows.some((r) => r.error_kind === k));
  const head = kinds.map((k) =>
    `<th class="num kind-head">${escapeHtml(k).replace(/([:_])/g, "$1<wbr>")}</th>`
  ).join("");
  const body = runs.map((run) =>
    `<tr><td class="label">${breakable(run.label)}</td>${
      kinds.map((k) => {
        const r = rows.find((x) => x.run === run.id && x.error_kind === k);
        return r
          ? `<td class="num" title="${r.count} questions">${
            typeof r.percent === "number" ? r.percent.toFixed(1) : "—"
          }</td>`
          : '<td class="num null">0</td>';
      }).join("")
    }</tr>`
  ).join("\n");
  return `<p class="muted">Percent of each run's questions by verdict (the count in each cell's tooltip).</p>
<table class="errors"><thead><tr><th>model</th>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** Every pair of runs over the same dataset that share questions; beyond 6 runs, each run against the first. */
export function comparablePairs(runs: RunData[]): [RunData, RunData][] {
  const pairs: [RunData, RunData][] = [];
  for (let i = 0; i < runs.length; i++) {
    for (let j = i + 1; j < runs.length; j++) {
      if (runs.length > 6 && i > 0) continue;
      const [a, b] = [runs[i], runs[j]];
      // The same dataset, or the dialect versions of one set (the same question identities, `run.json`).
      const qa = a.info.dataset?.questions_sha256, qb = b.info.dataset?.questions_sha256;
      if (a.info.dataset?.sha256 !== b.info.dataset?.sha256 && !(qa && qa === qb)) continue;
      const indices = new Set(a.records.map((r) => r.index));
      if (b.records.some((r) => indices.has(r.index))) pairs.push([a, b]);
    }
  }
  return pairs;
}
