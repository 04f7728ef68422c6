/**
 * Which endpoint a model lives at: the known providers and their defaults, the settings of a model client
 * (the `deno task eval` model flags and their validation), the `npm:openai` client of an endpoint, and the
 * context windows of well-known models.
 *
 * @module
 */

import type OpenAI from "openai";
import { StartupError } from "./errors.ts";
import { basicToken, redactUrl, urlUserInfo } from "../util/mod.ts";
import { loadOpenAI } from "./openai_lib.ts";

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
  /** Seconds before one API call is abandoned and retried (default {@linkcode DEFAULT_REQUEST_TIMEOUT_S}). */
  requestTimeoutS?: number;
  /** Retries after the first attempt for transient failures (default 6). */
  maxRetries?: number;
  /**
   * Seconds after a request's first attempt past which no retry starts (default
   * {@linkcode DEFAULT_RETRY_BUDGET_S}), so a hung endpoint fails a request within about budget + timeout.
   * A 429 is exempt: the server is alive and said when to come back.
   */
  retryBudgetS?: number;
  /** Use the on-disk completion cache (default true; `--no-cache` sets false). */
  cache?: boolean;
  /** Cache folder (default `$XDG_CACHE_HOME/text2sql/completions`). */
  cacheDir?: string;
  /** Price table for cost accounting; without it costs are null. */
  prices?: Prices;
}

/** A config with its defaults filled in, as the client holds it. */
export type FullConfig = ModelConfig & { requestTimeoutS: number; maxRetries: number; retryBudgetS: number };

/**
 * Default seconds per API call. With {@linkcode DEFAULT_RETRY_BUDGET_S}, a hung endpoint fails each request
 * after 2 attempts (~91 s), so the default 8 questions in flight fail together and the run stops within ~2
 * minutes (`--max-consecutive-failures`).
 */
export const DEFAULT_REQUEST_TIMEOUT_S = 45;
/** Default seconds after a request's first attempt past which no retry starts. */
export const DEFAULT_RETRY_BUDGET_S = 60;

/** Where requests go and which environment variable holds the key. */
export interface ResolvedProvider {
  provider: Provider;
  /** Base URL, without a trailing slash. */
  baseUrl: string;
  /** Name of the environment variable the key comes from. */
  keyEnv: string;
  /** Whether a real key was found (false: the placeholder is sent to a self-hosted server). */
  hasKey: boolean;
  /**
   * Whether the base URL carries a user or password: then they are the credentials sent (HTTP Basic), and
   * the key variable is not sent.
   */
  urlCredentials: boolean;
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

/** The built-in context window of a model name, or null when unknown. */
export function knownContextWindow(model: string): number | null {
  const name = model.toLowerCase();
  for (const [pattern, window] of KNOWN_CONTEXT_WINDOWS) if (pattern.test(name)) return window;
  return null;
}

/** The environment reader of the options (default `Deno.env.get`). */
export function envOf(options: Pick<ModelClientOptions, "env">): (name: string) => string | undefined {
  return options.env ?? ((name: string) => Deno.env.get(name));
}

/** The provider a config names (`openai-compatible` when only a base URL is given), checked. */
function providerOf(config: ModelConfig): Provider {
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
  return provider;
}

/** Throws unless `baseUrl` is an http(s) URL. */
function checkBaseUrl(baseUrl: string): void {
  try {
    const url = new URL(baseUrl);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error();
  } catch {
    throw new StartupError(
      `invalid base URL ${JSON.stringify(redactUrl(baseUrl))}: expected http(s)://host[:port]/v1`,
    );
  }
}

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
  const provider = providerOf(config);
  const defaults = PROVIDER_DEFAULTS[provider];
  const baseUrl = config.baseUrl ?? defaults.baseUrl;
  if (!baseUrl) {
    throw new StartupError("provider openai-compatible needs --base-url (e.g. http://127.0.0.1:8000/v1)");
  }
  checkBaseUrl(baseUrl);
  const key = envOf(options)(defaults.keyEnv);
  const urlCredentials = urlUserInfo(baseUrl) !== null;
  if (!key && !urlCredentials && provider !== "openai-compatible") {
    throw new StartupError(
      `provider ${provider} needs an API key: set the environment variable ${defaults.keyEnv}`,
    );
  }
  return {
    provider,
    baseUrl: baseUrl.replace(/\/+$/, ""),
    keyEnv: defaults.keyEnv,
    hasKey: Boolean(key),
    urlCredentials,
  };
}

/** Throws unless an optional setting is a positive (integer) number. */
function checkPositive(name: string, value: number | undefined | null, integer: boolean): void {
  if (value === undefined || value === null) return;
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new StartupError(`${name} must be a positive ${integer ? "integer" : "number"}, got ${value}`);
  }
}

/**
 * A config with its defaults (45 s timeout, 6 retries within a 60 s retry budget), validated.
 *
 * @throws {StartupError} naming the first invalid setting.
 */
export function fullConfig(config: ModelConfig): FullConfig {
  const full = {
    ...config,
    requestTimeoutS: config.requestTimeoutS ?? DEFAULT_REQUEST_TIMEOUT_S,
    maxRetries: config.maxRetries ?? 6,
    retryBudgetS: config.retryBudgetS ?? DEFAULT_RETRY_BUDGET_S,
  };
  if (!full.model) throw new StartupError("no model: give --model NAME");
  checkPositive("--concurrency", full.concurrency, true);
  checkPositive("--n", full.n, true);
  checkPositive("--max-tokens", full.maxTokens, true);
  checkPositive("--request-timeout", full.requestTimeoutS, false);
  checkPositive("--retry-budget", full.retryBudgetS, false);
  if (!Number.isInteger(full.maxRetries) || full.maxRetries < 0) {
    throw new StartupError(`maxRetries must be a non-negative integer, got ${full.maxRetries}`);
  }
  if (full.temperature !== undefined && !(full.temperature >= 0)) {
    throw new StartupError(`--temperature must be >= 0, got ${full.temperature}`);
  }
  return full;
}

/** The base URL without its user info (the part a connection is opened to). */
export function connectUrl(baseUrl: string): string {
  try {
    const url = new URL(baseUrl);
    url.username = "";
    url.password = "";
    return url.href.replace(/\/+$/, "");
  } catch {
    return baseUrl;
  }
}

/**
 * The `npm:openai` client of an endpoint: no retries of its own (the model client retries), no other
 * `OPENAI_*` settings. Credentials reach the server one way: a base URL carrying a user or password sends
 * them as `Authorization: Basic base64(user:password)` (as curl does) and the key variable is not sent;
 * otherwise the key (or the placeholder) goes as `Authorization: Bearer`. The user info never stays in the
 * URL the library fetches.
 *
 * @param provider the resolved endpoint
 * @param secret the API key, or null (the placeholder is sent)
 * @param settings the full config (timeout) and the tuning knobs (fetch)
 */
export async function openAIClient(
  provider: ResolvedProvider,
  secret: string | null,
  settings: { config: FullConfig; options: ModelClientOptions },
): Promise<OpenAI> {
  const { default: OpenAI } = await loadOpenAI();
  const hosted = provider.provider === "openai";
  const info = urlUserInfo(provider.baseUrl);
  return new OpenAI({
    baseURL: connectUrl(provider.baseUrl),
    ...(info ? { defaultHeaders: { Authorization: `Basic ${basicToken(info)}` } } : {}),
    apiKey: secret ?? PLACEHOLDER_KEY,
    // Other OPENAI_* variables the library reads (admin key, organisation) are for OpenAI itself only.
    adminAPIKey: null,
    ...(hosted ? {} : { organization: null, project: null }),
    maxRetries: 0,
    timeout: settings.config.requestTimeoutS * 1000,
    logLevel: "off",
    ...(settings.options.fetch ? { fetch: settings.options.fetch } : {}),
  });
}
