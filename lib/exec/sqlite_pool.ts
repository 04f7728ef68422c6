/**
 * The SQLite engine: a pool of persistent, sandboxed SQLite worker processes (`sqlite_worker.ts`).
 *
 * Why subprocesses: `node:sqlite` has no interrupt or progress handler, and `Worker.terminate()` does not stop
 * a thread stuck in a query (Deno 2.9), so the only reliable time limit is SIGKILL on a process, then a fresh
 * one (~50 ms). Each worker runs with `--allow-read` on the database folders only (no write, net, env, run or
 * ffi), under a data-segment limit the kernel enforces (`ulimit -d`: a result too big fails its own question,
 * not the machine), and with a parent-death signal (`setpriv --pdeathsig KILL`), so no worker outlives the
 * process that started it, however that process dies.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { dirname, resolve } from "node:path";
import { fileSha256 } from "../util/mod.ts";
import type { CatalogTable, Dialect, EngineInfo } from "./engine.ts";
import { ENGINE_OPTIONS, sqliteVersion } from "./pool_types.ts";
import { WorkerPool } from "./worker_pool.ts";
import { SQLITE_WORKER, type WorkerSpec } from "./worker_process.ts";

/**
 * Run untrusted SQL against BIRD's SQLite databases, in parallel, with a hard time limit.
 *
 * @example
 * const pool = new SqlitePool({ workers: 2, timeoutS: 30 });
 * const r = await pool.execute("data/sample/dev_databases/superhero/superhero.sqlite", "SELECT COUNT(*) FROM superhero");
 * await pool.close();
 */
export class SqlitePool extends WorkerPool {
  readonly dialect: Dialect = "sqlite";
  private readonly readDirs = new Set<string>();

  protected spec(): WorkerSpec {
    return { script: SQLITE_WORKER, label: "SQLite worker", readDirs: [...this.readDirs] };
  }

  /** `<db-root>/<db_id>/<db_id>.sqlite`, as BIRD lays its databases out. */
  target(dbRoot: string, dbId: string): string {
    return resolve(dbRoot, dbId, `${dbId}.sqlite`);
  }

  protected override dbOf(target: string): string {
    return resolve(target);
  }

  /**
   * Grant the workers read access to these databases' folders. Workers get read access only to the folders they
   * need; a new folder means fresh workers, so callers that know their databases up front say so here.
   */
  allow(dbPaths: string[]): void {
    const dirs = dbPaths.map((p) => dirname(resolve(p))).filter((d) => !this.readDirs.has(d));
    if (!dirs.length) return;
    for (const d of dirs) this.readDirs.add(d);
    this.renew();
  }

  /** The SQLite version the workers link (for `run.json`): the same Deno binary, so asked here, not of a worker. */
  sqliteVersion(): Promise<string> {
    return Promise.resolve(sqliteVersion());
  }

  info(): Promise<EngineInfo> {
    return Promise.resolve({
      dialect: "sqlite",
      engine: "sqlite",
      version: sqliteVersion(),
      semantics: ENGINE_OPTIONS,
      location: null,
    });
  }

  /** The database file's sha256. */
  contentKey(target: string): Promise<string | null> {
    return fileSha256(target);
  }

  /** Tables, columns, keys as SQLite's own catalog states them (read in this process, read-only). */
  catalog(target: string): Promise<CatalogTable[]> {
    const db = new DatabaseSync(target, { readOnly: true });
    try {
      const q = (sql: string) => db.prepare(sql).all() as Record<string, unknown>[];
      const quote = (n: string) => `"${n.replaceAll('"', '""')}"`;
      const names = q(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
      )
        .map((r) => String(r.name));
      return Promise.resolve(names.map((name) => {
        const cols = q(`PRAGMA table_info(${quote(name)})`);
        const fks = q(`PRAGMA foreign_key_list(${quote(name)})`);
        const byId = new Map<number, { columns: string[]; refTable: string; refColumns: string[] }>();
        for (const f of fks) {
          const fk = byId.get(Number(f.id)) ?? { columns: [], refTable: String(f.table), refColumns: [] };
          fk.columns.push(String(f.from));
          fk.refColumns.push(f.to === null ? "" : String(f.to));
          byId.set(Number(f.id), fk);
        }
        return {
          name,
          columns: cols.map((c) => ({
            name: String(c.name),
            type: String(c.type),
            notNull: Number(c.notnull) === 1,
          })),
          primaryKey: cols.filter((c) => Number(c.pk) > 0).sort((a, b) => Number(a.pk) - Number(b.pk))
            .map((c) => String(c.name)),
          foreignKeys: [...byId.values()],
        };
      }));
    } finally {
      db.close();
    }
  }
}
