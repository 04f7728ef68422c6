/**
 * The report's "Inference modes" section over real voting and agent runs (made by `runEvaluation` against the
 * scripted server): voting figures and chart, accuracy by turns, the modes compared, agent trajectories.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { buildReport } from "../../lib/look/report.ts";
import { readRuns } from "../../lib/look/run_data.ts";
import { modeGroups } from "../../lib/look/report_modes.ts";
import { FAILING_QUERY, makeModeRuns } from "../support/mode_runs.ts";

const root = await Deno.makeTempDir({ prefix: "t2s-report-modes-" });
const runs = await makeModeRuns(root);
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

/** The HTML of one section of a report, from its opening tag to its end. */
function section(html: string, id: string): string {
  const start = html.indexOf(`<section id="${id}">`);
  assert(start >= 0, `no section ${id}`);
  return html.slice(start, html.indexOf("</section>", start));
}

Deno.test("the runs are what the scripts made: single 50%, voting 75% (oracle 100%), agent 75%", () => {
  const [single, voting, agent] = readRuns([runs.single, runs.voting, runs.agent]);
  assertEquals(single.summary!.accuracy, 50);
  assertEquals(
    [voting.summary!.voting!.first, voting.summary!.voting!.majority, voting.summary!.voting!.any],
    [75, 75, 100],
  );
  assertEquals(agent.summary!.accuracy, 75);
  assert(agent.records.every((r) => r.turns === 3 && r.trajectory![0].sql === FAILING_QUERY));
});

Deno.test("report: a voting and an agent run get the Inference modes section, compared with the single run", async () => {
  const html = await buildReport([runs.single, runs.voting, runs.agent]);
  assert(html.includes('<a href="#modes">Inference modes</a>'));
  const modes = section(html, "modes");
  // Voting: the three figures per difficulty, and their chart.
  assert(modes.includes('data-chart="voting"'));
  for (const column of ["difficulty", "first", "majority", "any"]) {
    assert(modes.includes(`<th>${column}</th>`));
  }
  assert(modes.includes("voting over 3 samples"));
  // Agent: accuracy by turns used (every question took three model calls).
  assert(modes.includes("<th>turns</th>") && modes.includes("<th>cut</th>"));
  // The modes of fake-model, each against its single-answer run.
  assert(modes.includes("fake-model: each mode against single answer (run single)"));
  assert(modes.includes("<td>single answer</td><td>voting over 3 samples</td>"));
  assert(modes.includes("<td>single answer</td><td>agent (at most 8 turns, 20 rows per result)</td>"));
  assert(modes.includes("<th>McNemar p</th>"));
  // The leaderboard and the run metadata name each run's mode.
  const board = section(html, "leaderboard");
  for (const mode of ["<td>single</td>", "<td>maj@3</td>", "<td>agent 8</td>"]) {
    assert(board.includes(mode), mode);
  }
  assert(board.includes("<tr><th>mode</th><td>voting over 3 samples</td></tr>"));
  // The failing agent question shows its trajectory: the failing query, its error, the corrected one.
  const failures = section(html, "failures");
  assertEquals(failures.split("Agent trajectory").length - 1, 1, "one failing agent question");
  assert(failures.includes(FAILING_QUERY) && failures.includes("no such column"));
  assert(failures.includes("2 tool calls in 3 turns, ended with its own answer"));
});

Deno.test("report: no Inference modes section when no run voted or ran the agent", async () => {
  const html = await buildReport([runs.single]);
  assert(!html.includes('<section id="modes">'));
  assert(!html.includes("Agent trajectory"));
  assert(section(html, "leaderboard").includes("<tr><th>mode</th><td>single answer</td></tr>"));
});

Deno.test("modeGroups: the single-answer run is the baseline, whatever the order given", () => {
  const groups = modeGroups(readRuns([runs.agent, runs.single, runs.voting]));
  assertEquals(groups.map((g) => g.map((r) => r.id)), [["single", "agent", "maj3"]]);
});
