/**
 * The comment blocks a rendered schema adds after each CREATE statement, for every dialect: sample rows in BIRD's
 * own layout and BIRD's column descriptions, plus the CSV reading the descriptions need.
 *
 * @module
 */

import { join } from "node:path";
import { existsSync } from "../util/mod.ts";
import type { Dialect } from "../types.ts";
import { pyDisplayText } from "../util/mod.ts";

/** Longest cell text shown in sample rows: BIRD has multi-kilobyte text cells that would swamp a prompt. */
const MAX_CELL_CHARS = 80;

/**
 * Comment text that cannot end the comment early. SQLite only needs `*\/` broken; PostgreSQL nests block comments,
 * so there `/*` is broken too (and for MySQL, harmlessly). SQLite's text is as it always was.
 *
 * @param text the comment's text
 * @param dialect whose comment rules apply
 * @returns the text with the markers broken by a space
 */
export function commentSafe(text: string, dialect: Dialect = "sqlite"): string {
  if (dialect === "sqlite") return text.replaceAll("*/", "* /");
  let out = text;
  // Breaking one marker can make another (`*\/*`): repeat until none is left (each pass adds a space).
  while (/\/\*|\*\//.test(out)) out = out.replace(/\/\*/g, "/ *").replace(/\*\//g, "* /");
  return out;
}

/**
 * One sample cell as the schema shows it: NULL, a blob's size, or the value's text on one line, cut at 80
 * characters. Takes SQLite's values (bigint, number, string, Uint8Array) and an engine's display values
 * (`{int}`, `{real}`, `{blob: hex}`).
 *
 * @param v the value
 * @returns its text
 */
export function sampleCellText(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (v instanceof Uint8Array) return `<blob ${v.byteLength} bytes>`;
  let s: string;
  if (typeof v === "object" && "blob" in v) {
    const hex = String((v as { blob: unknown }).blob);
    s = hex.endsWith("…") ? "<blob>" : `<blob ${hex.length / 2} bytes>`;
  } else if (typeof v === "object" && "int" in v) s = String((v as { int: unknown }).int);
  else if (typeof v === "object" && "py" in v) s = pyDisplayText(String((v as { py: unknown }).py));
  else if (typeof v === "object" && "real" in v) s = String((v as { real: unknown }).real);
  else s = String(v);
  s = s.replace(/\s+/g, " ");
  if (s.length > MAX_CELL_CHARS) s = s.slice(0, MAX_CELL_CHARS - 3) + "...";
  return s;
}

/** What a sample block shows: the query's column names and its rows (any values {@link sampleCellText} takes). */
export interface SampleRows {
  columns: readonly string[];
  rows: readonly (readonly unknown[])[];
}

/**
 * BIRD's own sample-row layout (`nice_look_table` in its prompt code): right-aligned columns separated by a space,
 * inside `/* N example rows: SELECT * FROM t LIMIT N; ... *\/`.
 *
 * @param sample the columns and rows
 * @param options `n` (the LIMIT asked for), `ref` (the table as the query names it) and the dialect
 * @returns the comment block
 */
export function sampleComment(
  sample: SampleRows,
  options: { n: number; ref: string; dialect?: Dialect },
): string {
  const { columns } = sample;
  const rows = sample.rows.map((r) => r.map(sampleCellText));
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padStart(widths[i]) + " ").join("");
  const table = [line(columns), ...rows.map(line)].join("\n");
  const { n, ref } = options;
  // The markers are broken inside the comment only: its own opening `/*` must stay one.
  const inner = ` \n ${n} example rows: \n SELECT * FROM ${ref} LIMIT ${n}; \n ${table} \n`;
  return "/*" + commentSafe(inner, options.dialect) + " */";
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
  for (const name of [...Deno.readDirSync(dir)].map((e) => e.name).sort()) {
    if (name.toLowerCase().trim() === want) return join(dir, name);
  }
  return null;
}

function clean(s: string | undefined): string {
  return (s ?? "").replace(/\s+/g, " ").trim();
}

/** One column's row of a BIRD description CSV, cleaned (whitespace collapsed). */
export interface DescriptionRow {
  /** `original_column_name`: the column as the database names it. */
  original: string;
  /** `column_name`: its readable name ("" when none). */
  name: string;
  /** `column_description`. */
  description: string;
  /** `data_format`. */
  format: string;
  /** `value_description`. */
  values: string;
}

/**
 * The rows of `<dir>/<table>.csv` (found case-insensitively), or null when there is no readable CSV.
 *
 * @param dir the database's `database_description` folder
 * @param table the table's name
 * @returns one row per described column, in the file's order
 */
export function descriptionRows(dir: string, table: string): DescriptionRow[] | null {
  const file = findDescriptionFile(dir, table);
  if (!file) return null;
  let rows: string[][];
  try {
    rows = parseCsv(decodeText(Deno.readFileSync(file)));
  } catch {
    return null;
  }
  if (rows.length < 2) return null;
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
  return rows.slice(1).map((r) => ({
    original: clean(r[iOrig]),
    name: clean(r[iName]),
    description: clean(r[iDesc]),
    format: clean(r[iFormat]),
    values: clean(r[iValue]),
  })).filter((r) => r.original !== "");
}

/**
 * The description comment block for one table from `<dir>/<table>.csv` (found case-insensitively), or "" when
 * there is no CSV. Missing or unreadable files are not errors: descriptions are an optional hint, and several BIRD
 * databases lack some of them.
 *
 * @param dir the database's `database_description` folder
 * @param table the table's name as the schema shows it
 * @param options the dialect, `columnName`: how a CSV's `original_column_name` is shown (a server's catalog
 *   may have lower-cased it; default as written), and `include`: which shown columns get a line (default all)
 * @returns the block, or ""
 */
export function descriptionComment(
  dir: string,
  table: string,
  options: {
    dialect?: Dialect;
    columnName?: (original: string) => string;
    include?: (shown: string) => boolean;
  } = {},
): string {
  const rows = descriptionRows(dir, table);
  if (!rows) return "";
  const lines: string[] = [];
  for (const r of rows) {
    const shown = options.columnName ? options.columnName(r.original) : r.original;
    if (options.include && !options.include(shown)) continue;
    let line = ` ${shown}`;
    if (r.name && r.name.toLowerCase() !== r.original.toLowerCase()) line += ` (${r.name})`;
    if (r.format) line += ` [${r.format}]`;
    if (r.description) line += `: ${r.description}`;
    if (r.values) line += `; values: ${r.values}`;
    lines.push(line);
  }
  if (lines.length === 0) return "";
  return "/* Column descriptions of " + commentSafe(`${table}:\n${lines.join("\n")}`, options.dialect) +
    "\n */";
}
