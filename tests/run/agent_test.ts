/**
 * The agent mode: the loop with a scripted chat and the real sandboxed pool on the bundled superhero database
 * (a failing query, a corrected one, a final answer; the max-turns cut; hostile SQL refused with the database
 * byte-identical), the tool result text, the agent prompt's hash, and a real OpenAI-client round trip with
 * tools against the scripted HTTP server (cached per turn, replayed with zero requests, tools-unsupported
 * endpoints told apart).
 */
import { deepStrictEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import OpenAI from "openai";
import { DEFAULT_MAX_TURNS, poolExecutor, runAgent } from "../../lib/run/agent.ts";
import {
  agentTemplateHash,
  buildAgentMessages,
  EXECUTE_SQL_TOOL,
  formatToolResult,
} from "../../lib/prompt/agent_prompt.ts";
import { CompletionCache } from "../../lib/model/cache.ts";
import { sha256Hex } from "../../lib/util/hash.ts";
import {
  type ChatTurn,
  createToolChat,
  openAIBackend,
  probeTools,
  type ToolChat,
  ToolsUnsupportedError,
  type WireMessage,
} from "../../lib/model/mod.ts";
import { renderUserPrompt, templateHash } from "../../lib/prompt/prompts.ts";
import { SqlitePool } from "../../lib/exec/sqlite_pool.ts";
import { type Script, sqlToolCall, startFakeOpenAI } from "../support/fake_openai_server.ts";

const SAMPLE_DB = "data/sample/dev_databases/superhero/superhero.sqlite";
const QUESTION = {
  question: "Which heroes are taller than 250 cm?",
  evidence: "taller refers to height_cm > 250",
};
const OPENING = buildAgentMessages(
  QUESTION,
  "CREATE TABLE superhero (id INTEGER, superhero_name TEXT, height_cm INTEGER)",
);
const BAD = "SELECT name FROM superhero WHERE height_cm > 250";
const GOOD = "SELECT superhero_name FROM superhero WHERE height_cm > 250";

/** A private copy, so that a sandbox escape could not damage the bundled sample. */
async function copyDb(): Promise<{ dir: string; db: string }> {
  const dir = await Deno.makeTempDir({ prefix: "t2s-agent-" });
  const db = `${dir}/superhero.sqlite`;
  await Deno.copyFile(SAMPLE_DB, db);
  await Deno.chmod(db, 0o644);
  return { dir, db };
}

/** A chat answering from a list of scripted turns, recording the transcripts it was sent. */
function scriptedChat(turns: ChatTurn["message"][]): { chat: ToolChat; seen: WireMessage[][] } {
  const seen: WireMessage[][] = [];
  const chat: ToolChat = ({ messages, tools }) => {
    assertEquals(tools, [EXECUTE_SQL_TOOL]);
    seen.push(structuredClone(messages));
    const message = turns[Math.min(seen.length - 1, turns.length - 1)];
    return Promise.resolve({ message, usage: { prompt: 100, completion: 7 }, cached: false, ms: 5 });
  };
  return { chat, seen };
}

let callId = 0;
const call = (query: string, name = "execute_sql") => ({
  content: null,
  tool_calls: [{
    id: `call_${++callId}`,
    type: "function" as const,
    function: { name, arguments: JSON.stringify({ query }) },
  }],
});

Deno.test("a failing query, a corrected one, then the final answer: trajectory, tool messages, tokens", async () => {
  const { dir, db } = await copyDb();
  const pool = new SqlitePool({ workers: 1, timeoutS: 10, sampleRows: 20 });
  try {
    const { chat, seen } = scriptedChat([
      call(BAD),
      call(GOOD),
      { content: "The query works.\n\n```sql\n" + GOOD + ";\n```", tool_calls: [] },
    ]);
    const run = await runAgent(OPENING, { chat, execute: poolExecutor(pool, db) });
    assertEquals(run.stop, "answer");
    assertEquals(run.sql, GOOD);
    assertEquals(run.turns, 3);
    assertEquals(run.tokens, { prompt: 300, completion: 21 });
    assertEquals(run.timings.turn_ms, [5, 5, 5]);
    assertEquals(run.cached, false);
    assertEquals(run.trajectory.length, 2);
    const [first, second] = run.trajectory;
    assertEquals([first.turn, first.sql, first.ok], [1, BAD, false]);
    assert(!first.ok && /no such column: name/.test(first.error), JSON.stringify(first));
    assert(second.ok, JSON.stringify(second));
    assertEquals(second.sql, GOOD);
    assertEquals(second.columns, ["superhero_name"]);
    assertEquals(second.row_count, 21);
    assertEquals(second.rows.length, 3);
    // The model saw the error text, then the table, each answering its call by id.
    assertEquals(seen.length, 3);
    assertEquals(seen[0], OPENING);
    const toolTurn = seen[1].at(-1)!;
    assert(toolTurn.role === "tool" && toolTurn.tool_call_id === "call_1");
    assertMatch(toolTurn.content, /^error: no such column: name/);
    const table = seen[2].at(-1)!;
    assert(table.role === "tool");
    assertEquals(table.content.split("\n").slice(0, 2), [
      "21 rows; columns: superhero_name",
      "superhero_name",
    ]);
    // The first 20 rows, then a line saying so.
    assertEquals(table.content.split("\n").length, 23);
    assertEquals(table.content.split("\n").at(-1), "(first 20 of 21 rows shown)");
    assertEquals(run.transcript.length, 7);
    assertEquals(run.transcript.at(-1)?.role, "assistant");
  } finally {
    await pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("at T turns without a final answer, the last query executed is the answer and the run says so", async () => {
  const { dir, db } = await copyDb();
  const pool = new SqlitePool({ workers: 1, timeoutS: 10 });
  try {
    let n = 0;
    const chat: ToolChat = () =>
      Promise.resolve({
        message: call(`SELECT ${++n} AS turn`),
        usage: { prompt: 1, completion: 1 },
        cached: true,
        ms: 0,
      });
    const run = await runAgent(OPENING, { chat, execute: poolExecutor(pool, db) }, { maxTurns: 3 });
    assertEquals(run.stop, "max_turns");
    assertEquals(run.turns, 3);
    assertEquals(run.sql, "SELECT 3 AS turn");
    assertEquals(run.completion, null);
    assertEquals(run.trajectory.map((s) => s.sql), [
      "SELECT 1 AS turn",
      "SELECT 2 AS turn",
      "SELECT 3 AS turn",
    ]);
    assertEquals(run.cached, true);
    assertEquals(n, 3);
    // The default is 8 turns.
    n = 0;
    const long = await runAgent(OPENING, { chat, execute: poolExecutor(pool, db) });
    assertEquals([long.turns, n, DEFAULT_MAX_TURNS], [8, 8, 8]);
  } finally {
    await pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hostile SQL through the tool is refused and the database stays byte-identical", async () => {
  const { dir, db } = await copyDb();
  const before = sha256Hex(await Deno.readFile(db));
  const pool = new SqlitePool({ workers: 1, timeoutS: 5 });
  try {
    const hostile = [
      "DROP TABLE superhero",
      `ATTACH DATABASE '${dir}/pwn.db' AS pwn`,
      "PRAGMA writable_schema=1",
      "DELETE FROM superhero",
      "SELECT 1; DROP TABLE superhero",
    ];
    const { chat, seen } = scriptedChat([
      ...hostile.map((q) => call(q)),
      { content: "```sql\nSELECT COUNT(*) FROM superhero\n```", tool_calls: [] },
    ]);
    const run = await runAgent(OPENING, { chat, execute: poolExecutor(pool, db) });
    assertEquals(run.stop, "answer");
    assertEquals(run.trajectory.map((s) => [s.sql, s.ok]), hostile.map((q) => [q, false]));
    for (const transcript of seen.slice(1)) {
      const last = transcript.at(-1)!;
      assert(last.role === "tool" && last.content.startsWith("error: "), JSON.stringify(last));
    }
    assertEquals(sha256Hex(await Deno.readFile(db)), before);
    // Nothing was created beside it either.
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["superhero.sqlite"]);
    const count = await pool.execute(db, "SELECT COUNT(*) FROM superhero");
    assert(count.ok && count.rows[0][0] === "n750");
  } finally {
    await pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unknown tools and unusable arguments are answered with an error; a text tool call is a setup error", async () => {
  const execute = () => Promise.reject(new Error("must not execute"));
  const { chat, seen } = scriptedChat([
    call("SELECT 1", "run_python"),
    {
      content: null,
      tool_calls: [{ id: "x", type: "function", function: { name: "execute_sql", arguments: "{oops" } }],
    },
    { content: "SELECT 1", tool_calls: [] },
  ]);
  const run = await runAgent(OPENING, { chat, execute });
  assertEquals(run.trajectory.map((s) => [s.sql, s.ok]), [[null, false], [null, false]]);
  assertMatch((seen[1].at(-1) as { content: string }).content, /unknown tool "run_python"/);
  assertMatch((seen[2].at(-1) as { content: string }).content, /takes a JSON object \{"query"/);
  assertEquals(run.sql, "SELECT 1");

  const text = scriptedChat([{
    content: '{"name": "execute_sql", "parameters": {"query": "SELECT 1"}}',
    tool_calls: [],
  }]);
  let error: unknown = null;
  try {
    await runAgent(OPENING, { chat: text.chat, execute }, { where: "http://127.0.0.1:1/v1" });
  } catch (e) {
    error = e;
  }
  assert(error instanceof ToolsUnsupportedError, String(error));
  assertMatch(
    error.message,
    /^http:\/\/127\.0\.0\.1:1\/v1 returned a tool call as plain text.*--enable-auto-tool-choice --tool-call-parser llama3_json/,
  );
  assert(!error.message.includes("\n"));
});

Deno.test("tool results: row count, column names, a compact table of the first rows, errors as text", () => {
  assertEquals(
    formatToolResult({
      ok: true,
      columns: ["id", "name", "blob"],
      rows: [[1, "a|b", { blob: "00ff" }], [{ int: "9007199254740993" }, null, "line\nbreak"], [
        3,
        "c",
        null,
      ]],
      rowCount: 30,
    }, 2),
    "30 rows; columns: id, name, blob\nid | name | blob\n1 | a\\|b | x'00ff'\n9007199254740993 | NULL | line\\nbreak\n" +
      "(first 2 of 30 rows shown)",
  );
  assertEquals(formatToolResult({ ok: true, columns: ["n"], rows: [], rowCount: 0 }), "0 rows; columns: n");
  assertEquals(
    formatToolResult({ ok: true, columns: ["n"], rows: [[1]], rowCount: 1 }),
    "1 row; columns: n\nn\n1",
  );
  assertEquals(
    formatToolResult({ ok: false, error: "no such table:\n  heroes" }),
    "error: no such table: heroes",
  );
  const long = formatToolResult({ ok: true, columns: ["t"], rows: [["x".repeat(500)]], rowCount: 1 });
  assert(long.split("\n")[2].length === 80 && long.endsWith("…"));
});

Deno.test("the agent prompt: the evaluation's user turn, its own versioned hash", () => {
  assertEquals(
    OPENING[1].content,
    renderUserPrompt(QUESTION, "CREATE TABLE superhero (id INTEGER, superhero_name TEXT, height_cm INTEGER)"),
  );
  assertMatch(OPENING[0].content, /^You are a text to SQL query translator\..*execute_sql/);
  const hash = agentTemplateHash();
  assertMatch(hash, /^[0-9a-f]{64}$/);
  assert(hash !== templateHash());
  assert(hash !== agentTemplateHash({ evidence: false }));
  assert(hash !== agentTemplateHash({}, 10));
  assertEquals(hash, agentTemplateHash({ evidence: true, sampleRows: 0 }));
});

/** The three-turn script over HTTP: a failing query, the corrected one, then the answer. */
const httpScript: Script = (req) => {
  const tools = (req.body.messages as WireMessage[]).filter((m) => m.role === "tool").length;
  if (tools === 0) return sqlToolCall(BAD);
  if (tools === 1) return sqlToolCall(GOOD);
  return { content: "```sql\n" + GOOD + "\n```" };
};

Deno.test("over HTTP with the OpenAI client: tools sent, tool calls parsed, each turn cached, a rerun makes no request", async () => {
  const { dir, db } = await copyDb();
  const server = await startFakeOpenAI({ script: httpScript });
  const pool = new SqlitePool({ workers: 1, timeoutS: 10, sampleRows: 20 });
  const cache = new CompletionCache({ dir: `${dir}/cache` });
  try {
    const api = new OpenAI({ baseURL: server.url, apiKey: "none", maxRetries: 0 });
    const backend = openAIBackend(api, {
      model: "fake-model",
      baseUrl: server.url,
      sampling: { temperature: 0.2 },
    });
    const chat = createToolChat(backend, { cache, where: server.url });
    const first = await runAgent(OPENING, { chat, execute: poolExecutor(pool, db) });
    assertEquals([first.stop, first.sql, first.turns, first.cached], ["answer", GOOD, 3, false]);
    assertEquals(first.trajectory.map((s) => [s.sql, s.ok]), [[BAD, false], [GOOD, true]]);
    const posts = server.requests.filter((r) => r.method === "POST");
    assertEquals(posts.length, 3);
    for (const p of posts) {
      assertEquals(p.body?.tools, [EXECUTE_SQL_TOOL]);
      assertEquals(p.body?.tool_choice, "auto");
      assertEquals(p.body?.temperature, 0.2);
    }
    // The second request carries the model's call and our result, paired by the server's call id.
    const sent = posts[1].body!.messages as Array<Record<string, unknown>>;
    const asked = sent[2] as {
      role: string;
      tool_calls: Array<{ id: string; function: { arguments: string } }>;
    };
    assertEquals(asked.role, "assistant");
    assertEquals(JSON.parse(asked.tool_calls[0].function.arguments), { query: BAD });
    assertEquals(sent[3].role, "tool");
    assertEquals(sent[3].tool_call_id, asked.tool_calls[0].id);
    // Tool-call replies report 10 + 10 tokens; the answer's completion is its length / 4.
    assertEquals(first.tokens.completion, 20 + Math.ceil(("```sql\n" + GOOD + "\n```").length / 4));
    assert(first.tokens.prompt > 20);

    // A rerun replays the whole trajectory from the cache: same answer, same trajectory, zero requests.
    const again = await runAgent(OPENING, {
      chat: createToolChat(backend, { cache }),
      execute: poolExecutor(pool, db),
    });
    assertEquals(server.requests.filter((r) => r.method === "POST").length, 3);
    assertEquals(again.cached, true);
    assertEquals(again.sql, first.sql);
    assertEquals(again.tokens, first.tokens);
    assertEquals(again.trajectory.map((s) => s.sql), first.trajectory.map((s) => s.sql));
    assertEquals(again.transcript, first.transcript);
  } finally {
    await pool.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a trajectory cut by a failing endpoint resumes from its cached turns", async () => {
  const { dir, db } = await copyDb();
  let down = false;
  const server = await startFakeOpenAI({
    script: (
      req,
    ) => (down && req.attempt === 1 && countTools(req) === 1
      ? { status: 400, message: "context too long" }
      : httpScript(req)),
  });
  const pool = new SqlitePool({ workers: 1, timeoutS: 10 });
  const cache = new CompletionCache({ dir: `${dir}/cache` });
  try {
    const api = new OpenAI({ baseURL: server.url, apiKey: "none", maxRetries: 0 });
    const backend = openAIBackend(api, { model: "fake-model", baseUrl: server.url });
    const chat = createToolChat(backend, { cache });
    down = true;
    let failed = false;
    try {
      await runAgent(OPENING, { chat, execute: poolExecutor(pool, db) });
    } catch (e) {
      failed = !(e instanceof ToolsUnsupportedError);
    }
    assert(failed, "the second turn's refusal ends the first attempt");
    assertEquals(server.requests.length, 2);
    const run = await runAgent(OPENING, { chat, execute: poolExecutor(pool, db) });
    // Turn 1 from the cache; turns 2 and 3 asked now.
    assertEquals(server.requests.length, 4);
    assertEquals([run.sql, run.turns, run.cached], [GOOD, 3, false]);
  } finally {
    await pool.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

function countTools(req: { body: Record<string, unknown> }): number {
  return (req.body.messages as WireMessage[]).filter((m) => m.role === "tool").length;
}

Deno.test("endpoints without tool calls fail with one line saying what to enable", async () => {
  const server = await startFakeOpenAI();
  try {
    const api = new OpenAI({ baseURL: server.url, apiKey: "none", maxRetries: 0 });
    const backend = openAIBackend(api, { model: "fake-model", baseUrl: server.url });
    const chat = createToolChat(backend, { cache: null, where: server.url });
    const expectFailure = async (script: Script, pattern: RegExp) => {
      server.setScript(script);
      try {
        await probeTools(chat, EXECUTE_SQL_TOOL, server.url);
      } catch (e) {
        assert(e instanceof ToolsUnsupportedError, String(e));
        assertMatch(e.message, pattern);
        assertMatch(e.message, /--enable-auto-tool-choice --tool-call-parser llama3_json/);
        assert(!e.message.includes("\n"));
        return;
      }
      throw new Error(`probe passed for ${pattern}`);
    };
    // vLLM started without --enable-auto-tool-choice.
    await expectFailure(
      () => ({
        status: 400,
        message: '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
      }),
      /does not accept tool calls \(HTTP 400: "auto" tool choice requires/,
    );
    // Ollama with a model whose template has no tools.
    await expectFailure(
      () => ({ status: 400, message: "registry.ollama.ai/library/llama2:latest does not support tools" }),
      /does not accept tool calls/,
    );
    // No tool-call parser: Llama's JSON call comes back as text.
    await expectFailure(
      () => ({ content: '<|python_tag|>{"name": "execute_sql", "parameters": {"query": "SELECT 1"}}' }),
      /returns tool calls as plain text/,
    );
    // Tools silently ignored.
    await expectFailure(() => ({ content: "SELECT 1" }), /without a tool call \(tools ignored\?\)/);
    // Other refusals stay what they are.
    server.setScript(() => ({ status: 400, message: "max_tokens is too large" }));
    let other: unknown = null;
    try {
      await probeTools(chat, EXECUTE_SQL_TOOL, server.url);
    } catch (e) {
      other = e;
    }
    assert(other !== null && !(other instanceof ToolsUnsupportedError), String(other));
    // A server with tool calls passes.
    server.setScript(() => sqlToolCall("SELECT 1"));
    await probeTools(chat, EXECUTE_SQL_TOOL, server.url);
  } finally {
    await server.close();
  }
});
