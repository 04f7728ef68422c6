/** The mode analysis tables: accuracy by turns, voting per difficulty, modes of one model compared pairwise. */
import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import type { RunData } from "../../lib/look/run_data.ts";
import { accuracyByTurns, compareModes, votingTable } from "../../lib/look/mode_analysis.ts";
import type { ResultRecord, RunInfo, RunMode, Status, Summary } from "../../lib/types.ts";

function record(index: number, status: Status, extra: Partial<ResultRecord> = {}): ResultRecord {
  return {
    index,
    question_id: index,
    db_id: "superhero",
    difficulty: "simple",
    question: `q${index}`,
    evidence: "",
    prompt_hash: null,
    completion: null,
    sql: "SELECT 1",
    gold_sql: "SELECT 1",
    status,
    error: null,
    pred: null,
    gold: null,
    soft_f1: status === "correct" ? 1 : 0,
    ves_reward: null,
    timings: { generation_ms: null, pred_ms: null, gold_ms: null },
    tokens: null,
    ...extra,
  };
}

function runOf(id: string, mode: RunMode, correct: (i: number) => boolean, model = "m"): RunData {
  return {
    dir: `/runs/${id}`,
    id,
    label: model,
    info: { model, dataset: { path: "dev.json", sha256: "abc", count: 10 }, mode } as unknown as RunInfo,
    records: Array.from({ length: 10 }, (_, i) => record(i, correct(i) ? "correct" : "wrong")),
    summary: null,
    torn: false,
  };
}

Deno.test("accuracy by turns used: ascending turns, cut questions counted, other records left out", () => {
  const rows = accuracyByTurns([
    record(0, "correct", { turns: 3, stop: "answer" }),
    record(1, "wrong", { turns: 3, stop: "answer" }),
    record(2, "correct", { turns: 1, stop: "answer" }),
    record(3, "wrong", { turns: 8, stop: "max_turns" }),
    record(4, "generation_error"),
  ]);
  assertEquals(rows, [
    { turns: 1, total: 1, correct: 1, accuracy: 100, cut: 0 },
    { turns: 3, total: 2, correct: 1, accuracy: 50, cut: 0 },
    { turns: 8, total: 1, correct: 0, accuracy: 0, cut: 1 },
  ]);
});

Deno.test("voting table: first / majority / any per difficulty, then the total; refuses a non-voting run", () => {
  const summary = {
    total: 4,
    voting: {
      n: 5,
      majority: 50,
      first: 50,
      any: 75,
      by_difficulty: {
        simple: { total: 3, majority: 33.33, first: 33.33, any: 66.67 },
        moderate: { total: 1, majority: 100, first: 100, any: 100 },
      },
    },
  } as unknown as Summary;
  assertEquals(votingTable(summary), [
    { difficulty: "simple", total: 3, first: 33.33, majority: 33.33, any: 66.67 },
    { difficulty: "moderate", total: 1, first: 100, majority: 100, any: 100 },
    { difficulty: "total", total: 4, first: 50, majority: 50, any: 75 },
  ]);
  throws(() => votingTable({ total: 4 } as unknown as Summary), /no voting figures/);
});

Deno.test("modes of one model against the first: the paired test's discordant counts and exact p", () => {
  const greedy = runOf("greedy", { name: "single" }, (i) => i < 5);
  const maj = runOf("maj5", { name: "voting", n: 5 }, (i) => i < 8);
  const agent = runOf("agent", { name: "agent", max_turns: 8, tool_rows: 20 }, (i) => i >= 2);
  const [a, b] = compareModes([greedy, maj, agent], { resamples: 500 });
  assertEquals([a.modeA, a.modeB, a.onlyA, a.onlyB, a.diff, a.mcnemarP], [
    "single answer",
    "voting over 5 samples",
    0,
    3,
    -30,
    0.25,
  ]);
  assertEquals([b.modeB, b.onlyA, b.onlyB, b.bothCorrect, b.neither], [
    "agent (at most 8 turns, 20 rows per result)",
    2,
    5,
    3,
    0,
  ]);
  throws(() => compareModes([greedy, runOf("x", { name: "single" }, () => true, "other")]), /one model/);
  throws(() => compareModes([greedy]), /at least one other/);
});
