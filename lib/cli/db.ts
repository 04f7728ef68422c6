/**
 * `deno task db load`: BIRD SQLite databases (or the official mini-dev dumps) into a PostgreSQL or MySQL/MariaDB
 * server, or, for PostgreSQL without `--db-url`, into the cached embedded PGlite data folder. Progress on stderr,
 * the summary and the read-only URL (without password unless this run generated it) at the end; one line and a
 * non-zero exit for a bad URL, an unreachable server, a missing database or a refused load. The server URL's
 * credentials and `TEXT2SQL_RO_PASSWORD` are registered with the secret model first, and every line printed
 * (progress, notes, warnings, errors) passes its scrubber; only a password this run generated is shown, once.
 *
 * @module
 */
import {
  type DbConnection,
  ensurePgliteData,
  ensureReadOnlyRole,
  findDump,
  formatDbUrl,
  type LoadDialect,
  loadDump,
  type LoadReport,
  loadSqliteDatabases,
  openTargetDatabase,
  parseDbUrl,
  publicDbUrl,
  sqlitePath,
  targetDatabase,
} from "../db/mod.ts";
import { existsSync } from "node:fs";
import { numberFlag, parseCommand, redact, registerDbUrl, registerSecrets, usageExit } from "../util/mod.ts";
import { warnPasswordFlag } from "./dialect_flags.ts";

const USAGE =
  `usage: deno task db load --dialect postgresql|mysql [--db-url URL] --db-root DIR [--db NAME]... [--dump FILE]
       [--replace] [--ro-user NAME] [--target-db NAME] [--statement-timeout S] [--temp-file-limit SIZE]

  --dialect D          postgresql or mysql (MariaDB too)
  --db-url URL         the server (postgres://user:pass@host:5432/, mysql://root:pass@host:3306/), else
                       $TEXT2SQL_DB_URL; its password is never printed. PostgreSQL without a URL: builds the
                       embedded PGlite data (cached)
  --db-root DIR        folder of <db>/<db>.sqlite (BIRD's dev_databases)
  --db NAME            load only this database (repeatable; default: all under --db-root)
  --dump FILE          load an official dump (MINIDEV_postgresql/BIRD_dev.sql, MINIDEV_mysql/BIRD_dev.sql)
                       instead; found by itself next to --db-root when present (--no-dump to convert instead)
  --no-dump            convert the SQLite files even when a dump is found
  --replace            drop and reload tables the target already holds
  --target-db NAME     the database to fill (default: the URL's, else bird / BIRD as the official dumps)
  --ro-user NAME       the read-only user for evaluation (default text2sql_ro; password from
                       $TEXT2SQL_RO_PASSWORD, else generated once and printed on stderr)
  --statement-timeout S  the read-only user's statement time limit in seconds (default 60)
  --temp-file-limit SIZE PostgreSQL: the read-only role's temporary-file bound per session (default 1GB; the
                       role cannot raise it)`;

const FLAGS = {
  dialect: { type: "string" },
  "db-url": { type: "string" },
  "db-root": { type: "string" },
  db: { type: "string", multiple: true },
  dump: { type: "string" },
  "no-dump": { type: "boolean", default: false },
  replace: { type: "boolean", default: false },
  "target-db": { type: "string" },
  "ro-user": { type: "string", default: "text2sql_ro" },
  "statement-timeout": { type: "string" },
  "temp-file-limit": { type: "string" },
} as const;

/** An error as one line, through the secret model's scrubber. */
function oneLine(error: unknown): string {
  return scrubbed((error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ").trim());
}

/** A text with every registered credential (the server URL's, the read-only password) replaced. */
function scrubbed(text: string): string {
  return redact(text, []);
}

/** `deno task db <subcommand>`; returns the exit code (0 done, 1 failed with one line, 2 usage). */
export async function dbCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "load") {
    if (sub === "--help" || sub === "-h") {
      console.log(USAGE);
      return 0;
    }
    return usageExit(
      "db",
      USAGE,
      new Error(`unknown subcommand ${JSON.stringify(sub ?? "")}: expected load`),
    );
  }
  let parsed;
  let dialect: LoadDialect;
  let timeoutS: number;
  try {
    parsed = parseCommand(rest, { usage: USAGE, options: FLAGS });
    if (parsed === null) return 0;
    const d = (parsed.values.dialect ?? "").toLowerCase().replace(/^postgres$|^pg$/, "postgresql")
      .replace(/^mariadb$/, "mysql");
    if (d !== "postgresql" && d !== "mysql") throw new Error("--dialect must be postgresql or mysql");
    dialect = d;
    if (!parsed.values["db-root"] && !parsed.values.dump) throw new Error("--db-root DIR is required");
    timeoutS = numberFlag("statement-timeout", parsed.values["statement-timeout"], { min: 1 }) ?? 60;
  } catch (error) {
    return usageExit("db load", USAGE, error);
  }
  const v = parsed.values;
  const log = (line: string) => console.error(scrubbed(line));
  try {
    const roPassword = Deno.env.get("TEXT2SQL_RO_PASSWORD");
    if (roPassword) registerSecrets([roPassword, encodeURIComponent(roPassword)]);
    const dbRoot = v["db-root"] ?? null;
    if (dbRoot) {
      if (!existsSync(dbRoot)) throw new Error(`--db-root ${dbRoot} not found`);
      for (const id of v.db ?? []) sqlitePath(dbRoot, id); // a missing database: one line before connecting
    }
    const dump = v["no-dump"] ? null : v.dump ?? (dbRoot ? findDump(dbRoot, dialect) : null);
    if (dump && !v.dump) {
      log(`db load: found the official dump ${dump}; --no-dump converts the SQLite files instead`);
    }
    const dbUrl = v["db-url"] ?? (Deno.env.get("TEXT2SQL_DB_URL") || undefined);
    if (dbUrl) registerDbUrl(dbUrl);
    if (v["db-url"] !== undefined) warnPasswordFlag(v["db-url"]);
    if (!dbUrl) {
      if (dialect === "mysql") {
        throw new Error("--dialect mysql needs --db-url mysql://… (there is no embedded MySQL)");
      }
      if (!dbRoot) throw new Error("the embedded PGlite data is built from --db-root");
      const data = await ensurePgliteData({ dbRoot, dbIds: v.db, rebuild: v.replace, log });
      console.log(
        `${data.built ? "built" : "cached"} PGlite data: ${data.path} (${data.seconds.toFixed(1)} s)` +
          (data.report ? `\n${summary(data.report)}` : ""),
      );
      return 0;
    }
    const url = parseDbUrl(dbUrl);
    const database = targetDatabase(url, dialect, v["target-db"]);
    log(`db load: connecting to ${publicDbUrl({ ...url, database })}`);
    const conn = await openTargetDatabase(url, { dialect, database });
    try {
      const report = dump
        ? await loadDump(conn, { dialect, file: dump, dbRoot, replace: v.replace, log })
        : await loadSqliteDatabases(conn, { dialect, dbRoot: dbRoot!, dbIds: v.db, replace: v.replace, log });
      console.log(scrubbed(summary(report)));
      await readOnlyUser(conn, {
        dialect,
        database,
        report,
        roUser: v["ro-user"],
        timeoutS,
        tempFileLimit: v["temp-file-limit"],
        url: dbUrl,
      });
    } finally {
      await conn.close();
    }
    return 0;
  } catch (error) {
    console.error(`db load: ${oneLine(error)}`);
    return 1;
  }
}

function summary(report: LoadReport): string {
  const loaded = report.tables.filter((t) => t.action === "loaded");
  const kept = report.tables.length - loaded.length;
  const rows = loaded.reduce((s, t) => s + t.rows, 0);
  const dbs = [...new Set(report.tables.map((t) => t.dbId))].join(", ");
  const lines = [
    kept === report.tables.length
      ? `already loaded: ${kept} tables of ${dbs} from the same sources (nothing to do; --replace reloads them)`
      : `loaded ${loaded.length} tables (${rows} rows) of ${dbs} in ${report.seconds.toFixed(1)} s` +
        (kept ? `; ${kept} kept from an earlier load` : "") + `, every value verified`,
  ];
  for (const t of report.tables) {
    for (const n of t.notes) lines.push(`  note ${t.dbId}.${t.sourceTable}: ${n}`);
  }
  lines.push(
    `  foreign keys: ${report.foreignKeys.added} added, ${report.foreignKeys.skipped.length} skipped`,
  );
  for (const s of report.foreignKeys.skipped) lines.push(`  skipped foreign key ${s}`);
  return lines.join("\n");
}

async function readOnlyUser(
  conn: DbConnection,
  o: {
    dialect: LoadDialect;
    database: string;
    report: LoadReport;
    roUser: string;
    timeoutS: number;
    tempFileLimit?: string;
    url: string;
  },
): Promise<void> {
  const role = await ensureReadOnlyRole(conn, o.dialect, {
    name: o.roUser,
    database: o.database,
    tables: o.report.tables.map((t) => t.tableName),
    password: Deno.env.get("TEXT2SQL_RO_PASSWORD") || null,
    statementTimeoutS: o.timeoutS,
    tempFileLimit: o.tempFileLimit,
  });
  if (role.tempFileLimit && !role.tempFileLimit.ok) {
    console.error(
      `db load: warning: cannot bound ${role.name}'s temporary files (temp_file_limit): ` +
        `${oneLine(role.tempFileLimit.error)} (load as a superuser to set it)`,
    );
  }
  const url = { ...parseDbUrl(o.url), user: role.name, password: null, database: o.database };
  console.log(scrubbed(`read-only user ${role.name}: ${publicDbUrl(url)} (user ${role.name})`));
  if (role.generated) {
    console.error(
      `db load: the read-only password was generated and is shown ONCE; keep it (or set TEXT2SQL_RO_PASSWORD and ` +
        `rerun to choose one):\n  ${formatDbUrl({ ...url, password: role.password })}`,
    );
  }
}
