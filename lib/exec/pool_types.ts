/**
 * The execution core's vocabulary: what a query returns (rows, a scored shape, a failure), the pool's options,
 * the worker's memory bounds, and the engine identity that keys the gold cache.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import type { EncodedDigest } from "./result_digest.ts";
import type { DisplayValue } from "../types.ts";

/** A query that ran: its columns, its DISTINCT rows (canonical cell keys, first-seen order) and a sample. */
export interface ExecOk {
  ok: true;
  columns: string[];
  /** Distinct rows in first-seen order; each cell a canonical key (equal iff Python's `==` says so). */
  rows: string[][];
  /** All rows returned, duplicates included. */
  rowCount: number;
  /** The first rows as returned, JSON-safe, for display. */
  sample: DisplayValue[][];
  /** Wall time measured by the parent, milliseconds. */
  ms: number;
  /** Time SQLite took (prepare + fetch all rows), measured in the worker, milliseconds: what R-VES compares. */
  execMs: number;
}

/** A query that failed: an SQL error, the time limit, or a result too large for the worker's memory. */
export interface ExecErr {
  ok: false;
  kind: "error" | "timeout" | "too_large";
  error: string;
  ms: number;
  /** Time SQLite spent before failing, when the worker could say. */
  execMs?: number;
}

/** The outcome of one query. */
export type ExecResult = ExecOk | ExecErr;

/** A query that ran, compared inside the worker: its shape, not its rows. */
export interface ScoredOk {
  ok: true;
  columns: string[];
  rowCount: number;
  distinctRows: number;
  sample: DisplayValue[][];
  /** Time SQLite took, milliseconds (worker-measured). */
  execMs: number;
}

/**
 * A statement run and digested inside the worker (`SqlEngine.digest`: a voting candidate, an agent's tool call):
 * its shape, a display sample and the set digest of its distinct rows; its rows never leave the worker.
 */
export interface DigestOk extends ScoredOk {
  /** `result_digest.ts` `setDigest`: equal for two results iff EX calls them equal. */
  set: string;
  /** Wall time measured by the parent, milliseconds. */
  ms: number;
}

/** The outcome of `SqlEngine.digest`. */
export type DigestResult = DigestOk | ExecErr;

/** A gold result as the gold cache keeps it: its shape and the digest a prediction is compared against. */
export interface GoldDigest extends ScoredOk {
  /** Absent when the result is too large to be worth caching (the worker did not send it): such a gold query is
   * executed again next time, as the official script always does. */
  digest?: EncodedDigest;
}

/** The outcome of {@linkcode SqlitePool.score}. */
export interface ScoreOutcome {
  pred: (ScoredOk & { ms: number }) | ExecErr;
  /** The gold result: executed now (with its digest, for the cache), the cached one passed in, or null when the
   * prediction failed (the gold query is not run then, as in the official script). */
  gold: GoldDigest | ExecErr | null;
  /** Whether `gold` was executed by this call (a cache miss). */
  goldExecuted: boolean;
  /** The gold result's set digest (`result_digest.ts` `setDigest`) when asked for (`reuse`) and compared. */
  goldSet: string | null;
  /** EX: set equality of distinct rows. */
  match: boolean;
  /** mini-dev Soft-F1. */
  softF1: number;
}

/** Options of a {@linkcode SqlitePool}. */
export interface PoolOptions {
  /** Worker processes (default: the number of CPU cores). */
  workers?: number;
  /** Per-query time limit in seconds (default 30, as the official evaluator), measured on SQLite's statement. */
  timeoutS?: number;
  /** Bytes of distinct rows above which {@linkcode SqlitePool.execute} refuses to return them (default 256 MiB). */
  maxBytes?: number;
  /** Rows kept for display (default 10). */
  sampleRows?: number;
  /** Memory limit of each worker process in bytes, enforced by the kernel (default 2 GiB, at least 1 GiB). */
  workerMemory?: number;
  /** Largest gold digest the worker sends back for caching (default {@linkcode GOLD_DIGEST_CHARS}). */
  goldDigestChars?: number;
}

/**
 * The largest gold digest (base64 characters) a worker sends back for the gold cache by default. A bigger one (a
 * gold result of more than ~65K distinct rows of two columns) would cost the parent its size several times over
 * (chunks, string, parsed object, cache line: a 1M-row gold is ~53 MB of base64), so it is not cached: such a
 * gold query is executed again next time, as the official script always does.
 */
export const GOLD_DIGEST_CHARS: number = 2 * 1024 ** 2;

/** Default memory limit of a worker: a result larger than this fails its own question. */
export const DEFAULT_WORKER_MEMORY: number = 2 * 1024 ** 3;
/** Deno needs about 1 GiB of data segment to start (V8 reserves its code range under the limit). */
export const MIN_WORKER_MEMORY: number = 1024 ** 3;

/**
 * The semantics of the worker's SQLite connection, part of every gold cache key: a result computed under other
 * semantics (an older engine, another SQLite) is never served. Bump the version when the worker's behaviour
 * changes.
 */
export const ENGINE_OPTIONS =
  "t2s-engine/4 dqs=on fk=off busy=5000 math=sqlite-func.c params=tokenizer-count nul=python-raise+reread " +
  "utf8=strict surrogates=python-raise pragma=unknown-noop temp_store=memory digest=value-murmur128";

/** The SQLite version linked by Deno (the workers run the same binary), read without a worker. */
export function sqliteVersion(): string {
  const db = new DatabaseSync(":memory:");
  try {
    return String((db.prepare("select sqlite_version() v").get() as { v: string }).v);
  } finally {
    db.close();
  }
}

/**
 * Parse a memory size: bytes, or a number with K, M, G or T (binary units: `2G` = 2 GiB). Throws on anything
 * else.
 */
export function parseMemory(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text);
  if (!m) throw new Error(`not a memory size: ${JSON.stringify(text)} (use bytes or e.g. 512M, 2G)`);
  const unit = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2].toUpperCase()]!;
  return Math.floor(Number(m[1]) * unit);
}

/** A byte count for messages: MiB, or GiB from 1 GiB. */
export const formatBytes = (n: number) =>
  n >= 1024 ** 3 ? `${+(n / 1024 ** 3).toFixed(2)} GiB` : `${Math.round(n / 1024 ** 2)} MiB`;
