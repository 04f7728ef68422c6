/**
 * What the audit reads in a gold query before it executes anything more: the `LIMIT` sites (with or without
 * `ORDER BY`) and the queries that show the rows at their cut, the literals compared with a column, the `ROUND`
 * calls and the constructs whose result depends on the SQLite version. Everything here rewrites text for the
 * pool to execute; nothing here decides a flag alone except `versionConstructs`.
 *
 * @module
 */
import {
  closingParen,
  isPunct,
  isWord,
  quoteName,
  type SelectScope,
  selectScopes,
  splitTopCommas,
  textOf,
  type Token,
  tokenize,
} from "./sql_tokens.ts";

/** Prefix of the key columns the tie query appends (never a BIRD column name). */
export const KEY_PREFIX = "__t2s_key";

/** A `LIMIT` of a select scope, with the rewrites the audit executes. */
export interface LimitSite {
  /** True for the statement's own `LIMIT`, false for a subquery's. */
  top: boolean;
  /** The scope's text, as written (a subquery without its parentheses). */
  text: string;
  /** Rows kept (`LIMIT k`). */
  k: number;
  /** Rows skipped (`OFFSET o`, `LIMIT o, k`). */
  offset: number;
  /** The scope orders its rows (`ORDER BY` at its own level). */
  ordered: boolean;
  /** The scope with `LIMIT k + 1` (for an unordered `LIMIT`: is there a row past the cut?). */
  plusOne: string;
  /** The scope with its sort keys appended as columns and `LIMIT` widened to `offset + k + window` from row 0,
   * or null when the scope cannot be rewritten (a compound, an unparsed sort term). */
  tieQuery: ((window: number) => string) | null;
  /** Number of key columns `tieQuery` appends. */
  keys: number;
  /** `SELECT DISTINCT`: rows are told apart after projection. */
  distinct: boolean;
  /** The whole gold statement with this scope's `LIMIT` replaced by `LIMIT 1 OFFSET j` (another row of a tie). */
  withOffset: (j: number) => string;
}

const integerOf = (t: Token | undefined): number | null =>
  t && t.kind === "number" && /^[0-9]+$/.test(t.text) ? Number(t.text) : null;

/** The gold statement without a trailing `;` (a rewrite appends to it). */
export function bareStatement(sql: string): string {
  return sql.trim().replace(/;+\s*$/, "");
}

/** The select list items of a scope: each item's expression range and its alias, if any. */
function selectItems(tokens: readonly Token[], s: SelectScope, listEnd: number) {
  let from = s.select + 1;
  if (isWord(tokens[from], "DISTINCT", "ALL")) from++;
  return splitTopCommas(tokens, from, listEnd, s.depth).map(([a, b]) => {
    const last = tokens[b - 1];
    const prev = tokens[b - 2];
    let alias: string | null = null;
    let exprEnd = b;
    if (b - a >= 3 && isWord(prev, "AS") && (last.kind === "name" || last.kind === "word")) {
      alias = last.value;
      exprEnd = b - 2;
    } else if (
      b - a >= 2 && (last.kind === "name" || (last.kind === "word" && last.value !== "END")) &&
      (isPunct(prev, ")") || prev.kind === "name" || (prev.kind === "word" && prev.value !== "CASE"))
    ) {
      alias = last.value;
      exprEnd = b - 1;
    }
    return { from: a, to: exprEnd, alias };
  });
}

/** End of the select list: the scope's FROM, or the first clause keyword after SELECT at its depth. */
function listEndOf(tokens: readonly Token[], s: SelectScope): number {
  if (s.fromKw >= 0) return s.fromKw;
  for (let j = s.select + 1; j < s.to; j++) {
    const t = tokens[j];
    if (t.depth === s.depth && isWord(t, "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "WINDOW")) return j;
  }
  return s.to;
}

/** The sort keys of a scope's ORDER BY as expressions valid in its select list, or null when one is not. */
function sortKeys(sql: string, tokens: readonly Token[], s: SelectScope, listEnd: number): string[] | null {
  const items = selectItems(tokens, s, listEnd);
  const terms = splitTopCommas(tokens, s.orderBy + 2, s.limit, s.depth);
  const keys: string[] = [];
  for (let [a, b] of terms) {
    // Trailing modifiers: ASC/DESC, NULLS FIRST/LAST, COLLATE x.
    for (;;) {
      if (isWord(tokens[b - 1], "ASC", "DESC")) b--;
      else if (isWord(tokens[b - 2], "NULLS") && isWord(tokens[b - 1], "FIRST", "LAST")) b -= 2;
      else if (isWord(tokens[b - 2], "COLLATE")) b -= 2;
      else break;
    }
    if (b <= a) return null;
    const n = b - a === 1 ? integerOf(tokens[a]) : null;
    if (n !== null) {
      const item = items[n - 1];
      if (!item) return null;
      keys.push(textOf(sql, tokens, item.from, item.to));
      continue;
    }
    if (b - a === 1 && (tokens[a].kind === "word" || tokens[a].kind === "name")) {
      const item = items.find((i) =>
        i.alias !== null && i.alias.toLowerCase() === tokens[a].value.toLowerCase()
      );
      if (item) {
        keys.push(textOf(sql, tokens, item.from, item.to));
        continue;
      }
    }
    keys.push(textOf(sql, tokens, a, b));
  }
  return keys;
}

/** Every `LIMIT` with integer bounds in a statement, the statement's own first. */
export function limitSites(gold: string): LimitSite[] {
  const sql = bareStatement(gold);
  const tokens = tokenize(sql);
  const out: LimitSite[] = [];
  for (const s of selectScopes(tokens)) {
    if (s.limit < 0) continue;
    // LIMIT k [OFFSET o] | LIMIT o, k — integer literals only.
    const a = integerOf(tokens[s.limit + 1]);
    if (a === null) continue;
    let k = a, offset = 0, end = s.limit + 2;
    if (isWord(tokens[end], "OFFSET")) {
      const o = integerOf(tokens[end + 1]);
      if (o === null) continue;
      offset = o;
      end += 2;
    } else if (isPunct(tokens[end], ",")) {
      const b = integerOf(tokens[end + 1]);
      if (b === null) continue;
      offset = a;
      k = b;
      end += 2;
    }
    if (end !== s.to) continue;
    const startChar = tokens[s.from].start;
    const limitChar = tokens[s.limit].start;
    const endChar = tokens[s.to - 1].end;
    const text = sql.slice(startChar, endChar);
    const head = sql.slice(startChar, limitChar);
    const limitClause = (n: number, o: number) => `LIMIT ${n}${o > 0 ? ` OFFSET ${o}` : ""}`;
    let tieQuery: LimitSite["tieQuery"] = null;
    let keys = 0;
    const ordered = s.orderBy >= 0;
    if (ordered && !s.compound) {
      const listEnd = listEndOf(tokens, s);
      const sk = sortKeys(sql, tokens, s, listEnd);
      if (sk && listEnd > s.select + 1) {
        keys = sk.length;
        const insertAt = tokens[listEnd - 1].end;
        const extra = sk.map((e, i) => `, ${e} AS ${quoteName(`${KEY_PREFIX}${i + 1}`)}`).join("");
        const withKeys = sql.slice(startChar, insertAt) + extra + sql.slice(insertAt, limitChar);
        tieQuery = (window: number) => `${withKeys}${limitClause(offset + k + window, 0)}`;
      }
    }
    out.push({
      top: s.top,
      text,
      k,
      offset,
      ordered,
      plusOne: `${head}${limitClause(k + 1, offset)}`,
      tieQuery,
      keys,
      distinct: s.distinct,
      withOffset: (j: number) => sql.slice(0, limitChar) + limitClause(1, j) + sql.slice(endChar),
    });
  }
  return out;
}

/** A literal compared with a column: `col = 'x'`, `'x' = col`, `col IN ('x', 'y')`, `col LIKE 'x'`. */
export interface LiteralComparison {
  /** The table alias or name written before the column (`T1` of `T1.gender`), or null. */
  qualifier: string | null;
  column: string;
  /** `=`, `IN` or `LIKE`, as the check re-runs it. */
  op: "=" | "IN" | "LIKE";
  /** The literals as SQL text (`'Male'`, `3`). */
  literals: string[];
  /** The string values (for messages and near matches); numbers as written. */
  values: string[];
  /** The comparison as written in the gold. */
  text: string;
}

/** Tokens a comparison may follow or precede without being part of a larger expression. */
const BEFORE = new Set(["WHERE", "AND", "OR", "ON", "WHEN", "HAVING", "NOT"]);
const AFTER = new Set([
  "AND",
  "OR",
  "THEN",
  "ORDER",
  "GROUP",
  "LIMIT",
  "END",
  "ELSE",
  "WHERE",
  "HAVING",
  "UNION",
]);

const boundaryBefore = (t: Token | undefined) =>
  t === undefined || (t.kind === "word" && BEFORE.has(t.value)) || isPunct(t, "(") || isPunct(t, ",");
const boundaryAfter = (t: Token | undefined) =>
  t === undefined || (t.kind === "word" && AFTER.has(t.value)) || isPunct(t, ")") || isPunct(t, ",");

const isLiteral = (t: Token | undefined) =>
  t !== undefined && (t.kind === "string" || (t.kind === "number" && !/_/.test(t.text)));

/** A column reference ending at token `end` (inclusive): `[start, qualifier, column]`, or null. */
function columnRefEndingAt(tokens: readonly Token[], end: number): [number, string | null, string] | null {
  const t = tokens[end];
  if (!t || (t.kind !== "word" && t.kind !== "name")) return null;
  if (isPunct(tokens[end - 1], ".")) {
    const q = tokens[end - 2];
    if (!q || (q.kind !== "word" && q.kind !== "name")) return null;
    return [end - 2, q.value, t.value];
  }
  return [end, null, t.value];
}

/** The literal comparisons of a statement whose column side is a bare column reference. */
export function literalComparisons(gold: string): LiteralComparison[] {
  const sql = bareStatement(gold);
  const tokens = tokenize(sql);
  const out: LiteralComparison[] = [];
  for (let j = 0; j < tokens.length; j++) {
    const t = tokens[j];
    const eq = isPunct(t, "=") || isPunct(t, "==");
    if (eq || isWord(t, "LIKE")) {
      // col = lit
      const ref = columnRefEndingAt(tokens, j - 1);
      if (
        ref && boundaryBefore(tokens[ref[0] - 1]) && !isWord(tokens[ref[0] - 1], "NOT") &&
        isLiteral(tokens[j + 1]) && boundaryAfter(tokens[j + 2]) && !isWord(tokens[j - 1], "NULL")
      ) {
        const lit = tokens[j + 1];
        if (tokens[j - 1].kind === "word" && ["TRUE", "FALSE", "NULL"].includes(tokens[j - 1].value)) {
          continue;
        }
        out.push({
          qualifier: ref[1],
          column: ref[2],
          op: eq ? "=" : "LIKE",
          literals: [lit.text],
          values: [lit.value],
          text: textOf(sql, tokens, ref[0], j + 2),
        });
        continue;
      }
      // lit = col
      if (eq && isLiteral(tokens[j - 1]) && boundaryBefore(tokens[j - 2])) {
        const dotted = isPunct(tokens[j + 2], ".");
        const endTok = dotted ? j + 3 : j + 1;
        const ref = columnRefEndingAt(tokens, endTok);
        if (ref && ref[0] === j + 1 && boundaryAfter(tokens[endTok + 1])) {
          out.push({
            qualifier: ref[1],
            column: ref[2],
            op: "=",
            literals: [tokens[j - 1].text],
            values: [tokens[j - 1].value],
            text: textOf(sql, tokens, j - 1, endTok + 1),
          });
        }
      }
    } else if (isWord(t, "IN") && isPunct(tokens[j + 1], "(") && !isWord(tokens[j - 1], "NOT")) {
      const ref = columnRefEndingAt(tokens, j - 1);
      if (!ref || !boundaryBefore(tokens[ref[0] - 1])) continue;
      const close = closingParen(tokens, j + 1);
      if (close < 0) continue;
      const items = splitTopCommas(tokens, j + 2, close, tokens[j + 1].depth + 1);
      if (!items.length || !items.every(([a, b]) => b - a === 1 && isLiteral(tokens[a]))) continue;
      out.push({
        qualifier: ref[1],
        column: ref[2],
        op: "IN",
        literals: items.map(([a]) => tokens[a].text),
        values: items.map(([a]) => tokens[a].value),
        text: textOf(sql, tokens, ref[0], close + 1),
      });
    }
  }
  // A word that is a keyword (CASE x WHEN …) is no column.
  return out.filter((c) =>
    !["CASE", "SELECT", "END", "THEN", "ELSE", "WHEN"].includes(c.column.toUpperCase())
  );
}

/** The tables a statement reads, and its aliases: `FROM t AS a`, `JOIN t a`, `FROM t`. */
export function tableRefs(gold: string): { tables: string[]; aliases: Map<string, string | null> } {
  const tokens = tokenize(bareStatement(gold));
  const tables = new Set<string>();
  // alias (lower case) → table, or null when one alias names two different tables.
  const aliases = new Map<string, string | null>();
  const bind = (alias: string, table: string) => {
    const k = alias.toLowerCase();
    const had = aliases.get(k);
    aliases.set(k, had === undefined || had === table ? table : null);
  };
  for (let j = 0; j < tokens.length; j++) {
    if (!isWord(tokens[j], "FROM", "JOIN")) continue;
    // FROM a, b: each comma-separated item at this depth until a clause keyword.
    let p = j + 1;
    for (;;) {
      const t = tokens[p];
      if (!t || (t.kind !== "word" && t.kind !== "name") || (t.kind === "word" && RESERVED.has(t.value))) {
        break;
      }
      const table = t.value;
      tables.add(table);
      bind(table, table);
      p++;
      if (isWord(tokens[p], "AS")) p++;
      const a = tokens[p];
      if (a && (a.kind === "name" || (a.kind === "word" && !RESERVED.has(a.value)))) {
        bind(a.value, table);
        p++;
      }
      if (isPunct(tokens[p], ",") && isWord(tokens[j], "FROM")) {
        p++;
        continue;
      }
      break;
    }
  }
  return { tables: [...tables], aliases };
}

const RESERVED = new Set([
  "SELECT",
  "WHERE",
  "GROUP",
  "ORDER",
  "LIMIT",
  "INNER",
  "LEFT",
  "RIGHT",
  "FULL",
  "CROSS",
  "JOIN",
  "ON",
  "USING",
  "NATURAL",
  "OUTER",
  "UNION",
  "EXCEPT",
  "INTERSECT",
  "HAVING",
  "WINDOW",
  "AS",
  "AND",
  "OR",
  "NOT",
  "WITH",
]);

/** The statement with every `ROUND(x[, n])` given `x` nudged up by one part in 10^12, or null when it has none.
 * A result that changes under the nudge holds a value a hair below a rounding halfway point: SQLite 3.40 and
 * 3.43+ round such values differently (`ROUND(1.005, 2)`: 1.01 vs 1.0). */
export function roundNudged(gold: string): string | null {
  const sql = bareStatement(gold);
  const tokens = tokenize(sql);
  const edits: { at: number; text: string }[] = [];
  for (let j = 0; j < tokens.length; j++) {
    if (!isWord(tokens[j], "ROUND") || !isPunct(tokens[j + 1], "(")) continue;
    const close = closingParen(tokens, j + 1);
    if (close < 0) continue;
    const args = splitTopCommas(tokens, j + 2, close, tokens[j + 1].depth + 1);
    if (!args.length || args.length > 2) continue;
    const [a, b] = args[0];
    if (b <= a) continue;
    edits.push({ at: tokens[a].start, text: "((" }, { at: tokens[b - 1].end, text: ") * (1 + 1e-12))" });
  }
  if (!edits.length) return null;
  edits.sort((x, y) => y.at - x.at);
  let out = sql;
  for (const e of edits) out = out.slice(0, e.at) + e.text + out.slice(e.at);
  return out;
}

/** SQLite functions newer than 3.40 (the version the official evaluation environment links), with the version. */
const NEWER_FUNCTIONS: Record<string, string> = {
  UNHEX: "3.41",
  TIMEDIFF: "3.43",
  OCTET_LENGTH: "3.43",
  CONCAT: "3.44",
  CONCAT_WS: "3.44",
  STRING_AGG: "3.44",
  JSONB: "3.45",
  JSON_PRETTY: "3.46",
  JSON_ERROR_POSITION: "3.42",
  UNISTR: "3.50",
  PERCENTILE: "3.47",
  MEDIAN: "3.47",
};

/** strftime codes 3.40 knows; others arrived in 3.42+. */
const OLD_STRFTIME = new Set(["d", "f", "H", "j", "J", "m", "M", "s", "S", "w", "W", "Y", "%"]);

/** A construct whose result depends on the SQLite version. */
export interface VersionConstruct {
  what: string;
  /** `static`: the text alone decides; `text_number`: only if the result holds a number as text (REAL→TEXT). */
  when: "static" | "text_number";
}

/** The version-sensitive constructs of a statement (what the parity suite knows: `tests/parity/probes.json`). */
export function versionConstructs(gold: string): VersionConstruct[] {
  const tokens = tokenize(bareStatement(gold));
  const out: VersionConstruct[] = [];
  const seen = new Set<string>();
  const add = (what: string, when: VersionConstruct["when"] = "static") => {
    if (!seen.has(what)) out.push({ what, when });
    seen.add(what);
  };
  for (let j = 0; j < tokens.length; j++) {
    const t = tokens[j];
    const call = t.kind === "word" && isPunct(tokens[j + 1], "(");
    if (call && (t.value in NEWER_FUNCTIONS || t.value.startsWith("JSONB_"))) {
      add(`${t.value.toLowerCase()}() arrived in SQLite ${NEWER_FUNCTIONS[t.value] ?? "3.45"}`);
    } else if (call && t.value === "LOG10") {
      add("log10() is ln(x)/ln(10) in SQLite 3.40, C log10() later (log10(1000): 2.9999999999999996 vs 3)");
    } else if (call && t.value === "JSON_VALID") add("json_valid(NULL) is 0 in SQLite 3.40, NULL later");
    else if (call && t.value === "STRFTIME") {
      const fmt = tokens[j + 2];
      if (fmt?.kind === "string") {
        for (const m of fmt.value.matchAll(/%(.)/g)) {
          if (!OLD_STRFTIME.has(m[1])) add(`strftime code %${m[1]} arrived in SQLite 3.42`);
        }
      }
    } else if (call && (t.value === "GROUP_CONCAT" || t.value === "STRING_AGG")) {
      const close = closingParen(tokens, j + 1);
      for (let p = j + 2; p < close; p++) {
        if (tokens[p].depth === t.depth + 1 && isWord(tokens[p], "ORDER")) {
          add("ORDER BY inside an aggregate arrived in SQLite 3.44");
        }
      }
    } else if (t.kind === "number" && /_/.test(t.text)) add("digit separators arrived in SQLite 3.46");
    else if (call && (t.value === "PRINTF" || t.value === "FORMAT")) {
      const fmt = tokens[j + 2];
      if (fmt?.kind === "string" && /%[-+ #0]*\d*(\.\d+)?[feEgG]/.test(fmt.value)) {
        add(
          "printf of a REAL: SQLite 3.43+ converts exactly ('%.2f' of 2.675: '2.68' in 3.40, '2.67' later)",
        );
      }
    } else if (isWord(t, "CAST") && isPunct(tokens[j + 1], "(")) {
      const close = closingParen(tokens, j + 1);
      const as = close - 1;
      for (let p = close - 1; p > j + 1; p--) {
        if (isWord(tokens[p], "AS") && tokens[p].depth === t.depth + 1) {
          const ty = tokens.slice(p + 1, close).map((x) => x.value).join(" ");
          if (/TEXT|CHAR|CLOB|VARCHAR/.test(ty)) {
            add(
              "REAL to TEXT: SQLite 3.43+ writes the shortest round-trip form ('0.30000000000000004' vs '0.3')",
              "text_number",
            );
          }
          break;
        }
        if (p === as - 100) break;
      }
    }
  }
  return out;
}
