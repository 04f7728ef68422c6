/**
 * The PostgreSQL engine: a pool of persistent, sandboxed worker processes (`pg_worker.ts`) on a server given by
 * URL (`--db-url postgres://…`), or on embedded PGlite (PostgreSQL compiled to WebAssembly) where each worker
 * holds a private in-memory copy of the data file (`pgliteData`, a `dumpDataDir` tarball).
 *
 * All BIRD databases' tables live in one database, as in the official mini-dev dump, so a question's target is
 * its `db_id`; the loader's manifest (`text2sql.loaded`) says which tables belong to it and what they were loaded
 * from (the gold cache's content key). Workers are processes, not connections in this one, so a hung query (PGlite
 * cannot be interrupted at all) or a stuck driver is ended by SIGKILL.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { type CatalogTable, type Dialect, type EngineInfo, publicServerUrl } from "./engine.ts";
import type { PoolOptions } from "./pool_types.ts";
import { WorkerPool } from "./worker_pool.ts";
import type { WorkerProcess, WorkerSpec } from "./worker_process.ts";
import type { PgWorkerInit } from "./pg_worker.ts";
import { registerDbUrl, sha256Hex } from "../util/mod.ts";

/** Options of {@linkcode createPgEngine}. */
export interface PgEngineOptions extends PoolOptions {
  /** A PostgreSQL server URL; absent: embedded PGlite. */
  url?: string;
  /** PGlite: the data tarball to load into each worker (absent: an empty database). */
  pgliteData?: string;
}

/**
 * The semantics string of the PostgreSQL engines (part of the gold cache key): bump it when what a verdict
 * depends on changes.
 */
export const PG_SEMANTICS =
  "t2s-pg/2 psycopg2=2.9-text-casts pqexec=last-result txn=pred+gold-one-readonly-snapshot " +
  "refuse=txn-control,role,limits digest=value-murmur128";

const PG_WORKER = new URL("./pg_worker.ts", import.meta.url);
const CONFIG = new URL("../../deno.json", import.meta.url);

/** `host:port` of a server URL, for the worker's network permission. */
function hostPort(url: string): string {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, "") || "localhost";
  return `${host}:${u.port || "5432"}`;
}

/** The folder of the installed PGlite package (its WebAssembly and data files). */
function pgliteDir(): string {
  return dirname(fromFileUrl(import.meta.resolve("@electric-sql/pglite")));
}

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;

/**
 * The tables of one BIRD database with their columns (ordinal order, types as PostgreSQL names them), primary
 * and foreign keys, as one JSON text: the tables the manifest lists for the db_id, or every visible user table
 * where there is no manifest.
 */
function catalogSql(dbId: string, manifest: boolean): string {
  const cols = (rel: string, keys: string) =>
    `(SELECT json_agg(a.attname ORDER BY k.i) FROM unnest(${keys}) WITH ORDINALITY k(n, i) ` +
    `JOIN pg_attribute a ON a.attrelid = ${rel} AND a.attnum = k.n)`;
  const tables = manifest
    ? `SELECT c.oid, c.relname FROM pg_class c WHERE c.relkind IN ('r', 'p', 'v', 'm') ` +
      `AND pg_table_is_visible(c.oid) AND c.relname IN ` +
      `(SELECT table_name FROM text2sql.loaded WHERE db_id = ${quote(dbId)})`
    : `SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ` +
      `WHERE c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid) ` +
      `AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'text2sql')`;
  return `SELECT coalesce(json_agg(json_build_object(
    'name', t.relname,
    'columns', (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
      'notNull', a.attnotnull) ORDER BY a.attnum) FROM pg_attribute a
      WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped),
    'primaryKey', coalesce((SELECT ${cols("p.conrelid", "p.conkey")} FROM pg_constraint p
      WHERE p.conrelid = t.oid AND p.contype = 'p'), '[]'::json),
    'foreignKeys', coalesce((SELECT json_agg(json_build_object('columns', ${cols("f.conrelid", "f.conkey")},
      'refTable', rc.relname, 'refColumns', ${cols("f.confrelid", "f.confkey")}) ORDER BY f.conname)
      FROM pg_constraint f JOIN pg_class rc ON rc.oid = f.confrelid
      WHERE f.conrelid = t.oid AND f.contype = 'f'), '[]'::json)
  ) ORDER BY t.oid), '[]'::json)::text FROM (${tables}) t`;
}

/** The text of a one-cell result (`s…` canonical key). */
function textCell(rows: string[][]): string | null {
  const k = rows[0]?.[0];
  return typeof k === "string" && k.startsWith("s") ? k.slice(1) : null;
}

/** Run untrusted SQL against a PostgreSQL server or embedded PGlite, in parallel, with a hard time limit. */
export class PgEngine extends WorkerPool {
  readonly dialect: Dialect = "postgresql";
  private readonly url: string | null;
  private readonly pgliteData: string | null;
  private manifest: Promise<boolean> | null = null;
  /** Backends of exited workers still to be terminated, and the termination under way. */
  private orphans: { pid: number; start: string }[] = [];
  private reaping: Promise<void> = Promise.resolve();

  constructor(options: PgEngineOptions = {}) {
    super(options);
    this.url = options.url ?? null;
    // Its password is known to every scrubber of the process before any worker, error or record can show it.
    if (this.url) registerDbUrl(this.url);
    this.pgliteData = options.pgliteData ? resolve(options.pgliteData) : null;
    if (this.url && !/^postgres(ql)?:\/\//.test(this.url)) {
      throw new Error(
        `not a PostgreSQL URL: ${publicServerUrl(this.url)} (use postgres://user:password@host:port/db)`,
      );
    }
  }

  protected spec(): WorkerSpec {
    const config = `--config=${fromFileUrl(CONFIG)}`;
    if (this.url) {
      const init: PgWorkerInit = {
        kind: "server",
        url: this.url,
        applicationName: `text2sql-${crypto.randomUUID().slice(0, 13)}`,
      };
      return {
        script: PG_WORKER,
        label: "PostgreSQL worker",
        readDirs: [],
        // The worker's environment is cleared: npm:pg may look up its PG* variables and finds none.
        flags: [config, `--allow-net=${hostPort(this.url)}`, "--allow-env"],
        init: init as unknown as Record<string, unknown>,
      };
    }
    const init: PgWorkerInit = { kind: "pglite", pgliteData: this.pgliteData };
    return {
      script: PG_WORKER,
      label: "PGlite worker",
      readDirs: [pgliteDir(), ...(this.pgliteData ? [this.pgliteData] : [])],
      flags: [config],
      init: init as unknown as Record<string, unknown>,
    };
  }

  /**
   * A server worker that exited may leave its backend running the query it was killed in (a query can turn off
   * `statement_timeout` and `client_connection_check_interval` with `set_config`): terminate that backend, named
   * by the pid and start time the worker noted when it connected, through a connection of the same role (a role
   * may terminate its own backends). Only a worker that was killed or died with a request in flight: an idle
   * worker's backend ends when its connection closes.
   */
  protected override workerGone(proc: WorkerProcess): void {
    const b = (proc.note as { backend?: { pid?: unknown; start?: unknown } } | null)?.backend;
    // A worker stopped idle (the pool closing, a change of permissions) left no query behind.
    if (!proc.lostWork || !this.url || typeof b?.pid !== "number" || typeof b.start !== "string") return;
    this.orphans.push({ pid: b.pid, start: b.start });
    this.reaping = this.reaping.then(() => this.reap());
  }

  /** Terminate the noted backends of exited workers that are still there (never throws). */
  private async reap(): Promise<void> {
    const list = this.orphans;
    this.orphans = [];
    if (!list.length || !this.url) return;
    const { default: driver } = await import("pg");
    const client = new driver.Client({
      connectionString: this.url,
      application_name: "text2sql-reaper",
      connectionTimeoutMillis: 10_000,
    });
    client.on("error", () => {});
    try {
      await client.connect();
      await client.query({
        text: `SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a
          JOIN json_to_recordset($1::json) AS o(pid int, start timestamptz)
            ON a.pid = o.pid AND a.backend_start = o.start
          WHERE a.usename = current_user AND a.pid <> pg_backend_pid()`,
        values: [JSON.stringify(list)],
      });
    } catch {
      // The server is gone or refuses: nothing left to terminate that this role could reach.
    } finally {
      await client.end().catch(() => {});
    }
  }

  override async close(): Promise<void> {
    await super.close();
    // Every worker has exited (and been noted): wait for their backends to be terminated.
    await this.reaping;
  }

  /** The db_id: every database's tables live in one PostgreSQL database. */
  target(_dbRoot: string, dbId: string): string {
    return dbId;
  }

  /** Nothing to grant: the workers reach the one database already. */
  allow(_targets: string[]): void {}

  /** Run one statement whose result is one text cell; null when it fails. */
  private async text(sql: string): Promise<string | null> {
    const r = await this.execute("", sql);
    return r.ok ? textCell(r.rows) : null;
  }

  /** Whether the loader's manifest table is there (asked once). */
  private hasManifest(): Promise<boolean> {
    return this.manifest ??= this.text("SELECT to_regclass('text2sql.loaded')::text")
      .then((t) => t !== null && t !== "");
  }

  /** The engine as `run.json` records it; throws one line when the server (or PGlite) cannot be reached. */
  async info(): Promise<EngineInfo> {
    const r = await this.execute("", "SELECT current_setting('server_version')");
    if (!r.ok) {
      const where = this.url
        ? `the PostgreSQL server at ${publicServerUrl(this.url)}`
        : "the embedded PostgreSQL";
      throw new Error(`cannot reach ${where}: ${r.error}`);
    }
    const version = textCell(r.rows) ?? "unknown";
    return {
      dialect: "postgresql",
      engine: this.url ? "postgresql" : "pglite",
      version: this.url ? version : `${version} (PGlite)`,
      semantics: PG_SEMANTICS,
      location: this.url ? publicServerUrl(this.url) : this.pgliteData,
    };
  }

  /** The manifest's record of the db_id's tables and their sources, hashed; null without a manifest. */
  async contentKey(target: string): Promise<string | null> {
    if (!(await this.hasManifest())) return null;
    const listing = await this.text(
      `SELECT string_agg(table_name || ':' || source_sha256, ',' ORDER BY table_name) ` +
        `FROM text2sql.loaded WHERE db_id = ${quote(target)}`,
    );
    return listing ? sha256Hex(`${PG_SEMANTICS}\n${target}\n${listing}`) : null;
  }

  async catalog(target: string): Promise<CatalogTable[]> {
    const r = await this.execute("", catalogSql(target, await this.hasManifest()));
    if (!r.ok) throw new Error(`cannot read the PostgreSQL catalog of ${target}: ${r.error}`);
    return JSON.parse(textCell(r.rows) ?? "[]") as CatalogTable[];
  }
}

/** The PostgreSQL engine for a server URL, or embedded PGlite on a data tarball. */
export function createPgEngine(options: PgEngineOptions = {}): PgEngine {
  return new PgEngine(options);
}
