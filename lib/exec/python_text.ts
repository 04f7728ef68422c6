/**
 * Where node:sqlite's text handling differs from Python's `sqlite3` and the worker restores Python's: unbound
 * parameters raise, unencodable SQL text (lone surrogates) raises, undecodable TEXT values raise, and TEXT cut at
 * a NUL byte is read in full.
 *
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { countParameters } from "./sql_statement.ts";
import { databaseEncoding, type StatementExtras } from "./sqlite_connection.ts";

/** Characters that can open a bound parameter (`?`, `?1`, `:x`, `@x`, `#x`, `$x`). */
const MAYBE_PARAMETER = /[?:@#$]/;

/**
 * Python's check that every parameter is bound (it binds none): `sqlite3_bind_parameter_count`, which counts
 * what the tokenizer saw, even a parameter the planner drops. Only counted when the text could hold one.
 */
export const unboundParameters = (statement: string): number =>
  MAYBE_PARAMETER.test(statement) ? countParameters(statement) : 0;

/**
 * Python encodes the SQL as strict UTF-8 before SQLite sees it, so a lone surrogate (`'\udcff'` in a JSON
 * predictions file) raises where node:sqlite would substitute U+FFFD. Returns Python's message, or null. The
 * position counts code points, as Python's does, and a run of surrogates is reported as one range.
 */
export function unencodable(sql: string): string | null {
  if (sql.isWellFormed()) return null;
  let pos = 0;
  let start = -1;
  let first = "";
  for (const ch of sql) {
    const lone = ch.length === 1 && ch.charCodeAt(0) >= 0xd800 && ch.charCodeAt(0) <= 0xdfff;
    if (start < 0 && lone) {
      start = pos;
      first = ch;
    } else if (start >= 0 && !lone) break;
    pos++;
  }
  const hex = `\\u${first.charCodeAt(0).toString(16).padStart(4, "0")}`;
  return pos - start === 1
    ? `'utf-8' codec can't encode character '${hex}' in position ${start}: surrogates not allowed`
    : `'utf-8' codec can't encode characters in position ${start}-${pos - 1}: surrogates not allowed`;
}

/**
 * SQL that can make a NUL byte inside a TEXT value: `char(0)`, `unistr('\0000')`, a blob literal holding a zero
 * byte (cast to text). node:sqlite cuts TEXT at its first NUL where Python returns all of it; such a result is
 * re-read (see {@linkcode reread}). A NUL stored in the database is not seen here: a driver limit.
 */
const MAKES_NUL = /\b(?:char|unistr)\s*\(|\bx'(?:[0-9a-f]{2})*?00/i;

/** `TextDecoder` labels of SQLite's database encodings (`PRAGMA encoding`). */
const DECODER_LABEL: Record<string, string> = {
  "UTF-8": "utf-8",
  "UTF-16le": "utf-16le",
  "UTF-16be": "utf-16be",
};

/**
 * Python reads each TEXT value in full (`sqlite3_column_bytes`) and decodes it as strict UTF-8, raising on bytes it
 * cannot decode; node:sqlite substitutes U+FFFD for those and cuts the text at a NUL byte. A result holding
 * U+FFFD, or one of SQL that can make a NUL (`MAKES_NUL`), is re-read as raw bytes (`CAST AS BLOB` in the
 * database's encoding), so only undecodable text fails (never a genuine U+FFFD) and cut text is restored in
 * `rows`, cell by cell where the re-read extends it at a NUL. Returns Python's message, or null.
 */
export function reread(
  db: DatabaseSync,
  statement: string,
  columns: string[],
  rows: unknown[][],
): string | null {
  let replaced = false;
  outer: for (const row of rows) {
    for (const v of row) {
      if (typeof v === "string" && v.includes("\uFFFD")) {
        replaced = true;
        break outer;
      }
    }
  }
  if (!replaced && !MAKES_NUL.test(statement)) return null;
  if (columns.length === 0 || !/^(SELECT|WITH|VALUES)\b/i.test(statement)) return null;
  try {
    return rereadRows(db, statement, columns, rows);
  } catch (e) {
    // Only a possible NUL asked for the re-read: the rows as read stand (the statement itself ran fine).
    if (replaced) throw e;
    return null;
  }
}

/** The re-read of {@linkcode reread}: the statement again, each TEXT cell as its raw bytes. */
function rereadRows(
  db: DatabaseSync,
  statement: string,
  columns: string[],
  rows: unknown[][],
): string | null {
  const cols = columns.map((_, i) => `c${i}`);
  const body = statement.replace(/;\s*$/, "");
  const check = db.prepare(
    `WITH t2s_q(${cols.join(",")}) AS (${body}\n) SELECT ${
      cols.map((c) => `CASE WHEN typeof(${c}) = 'text' THEN CAST(${c} AS BLOB) END`).join(",")
    } FROM t2s_q`,
  ) as StatementSync & StatementExtras;
  check.setReturnArrays(true);
  const label = DECODER_LABEL[databaseEncoding(db)] ?? "utf-8";
  const strict = new TextDecoder(label, { fatal: true });
  let i = 0;
  for (const row of check.iterate() as Iterable<unknown[]>) {
    const original = rows[i++];
    for (let j = 0; j < row.length; j++) {
      const raw = row[j];
      if (!(raw instanceof Uint8Array)) continue;
      let full: string;
      try {
        full = strict.decode(raw);
      } catch {
        return `Could not decode to UTF-8 column '${columns[j]}' with text '${
          new TextDecoder(label).decode(raw)
        }'`;
      }
      // Same query, same plan: row i is row i; a cell is replaced only where it is a prefix cut at a NUL.
      const cut = original?.[j];
      if (
        typeof cut === "string" && full.length > cut.length && full.charCodeAt(cut.length) === 0 &&
        full.startsWith(cut)
      ) original[j] = full;
    }
  }
  return null;
}
