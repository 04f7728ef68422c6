/**
 * The read-only role/user evaluation connects as (`text2sql_ro` by default).
 *
 * PostgreSQL: `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT`, its sessions
 * `default_transaction_read_only = on`, a `statement_timeout` and a `temp_file_limit` it cannot change; `CONNECT` on the database, `USAGE` (never
 * `CREATE`) on `public` and `text2sql`, `SELECT` on the loaded tables and the manifest only; `TEMPORARY` and
 * `CREATE` on the database and `CREATE` on `public` are revoked from `PUBLIC`.
 * MySQL/MariaDB: `'name'@'%'` and `'name'@'localhost'` with every privilege revoked and `SELECT` granted on the
 * target database only; on MariaDB also `MAX_STATEMENT_TIME` and `MAX_USER_CONNECTIONS`.
 *
 * The password: `$TEXT2SQL_RO_PASSWORD` when set; else a new random one when the role is created (returned, so
 * the command prints it once), and an existing role keeps its password.
 *
 * @module
 */
import type { DbConnection } from "./connect.ts";
import { type LoadDialect, quoteIdent, quoteLiteral } from "./names.ts";
import { manifestTable } from "./manifest.ts";

/** Options of {@linkcode ensureReadOnlyRole}. */
export interface ReadOnlyRoleOptions {
  /** Role name (`text2sql_ro`). */
  name: string;
  /** The database it may read. */
  database: string;
  /** The loaded tables (target names) it may SELECT. */
  tables: string[];
  /** Password to set; null: keep an existing role's, generate one for a new role. */
  password: string | null;
  /** Per-statement time limit in seconds. */
  statementTimeoutS: number;
  /**
   * PostgreSQL: the most temporary-file space one session may use (`temp_file_limit`, e.g. `1GB`; default
   * {@linkcode DEFAULT_TEMP_FILE_LIMIT}), set on the role by this (superuser) connection so that the role itself
   * cannot raise it; `-1`: no bound.
   */
  tempFileLimit?: string;
}

/** The read-only role's default `temp_file_limit`. */
export const DEFAULT_TEMP_FILE_LIMIT = "1GB";

/** What {@linkcode ensureReadOnlyRole} did. */
export interface ReadOnlyRole {
  name: string;
  /** True when the role did not exist before. */
  created: boolean;
  /** The password when this call set one (given or generated), else null (an existing role kept its own). */
  password: string | null;
  /** Whether the password was generated here (print it once). */
  generated: boolean;
  /**
   * PostgreSQL: the `temp_file_limit` now set on the role, or why it could not be set (the connection is not a
   * superuser and holds no `SET` privilege on the parameter); absent for MySQL.
   */
  tempFileLimit?: { ok: true; value: string } | { ok: false; error: string };
}

/** A random password: 24 characters of [A-Za-z0-9]. */
export function randomPassword(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join("");
}

/** Create or update the read-only role of `dialect` on the target the connection is in. */
export async function ensureReadOnlyRole(
  conn: DbConnection,
  dialect: LoadDialect,
  options: ReadOnlyRoleOptions,
): Promise<ReadOnlyRole> {
  return dialect === "postgresql" ? await pgRole(conn, options) : await mysqlRole(conn, options);
}

async function pgRole(conn: DbConnection, o: ReadOnlyRoleOptions): Promise<ReadOnlyRole> {
  if (o.tempFileLimit !== undefined && !/^(-1|\d+\s*(kB|MB|GB|TB)?)$/.test(o.tempFileLimit)) {
    throw new Error(`temp_file_limit ${JSON.stringify(o.tempFileLimit)} is not a size (e.g. 1GB, 512MB, -1)`);
  }
  const exists = (await conn.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [o.name])).rows.length > 0;
  const generated = !exists && o.password === null;
  const password = o.password ?? (generated ? randomPassword() : null);
  const role = quoteIdent(o.name, "postgresql");
  const db = quoteIdent(o.database, "postgresql");
  const attrs = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT";
  const pw = password === null ? "" : ` PASSWORD ${quoteLiteral(password)}`;
  const grants = o.tables.map((t) => `GRANT SELECT ON ${quoteIdent(t, "postgresql")} TO ${role};`).join("\n");
  await conn.exec(`${exists ? "ALTER" : "CREATE"} ROLE ${role} ${attrs}${pw};
ALTER ROLE ${role} SET default_transaction_read_only = on;
ALTER ROLE ${role} SET statement_timeout = '${Math.round(o.statementTimeoutS * 1000)}';
ALTER ROLE ${role} SET idle_in_transaction_session_timeout = '600000';
REVOKE CREATE, TEMPORARY ON DATABASE ${db} FROM PUBLIC;
REVOKE ALL ON DATABASE ${db} FROM ${role};
GRANT CONNECT ON DATABASE ${db} TO ${role};
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM ${role};
GRANT USAGE ON SCHEMA public TO ${role};
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${role};
GRANT USAGE ON SCHEMA text2sql TO ${role};
GRANT SELECT ON ${manifestTable("postgresql")} TO ${role};
${grants}`);
  return {
    name: o.name,
    created: !exists,
    password,
    generated,
    tempFileLimit: await pgTempFileLimit(conn, o),
  };
}

/**
 * Bound the role's temporary files (a huge sort or hash spills to disk): `ALTER ROLE … SET temp_file_limit` by
 * this connection. `temp_file_limit` is a superuser parameter, so the role can neither `SET` it nor
 * `set_config()` it (not even from a string `query_to_xml` runs) unless granted `SET` on it: that grant would let
 * a query lift the bound, so it is never given, and revoked where it was (PostgreSQL 15+).
 */
async function pgTempFileLimit(
  conn: DbConnection,
  o: ReadOnlyRoleOptions,
): Promise<{ ok: true; value: string } | { ok: false; error: string }> {
  const value = o.tempFileLimit ?? DEFAULT_TEMP_FILE_LIMIT;
  const role = quoteIdent(o.name, "postgresql");
  const version = Number((await conn.version()).split(".")[0]);
  if (version >= 15) await conn.exec(`REVOKE SET ON PARAMETER temp_file_limit FROM ${role}`).catch(() => {});
  try {
    await conn.exec(`ALTER ROLE ${role} SET temp_file_limit = ${quoteLiteral(value)}`);
    return { ok: true, value };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

async function mysqlRole(conn: DbConnection, o: ReadOnlyRoleOptions): Promise<ReadOnlyRole> {
  const existing = await conn.query("SELECT host FROM mysql.user WHERE user = ?", [o.name]);
  const exists = existing.rows.length > 0;
  const generated = !exists && o.password === null;
  const password = o.password ?? (generated ? randomPassword() : null);
  const mariadb = /mariadb/i.test(await conn.version());
  const db = quoteIdent(o.database, "mysql");
  for (const host of ["%", "localhost"]) {
    const user = `${quoteLiteral(o.name)}@${quoteLiteral(host)}`;
    const have = existing.rows.some((r) => r[0] === host);
    if (!have) {
      await conn.exec(`CREATE USER ${user} IDENTIFIED BY ${quoteLiteral(password ?? randomPassword())}`);
    } else if (password !== null) {
      await conn.exec(`ALTER USER ${user} IDENTIFIED BY ${quoteLiteral(password)}`);
    }
    await conn.exec(`REVOKE ALL PRIVILEGES, GRANT OPTION FROM ${user}`);
    await conn.exec(`GRANT SELECT ON ${db}.* TO ${user}`);
    const limits = mariadb
      ? `WITH MAX_USER_CONNECTIONS 64 MAX_STATEMENT_TIME ${o.statementTimeoutS}`
      : "WITH MAX_USER_CONNECTIONS 64";
    await conn.exec(`ALTER USER ${user} ${limits}`);
  }
  await conn.exec("FLUSH PRIVILEGES");
  return { name: o.name, created: !exists, password, generated };
}
