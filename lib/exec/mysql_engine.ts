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
 * The sessions (`mysql_session.ts`) are sandboxed on the server (read-only account and transaction, the
 * server's time limit, temporary-table bounds) and here (queries only, a streamed byte cap). A statement that
 * outlives its limit by a second is killed on the server (`KILL QUERY` from a second connection) and, if the
 * server does not answer, its connection is dropped.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { CatalogTable, EngineInfo, SqlEngine } from "./engine.ts";
import type { ExecErr, ExecResult, GoldDigest, ScoredOk, ScoreOutcome } from "./pool_types.ts";
import { GOLD_DIGEST_CHARS } from "./pool_types.ts";
import {
  cellKey,
  decodeDigest,
  digestExMatch,
  digestRows,
  digestSoftF1,
  encodeDigest,
  type ResultDigest,
} from "./result_digest.ts";
import { killQuery, type MysqlFailed, type MysqlRan, MysqlSession, redactMysqlUrl } from "./mysql_session.ts";
import type { MysqlValue } from "./mysql_values.ts";

/** Options of {@linkcode createMysqlEngine}. */
export interface MysqlEngineOptions {
  /** `mysql://user:password@host:port/BIRD` (the database holding every BIRD table). */
  url: string;
  /** Parallel sessions (default: the number of CPU cores). */
  workers?: number;
  /** Per-statement time limit, seconds (default 30, as the official evaluator). */
  timeoutS?: number;
  /** Memory the engine may use for one statement's rows, bytes: results are capped below it. */
  workerMemory?: number;
  /** Rows kept for display (default 10). */
  sampleRows?: number;
  /** Raw bytes of one statement's values past which it fails as `too_large` (default 256 MiB). */
  maxBytes?: number;
  /** Largest gold digest sent back for caching (default `GOLD_DIGEST_CHARS`). */
  goldDigestChars?: number;
  /** Server-side in-memory temporary table bound per statement, bytes (default 64 MiB). */
  tmpTableBytes?: number;
  /** Server-side on-disk temporary table bound per statement, bytes (MariaDB; default 1 GiB). */
  tmpDiskBytes?: number;
}

/** The semantics that key the gold cache: bump when values, comparison or sandboxing change results. */
export const MYSQL_SEMANTICS = "t2s-mysql/1 pymysql=1.0.2 utf8mb4_general_ci flags=pymysql text-protocol " +
  "queries-only digest=value-murmur128";

/** How long past the limit a statement may run before it is killed on the server, then dropped, ms. */
const KILL_SLACK_MS = 1000;
const DROP_SLACK_MS = 4000;

/** The manifest table the loader writes (`lib/db`). */
const MANIFEST = "text2sql_loaded";

type Failure = ExecErr & { execMs?: number };

/** The MySQL engine (see the module doc). */
export class MysqlEngine implements SqlEngine {
  readonly dialect = "mysql" as const;
  readonly workers: number;
  readonly timeoutS: number;
  private readonly maxBytes: number;
  private readonly sampleRows: number;
  private readonly goldDigestChars: number;
  private readonly sessions: MysqlSession[] = [];
  private idle: MysqlSession[] = [];
  private queue: ((s: MysqlSession) => void)[] = [];
  private opening = 0;
  private closed = false;
  private meta: Promise<MysqlSession> | null = null;

  constructor(private readonly options: MysqlEngineOptions) {
    this.workers = Math.max(1, options.workers ?? navigator.hardwareConcurrency ?? 2);
    this.timeoutS = options.timeoutS ?? 30;
    const memoryCap = options.workerMemory ? Math.floor(options.workerMemory / 4) : Infinity;
    this.maxBytes = Math.min(options.maxBytes ?? 256 * 1024 ** 2, memoryCap);
    this.sampleRows = options.sampleRows ?? 10;
    this.goldDigestChars = options.goldDigestChars ?? GOLD_DIGEST_CHARS;
  }

  /** All tables live in one database: a question's target is its `db_id`. */
  target(_dbRoot: string, dbId: string): string {
    return dbId;
  }

  /** Nothing to grant: the server decides what the account may read. */
  allow(_targets: string[]): void {}

  async execute(target: string, sql: string, options: { timeoutS?: number } = {}): Promise<ExecResult> {
    return (await this.executeEach(target, [sql], options))[0];
  }

  async executeEach(
    _target: string,
    sqls: string[],
    options: { timeoutS?: number } = {},
  ): Promise<ExecResult[]> {
    const timeoutS = options.timeoutS ?? this.timeoutS;
    const out: ExecResult[] = [];
    const session = await this.acquire();
    try {
      for (const sql of sqls) {
        const t0 = performance.now();
        const begun = await this.begin(session, timeoutS);
        const ran = begun ?? await this.guarded(session, sql, timeoutS);
        const ms = performance.now() - t0;
        if (!ran.ok) {
          out.push({ ...ran, ms });
          break;
        }
        const distinct = distinctKeys(ran.rows, this.maxBytes);
        if (distinct === null) {
          out.push({
            ok: false,
            kind: "too_large",
            error: `result too large to return: over ${this.maxBytes} bytes`,
            ms,
            execMs: ran.execMs,
          });
          break;
        }
        out.push({
          ok: true,
          columns: ran.columns,
          rows: distinct,
          rowCount: ran.rows.length,
          sample: ran.sample,
          ms,
          execMs: ran.execMs,
        });
      }
    } finally {
      this.release(session);
    }
    return out;
  }

  async score(
    _target: string,
    predSql: string,
    options: { gold: string | GoldDigest | null; timeoutS?: number },
  ): Promise<ScoreOutcome> {
    const timeoutS = options.timeoutS ?? this.timeoutS;
    const cached = typeof options.gold === "object" ? options.gold : null;
    const none = { gold: cached, goldExecuted: false, match: false, softF1: 0 };
    const session = await this.acquire();
    try {
      const t0 = performance.now();
      const pred = (await this.begin(session, timeoutS)) ?? await this.guarded(session, predSql, timeoutS);
      const predMs = performance.now() - t0;
      if (!pred.ok) return { pred: { ...pred, ms: predMs }, ...none };
      const predDigest = digestRows(pred.rows, pred.columns.length);
      const predOut = { ...this.summary(pred, predDigest), ms: predMs };
      pred.rows = [];
      if (options.gold === null) return { pred: predOut, ...none };
      let goldDigest: ResultDigest;
      let gold: GoldDigest;
      if (cached) {
        if (!cached.digest) throw new Error("a cached gold result without its digest cannot be compared");
        goldDigest = decodeDigest(cached.digest);
        gold = cached;
      } else {
        const g0 = performance.now();
        const ran = await this.guarded(session, options.gold as string, timeoutS);
        if (!ran.ok) {
          return {
            pred: predOut,
            gold: { ...ran, ms: performance.now() - g0 },
            goldExecuted: true,
            match: false,
            softF1: 0,
          };
        }
        goldDigest = digestRows(ran.rows, ran.columns.length);
        gold = this.summary(ran, goldDigest);
        ran.rows = [];
        const size = Math.ceil(goldDigest.rows.byteLength / 3) * 4 +
          Math.ceil(goldDigest.cells.byteLength / 3) * 4;
        if (size <= this.goldDigestChars) gold.digest = encodeDigest(goldDigest);
      }
      return {
        pred: predOut,
        gold,
        goldExecuted: !cached,
        match: digestExMatch(predDigest, goldDigest),
        softF1: digestSoftF1(predDigest, goldDigest),
      };
    } finally {
      this.release(session);
    }
  }

  private summary(ran: MysqlRan, digest: ResultDigest): ScoredOk {
    return {
      ok: true,
      columns: ran.columns,
      rowCount: ran.rows.length,
      distinctRows: digest.rows.length / 4,
      sample: ran.sample,
      execMs: ran.execMs,
    };
  }

  /** Reset and set up the session for one request; a failure (server gone) fails the request. */
  private async begin(session: MysqlSession, timeoutS: number): Promise<Failure | null> {
    try {
      await session.begin(timeoutS);
      return null;
    } catch (e) {
      return { ok: false, kind: "error", error: (e as Error).message, ms: 0 };
    }
  }

  /**
   * Run one statement under a second, client-side watch: past the limit plus a second it is killed on the
   * server; if the server does not answer a few seconds later, the connection is dropped.
   */
  private async guarded(
    session: MysqlSession,
    sql: string,
    timeoutS: number,
  ): Promise<MysqlRan | MysqlFailed> {
    const threadId = session.threadId;
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    let dropTimer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<MysqlFailed>((resolve) => {
      killTimer = setTimeout(() => {
        if (threadId !== null) killQuery(this.options.url, threadId).catch(() => {});
        dropTimer = setTimeout(() => {
          session.drop();
          resolve({ ok: false, kind: "timeout", error: `query timed out after ${timeoutS} s` });
        }, DROP_SLACK_MS);
      }, timeoutS * 1000 + KILL_SLACK_MS);
    });
    try {
      const ran = await Promise.race([
        session.run(sql, { maxBytes: this.maxBytes, sampleRows: this.sampleRows, timeoutS }),
        late,
      ]);
      return ran;
    } finally {
      clearTimeout(killTimer);
      clearTimeout(dropTimer);
    }
  }

  async info(): Promise<EngineInfo> {
    const s = await this.metaSession();
    return {
      dialect: "mysql",
      engine: "mysql",
      version: s.server!.version,
      semantics: `${MYSQL_SEMANTICS} flavour=${s.server!.flavour}`,
      location: redactMysqlUrl(this.options.url),
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

  /** The in-process engine has no worker processes. */
  pids(): number[] {
    return [];
  }

  async close(): Promise<void> {
    this.closed = true;
    const meta = this.meta;
    this.meta = null;
    if (meta) await meta.then((s) => s.close(), () => {});
    await Promise.all(this.sessions.map((s) => s.close()));
    this.sessions.length = 0;
    this.idle = [];
  }

  /** A session of its own for the catalog and the manifest (never one a question is running on). */
  private metaSession(): Promise<MysqlSession> {
    if (this.closed) return Promise.reject(new Error("MysqlEngine is closed"));
    this.meta ??= MysqlSession.open(this.options.url, { limits: this.limits(this.timeoutS) });
    this.meta.catch(() => (this.meta = null));
    return this.meta;
  }

  private async metaQuery(s: MysqlSession, sql: string): Promise<MysqlRan | MysqlFailed> {
    await s.begin(this.timeoutS);
    return s.run(sql, { maxBytes: 256 * 1024 ** 2, sampleRows: 0, timeoutS: this.timeoutS });
  }

  private limits(timeoutS: number) {
    return { timeoutS, tmpTableBytes: this.options.tmpTableBytes, tmpDiskBytes: this.options.tmpDiskBytes };
  }

  private async acquire(): Promise<MysqlSession> {
    if (this.closed) throw new Error("MysqlEngine is closed");
    const s = this.idle.pop();
    if (s) return s;
    if (this.sessions.length + this.opening < this.workers) {
      this.opening++;
      try {
        const fresh = await MysqlSession.open(this.options.url, { limits: this.limits(this.timeoutS) });
        this.sessions.push(fresh);
        return fresh;
      } finally {
        this.opening--;
      }
    }
    return new Promise((res) => this.queue.push(res));
  }

  private release(s: MysqlSession): void {
    if (this.closed) {
      s.close();
      return;
    }
    const next = this.queue.shift();
    if (next) next(s);
    else this.idle.push(s);
  }
}

/** Distinct rows as canonical cell keys (first-seen order), or null past `maxBytes` of keys. */
function distinctKeys(rows: MysqlValue[][], maxBytes: number): string[][] | null {
  const seen = new Set<string>();
  const out: string[][] = [];
  let bytes = 0;
  for (const raw of rows) {
    const cells = raw.map(cellKey);
    const key = JSON.stringify(cells);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(cells);
    bytes += key.length;
    if (bytes > maxBytes) return null;
  }
  return out;
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
