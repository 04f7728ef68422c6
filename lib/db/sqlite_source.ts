/**
 * A BIRD SQLite database as the loader reads it: tables, declared types, keys, and a profile of each column's
 * data (which SQLite storage classes it holds, integer range, text sizes, NUL characters, whether its text is
 * all ISO dates) from which `type_map.ts` chooses the target types.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { existsSync } from "node:fs";

/** What one column holds. */
export interface ColumnProfile {
  /** Non-null values by SQLite storage class. */
  integer: number;
  real: number;
  text: number;
  blob: number;
  nulls: number;
  /** Smallest and largest integer (as decimal text, 64-bit exact), or null when none. */
  intMin: string | null;
  intMax: string | null;
  /** Integers beyond ±2^53 (not exact as doubles). */
  bigInts: number;
  /** Reals that are ±Infinity. */
  infinities: number;
  /** Longest value in characters and in bytes (text as UTF-8, blobs, others as their text). */
  maxChars: number;
  maxBytes: number;
  /** Text values containing U+0000. */
  textWithNul: number;
  /** Text values that are valid `YYYY-MM-DD` dates / `YYYY-MM-DD HH:MM:SS` date-times. */
  isoDates: number;
  isoDateTimes: number;
}

/** A column of a source table. */
export interface SourceColumn {
  name: string;
  /** The declared type as written (`INTEGER`, `TEXT`, `REAL`, `DATE`, `` for none). */
  declared: string;
  notNull: boolean;
  profile: ColumnProfile;
}

/** A source table with its keys. */
export interface SourceTable {
  name: string;
  columns: SourceColumn[];
  rows: number;
  /** Primary key columns in key order (empty when none). */
  primaryKey: string[];
  foreignKeys: { columns: string[]; refTable: string; refColumns: string[] }[];
}

/** One BIRD database file. */
export interface SourceDb {
  dbId: string;
  path: string;
  tables: SourceTable[];
}

/** `<dbRoot>/<dbId>/<dbId>.sqlite`, or an error line naming it when missing. */
export function sqlitePath(dbRoot: string, dbId: string): string {
  const path = join(dbRoot, dbId, `${dbId}.sqlite`);
  if (!existsSync(path)) throw new Error(`database ${dbId}: ${path} not found`);
  return path;
}

/** Open a BIRD database read-only, integers as bigint (64-bit exact). */
export function openSqlite(path: string): DatabaseSync {
  const db = new DatabaseSync(path, { readOnly: true });
  return db;
}

/** The BIRD databases under a root (folders holding `<name>/<name>.sqlite`), sorted. */
export function listDbIds(dbRoot: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dbRoot)) {
    if (e.isDirectory && existsSync(join(dbRoot, e.name, `${e.name}.sqlite`))) out.push(e.name);
  }
  return out.sort();
}

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;

function profileSql(table: string, columns: string[]): string {
  const parts = columns.flatMap((c) => {
    const x = q(c);
    return [
      `sum(typeof(${x})='integer')`,
      `sum(typeof(${x})='real')`,
      `sum(typeof(${x})='text')`,
      `sum(typeof(${x})='blob')`,
      `sum(${x} IS NULL)`,
      `CAST(min(CASE WHEN typeof(${x})='integer' THEN ${x} END) AS TEXT)`,
      `CAST(max(CASE WHEN typeof(${x})='integer' THEN ${x} END) AS TEXT)`,
      `sum(typeof(${x})='integer' AND (${x} > 9007199254740992 OR ${x} < -9007199254740992))`,
      `sum(typeof(${x})='real' AND (${x} > 1.7976931348623157e308 OR ${x} < -1.7976931348623157e308))`,
      `max(length(CASE WHEN typeof(${x})='blob' THEN NULL ELSE CAST(${x} AS TEXT) END))`,
      `max(length(CAST(${x} AS BLOB)))`,
      `sum(typeof(${x})='text' AND instr(${x}, char(0)) > 0)`,
      `sum(typeof(${x})='text' AND length(${x}) = 10 AND date(${x}) IS ${x})`,
      `sum(typeof(${x})='text' AND length(${x}) = 19 AND datetime(${x}) IS ${x})`,
    ];
  });
  return `SELECT count(*)${parts.length ? ", " + parts.join(", ") : ""} FROM ${q(table)}`;
}

/** Read a database's tables, keys and column profiles (one aggregate scan per table). */
export function readSource(dbRoot: string, dbId: string): SourceDb {
  const path = sqlitePath(dbRoot, dbId);
  const db = openSqlite(path);
  try {
    const names = db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
    ).all().map((r) => String(r.name));
    const tables = names.map((name) => readTable(db, name));
    return { dbId, path, tables };
  } finally {
    db.close();
  }
}

function readTable(db: DatabaseSync, name: string): SourceTable {
  const info = db.prepare(`PRAGMA table_info(${q(name)})`).all() as {
    name: string;
    type: string;
    notnull: number;
    pk: number;
  }[];
  const columns = info.map((c) => String(c.name));
  const stmt = db.prepare(profileSql(name, columns));
  (stmt as unknown as { setReturnArrays(on: boolean): void }).setReturnArrays(true);
  const row = stmt.get() as unknown as (number | string | null)[];
  const num = (v: unknown) => Number(v ?? 0);
  const profiles: ColumnProfile[] = columns.map((_, i) => {
    const o = 1 + i * 14;
    return {
      integer: num(row[o]),
      real: num(row[o + 1]),
      text: num(row[o + 2]),
      blob: num(row[o + 3]),
      nulls: num(row[o + 4]),
      intMin: row[o + 5] === null ? null : String(row[o + 5]),
      intMax: row[o + 6] === null ? null : String(row[o + 6]),
      bigInts: num(row[o + 7]),
      infinities: num(row[o + 8]),
      maxChars: num(row[o + 9]),
      maxBytes: num(row[o + 10]),
      textWithNul: num(row[o + 11]),
      isoDates: num(row[o + 12]),
      isoDateTimes: num(row[o + 13]),
    };
  });
  const fks = db.prepare(`PRAGMA foreign_key_list(${q(name)})`).all() as {
    id: number;
    seq: number;
    table: string;
    from: string;
    to: string | null;
  }[];
  const byId = new Map<number, { columns: string[]; refTable: string; refColumns: string[] }>();
  for (const fk of fks.sort((a, b) => a.id - b.id || a.seq - b.seq)) {
    const entry = byId.get(fk.id) ?? { columns: [], refTable: String(fk.table), refColumns: [] };
    entry.columns.push(String(fk.from));
    entry.refColumns.push(fk.to === null ? "" : String(fk.to));
    byId.set(fk.id, entry);
  }
  return {
    name,
    rows: num(row[0]),
    columns: info.map((c, i) => ({
      name: String(c.name),
      declared: String(c.type ?? ""),
      notNull: Number(c.notnull) === 1,
      profile: profiles[i],
    })),
    primaryKey: info.filter((c) => Number(c.pk) > 0).sort((a, b) => Number(a.pk) - Number(b.pk))
      .map((c) => String(c.name)),
    foreignKeys: [...byId.values()],
  };
}
