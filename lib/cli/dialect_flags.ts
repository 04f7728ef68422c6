/**
 * `--dialect` and `--db-url`, as every command that touches a database reads them (`eval`, `sft`, `cot`).
 *
 * @module
 */
import { type Dialect, parseDialect } from "../exec/mod.ts";
import { UsageError } from "../util/mod.ts";

/** The parseArgs spec of the two flags. */
export const DIALECT_FLAGS = {
  dialect: { type: "string" },
  "db-url": { type: "string" },
} as const;

/**
 * `--dialect` and the server URL: `--db-url`, else `TEXT2SQL_DB_URL` from the environment (which keeps a password
 * out of the shell history and the process list). A URL implies its dialect when `--dialect` is not given.
 *
 * @param values parsed flags (`dialect`, `db-url`)
 * @returns the dialect (default sqlite) and the URL when one is given
 * @throws {UsageError} for an unknown dialect, a URL that is neither postgres:// nor mysql://, or a URL of
 *   another dialect than `--dialect`
 */
export function dialectFlags(
  values: { dialect?: string; "db-url"?: string },
): { dialect: Dialect; dbUrl?: string } {
  let dialect: Dialect | undefined;
  try {
    dialect = values.dialect === undefined ? undefined : parseDialect(values.dialect);
  } catch (e) {
    throw new UsageError(`--dialect: ${(e as Error).message}`);
  }
  const dbUrl = values["db-url"] ??
    (dialect && dialect !== "sqlite" ? Deno.env.get("TEXT2SQL_DB_URL") : undefined);
  if (!dbUrl) return { dialect: dialect ?? "sqlite" };
  const scheme = /^([a-z]+):\/\//i.exec(dbUrl)?.[1]?.toLowerCase();
  const implied: Dialect | undefined = scheme === "postgres" || scheme === "postgresql"
    ? "postgresql"
    : scheme === "mysql" || scheme === "mariadb"
    ? "mysql"
    : undefined;
  if (!implied) throw new UsageError("--db-url: expected a postgres://… or mysql://… URL");
  if (dialect && dialect !== implied) {
    throw new UsageError(`--db-url is a ${implied} URL but --dialect is ${dialect}`);
  }
  return { dialect: implied, dbUrl };
}
