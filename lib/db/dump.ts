/**
 * The official mini-dev dumps (`MINIDEV_postgresql/BIRD_dev.sql`, a pg_dump plain-SQL file with `COPY … FROM
 * stdin;` blocks; `MINIDEV_mysql/BIRD_dev.sql`, a mysqldump file of `INSERT` statements) loaded through the same
 * connections as a conversion, without psql or mysql clients:
 *
 * - PostgreSQL: statements run in ONE transaction (a load that dies leaves nothing); each `COPY` block's rows are
 *   parsed from COPY's text format and inserted as text parameters (the server's input functions, as COPY uses);
 *   `OWNER TO`, `GRANT`, `REVOKE` and psql meta-commands (`\restrict`) are skipped (roles of the dump's author).
 * - MySQL: statements run in order, several per round trip; `CREATE DATABASE` and `USE` are skipped so the dump
 *   fills the target database.
 *
 * Afterwards each dump table gets a manifest row (its `db_id` from the SQLite files under `--db-root` when given,
 * the dump's sha256 as its source, the checksum of its values as the target returns them).
 *
 * @module
 */
import { createReadStream, existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { basename, dirname, join } from "node:path";
import { fileSha256 } from "../util/mod.ts";
import type { DbConnection } from "./connect.ts";
import { LoadError, type LoadReport, type TableReport } from "./load.ts";
import { firstLine, targetChecksum } from "./load_table.ts";
import { ensureManifest, LOADER_VERSION, readManifest, writeManifest } from "./manifest.ts";
import { type LoadDialect, quoteIdent, targetName } from "./names.ts";
import { listDbIds, readSource } from "./sqlite_source.ts";
import type { ColumnPlan, ValueKind } from "./type_map.ts";

/** Where minidev.zip puts each dialect's dump, relative to the extracted folder. */
export const DUMP_PATHS: Readonly<Record<LoadDialect, string>> = {
  postgresql: "MINIDEV_postgresql/BIRD_dev.sql",
  mysql: "MINIDEV_mysql/BIRD_dev.sql",
};

/** The official dump for `dialect` near a db root (`<minidev>/MINIDEV/dev_databases`), or null. */
export function findDump(dbRoot: string, dialect: LoadDialect): string | null {
  for (const up of [dirname(dirname(dbRoot)), dirname(dbRoot), dbRoot]) {
    const p = join(up, DUMP_PATHS[dialect]);
    if (existsSync(p)) return p;
  }
  return null;
}

/** Options of {@linkcode loadDump}. */
export interface DumpLoadOptions {
  dialect: LoadDialect;
  file: string;
  /** SQLite databases naming each table's db_id (optional). */
  dbRoot: string | null;
  replace?: boolean;
  log?: (line: string) => void;
}

const lines = (file: string) => createInterface({ input: createReadStream(file), crlfDelay: Infinity });

/** The tables a dump creates (unqualified names), read ahead so a refusal comes before any change. */
async function dumpTables(file: string, dialect: LoadDialect): Promise<string[]> {
  const re = dialect === "postgresql"
    ? /^CREATE TABLE (?:(?:"[^"]+"|\w+)\.)?("(?:[^"]|"")+"|[\w$]+) \(/
    : /^CREATE TABLE (?:IF NOT EXISTS )?`((?:[^`]|``)+)` \(/;
  const out: string[] = [];
  for await (const line of lines(file)) {
    const m = re.exec(line);
    if (!m) continue;
    const raw = m[1];
    out.push(
      dialect === "postgresql"
        ? raw.startsWith('"') ? raw.slice(1, -1).replaceAll('""', '"') : raw.toLowerCase()
        : raw.replaceAll("``", "`"),
    );
  }
  return out;
}

/** One COPY text-format field (`\N` is NULL; backslash escapes per the COPY documentation). */
export function copyField(field: string): string | null {
  if (field === "\\N") return null;
  if (!field.includes("\\")) return field;
  return field.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    const simple: Record<string, string> = { b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" };
    if (e in simple) return simple[e];
    if (e[0] === "x" && e.length > 1) return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]+$/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return e;
  });
}

/** Bytes that came from octal/hex COPY escapes are Latin-1 code units; make the string UTF-8 again. */
function fixEscapedBytes(text: string): string {
  // deno-lint-ignore no-control-regex
  if (!/[\x80-\xff]/.test(text) || /[^\x00-\xff]/.test(text)) return text;
  const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return text;
  }
}

const SKIP_PG = /^\s*(ALTER\s+.*\s+OWNER\s+TO\s|GRANT\s|REVOKE\s|ALTER\s+DEFAULT\s+PRIVILEGES\s)/is;

async function runPgDump(conn: DbConnection, file: string, log: (line: string) => void): Promise<void> {
  let stmt = "";
  let quotes = 0;
  let copy: { table: string; columns: string; rows: (string | null)[][] } | null = null;
  let copied = 0;
  const flushCopy = async () => {
    if (!copy || !copy.rows.length) return;
    const width = copy.rows[0].length;
    let n = 0;
    const tuples = copy.rows.map(() => `(${Array.from({ length: width }, () => `$${++n}`).join(",")})`);
    await conn.query(
      `INSERT INTO ${copy.table} (${copy.columns}) VALUES ${tuples.join(",")}`,
      copy.rows.flat(),
    );
    copied += copy.rows.length;
    copy.rows = [];
  };
  await conn.exec("BEGIN");
  try {
    for await (const line of lines(file)) {
      if (copy) {
        if (line === "\\.") {
          await flushCopy();
          copy = null;
          continue;
        }
        copy.rows.push(
          line.split("\t").map((f) => {
            const v = copyField(f);
            return v === null ? null : fixEscapedBytes(v);
          }),
        );
        if (copy.rows.length * copy.rows[0].length >= 30_000) await flushCopy();
        continue;
      }
      if (!stmt && (line.startsWith("--") || line.startsWith("\\") || !line.trim())) continue;
      stmt += line + "\n";
      quotes += (line.match(/'/g) ?? []).length;
      if (quotes % 2 !== 0 || !line.trimEnd().endsWith(";")) continue;
      const text = stmt.trim();
      stmt = "";
      quotes = 0;
      const m = /^COPY\s+(.+?)\s*\((.*)\)\s+FROM\s+stdin;$/is.exec(text);
      if (m) {
        copy = { table: m[1], columns: m[2], rows: [] };
        log(`db load: COPY ${m[1]}`);
        continue;
      }
      if (SKIP_PG.test(text)) continue;
      try {
        // `pg_dump -n public` creates the schema every database already has.
        await conn.exec(text.replace(/^CREATE SCHEMA (?!IF NOT EXISTS)/i, "CREATE SCHEMA IF NOT EXISTS "));
      } catch (e) {
        throw new LoadError(
          `${basename(file)}: ${firstLine(e)} in: ${text.slice(0, 120).replace(/\s+/g, " ")}`,
        );
      }
    }
    await conn.exec("COMMIT");
  } catch (e) {
    await conn.exec("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    // pg_dump empties search_path for its session (set_config(..., false)): give this session its default back.
    await conn.exec("RESET search_path").catch(() => {});
  }
  log(`db load: ${copied} rows copied`);
}

/** Split MySQL text into statements (quotes with backslash escapes, backticks, comments respected). */
export function* mysqlStatements(text: string): Generator<string> {
  let start = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === "'" || c === '"' || c === "`") {
      i++;
      while (i < n && text[i] !== c) i += text[i] === "\\" && c !== "`" ? 2 : 1;
      i++;
    } else if (c === "-" && text.startsWith("-- ", i) || c === "#") {
      while (i < n && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === ";") {
      const s = text.slice(start, i).trim();
      if (s) yield s;
      start = ++i;
    } else i++;
  }
  const s = text.slice(start).trim();
  if (s) yield s;
}

const SKIP_MY = /^\s*(CREATE\s+DATABASE\s|USE\s)/i;

async function runMysqlDump(conn: DbConnection, file: string, log: (line: string) => void): Promise<void> {
  // mysqldump writes one statement per line at most (INSERT … VALUES (…),(…); on one line): read in chunks
  // of whole lines, split, and send ~4 MB of statements per round trip.
  let buffer = "";
  let pending: string[] = [];
  let size = 0;
  let statements = 0;
  const send = async () => {
    if (!pending.length) return;
    try {
      await conn.exec(pending.join(";\n"));
    } catch (e) {
      throw new LoadError(`${basename(file)}: ${firstLine(e)}`);
    }
    statements += pending.length;
    pending = [];
    size = 0;
  };
  const take = async () => {
    const parts = [...mysqlStatements(buffer)];
    buffer = "";
    for (const part of parts) {
      const s = part.replace(/^(?:(?:-- [^\n]*|--|#[^\n]*)?\n)+/, "").replace(/^(?:-- [^\n]*|--)$/, "")
        .trim();
      if (!s || SKIP_MY.test(s)) continue;
      pending.push(s);
      size += s.length;
      if (size > 4_000_000) await send();
    }
  };
  for await (const line of lines(file)) {
    buffer += line + "\n";
    // mysqldump escapes newlines inside strings: a line ending in ";" ends a statement.
    if (line.trimEnd().endsWith(";") && buffer.length > 1_000_000) await take();
  }
  await take();
  await send();
  log(`db load: ${statements} statements run`);
}

/** A column's value kind from the target catalog's data type name. */
function kindOfType(dataType: string): ValueKind {
  const t = dataType.toLowerCase();
  if (/^(bigint|integer|smallint|int|tinyint|mediumint)$/.test(t)) return "int";
  if (/^(double precision|double|float)$/.test(t)) return "float";
  if (/^(bytea|blob|tinyblob|mediumblob|longblob|binary|varbinary)$/.test(t)) return "bytes";
  if (t === "date") return "date";
  if (/^(timestamp without time zone|datetime|timestamp)$/.test(t)) return "timestamp";
  return "text";
}

/** The column plans of a target table, from its catalog (for the checksum of a dump-loaded table). */
async function catalogPlans(conn: DbConnection, dialect: LoadDialect, table: string): Promise<ColumnPlan[]> {
  const r = await conn.query(
    dialect === "postgresql"
      ? "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' " +
        "AND table_name = $1 ORDER BY ordinal_position"
      : "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = DATABASE() " +
        "AND table_name = ? ORDER BY ordinal_position",
    [table],
  );
  return r.rows.map((x) => ({ source: x[0]!, kind: kindOfType(x[1]!), sqlType: x[1]!, note: null }));
}

/**
 * Load an official dump into the database `conn` is connected to, then write the manifest.
 *
 * @throws {LoadError} when the target holds the dump's tables (without `replace`) or a statement fails.
 */
export async function loadDump(conn: DbConnection, options: DumpLoadOptions): Promise<LoadReport> {
  const t0 = performance.now();
  const { dialect, file } = options;
  const log = options.log ?? (() => {});
  if (!existsSync(file)) throw new LoadError(`dump ${file} not found`);
  const sha256 = await fileSha256(file);
  const tables = await dumpTables(file, dialect);
  if (!tables.length) throw new LoadError(`${file}: no CREATE TABLE statements (not a ${dialect} dump?)`);
  const dbOf = new Map<string, { dbId: string; source: string }>();
  if (options.dbRoot) {
    for (const id of listDbIds(options.dbRoot)) {
      for (const t of readSource(options.dbRoot, id).tables) {
        dbOf.set(targetName(t.name, dialect), { dbId: id, source: t.name });
      }
    }
  }
  await ensureManifest(conn, dialect);
  const manifest = new Map((await readManifest(conn, dialect)).map((m) => [m.tableName, m]));
  const existing = new Set(
    (await conn.query(
      dialect === "postgresql"
        ? "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        : "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
    )).rows.map((r) => r[0]!),
  );
  const same = (t: string) => manifest.get(t)?.sourceSha256 === sha256;
  if (
    tables.every((t) => existing.has(t) && same(t) && manifest.get(t)?.status === "done") && !options.replace
  ) {
    return {
      dialect,
      tables: tables.map((t) => ({
        dbId: manifest.get(t)!.dbId,
        sourceTable: manifest.get(t)!.sourceTable,
        tableName: t,
        rows: manifest.get(t)!.rows,
        action: "kept",
        columns: [],
        notes: JSON.parse(manifest.get(t)!.notes),
      })),
      foreignKeys: { added: 0, skipped: [] },
      seconds: (performance.now() - t0) / 1000,
    };
  }
  const foreign = tables.filter((t) =>
    existing.has(t) && !(same(t) && manifest.get(t)?.status === "loading")
  );
  if (foreign.length && !options.replace) {
    throw new LoadError(
      `the target already holds ${foreign.length} of the dump's tables (${foreign.slice(0, 5).join(", ")}` +
        `${foreign.length > 5 ? ", …" : ""}): --replace drops and reloads them`,
    );
  }
  for (const t of tables) {
    const origin = dbOf.get(t);
    await writeManifest(conn, dialect, {
      dbId: origin?.dbId ?? "",
      tableName: t,
      sourceTable: origin?.source ?? t,
      sourceSha256: sha256,
      rows: 0,
      checksum: "",
      status: "loading",
      columns: "[]",
      notes: "[]",
      loaderVersion: LOADER_VERSION,
    });
  }
  const drop = tables.filter((t) => existing.has(t)).map((t) => quoteIdent(t, dialect));
  if (drop.length) {
    await conn.exec(
      dialect === "postgresql"
        ? `DROP TABLE IF EXISTS ${drop.join(", ")} CASCADE`
        : `SET FOREIGN_KEY_CHECKS = 0; DROP TABLE IF EXISTS ${drop.join(", ")}; SET FOREIGN_KEY_CHECKS = 1`,
    );
  }
  log(`db load: ${basename(file)} (${tables.length} tables) → ${dialect}`);
  if (dialect === "postgresql") await runPgDump(conn, file, log);
  else await runMysqlDump(conn, file, log);
  const report: TableReport[] = [];
  for (const t of tables) {
    const origin = dbOf.get(t);
    const plans = await catalogPlans(conn, dialect, t);
    const checksum = await targetChecksum(conn, { target: quoteIdent(t, dialect), plans, dialect });
    const rows = Number(checksum.split(":")[0]);
    const notes = [`loaded from the dump ${basename(dirname(file))}/${basename(file)}`];
    if (!origin) {
      notes.push(options.dbRoot ? "no SQLite database under --db-root has this table" : "db_id unknown");
    }
    await writeManifest(conn, dialect, {
      dbId: origin?.dbId ?? "",
      tableName: t,
      sourceTable: origin?.source ?? t,
      sourceSha256: sha256,
      rows,
      checksum,
      status: "done",
      columns: JSON.stringify(plans.map((p) => [p.source, p.source, p.sqlType])),
      notes: JSON.stringify(notes),
      loaderVersion: LOADER_VERSION,
    });
    report.push({
      dbId: origin?.dbId ?? "",
      sourceTable: origin?.source ?? t,
      tableName: t,
      rows,
      action: "loaded",
      columns: plans.map((p) => ({ source: p.source, target: p.source, type: p.sqlType })),
      notes,
    });
  }
  return {
    dialect,
    tables: report,
    foreignKeys: { added: 0, skipped: [] },
    seconds: (performance.now() - t0) / 1000,
  };
}
