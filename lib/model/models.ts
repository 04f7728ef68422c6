/**
 * Chat models behind any OpenAI-compatible endpoint (Meta's Llama API, Together, OpenAI, or a self-hosted
 * vLLM / Ollama / llama.cpp server) over `npm:openai`, with what an evaluation of hundreds of paid requests
 * needs: a start-up check that fails fast on a wrong key, URL or model; a context-length check before any paid
 * request; a shared concurrency limit; retries with exponential backoff and full jitter honouring
 * `Retry-After`; a per-request timeout; the on-disk completion cache; token and cost accounting.
 *
 * API keys come from the environment only and never appear in anything this module writes or throws: every
 * error message is scrubbed of the key before it leaves.
 *
 * @module
 */

import OpenAI, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  PermissionDeniedError,
} from "openai";
import { cacheKey, CompletionCache } from "./cache.ts";
import { createLimiter, type Limiter } from "./limiter.ts";
export type { Usage };
import { type ChatReply, type ChatRequest, parseChatReply, requestBody } from "./model_turns.ts";
import type { ChatMessage, Usage } from "../types.ts";

/** The providers we know; `openai-compatible` is any server at `--base-url`. */
export type Provider = "llama-api" | "together" | "openai" | "openai-compatible";

/** The known providers, for flag validation and help text. */
export const PROVIDERS: readonly Provider[] = ["llama-api", "together", "openai", "openai-compatible"];

/** Base URL and key variable of each hosted provider. */
export const PROVIDER_DEFAULTS: Readonly<Record<Provider, { baseUrl: string | null; keyEnv: string }>> = {
  "llama-api": { baseUrl: "https://api.llama.com/compat/v1/", keyEnv: "LLAMA_API_KEY" },
  "together": { baseUrl: "https://api.together.xyz/v1", keyEnv: "TOGETHER_API_KEY" },
  "openai": { baseUrl: "https://api.openai.com/v1", keyEnv: "OPENAI_API_KEY" },
  "openai-compatible": { baseUrl: null, keyEnv: "OPENAI_API_KEY" },
};

/** The key sent to a self-hosted server when `OPENAI_API_KEY` is unset (vLLM and Ollama accept anything). */
const PLACEHOLDER_KEY = "none";

/** Price of a model in USD per million tokens. */
export interface Prices {
  prompt_per_mtok: number;
  completion_per_mtok: number;
}

/** How to reach a model and sample from it (the `deno task eval` model flags). */
export interface ModelConfig {
  /** Provider; `openai-compatible` when only `baseUrl` is given. */
  provider?: Provider;
  /** Overrides the provider's base URL (`--base-url`); required for `openai-compatible`. */
  baseUrl?: string;
  /** Model name as the provider knows it. */
  model: string;
  /** Sampling temperature (default 0). */
  temperature?: number;
  /** `max_tokens` per request; null leaves it to the server. */
  maxTokens?: number | null;
  /** Samples per prompt (default 1). */
  n?: number;
  /** Nucleus sampling; sent (and part of the cache key) only when set. */
  topP?: number;
  /** Sampling seed; sent (and part of the cache key) only when set. */
  seed?: number;
  /** Requests in flight at once, shared by every caller of one client (default 8). */
  concurrency?: number;
  /** Seconds before one API call is abandoned and retried (default 120). */
  requestTimeoutS?: number;
  /** Retries after the first attempt for transient failures (default 6). */
  maxRetries?: number;
  /** Use the on-disk completion cache (default true; `--no-cache` sets false). */
  cache?: boolean;
  /** Cache folder (default `$XDG_CACHE_HOME/text2sql/completions`). */
  cacheDir?: string;
  /** Price table for cost accounting; without it costs are null. */
  prices?: Prices;
}

/** Where requests go and which environment variable holds the key. */
export interface ResolvedProvider {
  provider: Provider;
  /** Base URL, without a trailing slash. */
  baseUrl: string;
  /** Name of the environment variable the key comes from. */
  keyEnv: string;
  /** Whether a real key was found (false: the placeholder is sent to a self-hosted server). */
  hasKey: boolean;
}

/** Test and tuning knobs that are not user flags. */
export interface ModelClientOptions {
  /** Reads an environment variable (default `Deno.env.get`). */
  env?: (name: string) => string | undefined;
  /** First backoff step in ms (default 1000); the n-th retry waits up to base × 2^(n-1), full jitter. */
  backoffBaseMs?: number;
  /** Largest backoff in ms (default 60 000). */
  backoffMaxMs?: number;
  /** Largest `Retry-After` honoured, in ms (default 60 000); a server asking for longer gets this. */
  retryAfterCapMs?: number;
  /** Timeout of the start-up `GET /models`, seconds (default min(30, requestTimeoutS)). */
  startupTimeoutS?: number;
  /** Random source for jitter (default `Math.random`). */
  random?: () => number;
  /** Custom fetch, passed to `npm:openai`. */
  fetch?: typeof fetch;
}

/** The model's identity as the server reports it in `/v1/models`; part of the cache key. */
export interface ModelIdentity {
  id: string;
  root: string | null;
  parent: string | null;
  owned_by: string | null;
  /** Creation time, when the server reports a stable one (vLLM and llama.cpp stamp "now": dropped). */
  created: number | null;
}

/** The answer to one prompt. */
export interface Completion {
  /** The n sampled texts, in choice order (the first is scored). */
  texts: string[];
  /** Tokens reported by the API for the successful request (the original request's when cached). */
  usage: Usage;
  /** True when served from the cache (or from an identical request in flight): no request was made. */
  cached: boolean;
  /** API calls made for this completion (0 when cached). */
  attempts: number;
  /** Milliseconds from getting a concurrency slot to the answer, retries included (cache lookup when cached). */
  ms: number;
}

/** A prompt the context-length check flags. */
export interface ContextOverflow {
  /** Position of the prompt in the list given to `checkContext`. */
  index: number;
  /** Estimated prompt tokens (chars / 3.5 plus per-message overhead): an estimate, not a tokenizer count. */
  estimatedPromptTokens: number;
  /** Tokens reserved for the answer (`maxTokens`, 0 when unset). */
  reservedTokens: number;
  contextWindow: number;
}

/** Totals over the life of a client. */
export interface ClientTotals {
  /** Tokens of requests actually made (cache hits excluded: they cost nothing). */
  usage: Usage;
  /** HTTP calls to the chat endpoint. */
  requests: number;
  /** Completions served from the cache. */
  cacheHits: number;
  /** Attempts that failed transiently and were retried. */
  retries: number;
  /** Completions that finally failed. */
  failures: number;
}

/** A failure to set up the client: missing key, wrong key, unreachable URL, unknown model. One line. */
export class StartupError extends Error {
  /** Creates the error; `message` must already be scrubbed. */
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

/** A prompt whose generation finally failed: after the last retry, or at once for a non-retryable 4xx. */
export class GenerationError extends Error {
  /** The reason, one line, key scrubbed (e.g. `HTTP 429: rate limit reached`, `timeout after 120 s`). */
  readonly reason: string;
  /** HTTP status of the last failure, when there was a response. */
  readonly status: number | null;
  /** API calls made. */
  readonly attempts: number;
  /** Whether the last failure was transient (we gave up after retrying) rather than a refusal. */
  readonly transient: boolean;

  /** Creates the error from an already scrubbed reason. */
  constructor(reason: string, options: { status: number | null; attempts: number; transient: boolean }) {
    super(
      options.transient
        ? `generation failed after ${options.attempts} attempt${options.attempts === 1 ? "" : "s"}: ${reason}`
        : `generation failed: ${reason}`,
    );
    this.name = "GenerationError";
    this.reason = reason;
    this.status = options.status;
    this.attempts = options.attempts;
    this.transient = options.transient;
  }
}

/**
 * Context windows of well-known models, used when the server does not report one. Matched in order against the
 * lower-cased model name; the first pattern that matches wins. Hosted providers often serve less than a model's
 * nominal window, so Llama 4 is listed at 128k, what Meta's Llama API serves.
 */
export const KNOWN_CONTEXT_WINDOWS: ReadonlyArray<readonly [RegExp, number]> = [
  [/llama[-_ ]?4/, 131072],
  [/llama[-_ ]?3\.[1-3]/, 131072],
  [/llama[-_ ]?3\b|llama3(?![.\d])|meta-llama-3-/, 8192],
  [/codellama|code-llama/, 16384],
  [/llama[-_ ]?2/, 4096],
  [/gpt-4\.1/, 1047576],
  [/gpt-5/, 400000],
  [/gpt-4o|gpt-4-turbo|chatgpt-4o/, 128000],
  [/gpt-4-32k/, 32768],
  [/gpt-4(?![.\w])/, 8192],
  [/gpt-3\.5-turbo/, 16385],
  [/\bo[134](-mini|-pro)?\b/, 200000],
];

/**
 * Resolves a config's provider to a base URL and key variable.
 *
 * @throws {StartupError} when the provider is unknown, `openai-compatible` lacks a base URL, or a hosted
 * provider's key variable is unset.
 */
export function resolveProvider(
  config: ModelConfig,
  options: Pick<ModelClientOptions, "env"> = {},
): ResolvedProvider {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const provider = config.provider ?? (config.baseUrl ? "openai-compatible" : undefined);
  if (!provider) {
    throw new StartupError(
      "no provider: give --provider llama-api|together|openai, or --base-url for a local server",
    );
  }
  if (!PROVIDERS.includes(provider)) {
    throw new StartupError(
      `unknown provider ${JSON.stringify(provider)}; expected one of ${PROVIDERS.join(", ")}`,
    );
  }
  const defaults = PROVIDER_DEFAULTS[provider];
  const baseUrl = config.baseUrl ?? defaults.baseUrl;
  if (!baseUrl) {
    throw new StartupError("provider openai-compatible needs --base-url (e.g. http://127.0.0.1:8000/v1)");
  }
  try {
    const url = new URL(baseUrl);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error();
  } catch {
    throw new StartupError(
      `invalid base URL ${JSON.stringify(redactUrl(baseUrl))}: expected http(s)://host[:port]/v1`,
    );
  }
  const key = env(defaults.keyEnv);
  if (!key && provider !== "openai-compatible") {
    throw new StartupError(
      `provider ${provider} needs an API key: set the environment variable ${defaults.keyEnv}`,
    );
  }
  return { provider, baseUrl: baseUrl.replace(/\/+$/, ""), keyEnv: defaults.keyEnv, hasKey: Boolean(key) };
}

/** Estimated tokens of a prompt: chars / 3.5 plus 4 per message for the chat template. An estimate only. */
export function estimateTokens(messages: ChatMessage[]): number {
  const chars = messages.reduce((sum, m) => sum + m.content.length, 0);
  return Math.ceil(chars / 3.5) + 4 * messages.length;
}

/** The built-in context window of a model name, or null when unknown. */
export function knownContextWindow(model: string): number | null {
  const name = model.toLowerCase();
  for (const [pattern, window] of KNOWN_CONTEXT_WINDOWS) if (pattern.test(name)) return window;
  return null;
}

/**
 * A base URL safe to write down (run.json, dataset.json, reports): user info removed and every query value
 * replaced, since self-hosted gateways often take a key as `https://user:pass@host` or `?key=…`.
 */
export function publicBaseUrl(baseUrl: string): string {
  try {
    const url = new URL(baseUrl);
    url.username = "";
    url.password = "";
    for (const key of [...url.searchParams.keys()]) url.searchParams.set(key, "REDACTED");
    return url.toString().replace(/\/+$/, "");
  } catch {
    return baseUrl.replace(/\/\/[^/@]*@/, "//").replace(/\?.*$/, "").replace(/\/+$/, "");
  }
}

/** Replaces every occurrence of each secret (length ≥ 4) in `text` with `[redacted]`. */
export function redact(text: string, secrets: Array<string | null | undefined>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join("[redacted]");
  }
  return out;
}

function redactUrl(url: string): string {
  // User info and query values: self-hosted gateways take keys as `//user:pass@host` or `?key=…`.
  return url.replace(/\/\/[^/@\s]*@/g, "//[redacted]@").replace(
    /(https?:\/\/[^\s?#"']*\?[^\s#"']*)/g,
    (u) => u.replace(/([?&][^=&\s]+=)[^&\s#"']*/g, "$1[redacted]"),
  );
}

/**
 * The secret values of a client: the API key in use and the credentials a base URL may carry (user, password,
 * every query value; raw and percent-decoded), longest first so a secret containing another goes whole.
 */
export function secretValues(apiKey: string | null, baseUrl: string): string[] {
  const out = new Set<string>();
  if (apiKey) out.add(apiKey);
  try {
    const url = new URL(baseUrl);
    const values = [url.username, url.password, ...url.searchParams.values()];
    for (const raw of values) {
      if (!raw) continue;
      out.add(raw);
      try {
        out.add(decodeURIComponent(raw));
      } catch {
        // A malformed escape: the raw form is what can appear.
      }
    }
    for (const part of url.search.slice(1).split("&")) {
      const value = part.slice(part.indexOf("=") + 1);
      if (part.includes("=") && value) out.add(value);
    }
  } catch {
    // Not a URL: resolveProvider refuses it before any request.
  }
  return [...out].sort((a, b) => b.length - a.length);
}

/** What every message we emit goes through: our secrets, URL credentials and bearer tokens removed; one line. */
function scrubMessage(text: string, secrets: readonly string[]): string {
  return oneLine(redactUrl(redact(text, [...secrets])).replace(/\b(Bearer)\s+[^\s"',;]+/gi, "$1 [redacted]"));
}

/** One line, bounded: provider messages can be long HTML pages or multi-line stacks. */
function oneLine(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? flat.slice(0, max - 1) + "…" : flat;
}

interface Classified {
  reason: string;
  status: number | null;
  transient: boolean;
  retryAfterMs: number | null;
}

/** Statuses worth retrying: timeouts, conflicts, rate limits and every server error. */
function transientStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * `Retry-After` (seconds or an HTTP date) or OpenAI's `retry-after-ms`, in ms; null when absent or unparsable.
 */
export function parseRetryAfter(headers: Headers | null | undefined, now = Date.now()): number | null {
  if (!headers) return null;
  const ms = headers.get("retry-after-ms");
  if (ms !== null && ms.trim() !== "" && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const value = headers.get("retry-after");
  if (value === null || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function causeMessage(error: unknown): string {
  const cause = (error as { cause?: unknown })?.cause;
  if (cause instanceof Error && cause.message) return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** The reason, status and retry decision for an error thrown by one API call. */
function classify(error: unknown, timedOut: boolean, timeoutS: number): Classified {
  if (timedOut || error instanceof APIConnectionTimeoutError) {
    return { reason: `timeout after ${timeoutS} s`, status: null, transient: true, retryAfterMs: null };
  }
  if (error instanceof APIConnectionError || error instanceof APIUserAbortError) {
    return {
      reason: `connection error: ${causeMessage(error)}`,
      status: null,
      transient: true,
      retryAfterMs: null,
    };
  }
  if (error instanceof APIError && typeof error.status === "number") {
    const status = error.status;
    const message = error.message.replace(/^\d{3}\s+/, "");
    return {
      reason: `HTTP ${status}: ${message}`,
      status,
      transient: transientStatus(status),
      retryAfterMs: parseRetryAfter(error.headers),
    };
  }
  if (error instanceof MalformedResponse) {
    return {
      reason: `malformed response: ${error.message}`,
      status: 200,
      transient: true,
      retryAfterMs: null,
    };
  }
  if (error instanceof SyntaxError) {
    return {
      reason: `malformed response: body is not JSON (${error.message})`,
      status: 200,
      transient: true,
      retryAfterMs: null,
    };
  }
  // Errors reading the body (a dropped connection surfaces as a TypeError from fetch's body stream).
  return {
    reason: `connection error: ${error instanceof Error ? error.message : String(error)}`,
    status: null,
    transient: true,
    retryAfterMs: null,
  };
}

class MalformedResponse extends Error {}

/** The texts and usage of a chat-completion body, or throws MalformedResponse. */
function parseCompletionBody(body: unknown): { texts: string[]; usage: Usage } {
  if (body === null || typeof body !== "object") {
    const shown = typeof body === "string" ? `${JSON.stringify(body.slice(0, 60))}` : String(body);
    throw new MalformedResponse(`expected a JSON object, got ${shown}`);
  }
  const choices = (body as { choices?: unknown }).choices;
  if (!Array.isArray(choices) || choices.length === 0) {
    throw new MalformedResponse("no choices in the response");
  }
  const sorted = [...choices].sort((a, b) => (Number(a?.index) || 0) - (Number(b?.index) || 0));
  const texts = sorted.map((choice) => {
    const message = choice?.message;
    if (!message || typeof message !== "object") throw new MalformedResponse("a choice has no message");
    const content = (message as { content?: unknown }).content;
    // A null content is a real (empty) answer, e.g. a refusal: score it, do not retry it.
    if (content === null || content === undefined) return "";
    if (typeof content !== "string") throw new MalformedResponse("message content is not a string");
    return content;
  });
  const usage = (body as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } }).usage;
  return {
    texts,
    usage: { prompt: Number(usage?.prompt_tokens) || 0, completion: Number(usage?.completion_tokens) || 0 },
  };
}

/**
 * Full-jitter backoff (AWS) before retry `attempt` (1-based): uniform in [0, min(cap, base·2^(attempt-1))], so
 * clients that failed together spread out. Shared by the start-up listing and the chat requests.
 */
function backoffMs(options: ModelClientOptions, attempt: number): number {
  const base = options.backoffBaseMs ?? 1000;
  const cap = options.backoffMaxMs ?? 60_000;
  return (options.random ?? Math.random)() * Math.min(cap, base * 2 ** (attempt - 1));
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done);
  });
}

type FullConfig = ModelConfig & { requestTimeoutS: number; maxRetries: number };

/** Fields of a `/v1/models` entry that carry a context window, in order of preference. */
const WINDOW_FIELDS = ["max_model_len", "context_length", "context_window", "max_context_length"];

/** Servers that stamp `created` with the time of the listing, so it cannot be part of an identity. */
const DYNAMIC_CREATED_OWNERS = new Set(["vllm", "llamacpp", "sglang", "lmstudio"]);

/**
 * A client for one model: start-up check, context check, concurrent cached completions with retries.
 * Create it with {@linkcode ModelClient.create}.
 */
export class ModelClient {
  /** Resolved provider and base URL. */
  readonly provider: ResolvedProvider;
  /** The model name. */
  readonly model: string;
  /** The model's identity from `/v1/models`, or null when the server does not list models. */
  readonly identity: ModelIdentity | null;
  /** Context window in tokens, from the server, else the built-in table, else null. */
  readonly contextWindow: number | null;
  /** Where `contextWindow` came from. */
  readonly contextWindowSource: "server" | "table" | null;
  /** The sampling parameters sent with every request (and part of the cache key). */
  readonly sampling: Readonly<Record<string, number | null>>;

  readonly #config: FullConfig;
  readonly #options: ModelClientOptions;
  readonly #api: OpenAI;
  readonly #secrets: readonly string[];
  readonly #limiter: Limiter;
  readonly #cache: CompletionCache | null;
  readonly #inflight = new Map<string, Promise<Completion>>();
  #lastWaitNotice = -Infinity;
  readonly #totals: ClientTotals = {
    usage: { prompt: 0, completion: 0 },
    requests: 0,
    cacheHits: 0,
    retries: 0,
    failures: 0,
  };
  #cacheWarned = false;
  /** Aborted by {@linkcode ModelClient.stop}. */
  readonly #stopping = new AbortController();

  private constructor(init: {
    provider: ResolvedProvider;
    config: FullConfig;
    options: ModelClientOptions;
    api: OpenAI;
    secrets: readonly string[];
    identity: ModelIdentity | null;
    contextWindow: number | null;
    contextWindowSource: "server" | "table" | null;
  }) {
    this.provider = init.provider;
    this.model = init.config.model;
    this.identity = init.identity;
    this.contextWindow = init.contextWindow;
    this.contextWindowSource = init.contextWindowSource;
    this.#config = init.config;
    this.#options = init.options;
    this.#api = init.api;
    this.#secrets = init.secrets;
    this.#limiter = createLimiter(init.config.concurrency ?? 8);
    this.#cache = init.config.cache === false ? null : new CompletionCache({ dir: init.config.cacheDir });
    this.sampling = Object.freeze({
      temperature: init.config.temperature ?? 0,
      max_tokens: init.config.maxTokens ?? null,
      n: init.config.n ?? 1,
      top_p: init.config.topP ?? null,
      seed: init.config.seed ?? null,
    });
  }

  /**
   * Resolves the provider and performs the start-up check (`GET /models`): fails fast with a one-line
   * {@linkcode StartupError} on a missing or wrong key (401/403), an unreachable URL, or a model the server does
   * not list (naming a few it does). A server answering 404 to `/models` (some hosted APIs) is accepted with an
   * unknown identity; the first real request then surfaces any error.
   *
   * @param config Provider, model, sampling and client settings.
   * @param options Tuning knobs for tests (backoff, env, fetch).
   */
  static async create(config: ModelConfig, options: ModelClientOptions = {}): Promise<ModelClient> {
    const provider = resolveProvider(config, options);
    const env = options.env ?? ((name: string) => Deno.env.get(name));
    const secret = env(provider.keyEnv) || null;
    const full = {
      ...config,
      requestTimeoutS: config.requestTimeoutS ?? 120,
      maxRetries: config.maxRetries ?? 6,
    };
    validateConfig(full);
    const hosted = provider.provider === "openai";
    const api = new OpenAI({
      baseURL: provider.baseUrl,
      apiKey: secret ?? PLACEHOLDER_KEY,
      // Other OPENAI_* variables the library reads (admin key, organisation) are for OpenAI itself only.
      adminAPIKey: null,
      ...(hosted ? {} : { organization: null, project: null }),
      maxRetries: 0,
      timeout: full.requestTimeoutS * 1000,
      logLevel: "off",
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    const secrets = secretValues(secret, provider.baseUrl);
    const scrub = (text: string) => scrubMessage(text, secrets);
    const listing = await listModels(api, provider, full, options, scrub);
    let identity: ModelIdentity | null = null;
    let contextWindow: number | null = null;
    let contextWindowSource: "server" | "table" | null = null;
    if (listing !== null) {
      const entry = listing.find((m) => m.id === config.model) ??
        listing.find((m) => m.id === `${config.model}:latest`);
      if (!entry) {
        throw new StartupError(scrub(unknownModelMessage(config.model, provider.baseUrl, listing)));
      }
      identity = identityOf(entry);
      for (const field of WINDOW_FIELDS) {
        const value = Number(entry[field]);
        if (Number.isInteger(value) && value > 0) {
          contextWindow = value;
          contextWindowSource = "server";
          break;
        }
      }
    }
    if (contextWindow === null) {
      contextWindow = knownContextWindow(config.model);
      if (contextWindow !== null) contextWindowSource = "table";
    }
    return new ModelClient({
      provider,
      config: full,
      options,
      api,
      secrets,
      identity,
      contextWindow,
      contextWindowSource,
    });
  }

  /** The identity as one canonical JSON string (for `run.json`'s `model_identity`), or null. */
  get identityLabel(): string | null {
    if (!this.identity) return null;
    const { id, root, parent, owned_by, created } = this.identity;
    return JSON.stringify({ id, root, parent, owned_by, created });
  }

  /** The base URL requests go to (with any credentials it carries: for cache keys, which strip them). */
  get baseUrl(): string {
    return this.provider.baseUrl;
  }

  /** The completion cache (null with `cache: false`), for the callers that cache their own requests. */
  get cache(): CompletionCache | null {
    return this.#cache;
  }

  /** Totals so far (a copy). */
  get totals(): ClientTotals {
    return { ...this.#totals, usage: { ...this.#totals.usage } };
  }

  /**
   * The prompts that would overflow the model's context window: estimated prompt tokens plus the tokens
   * reserved for the answer exceed the window. Call it before generating so overflowing questions are
   * flagged before any paid request. Returns none when the window is unknown.
   *
   * @param prompts One message list per question.
   * @param maxTokens Tokens reserved for the answer (default the config's `maxTokens`, 0 when unset).
   */
  checkContext(
    prompts: ChatMessage[][],
    maxTokens: number | null = this.#config.maxTokens ?? null,
  ): ContextOverflow[] {
    const window = this.contextWindow;
    if (window === null) return [];
    const reserved = maxTokens ?? 0;
    const overflows: ContextOverflow[] = [];
    prompts.forEach((messages, index) => {
      const estimated = estimateTokens(messages);
      if (estimated + reserved > window) {
        overflows.push({
          index,
          estimatedPromptTokens: estimated,
          reservedTokens: reserved,
          contextWindow: window,
        });
      }
    });
    return overflows;
  }

  /**
   * The model's answer to one prompt: from the cache when present (no request, no concurrency slot), else from
   * the API within the shared concurrency limit, retrying 429, 5xx, timeouts, connection errors and malformed
   * bodies with exponential backoff and full jitter (honouring `Retry-After`). Identical prompts in flight at
   * once share one request.
   *
   * @throws {GenerationError} after the last retry, or at once on 400/401/403/404 and other refusals.
   */
  async complete(messages: ChatMessage[]): Promise<Completion> {
    if (!this.#cache) return await this.#limiter.run(() => this.#fetchWithRetries(messages));
    const started = performance.now();
    const key = cacheKey({
      baseUrl: this.provider.baseUrl,
      model: this.model,
      identity: this.identity,
      messages,
      params: { ...this.sampling },
    });
    const hit = await this.#cache.get(key);
    if (hit) {
      this.#totals.cacheHits++;
      return {
        // Scrubbed again: an entry written before completions were scrubbed may still hold a secret.
        texts: hit.texts.map((t) => redact(t, [...this.#secrets])),
        usage: hit.usage,
        cached: true,
        attempts: 0,
        ms: performance.now() - started,
      };
    }
    const pending = this.#inflight.get(key);
    if (pending) {
      const shared = await pending;
      this.#totals.cacheHits++;
      return {
        ...shared,
        texts: [...shared.texts],
        cached: true,
        attempts: 0,
        ms: performance.now() - started,
      };
    }
    const request = this.#limiter.run(() => this.#fetchWithRetries(messages)).then(async (completion) => {
      try {
        await this.#cache!.put(key, { model: this.model, texts: completion.texts, usage: completion.usage });
      } catch (e) {
        // A full disk must not lose an answer already paid for: warn once and carry on uncached.
        if (!this.#cacheWarned) {
          this.#cacheWarned = true;
          console.error(
            `warning: completion cache not written (${scrubMessage(String(e), this.#secrets)})`,
          );
        }
      }
      return completion;
    });
    this.#inflight.set(key, request);
    try {
      return await request;
    } finally {
      this.#inflight.delete(key);
    }
  }

  /**
   * One chat exchange of any shape (tool turns, `n` samples), uncached (the callers in `model_turns.ts` cache
   * it), with the same concurrency limit, retries, timeout, secret scrubbing and totals as
   * {@linkcode ModelClient.complete}. A reply without choices counts as a transient failure.
   *
   * @throws {GenerationError} after the last retry, or at once on a refusal (a 400 naming tools included)
   */
  async send(request: ChatRequest): Promise<ChatReply> {
    const body = requestBody(request, { model: this.model, sampling: this.sampling });
    const { value } = await this.#limiter.run(() =>
      this.#exchange(body, (raw) => {
        let reply: ChatReply;
        try {
          reply = parseChatReply(raw);
        } catch (e) {
          throw new MalformedResponse((e as Error).message);
        }
        return { value: reply, usage: reply.usage };
      })
    );
    const clean = (t: string) => redact(t, [...this.#secrets]);
    return {
      usage: value.usage,
      // A model can echo a key it was shown in a tool call as well as in text.
      choices: value.choices.map((c) => ({
        content: c.content === null ? null : clean(c.content),
        tool_calls: c.tool_calls.map((t) => ({
          ...t,
          function: { name: t.function.name, arguments: clean(t.function.arguments) },
        })),
      })),
    };
  }

  /**
   * Give up on the endpoint (a run stopping on consecutive failures): requests in flight are abandoned, retry
   * waits cut short, and every call from now on fails at once with a {@linkcode GenerationError}, so stopping
   * does not wait out anyone's backoff. Cache hits are still served.
   */
  stop(): void {
    this.#stopping.abort();
  }

  /** Cost in USD of some usage by the configured price table, or null without one. */
  costUsd(usage: Usage): number | null {
    const prices = this.#config.prices;
    if (!prices) return null;
    return (usage.prompt * prices.prompt_per_mtok + usage.completion * prices.completion_per_mtok) / 1e6;
  }

  async #fetchWithRetries(messages: ChatMessage[]): Promise<Completion> {
    const body: Record<string, unknown> = {
      model: this.model,
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      temperature: this.sampling.temperature,
      n: this.sampling.n,
    };
    if (this.sampling.max_tokens !== null) body.max_tokens = this.sampling.max_tokens;
    if (this.sampling.top_p !== null) body.top_p = this.sampling.top_p;
    if (this.sampling.seed !== null) body.seed = this.sampling.seed;
    const { value: texts, usage, attempts, ms } = await this.#exchange(body, (raw) => {
      const parsed = parseCompletionBody(raw);
      return { value: parsed.texts, usage: parsed.usage };
    });
    // A model can echo a key it was shown (or a gateway can inject one): never let it reach a file.
    return { texts: texts.map((t) => redact(t, [...this.#secrets])), usage, cached: false, attempts, ms };
  }

  /**
   * One request body sent with retries: what `complete` and `send` share. `parse` throws
   * `MalformedResponse` on a body it cannot read (retried as transient); tokens go to the totals.
   */
  async #exchange<T>(
    body: Record<string, unknown>,
    parse: (raw: unknown) => { value: T; usage: Usage },
  ): Promise<{ value: T; usage: Usage; attempts: number; ms: number }> {
    const started = performance.now();
    const timeoutS = this.#config.requestTimeoutS;
    const maxAttempts = this.#config.maxRetries + 1;
    const base = this.#options.backoffBaseMs ?? 1000;
    const retryAfterCap = this.#options.retryAfterCapMs ?? 60_000;
    const random = this.#options.random ?? Math.random;

    const stopping = this.#stopping.signal;
    const stoppedError = (attempts: number) =>
      new GenerationError("stopped: the run gave up on this endpoint", {
        status: null,
        attempts,
        transient: false,
      });
    for (let attempt = 1;; attempt++) {
      if (stopping.aborted) throw stoppedError(attempt - 1);
      // Our own deadline covers reading the body too: the library's timeout stops once headers arrive.
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, timeoutS * 1000);
      const onStop = () => controller.abort();
      stopping.addEventListener("abort", onStop);
      let failure: Classified;
      try {
        this.#totals.requests++;
        const raw: unknown = await this.#api.chat.completions.create(
          body as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming,
          { signal: controller.signal, timeout: timeoutS * 1000, maxRetries: 0 },
        );
        const { value, usage } = parse(raw);
        this.#totals.usage.prompt += usage.prompt;
        this.#totals.usage.completion += usage.completion;
        return { value, usage, attempts: attempt, ms: performance.now() - started };
      } catch (error) {
        if (stopping.aborted) throw stoppedError(attempt);
        failure = classify(error, timedOut, timeoutS);
      } finally {
        clearTimeout(timer);
        stopping.removeEventListener("abort", onStop);
      }
      const reason = scrubMessage(failure.reason, this.#secrets);
      if (!failure.transient || attempt >= maxAttempts) {
        this.#totals.failures++;
        throw new GenerationError(reason, {
          status: failure.status,
          attempts: attempt,
          transient: failure.transient,
        });
      }
      this.#totals.retries++;
      // A Retry-After is a floor, not a rendezvous: a little jitter keeps clients told "1 s" from returning together.
      const wait = failure.retryAfterMs !== null
        ? Math.min(failure.retryAfterMs, retryAfterCap) + random() * Math.min(base, 1000)
        : backoffMs(this.#options, attempt);
      // A long wait must not look like a hang: say so (at most every 30 s across all questions).
      if (wait >= 10_000 && performance.now() - this.#lastWaitNotice > 30_000) {
        this.#lastWaitNotice = performance.now();
        console.error(
          `waiting ${Math.round(wait / 1000)} s before retry ${attempt}/${maxAttempts - 1} (${reason})`,
        );
      }
      await sleep(wait, stopping);
    }
  }
}

function validateConfig(config: FullConfig): void {
  const positive = (name: string, value: number | undefined | null, integer: boolean) => {
    if (value === undefined || value === null) return;
    if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
      throw new StartupError(`${name} must be a positive ${integer ? "integer" : "number"}, got ${value}`);
    }
  };
  if (!config.model) throw new StartupError("no model: give --model NAME");
  positive("--concurrency", config.concurrency, true);
  positive("--n", config.n, true);
  positive("--max-tokens", config.maxTokens, true);
  positive("--request-timeout", config.requestTimeoutS, false);
  if (!Number.isInteger(config.maxRetries) || config.maxRetries < 0) {
    throw new StartupError(`maxRetries must be a non-negative integer, got ${config.maxRetries}`);
  }
  if (config.temperature !== undefined && !(config.temperature >= 0)) {
    throw new StartupError(`--temperature must be >= 0, got ${config.temperature}`);
  }
}

type ModelEntry = Record<string, unknown> & { id: string };

/**
 * The server's model list, or null when it does not list models (404). Retries 429/5xx a few times; any other
 * failure is a StartupError.
 */
async function listModels(
  api: OpenAI,
  provider: ResolvedProvider,
  config: FullConfig,
  options: ModelClientOptions,
  scrub: (text: string) => string,
): Promise<ModelEntry[] | null> {
  const timeoutS = options.startupTimeoutS ?? Math.min(30, config.requestTimeoutS);
  const where = redactUrl(provider.baseUrl);
  const attempts = Math.min(config.maxRetries, 3) + 1;
  for (let attempt = 1;; attempt++) {
    let body: unknown;
    try {
      body = await api.get<unknown>("/models", { timeout: timeoutS * 1000, maxRetries: 0 });
    } catch (error) {
      if (error instanceof AuthenticationError || error instanceof PermissionDeniedError) {
        const keyHint = provider.hasKey
          ? `check ${provider.keyEnv}`
          : `the server wants a key: set ${provider.keyEnv}`;
        throw new StartupError(
          scrub(
            `${where} refused the API key (HTTP ${error.status}): ${keyHint}. Server said: ${error.message}`,
          ),
        );
      }
      if (error instanceof APIConnectionTimeoutError) {
        throw new StartupError(scrub(`${where} did not answer GET /models within ${timeoutS} s`));
      }
      if (error instanceof APIConnectionError) {
        throw new StartupError(scrub(`cannot reach ${where}: ${causeMessage(error)}`));
      }
      if (error instanceof APIError && error.status === 404) {
        // Some hosted APIs do not list models; a self-hosted server without `/v1` in its URL looks the same.
        if (!/\/v\d+[a-z]*\/?$/.test(new URL(provider.baseUrl).pathname)) {
          console.error(
            `warning: GET ${where}/models answered 404 and the base URL has no /v1 path: ` +
              "OpenAI-compatible servers (vLLM, Ollama, llama.cpp) serve under …/v1",
          );
        }
        return null;
      }
      const status = error instanceof APIError ? error.status : undefined;
      const transient = status === undefined || transientStatus(status);
      if (!transient || attempt >= attempts) {
        const what = error instanceof Error ? error.message : String(error);
        throw new StartupError(scrub(`GET ${where}/models failed: ${what}`));
      }
      await sleep(backoffMs(options, attempt));
      continue;
    }
    // OpenAI and vLLM answer {"object":"list","data":[…]}; Together answers a bare array.
    const list = Array.isArray(body) ? body : (body as { data?: unknown })?.data;
    if (!Array.isArray(list)) {
      throw new StartupError(
        scrub(`GET ${where}/models returned no model list; is this an OpenAI-compatible /v1 URL?`),
      );
    }
    return list.filter((m): m is ModelEntry => typeof m?.id === "string");
  }
}

function unknownModelMessage(model: string, baseUrl: string, listing: ModelEntry[]): string {
  const ids = listing.map((m) => m.id);
  if (ids.length === 0) {
    return `model ${JSON.stringify(model)} not found: ${redactUrl(baseUrl)} lists no models`;
  }
  // Names sharing a word with the request come first: "llama-3.3-70b" should suggest "Llama-3.3-70B-Instruct".
  const words = model.toLowerCase().split(/[^a-z0-9.]+/).filter((w) => w.length >= 2);
  const score = (id: string) => words.filter((w) => id.toLowerCase().includes(w)).length;
  const ranked = [...ids].sort((a, b) => score(b) - score(a) || a.localeCompare(b));
  const shown = ranked.slice(0, 8).join(", ");
  const more = ids.length > 8 ? ` (${ids.length} in all)` : "";
  return `model ${JSON.stringify(model)} not found at ${redactUrl(baseUrl)}; available: ${shown}${more}`;
}

function identityOf(entry: ModelEntry): ModelIdentity {
  const str = (v: unknown) => (typeof v === "string" ? v : null);
  const ownedBy = str(entry.owned_by);
  let created = typeof entry.created === "number" ? entry.created : null;
  // vLLM and llama.cpp report the time of the listing, not of the weights: keeping it would make every run a
  // cache miss. The same goes for any `created` within two minutes of now.
  const dynamic = (ownedBy !== null && DYNAMIC_CREATED_OWNERS.has(ownedBy.toLowerCase())) ||
    "max_model_len" in entry ||
    (created !== null && Math.abs(created - Date.now() / 1000) < 120);
  if (dynamic) created = null;
  return { id: entry.id, root: str(entry.root), parent: str(entry.parent), owned_by: ownedBy, created };
}

/** Exposed for the cache tests: the identity derived from one `/v1/models` entry. */
export const _internal = { identityOf };
