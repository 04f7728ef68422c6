/**
 * The model calls the two inference modes need beyond `ModelClient.complete`, cached like it:
 *
 * - {@linkcode sampleCompletions}: K samples of one prompt for self-consistency. One request with `n: K`
 *   where the endpoint honours it; where it returns fewer choices, the missing samples come from separate
 *   requests whose cache keys include the sample index (sample 0 shares the key of the plain single-answer
 *   request, so it is the very answer a single run at this sampling gets).
 * - {@linkcode createToolChat}: one turn of a conversation carrying the `tools` spec and returning
 *   `tool_calls` (OpenAI tools protocol), each turn cached under the whole transcript (tool calls and tool
 *   results included) and the tool spec, so a rerun replays a trajectory with zero requests.
 *
 * The HTTP exchange is injected as a {@linkcode TurnBackend}. {@linkcode openAIBackend} is a direct one over
 * `npm:openai` (no retries: tests and tools); in the evaluation the model client provides it with its limiter,
 * retries, timeout and key scrubbing.
 *
 * An endpoint that does not support tools is told apart from a model error: {@linkcode ToolsUnsupportedError},
 * one line saying what to enable.
 *
 * @module
 */
import type OpenAI from "openai";
import { type CacheEntry, cacheKey } from "./cache.ts";
import type { ChatMessage, ToolSpec, Usage } from "../types.ts";

/** A function call the model asked for (OpenAI tools protocol; `arguments` is a JSON text). */
export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** A chat message on the wire, tool turns included. */
export type WireMessage =
  | { role: "system" | "user"; content: string }
  | { role: "assistant"; content: string | null; tool_calls?: ToolCall[] }
  | { role: "tool"; tool_call_id: string; content: string };

export type { ToolSpec };

/** What the model said in one choice: text, tool calls, or both. */
export interface AssistantTurn {
  content: string | null;
  tool_calls: ToolCall[];
}

/** One chat request, as a backend is asked to send it. */
export interface ChatRequest {
  messages: WireMessage[];
  /** Choices asked for (default 1). */
  n?: number;
  tools?: ToolSpec[];
  /** Sent only with tools (default `auto`). */
  toolChoice?: "auto" | "none" | "required";
}

/** A backend's answer: the choices in index order and the usage of the request. */
export interface ChatReply {
  choices: AssistantTurn[];
  usage: Usage;
}

/**
 * One chat-completions exchange, plus what identifies its answers in the cache. The body sent is the model,
 * the messages, the sampling parameters (`n` replaced by the request's) and the tools. Failures throw; an
 * HTTP refusal carries its `status` (as `npm:openai`'s `APIError` and `models.ts`'s `GenerationError` do).
 */
export interface TurnBackend {
  /** Base URL, for the cache key (credentials are stripped by `cacheKey`). */
  readonly baseUrl: string;
  readonly model: string;
  /** The model's identity from `/v1/models`, or null; part of the cache key. */
  readonly identity: object | null;
  /** Sampling parameters sent with every request (temperature, max_tokens, n, top_p, seed); absent as null. */
  readonly sampling: Readonly<Record<string, number | null>>;
  send(request: ChatRequest): Promise<ChatReply>;
}

/** The slice of `CompletionCache` (lib/model/cache.ts) these functions use. */
export interface TurnCache {
  get(key: string): Promise<CacheEntry | null>;
  put(key: string, entry: Omit<CacheEntry, "key" | "version" | "created_at">): Promise<void>;
}

/** An endpoint (or a server's configuration) that cannot do tool calls. The message is one line. */
export class ToolsUnsupportedError extends Error {
  override name = "ToolsUnsupportedError";
}

/** What to enable, said once for every way an endpoint can lack tool calls. */
export const ENABLE_TOOLS_HINT =
  "serve the model with tool calling enabled, e.g. vLLM --enable-auto-tool-choice --tool-call-parser llama3_json " +
  "(Ollama: a model whose template supports tools)";

/** Status and message of a failed request, as `npm:openai` and `models.ts` errors carry them. */
function failureOf(error: unknown): { status: number | null; message: string } {
  const e = error as { status?: unknown; reason?: unknown; message?: unknown };
  return {
    status: typeof e?.status === "number" ? e.status : null,
    // npm:openai prefixes the status ("400 …"), models.ts says "HTTP 400: …": our message says it once.
    message: String(e?.reason ?? e?.message ?? error).replace(/^(?:HTTP\s*)?\d{3}:?\s+/i, ""),
  };
}

/**
 * The error to raise when a refusal means "no tool calls here": an HTTP 400/422/501 whose message names tools,
 * `tool_choice` or function calling (vLLM without `--enable-auto-tool-choice`, Ollama's "does not support
 * tools"). Null for any other failure.
 *
 * @param error what the backend threw
 * @param where the endpoint, credentials removed, for the message
 */
export function toolsUnsupported(error: unknown, where: string): ToolsUnsupportedError | null {
  const { status, message } = failureOf(error);
  if (status !== 400 && status !== 422 && status !== 501) return null;
  if (!/\btools?\b|tool[_ ]choice|tool[_-]call|function[_ ]call/i.test(message)) return null;
  const said = message.replace(/\s+/g, " ").trim().slice(0, 200);
  return new ToolsUnsupportedError(
    `${where} does not accept tool calls (HTTP ${status}: ${said}): ${ENABLE_TOOLS_HINT}`,
  );
}

/**
 * Whether a text answer is a tool call the server failed to parse: Llama's JSON call
 * (`{"name": "execute_sql", "parameters": {...}}`), its `<|python_tag|>` form, or a `<tool_call>` block. A
 * server without a tool-call parser returns these as plain content.
 *
 * @param content the assistant message's text
 * @param toolNames the offered tools' names
 */
export function looksLikeTextToolCall(content: string | null, toolNames: readonly string[]): boolean {
  if (!content) return false;
  if (/<\|python_tag\|>|<tool_call>/.test(content)) return true;
  const text = content.trim().replace(/^```(?:json)?\s*/, "").replace(/\s*```$/, "");
  try {
    const parsed = JSON.parse(text);
    const calls: unknown[] = Array.isArray(parsed) ? parsed : [parsed];
    return calls.length > 0 && calls.every((c) => {
      const call = c as { name?: unknown } | null;
      return typeof call === "object" && call !== null && toolNames.includes(String(call.name)) &&
        ("parameters" in call || "arguments" in call);
    });
  } catch {
    return false;
  }
}

/**
 * A warning for self-consistency at temperature 0, where every sample is the same and the vote is the first
 * sample at K times the cost; null when there is nothing to say.
 *
 * @param n samples per question
 * @param temperature sampling temperature
 */
export function samplingWarning(n: number, temperature: number): string | null {
  if (n <= 1 || temperature > 0) return null;
  return `warning: --n ${n} with temperature 0 gives ${n} identical samples: the vote is the first sample ` +
    `at ${n} times the cost; give --temperature (e.g. 0.8)`;
}

class MalformedReply extends Error {
  override name = "MalformedReply";
}

/**
 * The choices and usage of a chat-completion body, tool calls included. A null content is an empty text (a
 * real answer, e.g. a refusal); a tool call with object arguments (some servers) is re-encoded as JSON text.
 *
 * @param body the parsed response JSON
 * @returns choices in index order, usage
 * @throws {Error} (`MalformedReply`) when the body has no choices or a choice has no message
 */
export function parseChatReply(body: unknown): ChatReply {
  const choices = (body as { choices?: unknown })?.choices;
  if (!Array.isArray(choices) || choices.length === 0) throw new MalformedReply("no choices in the response");
  const sorted = [...choices].sort((a, b) => (Number(a?.index) || 0) - (Number(b?.index) || 0));
  const turns = sorted.map((choice, i): AssistantTurn => {
    const message = choice?.message;
    if (!message || typeof message !== "object") throw new MalformedReply("a choice has no message");
    const content = message.content === undefined || message.content === null
      ? null
      : String(message.content);
    const calls: unknown[] = Array.isArray(message.tool_calls) ? message.tool_calls : [];
    const tool_calls = calls.map((raw, j): ToolCall => {
      const call = raw as { id?: unknown; function?: { name?: unknown; arguments?: unknown } };
      const args = call?.function?.arguments;
      return {
        // Servers that omit ids still need one to pair the tool result with the call.
        id: typeof call?.id === "string" && call.id ? call.id : `call_${i}_${j}`,
        type: "function",
        function: {
          name: String(call?.function?.name ?? ""),
          arguments: typeof args === "string" ? args : JSON.stringify(args ?? {}),
        },
      };
    });
    return { content, tool_calls };
  });
  const usage = (body as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } }).usage;
  return {
    choices: turns,
    usage: { prompt: Number(usage?.prompt_tokens) || 0, completion: Number(usage?.completion_tokens) || 0 },
  };
}

/** The request body of a {@linkcode ChatRequest} for a backend with these model and sampling settings. */
export function requestBody(
  request: ChatRequest,
  settings: { model: string; sampling: Readonly<Record<string, number | null>> },
): Record<string, unknown> {
  const body: Record<string, unknown> = { model: settings.model, messages: request.messages };
  for (const [name, value] of Object.entries(settings.sampling)) if (value !== null) body[name] = value;
  body.n = request.n ?? 1;
  if (request.tools?.length) {
    body.tools = request.tools;
    body.tool_choice = request.toolChoice ?? "auto";
  }
  return body;
}

/**
 * A backend straight over an `npm:openai` client: one call per request, no retries, no concurrency limit.
 * For tests and tools; an evaluation uses the model client's, which retries and scrubs.
 *
 * @param api the OpenAI client (its base URL is the endpoint's)
 * @param settings the model, its identity, the sampling parameters, and the base URL for cache keys
 */
export function openAIBackend(
  api: OpenAI,
  settings: {
    model: string;
    baseUrl: string;
    identity?: object | null;
    sampling?: Readonly<Record<string, number | null>>;
  },
): TurnBackend {
  const sampling = Object.freeze({
    temperature: 0,
    max_tokens: null,
    n: 1,
    top_p: null,
    seed: null,
    ...settings.sampling,
  });
  return {
    baseUrl: settings.baseUrl,
    model: settings.model,
    identity: settings.identity ?? null,
    sampling,
    async send(request) {
      const body = requestBody(request, { model: settings.model, sampling });
      const raw: unknown = await api.chat.completions.create(
        body as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming,
      );
      return parseChatReply(raw);
    },
  };
}

/** Which path K samples take on an endpoint, learnt from its first answer and shared across questions. */
export interface SamplingState {
  /** null: not known yet; false: it returned fewer choices than asked, so ask for one at a time. */
  honoursN: boolean | null;
}

/** K samples of one prompt. */
export interface SampleSet {
  /** K texts, by sample index. */
  texts: string[];
  /** Tokens of the requests behind the samples (the original requests' when cached). */
  usage: Usage;
  /** HTTP requests made now (0 when everything came from the cache). */
  requests: number;
  /** True when no request was made. */
  cached: boolean;
  /** `n`: one request answered all K; `separate`: some or all came one per request; `cache`: a rerun's read. */
  via: "n" | "separate" | "cache";
  ms: number;
}

/** Options of {@linkcode sampleCompletions}. */
export interface SampleOptions {
  /** The completion cache, or null for none (`--no-cache`). */
  cache: TurnCache | null;
  /** Shared across a run's questions, so only the first question asks an endpoint that ignores `n` with it. */
  state?: SamplingState;
}

function keyFor(backend: TurnBackend, messages: ChatMessage[], params: Record<string, unknown>): string {
  return cacheKey({
    baseUrl: backend.baseUrl,
    model: backend.model,
    identity: backend.identity,
    messages,
    params,
  });
}

/**
 * The cache key of sample `index` when samples are requested one at a time: sample 0 is keyed exactly as the
 * plain single-answer request (`n: 1`, what `ModelClient.complete` uses), later ones add `sample_index`, so K
 * identical requests at temperature > 0 get K entries.
 */
export function sampleKey(backend: TurnBackend, messages: ChatMessage[], index: number): string {
  const params: Record<string, unknown> = { ...backend.sampling, n: 1 };
  if (index > 0) params.sample_index = index;
  return keyFor(backend, messages, params);
}

const none: Usage = Object.freeze({ prompt: 0, completion: 0 });

function text(turn: AssistantTurn): string {
  return turn.content ?? "";
}

/**
 * K samples of a prompt, from the cache where possible: first the `n: K` entry, else one request with `n: K`,
 * else, for the samples an endpoint that ignores `n` did not return, one request per sample (started together;
 * the backend bounds concurrency), each cached under {@linkcode sampleKey}. The K texts end up under the `n: K`
 * key too, so a rerun is one cache read.
 *
 * @param messages the prompt
 * @param k samples wanted (≥ 1)
 * @param backend the endpoint
 * @param options the cache and the shared sampling state
 */
export async function sampleCompletions(
  messages: ChatMessage[],
  k: number,
  backend: TurnBackend,
  options: SampleOptions,
): Promise<SampleSet> {
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(`samples per question must be a positive integer, got ${k}`);
  }
  const started = performance.now();
  const { cache } = options;
  const state = options.state ?? { honoursN: null };
  const allKey = keyFor(backend, messages, { ...backend.sampling, n: k });
  const hit = cache ? await cache.get(allKey) : null;
  if (hit && hit.texts.length >= k) {
    return {
      texts: hit.texts.slice(0, k),
      usage: hit.usage,
      requests: 0,
      cached: true,
      via: "cache",
      ms: performance.now() - started,
    };
  }
  const usage: Usage = { prompt: 0, completion: 0 };
  const add = (u: Usage) => {
    usage.prompt += u.prompt;
    usage.completion += u.completion;
  };
  let requests = 0;
  let texts: string[] = [];
  if (state.honoursN !== false && k > 1) {
    const reply = await backend.send({ messages, n: k });
    requests++;
    add(reply.usage);
    texts = reply.choices.slice(0, k).map(text);
    state.honoursN = reply.choices.length >= k;
    // An endpoint that ignored `n` answered a one-sample request: file its answers as such, so a resumed or
    // single-answer run finds them.
    if (cache && !state.honoursN) {
      await Promise.all(
        texts.map((t, i) =>
          cache.put(sampleKey(backend, messages, i), {
            model: backend.model,
            texts: [t],
            usage: i ? none : reply.usage,
          })
        ),
      );
    }
  }
  const via = texts.length >= k ? "n" : "separate";
  const missing = Array.from({ length: k - texts.length }, (_, i) => texts.length + i);
  const more = await Promise.all(missing.map(async (index) => {
    const key = sampleKey(backend, messages, index);
    const entry = cache ? await cache.get(key) : null;
    if (entry && entry.texts.length > 0) return { text: entry.texts[0], usage: entry.usage, fetched: false };
    const reply = await backend.send({ messages, n: 1 });
    const got = { text: text(reply.choices[0]), usage: reply.usage, fetched: true };
    if (cache) await cache.put(key, { model: backend.model, texts: [got.text], usage: got.usage });
    return got;
  }));
  for (const m of more) {
    texts.push(m.text);
    add(m.usage);
    if (m.fetched) requests++;
  }
  if (cache && k > 1) await cache.put(allKey, { model: backend.model, texts, usage });
  return { texts, usage, requests, cached: requests === 0, via, ms: performance.now() - started };
}

/** One turn of a tool conversation. */
export interface ChatTurn {
  message: AssistantTurn;
  /** Tokens of this turn's request (the original's when cached). */
  usage: Usage;
  /** True when served from the cache: no request was made. */
  cached: boolean;
  ms: number;
}

/** A function answering one turn of a tool conversation. */
export type ToolChat = (request: { messages: WireMessage[]; tools: ToolSpec[] }) => Promise<ChatTurn>;

/**
 * The cache key of one tool turn: the whole transcript (assistant tool calls and tool results with their ids,
 * which `cacheKey`'s role-and-content messages would drop) and the tool spec go in with the sampling.
 */
export function turnKey(backend: TurnBackend, messages: WireMessage[], tools: ToolSpec[]): string {
  return keyFor(backend, [], { ...backend.sampling, n: 1, tool_turn: 1, transcript: messages, tools });
}

/** The assistant turn stored in a cache entry's one text, or null when it is not one (a miss). */
function storedTurn(entry: CacheEntry | null): AssistantTurn | null {
  if (!entry || entry.texts.length !== 1) return null;
  try {
    const turn = JSON.parse(entry.texts[0]) as AssistantTurn;
    if (!Array.isArray(turn?.tool_calls) || (turn.content !== null && typeof turn.content !== "string")) {
      return null;
    }
    return turn;
  } catch {
    return null;
  }
}

/**
 * A {@linkcode ToolChat} over a backend, caching each turn under {@linkcode turnKey} (the assistant message is
 * stored as JSON in the entry's one text). A refusal that means "no tool calls" becomes a
 * {@linkcode ToolsUnsupportedError}.
 *
 * @param backend the endpoint
 * @param options the cache (null for none) and the endpoint as it may be shown (credentials removed)
 */
export function createToolChat(
  backend: TurnBackend,
  options: { cache: TurnCache | null; where?: string },
): ToolChat {
  const where = options.where ?? "the endpoint";
  return async ({ messages, tools }) => {
    const started = performance.now();
    const key = options.cache ? turnKey(backend, messages, tools) : null;
    if (key) {
      const entry = await options.cache!.get(key);
      const turn = storedTurn(entry);
      if (turn) return { message: turn, usage: entry!.usage, cached: true, ms: performance.now() - started };
    }
    let reply: ChatReply;
    try {
      reply = await backend.send({ messages, tools, n: 1 });
    } catch (e) {
      throw toolsUnsupported(e, where) ?? e;
    }
    const message = reply.choices[0];
    if (key) {
      await options.cache!.put(key, {
        model: backend.model,
        texts: [JSON.stringify(message)],
        usage: reply.usage,
      });
    }
    return { message, usage: reply.usage, cached: false, ms: performance.now() - started };
  };
}

/**
 * The start-up check of agent mode: one turn asking the model to call the tool. It passes when a tool call
 * comes back; it fails with a {@linkcode ToolsUnsupportedError} when the endpoint refuses tools, returns the
 * call as text (no tool-call parser), or ignores the tool. Cached like any turn, so a rerun makes no request.
 *
 * @param chat the run's tool chat
 * @param tool the tool the run offers
 * @param where the endpoint as it may be shown
 */
export async function probeTools(chat: ToolChat, tool: ToolSpec, where: string): Promise<void> {
  const name = tool.function.name;
  const turn = await chat({
    messages: [
      { role: "system", content: `You have one tool, ${name}. Call it when asked.` },
      { role: "user", content: `Call ${name} with the query SELECT 1. Answer only with the tool call.` },
    ],
    tools: [tool],
  });
  if (turn.message.tool_calls.some((c) => c.function.name === name)) return;
  if (looksLikeTextToolCall(turn.message.content, [name])) {
    throw new ToolsUnsupportedError(
      `${where} returns tool calls as plain text (no tool-call parser): ${ENABLE_TOOLS_HINT}`,
    );
  }
  throw new ToolsUnsupportedError(
    `${where} answered a request to call ${name} without a tool call (tools ignored?): ${ENABLE_TOOLS_HINT}`,
  );
}
