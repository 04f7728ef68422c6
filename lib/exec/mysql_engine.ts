/**
 * The MySQL/MariaDB engine: a {@linkcode SqlEngine} over a server URL (`--db-url mysql://…`) holding every BIRD
 * table in one database, as the official mini-dev dump does (`BIRD`). A question's target is its `db_id`; the
 * loader's manifest (`text2sql_loaded`: `db_id`, `table_name`, `source_sha256`, `checksum`, `status`,
 * `loader_version`) says which tables belong to it and keys the gold cache.
 *
 * Scoring mirrors mini-dev's `evaluation_ex.py` with `pymysql`: one session per pair, the prediction executed
 * and fetched, then the gold query (not run when the prediction failed), `set(pred) == set(gold)` on values as
 * pymysql builds them (`mysql_values.ts`), compared on row digests (`result_digest.ts`), with Soft-F1 beside.
 *
 * Statements run in persistent worker processes (`mysql_worker.ts` on the shared `worker_pool.ts`), each with
 * network access to the server only, under the pool's memory limit, SIGKILLed by the parent past the time
 * limit. Their sessions (`mysql_session.ts`) are sandboxed on the server (read-only account and transaction, the
 * server's time limit, temporary-table bounds) and in the worker (queries only, a streamed byte cap, `KILL
 * QUERY` of a statement that outlives its limit).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { type CatalogTable, type Dialect, type EngineInfo, publicServerUrl } from "./engine.ts";
import type { PoolOptions } from "./pool_types.ts";
// Types only: the session module loads mysql2, which only workers and catalog reads need (not every run).
import type { MysqlFailed, MysqlLimits, MysqlRan, MysqlSession } from "./mysql_session.ts";
import { WorkerPool } from "./worker_pool.ts";
import type { WorkerSpec } from "./worker_process.ts";
import { registerDbUrl } from "../util/mod.ts";

/** Options of {@linkcode createMysqlEngine}. */
export interface MysqlEngineOptions extends PoolOptions {
  /** `mysql://user:password@host:port/BIRD` (the database holding every BIRD table). */
  url: string;
  /** Server-side in-memory temporary table bound per statement, bytes (default 64 MiB). */
  tmpTableBytes?: number;
  /** Server-side on-disk temporary table bound per statement, bytes (MariaDB; default 1 GiB). */
  tmpDiskBytes?: number;
}

/** The semantics that key the gold cache: bump when values, comparison or sandboxing change results. */
export const MYSQL_SEMANTICS = "t2s-mysql/1 pymysql=1.0.2 utf8mb4_general_ci flags=pymysql text-protocol " +
  "queries-only digest=value-murmur128";

/** The worker script. */
export const MYSQL_WORKER: URL = new URL("./mysql_worker.ts", import.meta.url);

/** The manifest table the loader writes (`lib/db`). */
const MANIFEST = "text2sql_loaded";

/** The project's deno.json (the worker imports `mysql2` through its import map). */
const CONFIG = new URL("../../deno.json", import.meta.url);

/**
 * The MySQL engine (see the module doc): the shared worker pool with `mysql_worker.ts` as its worker, allowed
 * to reach the server only; the catalog, manifest and version are read here, on a session of their own.
 */
export class MysqlEngine extends WorkerPool {
  readonly dialect: Dialect = "mysql";
  private meta: Promise<MysqlSession> | null = null;
  private readonly limits: MysqlLimits;
  private readonly address: string;

  constructor(private readonly options: MysqlEngineOptions) {
    super(options);
    // Its password is known to every scrubber of the process before any worker, error or record can show it.
    registerDbUrl(options.url);
    let u: URL;
    try {
      u = new URL(options.url);
    } catch {
      throw new Error("--db-url is not a URL: use mysql://user:password@host:port/database");
    }
    if (u.protocol !== "mysql:" && u.protocol !== "mariadb:") {
      throw new Error(`--db-url for MySQL must start with mysql://, not ${u.protocol}//`);
    }
    this.address = `${u.hostname.replace(/^\[|\]$/g, "")}:${u.port || "3306"}`;
    this.limits = {
      timeoutS: this.timeoutS,
      tmpTableBytes: options.tmpTableBytes,
      tmpDiskBytes: options.tmpDiskBytes,
    };
  }

  protected spec(): WorkerSpec {
    const url = this.options.url.replace(/^mariadb:/, "mysql:");
    return {
      script: MYSQL_WORKER,
      label: "MySQL worker",
      readDirs: [],
      flags: [`--config=${fileURLToPath(CONFIG)}`, `--allow-net=${this.address}`],
      init: { url, limits: this.limits },
    };
  }

  /** All tables live in one database: a question's target is its `db_id`. */
  target(_dbRoot: string, dbId: string): string {
    return dbId;
  }

  /** Nothing to grant: the server decides what the account may read. */
  allow(_targets: string[]): void {}

  async info(): Promise<EngineInfo> {
    const s = await this.metaSession();
    return {
      dialect: "mysql",
      engine: "mysql",
      version: s.server!.version,
      semantics: `${MYSQL_SEMANTICS} flavour=${s.server!.flavour}`,
      location: publicServerUrl(this.options.url),
    };
  }

  /** sha256 of the manifest rows of `dbId` (tables, sources, checksums, loader version); null when unknown. */
  async contentKey(target: string): Promise<string | null> {
    const rows = await this.manifest(target);
    if (!rows.length || rows.some((r) => r.status !== "done")) return null;
    const s = await this.metaSession();
    const h = createHash("sha256");
    h.update(
      JSON.stringify([s.server!.version, target, rows.map((r) => [r.table, r.sha, r.checksum, r.loader])]),
    );
    return h.digest("hex");
  }

  /** The loader's manifest rows of one `db_id` (empty when there is no manifest). */
  private async manifest(
    dbId: string,
  ): Promise<{ table: string; sha: string; checksum: string; status: string; loader: string }[]> {
    const s = await this.metaSession();
    const r = await this.metaQuery(
      s,
      `SELECT table_name, source_sha256, checksum, status, loader_version FROM ${MANIFEST} ` +
        `WHERE db_id = ${quote(dbId)} ORDER BY table_name`,
    );
    if (!r.ok) {
      if (/\(1146\)/.test(r.error)) return [];
      throw new Error(`cannot read the manifest ${MANIFEST}: ${r.error}`);
    }
    return r.rows.map((x) => ({
      table: String(x[0]),
      sha: String(x[1]),
      checksum: String(x[2]),
      status: String(x[3]),
      loader: String(x[4]),
    }));
  }

  /**
   * The tables of `db_id` from the manifest and `information_schema` (columns in ordinal order, types as the
   * server names them, primary and foreign keys). Without a manifest, every base table of the database.
   */
  async catalog(target: string): Promise<CatalogTable[]> {
    const s = await this.metaSession();
    const listed = (await this.manifest(target)).map((r) => r.table);
    const inList = (col: string) =>
      listed.length ? ` AND ${col} IN (${listed.map(quote).join(", ")})` : ` AND ${col} <> '${MANIFEST}'`;
    const cols = await this.metaQuery(
      s,
      "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE FROM information_schema.COLUMNS c " +
        "JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME " +
        "WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'" + inList("c.TABLE_NAME") +
        " ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION",
    );
    if (!cols.ok) throw new Error(`cannot read the catalog of ${target}: ${cols.error}`);
    const keys = await this.metaQuery(
      s,
      "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME " +
        "FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE()" + inList("TABLE_NAME") +
        " ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
    );
    if (!keys.ok) throw new Error(`cannot read the keys of ${target}: ${keys.error}`);
    const tables = new Map<string, CatalogTable>();
    const order = listed.length ? listed : [];
    for (const [table, name, type, nullable] of cols.rows.map((r) => r.map(String))) {
      let t = tables.get(table);
      if (!t) {
        t = { name: table, columns: [], primaryKey: [], foreignKeys: [] };
        tables.set(table, t);
        if (!listed.length) order.push(table);
      }
      t.columns.push({ name, type, notNull: nullable === "NO" });
    }
    const fks = new Map<string, { columns: string[]; refTable: string; refColumns: string[] }>();
    for (const [table, constraint, column, refTable, refColumn] of keys.rows) {
      const t = tables.get(String(table));
      if (!t) continue;
      if (constraint === "PRIMARY") t.primaryKey.push(String(column));
      else if (refTable !== null) {
        const k = `${table}\0${constraint}`;
        let fk = fks.get(k);
        if (!fk) {
          fk = { columns: [], refTable: String(refTable), refColumns: [] };
          fks.set(k, fk);
          t.foreignKeys.push(fk);
        }
        fk.columns.push(String(column));
        fk.refColumns.push(String(refColumn));
      }
    }
    return order.map((n) => tables.get(n)).filter((t): t is CatalogTable => !!t);
  }

  override async close(): Promise<void> {
    const meta = this.meta;
    this.meta = null;
    if (meta) await meta.then((s) => s.close(), () => {});
    await super.close();
  }

  /** A session of its own for the catalog and the manifest (never a worker's). */
  private metaSession(): Promise<MysqlSession> {
    this.meta ??= import("./mysql_session.ts").then(({ MysqlSession }) =>
      MysqlSession.open(this.options.url.replace(/^mariadb:/, "mysql:"), { limits: this.limits })
    );
    this.meta.catch(() => (this.meta = null));
    return this.meta;
  }

  private async metaQuery(s: MysqlSession, sql: string): Promise<MysqlRan | MysqlFailed> {
    await s.begin(this.timeoutS);
    return s.run(sql, { maxBytes: 256 * 1024 ** 2, timeoutS: this.timeoutS });
  }
}

/** A string literal for the manifest and catalog queries (names only; backslashes and quotes escaped). */
function quote(s: string): string {
  return `'${s.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

/**
 * A MySQL/MariaDB engine for a server URL. Connects lazily; {@linkcode SqlEngine.info} checks the server.
 *
 * @example
 * const engine = createMysqlEngine({ url: "mysql://t2s_ro:pw@127.0.0.1:3306/BIRD", workers: 4, timeoutS: 30 });
 * const r = await engine.execute("superhero", "SELECT COUNT(*) FROM superhero");
 * await engine.close();
 */
export function createMysqlEngine(options: MysqlEngineOptions): MysqlEngine {
  return new MysqlEngine(options);
}
