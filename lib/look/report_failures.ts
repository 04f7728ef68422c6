/**
 * The report's failing questions: per run, each question that is not correct with its verdict kind, error,
 * predicted and gold SQL and their result samples, and for an agent run the trajectory of queries it made.
 *
 * @module
 */
import type { DisplayValue, ResultRecord, ResultShape, TrajectoryStep } from "../types.ts";
import { pyDisplayText } from "../util/mod.ts";
import { errorTaxonomy } from "./error_taxonomy.ts";
import { escapeHtml } from "./html.ts";
import type { RunData } from "./run_data.ts";
import { cell } from "./report_tables.ts";

function valueText(v: DisplayValue): string {
  if (v === null) return "NULL";
  if (typeof v === "object") {
    if ("int" in v) return v.int;
    if ("real" in v) return v.real;
    if ("py" in v) return pyDisplayText(v.py);
    return `x'${v.blob.length > 32 ? v.blob.slice(0, 32) + "…" : v.blob}'`;
  }
  // TEXT that reads as a number is quoted: '1' and 1 differ for BIRD's comparison and must look different.
  if (typeof v === "string" && /^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(v)) return `'${v}'`;
  return String(v);
}

/** `1 row`, `2 rows`: a count with its word, plural when it is not one. */
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
  const kind = errorTaxonomy(r);
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
${r.trajectory ? trajectoryHtml(r) : ""}
</details>`;
}

/** What one tool call returned, in a few words: rows and columns, or the error text. */
function stepOutcome(step: TrajectoryStep): string {
  if (!step.ok) return `error: ${step.error}`;
  return `${plural(step.row_count, "row")}, ${plural(step.columns.length, "column")}` +
    (step.columns.length ? ` (${step.columns.join(", ")})` : "");
}

/**
 * An agent question's trajectory: each query it ran through `execute_sql`, by turn, with what came back, and how
 * the loop ended (its own answer, or cut at the turn limit and answered with its last query).
 */
export function trajectoryHtml(r: Pick<ResultRecord, "trajectory" | "turns" | "stop">): string {
  const steps = r.trajectory ?? [];
  const ending = r.stop === "max_turns"
    ? "cut at the turn limit: the answer is the last query executed"
    : r.stop === "question_timeout"
    ? "cut by the question's time budget: the answer is the last query executed"
    : "ended with its own answer";
  const rows = steps.map((step) =>
    `<tr>${cell(step.turn)}<td><pre>${step.sql === null ? "(no query)" : escapeHtml(step.sql)}</pre></td>${
      cell(stepOutcome(step))
    }${cell(step.ms)}</tr>`
  ).join("\n");
  return `<div class="trajectory"><h4>Agent trajectory</h4><p class="muted">${
    plural(steps.length, "tool call")
  } in ${plural(r.turns ?? 0, "turn")}, ${ending}.</p>${
    steps.length
      ? `<table class="trajectory"><thead><tr><th>turn</th><th>query</th><th>returned</th><th>ms</th></tr></thead>
<tbody>${rows}</tbody></table>`
      : ""
  }</div>`;
}

/** One run's failing questions, in question order, at most `max` listed (the rest counted). */
export function failuresSection(run: RunData, max: number): string {
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
