/**
 * A SQL dialect as one strategy chosen when a run is set up: the engine that executes and compares SQL the way
 * the official evaluator of that dialect does. The run, the datasets, the agent's tool and the bench talk to a
 * {@linkcode SqlEngine} and never ask which dialect it is; what differs between dialects lives behind it
 * (`sqlite_pool.ts` for SQLite, the PostgreSQL and MySQL engines beside it) and in the prompt's DDL renderer.
 *
 * @module
 */
import type { DigestResult, ExecResult, GoldDigest, ScoreOutcome } from "./pool_types.ts";
import type { CatalogTable, Dialect } from "../types.ts";

export type { CatalogColumn, CatalogTable, Dialect } from "../types.ts";

/** Every dialect, the default first. */
export const DIALECTS: readonly Dialect[] = ["sqlite", "postgresql", "mysql"];

/** The dialect named by a flag or parameter; throws with the accepted names otherwise. */
export function parseDialect(text: string): Dialect {
  const t = text.trim().toLowerCase();
  const alias: Record<string, Dialect> = { postgres: "postgresql", pg: "postgresql", mariadb: "mysql" };
  const d = (alias[t] ?? t) as Dialect;
  if (!DIALECTS.includes(d)) {
    throw new Error(`unknown dialect ${JSON.stringify(text)}: use one of ${DIALECTS.join(", ")}`);
  }
  return d;
}

/**
 * A server URL as `run.json`, messages and reports may show it: scheme, host, port and database only (no user,
 * no password, no query parameters, which may carry a key).
 */
export function publicServerUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    u.search = "";
    u.hash = "";
    return u.toString();
  } catch {
    return "(unparsable server URL)";
  }
}

/** What a run records of the engine that scored it (`run.json`): never a secret. */
export interface EngineInfo {
  dialect: Dialect;
  /** `sqlite` (node:sqlite workers), `pglite` (embedded PostgreSQL), `postgresql` or `mysql` (a server). */
  engine: "sqlite" | "pglite" | "postgresql" | "mysql";
  /** The engine's version as it reports it (`3.53.2`, `15.18`, `18.6 (PGlite 0.5.16)`, `10.11.19-MariaDB`). */
  version: string;
  /** The semantics string that keys the gold cache (bump it when the engine's behaviour changes). */
  semantics: string;
  /** Where the data is, as it may be shown: a server URL without credentials, or null for local files. */
  location: string | null;
}

/** Options of {@linkcode SqlEngine.digest}. */
export interface DigestOptions {
  /** Per-query time limit, seconds (default: the engine's). */
  timeoutS?: number;
  /** Rows of the display sample (default: the engine's `sampleRows`). */
  sampleRows?: number;
  /** Keep the digest for a later `score(…, {reuse: true})` of the same text (the voted answer). */
  keep?: boolean;
}

/**
 * Runs untrusted SQL for one dialect, in parallel, sandboxed, with a hard time limit, and compares results as
 * that dialect's official evaluator does. `target` names a question's database as the engine addresses it
 * ({@linkcode SqlEngine.target}): a file path for SQLite, the BIRD `db_id` for a server holding all of them.
 */
export interface SqlEngine {
  readonly dialect: Dialect;
  /** Parallel executions (worker processes or connections). */
  readonly workers: number;
  /** Default per-query time limit, seconds. */
  readonly timeoutS: number;
  /** How this engine addresses a question's database. */
  target(dbRoot: string, dbId: string): string;
  /** Declare the targets a run will use (SQLite: the folders its workers may read). */
  allow(targets: string[]): void;
  /** Execute one statement read-only. Never throws for bad SQL: see `ExecErr`. */
  execute(target: string, sql: string, options?: { timeoutS?: number }): Promise<ExecResult>;
  /** Execute statements in order on one worker, stopping at the first that fails. */
  executeEach(target: string, sqls: string[], options?: { timeoutS?: number }): Promise<ExecResult[]>;
  /**
   * Run one statement and digest it inside the engine (a voting candidate, an agent's tool call): its shape, the
   * first `sampleRows` rows and the set digest of its distinct rows come back, never its rows, under the same
   * time and memory limits as scoring. With `keep`, the engine may keep the digest for a later `score` of the
   * same text with `reuse`.
   */
  digest(target: string, sql: string, options?: DigestOptions): Promise<DigestResult>;
  /**
   * Score a prediction against its gold SQL (or the gold's cached digest) inside the engine. With `reuse` (a
   * voted answer), a digest kept by {@linkcode SqlEngine.digest} for this text is compared instead of running it
   * again, and the outcome carries the gold's set digest (`goldSet`) for the candidates' verdicts.
   */
  score(
    target: string,
    predSql: string,
    options: { gold: string | GoldDigest | null; timeoutS?: number; reuse?: boolean },
  ): Promise<ScoreOutcome>;
  /** The engine as `run.json` records it. */
  info(): Promise<EngineInfo>;
  /**
   * A stable identity of the target's content for the gold cache (SQLite: the file's sha256), or null when the
   * engine cannot know it (a server not loaded by `deno task db load`): gold results are then not cached.
   */
  contentKey(target: string): Promise<string | null>;
  /** The tables of a target's database, for the prompt (SQLite renders from the file itself). */
  catalog(target: string): Promise<CatalogTable[]>;
  /** Start the workers now, so their start-up overlaps the caller's own set-up. */
  warm(): void;
  /** Process ids of live workers (tests check none outlives the engine). */
  pids(): number[];
  /** Stop every worker and connection. */
  close(): Promise<void>;
}
