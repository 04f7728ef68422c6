/**
 * The start-up check: the server's `GET /models` listing, read for the configured model's identity (part of the
 * cache key) and context window, with one-line {@linkcode StartupError}s for a wrong key, an unreachable URL or
 * a model the server does not list.
 *
 * @module
 */

import type OpenAI from "openai";
import { loadOpenAI, type OpenAILib } from "./openai_lib.ts";
import { backoffMs, causeMessage, sleep, StartupError, transientStatus } from "./errors.ts";
import {
  type FullConfig,
  knownContextWindow,
  type ModelClientOptions,
  type ResolvedProvider,
} from "./providers.ts";
import { redactUrl } from "../util/mod.ts";

/** The model's identity as the server reports it in `/v1/models`; part of the cache key. */
export interface ModelIdentity {
  id: string;
  root: string | null;
  parent: string | null;
  owned_by: string | null;
  /** Creation time, when the server reports a stable one (vLLM and llama.cpp stamp "now": dropped). */
  created: number | null;
}

/** What the start-up check learnt about the model. */
export interface ModelFacts {
  /** Null when the server does not list models. */
  identity: ModelIdentity | null;
  /** Context window in tokens, from the server, else the built-in table, else null. */
  contextWindow: number | null;
  contextWindowSource: "server" | "table" | null;
}

type ModelEntry = Record<string, unknown> & { id: string };

/** Fields of a `/v1/models` entry that carry a context window, in order of preference. */
const WINDOW_FIELDS = ["max_model_len", "context_length", "context_window", "max_context_length"];

/** Servers that stamp `created` with the time of the listing, so it cannot be part of an identity. */
const DYNAMIC_CREATED_OWNERS = new Set(["vllm", "llamacpp", "sglang", "lmstudio"]);

/** What a start-up check needs besides the API client. */
export interface Endpoint {
  provider: ResolvedProvider;
  config: FullConfig;
  options: ModelClientOptions;
  /** The client's message scrubber. */
  scrub: (text: string) => string;
}

/** The StartupError for a failed `GET /models`, or null when the failure is worth another try. */
function listingFailure(
  error: unknown,
  at: Endpoint,
  { timeoutS, lib }: { timeoutS: number; lib: OpenAILib },
): StartupError | null {
  const where = redactUrl(at.provider.baseUrl);
  if (error instanceof lib.AuthenticationError || error instanceof lib.PermissionDeniedError) {
    const { hasKey, keyEnv } = at.provider;
    const keyHint = at.provider.urlCredentials
      ? "check the user and password in the base URL"
      : hasKey
      ? `check ${keyEnv}`
      : `the server wants a key: set ${keyEnv}`;
    return new StartupError(
      at.scrub(
        `${where} refused the API key (HTTP ${error.status}): ${keyHint}. Server said: ${error.message}`,
      ),
    );
  }
  if (error instanceof lib.APIConnectionTimeoutError) {
    return new StartupError(at.scrub(`${where} did not answer GET /models within ${timeoutS} s`));
  }
  if (error instanceof lib.APIConnectionError) {
    return new StartupError(at.scrub(`cannot reach ${where}: ${causeMessage(error)}`));
  }
  const status = error instanceof lib.APIError ? error.status : undefined;
  if (status === undefined || transientStatus(status)) return null;
  return finalListingFailure(error, at);
}

function finalListingFailure(error: unknown, at: Endpoint): StartupError {
  const what = error instanceof Error ? error.message : String(error);
  return new StartupError(at.scrub(`GET ${redactUrl(at.provider.baseUrl)}/models failed: ${what}`));
}

/** Some hosted APIs do not list models; a self-hosted server without `/v1` in its URL looks the same: say so. */
function warnNoListing(baseUrl: string): void {
  if (/\/v\d+[a-z]*\/?$/.test(new URL(baseUrl).pathname)) return;
  console.error(
    `warning: GET ${redactUrl(baseUrl)}/models answered 404 and the base URL has no /v1 path: ` +
      "OpenAI-compatible servers (vLLM, Ollama, llama.cpp) serve under …/v1",
  );
}

/** The model entries of a listing body, or a StartupError when it holds none. */
function entriesOf(body: unknown, at: Endpoint): ModelEntry[] {
  // OpenAI and vLLM answer {"object":"list","data":[…]}; Together answers a bare array.
  const list = Array.isArray(body) ? body : (body as { data?: unknown })?.data;
  if (!Array.isArray(list)) {
    throw new StartupError(
      at.scrub(
        `GET ${
          redactUrl(at.provider.baseUrl)
        }/models returned no model list; is this an OpenAI-compatible /v1 URL?`,
      ),
    );
  }
  return list.filter((m): m is ModelEntry => typeof m?.id === "string");
}

/**
 * The server's model list, or null when it does not list models (404). Retries 429/5xx a few times; any other
 * failure is a StartupError.
 */
async function listModels(api: OpenAI, at: Endpoint): Promise<ModelEntry[] | null> {
  const timeoutS = at.options.startupTimeoutS ?? Math.min(30, at.config.requestTimeoutS);
  const attempts = Math.min(at.config.maxRetries, 3) + 1;
  // Loaded already (the client was made with it): its error classes.
  const lib = await loadOpenAI();
  for (let attempt = 1;; attempt++) {
    try {
      const body = await api.get<unknown>("/models", { timeout: timeoutS * 1000, maxRetries: 0 });
      return entriesOf(body, at);
    } catch (error) {
      if (error instanceof StartupError) throw error;
      if (error instanceof lib.APIError && error.status === 404) {
        warnNoListing(at.provider.baseUrl);
        return null;
      }
      const failure = listingFailure(error, at, { timeoutS, lib });
      if (failure) throw failure;
      if (attempt >= attempts) throw finalListingFailure(error, at);
      await sleep(backoffMs(at.options, attempt));
    }
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

/** The first positive integer among an entry's window fields, or null. */
function serverWindow(entry: ModelEntry): number | null {
  for (const field of WINDOW_FIELDS) {
    const value = Number(entry[field]);
    if (Number.isInteger(value) && value > 0) return value;
  }
  return null;
}

/** Identity and window from the listing (or none), the window falling back to the built-in table. */
function factsOf(model: string, entry: ModelEntry | null): ModelFacts {
  const window = entry ? serverWindow(entry) : null;
  if (window !== null) {
    return { identity: identityOf(entry!), contextWindow: window, contextWindowSource: "server" };
  }
  const known = knownContextWindow(model);
  return {
    identity: entry ? identityOf(entry) : null,
    contextWindow: known,
    contextWindowSource: known === null ? null : "table",
  };
}

/**
 * The start-up check (`GET /models`): the model's identity and context window. A server answering 404 (some
 * hosted APIs) gives an unknown identity.
 *
 * @param api the client's OpenAI client
 * @param at the endpoint, the config (model, timeouts, retries), the tuning knobs and the message scrubber
 * @throws {StartupError} on a refused key, an unreachable URL, or a model the server does not list
 */
export async function checkModel(api: OpenAI, at: Endpoint): Promise<ModelFacts> {
  const listing = await listModels(api, at);
  if (listing === null) return factsOf(at.config.model, null);
  const model = at.config.model;
  const entry = listing.find((m) => m.id === model) ?? listing.find((m) => m.id === `${model}:latest`);
  if (!entry) throw new StartupError(at.scrub(unknownModelMessage(model, at.provider.baseUrl, listing)));
  return factsOf(model, entry);
}

/** Exposed for the cache tests: the identity derived from one `/v1/models` entry. */
export const _internal = { identityOf };
