/**
 * The agent mode (`--agent`): the model gets the evaluation prompt and one tool, `execute_sql`, runs queries
 * on the question's database through the same sandbox as scoring, and ends with a message without a tool
 * call whose SQL is its answer. The loop takes its model and its database as injected functions, so gold
 * cannot enter it: it is given the opening messages, a chat function and an executor, nothing else.
 *
 * @module
 */
import {
  DEFAULT_TOOL_ROWS,
  EXECUTE_SQL,
  executeSqlTool,
  formatToolResult,
  type ToolResult,
} from "../prompt/mod.ts";
import {
  ENABLE_TOOLS_HINT,
  looksLikeTextToolCall,
  type ToolCall,
  type ToolChat,
  ToolsUnsupportedError,
  type Usage,
  type WireMessage,
} from "../model/mod.ts";
import { extractSql } from "../model/mod.ts";
import type { DigestOptions, DigestResult } from "../exec/mod.ts";
import type { AgentStop, ChatMessage, Dialect, TrajectoryStep } from "../types.ts";

/** Turns (model calls) an agent gets by default. */
export const DEFAULT_MAX_TURNS = 8;

/**
 * Wall-clock seconds one agent question gets by default, all turns and tool calls together
 * (`--question-timeout`): 8 turns of a slow model with a few 30 s queries fit; 50 hung tool calls do not.
 */
export const DEFAULT_QUESTION_TIMEOUT_S = 300;

/**
 * Characters of a tool call's text kept in the record and sent back to the model: a query's text in the
 * trajectory, a tool result's text, the raw arguments of a call that held no query. A 10 MB query would
 * otherwise make a 30 MB record and a 30 MB next request.
 */
export const TOOL_TEXT_CAP = 16_384;

/** A text cut to {@linkcode TOOL_TEXT_CAP} characters, saying how long it was. */
function capped(text: string): string {
  if (text.length <= TOOL_TEXT_CAP) return text;
  return `${text.slice(0, TOOL_TEXT_CAP)}… [cut: ${text.length} characters, ${TOOL_TEXT_CAP} kept]`;
}

/** What a step raced against the question's budget gives when the budget fires first. */
const OUT_OF_TIME = Symbol("out of time");

/** Rows of each tool result kept in the trajectory (the model saw more). */
const TRAJECTORY_ROWS = 3;

/** Runs one query for the agent: read-only, time-limited, the first rows and the row count. */
export type AgentExecute = (sql: string) => Promise<ToolResult & { ms?: number }>;

export type { AgentStop, TrajectoryStep };

/** A finished agent conversation. */
export interface AgentRun {
  /** The answer to score. */
  sql: string;
  stop: AgentStop;
  /** The final message's text, null on `max_turns`. */
  completion: string | null;
  /** Model calls made (cached ones included). */
  turns: number;
  trajectory: TrajectoryStep[];
  /** Tokens summed over the turns. */
  tokens: Usage;
  /** Generation ms per turn, and the sum of tool execution ms. */
  timings: { turn_ms: number[]; tool_ms: number };
  /** True when every turn came from the cache. */
  cached: boolean;
  /** The whole conversation as sent, ending with the model's last message. */
  transcript: WireMessage[];
  /** The budget in seconds, when it cut the conversation (`stop: "question_timeout"`); else null. */
  questionTimeoutS: number | null;
}

/** What the loop is given. Nothing in it knows the gold answer. */
export interface AgentDeps {
  /** One model turn with the tool offered. */
  chat: ToolChat;
  /** Runs the model's queries on the question's database. */
  execute: AgentExecute;
  /**
   * The run's scrubber, applied to each tool result before it is sent back to the model: a query that surfaces
   * a credential of the run (a server URL's password through `pg_read_file`, say) sends it to no endpoint.
   */
  scrub?: (text: string) => string;
}

/** Options of {@linkcode runAgent}. */
export interface AgentOptions {
  /** Model calls at most (default {@linkcode DEFAULT_MAX_TURNS}). */
  maxTurns?: number;
  /** Rows of a result shown to the model (default {@linkcode DEFAULT_TOOL_ROWS}). */
  toolRows?: number;
  /** The endpoint as it may be shown, for the error when it returns tool calls as text. */
  where?: string;
  /** The SQL dialect the tool runs (its description names it; default sqlite). */
  dialect?: Dialect;
  /**
   * Wall-clock seconds for the whole conversation, turns and tool calls together (null or absent: none).
   * When it fires, the model call or query in flight is abandoned, the last query executed is the answer and
   * `stop` says `question_timeout`.
   */
  questionTimeoutS?: number | null;
}

/**
 * A step raced against a deadline (`performance.now()` ms): its value, or {@linkcode OUT_OF_TIME} when the
 * deadline comes first (the step goes on unobserved; its failure is then ignored).
 */
async function beforeDeadline<T>(step: Promise<T>, deadline: number): Promise<T | typeof OUT_OF_TIME> {
  if (deadline === Infinity) return await step;
  step.catch(() => {});
  const left = deadline - performance.now();
  if (left <= 0) return OUT_OF_TIME;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const out = new Promise<typeof OUT_OF_TIME>((resolve) =>
    timer = setTimeout(() => resolve(OUT_OF_TIME), left)
  );
  try {
    return await Promise.race([step, out]);
  } finally {
    clearTimeout(timer);
  }
}

/** The `query` argument of a call, or the error text the model is sent instead. */
function queryOf(call: ToolCall): { sql: string } | { error: string; raw?: string } {
  if (call.function.name !== EXECUTE_SQL) {
    return { error: `unknown tool ${JSON.stringify(call.function.name)}; the only tool is ${EXECUTE_SQL}` };
  }
  try {
    const args = JSON.parse(call.function.arguments || "{}");
    if (typeof args?.query === "string" && args.query.trim()) return { sql: args.query };
  } catch {
    // Reported below, as for a missing argument.
  }
  return {
    error: `${EXECUTE_SQL} takes a JSON object {"query": "<one SQLite SELECT statement>"}`,
    raw: call.function.arguments,
  };
}

/**
 * One tool call: its query executed (or the reason it cannot be), as the trajectory records it and as the model
 * is told.
 */
async function answerCall(
  call: ToolCall,
  turn: number,
  execute: AgentExecute,
): Promise<{ step: TrajectoryStep; result: ToolResult; full: string | null }> {
  const query = queryOf(call);
  if ("error" in query) {
    // The raw text is kept (capped): what the model sent is the evidence of what went wrong.
    const raw = "raw" in query && query.raw !== undefined ? { arguments: capped(query.raw) } : {};
    return {
      step: { turn, sql: null, ...raw, ms: 0, ok: false, error: query.error },
      result: { ok: false, error: query.error },
      full: null,
    };
  }
  const t0 = performance.now();
  const result = await execute(query.sql);
  const ms = Math.round((result.ms ?? performance.now() - t0) * 100) / 100;
  const sql = capped(query.sql);
  const step: TrajectoryStep = result.ok
    ? {
      turn,
      sql,
      ms,
      ok: true,
      row_count: result.rowCount,
      columns: result.columns,
      rows: result.rows.slice(0, TRAJECTORY_ROWS),
    }
    : { turn, sql, ms, ok: false, error: capped(result.error) };
  return { step, result, full: query.sql };
}

/**
 * The agent loop: up to `maxTurns` model calls. A message with tool calls gets each call executed and its
 * result sent back as a `tool` message; the first message without a tool call ends the loop, its SQL
 * (extracted as in single-answer mode) being the answer. At the limit, the last query executed is the answer
 * (empty when there was none) and `stop` says `max_turns`.
 *
 * @param messages the opening messages (from `buildAgentMessages`)
 * @param deps the chat function and the executor
 * @param options turn limit, rows shown
 * @throws {ToolsUnsupportedError} when the model's final text is a tool call the server did not parse
 */
export async function runAgent(
  messages: ChatMessage[],
  deps: AgentDeps,
  options: AgentOptions = {},
): Promise<AgentRun> {
  const maxTurns = options.maxTurns ?? DEFAULT_MAX_TURNS;
  if (!Number.isInteger(maxTurns) || maxTurns < 1) {
    throw new RangeError(`--max-turns must be a positive integer, got ${maxTurns}`);
  }
  const toolRows = options.toolRows ?? DEFAULT_TOOL_ROWS;
  const budgetS = options.questionTimeoutS ?? null;
  if (budgetS !== null && !(budgetS > 0)) {
    throw new RangeError(`--question-timeout must be a positive number of seconds, got ${budgetS}`);
  }
  const deadline = budgetS === null ? Infinity : performance.now() + budgetS * 1000;
  const transcript = messages.map((m) => ({ role: m.role, content: m.content }) as WireMessage);
  const trajectory: TrajectoryStep[] = [];
  const tokens: Usage = { prompt: 0, completion: 0 };
  const turnMs: number[] = [];
  let cached = true;
  const finish = (stop: AgentStop, sql: string, completion: string | null): AgentRun => ({
    sql,
    stop,
    completion,
    turns: turnMs.length,
    trajectory,
    tokens,
    timings: { turn_ms: turnMs, tool_ms: Math.round(trajectory.reduce((sum, s) => sum + s.ms, 0)) },
    cached,
    transcript,
    questionTimeoutS: stop === "question_timeout" ? budgetS : null,
  });
  // The answer at a limit is the last query executed, whole (the trajectory keeps a capped copy).
  let lastSql = "";
  const lastQuery = () => lastSql;
  const scrubbed = deps.scrub ?? ((text: string) => text);
  for (let turn = 1; turn <= maxTurns; turn++) {
    const reply = await beforeDeadline(
      deps.chat({ messages: transcript, tools: [executeSqlTool(options.dialect ?? "sqlite")] }),
      deadline,
    );
    if (reply === OUT_OF_TIME) return finish("question_timeout", lastQuery(), null);
    tokens.prompt += reply.usage.prompt;
    tokens.completion += reply.usage.completion;
    turnMs.push(Math.round(reply.ms));
    cached &&= reply.cached;
    const { content, tool_calls } = reply.message;
    if (tool_calls.length === 0) {
      if (looksLikeTextToolCall(content, [EXECUTE_SQL])) {
        const where = options.where ?? "the endpoint";
        throw new ToolsUnsupportedError(
          `${where} returned a tool call as plain text (no tool-call parser): ${ENABLE_TOOLS_HINT}`,
        );
      }
      transcript.push({ role: "assistant", content });
      return finish("answer", extractSql(content ?? ""), content ?? "");
    }
    // The model's own calls go back capped too: a 10 MB query is not resent on every turn.
    const sentCalls = tool_calls.map((c) => ({
      ...c,
      function: { ...c.function, arguments: capped(c.function.arguments) },
    }));
    transcript.push({ role: "assistant", content, tool_calls: sentCalls });
    // Calls of one message run in order: a model that sends several expects their results in that order.
    for (const call of tool_calls) {
      const answered = await beforeDeadline(answerCall(call, turn, deps.execute), deadline);
      if (answered === OUT_OF_TIME) return finish("question_timeout", lastQuery(), null);
      const { step, result, full } = answered;
      trajectory.push(step);
      if (full !== null) lastSql = full;
      transcript.push({
        role: "tool",
        tool_call_id: call.id,
        content: capped(scrubbed(formatToolResult(result, toolRows))),
      });
    }
  }
  return finish("max_turns", lastQuery(), null);
}

/**
 * An {@linkcode AgentExecute} over the run's engine, on one question's database: the query runs and is digested
 * inside the engine's worker (`SqlEngine.digest`), under the same time limit and worker memory limit as a scored
 * query, and only the first `rows` rows (what the model is shown), the row count and the columns come back,
 * whatever the result's size.
 *
 * @param pool the run's engine (only `digest` is used)
 * @param dbPath the question's database
 * @param options rows shown (default {@linkcode DEFAULT_TOOL_ROWS})
 */
export function poolExecutor(
  pool: { digest(dbPath: string, sql: string, options?: DigestOptions): Promise<DigestResult> },
  dbPath: string,
  options: { rows?: number } = {},
): AgentExecute {
  const rows = options.rows ?? DEFAULT_TOOL_ROWS;
  return async (sql) => {
    const r = await pool.digest(dbPath, sql, { sampleRows: rows });
    if (!r.ok) return { ok: false, error: r.error, ms: r.ms };
    return { ok: true, columns: r.columns, rows: r.sample.slice(0, rows), rowCount: r.rowCount, ms: r.ms };
  };
}
