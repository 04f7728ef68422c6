/** `06`'s modes cell: `showModes` over real single, voting and agent runs, and over runs of one mode only. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { showModes } from "../../lib/notebook/analysis_steps.ts";
import { type MediaBundle, setDisplayBackend } from "../../lib/notebook/display.ts";
import { makeModeRuns } from "../support/mode_runs.ts";

const root = await Deno.makeTempDir({ prefix: "t2s-nb-modes-" });
const runs = await makeModeRuns(root);
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));

/** Runs `fn` with a recording display backend and console.log captured. */
async function recorded<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; shown: MediaBundle[]; lines: string[] }> {
  const shown: MediaBundle[] = [], lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.map(String).join(" "));
  setDisplayBackend({ display: (obj) => Promise.resolve(void shown.push(obj as MediaBundle)) });
  try {
    return { result: await fn(), shown, lines };
  } finally {
    setDisplayBackend(undefined);
    console.log = log;
  }
}

Deno.test("showModes: voting table and chart, accuracy by turns, the modes compared with the single run", async () => {
  const { result, shown, lines } = await recorded(() => showModes([runs.single, runs.voting, runs.agent]));
  assertEquals(result, { voting: ["maj3"], agent: ["agent"], compared: [["single", "maj3", "agent"]] });
  const html = shown.map((b) => b["text/html"]);
  assertEquals(html.length, 4, "voting table, voting chart, turns table, comparisons table");
  assert(html[0].includes("<th>majority</th>") && html[1].includes('data-chart="voting"'));
  assert(html[2].includes("<th>turns</th>"));
  assert(html[3].includes("voting over 3 samples") && html[3].includes("agent (at most 8 turns"));
  assert(
    lines.some((l) => /^fake-model: each mode against single answer \(run single\)$/.test(l)),
    lines.join("\n"),
  );
});

Deno.test("showModes: one line and nothing shown when no run voted or ran the agent", async () => {
  const { result, shown, lines } = await recorded(() => showModes([runs.single]));
  assertEquals(result, { voting: [], agent: [], compared: [] });
  assertEquals(shown.length, 0);
  assertEquals(lines, [
    'no voting or agent run: set MODE = "voting 8" or "agent" in 02 and rerun it to compare modes',
  ]);
});
