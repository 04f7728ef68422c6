/**
 * `deno task cot`: flags and usage (API keys from the environment only); the build itself is
 * `buildCotDataset` (`lib/train/cot.ts`).
 *
 * @module
 */
import { PROVIDERS } from "../model/mod.ts";
import { buildCotDataset } from "../train/mod.ts";
import { MODEL_FLAGS, modelFlagValues, refuseKeyFlags, UsageError } from "../util/mod.ts";
import {
  buildExitCode,
  COMMON_FLAGS,
  commonOptionsFrom,
  DIALECT_USAGE,
  parseDatasetFlags,
  printReasons,
  printSummary,
} from "./dataset_flags.ts";

const COT_USAGE =
  `usage: deno task cot --dataset FILE|DIR --model NAME --out DIR [--provider llama-api|together|openai|openai-compatible]
         [--base-url URL] [--concurrency N] [--request-timeout S] [--temperature T] [--max-tokens N] [--no-cache]
         [--db-root DIR] [--db ID]... [--limit N] [--test-ratio 0.3] [--seed 42] [--group-by-db]
         [--no-evidence] [--sample-rows N] [--descriptions] [--values K] [--schema-format ddl|mschema] [--link] [--skip-missing] [--timeout S] [--workers N] [--quiet]
         ${DIALECT_USAGE}
         [--audit DIR [--exclude KINDS]]
Asks the teacher for step-by-step reasoning toward each gold SQL; keeps an example only when the SQL at the end of
the reasoning returns the gold result (BIRD set semantics). Writes DIR/train.jsonl, DIR/test.jsonl, DIR/dataset.json
and DIR/progress.jsonl (a rerun with the same --out skips finished questions). --dialect postgresql|mysql: prompts,
gold SQL (from the dataset given) and the teacher's SQL in that dialect, executed on its engine.
API keys come from the environment only: LLAMA_API_KEY, TOGETHER_API_KEY, OPENAI_API_KEY.
--audit DIR leaves out questions whose audit (deno task audit) has flags of --exclude KINDS (default
error,timeout,empty,all_null,unordered_limit,duplicate,literal_not_in_data:error; "none" keeps all) and
records each in dataset.json.`;

/**
 * `deno task cot`: parse flags, build, print a summary.
 *
 * @param argv flags after `cot`
 * @returns exit code (0 ok)
 */
export async function cotCommand(argv: string[]): Promise<number> {
  refuseKeyFlags(argv);
  const values = parseDatasetFlags(argv, { usage: COT_USAGE, options: { ...COMMON_FLAGS, ...MODEL_FLAGS } });
  if (!values) return 0;
  const model = modelFlagValues(values, PROVIDERS);
  if (!model.model) throw new UsageError(`--model is required\n${COT_USAGE}`);
  const common = commonOptionsFrom(values, COT_USAGE);
  const result = await buildCotDataset({ ...common, ...model, model: model.model });
  printSummary("cot", result);
  printReasons("rejected", result.rejected);
  return buildExitCode("cot", result);
}
