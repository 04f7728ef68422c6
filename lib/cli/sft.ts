/**
 * `deno task sft`: flags and usage; the build itself is `buildSftDataset` (`lib/train/sft.ts`).
 *
 * @module
 */
import { buildSftDataset, GRPO_SQLITE_ONLY } from "../train/mod.ts";
import { UsageError } from "../util/mod.ts";
import {
  buildExitCode,
  COMMON_FLAGS,
  commonOptionsFrom,
  DIALECT_USAGE,
  parseDatasetFlags,
  printSummary,
} from "./dataset_flags.ts";

const SFT_USAGE = `usage: deno task sft --dataset FILE|DIR --out DIR [--db-root DIR] [--db ID]... [--limit N]
         [--test-ratio 0.3] [--seed 42] [--group-by-db] [--no-evidence] [--sample-rows N] [--descriptions]
         [--values K] [--schema-format ddl|mschema] [--link]
         [--skip-missing] [--no-verify] [--timeout S] [--workers N] [--format messages|grpo] [--quiet]
         ${DIALECT_USAGE}
         [--audit DIR [--exclude KINDS]]
Writes DIR/train.jsonl, DIR/test.jsonl ({"messages":[system, user, assistant = gold SQL]}) and DIR/dataset.json.
--format grpo writes prompt-only rows {"messages":[system, user],"db_id","gold_sql","db_path"} for
"method": "grpo" (db_path is relative to the database root, which the trainer's grpo.db_root must name; SQLite only).
--dialect postgresql|mysql: prompts in that dialect (its DDL from the engine's catalog), gold SQL from the dataset
given (mini_dev_postgresql.json …) executed on that engine; PostgreSQL is embedded unless --db-url names a server.
Gold SQL that fails to execute is dropped and recorded (--no-verify skips execution). A missing database is an
error unless --db leaves it out or --skip-missing drops (and records) its questions.
--audit DIR leaves out questions whose audit (deno task audit) has flags of --exclude KINDS (default
error,timeout,empty,all_null,unordered_limit,duplicate,literal_not_in_data:error; "none" keeps all) and
records each in dataset.json; GRPO rows of tie questions carry alt_results, every equally right answer.`;

/**
 * `deno task sft`: parse flags, build, print a one-paragraph summary.
 *
 * @param argv flags after `sft`
 * @returns exit code (0 ok, 2 usage)
 */
export async function sftCommand(argv: string[]): Promise<number> {
  const values = parseDatasetFlags(argv, {
    usage: SFT_USAGE,
    options: { ...COMMON_FLAGS, "no-verify": { type: "boolean" }, format: { type: "string" } },
  });
  if (!values) return 0;
  const common = commonOptionsFrom(values, SFT_USAGE);
  const format = values.format ?? "messages";
  if (format !== "messages" && format !== "grpo") {
    throw new UsageError(`--format must be messages or grpo, got ${format}\n${SFT_USAGE}`);
  }
  if (format === "grpo" && common.dialect && common.dialect !== "sqlite") {
    throw new UsageError(GRPO_SQLITE_ONLY(common.dialect));
  }
  const result = await buildSftDataset({ ...common, verify: !values["no-verify"], format });
  printSummary("sft", result);
  return buildExitCode("sft", result);
}
