/**
 * What `deno task sft` and `deno task cot` share on the command line: the dataset, split and prompt flags, their
 * parsing, and the summary, drop reasons and exit code printed after a build.
 *
 * @module
 */
import { join } from "node:path";
import type { ParseArgsOptionsConfig } from "node:util";
import { type BuildResult, type CommonDatasetOptions, countReasons, DEFAULT_SPLIT } from "../train/mod.ts";
import { numberFlag, parseCommand, UsageError } from "../util/mod.ts";
import { DIALECT_FLAGS, dialectFlags } from "./dialect_flags.ts";
import { parseExclude } from "../audit/mod.ts";
import { VALUE_FLAGS, valueFlags } from "./prompt_flags.ts";

/**
 * Parses a dataset command's flags (`--flag -1` read as a value). A bad flag is a {@link UsageError} that keeps
 * node's error `code` (e.g. `ERR_PARSE_ARGS_UNKNOWN_OPTION`), so callers can still tell which it was.
 *
 * @param argv the arguments after the command
 * @param spec usage text and flags
 * @returns the flags' values, or null after printing the usage for `--help`
 * @throws {UsageError} for a bad flag
 */
export function parseDatasetFlags<O extends ParseArgsOptionsConfig>(
  argv: string[],
  spec: { usage: string; options: O },
) {
  try {
    return parseCommand(argv, { ...spec, negativeNumbers: true })?.values ?? null;
  } catch (e) {
    const code = ((e as Error).cause as { code?: string } | undefined)?.code;
    if (code) Object.assign(e as Error, { code });
    throw e;
  }
}

/** The flags both `sft` and `cot` accept (parseArgs spec; `--help` is added by `parseCommand`). */
export const COMMON_FLAGS = {
  dataset: { type: "string" },
  "db-root": { type: "string" },
  out: { type: "string" },
  db: { type: "string", multiple: true },
  limit: { type: "string" },
  "test-ratio": { type: "string" },
  seed: { type: "string" },
  "group-by-db": { type: "boolean" },
  "no-evidence": { type: "boolean" },
  "sample-rows": { type: "string" },
  descriptions: { type: "boolean" },
  ...VALUE_FLAGS,
  "skip-missing": { type: "boolean" },
  timeout: { type: "string" },
  workers: { type: "string" },
  quiet: { type: "boolean" },
  ...DIALECT_FLAGS,
  audit: { type: "string" },
  exclude: { type: "string" },
} as const;

/** The usage lines of the dialect flags, as both commands print them. */
export const DIALECT_USAGE = `[--dialect sqlite|postgresql|mysql] [--db-url URL (or TEXT2SQL_DB_URL)]`;

/**
 * The common options from parsed flags (`--dataset` and `--out` required).
 *
 * @param values parseArgs values
 * @param usage the command's usage text (for the error)
 * @returns common options
 * @throws {UsageError} on a missing or bad flag
 */
export function commonOptionsFrom(values: Record<string, unknown>, usage: string): CommonDatasetOptions {
  const str = (k: string) => values[k] as string | undefined;
  if (!str("dataset")) throw new UsageError(`--dataset is required\n${usage}`);
  if (!str("out")) throw new UsageError(`--out is required\n${usage}`);
  return {
    dataset: str("dataset")!,
    dbRoot: str("db-root"),
    ...dialectFlags({ dialect: str("dialect"), "db-url": str("db-url") }),
    out: str("out")!,
    db: values.db as string[] | undefined,
    limit: numberFlag("limit", str("limit"), { integer: true, min: 0 }),
    prompt: {
      evidence: !values["no-evidence"],
      sampleRows: numberFlag("sample-rows", str("sample-rows"), { integer: true, min: 0 }) ?? 0,
      descriptions: Boolean(values.descriptions),
      ...valueFlags(values as Parameters<typeof valueFlags>[0]),
    },
    split: {
      testRatio: numberFlag("test-ratio", str("test-ratio"), { min: 0, max: 1 }) ?? DEFAULT_SPLIT.testRatio,
      seed: numberFlag("seed", str("seed"), { integer: true }) ?? DEFAULT_SPLIT.seed,
      groupByDb: Boolean(values["group-by-db"]),
    },
    skipMissing: Boolean(values["skip-missing"]),
    timeoutS: numberFlag("timeout", str("timeout"), { min: 0.001 }),
    workers: numberFlag("workers", str("workers"), { integer: true, min: 1 }),
    quiet: Boolean(values.quiet),
    ...auditOptionsFrom(values),
  };
}

/** `--audit DIR --exclude kinds` (`--exclude` alone is a usage error). */
function auditOptionsFrom(values: Record<string, unknown>): { audit?: string; exclude?: string[] } {
  const audit = values.audit as string | undefined;
  const exclude = values.exclude as string | undefined;
  if (exclude !== undefined && !audit) throw new UsageError("--exclude needs --audit DIR (deno task audit)");
  if (!audit) return {};
  try {
    return { audit, exclude: parseExclude(exclude) };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * Print the summary of a build to stdout.
 *
 * @param kind `sft` or `cot`
 * @param result the build result
 */
export function printSummary(kind: string, result: BuildResult): void {
  const c = result.stats.counts;
  const t = result.stats.tokens.total;
  console.log(
    `${kind}: ${c.kept} kept (${c.train} train / ${c.test} test), ${c.dropped} dropped of ${c.selected} selected`,
  );
  if (t.count > 0) {
    console.log(
      `tokens per conversation (${result.stats.tokens.tokenizer.name}): min ${t.min}, mean ${t.mean}, p50 ${t.p50}, p95 ${t.p95}, max ${t.max}`,
    );
  }
  printReasons("dropped", result.dropped);
  console.log(`wrote ${join(result.dir, "train.jsonl")}, test.jsonl, dataset.json`);
  if (c.kept > 0 && (c.train === 0 || c.test === 0)) {
    console.error(
      `warning: the ${c.train === 0 ? "train" : "test"} split is empty` +
        " (one database with --group-by-db, or --test-ratio 0 or 1); the trainer needs train examples," +
        " and evaluation loss needs test examples",
    );
  }
}

/** Print `label: reason n, …` for `items`, or nothing when there are none. */
export function printReasons(label: string, items: readonly { reason: string | null }[]): void {
  const counts = countReasons(items);
  if (counts.size > 0) console.log(`${label}: ${[...counts].map(([r, n]) => `${r} ${n}`).join(", ")}`);
}

/** The exit code of a build: 1 (with a one-line reason on stderr) when nothing at all was kept. */
export function buildExitCode(kind: string, result: BuildResult): number {
  if (result.stats.counts.kept > 0) return 0;
  console.error(
    `error: ${kind}: no example kept out of ${result.stats.counts.selected} selected; see dataset.json`,
  );
  return 1;
}
