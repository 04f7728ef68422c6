/**
 * Time bounds: a hung endpoint fails a request within the request timeout plus the retry budget (the defaults
 * add up to well under two minutes, so the default eight questions in flight fail together and the run stops
 * within ~2 minutes), and an agent question gets one wall-clock budget for all its turns and tool calls
 * (`--question-timeout`), stated in its record when it fires.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { GenerationError, ModelClient } from "../../lib/model/mod.ts";
import { fullConfig } from "../../lib/model/providers.ts";
import { runAgent } from "../../lib/run/agent.ts";
import { runEvaluation, SAMPLE_DIR } from "../../lib/run/evaluate.ts";
import { startFakeOpenAI } from "../support/fake_openai_server.ts";

const FAST = { backoffBaseMs: 5, backoffMaxMs: 20, env: () => undefined };
/** A query that never ends on its own (the pool's `--timeout` stops it). */
const FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

Deno.test("the default timeout and retry budget bound a hung request to under two minutes", () => {
  const full = fullConfig({ model: "m" });
  // The last attempt starts before the budget runs out and lasts at most one timeout (backoff is ≤ 1–2 s).
  assert(full.retryBudgetS + full.requestTimeoutS <= 110, JSON.stringify(full));
  assert(full.requestTimeoutS >= 30, "a real model needs time to answer");
});

Deno.test("a hung endpoint: no retry starts past the retry budget, the reason says so", async () => {
  const server = await startFakeOpenAI({ script: () => ({ hang: true }) });
  try {
    const client = await ModelClient.create(
      { baseUrl: server.url, model: "fake-model", cache: false, requestTimeoutS: 0.2, retryBudgetS: 0.3 },
      FAST,
    );
    const error = await client.complete([{ role: "user", content: "q" }]).then(
      () => null,
      (e) => e as GenerationError,
    );
    assert(error instanceof GenerationError, String(error));
    // 6 retries were allowed; the budget stopped it after the second attempt.
    assertEquals(error.attempts, 2);
    assert(/retry budget 0\.3 s/.test(error.message), error.message);
    assertEquals(server.requests.filter((r) => r.path.endsWith("/chat/completions")).length, 2);
  } finally {
    await server.close();
  }
});

Deno.test("runAgent: the question budget cuts a model call that never answers and 50 tool calls that never end", async () => {
  const never = new Promise<never>(() => {});
  const hungChat = await runAgent([{ role: "user", content: "q" }], {
    chat: () => never,
    execute: () => never,
  }, { questionTimeoutS: 0.1 });
  assertEquals([hungChat.stop, hungChat.sql, hungChat.questionTimeoutS], ["question_timeout", "", 0.1]);
  let executed = 0;
  const calls = Array.from({ length: 50 }, (_, i) => ({
    id: `c${i}`,
    type: "function" as const,
    function: { name: "execute_sql", arguments: JSON.stringify({ query: `SELECT ${i}` }) },
  }));
  const run = await runAgent([{ role: "user", content: "q" }], {
    chat: () =>
      Promise.resolve({
        message: { content: null, tool_calls: calls },
        usage: { prompt: 1, completion: 1 },
        cached: false,
        ms: 1,
      }),
    execute: (sql) => {
      executed++;
      // The first query answers; every later one hangs.
      return sql === "SELECT 0"
        ? Promise.resolve({ ok: true, columns: ["x"], rows: [[0]], rowCount: 1 })
        : never;
    },
  }, { questionTimeoutS: 0.2 });
  assertEquals(run.stop, "question_timeout");
  assertEquals(run.sql, "SELECT 0");
  assertEquals(executed, 2);
});

Deno.test("agent run: --question-timeout fires on never-ending tool calls and the record says so", async () => {
  const server = await startFakeOpenAI({
    script: (req) => {
      const probe = req.messages.some((m) =>
        String(m.content).includes("Call execute_sql with the query SELECT 1")
      );
      if (probe) return { toolCalls: [{ name: "execute_sql", arguments: { query: "SELECT 1" } }] };
      return { toolCalls: [{ name: "execute_sql", arguments: { query: FOREVER } }] };
    },
  });
  try {
    const out = join(await Deno.makeTempDir({ prefix: "t2s-budget-" }), "run");
    const res = await runEvaluation({
      dataset: join(SAMPLE_DIR, "dev.json"),
      db: ["superhero"],
      limit: 2,
      agent: true,
      model: "fake-model",
      baseUrl: server.url,
      silent: true,
      timeoutS: 2,
      questionTimeoutS: 0.5,
      out,
      cacheDir: await Deno.makeTempDir({ prefix: "t2s-budget-cache-" }),
      goldCacheDir: await Deno.makeTempDir({ prefix: "t2s-budget-gold-" }),
      clientOptions: FAST,
    });
    for (const r of res.records) {
      assertEquals(
        [r.stop, r.question_timeout_s],
        ["question_timeout", 0.5],
        JSON.stringify(r).slice(0, 300),
      );
    }
    const lines = (await Deno.readTextFile(join(out, "results.jsonl"))).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert(lines.every((l) => l.stop === "question_timeout" && l.question_timeout_s === 0.5));
  } finally {
    await server.close();
  }
});
