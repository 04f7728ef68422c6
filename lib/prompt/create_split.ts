/**
 * A CREATE TABLE statement cut into its parts, its text kept byte for byte: the head up to the opening
 * parenthesis, each top-level item of the body (a column definition or a table constraint, with the whitespace
 * before it), and the tail from the closing parenthesis. Schema linking drops items, matched values are written
 * as `--` comments after them, and everything else stays as the database stored it (SQLite's own CREATE text,
 * with its odd spacing) or as the catalog renderer wrote it.
 *
 * @module
 */

/** One top-level item of a CREATE TABLE body. */
export interface CreateItem {
  /** The item's text, with the whitespace (newlines, indent) before it, without its separating comma. */
  text: string;
  /** The column it defines (unquoted), or null for a table constraint. */
  column: string | null;
  /** For a constraint: the columns it names (PRIMARY KEY (…), UNIQUE (…), FOREIGN KEY (…)); empty otherwise. */
  constraintColumns: string[];
  /** For a FOREIGN KEY constraint: the table it references. */
  references: string | null;
}

/** A CREATE TABLE statement in parts; `head + items.join(",") + tail` is the statement again. */
export interface CreateParts {
  head: string;
  items: CreateItem[];
  tail: string;
}

const CONSTRAINT_WORDS = new Set(["constraint", "primary", "foreign", "unique", "check", "key", "index"]);

/**
 * Cut a CREATE TABLE statement into parts, or null when it has no parenthesised body (`CREATE TABLE t AS
 * SELECT …`, a virtual table's arguments are still cut).
 *
 * @param sql the statement
 * @returns its parts, or null
 */
export function splitCreate(sql: string): CreateParts | null {
  const open = findOpen(sql);
  if (open < 0) return null;
  const pieces: string[] = [];
  let depth = 0;
  let start = open + 1;
  let i = open + 1;
  let close = -1;
  while (i < sql.length) {
    const after = skipOpaque(sql, i);
    if (after !== i) {
      i = after;
      continue;
    }
    const c = sql[i];
    if (c === "(") depth++;
    else if (c === ")") {
      if (depth === 0) {
        close = i;
        break;
      }
      depth--;
    } else if (c === "," && depth === 0) {
      pieces.push(sql.slice(start, i));
      start = i + 1;
    }
    i++;
  }
  if (close < 0) return null;
  // The whitespace before the closing parenthesis belongs to the tail, so it stays whichever item ends the body.
  const last = sql.slice(start, close);
  const trimmed = last.replace(/\s+$/, "");
  pieces.push(trimmed);
  return {
    head: sql.slice(0, open + 1),
    items: pieces.map(itemOf),
    tail: last.slice(trimmed.length) + sql.slice(close),
  };
}

/** The statement's body's opening parenthesis (after the table name), or -1. */
function findOpen(sql: string): number {
  let i = 0;
  while (i < sql.length) {
    const after = skipOpaque(sql, i);
    if (after !== i) i = after;
    else if (sql[i] === "(") return i;
    else i++;
  }
  return -1;
}

/**
 * Index after the run starting at `i` whose parentheses and commas are not the statement's own: a quoted name
 * or string (', ", `, […]) or a comment (`--` to the line's end, a block comment); `i` when none starts there.
 */
function skipOpaque(sql: string, i: number): number {
  const c = sql[i];
  if (c === "'" || c === '"' || c === "`") return skipQuoted(sql, i, c);
  /** Index `n` past `end` (the closer's start), or the text's end when there is no closer. */
  const past = (end: number, n: number) => end < 0 ? sql.length : end + n;
  if (c === "[") return past(sql.indexOf("]", i + 1), 1);
  const two = sql.slice(i, i + 2);
  // A line comment ends before its newline (whitespace the next item keeps).
  if (two === "--") return past(sql.indexOf("\n", i + 2), 0);
  if (two === "/*") return past(sql.indexOf("*/", i + 2), 2);
  return i;
}

/** Index after the quoted run starting at `i` (a doubled quote stays inside). */
function skipQuoted(sql: string, i: number, q: string): number {
  let j = i + 1;
  while (j < sql.length) {
    if (sql[j] === q) {
      if (sql[j + 1] === q) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  return sql.length;
}

/** The identifiers of a text, unquoted, in order (words, "…", `…`, […]). */
export function identifiers(text: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"]|"")*)"|`((?:[^`]|``)*)`|\[([^\]]*)\]|'(?:[^']|'')*'|([A-Za-z_][A-Za-z0-9_$]*)/g;
  for (const m of text.matchAll(re)) {
    if (m[1] !== undefined) out.push(m[1].replaceAll('""', '"'));
    else if (m[2] !== undefined) out.push(m[2].replaceAll("``", "`"));
    else if (m[3] !== undefined) out.push(m[3]);
    else if (m[4] !== undefined) out.push(m[4]);
  }
  return out;
}

function itemOf(text: string): CreateItem {
  const body = text.replace(/^\s+/, "");
  const first = identifiers(body)[0] ?? "";
  const firstIsBare = /^[A-Za-z_]/.test(body);
  if (firstIsBare && CONSTRAINT_WORDS.has(first.toLowerCase())) {
    const lists = [...body.matchAll(/\(([^()]*)\)/g)].map((m) => identifiers(m[1]));
    const refMatch = /\breferences\s+("(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|[A-Za-z_][A-Za-z0-9_$]*)/i
      .exec(body);
    return {
      text,
      column: null,
      constraintColumns: lists[0] ?? [],
      references: refMatch ? identifiers(refMatch[1])[0] ?? null : null,
    };
  }
  return { text, column: first === "" ? null : first, constraintColumns: [], references: null };
}

/**
 * Put a CREATE statement back together from (some of) its items, each optionally followed by a `--` comment
 * on its line; a line break is added after a comment when the next text did not start a new line.
 *
 * @param parts the statement's parts
 * @param items the items to keep, in order, each with its comment or null
 * @returns the statement's text
 */
export function joinCreate(
  parts: CreateParts,
  items: readonly { item: CreateItem; comment: string | null }[],
): string {
  let out = parts.head;
  items.forEach(({ item, comment }, i) => {
    out += item.text;
    if (i < items.length - 1) out += ",";
    if (comment !== null) {
      out += " -- " + comment.replace(/[\r\n]+/g, " ");
      const next = i < items.length - 1 ? items[i + 1].item.text : parts.tail;
      if (!/^[ \t]*\r?\n/.test(next)) out += "\n";
    }
  });
  return out + parts.tail;
}
