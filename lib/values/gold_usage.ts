/**
 * What a gold SQL query needs of its prompt, read from its text with the dialect's quoting rules: the string
 * and number literals it compares with (the values the prompt must carry), and the columns it uses (the columns
 * schema linking must keep).
 *
 * Literals: every string literal except date/time format patterns (`STRFTIME('%Y', …)`, `TO_CHAR(…, 'YYYY')`,
 * `DATE_FORMAT(…, '%Y')`) and those with no letter or digit (`' '` separators); a LIKE pattern counts as its
 * pieces between `%` wildcards. Numbers count only where they are compared (after `=`, `<>`, `!=`, `<`, `>`,
 * `<=`, `>=`, `BETWEEN`, the `AND` of a BETWEEN, or in an `IN (…)` list): a `LIMIT 1` or a `* 100` needs nothing
 * of the database. SQLite's double-quoted strings (BIRD's gold has some) are literals when they name no table or
 * column; MySQL's always are; PostgreSQL's are identifiers.
 *
 * Columns: `alias.column` resolved through the query's `FROM t AS alias` / `JOIN t alias`, and bare names
 * resolved against the tables the query names (every such table having it, when several do).
 *
 * @module
 */

import { columnKey, type SchemaModel } from "../prompt/mod.ts";
import type { Dialect } from "../types.ts";

/** A literal the gold SQL needs. */
export interface GoldLiteral {
  kind: "string" | "number";
  /** The text that must appear in the prompt (a LIKE pattern's piece; a number as written). */
  text: string;
}

type Token =
  | { t: "str"; v: string; quote: string }
  | { t: "id"; v: string; quoted: boolean }
  | { t: "num"; v: string }
  | { t: "op"; v: string };

/** Split SQL into tokens with the dialect's quoting rules (comments dropped). */
export function sqlTokens(sql: string, dialect: Dialect = "sqlite"): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "-" && sql[i + 1] === "-") {
      const e = sql.indexOf("\n", i);
      i = e < 0 ? n : e;
      continue;
    }
    if (c === "/" && sql[i + 1] === "*") {
      const e = sql.indexOf("*/", i + 2);
      i = e < 0 ? n : e + 2;
      continue;
    }
    if (c === "'" || c === '"' || c === "`") {
      let j = i + 1;
      let v = "";
      while (j < n) {
        if (sql[j] === "\\" && dialect === "mysql" && c !== "`") {
          v += sql[j + 1] ?? "";
          j += 2;
          continue;
        }
        if (sql[j] === c) {
          if (sql[j + 1] === c) {
            v += c;
            j += 2;
            continue;
          }
          break;
        }
        v += sql[j++];
      }
      i = j + 1;
      if (c === "'") out.push({ t: "str", v, quote: c });
      else if (c === "`") out.push({ t: "id", v, quoted: true });
      else if (dialect === "mysql") out.push({ t: "str", v, quote: c });
      else out.push({ t: "id", v, quoted: true });
      continue;
    }
    if (c === "[" && dialect === "sqlite") {
      const e = sql.indexOf("]", i + 1);
      out.push({ t: "id", v: sql.slice(i + 1, e < 0 ? n : e), quoted: true });
      i = e < 0 ? n : e + 1;
      continue;
    }
    const num = /^(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)/.exec(sql.slice(i, i + 64));
    if (num && !/[\p{L}_]/u.test(sql[i - 1] ?? "")) {
      out.push({ t: "num", v: num[0] });
      i += num[0].length;
      continue;
    }
    const word = /^[\p{L}_][\p{L}\p{N}_$]*/u.exec(sql.slice(i, i + 256));
    if (word) {
      out.push({ t: "id", v: word[0], quoted: false });
      i += word[0].length;
      continue;
    }
    const op = /^(<>|!=|<=|>=|==|\|\||::)/.exec(sql.slice(i, i + 2));
    out.push({ t: "op", v: op ? op[0] : c });
    i += op ? op[0].length : 1;
  }
  return out;
}

const FORMAT_FUNCTIONS = new Set([
  "strftime",
  "to_char",
  "to_date",
  "to_timestamp",
  "date_format",
  "str_to_date",
]);
const COMPARE = new Set(["=", "==", "<>", "!=", "<", ">", "<=", ">="]);

/**
 * The literals a gold query needs (see the module doc), each once.
 *
 * @param sql the gold SQL
 * @param options the dialect (default sqlite) and the database's schema (to tell SQLite's double-quoted
 *   identifiers from strings)
 * @returns the literals
 */
export function goldLiterals(
  sql: string,
  options: { dialect?: Dialect; model?: SchemaModel } = {},
): GoldLiteral[] {
  const dialect = options.dialect ?? "sqlite";
  const names = new Set(
    (options.model?.tables ?? []).flatMap((t) => [t.name, ...t.columns.map((c) => c.name)]).map((x) =>
      x.toLowerCase()
    ),
  );
  const tokens = sqlTokens(sql, dialect).map((tk) =>
    tk.t === "id" && tk.quoted && dialect === "sqlite" && sql.includes(`"${tk.v}"`) && options.model &&
      !names.has(tk.v.toLowerCase())
      ? { t: "str" as const, v: tk.v, quote: '"' }
      : tk
  );
  const out = new Map<string, GoldLiteral>();
  const add = (kind: GoldLiteral["kind"], text: string) => {
    if (!out.has(kind + "\0" + text)) out.set(kind + "\0" + text, { kind, text });
  };
  const fnStack: (string | null)[] = [];
  let between = false;
  let inList = 0;
  tokens.forEach((tk, i) => {
    const prev = tokens[i - 1];
    const prevWord = prev?.t === "id" && !prev.quoted ? prev.v.toLowerCase() : prev?.v;
    if (tk.t === "op" && tk.v === "(") {
      const fn = prev?.t === "id" && !prev.quoted ? prev.v.toLowerCase() : null;
      fnStack.push(fn);
      if (fn === "in") inList++;
      return;
    }
    if (tk.t === "op" && tk.v === ")") {
      if (fnStack.pop() === "in") inList--;
      return;
    }
    if (tk.t === "id" && !tk.quoted && tk.v.toLowerCase() === "between") between = true;
    if (tk.t === "str") {
      const fn = fnStack[fnStack.length - 1];
      if (fn && FORMAT_FUNCTIONS.has(fn) && /%|^[YMDHSIAaPp\-/:. ]+$/.test(tk.v) && !/^\d/.test(tk.v)) return;
      for (const piece of tk.v.split("%")) if (/[\p{L}\p{N}]/u.test(piece)) add("string", piece);
      return;
    }
    if (tk.t === "num") {
      const compared = COMPARE.has(prevWord ?? "") || prevWord === "between" || inList > 0 ||
        (prevWord === "and" && between) ||
        (prev?.t === "op" && prev.v === "-" && COMPARE.has(tokenWord(tokens[i - 2])));
      if (prevWord === "and") between = false;
      if (compared) add("number", tk.v);
    }
  });
  return [...out.values()];
}

function tokenWord(tk: Token | undefined): string {
  return tk === undefined ? "" : tk.t === "id" && !tk.quoted ? tk.v.toLowerCase() : tk.v;
}

/**
 * Whether a literal appears in a prompt: case-sensitive, as a whole token where it begins or ends with a letter
 * or digit (`Male` is not in `Female`); a number also in its plain numeric form (`1.0` as `1`).
 *
 * @param literal the literal
 * @param prompt the prompt's text
 * @returns whether it is there
 */
export function literalInPrompt(literal: GoldLiteral, prompt: string): boolean {
  const forms = [literal.text];
  if (literal.kind === "number" && Number.isFinite(Number(literal.text))) {
    forms.push(String(Number(literal.text)));
  }
  return forms.some((f) => {
    const esc = f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const before = /^[\p{L}\p{N}]/u.test(f) ? "(?<![\\p{L}\\p{N}])" : "";
    const after = /[\p{L}\p{N}]$/u.test(f)
      ? (literal.kind === "number" ? "(?![\\p{L}\\p{N}]|\\.\\d)" : "(?![\\p{L}\\p{N}])")
      : "";
    return new RegExp(before + esc + after, "u").test(prompt);
  });
}

const NOT_ALIAS = new Set([
  "on",
  "where",
  "join",
  "inner",
  "left",
  "right",
  "outer",
  "cross",
  "full",
  "natural",
  "group",
  "order",
  "limit",
  "union",
  "except",
  "intersect",
  "having",
  "using",
  "as",
  "and",
  "or",
  "window",
  "offset",
  "select",
  "from",
]);

/**
 * The columns a gold query uses (as `columnKey`s of the schema), resolved as the module doc says.
 *
 * @param sql the gold SQL
 * @param model the database's schema
 * @param dialect its dialect (default sqlite)
 * @returns the columns
 */
export function goldColumns(sql: string, model: SchemaModel, dialect: Dialect = "sqlite"): Set<string> {
  const tables = new Map(model.tables.map((t) => [t.name.toLowerCase(), t]));
  const tokens = sqlTokens(sql, dialect);
  const alias = new Map<string, string>();
  const named = new Set<string>();
  tokens.forEach((tk, i) => {
    if (tk.t !== "id") return;
    const name = tk.v.toLowerCase();
    if (!tables.has(name) || tokens[i + 1]?.v === "." || tokens[i - 1]?.v === ".") return;
    // A table is named after FROM, JOIN or a comma of a FROM list; elsewhere a same-named column is meant.
    if (!["from", "join", ","].includes(tokenWord(tokens[i - 1]))) return;
    named.add(name);
    let j = i + 1;
    if (tokenWord(tokens[j]) === "as") j++;
    const a = tokens[j];
    if (a?.t === "id" && !NOT_ALIAS.has(a.v.toLowerCase())) alias.set(a.v.toLowerCase(), name);
  });
  const out = new Set<string>();
  const has = (t: string, c: string) => tables.get(t)?.columns.find((x) => x.name.toLowerCase() === c);
  tokens.forEach((tk, i) => {
    if (tk.t !== "id") return;
    const c = tk.v.toLowerCase();
    if (tokens[i + 1]?.v === "(" && !tk.quoted) return;
    if (tokens[i - 1]?.v === ".") {
      const q = tokens[i - 2];
      if (q?.t !== "id") return;
      const t = alias.get(q.v.toLowerCase()) ?? q.v.toLowerCase();
      const col = has(t, c);
      if (col) out.add(columnKey(tables.get(t)!.name, col.name));
      return;
    }
    if (tokens[i + 1]?.v === ".") return;
    if (tokenWord(tokens[i - 1]) === "as") return;
    for (const t of named) {
      const col = has(t, c);
      if (col) out.add(columnKey(tables.get(t)!.name, col.name));
    }
  });
  return out;
}
