/**
 * Connections to the databases the loader writes and the engines read: a PostgreSQL server (`npm:pg`), an
 * embedded PGlite (`npm:@electric-sql/pglite`) and a MySQL/MariaDB server (`npm:mysql2`), behind one small
 * {@linkcode DbConnection}. Every value comes back as the server's TEXT (what psycopg2 and pymysql parse), with
 * the column's type (a PostgreSQL type OID, a MySQL column type code); MySQL binary strings come back as
 * latin1-decoded strings, one character per byte, flagged by `binary` on their column.
 *
 * The driver configurations ({@linkcode pgClientConfig}, {@linkcode mysqlConnectionOptions}) are exported for
 * the engines, which open their own pools with their own limits.
 *
 * Errors never carry a password: a failed connection is {@linkcode DbConnectError} naming the public URL, and
 * every server connection registers its URL's credentials with the secret model (`registerDbUrl`), so every
 * scrubber of the process (messages, records, the console) removes them.
 *
 * @module
 */
// @ts-types="@types/pg"
import pg from "pg";
import mysql from "mysql2/promise";
import { PGlite } from "@electric-sql/pglite";
import { type DbUrl, formatDbUrl, parseDbUrl, publicDbUrl } from "./url.ts";
import { dbUrlSecrets, redact, registerDbUrl } from "../util/mod.ts";

/** A result column: its name and type (PostgreSQL OID or MySQL column type code). */
export interface TextColumn {
  name: string;
  type: number;
  /** MySQL only: a binary string column (its values are latin1-decoded bytes). */
  binary?: boolean;
}

/** Rows as the server's text, `null` for SQL NULL. */
export interface TextResult {
  columns: TextColumn[];
  rows: (string | null)[][];
}

/** One connection, as the loader and the admin helpers use it. */
export interface DbConnection {
  /** `postgresql` (a server through `pg`), `pglite` (embedded) or `mysql` (a server through `mysql2`). */
  readonly engine: "postgresql" | "pglite" | "mysql";
  /** Run one or more statements (the simple protocol: no parameters); results are dropped. */
  exec(sql: string): Promise<void>;
  /** Run one statement with `$1`/`?` parameters; every value as text. */
  query(sql: string, params?: unknown[]): Promise<TextResult>;
  /** Stream a SELECT's rows in batches (a server-side cursor on PostgreSQL, a row stream on MySQL). */
  scan(
    sql: string,
    onBatch: (rows: (string | null)[][], columns: TextColumn[]) => void | Promise<void>,
    options?: { batch?: number },
  ): Promise<void>;
  /** The server's version (`15.18`, `18.6`, `10.11.19-MariaDB`). */
  version(): Promise<string>;
  close(): Promise<void>;
}

/** A connection that could not be opened; the message names the public URL and the cause, never a password. */
export class DbConnectError extends Error {
  /** @param message One line, free of secrets. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DbConnectError";
  }
}

/**
 * The driver's message, one line, through the secret model's scrubber: every form of `url`'s credentials (and
 * every registered one) replaced, as in every other message.
 */
export function safeMessage(error: unknown, url?: DbUrl): string {
  let text = error instanceof Error ? error.message : String(error);
  if (error instanceof AggregateError && error.errors.length) {
    text = error.errors.map((e) => (e instanceof Error ? e.message : String(e))).join("; ");
  }
  text = redact(text, url ? dbUrlSecrets(formatDbUrl(url)) : []);
  return text.replace(/\s*\n\s*/g, " ").trim() || (error as { code?: string })?.code || "unknown error";
}

/** The URL parsed, its credentials registered with the secret model before anything can print them. */
function serverUrl(url: string | DbUrl): DbUrl {
  const u = typeof url === "string" ? parseDbUrl(url) : url;
  if (typeof url === "string") registerDbUrl(url);
  registerDbUrl(formatDbUrl(u));
  return u;
}

/** Options of {@linkcode pgClientConfig}. */
export interface PgConfigOptions {
  /** Connect to this database instead of the URL's. */
  database?: string;
  /** Server-side `statement_timeout` for every statement, milliseconds (0: none). */
  statementTimeoutMs?: number;
  /** `application_name` shown in `pg_stat_activity`. */
  applicationName?: string;
}

/** Returns every value as the server's text: `npm:pg` parses nothing. */
const RAW_TYPES = { getTypeParser: () => (value: string) => value };

/**
 * The `npm:pg` client configuration for a URL: raw text values (no parsing, as psycopg2 sees them before it
 * parses), `sslmode` honoured (`disable`, `require`, `verify-ca`, `verify-full`), a server-side statement timeout.
 */
export function pgClientConfig(url: DbUrl, options: PgConfigOptions = {}): pg.ClientConfig {
  // `prefer` and `allow` connect without TLS (npm:pg cannot fall back); `require` encrypts without verifying.
  const sslmode = url.params.sslmode ?? "prefer";
  const ssl = sslmode === "require"
    ? { rejectUnauthorized: false }
    : sslmode.startsWith("verify")
    ? { rejectUnauthorized: true }
    : false;
  return {
    host: url.host,
    port: url.port,
    user: url.user ?? "postgres",
    password: url.password ?? undefined,
    database: options.database ?? url.database ?? "postgres",
    ssl,
    types: RAW_TYPES,
    application_name: options.applicationName ?? url.params.application_name ?? "text2sql",
    statement_timeout: options.statementTimeoutMs || undefined,
    connectionTimeoutMillis: 10_000,
  };
}

/** Options of {@linkcode mysqlConnectionOptions}. */
export interface MysqlConfigOptions {
  /** Use this database instead of the URL's (null: none). */
  database?: string | null;
  /** Allow several statements in one `query` (the loader's admin connection only). */
  multipleStatements?: boolean;
}

/**
 * The `npm:mysql2` connection options for a URL: the text protocol with every value as the server's text (as
 * pymysql reads it), rows as arrays, utf8mb4, binary strings decoded byte-per-character (`latin1`).
 */
export function mysqlConnectionOptions(
  url: DbUrl,
  options: MysqlConfigOptions = {},
): mysql.ConnectionOptions {
  const database = options.database === undefined ? url.database : options.database;
  return {
    host: url.host,
    port: url.port,
    user: url.user ?? "root",
    password: url.password ?? undefined,
    database: database ?? undefined,
    charset: url.params.charset ?? "utf8mb4",
    multipleStatements: options.multipleStatements ?? false,
    rowsAsArray: true,
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    // field.string() uses the column's encoding: `binary` columns come back one character per byte.
    typeCast: (field: { string: () => string | null }) => field.string(),
    connectTimeout: 10_000,
    ssl: url.params.ssl === "true" || url.params["ssl-mode"] === "REQUIRED" ? {} : undefined,
  };
}

/** Open a PostgreSQL server connection (raw text values). */
export async function connectPostgres(
  url: string | DbUrl,
  options: PgConfigOptions = {},
): Promise<DbConnection> {
  const u = serverUrl(url);
  const client = new pg.Client(pgClientConfig(u, options));
  client.on("error", () => {}); // a dropped connection surfaces on the next query
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    const shown = publicDbUrl({ ...u, database: options.database ?? u.database });
    throw new DbConnectError(`cannot connect to ${shown}: ${safeMessage(e, u)}`, { cause: e });
  }
  const query = async (sql: string, params?: unknown[]): Promise<TextResult> => {
    const r = await client.query({ text: sql, values: params, rowMode: "array" });
    return {
      columns: (r.fields ?? []).map((f) => ({ name: f.name, type: f.dataTypeID })),
      rows: r.rows as (string | null)[][],
    };
  };
  return {
    engine: "postgresql",
    exec: async (sql) => {
      await client.query(sql);
    },
    query,
    scan: (sql, onBatch, o) => pgScan(query, sql, onBatch, o?.batch),
    version: async () => (await query("SHOW server_version")).rows[0][0]!.split(" ")[0],
    close: async () => {
      await client.end().catch(() => {});
    },
  };
}

async function pgScan(
  query: (sql: string, params?: unknown[]) => Promise<TextResult>,
  sql: string,
  onBatch: (rows: (string | null)[][], columns: TextColumn[]) => void | Promise<void>,
  batch = 5000,
): Promise<void> {
  await query("BEGIN");
  try {
    await query(`DECLARE text2sql_scan NO SCROLL CURSOR FOR ${sql}`);
    for (;;) {
      const r = await query(`FETCH ${batch} FROM text2sql_scan`);
      if (r.rows.length) await onBatch(r.rows, r.columns);
      if (r.rows.length < batch) break;
    }
    await query("CLOSE text2sql_scan");
  } finally {
    await query("COMMIT").catch(() => {});
  }
}

/** PostgreSQL type OIDs PGlite would otherwise parse into JS values: kept as the server's text. */
const PGLITE_TEXT_OIDS = [
  16,
  17,
  20,
  21,
  23,
  26,
  114,
  700,
  701,
  790,
  1082,
  1083,
  1114,
  1184,
  1186,
  1266,
  1700,
  3802,
  // their arrays
  1000,
  1001,
  1005,
  1007,
  1016,
  1021,
  1022,
  1182,
  1183,
  1115,
  1185,
  1187,
  1231,
  199,
  3807,
];

/** Options of {@linkcode openPglite}. */
export interface PgliteOptions {
  /** A data folder tarball made by `dumpDataDir()` to start from. */
  loadDataDir?: Blob;
  /** A folder to keep the data in (default: memory). */
  dataDir?: string;
}

/** Open an embedded PGlite database (PostgreSQL in WebAssembly), every value as text. */
export async function openPglite(options: PgliteOptions = {}): Promise<DbConnection & { db: PGlite }> {
  const parsers = Object.fromEntries(PGLITE_TEXT_OIDS.map((oid) => [oid, (v: string) => v]));
  const db = await PGlite.create({ dataDir: options.dataDir, loadDataDir: options.loadDataDir, parsers });
  const query = async (sql: string, params?: unknown[]): Promise<TextResult> => {
    const r = await db.query<unknown[]>(sql, params, { rowMode: "array" });
    return {
      columns: r.fields.map((f) => ({ name: f.name, type: f.dataTypeID })),
      rows: r.rows.map((row) => row.map((v) => v === null || v === undefined ? null : String(v))),
    };
  };
  return {
    engine: "pglite",
    db,
    exec: async (sql) => {
      await db.exec(sql);
    },
    query,
    scan: (sql, onBatch, o) => pgScan(query, sql, onBatch, o?.batch),
    version: async () => (await query("SHOW server_version")).rows[0][0]!.split(" ")[0],
    close: () => db.close(),
  };
}

/** Open a MySQL/MariaDB server connection (text protocol, every value as text). */
export async function connectMysql(
  url: string | DbUrl,
  options: MysqlConfigOptions = {},
): Promise<DbConnection> {
  const u = serverUrl(url);
  let conn: mysql.Connection;
  try {
    conn = await mysql.createConnection(mysqlConnectionOptions(u, options));
  } catch (e) {
    const shown = publicDbUrl({
      ...u,
      database: options.database === undefined ? u.database : options.database,
    });
    throw new DbConnectError(`cannot connect to ${shown}: ${safeMessage(e, u)}`, { cause: e });
  }
  conn.on("error", () => {});
  const columnsOf = (fields: unknown): TextColumn[] =>
    ((fields ?? []) as { name: string; columnType: number; characterSet: number }[]).map((f) => ({
      name: f.name,
      type: f.columnType,
      binary: f.characterSet === 63,
    }));
  const query = async (sql: string, params?: unknown[]): Promise<TextResult> => {
    const [rows, fields] = await conn.query({ sql, values: params, rowsAsArray: true });
    return { columns: columnsOf(fields), rows: Array.isArray(rows) ? rows as (string | null)[][] : [] };
  };
  return {
    engine: "mysql",
    exec: async (sql) => {
      await conn.query(sql);
    },
    query,
    scan: (sql, onBatch, o) => mysqlScan(conn, sql, onBatch, columnsOf, o?.batch),
    version: async () => (await query("SELECT VERSION()")).rows[0][0]!,
    close: async () => {
      await conn.end().catch(() => conn.destroy());
    },
  };
}

async function mysqlScan(
  conn: mysql.Connection,
  sql: string,
  onBatch: (rows: (string | null)[][], columns: TextColumn[]) => void | Promise<void>,
  columnsOf: (fields: unknown) => TextColumn[],
  batch = 5000,
): Promise<void> {
  const core = (conn as unknown as { connection: import("mysql2").Connection }).connection;
  const stream = core.query({ sql, rowsAsArray: true }).stream({ highWaterMark: batch });
  let columns: TextColumn[] = [];
  let pending: (string | null)[][] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on("fields", (f: unknown) => (columns = columnsOf(f)));
    stream.on("error", reject);
    stream.on("data", (row: (string | null)[]) => {
      pending.push(row);
      if (pending.length >= batch) {
        stream.pause();
        const rows = pending;
        pending = [];
        Promise.resolve(onBatch(rows, columns)).then(() => stream.resume(), (e) => {
          stream.destroy();
          reject(e);
        });
      }
    });
    stream.on("end", () => {
      Promise.resolve(pending.length ? onBatch(pending, columns) : undefined).then(() => resolve(), reject);
    });
  });
}

/** Open an admin connection for a URL of either kind (`multipleStatements` on MySQL). */
export function connectAdmin(
  url: string | DbUrl,
  options: { database?: string | null } = {},
): Promise<DbConnection> {
  const u = typeof url === "string" ? parseDbUrl(url) : url;
  if (u.kind === "postgresql") {
    return connectPostgres(u, { database: options.database ?? undefined });
  }
  return connectMysql(u, { database: options.database, multipleStatements: true });
}
