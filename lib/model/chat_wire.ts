/**
 * A chat exchange of any shape on the wire (tool turns and `n` samples included): the message and reply types,
 * the request body, the reply parser, the {@linkcode TurnBackend} that sends one (the model client is one;
 * {@linkcode openAIBackend} is a direct one), and the cache key of a request to it.
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
 * HTTP refusal carries its `status` (as `npm:openai`'s `APIError` and `GenerationError` (errors.ts) do).
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
  /** The backend's scrubber (the model client's), applied to turns served from the cache too. */
  scrub?(text: string): string;
}

/** The slice of `CompletionCache` (lib/model/cache.ts) these functions use. */
export interface TurnCache {
  get(key: string): Promise<CacheEntry | null>;
  put(key: string, entry: Omit<CacheEntry, "key" | "version" | "created_at">): Promise<void>;
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

/**
 * The cache key of a request to a backend: its base URL, model and identity with these messages and parameters.
 *
 * @param backend the endpoint
 * @param request the messages (role and content) and every parameter that selects the answer
 */
export function backendKey(
  backend: TurnBackend,
  request: { messages: ChatMessage[]; params: Record<string, unknown> },
): string {
  return cacheKey({
    baseUrl: backend.baseUrl,
    model: backend.model,
    identity: backend.identity,
    messages: request.messages,
    params: request.params,
  });
}
