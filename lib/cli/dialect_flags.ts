/**
 * `--dialect` and `--db-url`, as every command that touches a database reads them (`eval`, `sft`, `cot`).
 *
 * @module
 */
import { type Dialect, parseDialect } from "../exec/mod.ts";
import { registerDbUrl, UsageError } from "../util/mod.ts";

/** The parseArgs spec of the two flags. */
export const DIALECT_FLAGS = {
  dialect: { type: "string" },
  "db-url": { type: "string" },
} as const;

/**
 * `--dialect` and the server URL: `--db-url`, else `TEXT2SQL_DB_URL` from the environment (which keeps a password
 * out of the shell history, the process list and `deno task`'s own "Task" line). A URL implies its dialect when
 * `--dialect` is not given. The URL's credentials are registered with the secret model at once, and a password
 * given on the command line gets a warning ({@linkcode warnPasswordFlag}).
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
  registerDbUrl(dbUrl);
  if (values["db-url"] !== undefined) warnPasswordFlag(dbUrl);
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

/** Whether a server URL carries a password (`scheme://user:password@…`), parsed or not. */
export function urlHasPassword(url: string): boolean {
  const info = /^[a-z][a-z0-9+.-]*:\/\/([^/]*)@/i.exec(url.trim())?.[1] ?? "";
  const colon = info.indexOf(":");
  return colon >= 0 && colon < info.length - 1;
}

/**
 * Warn, on stderr, when `--db-url` carries a password: the toolkit never prints it, but `deno task` has already
 * echoed its command line (arguments included) on its "Task" line, and the process list shows it to every
 * user of the machine. The fix is `TEXT2SQL_DB_URL` in the environment.
 *
 * @param url the URL given by `--db-url`
 * @param flag the flag's name as the command spells it
 */
export function warnPasswordFlag(url: string, flag = "--db-url"): void {
  if (!urlHasPassword(url)) return;
  console.error(
    `warning: ${flag} carries a password: it is never written or printed by this command, but \`deno task\` ` +
      `echoes its command line on its "Task" line and the process list shows it: give the URL in the ` +
      `environment variable TEXT2SQL_DB_URL instead (README, "Loading PostgreSQL and MySQL")`,
  );
}
