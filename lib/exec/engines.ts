/**
 * The one place a dialect becomes an engine: `openEngine` is called once when a run (or a dataset build) is set
 * up, and everything after it talks to the {@linkcode SqlEngine} it returns.
 *
 * @module
 */
import type { Dialect, SqlEngine } from "./engine.ts";
import type { PoolOptions } from "./pool_types.ts";
import { SqlitePool } from "./sqlite_pool.ts";
import { registerDbUrl } from "../util/mod.ts";

/** What {@linkcode openEngine} takes: the pool's options plus where the databases are. */
export interface EngineOptions extends PoolOptions {
  /** Default `sqlite`. */
  dialect?: Dialect;
  /**
   * A PostgreSQL or MySQL server URL: its credentials are used, never recorded, and registered with the secret
   * model (`registerDbUrl`) so every scrubber of the process removes them.
   */
  dbUrl?: string;
  /** The BIRD database root (SQLite files: the source of an embedded PostgreSQL). */
  dbRoot?: string;
  /** The databases the run uses. */
  dbIds?: string[];
  /** Print the embedded PostgreSQL's load lines. */
  verbose?: boolean;
}

/**
 * The engine for a dialect. PostgreSQL without a server URL is the embedded PGlite, loaded once from the SQLite
 * databases under `dbRoot` (cached by their content, `lib/db`); MySQL needs a server. Fails with one line when the
 * dialect needs what is not given.
 */
export async function openEngine(options: EngineOptions = {}): Promise<SqlEngine> {
  const dialect = options.dialect ?? "sqlite";
  const { dbUrl, dbRoot, dbIds, verbose: _verbose, ...pool } = options;
  if (dbUrl) registerDbUrl(dbUrl);
  if (dialect === "sqlite") {
    if (dbUrl) throw new Error("--db-url is for --dialect postgresql or mysql; SQLite reads files");
    return new SqlitePool(pool);
  }
  if (dialect === "mysql") {
    if (!dbUrl) {
      throw new Error(
        "--dialect mysql needs a server: --db-url mysql://user:password@host:port/BIRD (or TEXT2SQL_DB_URL); " +
          "load it with `deno task db load --dialect mysql`",
      );
    }
    const { createMysqlEngine } = await import("./mysql_engine.ts");
    return createMysqlEngine({ ...pool, url: dbUrl });
  }
  const { createPgEngine } = await import("./pg_engine.ts");
  if (dbUrl) return createPgEngine({ ...pool, url: dbUrl });
  if (!dbRoot) throw new Error("the embedded PostgreSQL is loaded from SQLite databases: give --db-root");
  // The embedded default: the selected SQLite databases converted once, then reused from the cache.
  const { ensurePgliteData } = await import("../db/mod.ts");
  const ids = dbIds?.length ? dbIds : undefined;
  let said = false;
  const data = await ensurePgliteData({
    dbRoot,
    dbIds: ids,
    // Only a build says anything: the first time, once per set of databases.
    log: (line) => {
      if (!said) {
        console.error(
          `loading ${ids ? ids.join(", ") : "the databases"} into the embedded PostgreSQL (PGlite), once; ` +
            "later runs reuse it",
        );
      }
      said = true;
      if (options.verbose) console.error(line);
    },
  });
  return createPgEngine({ ...pool, pgliteData: data.path });
}
