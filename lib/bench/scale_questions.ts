/**
 * The BIRD-scale questions as a dataset: each written question turned into its dataset entry and prediction, and
 * the `dev.json` / `predict_dev.json` pair written beside the databases.
 *
 * @module
 */
import { join } from "node:path";
import { writeTextAtomic } from "../util/mod.ts";
import { BIRD_SEPARATOR } from "../data/mod.ts";
import { BANK_QUESTIONS } from "./scale_bank_questions.ts";
import { FORUM_QUESTIONS } from "./scale_forum_questions.ts";
import type { QuestionSpec, ScaleQuestion } from "./scale_types.ts";

/** The prediction a written question carries, and what kind it is. */
function predictionOf(s: QuestionSpec): readonly [ScaleQuestion["kind"], string] {
  if (s.error !== undefined) return ["error", s.error];
  if (s.wrong !== undefined) return ["wrong", s.wrong];
  // A gold rewritten by hand, else wrapped: the same result set through another statement text.
  return ["correct", s.alt ?? `SELECT * FROM (\n${s.sql}\n) AS wrapped`];
}

/** A written question of `db_id` as a dataset question. */
function toQuestion(db_id: ScaleQuestion["db_id"], s: QuestionSpec): ScaleQuestion {
  const [kind, prediction] = predictionOf(s);
  return {
    db_id,
    question: s.q,
    evidence: s.ev ?? "",
    SQL: s.sql,
    difficulty: s.d,
    prediction,
    kind,
    tags: s.tags ?? [],
  };
}

/** The questions of a build, in dataset order, with the SQL of their predictions. */
export function scaleQuestions(): ScaleQuestion[] {
  return [
    ...BANK_QUESTIONS.map((s) => toQuestion("bank_scale", s)),
    ...FORUM_QUESTIONS.map((s) => toQuestion("forum_scale", s)),
  ];
}

/** The text of `dev.json`: the questions in BIRD's layout, numbered in order. */
function datasetText(questions: ScaleQuestion[]): string {
  return JSON.stringify(
    questions.map((q, i) => ({
      question_id: i,
      db_id: q.db_id,
      question: q.question,
      evidence: q.evidence,
      SQL: q.SQL,
      difficulty: q.difficulty,
    })),
    null,
    2,
  ) + "\n";
}

/** The text of `predict_dev.json`: the official predictions format (`SQL\t----- bird -----\tdb_id`). */
function predictionsText(questions: ScaleQuestion[]): string {
  return JSON.stringify(
    Object.fromEntries(questions.map((q, i) => [String(i), `${q.prediction}${BIRD_SEPARATOR}${q.db_id}`])),
    null,
    2,
  ) + "\n";
}

/** Write `dev.json` and `predict_dev.json` of `questions` into `dir`, unless they already hold exactly that. */
export async function writeQuestions(dir: string, questions: ScaleQuestion[]): Promise<void> {
  const files = [["dev.json", datasetText(questions)], ["predict_dev.json", predictionsText(questions)]];
  for (const [name, text] of files) {
    const path = join(dir, name);
    let old: string | null = null;
    try {
      old = await Deno.readTextFile(path);
    } catch { /* absent: written below */ }
    if (old !== text) await writeTextAtomic(path, text);
  }
}
