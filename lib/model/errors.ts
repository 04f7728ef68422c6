/**
 * How a model call fails and when it is tried again: the two errors callers see ({@linkcode StartupError},
 * {@linkcode GenerationError}), the classification of a failed API call as transient or final, `Retry-After`,
 * and the full-jitter backoff between attempts.
 *
 * @module
 */

import { loadedOpenAI } from "./openai_lib.ts";

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

/** A 200 answer whose body cannot be read: retried as transient. */
export class MalformedResponse extends Error {}

/** What one failed API call means: its reason (unscrubbed), status, and whether to try again. */
export interface Classified {
  reason: string;
  status: number | null;
  transient: boolean;
  retryAfterMs: number | null;
}

/** Statuses worth retrying: timeouts, conflicts, rate limits and every server error. */
export function transientStatus(status: number): boolean {
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

/** The message of an error's cause (fetch hides the real reason there), else of the error. */
export function causeMessage(error: unknown): string {
  const cause = (error as { cause?: unknown })?.cause;
  if (cause instanceof Error && cause.message) return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** A transient failure without a response: retried, no status, no `Retry-After`. */
function noResponse(reason: string): Classified {
  return { reason, status: null, transient: true, retryAfterMs: null };
}

/** A 200 whose body could not be read: retried. */
function malformed(reason: string): Classified {
  return { reason: `malformed response: ${reason}`, status: 200, transient: true, retryAfterMs: null };
}

/**
 * The reason, status and retry decision for an error thrown by one API call.
 *
 * @param error what the call threw
 * @param timing whether our own deadline fired, and its length in seconds
 */
export function classify(error: unknown, timing: { timedOut: boolean; timeoutS: number }): Classified {
  // The library's classes: a client loaded it before any call could throw one of them.
  const api = loadedOpenAI();
  if (timing.timedOut || (api && error instanceof api.APIConnectionTimeoutError)) {
    return noResponse(`timeout after ${timing.timeoutS} s`);
  }
  if (api && (error instanceof api.APIConnectionError || error instanceof api.APIUserAbortError)) {
    return noResponse(`connection error: ${causeMessage(error)}`);
  }
  if (api && error instanceof api.APIError && typeof error.status === "number") {
    const status = error.status;
    return {
      reason: `HTTP ${status}: ${error.message.replace(/^\d{3}\s+/, "")}`,
      status,
      transient: transientStatus(status),
      retryAfterMs: parseRetryAfter(error.headers),
    };
  }
  if (error instanceof MalformedResponse) return malformed(error.message);
  if (error instanceof SyntaxError) return malformed(`body is not JSON (${error.message})`);
  // Errors reading the body (a dropped connection surfaces as a TypeError from fetch's body stream).
  return noResponse(`connection error: ${error instanceof Error ? error.message : String(error)}`);
}

/** The backoff knobs (a subset of the client's options). */
export interface BackoffOptions {
  /** First backoff step in ms (default 1000). */
  backoffBaseMs?: number;
  /** Largest backoff in ms (default 60 000). */
  backoffMaxMs?: number;
  /** Random source for jitter (default `Math.random`). */
  random?: () => number;
}

/**
 * Full-jitter backoff (AWS) before retry `attempt` (1-based): uniform in [0, min(cap, base·2^(attempt-1))], so
 * clients that failed together spread out. Shared by the start-up listing and the chat requests.
 */
export function backoffMs(options: BackoffOptions, attempt: number): number {
  const base = options.backoffBaseMs ?? 1000;
  const cap = options.backoffMaxMs ?? 60_000;
  return (options.random ?? Math.random)() * Math.min(cap, base * 2 ** (attempt - 1));
}

/**
 * The wait before the next attempt: a server's `Retry-After` (capped, plus a little jitter so clients told
 * "1 s" do not return together: it is a floor, not a rendezvous), else the full-jitter backoff.
 */
export function retryWaitMs(
  failure: Classified,
  attempt: number,
  options: BackoffOptions & { retryAfterCapMs?: number },
): number {
  if (failure.retryAfterMs === null) return backoffMs(options, attempt);
  const base = options.backoffBaseMs ?? 1000;
  const cap = options.retryAfterCapMs ?? 60_000;
  return Math.min(failure.retryAfterMs, cap) + (options.random ?? Math.random)() * Math.min(base, 1000);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
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
