/**
 * The model client: one model behind an OpenAI-compatible endpoint over `npm:openai`, created by a start-up
 * check; then a context-length check before any paid request, a shared concurrency limit, retries with
 * exponential backoff and full jitter honouring `Retry-After`, a per-request timeout, the on-disk completion
 * cache, and token and cost accounting. Every text it returns or throws is scrubbed of its secrets.
 *
 * @module
 */

import type OpenAI from "openai";
import { cacheKey, CompletionCache } from "./cache.ts";
import { type Completion, completionBody, parseCompletionBody } from "./completion.ts";
import { type ContextOverflow, contextOverflows } from "./context.ts";
import {
  type Classified,
  classify,
  GenerationError,
  MalformedResponse,
  retryWaitMs,
  sleep,
} from "./errors.ts";
import { createLimiter, type Limiter } from "./limiter.ts";
import { checkModel, type ModelFacts, type ModelIdentity } from "./listing.ts";
import { type ChatReply, type ChatRequest, parseChatReply, requestBody } from "./chat_wire.ts";
import {
  envOf,
  type FullConfig,
  fullConfig,
  type ModelClientOptions,
  type ModelConfig,
  openAIClient,
  PROVIDER_DEFAULTS,
  type ResolvedProvider,
  resolveProvider,
} from "./providers.ts";
import { redact, scrubMessage, secretValues } from "../util/mod.ts";
import type { ChatMessage, Usage } from "../types.ts";

export type { Usage };

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

/** A body's value and usage, as a parser of one exchange returns them. */
type Parsed<T> = { value: T; usage: Usage };

/** The error every call gets once the client is stopped. */
function stoppedError(attempts: number): GenerationError {
  return new GenerationError("stopped: the run gave up on this endpoint", {
    status: null,
    attempts,
    transient: false,
  });
}

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
    facts: ModelFacts;
  }) {
    this.provider = init.provider;
    this.model = init.config.model;
    this.identity = init.facts.identity;
    this.contextWindow = init.facts.contextWindow;
    this.contextWindowSource = init.facts.contextWindowSource;
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
    const env = envOf(options);
    const secret = env(provider.keyEnv) || null;
    const full = fullConfig(config);
    const api = await openAIClient(provider, secret, { config: full, options });
    // Every key the run's environment holds is a secret, whichever one is sent.
    const others = [...new Set(Object.values(PROVIDER_DEFAULTS).map((d) => d.keyEnv))]
      .map((name) => env(name) ?? "");
    const secrets = secretValues(secret, provider.baseUrl, others);
    const scrub = (text: string) => scrubMessage(text, secrets);
    if (provider.urlCredentials && secret) {
      console.error(
        `warning: the base URL carries a user and password: they are sent (HTTP Basic) and ${provider.keyEnv} ` +
          "is not (credentials reach the server one way)",
      );
    }
    const found = await checkModel(api, { provider, config: full, options, scrub });
    // The listing is the server's text: a gateway can echo a key into `root` or `owned_by`.
    const facts = { ...found, identity: scrubIdentity(found.identity, (t) => redact(t, secrets)) };
    return new ModelClient({ provider, config: full, options, api, secrets, facts });
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
   * The prompts that would overflow the model's context window: estimated prompt tokens
   * (`estimateTokens` of lib/prompt/token_estimate.ts) plus the tokens reserved for the answer exceed the window. Call
   * it before generating so overflowing questions are flagged before any paid request. Returns none when the
   * window is unknown.
   *
   * @param prompts One message list per question.
   * @param maxTokens Tokens reserved for the answer (default the config's `maxTokens`, 0 when unset).
   */
  checkContext(
    prompts: ChatMessage[][],
    maxTokens: number | null = this.#config.maxTokens ?? null,
  ): ContextOverflow[] {
    if (this.contextWindow === null) return [];
    return contextOverflows(prompts, { window: this.contextWindow, reserved: maxTokens ?? 0 });
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
    const hit = await this.#fromCache(key, started);
    if (hit) return hit;
    // Looked up and registered with no await in between, so identical prompts in flight share one request.
    const pending = this.#inflight.get(key);
    if (pending) return await this.#shared(pending, started);
    return await this.#fetchAndStore(key, messages);
  }

  /**
   * One chat exchange of any shape (tool turns, `n` samples), uncached (the callers in `samples.ts` and
   * `tool_chat.ts` cache it), with the same concurrency limit, retries, timeout, secret scrubbing and totals as
   * {@linkcode ModelClient.complete}. A reply without choices counts as a transient failure.
   *
   * @throws {GenerationError} after the last retry, or at once on a refusal (a 400 naming tools included)
   */
  async send(request: ChatRequest): Promise<ChatReply> {
    const body = requestBody(request, { model: this.model, sampling: this.sampling });
    const { value } = await this.#limiter.run(() => this.#exchange(body, parseReply));
    const clean = (t: string) => this.#clean(t);
    return {
      usage: value.usage,
      // A model can echo a key it was shown in a tool call as well as in text.
      choices: value.choices.map((c) => ({
        content: c.content === null ? null : clean(c.content),
        // Names and ids too: they are written to trajectories and the cache, and sent back.
        tool_calls: c.tool_calls.map((t) => ({
          ...t,
          id: clean(t.id),
          function: { name: clean(t.function.name), arguments: clean(t.function.arguments) },
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

  /**
   * A text with this client's credentials and every registered one (a database server URL's) replaced (the
   * run's one scrubber, `lib/util/secrets.ts`): whole credential tokens in credential positions only, so SQL
   * and prose are never altered. Whatever a run writes or prints goes through it.
   */
  scrub(text: string): string {
    return redact(text, this.#secrets);
  }

  /** A text with this client's secrets replaced. */
  #clean(text: string): string {
    return redact(text, this.#secrets);
  }

  /** The cached answer under `key`, or null. */
  async #fromCache(key: string, started: number): Promise<Completion | null> {
    const hit = await this.#cache!.get(key);
    if (!hit) return null;
    this.#totals.cacheHits++;
    return {
      // Scrubbed again: an entry written before completions were scrubbed may still hold a secret.
      texts: hit.texts.map((t) => this.#clean(t)),
      usage: hit.usage,
      cached: true,
      attempts: 0,
      ms: performance.now() - started,
    };
  }

  /** The answer of an identical request already in flight, as a cache hit. */
  async #shared(pending: Promise<Completion>, started: number): Promise<Completion> {
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

  /** Fetches within the concurrency limit and stores the answer, sharing the request while it is in flight. */
  async #fetchAndStore(key: string, messages: ChatMessage[]): Promise<Completion> {
    const request = this.#limiter.run(() => this.#fetchWithRetries(messages)).then(async (completion) => {
      await this.#store(key, completion);
      return completion;
    });
    this.#inflight.set(key, request);
    try {
      return await request;
    } finally {
      this.#inflight.delete(key);
    }
  }

  /** Writes a completion to the cache; a failure warns once and is otherwise ignored. */
  async #store(key: string, completion: Completion): Promise<void> {
    try {
      await this.#cache!.put(key, { model: this.model, texts: completion.texts, usage: completion.usage });
    } catch (e) {
      // A full disk must not lose an answer already paid for: warn once and carry on uncached.
      if (!this.#cacheWarned) {
        this.#cacheWarned = true;
        console.error(`warning: completion cache not written (${scrubMessage(String(e), this.#secrets)})`);
      }
    }
  }

  async #fetchWithRetries(messages: ChatMessage[]): Promise<Completion> {
    const body = completionBody(messages, { model: this.model, sampling: this.sampling });
    const { value: texts, usage, attempts, ms } = await this.#exchange(body, (raw) => {
      const parsed = parseCompletionBody(raw);
      return { value: parsed.texts, usage: parsed.usage };
    });
    // A model can echo a key it was shown (or a gateway can inject one): never let it reach a file.
    return { texts: texts.map((t) => this.#clean(t)), usage, cached: false, attempts, ms };
  }

  /**
   * One request body sent with retries: what `complete` and `send` share. `parse` throws
   * `MalformedResponse` on a body it cannot read (retried as transient); tokens go to the totals.
   */
  async #exchange<T>(
    body: Record<string, unknown>,
    parse: (raw: unknown) => Parsed<T>,
  ): Promise<Parsed<T> & { attempts: number; ms: number }> {
    const started = performance.now();
    const maxAttempts = this.#config.maxRetries + 1;
    for (let attempt = 1;; attempt++) {
      if (this.#stopping.signal.aborted) throw stoppedError(attempt - 1);
      const outcome = await this.#attempt(body, parse, attempt);
      if (!("failure" in outcome)) return { ...outcome, attempts: attempt, ms: performance.now() - started };
      const reason = scrubMessage(outcome.failure.reason, this.#secrets);
      if (!outcome.failure.transient || attempt >= maxAttempts) {
        throw this.#finalFailure(outcome.failure, reason, attempt);
      }
      // Past the retry budget no retry starts (a 429 excepted: the server is alive and said when to return).
      const elapsedS = (performance.now() - started) / 1000;
      if (outcome.failure.status !== 429 && elapsedS >= this.#config.retryBudgetS) {
        const spent = `${attempt} attempts in ${
          Math.round(elapsedS)
        } s, retry budget ${this.#config.retryBudgetS} s`;
        throw this.#finalFailure(outcome.failure, `${reason} (${spent})`, attempt);
      }
      await this.#waitToRetry(outcome.failure, reason, { attempt, maxAttempts });
    }
  }

  /** One API call under our own deadline and the stop signal: the parsed answer, or why it failed. */
  async #attempt<T>(
    body: Record<string, unknown>,
    parse: (raw: unknown) => Parsed<T>,
    attempt: number,
  ): Promise<Parsed<T> | { failure: Classified }> {
    const timeoutS = this.#config.requestTimeoutS;
    const stopping = this.#stopping.signal;
    // Our own deadline covers reading the body too: the library's timeout stops once headers arrive.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutS * 1000);
    const onStop = () => controller.abort();
    stopping.addEventListener("abort", onStop);
    try {
      this.#totals.requests++;
      const raw: unknown = await this.#api.chat.completions.create(
        body as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming,
        { signal: controller.signal, timeout: timeoutS * 1000, maxRetries: 0 },
      );
      const parsed = parse(raw);
      this.#totals.usage.prompt += parsed.usage.prompt;
      this.#totals.usage.completion += parsed.usage.completion;
      return parsed;
    } catch (error) {
      if (stopping.aborted) throw stoppedError(attempt);
      return { failure: classify(error, { timedOut, timeoutS }) };
    } finally {
      clearTimeout(timer);
      stopping.removeEventListener("abort", onStop);
    }
  }

  /** The GenerationError of a failure not retried (a refusal, or the last attempt), counted. */
  #finalFailure(failure: Classified, reason: string, attempts: number): GenerationError {
    this.#totals.failures++;
    return new GenerationError(reason, { status: failure.status, attempts, transient: failure.transient });
  }

  /** Counts a retry and waits for it (cut short by `stop`), saying so when the wait is long. */
  async #waitToRetry(failure: Classified, reason: string, at: { attempt: number; maxAttempts: number }) {
    this.#totals.retries++;
    const wait = retryWaitMs(failure, at.attempt, this.#options);
    // A long wait must not look like a hang: say so (at most every 30 s across all questions).
    if (wait >= 10_000 && performance.now() - this.#lastWaitNotice > 30_000) {
      this.#lastWaitNotice = performance.now();
      console.error(
        `waiting ${Math.round(wait / 1000)} s before retry ${at.attempt}/${at.maxAttempts - 1} (${reason})`,
      );
    }
    await sleep(wait, this.#stopping.signal);
  }
}

/** An identity with every field scrubbed (null stays null). */
function scrubIdentity(identity: ModelIdentity | null, scrub: (t: string) => string): ModelIdentity | null {
  if (!identity) return null;
  const str = (v: string | null) => (v === null ? null : scrub(v));
  return {
    id: scrub(identity.id),
    root: str(identity.root),
    parent: str(identity.parent),
    owned_by: str(identity.owned_by),
    created: identity.created,
  };
}

/** A tool-turn reply, its unreadable bodies turned into `MalformedResponse` (retried as transient). */
function parseReply(raw: unknown): Parsed<ChatReply> {
  let reply: ChatReply;
  try {
    reply = parseChatReply(raw);
  } catch (e) {
    throw new MalformedResponse((e as Error).message);
  }
  return { value: reply, usage: reply.usage };
}
