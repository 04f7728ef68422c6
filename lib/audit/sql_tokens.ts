/**
 * A small SQLite tokenizer for the audit's static checks: words, quoted names, strings, numbers and punctuation,
 * each with its place in the text and its parenthesis depth, and the select scopes (the whole statement and
 * every parenthesised `SELECT`) with their `ORDER BY` and `LIMIT` clauses. It reads gold SQL to find what to
 * execute next (the rows at a `LIMIT` cut, a literal's column); it never decides a verdict by itself.
 *
 * @module
 */

/** One token of a SQL text. */
export interface Token {
  kind: "word" | "name" | "string" | "number" | "punct";
  /** The text as written (quotes included). */
  text: string;
  /** Upper-cased for words, the unquoted value for names and strings. */
  value: string;
  start: number;
  end: number;
  /** Parenthesis depth: 0 at the top level; an opening `(` has the outer depth, its contents one more. */
  depth: number;
}

const isWordStart = (c: string) => /[A-Za-z_\u0080-\uffff]/.test(c);
const isWordChar = (c: string) => /[A-Za-z0-9_$\u0080-\uffff]/.test(c);

/** The tokens of `sql` (comments and whitespace dropped). Unterminated quotes run to the end. */
export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let depth = 0;
  let i = 0;
  const push = (kind: Token["kind"], start: number, end: number, value: string, d = depth) =>
    out.push({ kind, text: sql.slice(start, end), value, start, end, depth: d });
  while (i < sql.length) {
    const c = sql[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "-" && sql[i + 1] === "-") {
      const nl = sql.indexOf("\n", i);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (c === "/" && sql[i + 1] === "*") {
      const e = sql.indexOf("*/", i + 2);
      i = e < 0 ? sql.length : e + 2;
    } else if (c === "'" || c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      let j = i + 1;
      let value = "";
      while (j < sql.length) {
        if (sql[j] === close) {
          if (close !== "]" && sql[j + 1] === close) {
            value += close;
            j += 2;
            continue;
          }
          break;
        }
        value += sql[j++];
      }
      const end = Math.min(j + 1, sql.length);
      push(c === "'" ? "string" : "name", i, end, value);
      i = end;
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(sql[i + 1] ?? ""))) {
      const m = /^(?:0x[0-9a-f]+|(?:[0-9][0-9_]*)?\.?[0-9_]*(?:e[+-]?[0-9]+)?)/i.exec(sql.slice(i))!;
      const len = Math.max(1, m[0].length);
      push("number", i, i + len, sql.slice(i, i + len));
      i += len;
    } else if (isWordStart(c)) {
      let j = i + 1;
      while (j < sql.length && isWordChar(sql[j])) j++;
      push("word", i, j, sql.slice(i, j).toUpperCase());
      i = j;
    } else if (c === "(") {
      push("punct", i, i + 1, c);
      depth++;
      i++;
    } else if (c === ")") {
      depth = Math.max(0, depth - 1);
      push("punct", i, i + 1, c);
      i++;
    } else {
      const two = sql.slice(i, i + 2);
      const len = ["||", "<=", ">=", "<>", "!=", "==", "<<", ">>", "->"].includes(two) ? 2 : 1;
      push("punct", i, i + len, sql.slice(i, i + len));
      i += len;
    }
  }
  return out;
}

/** True when the token is the word `w` (a keyword, case-insensitive). */
export const isWord = (t: Token | undefined, ...w: string[]): boolean =>
  t !== undefined && t.kind === "word" && w.includes(t.value);

/** True when the token is the punctuation `p`. */
export const isPunct = (t: Token | undefined, p: string): boolean =>
  t !== undefined && t.kind === "punct" && t.value === p;

/** Index of the `)` closing the `(` at `open`, or -1. */
export function closingParen(tokens: readonly Token[], open: number): number {
  const d = tokens[open].depth;
  for (let j = open + 1; j < tokens.length; j++) {
    if (isPunct(tokens[j], ")") && tokens[j].depth === d) return j;
  }
  return -1;
}

/** A `SELECT` scope: the whole statement, or a parenthesised query; token indices are half-open `[from, to)`. */
export interface SelectScope {
  from: number;
  to: number;
  /** The depth of the scope's own clauses. */
  depth: number;
  /** True for the whole statement. */
  top: boolean;
  /** Index of the final `SELECT` keyword (after any `WITH` and compound parts). */
  select: number;
  /** Index of the scope's own `FROM`, or -1. */
  fromKw: number;
  /** Index of `ORDER` of the scope's own `ORDER BY`, or -1. */
  orderBy: number;
  /** Index of the scope's own `LIMIT`, or -1. */
  limit: number;
  /** The scope is a compound (`UNION`, `INTERSECT`, `EXCEPT`) at its own depth. */
  compound: boolean;
  /** `SELECT DISTINCT`. */
  distinct: boolean;
}

/** Every select scope of a statement, the whole statement first. */
export function selectScopes(tokens: readonly Token[]): SelectScope[] {
  const scopes: SelectScope[] = [];
  const consider = (from: number, to: number, depth: number, top: boolean) => {
    let select = -1, fromKw = -1, orderBy = -1, limit = -1;
    let compound = false;
    for (let j = from; j < to; j++) {
      const t = tokens[j];
      if (t.depth !== depth || t.kind !== "word") continue;
      if (t.value === "SELECT") {
        select = j;
        fromKw = orderBy = -1;
      } else if (t.value === "FROM" && select >= 0 && fromKw < 0) fromKw = j;
      else if (t.value === "ORDER" && isWord(tokens[j + 1], "BY")) orderBy = j;
      else if (t.value === "LIMIT") limit = j;
      else if (["UNION", "INTERSECT", "EXCEPT"].includes(t.value)) {
        compound = true;
        limit = -1;
      }
    }
    if (select < 0) return;
    // A window's `OVER (ORDER BY …)` is deeper: only the scope's own ORDER BY counts, and it must follow SELECT.
    if (orderBy >= 0 && orderBy < select) orderBy = -1;
    if (limit >= 0 && limit < select) limit = -1;
    const distinct = isWord(tokens[select + 1], "DISTINCT");
    scopes.push({ from, to, depth, top, select, fromKw, orderBy, limit, compound, distinct });
  };
  consider(0, tokens.length, 0, true);
  for (let j = 0; j < tokens.length; j++) {
    if (!isPunct(tokens[j], "(")) continue;
    const next = tokens[j + 1];
    if (!isWord(next, "SELECT", "WITH")) continue;
    const close = closingParen(tokens, j);
    const end = close < 0 ? tokens.length : close;
    consider(j + 1, end, tokens[j].depth + 1, false);
  }
  return scopes;
}

/** Split token indices `[from, to)` at commas of depth `depth`: the ranges of a list's items. */
export function splitTopCommas(
  tokens: readonly Token[],
  from: number,
  to: number,
  depth: number,
): [number, number][] {
  const out: [number, number][] = [];
  let s = from;
  for (let j = from; j < to; j++) {
    if (isPunct(tokens[j], ",") && tokens[j].depth === depth) {
      out.push([s, j]);
      s = j + 1;
    }
  }
  if (s < to) out.push([s, to]);
  return out;
}

/** The SQL text of tokens `[from, to)`, as written. */
export const textOf = (sql: string, tokens: readonly Token[], from: number, to: number): string =>
  from >= to ? "" : sql.slice(tokens[from].start, tokens[to - 1].end);

/** A double-quoted SQL identifier. */
export const quoteName = (n: string): string => `"${n.replaceAll('"', '""')}"`;

/** A single-quoted SQL string literal. */
export const quoteString = (s: string): string => `'${s.replaceAll("'", "''")}'`;
