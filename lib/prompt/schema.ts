/**
 * Render a SQLite database's schema for a prompt, in the original tool's format: each table's CREATE statement
 * exactly as stored in `sqlite_master`, in `sqlite_master` (rowid) order, `sqlite_sequence` skipped, joined by a
 * blank line. Optionally each CREATE is followed by sample rows and/or BIRD column descriptions, both as SQL
 * comment blocks so the prompt stays valid SQL-looking text.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** What to add to the plain CREATE statements. Both off by default (the original tool's prompt). */
export interface SchemaOptions {
  /** The first N rows of each table, as a comment block after its CREATE statement. 0 = none. */
  sampleRows?: number;
  /** Column descriptions from `<db dir>/database_description/<table>.csv`, as a comment block. */
  descriptions?: boolean;
}

/** Thrown when a database cannot be opened or read; the message names the file. */
export class SchemaError extends Error {
  /** @param message one line naming the database file and what went wrong */
  constructor(message: string) {
    super(message);
    this.name = "SchemaError";
  }
}

/** Longest cell text shown in sample rows: BIRD has multi-kilobyte text cells that would swamp a prompt. */
const MAX_CELL_CHARS = 80;

const cache = new Map<string, string>();

/**
 * The schema text of the database at `dbPath` (opened read-only).
 *
 * Memoised per (path, options): every question of a database reuses the same string, and rendering sample rows
 * or reading description CSVs each time would dominate prompt building. Use {@link clearSchemaCache} in tests
 * that rewrite a database.
 *
 * @param dbPath path of the `.sqlite` file
 * @param options sample rows and descriptions (both off by default)
 * @returns the CREATE statements (plus optional comment blocks) joined by `\n\n`
 * @throws {SchemaError} when the file is missing or is not a readable SQLite database
 */
export function renderSchema(dbPath: string, options: SchemaOptions = {}): string {
  const sampleRows = Math.max(0, Math.floor(options.sampleRows ?? 0));
  const descriptions = options.descriptions ?? false;
  const key = JSON.stringify([dbPath, sampleRows, descriptions]);
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const text = render(dbPath, sampleRows, descriptions);
  cache.set(key, text);
  return text;
}

/** Forget memoised schemas (for tests, or after a database file changed on disk). */
export function clearSchemaCache(): void {
  cache.clear();
}

function render(dbPath: string, sampleRows: number, descriptions: boolean): string {
  if (!existsSync(dbPath)) throw new SchemaError(`database not found: ${dbPath}`);
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(dbPath, { readOnly: true });
  } catch (e) {
    throw new SchemaError(`cannot open database ${dbPath}: ${errorMessage(e)}`);
  }
  try {
    let tables: { name: string; sql: string }[];
    try {
      // ORDER BY rowid: sqlite_master order is what Python's unordered SELECT returned in the original tool.
      tables = db.prepare(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence' ORDER BY rowid",
      ).all() as { name: string; sql: string }[];
    } catch (e) {
      throw new SchemaError(`cannot read schema of ${dbPath}: ${errorMessage(e)}`);
    }
    const descDir = join(dirname(dbPath), "database_description");
    const parts = tables.map((t) => {
      let part = t.sql ?? "";
      if (descriptions) {
        const block = descriptionBlock(descDir, t.name);
        if (block) part += "\n" + block;
      }
      if (sampleRows > 0) part += "\n" + sampleBlock(db, t.name, sampleRows);
      return part;
    });
    return parts.join("\n\n");
  } finally {
    db.close();
  }
}

/** SQL keywords that BIRD table names use (e.g. `order`) and that must be quoted to be selected from. */
const KEYWORD_NAMES = new Set(["order", "by", "group", "from", "select", "where", "table", "index", "limit"]);

/** Quote a table name only when needed, so the sample query reads like BIRD's (`SELECT * FROM frpm LIMIT 3`). */
function quoteIdent(name: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !KEYWORD_NAMES.has(name.toLowerCase())) return name;
  return `"${name.replaceAll('"', '""')}"`;
}

/** Comment text must not close the comment early. */
function commentSafe(text: string): string {
  return text.replaceAll("*/", "* /");
}

function cellText(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (v instanceof Uint8Array) return `<blob ${v.byteLength} bytes>`;
  let s = String(v).replace(/\s+/g, " ");
  if (s.length > MAX_CELL_CHARS) s = s.slice(0, MAX_CELL_CHARS - 3) + "...";
  return s;
}

/**
 * BIRD's own sample-row layout (`nice_look_table` in its prompt code): right-aligned columns separated by a space,
 * inside `/* N example rows: SELECT * FROM t LIMIT N; ... *\/`.
 */
function sampleBlock(db: DatabaseSync, table: string, n: number): string {
  const stmt = db.prepare(`SELECT * FROM ${quoteIdent(table)} LIMIT ${n}`);
  // Arrays keep duplicate column names; BigInts keep 64-bit integers exact.
  // setReturnArrays exists at run time (Deno 2.9.6) but is missing from the bundled node:sqlite types.
  (stmt as unknown as { setReturnArrays(on: boolean): void }).setReturnArrays(true);
  stmt.setReadBigInts(true);
  const columns = stmt.columns().map((c) => c.name);
  const rows = (stmt.all() as unknown as unknown[][]).map((r) => r.map(cellText));
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]) + " ").join("");
  const table_ = [line(columns), ...rows.map(line)].join("\n");
  return commentSafe(
    `/* \n ${n} example rows: \n SELECT * FROM ${quoteIdent(table)} LIMIT ${n}; \n ${table_} \n`,
  ) +
    " */";
}

/**
 * Decode a BIRD description CSV: UTF-8 (BOM dropped) when valid, else latin1 — some of BIRD's files are
 * Windows-1252.
 */
export function decodeText(bytes: Uint8Array): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    text = new TextDecoder("latin1").decode(bytes);
  }
  return text.replace(/^\uFEFF/, "");
}

/**
 * Parse CSV text (RFC 4180: quoted fields may hold commas, quotes as `""`, and newlines; CRLF or LF rows).
 *
 * @param text the whole file
 * @returns rows of fields; fully empty lines are dropped
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  let i = 0;
  const endRow = () => {
    row.push(field);
    field = "";
    if (!(row.length === 1 && row[0] === "")) rows.push(row);
    row = [];
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += c;
      i++;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      endRow();
      if (c === "\r" && text[i + 1] === "\n") i++;
    } else field += c;
    i++;
  }
  if (field !== "" || row.length > 0) endRow();
  return rows;
}

/** Find `<table>.csv` case-insensitively (BIRD's file names do not always match the table's case). */
function findDescriptionFile(dir: string, table: string): string | null {
  const exact = join(dir, `${table}.csv`);
  if (existsSync(exact)) return exact;
  if (!existsSync(dir)) return null;
  const want = `${table}.csv`.toLowerCase().trim();
  for (const name of readdirSync(dir).sort()) {
    if (name.toLowerCase().trim() === want) return join(dir, name);
  }
  return null;
}

function clean(s: string | undefined): string {
  return (s ?? "").replace(/\s+/g, " ").trim();
}

/**
 * The description comment block for one table, or "" when there is no CSV. Missing or unreadable files are not
 * errors: descriptions are an optional hint, and several BIRD databases lack some of them.
 */
function descriptionBlock(dir: string, table: string): string {
  const file = findDescriptionFile(dir, table);
  if (!file) return "";
  let rows: string[][];
  try {
    rows = parseCsv(decodeText(readFileSync(file)));
  } catch {
    return "";
  }
  if (rows.length < 2) return "";
  const header = rows[0].map((h) => clean(h).toLowerCase());
  const col = (name: string, fallback: number) => {
    const i = header.indexOf(name);
    return i >= 0 ? i : fallback;
  };
  const iOrig = col("original_column_name", 0);
  const iName = col("column_name", 1);
  const iDesc = col("column_description", 2);
  const iFormat = col("data_format", 3);
  const iValue = col("value_description", 4);
  const lines: string[] = [];
  for (const r of rows.slice(1)) {
    const orig = clean(r[iOrig]);
    if (!orig) continue;
    const name = clean(r[iName]);
    const desc = clean(r[iDesc]);
    const format = clean(r[iFormat]);
    const value = clean(r[iValue]);
    let line = ` ${orig}`;
    if (name && name.toLowerCase() !== orig.toLowerCase()) line += ` (${name})`;
    if (format) line += ` [${format}]`;
    if (desc) line += `: ${desc}`;
    if (value) line += `; values: ${value}`;
    lines.push(line);
  }
  if (lines.length === 0) return "";
  return "/* Column descriptions of " + commentSafe(`${table}:\n${lines.join("\n")}`) + "\n */";
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
