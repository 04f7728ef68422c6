/**
 * Statement boundaries exactly as Python's `sqlite3` module sees them, so that a prediction the official
 * BIRD evaluator rejects ("You can only execute one statement at a time.") is rejected here too, and an
 * empty prediction returns no rows instead of throwing (which is what `node:sqlite` would do).
 *
 * Python hands the text to `sqlite3_prepare_v2`, which skips leading empty statements (`;`, whitespace,
 * comments) and stops after the first real statement's `;`. Python then strips whitespace and comments
 * (not semicolons) from the tail and refuses anything left. This module reproduces both steps.
 *
 * @module
 */

/** The first statement of a SQL text and what Python's `sqlite3` would make of the rest. */
export interface SplitStatement {
  /** The first real statement (without leading empties), or null when the text holds none. */
  statement: string | null;
  /** True when the tail holds another statement: Python raises `ProgrammingError` then. */
  multiple: boolean;
}

/** The message Python's `sqlite3` raises for a second statement. */
export const MULTIPLE_STATEMENTS_ERROR = "You can only execute one statement at a time.";

/** Index after whitespace and comments starting at `i` (an unterminated block comment runs to the end). */
function skipSpaceAndComments(sql: string, i: number): number {
  while (i < sql.length) {
    const c = sql[i];
    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f") {
      i++;
    } else if (c === "-" && sql[i + 1] === "-") {
      const nl = sql.indexOf("\n", i + 2);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else {
      break;
    }
  }
  return i;
}

/** Index just past the quoted token opening at `i` with `close` as its closing character. */
function skipQuoted(sql: string, i: number, close: string): number {
  let j = i + 1;
  while (j < sql.length) {
    if (sql[j] === close) {
      // A doubled quote is an escaped quote inside '...', "..." and `...`; `]` has no escape.
      if (close !== "]" && sql[j + 1] === close) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  return sql.length;
}

/**
 * Split off the first statement the way `sqlite3_prepare_v2` + Python's tail check do.
 *
 * @example
 * splitFirstStatement("SELECT 1; -- done") // {statement: "SELECT 1;", multiple: false}
 * splitFirstStatement("SELECT 1;;")        // {statement: "SELECT 1;", multiple: true}
 */
export function splitFirstStatement(sql: string): SplitStatement {
  let start = 0;
  // Leading empty statements are skipped by SQLite itself.
  for (;;) {
    start = skipSpaceAndComments(sql, start);
    if (sql[start] === ";") start++;
    else break;
  }
  if (start >= sql.length) return { statement: null, multiple: false };
  let i = start;
  while (i < sql.length) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === "`") i = skipQuoted(sql, i, c);
    else if (c === "[") i = skipQuoted(sql, i, "]");
    else if ((c === "-" && sql[i + 1] === "-") || (c === "/" && sql[i + 1] === "*")) {
      i = skipSpaceAndComments(sql, i);
    } else if (c === ";") {
      const statement = sql.slice(start, i + 1);
      const rest = skipSpaceAndComments(sql, i + 1);
      return { statement, multiple: rest < sql.length };
    } else i++;
  }
  return { statement: sql.slice(start), multiple: false };
}
