/**
 * `deno task sft`: a supervised fine-tuning dataset in the chat "messages" JSONL format that TRL/transformers
 * read, one conversation per question: system prompt, the user prompt from the SAME renderer evaluation uses
 * (same options), and the gold SQL as the assistant turn.
 *
 * Output folder: `train.jsonl`, `test.jsonl` and `dataset.json` (counts, options, prompt template hash, token
 * statistics, dropped questions with their reason). Byte-identical for identical input: no timestamps, lines in
 * a fixed order that depends only on each example's content (so reordering the input changes nothing), and a
 * split decided per example by a hash of (seed, db_id, question) — or (seed, db_id) with `--group-by-db` — so
 * adding or reordering questions never moves another.
 *
 * The split is `sft_split.ts`, the rows `conversation.ts`, the steps shared with `cot.ts` `dataset_build.ts`;
 * the command's flags are `lib/cli/sft.ts`.
 *
 * @module
 */

import { join, relative, resolve } from "node:path";
import { UsageError, writeJsonAtomic } from "../util/mod.ts";
import { conversationOf, grpoPromptOf } from "./conversation.ts";
import {
  type BuildResult,
  closeBuildEngine,
  type CommonDatasetOptions,
  datasetHeader,
  prepareBuild,
  promptDoc,
  summarise,
  verifyGold,
  writeSplits,
} from "./dataset_build.ts";
import { splitDoc } from "./sft_split.ts";
import { tieAlternatives } from "../audit/mod.ts";
import type { Conversation } from "./conversation.ts";
import type { Selected } from "./dataset_build.ts";

/**
 * A GRPO row of a question whose audit found a tie carries `alt_results`, the equally right results (rows of
 * canonical cell keys), so the reward accepts any of them and never punishes a correct model.
 */
function withAlternatives(c: Conversation, selected: Selected): Conversation {
  const alts = tieAlternatives(selected.audit?.loaded.records.get(c.example.index));
  return alts ? { ...c, fields: { ...c.fields, alt_results: alts } } : c;
}

/** Why `--format grpo` takes SQLite only: one line for the CLI and the builder. */
export const GRPO_SQLITE_ONLY = (dialect: string): string =>
  `--format grpo is SQLite only: the GRPO trainer's reward runs the SQL on the SQLite files (db_path), ` +
  `so ${dialect} prompts would be rewarded by SQLite's verdicts; build --format messages for ${dialect}`;

/** Options of {@link buildSftDataset}. */
export interface SftOptions extends CommonDatasetOptions {
  /** Execute each gold query and drop the ones that fail (default true). */
  verify?: boolean;
  /**
   * `messages` (default): `[system, user, assistant = gold SQL]`; `grpo`: prompt-only `[system, user]` with
   * `db_id`, `gold_sql` and `db_path` (relative to the database root), for `"method": "grpo"`. SQLite only: the
   * trainer's reward executes SQL on the SQLite files.
   */
  format?: "messages" | "grpo";
}

/**
 * Build the SFT dataset: select, verify gold SQL, render prompts, split, write the three files.
 *
 * @param options dataset, output folder, selection, prompt, split and execution options
 * @returns folder, statistics, dropped questions and per-conversation lengths
 * @throws {DatasetError} for a malformed dataset or missing databases (without `skipMissing`);
 *   {@link UsageError} for `grpo` in a dialect other than SQLite
 */
export async function buildSftDataset(options: SftOptions): Promise<BuildResult> {
  const grpo = options.format === "grpo";
  const dialect = options.dialect ?? "sqlite";
  if (grpo && dialect !== "sqlite") throw new UsageError(GRPO_SQLITE_ONLY(dialect));
  const { prompt, split, selected, schemaOf, engine } = await prepareBuild(options, { reasoning: false });
  const verify = options.verify ?? true;
  try {
    if (verify && selected.examples.length > 0) {
      await verifyGold(selected, engine, { quiet: options.quiet, silent: options.silent });
    }
  } finally {
    await closeBuildEngine(engine, options);
  }
  const dbRoot = selected.dataset.dbRoot;
  const conversations = selected.examples.map((e) =>
    grpo
      ? withAlternatives(grpoPromptOf(e, schemaOf(e), { prompt, split, dbRoot }), selected)
      : conversationOf(e, schemaOf(e), prompt, split, e.sql.trim())
  );
  const dir = resolve(options.out);
  const files = await writeSplits(dir, conversations, split.seed);
  const result = summarise(selected, conversations);
  const doc = {
    ...datasetHeader("sft", selected, dialect),
    ...(grpo
      ? {
        format: "grpo",
        // Relative to this folder, so the dataset moves with its databases and names no host path.
        db_root: relative(dir, resolve(dbRoot)) || ".",
        assistant: null,
        gold_sql: "gold SQL (trimmed), for the reward",
      }
      : { assistant: "gold SQL (trimmed)" }),
    prompt: promptDoc(prompt),
    split: splitDoc(split),
    gold_verified: verify,
    counts: result.stats.counts,
    tokens: result.stats.tokens,
    files,
    dropped: result.dropped,
  };
  await writeJsonAtomic(join(dir, "dataset.json"), doc);
  return { dir, ...result };
}
