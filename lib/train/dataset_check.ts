/**
 * The dataset check before a run: each line of `train.jsonl`/`test.jsonl` a valid conversation (or GRPO prompt
 * row), and the estimated lengths against `training.max_length`.
 *
 * @module
 */

import * as path from "node:path";
import { ESTIMATE_CHARS_PER_TOKEN, estimateTokens } from "../prompt/mod.ts";
import { TrainerError } from "./config.ts";
import { isObj, type Obj } from "./guards.ts";

const ROLES = ["system", "user", "assistant"];

/** Problems with one parsed dataset line (empty when it is a valid conversation ending in an assistant answer). */
export function validateExample(obj: unknown, options: { grpo?: boolean } = {}): string[] {
  if (!isObj(obj)) return ["not a JSON object"];
  if (options.grpo) return validateGrpoExample(obj);
  const msgs = obj.messages;
  if (!Array.isArray(msgs) || msgs.length === 0) return ['missing "messages" array'];
  const problems: string[] = [];
  msgs.forEach((m, i) => {
    if (!isObj(m)) return problems.push(`messages[${i}] is not an object`);
    if (!ROLES.includes(m.role as string)) {
      problems.push(`messages[${i}].role must be one of ${ROLES.join(", ")}`);
    }
    if (typeof m.content !== "string") problems.push(`messages[${i}].content must be a string`);
  });
  if (problems.length) return problems;
  const roles = (msgs as Obj[]).map((m) => m.role as string);
  const body = roles[0] === "system" ? roles.slice(1) : roles;
  if (body.includes("system")) {
    problems.push("a system message may only come first");
  } else if (
    body.length === 0 || body.length % 2 !== 0 ||
    body.some((r, i) => r !== (i % 2 === 0 ? "user" : "assistant"))
  ) problems.push("turns must alternate user/assistant after the optional system message");
  const last = msgs[msgs.length - 1] as Obj;
  if (last.role !== "assistant") problems.push("the last message must be the assistant answer");
  else if (!(last.content as string).trim()) problems.push("the assistant answer is empty");
  return problems;
}

/**
 * Problems of one GRPO prompt row (`deno task sft --format grpo`): a conversation ending in the user turn, the
 * gold SQL, and the database path relative to the database root (never absolute, never leaving it).
 */
export function validateGrpoExample(obj: Obj): string[] {
  const msgs = obj.messages;
  if (!Array.isArray(msgs) || msgs.length === 0) return ['missing "messages" array'];
  const problems: string[] = [];
  msgs.forEach((m, i) => {
    if (!isObj(m) || !ROLES.includes(m.role as string) || typeof m.content !== "string") {
      problems.push(`messages[${i}] must be {role: system|user|assistant, content: string}`);
    }
  });
  if (!problems.length && (msgs[msgs.length - 1] as Obj).role !== "user") {
    problems.push("a GRPO prompt must end with the user turn (the model writes the answer)");
  }
  if (typeof obj.gold_sql !== "string" || !obj.gold_sql.trim()) problems.push('missing "gold_sql"');
  if (typeof obj.db_id !== "string" || !obj.db_id) problems.push('missing "db_id"');
  const p = obj.db_path;
  if (typeof p !== "string" || !p) problems.push('missing "db_path"');
  else if (path.isAbsolute(p) || path.normalize(p).split(path.sep).includes("..")) {
    problems.push(`db_path ${JSON.stringify(p)} must be relative to the database root, inside it`);
  }
  return problems;
}

/** The estimated token length of a conversation line: its messages' characters / {@link ESTIMATE_CHARS_PER_TOKEN}. */
function conversationEstimate(obj: unknown): number {
  const msgs = isObj(obj) && Array.isArray(obj.messages) ? obj.messages : [];
  return estimateTokens(msgs.map((m) => ({ content: isObj(m) ? String(m.content ?? "") : "" })), {
    perMessage: 0,
  });
}

/** What {@link validateDataset} found. */
export interface DatasetReport {
  /** Valid examples per split (`test` is 0 when the file is absent and not required). */
  train: number;
  test: number;
  /** Examples estimated longer than `maxLength` (train.py drops them); 0 without `maxLength`. */
  tooLong: { train: number; test: number };
  /** One line each, meant for the user: a split where more than 10% are estimated too long. */
  warnings: string[];
}

/**
 * Checks `train.jsonl` and `test.jsonl` in a dataset folder (the output of `deno task sft`/`cot`).
 *
 * `maxLength`: estimate each example's length (characters / {@link ESTIMATE_CHARS_PER_TOKEN}; an estimate, the real
 * tokenizer runs in train.py) and refuse when no training example fits, warn when more than 10% of a split
 * would be dropped. `requireTest: false` (evaluation off) accepts a missing or empty `test.jsonl`.
 *
 * @throws {TrainerError} with up to `maxErrors` problems as `file:line: reason`.
 */
export async function validateDataset(
  dir: string,
  options: { maxErrors?: number; maxLength?: number; requireTest?: boolean; grpo?: boolean } = {},
): Promise<DatasetReport> {
  await checkFolder(dir);
  const requireTest = options.requireTest ?? true;
  const train = await scanSplit(path.join(dir, "train.jsonl"), { ...options, optional: false });
  const test = await scanSplit(path.join(dir, "test.jsonl"), { ...options, optional: !requireTest });
  const errors = [...train.errors, ...test.errors];
  const maxErrors = options.maxErrors ?? 20;
  if (errors.length) {
    const more = errors.length > maxErrors ? `\n… and ${errors.length - maxErrors} more` : "";
    throw new TrainerError(errors.slice(0, maxErrors).join("\n") + more);
  }
  const max = options.maxLength;
  if (max !== undefined && train.count > 0 && train.tooLong === train.count) {
    throw new TrainerError(
      `training.max_length ${max} is below every training example (shortest ~${train.shortest} tokens, estimated at ${ESTIMATE_CHARS_PER_TOKEN} chars/token): train.py would drop them all`,
    );
  }
  const warnings = max === undefined
    ? []
    : [...lengthWarning("train", train, max), ...lengthWarning("test", test, max)];
  return {
    train: train.count,
    test: test.count,
    tooLong: { train: train.tooLong, test: test.tooLong },
    warnings,
  };
}

/** @throws {TrainerError} when `dir` is not a folder. */
async function checkFolder(dir: string): Promise<void> {
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw new Error("not a folder");
  } catch {
    throw new TrainerError(
      `${dir}: dataset folder not found (expected train.jsonl and test.jsonl from deno task sft)`,
    );
  }
}

/** What one split file holds: valid examples, those estimated too long, the shortest, and the problems. */
interface SplitScan {
  count: number;
  tooLong: number;
  shortest: number;
  errors: string[];
}

/** Reads and checks one split file; a missing or empty `optional` file is no problem. */
async function scanSplit(
  file: string,
  options: { maxLength?: number; grpo?: boolean; optional: boolean },
): Promise<SplitScan> {
  const scan: SplitScan = { count: 0, tooLong: 0, shortest: Infinity, errors: [] };
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch {
    if (!options.optional) scan.errors.push(`${file}: missing`);
    return scan;
  }
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const problems = lineProblems(line, options.grpo);
    if (problems.length) return scan.errors.push(...problems.map((p) => `${file}:${i + 1}: ${p}`));
    const tokens = conversationEstimate(JSON.parse(line));
    scan.count++;
    if (options.maxLength !== undefined && tokens > options.maxLength) scan.tooLong++;
    scan.shortest = Math.min(scan.shortest, tokens);
  });
  if (scan.count === 0 && scan.errors.length === 0 && !options.optional) {
    scan.errors.push(`${file}: no examples`);
  }
  return scan;
}

/** The problems of one non-blank line: not JSON, or not a valid example. */
function lineProblems(line: string, grpo: boolean | undefined): string[] {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return ["not valid JSON"];
  }
  return validateExample(obj, { grpo });
}

/** The warning for a split where more than 10% are estimated longer than `max` (none otherwise). */
function lengthWarning(split: "train" | "test", scan: SplitScan, max: number): string[] {
  if (!(scan.tooLong > 0.1 * scan.count)) return [];
  return [
    `${scan.tooLong} of ${scan.count} ${split} examples are estimated longer than training.max_length ${max} (${ESTIMATE_CHARS_PER_TOKEN} chars/token) and would be dropped`,
  ];
}
