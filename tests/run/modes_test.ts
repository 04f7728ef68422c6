/**
 * The modes as values: flags to mode, the resume guard between modes, the voting step over raw completions
 * (extraction, one execution per distinct SQL, gold-free vote) and an agent run's record fields.
 */
import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  throws as assertThrows,
} from "node:assert/strict";
import { runAgent } from "../../lib/run/agent.ts";
import { agentRecord, modeMismatch, resolveMode, voteOnCompletions } from "../../lib/run/modes.ts";
import type { CandidateOutcome } from "../../lib/run/voting.ts";

Deno.test("flags to mode: single, voting with its temperature warning, agent with its turn limit", () => {
  assertEquals(resolveMode({}), { mode: { name: "single" }, warnings: [] });
  assertEquals(resolveMode({ n: 8, temperature: 0.8 }), { mode: { name: "voting", n: 8 }, warnings: [] });
  const cold = resolveMode({ n: 8 });
  assertEquals(cold.mode, { name: "voting", n: 8 });
  assertMatch(cold.warnings[0], /8 identical samples/);
  assertEquals(resolveMode({ agent: true }).mode, { name: "agent", max_turns: 8, tool_rows: 20 });
  assertEquals(resolveMode({ agent: true, maxTurns: 3 }).mode, {
    name: "agent",
    max_turns: 3,
    tool_rows: 20,
  });
  assertThrows(() => resolveMode({ agent: true, n: 4 }), /separate modes/);
  assertThrows(() => resolveMode({ maxTurns: 3 }), /--max-turns needs --agent/);
  assertThrows(() => resolveMode({ agent: true, maxTurns: 0 }), /--max-turns must be a positive integer/);
  assertThrows(() => resolveMode({ n: 2.5 }), /--n must be a positive integer/);
});

Deno.test("a folder of one mode is never resumed in another; folders from before modes are single-answer", () => {
  const voting = resolveMode({ n: 5, temperature: 1 }).mode;
  const agent = resolveMode({ agent: true }).mode;
  assertEquals(modeMismatch(voting, voting), null);
  assertEquals(modeMismatch(undefined, { name: "single" }), null);
  assertMatch(
    modeMismatch(undefined, voting)!,
    /mode single answer, this run is voting over 5 samples: give another --out/,
  );
  assertMatch(
    modeMismatch(voting, resolveMode({ n: 8, temperature: 1 }).mode)!,
    /voting over 5 .* voting over 8/,
  );
  assertMatch(modeMismatch(agent, voting)!, /agent \(at most 8 turns, 20 rows per result\)/);
  assertMatch(modeMismatch(agent, resolveMode({ agent: true, maxTurns: 4 }).mode)!, /at most 4 turns/);
});

Deno.test("voting over raw completions: SQL extracted, identical texts executed once, the vote's answer", async () => {
  const executed: string[] = [];
  const execute = (sql: string): Promise<CandidateOutcome> => {
    executed.push(sql);
    if (sql.includes("nope")) return Promise.resolve({ ok: false, error: "no such column: nope" });
    return Promise.resolve({ ok: true, digest: sql.includes("201") ? "tall" : "other" });
  };
  const completions = [
    "SELECT nope FROM superhero",
    "```sql\nSELECT a FROM t WHERE h > 200\n```",
    "Here it is:\n\n```sql\nSELECT a FROM t WHERE h >= 201;\n```",
    "SELECT a FROM t WHERE h >= 201",
    "SELECT a FROM t WHERE h >= 201",
  ];
  const { sql, completion, fields } = await voteOnCompletions(completions, execute);
  assertEquals(sql, "SELECT a FROM t WHERE h >= 201");
  assertEquals(completion, completions[2]);
  assertEquals(fields.answer_sample, 2);
  assertEquals(fields.executions, 3);
  assertEquals(executed.length, 3);
  assertEquals(fields.completions, completions);
  assertEquals(fields.candidates.map((c) => [c.status, c.group_size]), [
    ["error", 0],
    ["outvoted", 1],
    ["answer", 3],
    ["agrees", 3],
    ["agrees", 3],
  ]);
});

Deno.test("an agent run's record fields: answer, summed tokens and generation time, trajectory, stop", async () => {
  let turn = 0;
  const run = await runAgent([{ role: "system", content: "s" }, { role: "user", content: "u" }], {
    chat: () => {
      turn++;
      const message = turn === 1
        ? {
          content: null,
          tool_calls: [{
            id: "c",
            type: "function" as const,
            function: { name: "execute_sql", arguments: '{"query":"SELECT 1"}' },
          }],
        }
        : { content: "```sql\nSELECT 1\n```", tool_calls: [] };
      return Promise.resolve({ message, usage: { prompt: 50, completion: 5 }, cached: false, ms: 10 + turn });
    },
    execute: () => Promise.resolve({ ok: true, columns: ["1"], rows: [[1]], rowCount: 1, ms: 2 }),
  });
  const record = agentRecord(run);
  assertEquals(record, {
    sql: "SELECT 1",
    completion: "```sql\nSELECT 1\n```",
    tokens: { prompt: 100, completion: 10 },
    generation_ms: 23,
    cached: false,
    fields: {
      trajectory: [{ turn: 1, sql: "SELECT 1", ms: 2, ok: true, row_count: 1, columns: ["1"], rows: [[1]] }],
      turns: 2,
      stop: "answer",
    },
  });
});
