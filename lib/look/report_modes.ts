/**
 * The report's section on inference modes, present only when some run voted (`summary.voting`) or ran the
 * agent (records with `turns`): each voting run's first / majority / any per difficulty as a table and a chart,
 * each agent run's accuracy by turns used, and the modes of one model compared with its single-answer run by
 * the paired test. The trajectories of failing agent questions are listed with the failing questions.
 *
 * @module
 */
import { votingChart } from "./charts.ts";
import { escapeHtml, tableHtml } from "./html.ts";
import {
  accuracyByTurns,
  compareModes,
  describeModeOf,
  type ModeComparison,
  modeOf,
  votingTable,
} from "./mode_analysis.ts";
import type { RunData } from "./run_data.ts";
import { fmtP } from "./report_tables.ts";

/**
 * Whether a run used an inference mode beyond one answer per question: voting figures in its summary, or
 * records that counted agent turns.
 *
 * @param run a run as read from disk
 */
export function usesMode(run: RunData): boolean {
  return Boolean(run.summary?.voting) || run.records.some((r) => typeof r.turns === "number");
}

/** A run's heading in this section: its label, id and mode in words. */
function runHeading(run: RunData): string {
  return `<h3>${escapeHtml(run.label)} <span class="muted">(${escapeHtml(run.id)} · ${
    escapeHtml(describeModeOf(run))
  })</span></h3>`;
}

/** A voting run's three figures per difficulty, as a table and grouped bars. */
function votingHtml(run: RunData): string {
  const rows = votingTable(run.summary!);
  return `${runHeading(run)}
<p class="muted">first: the first sample alone; majority: the voted answer (scored as the run's accuracy); any: some
candidate was right (the oracle, the most a better vote could reach).</p>
${tableHtml(rows as unknown as Record<string, unknown>[])}
${votingChart(rows, { title: `Self-consistency — ${run.label}` })}`;
}

/** An agent run's accuracy by the number of turns each question used. */
function turnsHtml(run: RunData): string {
  const rows = accuracyByTurns(run.records);
  return `${runHeading(run)}
<p class="muted">Accuracy by the model calls each question used; <i>cut</i> counts questions stopped at the turn limit
and answered with their last query.</p>
${tableHtml(rows as unknown as Record<string, unknown>[])}`;
}

/**
 * Groups of runs of one model over one dataset, with at least one mode run, the baseline first: the single-answer
 * run when there is one, else the first given. Others that share no question with the baseline are left out.
 * Each group is what {@linkcode compareModes} takes.
 *
 * @param runs runs with unique ids (as `readRuns` makes them)
 */
export function modeGroups(runs: RunData[]): RunData[][] {
  const groups = new Map<string, RunData[]>();
  for (const run of runs) {
    const key = JSON.stringify([run.info.model ?? run.label, run.info.dataset?.sha256 ?? null]);
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  return [...groups.values()].flatMap((group) => {
    if (group.length < 2 || !group.some(usesMode)) return [];
    const base = group.find((r) => modeOf(r).name === "single") ?? group[0];
    const indices = new Set(base.records.map((r) => r.index));
    const others = group.filter((r) => r !== base && r.records.some((x) => indices.has(x.index)));
    return others.length ? [[base, ...others]] : [];
  });
}

/**
 * Mode comparisons as table rows: modes, accuracies, the difference with its CI, McNemar p, the verdict.
 *
 * @param comparisons from {@linkcode compareModes}
 */
export function comparisonRows(comparisons: ModeComparison[]): Record<string, unknown>[] {
  return comparisons.map((t) => ({
    "mode A": t.modeA,
    "mode B": t.modeB,
    questions: t.n,
    "A (%)": t.accuracyA,
    "B (%)": t.accuracyB,
    "A − B (points)": t.diff,
    [`${Math.round(t.confidence * 100)}% CI`]: `[${t.ciLow.toFixed(2)}, ${t.ciHigh.toFixed(2)}]`,
    "McNemar p": fmtP(t.mcnemarP),
    significant: t.significant ? "yes" : "no",
  }));
}

/** The modes of one model side by side: greedy vs maj@K vs agent, by the paired test. */
function comparisonsHtml(groups: RunData[][]): string {
  return groups.map(([base, ...others]) => {
    const title = `${base.info.model ?? base.label}: each mode against ${
      describeModeOf(base)
    } (run ${base.id})`;
    return `<h3>${escapeHtml(title)}</h3>\n${tableHtml(comparisonRows(compareModes([base, ...others])))}`;
  }).join("\n");
}

/**
 * The body of the report's "Inference modes" section, or null when no run voted or ran the agent.
 *
 * @param runs the report's runs (ids unique, as `readRuns` makes them)
 * @returns HTML, everything taken from a run escaped
 */
export function modesSectionHtml(runs: RunData[]): string | null {
  if (!runs.some(usesMode)) return null;
  const groups = modeGroups(runs);
  const parts = [
    ...runs.filter((r) => r.summary?.voting).map(votingHtml),
    ...runs.filter((r) => r.records.some((x) => typeof x.turns === "number")).map(turnsHtml),
    groups.length ? comparisonsHtml(groups) : "",
  ];
  return parts.filter(Boolean).join("\n");
}
