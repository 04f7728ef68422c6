/**
 * The target type of each column, chosen from its SQLite declared type AND its data, so that every value
 * round-trips. SQLite lets a column hold any storage class; a column whose data does not fit its declared type
 * gets a type that holds every value (text, as SQLite renders the numbers), with a note in the load report.
 *
 * | data (non-null values)                 | PostgreSQL          | MySQL/MariaDB                      |
 * | -------------------------------------- | ------------------- | ---------------------------------- |
 * | integers only                          | `bigint`            | `BIGINT`                           |
 * | reals (and integers within ±2^53)      | `double precision`  | `DOUBLE` (±Infinity: text)         |
 * | text, declared DATE, all `YYYY-MM-DD`   | `date`              | `DATE`                             |
 * | text, declared DATETIME/TIMESTAMP, all `YYYY-MM-DD HH:MM:SS` | `timestamp` | `DATETIME`            |
 * | text (or a mix of text and numbers)    | `text`              | `TEXT`/`MEDIUMTEXT`/`LONGTEXT`, `VARCHAR(n)` in a key |
 * | text holding U+0000                    | `bytea` (UTF-8)     | `TEXT` (MySQL strings hold NUL)    |
 * | blobs (or a mix with blobs)            | `bytea`             | `BLOB`/`LONGBLOB`, `VARBINARY(n)` in a key |
 * | no data                                | by declared affinity (`bigint`, `double precision`, `text`, `bytea`, `date`, `timestamp`) |
 *
 * @module
 */
import type { LoadDialect } from "./names.ts";
import type { SourceColumn, SourceTable } from "./sqlite_source.ts";

/** How values of a column are read from SQLite, written and compared. */
export type ValueKind = "int" | "float" | "text" | "bytes" | "date" | "timestamp";

/** A column's decision. */
export interface ColumnPlan {
  source: string;
  kind: ValueKind;
  /** The type in the target's DDL. */
  sqlType: string;
  /** Why the type differs from what the declared type suggests (for the load report), or null. */
  note: string | null;
  /** Text holding U+0000: read from SQLite as bytes and decoded (node:sqlite cuts text at the first NUL). */
  readAsBytes?: boolean;
}

/** SQLite's type affinity of a declared type (https://sqlite.org/datatype3.html §3.1). */
export function affinity(declared: string): "INTEGER" | "TEXT" | "BLOB" | "REAL" | "NUMERIC" {
  const t = declared.toUpperCase();
  if (t.includes("INT")) return "INTEGER";
  if (t.includes("CHAR") || t.includes("CLOB") || t.includes("TEXT")) return "TEXT";
  if (t === "" || t.includes("BLOB")) return "BLOB";
  if (t.includes("REAL") || t.includes("FLOA") || t.includes("DOUB")) return "REAL";
  return "NUMERIC";
}

const isDateDecl = (t: string) => /\bDATE\b/i.test(t) && !/TIME/i.test(t);
const isDateTimeDecl = (t: string) => /DATETIME|TIMESTAMP/i.test(t);

/** The value kind for a column's data (independent of dialect but for NUL text on PostgreSQL). */
function chooseKind(col: SourceColumn, dialect: LoadDialect): { kind: ValueKind; note: string | null } {
  const p = col.profile;
  const aff = affinity(col.declared);
  const present = (["integer", "real", "text", "blob"] as const).filter((k) => p[k] > 0);
  const mix = present.map((k) => `${p[k]} ${k}`).join(", ");
  if (present.length === 0) {
    if (isDateDecl(col.declared)) return { kind: "date", note: null };
    if (isDateTimeDecl(col.declared)) return { kind: "timestamp", note: null };
    const byAffinity: Record<string, ValueKind> = {
      INTEGER: "int",
      REAL: "float",
      NUMERIC: "float",
      TEXT: "text",
      BLOB: "bytes",
    };
    return { kind: byAffinity[aff], note: null };
  }
  if (p.blob > 0) {
    return {
      kind: "bytes",
      note: present.length > 1
        ? `holds ${mix}: stored as bytes (numbers and text as their SQLite text)`
        : null,
    };
  }
  if (p.text > 0) {
    const allText = present.length === 1;
    if (allText && isDateDecl(col.declared) && p.isoDates === p.text) return { kind: "date", note: null };
    if (allText && isDateTimeDecl(col.declared) && p.isoDateTimes === p.text) {
      return { kind: "timestamp", note: null };
    }
    if (dialect === "postgresql" && p.textWithNul > 0) {
      return {
        kind: "bytes",
        note:
          `${p.textWithNul} text values hold U+0000, which PostgreSQL text cannot: stored as bytea (UTF-8)`,
      };
    }
    let note: string | null = null;
    if (!allText) note = `holds ${mix}: stored as text (numbers as SQLite renders them)`;
    else if (aff !== "TEXT" && aff !== "BLOB") {
      note = `declared ${col.declared} but holds text: stored as text`;
    }
    return { kind: "text", note };
  }
  if (p.real > 0) {
    if (p.bigInts > 0) {
      return { kind: "text", note: `holds ${mix} with integers beyond 2^53: stored as text` };
    }
    if (dialect === "mysql" && p.infinities > 0) {
      return {
        kind: "text",
        note: `holds ${p.infinities} infinite reals, which MySQL cannot store: stored as text`,
      };
    }
    const note = p.integer > 0 ? `holds ${mix}: stored as double precision (integers exact)` : null;
    return { kind: "float", note };
  }
  // integers only
  const note = aff === "REAL" || aff === "TEXT"
    ? `declared ${col.declared} but holds only integers: stored as bigint`
    : null;
  return { kind: "int", note };
}

/** Bytes a MySQL key may cover: 3072 bytes of InnoDB index, 4 bytes per utf8mb4 character. */
const MYSQL_KEY_CHARS = 768;

function mysqlType(kind: ValueKind, col: SourceColumn, inKey: boolean): string {
  const p = col.profile;
  switch (kind) {
    case "int":
      return "BIGINT";
    case "float":
      return "DOUBLE";
    case "date":
      return "DATE";
    case "timestamp":
      return "DATETIME";
    case "text":
      if (inKey && p.maxChars <= MYSQL_KEY_CHARS) return `VARCHAR(${Math.max(1, p.maxChars)})`;
      return p.maxBytes < 65_536 ? "TEXT" : p.maxBytes < 16_777_216 ? "MEDIUMTEXT" : "LONGTEXT";
    case "bytes":
      if (inKey && p.maxBytes <= 3072) return `VARBINARY(${Math.max(1, p.maxBytes)})`;
      return p.maxBytes < 65_536 ? "BLOB" : p.maxBytes < 16_777_216 ? "MEDIUMBLOB" : "LONGBLOB";
  }
}

const PG_TYPES: Record<ValueKind, string> = {
  int: "bigint",
  float: "double precision",
  text: "text",
  bytes: "bytea",
  date: "date",
  timestamp: "timestamp",
};

/** The plan of every column of a table for `dialect`. */
export function planColumns(table: SourceTable, dialect: LoadDialect): ColumnPlan[] {
  const keyed = new Set([
    ...table.primaryKey,
    ...table.foreignKeys.flatMap((fk) => fk.columns),
  ]);
  return table.columns.map((col) => {
    const { kind, note } = chooseKind(col, dialect);
    const sqlType = dialect === "mysql" ? mysqlType(kind, col, keyed.has(col.name)) : PG_TYPES[kind];
    return {
      source: col.name,
      kind,
      sqlType,
      note,
      readAsBytes: kind === "text" && col.profile.textWithNul > 0,
    };
  });
}
