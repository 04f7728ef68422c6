/**
 * One sandboxed MySQL/MariaDB connection that runs untrusted statements as mini-dev's `pymysql` would: the text
 * protocol (`COM_QUERY`), no multi-statements, the `utf8mb4_general_ci` connection collation pymysql asks for,
 * pymysql's capability flags (no `IGNORE_SPACE`: `COUNT (*)` is the syntax error it is there), every value's raw
 * text converted by `mysql_values.ts`.
 *
 * The sandbox, in layers:
 * - the server account should hold SELECT only (the loader's read-only user); the session is read-only
 *   (`transaction_read_only`, then `START TRANSACTION READ ONLY`);
 * - only query statements are sent (SELECT, WITH, VALUES, TABLE, EXPLAIN, DESCRIBE, SHOW): a model's `SET`,
 *   `KILL`, `USE`, `COMMIT`, `LOCK`, `HANDLER`, `DO`, `CALL` … fails its own question before reaching the server;
 * - the time limit is the server's (`max_statement_time` on MariaDB, `max_execution_time` on MySQL); the owner
 *   of the connection also kills a statement that outlives it (`KILL QUERY`, see {@linkcode MysqlSession.threadId});
 * - server memory and disk per statement are bounded by `tmp_table_size`/`max_heap_table_size` (and MariaDB's
 *   `tmp_disk_table_size`); `sql_select_limit` is left alone, since it would change results;
 * - rows are streamed and counted: past `maxBytes` the connection is dropped and the statement is `too_large`;
 * - before each request the session is reset (`COM_RESET_CONNECTION`) and set up again, so nothing one question
 *   does (user variables, locks, a changed setting) reaches the next; within a score request the prediction and
 *   its gold query share one session, as in the official script.
 *
 * @module
 */
import mysql from "mysql2";
import { type MysqlConverter, mysqlConverter, type MysqlValue } from "./mysql_values.ts";

/** Which server family a connection talks to (their time-limit variables and semantics differ). */
export type MysqlFlavour = "mariadb" | "mysql";

/** The server as the session found it. */
export interface MysqlServerInfo {
  flavour: MysqlFlavour;
  /** `SELECT VERSION()`: `10.11.19-MariaDB-0+deb12u1`, `8.0.36`. */
  version: string;
  /** `@@version_comment`. */
  comment: string;
}

/** Server-side bounds of one statement. */
export interface MysqlLimits {
  /** Time limit, seconds, enforced by the server. */
  timeoutS: number;
  /** In-memory temporary table bound, bytes (`tmp_table_size`, `max_heap_table_size`). */
  tmpTableBytes?: number;
  /** On-disk temporary table bound, bytes (MariaDB `tmp_disk_table_size`). */
  tmpDiskBytes?: number;
}

/** A statement that ran. */
export interface MysqlRan {
  ok: true;
  columns: string[];
  /** Comparable cell values (`mysql_values.ts`), every row in order. */
  rows: MysqlValue[][];
  /** From sending the statement to its last row, milliseconds. */
  execMs: number;
}

/** A statement that failed, was refused, ran out of time or returned too much. */
export interface MysqlFailed {
  ok: false;
  kind: "error" | "timeout" | "too_large";
  error: string;
  execMs?: number;
}

/** Default `tmp_table_size`/`max_heap_table_size` of a session: 64 MiB. */
export const DEFAULT_TMP_TABLE_BYTES = 64 * 1024 ** 2;
/** Default MariaDB `tmp_disk_table_size` of a session: 1 GiB. */
export const DEFAULT_TMP_DISK_BYTES = 1024 ** 3;

/** MariaDB `ER_STATEMENT_TIMEOUT`, MySQL `ER_QUERY_TIMEOUT`, and `ER_QUERY_INTERRUPTED` (a `KILL QUERY`). */
const TIMEOUT_ERRNOS = new Set([1969, 3024, 1317]);

/** The statements a question may run: queries only. */
const QUERY_KEYWORDS = new Set(["SELECT", "WITH", "VALUES", "TABLE", "EXPLAIN", "DESCRIBE", "DESC", "SHOW"]);

/** The refusal of a statement that is not a query. */
export const NOT_A_QUERY =
  "not authorized: only SELECT, WITH, VALUES, TABLE, EXPLAIN, DESCRIBE and SHOW statements are run";

/**
 * The statement's first keyword after whitespace, comments and opening parentheses, upper-cased; `""` for an
 * empty statement; null when it starts with an executable comment (`/*! … *\/`, `/*M! … *\/`), whose content the
 * server runs as SQL.
 */
export function firstKeyword(sql: string): string | null {
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    if (/\s/.test(c) || c === "(") {
      i++;
    } else if (c === "#" || (c === "-" && sql[i + 1] === "-" && (i + 2 >= n || /\s/.test(sql[i + 2])))) {
      const nl = sql.indexOf("\n", i);
      i = nl < 0 ? n : nl + 1;
    } else if (c === "/" && sql[i + 1] === "*") {
      if (sql[i + 2] === "!" || (sql[i + 2] === "M" && sql[i + 3] === "!") || sql[i + 2] === "+") return null;
      const end = sql.indexOf("*/", i + 2);
      if (end < 0) return "";
      i = end + 2;
    } else {
      break;
    }
  }
  const m = /^[A-Za-z_]+/.exec(sql.slice(i, i + 16));
  return i >= n ? "" : m ? m[0].toUpperCase() : sql[i];
}

/**
 * Every word that begins a statement in MySQL 8 or MariaDB 10.11 that is not a query (writes, DDL, session and
 * server commands, compound statements). A statement starting with one of these is refused; one starting with a
 * word that begins no statement at all (`SELEC 1`) goes to the server, which can only answer with its own syntax
 * error, so the error taxonomy sees a syntax error, as with pymysql.
 */
const OTHER_STATEMENT_KEYWORDS = new Set(
  ("ALTER ANALYZE BACKUP BEGIN BINLOG CACHE CALL CHANGE CHECK CHECKSUM CLONE CLOSE COMMIT CREATE DEALLOCATE " +
    "DECLARE DELETE DO DROP END EXECUTE FETCH FLUSH GET GRANT HANDLER HELP IF IMPORT INSERT INSTALL ITERATE KILL " +
    "LEAVE LOAD LOCK LOOP OPEN OPTIMIZE PREPARE PURGE RELEASE RENAME REPAIR REPEAT REPLACE RESET RESIGNAL " +
    "RESTART RETURN REVOKE ROLLBACK SAVEPOINT SET SHUTDOWN SIGNAL START STOP TRUNCATE UNINSTALL UNLOCK UPDATE USE " +
    "WHILE XA CASE").split(" "),
);

/**
 * Whether a statement may be sent: a query, an empty one (the server answers `Query was empty`), a parenthesised
 * one (only a query can be), or one whose first word begins no statement (the server's syntax error).
 */
export function isQueryStatement(sql: string): boolean {
  const k = firstKeyword(sql);
  if (k === null) return false;
  if (k === "" || k === "(" || QUERY_KEYWORDS.has(k)) return true;
  return /^[A-Z_]+$/.test(k) && !OTHER_STATEMENT_KEYWORDS.has(k);
}

/** Capability flags as pymysql sends them: mysql2's defaults less the ones pymysql does not set. */
const FLAGS = [
  "-IGNORE_SPACE",
  "-LOCAL_FILES",
  "-FOUND_ROWS",
  "-ODBC",
  "-MULTI_STATEMENTS",
  "-CLIENT_QUERY_ATTRIBUTES",
];

// deno-lint-ignore no-explicit-any
type Conn = any;

function connect(url: string, database: string | null): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const conn = mysql.createConnection({
      uri: url,
      ...(database !== null ? { database } : {}),
      flags: FLAGS,
      charset: "UTF8MB4_GENERAL_CI",
      multipleStatements: false,
      rowsAsArray: true,
      typeCast: false,
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      connectTimeout: 10_000,
      infileStreamFactory: () => {
        throw new Error("LOCAL INFILE is refused");
      },
    });
    conn.once("error", reject);
    conn.connect((err: Error | null) => {
      if (err) reject(err);
      else {
        conn.removeListener("error", reject);
        // A later connection error (the server went away) is reported by the next command.
        conn.on("error", () => {});
        resolve(conn);
      }
    });
  });
}

function query(conn: Conn, sql: string): Promise<unknown[][]> {
  return new Promise((resolve, reject) =>
    conn.query({ sql, rowsAsArray: true, typeCast: false }, (err: Error | null, rows: unknown[][]) => {
      if (err) reject(err);
      else resolve(rows);
    })
  );
}

/** The text of a driver or server error, without anything from the URL. */
function errorText(e: unknown): string {
  const err = e as { errno?: number; sqlMessage?: string; message?: string; code?: string };
  if (typeof err.errno === "number" && err.sqlMessage) return `(${err.errno}) ${err.sqlMessage}`;
  return String(err.message ?? e);
}

const decoder = new TextDecoder();

/** The flavour and version of the server behind a connection. */
async function serverInfo(conn: Conn): Promise<MysqlServerInfo> {
  const [row] = await query(conn, "SELECT VERSION(), @@version_comment");
  const [version, comment] = (row as Uint8Array[]).map((b) => (b === null ? "" : decoder.decode(b)));
  const flavour: MysqlFlavour = /mariadb/i.test(version) || /mariadb/i.test(comment) ? "mariadb" : "mysql";
  return { flavour, version, comment };
}

/** The session settings of one request: the time limit and temporary-table bounds, read-only. */
export function sessionSettings(flavour: MysqlFlavour, limits: MysqlLimits): string {
  const tmp = Math.max(16384, Math.floor(limits.tmpTableBytes ?? DEFAULT_TMP_TABLE_BYTES));
  const common = `tmp_table_size = ${tmp}, max_heap_table_size = ${tmp}`;
  if (flavour === "mariadb") {
    const disk = Math.max(16384, Math.floor(limits.tmpDiskBytes ?? DEFAULT_TMP_DISK_BYTES));
    return `SET SESSION max_statement_time = ${limits.timeoutS}, ${common}, tmp_disk_table_size = ${disk}, ` +
      `tx_read_only = 1`;
  }
  return `SET SESSION max_execution_time = ${Math.ceil(limits.timeoutS * 1000)}, ${common}, ` +
    `transaction_read_only = 1`;
}

/** Options of {@linkcode MysqlSession.open}. */
export interface MysqlSessionOptions {
  /** The database to use instead of the URL's (mini-dev: `BIRD`). */
  database?: string | null;
  /** Default bounds of each statement. */
  limits: MysqlLimits;
}

/** Options of {@linkcode MysqlSession.run}. */
export interface RunOptions {
  /** Raw bytes of values past which the statement is `too_large`. */
  maxBytes: number;
  /** The time limit this statement had (to report a timeout), seconds. */
  timeoutS: number;
}

/** A sandboxed connection; reconnects by itself after it was dropped. */
export class MysqlSession {
  private conn: Conn | null = null;
  /** The server's id of the current connection (what `KILL QUERY` names), or null between connections. */
  threadId: number | null = null;
  server: MysqlServerInfo | null = null;

  private constructor(private readonly url: string, private readonly options: MysqlSessionOptions) {}

  /** Connect and learn the server's flavour. Throws a connection error (never with the password). */
  static async open(url: string, options: MysqlSessionOptions): Promise<MysqlSession> {
    const s = new MysqlSession(url, options);
    await s.ensure();
    return s;
  }

  private async ensure(): Promise<Conn> {
    if (this.conn) return this.conn;
    let conn: Conn;
    try {
      conn = await connect(this.url, this.options.database ?? null);
    } catch (e) {
      throw new Error(`cannot connect to the MySQL server: ${errorText(e)}`);
    }
    this.conn = conn;
    this.threadId = conn.threadId;
    this.server ??= await serverInfo(conn);
    return conn;
  }

  /** Drop the connection (a result abandoned mid-stream, a failed decode); the next request reconnects. */
  drop(): void {
    const c = this.conn;
    this.conn = null;
    this.threadId = null;
    if (c) {
      try {
        c.destroy();
      } catch { /* gone */ }
    }
  }

  /**
   * Start a request: reset the session (a fresh one for everything a statement can leave behind), set its
   * bounds, and open a read-only transaction.
   */
  async begin(timeoutS: number = this.options.limits.timeoutS): Promise<void> {
    const conn = await this.ensure();
    try {
      await new Promise<void>((res, rej) => conn.reset((err: Error | null) => (err ? rej(err) : res())));
      await query(conn, sessionSettings(this.server!.flavour, { ...this.options.limits, timeoutS }));
      await query(conn, "START TRANSACTION READ ONLY");
    } catch (e) {
      this.drop();
      throw new Error(`cannot set up the MySQL session: ${errorText(e)}`);
    }
  }

  /** Run one statement (after {@linkcode begin}); never throws for bad SQL. */
  async run(sql: string, options: RunOptions): Promise<MysqlRan | MysqlFailed> {
    if (!isQueryStatement(sql)) return { ok: false, kind: "error", error: NOT_A_QUERY };
    const conn = await this.ensure();
    const t0 = performance.now();
    const out = await new Promise<MysqlRan | MysqlFailed>((resolve) => {
      let converters: MysqlConverter[] = [];
      let columns: string[] = [];
      const rows: MysqlValue[][] = [];
      let bytes = 0;
      let failed: MysqlFailed | null = null;
      let settled = false;
      const settle = (r: MysqlRan | MysqlFailed) => {
        if (!settled) {
          settled = true;
          resolve(r);
        }
      };
      const q = conn.query({ sql, rowsAsArray: true, typeCast: false });
      q.on("fields", (fs: { name: string; columnType: number; characterSet: number }[]) => {
        if (!fs) return;
        columns = fs.map((f) => f.name);
        converters = fs.map((f) => mysqlConverter({ type: f.columnType, charset: f.characterSet }));
      });
      q.on("result", (raw: (Uint8Array | null)[] | { affectedRows?: number }) => {
        if (failed || !Array.isArray(raw)) return;
        let size = 16;
        for (const c of raw) size += c === null ? 1 : c.length + 8;
        bytes += size;
        if (bytes > options.maxBytes) {
          failed = {
            ok: false,
            kind: "too_large",
            error: `result too large: over ${options.maxBytes} bytes`,
          };
          this.drop();
          settle(failed);
          return;
        }
        try {
          rows.push(raw.map((c, i) => converters[i](c)));
        } catch (e) {
          failed = { ok: false, kind: "error", error: (e as Error).message };
          this.drop();
          settle(failed);
          return;
        }
      });
      q.on("error", (e: { errno?: number }) => {
        if (failed) return;
        if (typeof e.errno === "number" && TIMEOUT_ERRNOS.has(e.errno)) {
          failed = { ok: false, kind: "timeout", error: `query timed out after ${options.timeoutS} s` };
        } else {
          failed = { ok: false, kind: "error", error: errorText(e) };
          // A protocol or network failure leaves the connection unusable.
          if (typeof e.errno !== "number" || (e as { fatal?: boolean }).fatal) this.drop();
        }
        settle(failed);
      });
      q.on("end", () => settle(failed ?? { ok: true, columns, rows, execMs: 0 }));
    });
    const execMs = performance.now() - t0;
    out.execMs = execMs;
    // SLEEP() cut short by the time limit returns 1 with no error: the statement still ran out of time.
    if (out.ok && execMs > options.timeoutS * 1000) {
      return { ok: false, kind: "timeout", error: `query timed out after ${options.timeoutS} s`, execMs };
    }
    return out;
  }

  /** Close the connection. */
  close(): Promise<void> {
    this.drop();
    return Promise.resolve();
  }
}

/**
 * Kill the statement running on a connection, from another connection of the same account (a user may always
 * kill its own statements). Used when a statement outlives its time limit despite the server's own limit (an
 * optimizer hint, `SET STATEMENT`): the server stops working on it, not only the client waiting for it.
 */
export async function killQuery(url: string, threadId: number): Promise<void> {
  const conn = await connect(url, null);
  try {
    await query(conn, `KILL QUERY ${Math.trunc(threadId)}`).catch(() => {});
  } finally {
    conn.destroy();
  }
}
