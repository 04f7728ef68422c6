/**
 * Tool turns (OpenAI tools protocol): {@linkcode createToolChat} answers one turn of a conversation carrying
 * the `tools` spec and returning `tool_calls`, each turn cached under the whole transcript (tool calls and tool
 * results included) and the tool spec, so a rerun replays a trajectory with zero requests; and the agent
 * mode's start-up probe. An endpoint that does not support tools is told apart from a model error:
 * {@linkcode ToolsUnsupportedError}, one line saying what to enable.
 *
 * @module
 */
import type { CacheEntry } from "./cache.ts";
import {
  type AssistantTurn,
  backendKey,
  type ChatReply,
  type ToolSpec,
  type TurnBackend,
  type TurnCache,
  type WireMessage,
} from "./chat_wire.ts";
import type { Usage } from "../types.ts";

/** An endpoint (or a server's configuration) that cannot do tool calls. The message is one line. */
export class ToolsUnsupportedError extends Error {
  override name = "ToolsUnsupportedError";
}

/** What to enable, said once for every way an endpoint can lack tool calls. */
export const ENABLE_TOOLS_HINT =
  "serve the model with tool calling enabled, e.g. vLLM --enable-auto-tool-choice --tool-call-parser llama3_json " +
  "(Ollama: a model whose template supports tools)";

/** Status and message of a failed request, as `npm:openai` and `GenerationError` (errors.ts) carry them. */
function failureOf(error: unknown): { status: number | null; message: string } {
  const e = error as { status?: unknown; reason?: unknown; message?: unknown };
  return {
    status: typeof e?.status === "number" ? e.status : null,
    // npm:openai prefixes the status ("400 …"), GenerationError says "HTTP 400: …": our message says it once.
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
  return backendKey(backend, {
    messages: [],
    params: { ...backend.sampling, n: 1, tool_turn: 1, transcript: messages, tools },
  });
}

/** A turn with its content, tool names, ids and arguments scrubbed. */
function scrubTurn(turn: AssistantTurn, scrub: (text: string) => string): AssistantTurn {
  return {
    content: turn.content === null ? null : scrub(turn.content),
    tool_calls: turn.tool_calls.map((c) => ({
      ...c,
      id: scrub(String(c.id)),
      function: { name: scrub(String(c.function?.name)), arguments: scrub(String(c.function?.arguments)) },
    })),
  };
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
      const stored = storedTurn(entry);
      // Scrubbed again: an entry written before a secret was known (or by another tool) may still hold it.
      const turn = stored && backend.scrub ? scrubTurn(stored, (t) => backend.scrub!(t)) : stored;
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
