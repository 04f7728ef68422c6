/**
 * The set-up the PostgreSQL engine tests share: the bundled superhero loaded into a private server's `bird`
 * database by the loader (`lib/db`), and the read-only role the engines log in as.
 *
 * @module
 */
import { join } from "node:path";
import { type DbConnection, ensureReadOnlyRole, loadSqliteDatabases } from "../../lib/db/mod.ts";

/** The bundled databases (superhero). */
export const SAMPLE_DB_ROOT = join(new URL("../../", import.meta.url).pathname, "data/sample/dev_databases");

/**
 * Load superhero into the admin connection's database and create the read-only role `text2sql_ro` with this
 * password (and `extra` role options, e.g. a `tempFileLimit`); returns what the role set-up reported.
 */
export async function loadSuperheroReadOnly(
  admin: DbConnection,
  options: { password: string; name?: string; tempFileLimit?: string },
): Promise<Awaited<ReturnType<typeof ensureReadOnlyRole>>> {
  const report = await loadSqliteDatabases(admin, {
    dialect: "postgresql",
    dbRoot: SAMPLE_DB_ROOT,
    dbIds: ["superhero"],
  });
  return await ensureReadOnlyRole(admin, "postgresql", {
    name: options.name ?? "text2sql_ro",
    database: "bird",
    tables: report.tables.map((x) => x.tableName),
    password: options.password,
    statementTimeoutS: 60,
    ...(options.tempFileLimit ? { tempFileLimit: options.tempFileLimit } : {}),
  });
}
