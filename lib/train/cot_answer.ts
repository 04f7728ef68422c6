/**
 * A teacher's completion made into the assistant turn of a CoT example: the reasoning up to the final SQL
 * block, then that SQL in a canonical fence, or the reason none can be made (no SQL, no reasoning, the gold
 * SQL given away).
 *
 * @module
 */

import {
  chooseBlock,
  cleanSql,
  extractSql,
  findFences,
  looksLikeQuery,
  normaliseCompletion,
} from "../model/mod.ts";

/** Why a teacher answer was not kept. */
export type RejectReason =
  | "generation_error"
  | "no_sql"
  | "no_reasoning"
  | "mentions_gold"
  | "sql_error"
  | "different_result"
  | "unverifiable";

/** The assistant turn made from a teacher answer, or why none can be. */
export type TeacherAnswer =
  | { ok: true; sql: string; answer: string }
  | { ok: false; reason: "no_sql" | "no_reasoning" | "mentions_gold"; error: string };

/** Reasoning shorter than this (characters before the final fence) is not reasoning. */
const MIN_REASONING_CHARS = 20;

/** Phrases by which a teacher's reasoning gives away that it was handed the answer. */
const GOLD_MENTION =
  /\bgold(en)?[\s-]+(sql|query|answer|statement|solution)\b|\b(given|provided|reference)\s+(sql|query)\b/i;

/**
 * Turn a teacher's completion into the assistant turn: `<think>` blocks and chat tokens removed, the reasoning
 * up to the final SQL block, then that SQL in a canonical ```sql fence (trailing prose after it dropped, so
 * every answer ENDS with the SQL). The block is the one `extractSql` picks, and the result is checked to extract
 * back to the same SQL, so what the student learns to write is what evaluation will read.
 *
 * @param completion the teacher's raw answer
 * @returns the SQL and the assistant text, or the reject reason
 */
export function teacherAnswer(completion: string): TeacherAnswer {
  const text = normaliseCompletion(completion);
  const block = chooseBlock(text, findFences(text));
  if (!block || !looksLikeQuery(block.content)) {
    return { ok: false, reason: "no_sql", error: "no fenced SQL query in the answer" };
  }
  const sql = cleanSql(block.content);
  const reasoning = text.slice(0, block.start).trimEnd();
  if (reasoning.replace(/\s+/g, " ").length < MIN_REASONING_CHARS) {
    return { ok: false, reason: "no_reasoning", error: "no reasoning before the SQL" };
  }
  // The student never sees the gold SQL: reasoning that cites it would teach it to refer to something absent.
  if (GOLD_MENTION.test(reasoning)) {
    return { ok: false, reason: "mentions_gold", error: "the reasoning refers to the gold SQL it was given" };
  }
  const answer = reasoning + "\n```sql\n" + sql + "\n```";
  if (extractSql(answer) !== sql) {
    return { ok: false, reason: "no_sql", error: "the final SQL is not the one extraction would pick" };
  }
  return { ok: true, sql, answer };
}
