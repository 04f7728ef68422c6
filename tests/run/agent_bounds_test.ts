/**
 * Agent tool calls, bounded and faithful: arguments that are not JSON are kept as the raw text the model sent
 * (not lost as `sql: null` alone); a 10 MB query is capped in the trajectory and in what is sent back to the
 * model (its call and the tool result naming a 10 MB column), while the answer at the turn limit stays whole.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { runAgent, TOOL_TEXT_CAP } from "../../lib/run/agent.ts";
import type { ToolCall, WireMessage } from "../../lib/model/mod.ts";

const turn = (calls: ToolCall[]) =>
  Promise.resolve({
    message: { content: null, tool_calls: calls },
    usage: { prompt: 1, completion: 1 },
    cached: false,
    ms: 1,
  });
const call = (args: string, id = "c1"): ToolCall => ({
  id,
  type: "function",
  function: { name: "execute_sql", arguments: args },
});

Deno.test("tool arguments that are not JSON are recorded as the raw text", async () => {
  const run = await runAgent([{ role: "user", content: "q" }], {
    chat: () => turn([call("SELECT name FROM superhero")]),
    execute: () => Promise.reject(new Error("never executed")),
  }, { maxTurns: 1 });
  const step = run.trajectory[0];
  assertEquals([step.sql, step.arguments, step.ok], [null, "SELECT name FROM superhero", false]);
});

Deno.test("a 10 MB query is capped in the record and in the next request; the answer stays whole", async () => {
  const huge = `SELECT 1 AS "${"x".repeat(10 * 1024 ** 2)}"`;
  const sent: WireMessage[][] = [];
  const run = await runAgent([{ role: "user", content: "q" }], {
    chat: (req) => {
      sent.push(structuredClone(req.messages));
      return turn([call(JSON.stringify({ query: huge }), `c${sent.length}`)]);
    },
    // The result names the 10 MB column, as SQLite does.
    execute: (sql) => Promise.resolve({ ok: true, columns: [sql.slice(12, -1)], rows: [[1]], rowCount: 1 }),
  }, { maxTurns: 2 });
  assertEquals(run.stop, "max_turns");
  assertEquals(run.sql, huge);
  for (const step of run.trajectory) {
    assert((step.sql ?? "").length < TOOL_TEXT_CAP + 100, "record not capped");
  }
  const second = JSON.stringify(sent[1]);
  assert(second.length < 4 * TOOL_TEXT_CAP, `next request is ${second.length} characters`);
  assert(/\[cut: \d+ characters, 16384 kept\]/.test(second), "the cut is not stated");
});
