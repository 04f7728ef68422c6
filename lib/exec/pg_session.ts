/**
 * The sandboxed PostgreSQL session a worker runs SQL on, for a server (`npm:pg`) or embedded PGlite, and the
 * official flow on top of it: mini-dev's `execute_sql` opens a psycopg2 connection (autocommit off) and runs the
 * prediction and then the gold query in ONE transaction on ONE connection; each query string goes through the
 * simple query protocol (`pg_wire.ts`).
 *
 * Defences, per session and per request:
 * - the server role: connect as the read-only role the loader creates (no write privilege on any table);
 * - `default_transaction_read_only = on` and every request inside `BEGIN READ ONLY` whose first snapshot is taken
 *   before the query runs (so it cannot be made read-write); the worker refuses strings that would leave the
 *   transaction or change the role or limits (`pg_statements.ts`): a role may alter itself (`ALTER ROLE … PASSWORD`)
 *   without any table privilege, so the read-only transaction is the guard of the role itself;
 * - the backend's pid and start time go to the parent, which terminates the backend of a worker it killed;
 * - `statement_timeout` = the time limit (the parent also kills the worker past it: PGlite ignores it);
 * - `work_mem` at most 64 MB, `temp_file_limit` 1 GB (where the role may set it; the loader sets the role's own,
 *   which the role cannot change), an idle-in-transaction
 *   timeout, and a byte budget on the result as it streams (`too_large`, the connection is dropped);
 * - after every request: `ROLLBACK`, `DISCARD ALL` (whatever the query string did to the session — `SET ROLE`,
 *   settings, temporary tables — is undone); the session's settings are set again at the start of each request,
 *   in the same round trip as its `BEGIN`; after a request that may have defined a custom setting
 *   (`set_config('a.b', …)`), a new connection, since DISCARD ALL leaves it defined;
 * - PGlite: the worker's database is a private in-memory copy and its session is a superuser (PGlite has no other
 *   kind), so a write that escaped the read-only transaction is detected by the transaction counter moving: the request
 *   fails and the copy is reloaded from the data file before the next one.
 *
 * @module
 */
import type pg from "pg";
import { PqExec, type PqOutcome, queryMessage } from "./pg_wire.ts";
import { BackendParser } from "./pg_wire.ts";

/** A connection that runs one simple query at a time. */
export interface PgConnection {
  /** Run a query string, feeding the backend's messages to `exec`; resolves when the backend is ready again. */
  run(sql: string, exec: PqExec): Promise<void>;
  /** Whether the connection is unusable (dropped, or a too-large result was cut off). */
  readonly broken: boolean;
  close(): Promise<void>;
}

/** What a session enforces. */
export interface SessionLimits {
  /** Largest result (bytes of text) a query may return. */
  maxBytes: number;
  /** Rows kept for display. */
  sampleRows: number;
  /** Digest the rows as they stream in, keeping only the first `sampleRows` (`PqExec`). */
  digest?: boolean;
}

type Submittable = {
  submit(connection: unknown): void;
  handleRowDescription(msg: { fields: { name: string; dataTypeID: number }[] }): void;
  handleDataRow(msg: { fields: (string | null)[] }): void;
  handleCommandComplete(): void;
  handleEmptyQuery(): void;
  handleError(err: Error & { code?: string; severity?: string }): void;
  handleCopyInResponse(connection: { sendCopyFail(msg: string): void }): void;
  handleCopyData(): void;
  handlePortalSuspended(): void;
  handleReadyForQuery(): void;
};

/** A server connection through `npm:pg`, whose protocol messages are fed to {@linkcode PqExec} unparsed. */
class ServerConnection implements PgConnection {
  broken = false;
  private current: PqExec | null = null;

  private constructor(private readonly client: pg.Client) {
    const connection =
      (client as unknown as { connection: { on(e: string, f: () => void): void } }).connection;
    // npm:pg's Client ignores CopyOutResponse; PQexec stops there, so the query fails as psycopg2's does.
    connection.on("copyOutResponse", () => this.current?.copyOut());
    client.on("error", () => {
      this.broken = true;
    });
    client.on("end", () => {
      this.broken = true;
    });
  }

  static async open(url: string, options: string, applicationName: string): Promise<ServerConnection> {
    const { default: driver } = await import("pg");
    const client = new driver.Client({ connectionString: url, options, application_name: applicationName });
    // A failed connect rejects; the message names the server but never the password (npm:pg omits it).
    client.on("error", () => {});
    await client.connect();
    return new ServerConnection(client);
  }

  run(sql: string, exec: PqExec): Promise<void> {
    if (this.broken) {
      exec.abort("the connection to the server was lost");
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.current = exec;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        this.current = null;
        resolve();
      };
      const stream = () =>
        (this.client as unknown as { connection: { stream: { destroy(): void } } }).connection
          .stream;
      const q: Submittable = {
        submit: (connection) => (connection as { query(text: string): void }).query(sql),
        handleRowDescription: (msg) =>
          exec.rowDescription(msg.fields.map((f) => ({ name: f.name, oid: f.dataTypeID }))),
        handleDataRow: (msg) => {
          try {
            exec.dataRow(msg.fields);
          } catch (e) {
            // Never thrown into the driver's event handler (that would lose this query's reply).
            exec.abort(`cannot read the result: ${e instanceof Error ? e.message : String(e)}`);
          }
          if (exec.overBudget && !this.broken) {
            // The rest of the result is not wanted: drop the connection rather than read it all.
            this.broken = true;
            stream().destroy();
            finish();
          }
        },
        handleCommandComplete: () => exec.commandComplete(),
        handleEmptyQuery: () => exec.emptyQuery(),
        handleError: (err) => {
          // npm:pg hands the ReadyForQuery after an error to no one: the query ends here.
          if (err.severity) {
            exec.error({ message: err.message, code: err.code, severity: err.severity });
            finish();
          } else {
            // Not a server error: the connection failed.
            this.broken = true;
            exec.abort(`connection to the server failed: ${err.message}`);
            finish();
          }
        },
        handleCopyInResponse: (connection) => {
          exec.copyIn();
          connection.sendCopyFail("COPY FROM STDIN is not supported");
        },
        handleCopyData: () => {},
        handlePortalSuspended: () => {},
        handleReadyForQuery: () => finish(),
      };
      this.client.query(q as unknown as pg.QueryConfig);
    });
  }

  async close(): Promise<void> {
    const wasBroken = this.broken;
    this.broken = true;
    const stream =
      (this.client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream;
    // npm:pg's end() never settles on a connection that already failed: destroy the socket instead.
    if (wasBroken) stream.destroy();
    else {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.client.end().catch(() => {}),
        new Promise<void>((res) => timer = setTimeout(() => (stream.destroy(), res()), 2000)),
      ]);
      clearTimeout(timer);
    }
  }
}

/** The subset of PGlite a session uses. */
export interface PgliteLike {
  execProtocolRawStream(
    message: Uint8Array,
    options: { onRawData: (data: Uint8Array) => void },
  ): Promise<void>;
  close(): Promise<void>;
}

/** A PGlite instance as a connection (its raw protocol output parsed here). */
class PgliteConnection implements PgConnection {
  broken = false;
  constructor(private readonly db: PgliteLike) {}

  async run(sql: string, exec: PqExec): Promise<void> {
    const parser = new BackendParser(exec, { ready: () => {} });
    try {
      await this.db.execProtocolRawStream(queryMessage(sql), { onRawData: (d) => parser.push(d) });
    } catch (e) {
      this.broken = true;
      exec.abort(`PGlite failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  async close(): Promise<void> {
    this.broken = true;
    await this.db.close().catch(() => {});
  }
}

/**
 * A server backend a session is connected to: its process id and start time (together they name it even after
 * the pid is reused; a query cannot change either, unlike its `application_name`).
 */
export interface PgBackendId {
  pid: number;
  /** `backend_start` as the server prints it (ISO, with its offset). */
  start: string;
}

/** Where a session connects. */
export type SessionTarget =
  | {
    kind: "server";
    url: string;
    /** The session's `application_name` (unique per worker, so an operator can tell the workers apart). */
    applicationName?: string;
    /** Called with each new connection's backend, before any request runs on it. */
    onBackend?: (backend: PgBackendId) => void;
  }
  | { kind: "pglite"; open: () => Promise<PgliteLike> };

const MAX_WORK_MEM_KB = 64 * 1024;

/** A query string that may define a custom (dotted) setting: `set_config(…)`, `SET [SESSION|LOCAL] a.b …`. */
const CUSTOM_SETTING = /set_config|\bset\s+(?:session\s+|local\s+)?"?[a-z_][\w$]*"?\s*\./i;

/**
 * The next transaction id to be assigned, and this transaction's own id if it took one (PGlite's write detector:
 * a write inside a still-open transaction has not moved the first yet).
 */
const NEXT_XID =
  "SELECT pg_snapshot_xmax(pg_current_snapshot())::text || coalesce('+' || pg_current_xact_id_if_assigned(), '')";

/** A statement's result, as the worker scores it. */
export type Ran = PqOutcome & { execMs: number };

/**
 * A sandboxed session: connects lazily, runs requests in a read-only transaction, cleans up after each, and
 * reconnects after a failure.
 */
export class PgSession {
  private conn: PgConnection | null = null;
  /** Settings applied at the start of every request (before its `BEGIN`, so they belong to its transaction). */
  private settings: string[] = [];
  private walBefore: string | null = null;

  constructor(private readonly target: SessionTarget) {}

  /** Run a control statement: its rows, or the server's error (a statement without rows is fine). */
  private async control(
    sql: string,
    conn: PgConnection,
  ): Promise<{ ok: true; rows: unknown[][] } | { ok: false; error: string }> {
    const exec = new PqExec({ maxBytes: 1 << 20, sampleRows: 0 });
    await conn.run(sql, exec);
    const o = exec.outcome();
    if (o.ok) return { ok: true, rows: o.rows };
    return o.error === "no results to fetch" ? { ok: true, rows: [] } : { ok: false, error: o.error };
  }

  private async connect(): Promise<PgConnection> {
    if (this.conn && !this.conn.broken) return this.conn;
    if (this.conn) await this.conn.close();
    this.conn = null;
    let conn: PgConnection;
    if (this.target.kind === "server") {
      const options = [
        "default_transaction_read_only=on",
        "DateStyle=ISO",
        "idle_in_transaction_session_timeout=600000",
        // `pg_statements.ts` splits query strings as the lexer does with this on (a server default may differ).
        "standard_conforming_strings=on",
      ].map((o) => `-c ${o}`).join(" ");
      conn = await ServerConnection.open(
        this.target.url,
        options,
        this.target.applicationName ?? "text2sql-eval",
      );
      // The backend's identity goes to the parent before any request can run here: if this worker is killed
      // mid-query, the parent terminates that backend (a query can turn off every server-side limit).
      const id = await this.control(
        "SELECT pg_backend_pid(), backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()",
        conn,
      );
      if (id.ok && id.rows[0]) {
        this.target.onBackend?.({ pid: Number(id.rows[0][0]), start: String(id.rows[0][1]) });
      }
    } else conn = new PgliteConnection(await this.target.open());
    const settings: string[] = this.target.kind === "pglite"
      ? ["SET default_transaction_read_only = on", "SET DateStyle = ISO"]
      : [];
    // PGlite's session is a superuser: act as the loader's read-only role where the data has one (a query string
    // can RESET ROLE, so the transaction counter check stays the guard).
    if (this.target.kind === "pglite" && (await this.control("SET ROLE text2sql_ro", conn)).ok) {
      settings.push("SET ROLE text2sql_ro");
    }
    // Optional bounds: kept where this role may set them (temp_file_limit: a superuser; the loader's role has its
    // own, set by the loader, and may not change it).
    for (
      const s of [
        "SET temp_file_limit = '1GB'",
        "SET client_connection_check_interval = 1000",
      ]
    ) {
      if ((await this.control(s, conn)).ok) settings.push(s);
    }
    const wm = await this.control("SELECT setting::bigint FROM pg_settings WHERE name = 'work_mem'", conn);
    if (wm.ok && Number(wm.rows[0]?.[0]) > MAX_WORK_MEM_KB) settings.push(`SET work_mem = '64MB'`);
    this.settings = settings;
    this.conn = conn;
    return conn;
  }

  /** Connect now (a worker does this before it says it is ready, so start-up never counts as query time). */
  async open(): Promise<void> {
    await this.connect();
  }

  /**
   * The next transaction id to be assigned: it moves only when a transaction writes (reads never take one; the
   * WAL position would not do, as PGlite's reads write hint bits).
   */
  private async wal(conn: PgConnection): Promise<string | null> {
    const r = await this.control(NEXT_XID, conn);
    return r.ok ? String(r.rows[0][0]) : null;
  }

  /**
   * Start a request: a read-only transaction with the statement time limit. Returns an error message when the
   * database cannot be reached.
   */
  async begin(timeoutS: number): Promise<string | null> {
    let conn: PgConnection;
    try {
      conn = await this.connect();
    } catch (e) {
      return `cannot connect to PostgreSQL: ${e instanceof Error ? e.message : String(e)}`;
    }
    const ms = Math.max(1, Math.round(timeoutS * 1000));
    // One round trip: the session's settings and the time limit (their SETs, run before BEGIN in the same
    // query string, become part of the transaction: in force for the request, undone by its ROLLBACK), then the
    // transaction. Its last statement takes the transaction's first snapshot, after which the transaction can no
    // longer be made read-write (`SET TRANSACTION READ WRITE` fails with "transaction read-write mode must be set
    // before any query"); on PGlite that statement reads the transaction counter (no id is taken).
    const r = await this.control(
      [...this.settings, `SET statement_timeout = ${ms}`, "BEGIN READ ONLY"].join("; ") + "; " +
        (this.target.kind === "pglite" ? NEXT_XID : "SELECT 1"),
      conn,
    );
    if (!r.ok) return r.error;
    if (this.target.kind === "pglite") this.walBefore = String(r.rows[0]?.[0] ?? "");
    return null;
  }

  /** Run one query string of the request, as psycopg2's `execute` + `fetchall`. */
  async run(sql: string, limits: SessionLimits): Promise<Ran> {
    const conn = this.conn;
    const t0 = performance.now();
    const exec = new PqExec(limits);
    if (!conn) exec.abort("no connection");
    else await conn.run(sql, exec);
    // DISCARD ALL resets a custom setting (`t2s.x`) but keeps it defined (as ''), where a new connection (the
    // official script's, per pair) has none: a query string that may define one closes the connection after it.
    if (CUSTOM_SETTING.test(sql)) this.customSetting = true;
    let out: PqOutcome = exec.outcome();
    if (out.ok && conn && this.target.kind === "pglite" && !conn.broken) {
      // A statement that succeeded ran in a live transaction, where the position can be read; a failed one is
      // checked after the rollback (end), which reloads the copy.
      if ((await this.wal(conn)) !== this.walBefore) {
        out = { ok: false, kind: "error", error: "refused: the query wrote to the database" };
        this.dirty = true;
      }
    }
    return { ...out, execMs: performance.now() - t0 };
  }

  private dirty = false;
  private customSetting = false;

  /**
   * End a request: roll back and reset the session (the next request sets the settings again); reconnect next
   * time if anything fails.
   * A PGlite copy that was written to is reloaded now, before the reply, so the next request starts clean and
   * within its own time limit (if the reload outlasts this one's, the parent kills this worker and starts another).
   */
  async end(): Promise<void> {
    const conn = this.conn;
    if (!conn || conn.broken) return;
    let reload = this.dirty;
    this.dirty = false;
    const fresh = this.customSetting;
    this.customSetting = false;
    if (!reload && !fresh) {
      // Rolled back and the counter read in one round trip; the session reset in another.
      const pglite = this.target.kind === "pglite";
      const rb = await this.control(pglite ? `ROLLBACK; ${NEXT_XID}` : "ROLLBACK", conn);
      reload = pglite && (!rb.ok || String(rb.rows[0]?.[0]) !== this.walBefore);
      if (!reload) {
        const discard = await this.control("DISCARD ALL", conn);
        if (rb.ok && discard.ok) return;
      }
    }
    await this.drop();
    if (reload || (fresh && this.target.kind === "pglite")) await this.connect();
  }

  /** Close the connection (a fresh one is opened by the next request). */
  async drop(): Promise<void> {
    const conn = this.conn;
    this.conn = null;
    if (conn) await conn.close();
  }
}
