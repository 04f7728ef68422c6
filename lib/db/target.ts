/**
 * The target database of a load on a server: created when missing (PostgreSQL `CREATE DATABASE "bird"` with
 * UTF8; MySQL `CREATE DATABASE IF NOT EXISTS \`BIRD\`` with utf8mb4), then an admin connection into it.
 *
 * @module
 */
import { connectMysql, connectPostgres, DbConnectError, type DbConnection, safeMessage } from "./connect.ts";
import { type LoadDialect, quoteIdent } from "./names.ts";
import { type DbUrl, parseDbUrl, publicDbUrl } from "./url.ts";

/** The official dumps' database names: `bird` (PostgreSQL), `BIRD` (MySQL). */
export const DEFAULT_TARGET_DB: Readonly<Record<LoadDialect, string>> = { postgresql: "bird", mysql: "BIRD" };

/** The database a load writes: the flag, else the URL's path when it names one other than `postgres`, else the default. */
export function targetDatabase(url: DbUrl, dialect: LoadDialect, explicit?: string | null): string {
  if (explicit) return explicit;
  if (url.database && url.database !== "postgres") return url.database;
  return DEFAULT_TARGET_DB[dialect];
}

/**
 * An admin connection into `database` on the server of `url`, creating the database first when it is missing.
 *
 * @throws {DbConnectError} when the server cannot be reached or refuses the login (one line, no password).
 */
export async function openTargetDatabase(
  url: string | DbUrl,
  options: { dialect: LoadDialect; database: string },
): Promise<DbConnection> {
  const u = typeof url === "string" ? parseDbUrl(url) : url;
  if (u.kind !== options.dialect) {
    throw new DbConnectError(`--dialect ${options.dialect} does not match the URL ${publicDbUrl(u)}`);
  }
  if (options.dialect === "postgresql") {
    try {
      return await connectPostgres(u, { database: options.database });
    } catch (e) {
      const code = ((e as Error).cause as { code?: string } | undefined)?.code;
      if (code !== "3D000") throw e; // anything but "database does not exist"
    }
    const maintenance = u.database && u.database !== options.database ? u.database : "postgres";
    const admin = await connectPostgres(u, { database: maintenance });
    try {
      await admin.exec(
        `CREATE DATABASE ${quoteIdent(options.database, "postgresql")} ENCODING 'UTF8' TEMPLATE template0`,
      );
    } catch (e) {
      throw new DbConnectError(
        `cannot create database ${options.database} on ${publicDbUrl(u)}: ${safeMessage(e, u)}`,
      );
    } finally {
      await admin.close();
    }
    return await connectPostgres(u, { database: options.database });
  }
  const admin = await connectMysql(u, { database: null, multipleStatements: true });
  try {
    await admin.exec(
      `CREATE DATABASE IF NOT EXISTS ${quoteIdent(options.database, "mysql")} ` +
        "CHARACTER SET utf8mb4",
    );
  } catch (e) {
    await admin.close();
    throw new DbConnectError(
      `cannot create database ${options.database} on ${publicDbUrl(u)}: ${safeMessage(e, u)}`,
    );
  }
  await admin.close();
  const conn = await connectMysql(u, { database: options.database, multipleStatements: true });
  await conn.exec("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'");
  return conn;
}
