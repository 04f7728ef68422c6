/**
 * `06`'s step for the inference modes: for the runs it compares, each voting run's first / majority / any per
 * difficulty (table and chart), each agent run's accuracy by turns, and the modes of one model compared with
 * its single-answer run by the paired test. The same views as the report's "Inference modes" section.
 *
 * @module
 */
import {
  accuracyByTurns,
  compareModes,
  comparisonRows,
  describeModeOf,
  modeGroups,
  readRuns,
  type RunData,
  usesMode,
  votingChart,
  votingTable,
} from "../look/mod.ts";
import { showChart, showTable } from "./display.ts";
import type { NotebookParams } from "./params.ts";
import { notebookRuns, notebookRunsDir } from "./selection.ts";
import { notebookStep, NotebookStop } from "./stop.ts";

/**
 * The runs `06` compares: every finished run of `02` under `RUNS_DIR` (see {@linkcode notebookRuns}).
 *
 * @param params Notebook parameters (`runsDir`).
 * @returns Run folders, the bundled baseline first.
 * @throws {NotebookStop} When there is none: one line saying to run `02` or to set `RUNS_DIR`.
 */
export function runsToCompare(params: Pick<NotebookParams, "runsDir">): Promise<string[]> {
  return notebookStep(async () => {
    const dirs = await notebookRuns(params.runsDir);
    if (dirs.length === 0) {
      throw new NotebookStop(
        `no finished run under ${
          notebookRunsDir(params.runsDir)
        }: run 02_evaluate.ipynb first, or set RUNS_DIR ` +
          "in the Parameters cell to the folder that holds its runs",
      );
    }
    return dirs;
  });
}

/** What {@linkcode showModes} showed, for a notebook's last line and for tests. */
export interface ModesShown {
  /** Voting runs shown, by run id. */
  voting: string[];
  /** Agent runs shown, by run id. */
  agent: string[];
  /** Groups of one model's modes compared (each: the baseline's run id first). */
  compared: string[][];
}

/** One voting run: its figures as a table, then as grouped bars. */
async function showVoting(run: RunData): Promise<void> {
  const rows = votingTable(run.summary!);
  console.log(`${run.label} (${run.id}, ${describeModeOf(run)}): first sample, majority vote, any candidate`);
  await showTable(rows as unknown as Record<string, unknown>[]);
  await showChart(votingChart(rows, { title: `Self-consistency — ${run.label}` }));
}

/** One agent run: accuracy by the turns each question used. */
async function showTurns(run: RunData): Promise<void> {
  console.log(`${run.label} (${run.id}, ${describeModeOf(run)}): accuracy by turns used`);
  await showTable(accuracyByTurns(run.records) as unknown as Record<string, unknown>[]);
}

/**
 * Shows the modes views for run folders, or one line saying there is none (no run voted or ran the agent).
 *
 * @param dirs run folders, e.g. from `notebookRuns`
 * @returns which runs and groups were shown
 */
export async function showModes(dirs: string[]): Promise<ModesShown> {
  const runs = readRuns(dirs);
  const shown: ModesShown = { voting: [], agent: [], compared: [] };
  if (!runs.some(usesMode)) {
    console.log(
      'no voting or agent run: set MODE = "voting 8" or "agent" in 02 and rerun it to compare modes',
    );
    return shown;
  }
  for (const run of runs.filter((r) => r.summary?.voting)) {
    await showVoting(run);
    shown.voting.push(run.id);
  }
  for (const run of runs.filter((r) => r.records.some((x) => typeof x.turns === "number"))) {
    await showTurns(run);
    shown.agent.push(run.id);
  }
  for (const group of modeGroups(runs)) {
    console.log(
      `${group[0].info.model ?? group[0].label}: each mode against ${describeModeOf(group[0])} (run ${
        group[0].id
      })`,
    );
    await showTable(comparisonRows(compareModes(group)));
    shown.compared.push(group.map((r) => r.id));
  }
  return shown;
}
