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
import { escapeHtml } from "./html.ts";
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

/** Run metadata side by side, one column per run; `notes` holds each run's {@link runNotes}. */
export function metadataTable(runs: RunData[], notes: Map<RunData, string>): string {
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
${row("mode", (r) => i(r).mode && i(r).mode!.name !== "single" ? describeMode(i(r).mode!) : null)}
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

/** Error kinds as rows, runs as columns ("count (percent)"): stays narrow however many kinds there are. */
export function errorKindsTable(runs: RunData[], rows: Record<string, unknown>[]): string {
  const kinds = (ERROR_KINDS as readonly string[]).filter((k) => rows.some((r) => r.error_kind === k));
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
export function comparablePairs(runs: RunData[]): [RunData, RunData][] {
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
