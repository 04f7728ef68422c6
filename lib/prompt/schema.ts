/**
 * Render a SQLite database's schema for a prompt, in the original tool's format: each table's CREATE statement
 * exactly as stored in `sqlite_master`, in `sqlite_master` (rowid) order, `sqlite_sequence` skipped, joined by a
 * blank line. Optionally each CREATE is followed by sample rows and/or BIRD column descriptions, both as SQL
 * comment blocks so the prompt stays valid SQL-looking text.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { dirname, join } from "node:path";
import { existsSync } from "../util/mod.ts";
import { descriptionComment, sampleComment, type SampleRows } from "./schema_blocks.ts";

export { decodeText, type DescriptionRow, descriptionRows, parseCsv } from "./schema_blocks.ts";

/** What to add to the plain CREATE statements. Both off by default (the original tool's prompt). */
export interface SchemaOptions {
  /** The first N rows of each table, as a comment block after its CREATE statement. 0 = none. */
  sampleRows?: number;
  /** Column descriptions from `<db dir>/database_description/<table>.csv`, as a comment block. */
  descriptions?: boolean;
}

/** Thrown when a database cannot be opened or read; the message names the file (or the server's database). */
export class SchemaError extends Error {
  /** True when the database is not there at all (no file; no tables on a server). */
  readonly missing: boolean;
  /**
   * @param message one line naming the database and what went wrong
   * @param options `missing`: the database is not there at all (default false)
   */
  constructor(message: string, options: { missing?: boolean } = {}) {
    super(message);
    this.name = "SchemaError";
    this.missing = options.missing ?? false;
  }
}

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
  if (!existsSync(dbPath)) throw new SchemaError(`database not found: ${dbPath}`, { missing: true });
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
        const block = descriptionComment(descDir, t.name);
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

/**
 * A SQLite table or column name as a query names it: bare when it can be, so the sample query reads like
 * BIRD's (`SELECT * FROM frpm LIMIT 3`), else in double quotes.
 *
 * @param name the identifier
 * @returns it, quoted only when needed
 */
export function sqliteIdentifier(name: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !KEYWORD_NAMES.has(name.toLowerCase())) return name;
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The first `n` rows of a SQLite table as the sample block shows them (arrays keep duplicate column names,
 * BigInts keep 64-bit integers exact).
 *
 * @param db an open database
 * @param table the table's name
 * @param n how many rows
 * @returns its columns and rows
 */
export function sqliteSampleRows(db: DatabaseSync, table: string, n: number): SampleRows {
  const stmt = db.prepare(`SELECT * FROM ${sqliteIdentifier(table)} LIMIT ${n}`);
  // setReturnArrays exists at run time (Deno 2.9.6) but is missing from the bundled node:sqlite types.
  (stmt as unknown as { setReturnArrays(on: boolean): void }).setReturnArrays(true);
  stmt.setReadBigInts(true);
  const columns = stmt.columns().map((c) => c.name);
  const rows = stmt.all() as unknown as unknown[][];
  return { columns, rows };
}

/** The first `n` rows of `table` as a sample comment block. */
function sampleBlock(db: DatabaseSync, table: string, n: number): string {
  return sampleComment(sqliteSampleRows(db, table, n), { n, ref: sqliteIdentifier(table) });
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
