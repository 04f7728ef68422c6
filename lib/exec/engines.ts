/**
 * The one place a dialect becomes an engine: `openEngine` is called once when a run (or a dataset build) is set
 * up, and everything after it talks to the {@linkcode SqlEngine} it returns.
 *
 * @module
 */
import type { Dialect, SqlEngine } from "./engine.ts";
import type { PoolOptions } from "./pool_types.ts";
import { SqlitePool } from "./sqlite_pool.ts";

/** What {@linkcode openEngine} takes: the pool's options plus where the databases are. */
export interface EngineOptions extends PoolOptions {
  /** Default `sqlite`. */
  dialect?: Dialect;
  /** A PostgreSQL or MySQL server URL (credentials are used, never recorded). */
  dbUrl?: string;
  /** The BIRD database root (SQLite files: the source of an embedded PostgreSQL). */
  dbRoot?: string;
  /** The databases the run uses. */
  dbIds?: string[];
}

/** The engine for a dialect. Fails with one line when the dialect needs what is not given (a server URL). */
export function openEngine(options: EngineOptions = {}): Promise<SqlEngine> {
  const dialect = options.dialect ?? "sqlite";
  if (dialect === "sqlite") {
    if (options.dbUrl) throw new Error("--db-url is for --dialect postgresql or mysql; SQLite reads files");
    return Promise.resolve(new SqlitePool(options));
  }
  throw new Error(`the ${dialect} engine is not available in this build`);
}
