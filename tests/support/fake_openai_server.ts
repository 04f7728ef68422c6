/**
 * A real HTTP server speaking the OpenAI protocol (`POST /v1/chat/completions`, `GET /v1/models`) that answers
 * from a script, so tests, notebooks and CI exercise the model client over a real socket: gold SQL, wrong SQL,
 * reasoning text, 429 with Retry-After, 5xx, slow answers, malformed bodies, hung requests and dropped
 * connections.
 *
 * Standalone (notebooks, CI):
 *
 * ```sh
 * deno run -A tests/support/fake_openai_server.ts --port 8765 --dataset data/sample/dev.json --mode gold|mixed|teacher
 * ```
 *
 * prints `listening on http://127.0.0.1:8765/v1`. Other flags: `--model NAME` (repeatable, default
 * `fake-model`), `--latency-ms N`, `--failure-rate F` with `--seed S`, `--max-model-len N`, `--die-after-ms N`
 * (the server dies mid-run); `--mode fail500` answers 500 to every chat request. When the environment
 * variable `FAKE_OPENAI_API_KEY` is set, requests must carry it as a bearer token.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fnv1a, mulberry32 } from "../../lib/util/hash.ts";
import type { ChatMessage } from "../../lib/types.ts";

/** One model listed by `GET /v1/models`, shaped as vLLM reports it. */
export interface FakeModel {
  id: string;
  /** vLLM: the weights the model was loaded from (for a LoRA adapter, its path). Defaults to `id`. */
  root?: string;
  owned_by?: string;
  /** vLLM's context window field; omitted from the listing when null. Default 8192. */
  max_model_len?: number | null;
  /** A fixed `created`; by default it is "now" on every listing, as vLLM does. */
  created?: number;
}

/** What the script sees of one chat-completion request. */
export interface ScriptRequest {
  messages: ChatMessage[];
  model: string;
  n: number;
  temperature: number | null;
  max_tokens: number | null;
  /** How many times this same prompt (model + messages) has been seen, this request included (1-based). */
  attempt: number;
  /** The whole parsed request body. */
  body: Record<string, unknown>;
  /** The request's `Authorization` header (null when absent), for scripts that echo it as gateways do. */
  authorization?: string | null;
}

/** How the server answers one request. */
export type Reply =
  | {
    content: string | string[];
    usage?: { prompt_tokens: number; completion_tokens: number };
    /** Answer exactly these choices, whatever `n` asked (an endpoint that ignores `n`). */
    exact?: boolean;
  }
  | {
    /** Tool calls of one choice (OpenAI tools protocol); `arguments` objects are sent as JSON text. */
    toolCalls: Array<{ name: string; arguments: string | Record<string, unknown>; id?: string }>;
    content?: string | null;
    usage?: { prompt_tokens: number; completion_tokens: number };
  }
  | { status: 429; retryAfter?: number | string; message?: string }
  | { status: 400 | 401 | 403 | 404 | 500 | 502 | 503; message?: string }
  | { delayMs: number; then: Reply }
  | { garbage: string; status?: number; contentType?: string }
  | { hang: true }
  | { drop: true };

/** A script: decides the reply to each chat-completion request. */
export type Script = (req: ScriptRequest) => Reply | Promise<Reply>;

/** A request the server received, for assertions. Never holds the authorization header. */
export interface RecordedRequest {
  method: string;
  path: string;
  /** Parsed JSON body for POSTs (null when absent or not JSON). */
  body: Record<string, unknown> | null;
  /** Whether a bearer token was present and matched (true when no key is required). */
  authorized: boolean;
  /** Milliseconds since the server started. */
  at: number;
  /** The HTTP status sent, or null when the request hung or was dropped. */
  status: number | null;
}

/** Options for {@linkcode startFakeOpenAI}. */
export interface FakeServerOptions {
  /** Port to bind on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** When set, every request must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string | null;
  /** Models served (default one: `fake-model`). */
  models?: FakeModel[];
  /** Status for `GET /v1/models` to simulate servers that do not list models (e.g. 404). */
  modelsStatus?: number;
  /** The script; default answers `SELECT 1`. */
  script?: Script;
  /** Fixed latency added before every chat-completion reply, in ms. */
  latencyMs?: number;
  /**
   * Die this many ms into the run, counted from the first chat-completion request (not from the start, so a
   * slow client start on a loaded machine cannot make it die before the run began): stop listening and abort
   * what is in flight, as a crashed server does (later requests get "connection refused"). `died` resolves then.
   */
  dieAfterMs?: number;
}

/** A running fake server. */
export interface FakeServer {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:1234/v1`. */
  url: string;
  port: number;
  /** Every request received, in arrival order. */
  requests: RecordedRequest[];
  /** Chat-completion requests being handled right now. */
  readonly inFlight: number;
  /** The largest number of chat-completion requests handled at once so far. */
  readonly maxInFlight: number;
  /** Replaces the script (attempt counters are kept). */
  setScript(script: Script): void;
  /** Replaces the model list (e.g. to simulate a retrained adapter under the same name). */
  setModels(models: FakeModel[]): void;
  /** Clears recorded requests, attempt counters and the in-flight maximum. */
  reset(): void;
  /** Stops the server, releasing hung and delayed requests. */
  close(): Promise<void>;
  /** Resolves once the server has died by `dieAfterMs` (never without it). */
  readonly died: Promise<void>;
}

const DEFAULT_MODELS: FakeModel[] = [{ id: "fake-model", max_model_len: 8192 }];

/** Marker of the user prompt's last section in the project's prompt format. */
const QUESTION_MARKER = "-- Question:";

/**
 * Starts a fake OpenAI-compatible server on 127.0.0.1.
 *
 * @param options Port, required key, models, script and latency.
 * @returns The server handle; call `close()` when done.
 */
export function startFakeOpenAI(options: FakeServerOptions = {}): Promise<FakeServer> {
  let script: Script = options.script ?? (() => ({ content: "SELECT 1" }));
  let models = options.models ?? DEFAULT_MODELS;
  const requests: RecordedRequest[] = [];
  const attempts = new Map<string, number>();
  const started = performance.now();
  let inFlight = 0;
  let maxInFlight = 0;
  let nextId = 1;
  // Starts the `dieAfterMs` clock at the first chat request (a no-op without `dieAfterMs`, or once started).
  let armDeath = () => {};
  // Aborted on close() so hung and delayed handlers return and the server can shut down.
  const closing = new AbortController();

  const handler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const record: RecordedRequest = {
      method: req.method,
      path: url.pathname,
      body: null,
      authorized: true,
      at: performance.now() - started,
      status: null,
    };
    requests.push(record);
    const respond = (res: Response) => {
      record.status = res.status;
      return res;
    };

    if (options.apiKey) {
      const auth = req.headers.get("authorization") ?? "";
      const given = auth.startsWith("Bearer ") ? auth.slice(7) : "";
      if (given !== options.apiKey) {
        record.authorized = false;
        // Real providers echo (part of) the key they got; we echo all of it so clients prove they scrub it.
        return respond(errorResponse(401, `Incorrect API key provided: ${given}.`, "invalid_api_key"));
      }
    }

    const path = url.pathname.replace(/\/+$/, "");
    if (req.method === "GET" && path === "/v1/models") {
      if (options.modelsStatus && options.modelsStatus !== 200) {
        return respond(errorResponse(options.modelsStatus, "Not Found", "not_found"));
      }
      const now = Math.floor(Date.now() / 1000);
      return respond(Response.json({
        object: "list",
        data: models.map((m) => ({
          id: m.id,
          object: "model",
          created: m.created ?? now,
          owned_by: m.owned_by ?? "vllm",
          root: m.root ?? m.id,
          parent: null,
          ...(m.max_model_len === null ? {} : { max_model_len: m.max_model_len ?? 8192 }),
        })),
      }));
    }
    if (req.method !== "POST" || path !== "/v1/chat/completions") {
      return respond(errorResponse(404, `Unknown route ${req.method} ${url.pathname}`, "not_found"));
    }

    let body: Record<string, unknown>;
    try {
      body = await req.json();
      record.body = body;
    } catch {
      return respond(errorResponse(400, "Request body is not JSON", "invalid_json"));
    }
    const model = String(body.model ?? "");
    if (!models.some((m) => m.id === model)) {
      return respond(
        errorResponse(
          404,
          `The model \`${model}\` does not exist or you do not have access to it.`,
          "model_not_found",
        ),
      );
    }
    armDeath();
    const messages = (body.messages ?? []) as ChatMessage[];
    const promptKey = JSON.stringify([model, messages]);
    const attempt = (attempts.get(promptKey) ?? 0) + 1;
    attempts.set(promptKey, attempt);

    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      if (options.latencyMs) await sleepUnless(options.latencyMs, closing.signal);
      let reply = await script({
        messages,
        model,
        n: typeof body.n === "number" ? body.n : 1,
        temperature: typeof body.temperature === "number" ? body.temperature : null,
        max_tokens: typeof body.max_tokens === "number"
          ? body.max_tokens
          : typeof body.max_completion_tokens === "number"
          ? body.max_completion_tokens
          : null,
        attempt,
        body,
        authorization: req.headers.get("authorization"),
      });
      while ("delayMs" in reply) {
        await sleepUnless(reply.delayMs, closing.signal);
        reply = reply.then;
      }
      if (closing.signal.aborted) return respond(errorResponse(503, "server closing", "closing"));
      return respond(await render(reply, body, messages, closing.signal, () => nextId++));
    } finally {
      inFlight--;
    }
  };

  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: options.port ?? 0,
      signal: closing.signal,
      onListen: () => {},
      // A dropped connection makes the body stream error; that is the point, not a server bug worth logging.
      onError: () => new Response(null, { status: 500 }),
    }, handler);
    const port = server.addr.port;
    const died = options.dieAfterMs === undefined
      ? new Promise<void>(() => {})
      : new Promise<void>((done) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        armDeath = () => {
          armDeath = () => {};
          timer = setTimeout(() => {
            closing.abort();
            server.finished.then(done);
          }, options.dieAfterMs);
        };
        // close() before the death must not leave the timer holding the test open.
        closing.signal.addEventListener("abort", () => clearTimeout(timer));
      });
    resolve({
      died,
      url: `http://127.0.0.1:${port}/v1`,
      port,
      requests,
      get inFlight() {
        return inFlight;
      },
      get maxInFlight() {
        return maxInFlight;
      },
      setScript(next: Script) {
        script = next;
      },
      setModels(next: FakeModel[]) {
        models = next;
      },
      reset() {
        requests.length = 0;
        attempts.clear();
        maxInFlight = inFlight;
      },
      async close() {
        closing.abort();
        await server.finished;
      },
    });
  });
}

function errorResponse(status: number, message: string, code: string, headers?: HeadersInit): Response {
  const type = status === 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error";
  return Response.json({ error: { message, type, param: null, code } }, { status, headers });
}

async function render(
  reply: Reply,
  body: Record<string, unknown>,
  messages: ChatMessage[],
  closing: AbortSignal,
  nextId: () => number,
): Promise<Response> {
  if ("hang" in reply) {
    // Never answer until the server closes. (Deno.serve's request.signal would tell us the client left, but
    // reading it prints a deprecation warning in Deno 2.9, so the handler simply waits for close().)
    await sleepUnless(Number.POSITIVE_INFINITY, closing);
    return errorResponse(499, "client closed request", "client_closed");
  }
  if ("drop" in reply) {
    // Headers go out, then the body stream fails: Deno.serve aborts the connection mid-response.
    return new Response(
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"id": "chatcmpl-'));
          controller.error(new Error("connection dropped by script"));
        },
      }),
      { status: 200, headers: { "content-type": "application/json" } },
    );
  }
  if ("garbage" in reply) {
    return new Response(reply.garbage, {
      status: reply.status ?? 200,
      headers: { "content-type": reply.contentType ?? "application/json" },
    });
  }
  if ("status" in reply) {
    const headers: Record<string, string> = {};
    if (reply.status === 429 && "retryAfter" in reply && reply.retryAfter !== undefined) {
      headers["retry-after"] = String(reply.retryAfter);
    }
    const message = reply.message ??
      (reply.status === 429 ? "Rate limit reached, please retry later." : `Scripted HTTP ${reply.status}`);
    const code = reply.status === 429
      ? "rate_limit_exceeded"
      : reply.status === 404
      ? "not_found"
      : "scripted";
    return errorResponse(reply.status, message, code, headers);
  }
  if ("toolCalls" in reply) {
    const usage = reply.usage ?? { prompt_tokens: 10, completion_tokens: 10 };
    const calls = reply.toolCalls.map((c, i) => ({
      id: c.id ?? `call_fake_${nextId()}_${i}`,
      type: "function",
      function: {
        name: c.name,
        arguments: typeof c.arguments === "string" ? c.arguments : JSON.stringify(c.arguments),
      },
    }));
    return Response.json({
      id: `chatcmpl-fake-${nextId()}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{
        index: 0,
        message: { role: "assistant", content: reply.content ?? null, tool_calls: calls },
        finish_reason: "tool_calls",
        logprobs: null,
      }],
      usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
    });
  }
  if ("content" in reply) {
    const n = typeof body.n === "number" && body.n > 0 ? body.n : 1;
    const contents = Array.isArray(reply.content) ? reply.content : [reply.content];
    // With n > 1 and fewer scripted contents, the last one repeats, as identical samples at temperature 0 would.
    const texts = reply.exact
      ? contents
      : Array.from({ length: n }, (_, i) => contents[Math.min(i, contents.length - 1)] ?? "");
    const promptChars = messages.reduce((sum, m) => sum + String(m.content ?? "").length, 0);
    const usage = reply.usage ?? {
      prompt_tokens: Math.ceil(promptChars / 4),
      completion_tokens: texts.reduce((sum, t) => sum + Math.ceil(t.length / 4), 0),
    };
    return Response.json({
      id: `chatcmpl-fake-${nextId()}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: texts.map((text, index) => ({
        index,
        message: { role: "assistant", content: text },
        finish_reason: "stop",
        logprobs: null,
      })),
      usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
    });
  }
  return errorResponse(500, "script returned an unknown reply", "bad_script");
}

/** Resolves after `ms`, or early when the signal aborts. Never rejects. */
function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (timer !== undefined) clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
    signal.addEventListener("abort", done);
  });
}

/**
 * The question of a prompt in the project's format: the text after the last `-- Question:` of the last user
 * message, trimmed. Null when there is none.
 */
export function questionOf(messages: ChatMessage[]): string | null {
  const user = messages.findLast((m) => m.role === "user");
  if (!user) return null;
  const at = user.content.lastIndexOf(QUESTION_MARKER);
  if (at < 0) return null;
  return user.content.slice(at + QUESTION_MARKER.length).trim();
}

/** The prompt's question and its mapped SQL, or null when the prompt has no question or the map lacks it. */
function goldOf(answers: Map<string, string>, req: ScriptRequest): { question: string; sql: string } | null {
  const question = questionOf(req.messages);
  const sql = question === null ? undefined : answers.get(question);
  return question === null || sql === undefined ? null : { question, sql };
}

/** How {@linkcode goldScript} presents an answer. */
export type AnswerStyle = "plain" | "fenced" | "bare-fence" | "prose" | "reasoning";

/** Wraps SQL the way real models present it. */
export function styleAnswer(sql: string, style: AnswerStyle): string {
  switch (style) {
    case "plain":
      return sql;
    case "fenced":
      return "```sql\n" + sql + "\n```";
    case "bare-fence":
      return "```\n" + sql + "\n```";
    case "prose":
      return "Here is the SQL query that answers the question:\n\n```sql\n" + sql +
        "\n```\n\nIt selects the requested columns and applies the conditions from the question.";
    case "reasoning":
      return "Let me think step by step.\n1. Identify the tables that hold the requested information.\n" +
        "2. Join them on their keys and apply the filters from the question and the external knowledge.\n" +
        "3. Select only the columns asked for.\n\nFinal SQL:\n```sql\n" + sql + "\n```";
  }
}

/** Options for {@linkcode goldScript}. */
export interface GoldScriptOptions {
  /** How answers are presented (default `plain`); a function picks per question. */
  style?: AnswerStyle | ((question: string) => AnswerStyle);
  /** Content for a question not in the map (default: a 404-free wrong answer `SELECT NULL`). */
  fallback?: string;
  /** Fraction of requests answered 429/500 instead, decided by a seeded PRNG per prompt and attempt. */
  failureRate?: number;
  /** Seed for the failure PRNG (default 1). */
  seed?: number;
  /** Retry-After sent with scripted 429s (seconds). */
  retryAfter?: number;
}

/**
 * A script answering each prompt with the SQL mapped to its question (found after `-- Question:` in the user
 * prompt), optionally fenced or wrapped in prose/reasoning, and optionally failing a fixed fraction of requests.
 *
 * @param answers Question → reply content (usually the gold SQL).
 * @param options Style, fallback and failure injection.
 */
export function goldScript(answers: Map<string, string>, options: GoldScriptOptions = {}): Script {
  const base: Script = (req) => {
    const gold = goldOf(answers, req);
    if (!gold) return { content: options.fallback ?? "SELECT NULL" };
    const style = typeof options.style === "function"
      ? options.style(gold.question)
      : options.style ?? "plain";
    return { content: styleAnswer(gold.sql, style) };
  };
  return options.failureRate ? withFailures(base, options) : base;
}

/**
 * Wraps a script so a fixed fraction of requests fail with 429 or 500. The decision is a seeded PRNG over
 * (seed, prompt, attempt), so it is the same whatever the request order or concurrency.
 */
export function withFailures(
  script: Script,
  options: { failureRate?: number; seed?: number; retryAfter?: number },
): Script {
  const rate = options.failureRate ?? 0;
  const seed = options.seed ?? 1;
  return (req) => {
    const rng = mulberry32(
      fnv1a(`${seed}\u0000${req.model}\u0000${JSON.stringify(req.messages)}\u0000${req.attempt}`),
    );
    if (rng() < rate) {
      return rng() < 0.5 ? { status: 429, retryAfter: options.retryAfter } : { status: 500 };
    }
    return script(req);
  };
}

/** The `fail500` mode: an endpoint answering HTTP 500 to every chat request (a broken deployment). */
export function failingScript(message = "internal server error"): Script {
  return () => ({ status: 500, message });
}

/** A reply calling `execute_sql` with one query: the agent mode's tool call. */
export function sqlToolCall(query: string, id?: string): Reply {
  return { toolCalls: [{ name: "execute_sql", arguments: { query }, ...(id ? { id } : {}) }] };
}

/** Re-exported for tests that bucket questions the way {@linkcode mixedScript} does. */
export { fnv1a };

/** Reads a BIRD-format dataset file into question → gold SQL (`SQL` or `query`); the first wins on duplicates. */
export async function answersFromDataset(path: string): Promise<Map<string, string>> {
  const items = JSON.parse(await Deno.readTextFile(path)) as Array<Record<string, unknown>>;
  const answers = new Map<string, string>();
  for (const item of items) {
    const question = String(item.question ?? "").trim();
    const sql = item.SQL ?? item.query;
    if (question && typeof sql === "string" && !answers.has(question)) answers.set(question, sql);
  }
  return answers;
}

/**
 * The `mixed` mode: per question (by a hash, so stable across runs) 20% wrong SQL, 10% reasoning, 20% fenced,
 * 10% prose around a fence, the rest plain gold SQL.
 */
export function mixedScript(
  answers: Map<string, string>,
  options: { failureRate?: number; seed?: number } = {},
): Script {
  const base: Script = (req) => {
    const gold = goldOf(answers, req);
    if (!gold) return { content: "SELECT NULL" };
    const { question, sql } = gold;
    const bucket = fnv1a(question) % 10;
    if (bucket < 2) return { content: "SELECT -424242 AS wrong_answer" };
    if (bucket < 3) return { content: styleAnswer(sql, "reasoning") };
    if (bucket < 5) return { content: styleAnswer(sql, "fenced") };
    if (bucket < 6) return { content: styleAnswer(sql, "prose") };
    return { content: sql };
  };
  return options.failureRate ? withFailures(base, options) : base;
}

/**
 * The `teacher` mode, for `deno task cot`: reasoning that ends in the gold SQL the teacher prompt shows
 * (`-- Gold SQL: ...`), except for a hashed fifth of the queries where it ends in a wrong query, so both verdicts
 * of the CoT builder (kept, `different_result`) occur. A prompt without gold SQL gets no SQL at all.
 */
export function teacherScript(): Script {
  return (req) => {
    const content = req.messages.findLast((m) => m.role === "user")?.content ?? "";
    const sql = content.match(/-- Gold SQL: ([\s\S]*?)\n\n/)?.[1];
    if (sql === undefined) return { content: "I cannot find the gold SQL." };
    const wrong = fnv1a(sql) % 5 === 0;
    return { content: styleAnswer(wrong ? "SELECT -424242 AS wrong_answer" : sql, "reasoning") };
  };
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string", default: "0" },
      dataset: { type: "string" },
      mode: { type: "string", default: "gold" },
      model: { type: "string", multiple: true },
      "latency-ms": { type: "string", default: "0" },
      "failure-rate": { type: "string", default: "0" },
      seed: { type: "string", default: "1" },
      "max-model-len": { type: "string", default: "8192" },
      "die-after-ms": { type: "string" },
    },
  });
  if (!["gold", "mixed", "teacher", "fail500"].includes(values.mode)) {
    throw new Error(`--mode must be gold, mixed, teacher or fail500, got ${values.mode}`);
  }
  const answers = values.dataset ? await answersFromDataset(values.dataset) : new Map<string, string>();
  const failure = { failureRate: Number(values["failure-rate"]), seed: Number(values.seed) };
  const script = values.mode === "fail500"
    ? failingScript()
    : values.mode === "teacher"
    ? withFailures(teacherScript(), failure)
    : values.mode === "mixed"
    ? mixedScript(answers, failure)
    : goldScript(answers, failure);
  const maxLen = Number(values["max-model-len"]);
  const server = await startFakeOpenAI({
    port: Number(values.port),
    apiKey: Deno.env.get("FAKE_OPENAI_API_KEY") || null,
    models: (values.model?.length ? values.model : ["fake-model"]).map((id) => ({
      id,
      max_model_len: maxLen,
    })),
    latencyMs: Number(values["latency-ms"]),
    script,
    dieAfterMs: values["die-after-ms"] === undefined ? undefined : Number(values["die-after-ms"]),
  });
  console.log(`listening on ${server.url}`);
  const stop = () => {
    server.close().then(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGINT", stop);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", stop);
}

if (import.meta.main) {
  await main(Deno.args);
}
