/**
 * The audit's text heuristics, which read the question and its evidence beside the gold SQL and its result:
 * `evidence_mismatch` (a value or column the evidence states that the SQL does not use, or uses spelled
 * otherwise) and `shape` (a count, a percentage or a single answer asked for, and a result of another shape).
 * Both are `suspect`: they point a person at a question, and training never drops them by default.
 *
 * @module
 */
import type { CatalogTable } from "../exec/mod.ts";
import type { Flag } from "./audit_types.ts";
import { bareStatement } from "./sql_analysis.ts";
import { tokenize } from "./sql_tokens.ts";

/** The words and literals a SQL text uses: identifiers (lower case), string literals, numbers. */
function sqlVocabulary(sql: string) {
  const tokens = tokenize(bareStatement(sql));
  const names = new Set<string>();
  const strings: string[] = [];
  const numbers = new Set<string>();
  for (const t of tokens) {
    if (t.kind === "word" || t.kind === "name") names.add(t.value.toLowerCase());
    else if (t.kind === "string") strings.push(t.value);
    else if (t.kind === "number") numbers.add(String(Number(t.text.replaceAll("_", ""))));
  }
  return { names, strings, numbers };
}

const NUMBER = /^-?\d+(\.\d+)?$/;

/**
 * `evidence_mismatch`: each `column <op> value` the evidence states (the column one of the database's) whose value
 * the SQL does not use, or uses in another spelling; each column the evidence names (`… refers to column`) that
 * the SQL never mentions.
 */
export function evidenceFlags(
  evidence: string,
  against: { sql: string; catalog: readonly CatalogTable[] },
): Flag[] {
  const { sql, catalog } = against;
  if (!evidence.trim()) return [];
  const columns = new Set(catalog.flatMap((t) => t.columns.map((c) => c.name.toLowerCase())));
  const vocab = sqlVocabulary(sql);
  const flags: Flag[] = [];
  const seen = new Set<string>();
  const add = (key: string, detail: string) => {
    if (seen.has(key)) return;
    seen.add(key);
    flags.push({ kind: "evidence_mismatch", severity: "suspect", detail });
  };
  // column = 'value' | column = "value" | column <op> number (column possibly table-qualified, maybe backticked).
  const assign =
    /(?:[A-Za-z_]\w*\.)?(?:`([^`]+)`|\b([A-Za-z_]\w*))\s*(=|>=|<=|>|<|!=|<>)\s*(?:'([^']*)'|"([^"]*)"|(-?\d+(?:\.\d+)?)(?![\w.%]))/g;
  for (const m of evidence.matchAll(assign)) {
    const column = (m[1] ?? m[2]).trim().toLowerCase();
    // An id compared with a number: the SQL may name the row by its label instead (`gender = 'Male'`).
    if (!columns.has(column) || column === "id" || column.endsWith("_id")) continue;
    const value = m[4] ?? m[5] ?? m[6];
    if (value === undefined || value === "") continue;
    if (m[6] !== undefined) {
      if (!vocab.numbers.has(String(Number(value))) && !vocab.strings.includes(value)) {
        add(`n:${column}:${value}`, `the evidence says ${m[0].trim()}, and the SQL uses no ${value}`);
      }
      continue;
    }
    if (vocab.strings.includes(value)) continue;
    // A numeric string compared as a number in the SQL (`year = '2012'` vs `year = 2012`) is the same value.
    if (NUMBER.test(value) && vocab.numbers.has(String(Number(value)))) continue;
    // A LIKE pattern holding the value (`LIKE '%Marvel%'`) uses it.
    if (
      vocab.strings.some((s) =>
        s.includes("%") && s.replaceAll("%", "") && value.includes(s.replaceAll("%", ""))
      )
    ) {
      continue;
    }
    if (vocab.strings.some((s) => s.includes(value))) continue;
    const other = vocab.strings.find((s) => s.toLowerCase() === value.toLowerCase());
    if (other !== undefined) {
      add(
        `c:${column}:${value}`,
        `the evidence says ${column} = '${value}', the SQL compares with '${other}'`,
      );
    } else {
      add(
        `v:${column}:${value}`,
        `the evidence says ${column} = '${value}', and the SQL never uses '${value}'`,
      );
    }
  }
  // "… refers to column_name" where the column is one of the database's and the SQL never names it.
  for (
    const m of evidence.matchAll(/\brefers? to\s+`?([A-Za-z_][\w]*)`?\s*(?=$|[;,.]|\s+(?:and|or|where)\b)/gi)
  ) {
    const column = m[1].toLowerCase();
    if (!columns.has(column) || !column.includes("_")) continue;
    if (!vocab.names.has(column)) {
      add(`r:${column}`, `the evidence names the column ${m[1]}, which the SQL never uses`);
    }
  }
  return flags;
}

/** What the question asks for, by its wording. */
export type AskedShape = "count" | "ratio" | null;

/** A question's asked shape: `count` (How many …), `ratio` (percentage, ratio, average), or null. */
export function askedShape(question: string): AskedShape {
  const q = question.trim().toLowerCase();
  // Several answers asked for at once: no one shape.
  if (/\b(each|per|respectively|list|name them|which|what are|and what|along with|in order|rank)\b/.test(q)) {
    return null;
  }
  if (/^(among [^,]*,\s*)?how many\b/.test(q) && !/\bhow many times\b/.test(q)) return "count";
  if (/\b(percentage|percent|ratio|proportion)\b/.test(q)) return "ratio";
  return null;
}

const isNumberDisplay = (v: unknown) =>
  typeof v === "number" || (typeof v === "object" && v !== null && ("int" in v || "real" in v));

/**
 * `shape`: a count or a percentage asked for, and a result that is not one number (several rows, or a text).
 *
 * @param question the question
 * @param result the gold result's shape and first rows
 */
export function shapeFlags(
  question: string,
  result: { columns: string[]; distinctRows: number; sample: unknown[][] },
): Flag[] {
  const asked = askedShape(question);
  if (!asked || result.distinctRows === 0) return [];
  const what = asked === "count" ? "a count" : "a percentage or ratio";
  if (result.distinctRows > 1) {
    return [{
      kind: "shape",
      severity: "suspect",
      detail: `the question asks for ${what}; the gold returns ${result.distinctRows} distinct rows`,
    }];
  }
  const first = result.sample[0] ?? [];
  if (result.columns.length === 1 && first.length === 1 && first[0] !== null && !isNumberDisplay(first[0])) {
    return [{
      kind: "shape",
      severity: "suspect",
      detail: `the question asks for ${what}; the gold returns the text ${JSON.stringify(first[0])}`,
    }];
  }
  return [];
}

/** A question normalised for `duplicate`: lower case, punctuation and repeated spaces gone. */
export function normaliseQuestion(question: string): string {
  return question.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, " ").trim();
}
