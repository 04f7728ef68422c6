/**
 * `03` and `04`'s steps: where the training datasets go, their length statistics, the chain-of-thought build with
 * a notebook progress line, and a conversation cut for display.
 *
 * @module
 */
import { join, resolve } from "node:path";
import {
  buildCotDataset,
  type BuildResult,
  buildSftDataset,
  type CotOptions,
  type CotResult,
  type SftOptions,
} from "../train/mod.ts";
import { createNotebookProgress } from "./display.ts";
import type { NotebookParams } from "./params.ts";
import { notebookStep, NotebookStop, recordStop } from "./stop.ts";

/**
 * Builds `03`'s SFT dataset (`buildSftDataset`); an error a user can fix stops the notebook in one line.
 *
 * @param options The builder's options.
 * @returns The builder's result.
 * @throws {NotebookStop} For an unreadable dataset or a missing database, naming the Parameters-cell fix.
 */
export function sftInNotebook(options: SftOptions): Promise<BuildResult> {
  return notebookStep(() => buildSftDataset(options));
}

/**
 * Stops `04` in one line when no teacher is set: chain-of-thought data needs a model to write the reasoning.
 *
 * @param params Notebook parameters (`teacherModel`).
 * @throws {NotebookStop} When `TEACHER_MODEL` (and `MODELS`) are empty.
 */
export function requireTeacher(params: Pick<NotebookParams, "teacherModel">): void {
  if (!params.teacherModel) {
    throw recordStop(
      new NotebookStop(
        "no teacher model: set TEACHER_MODEL in the Parameters cell (and PROVIDER or BASE_URL) to build CoT data",
      ),
    );
  }
}

/**
 * Where `03` and `04` write their datasets: fixed folders under `runsDir`, so rerunning rewrites the same files
 * (byte-identical for the same input) and `04` resumes its teacher calls from `progress.jsonl`.
 *
 * @param params Notebook parameters.
 * @param kind `sft` or `cot`.
 */
export function datasetDir(params: NotebookParams, kind: "sft" | "cot"): string {
  return join(params.runsDir, "datasets", kind);
}

/** The lengths a dataset builder reports per kept conversation (`BuildResult.lengths` of `lib/train/sft.ts`). */
export interface LengthRow {
  split: string;
  prompt_tokens: number;
  answer_tokens: number;
  total_tokens: number;
}

/**
 * Summary statistics of the lengths per split and part, for a small table.
 *
 * @param rows Per-conversation lengths.
 * @returns One row per split (train, test, all) with count, mean, p50, p95 and max of prompt and total tokens.
 */
export function lengthSummaryRows(rows: LengthRow[]): Record<string, string | number>[] {
  const stats = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const at = (q: number) =>
      sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
    const mean = sorted.length ? sorted.reduce((s, v) => s + v, 0) / sorted.length : 0;
    return { mean: Math.round(mean), p50: at(0.5), p95: at(0.95), max: sorted.at(-1) ?? 0 };
  };
  return ["train", "test", "all"].map((split) => {
    const sel = split === "all" ? rows : rows.filter((r) => r.split === split);
    const p = stats(sel.map((r) => r.prompt_tokens));
    const t = stats(sel.map((r) => r.total_tokens));
    return {
      split,
      conversations: sel.length,
      prompt_mean: p.mean,
      prompt_p95: p.p95,
      prompt_max: p.max,
      total_mean: t.mean,
      total_p95: t.p95,
      total_max: t.max,
    };
  });
}

/** Lines in a file (0 when it does not exist yet). */
async function lineCount(file: string): Promise<number> {
  try {
    const text = await Deno.readTextFile(file);
    return text.split("\n").filter((l) => l.trim()).length;
  } catch {
    return 0;
  }
}

/**
 * Builds `04`'s chain-of-thought dataset with an in-place progress line in the notebook. The builder reports its
 * progress only to the terminal (the Jupyter server's log), but it appends one line to `progress.jsonl` per
 * finished question, so the notebook counts those lines twice a second.
 *
 * @param options The builder's options (`out` is its folder).
 * @param selected How many questions are selected (from {@linkcode describeSelection}), for the bar's total.
 * @returns The builder's result.
 * @throws {NotebookStop} For an error a user can fix (missing key, dead endpoint, missing database): one line.
 */
export function cotInNotebook(options: CotOptions, selected: number): Promise<CotResult> {
  return notebookStep(() => cot(options, selected));
}

async function cot(options: CotOptions, selected: number): Promise<CotResult> {
  const log = join(resolve(options.out), "progress.jsonl");
  const before = await lineCount(log);
  const progress = createNotebookProgress(`teacher ${options.model}`);
  let polling = Promise.resolve();
  const timer = setInterval(() => {
    polling = polling.then(async () => {
      const fresh = Math.max(0, (await lineCount(log)) - before);
      await progress.update(fresh, undefined, `new answers, of ${selected} questions selected`);
    });
  }, 500);
  try {
    const cot = await buildCotDataset({ ...options, quiet: true });
    clearInterval(timer);
    await polling;
    await progress.update(Math.max(0, (await lineCount(log)) - before), undefined);
    await progress.finish(
      `${cot.requests} teacher requests for ${selected} questions (the others from progress.jsonl or the cache)`,
    );
    return cot;
  } finally {
    clearInterval(timer);
  }
}

/**
 * A training conversation for display: each turn as `--- role` and its text, with the user turn's schema cut to
 * its first `schemaChars` characters so the question at its end stays in view.
 *
 * @param messages The conversation's messages (a line of `train.jsonl`).
 * @param options `schemaChars` kept of the schema (default 600).
 * @returns One text per turn, to print one by one.
 */
export function previewConversation(
  messages: { role: string; content: string }[],
  options: { schemaChars?: number } = {},
): string[] {
  const keep = options.schemaChars ?? 600;
  return messages.map((m) => {
    let text = m.content;
    const schema = text.match(/^-- DB Schema: ([\s\S]*?)(?=\n\n-- (External Knowledge|Question): )/);
    if (m.role === "user" && schema && schema[1].length > keep) {
      const cut = schema[1].length - keep;
      text = `-- DB Schema: ${schema[1].slice(0, keep)}\n… (${cut} more characters of schema)` +
        text.slice(schema[0].length);
    }
    return `--- ${m.role}\n${text}`;
  });
}
