/**
 * `deno task eval`: the flags of an evaluation run, checked into `runEvaluation`'s options, and the official
 * table printed at the end. Loaded by `cli.ts` up front (it never pays for Polars or Plot).
 *
 * @module
 */
import { MIN_WORKER_MEMORY, parseMemory } from "../exec/mod.ts";
import { dialectFlags } from "./dialect_flags.ts";
import { VALUE_FLAGS, VALUE_USAGE, valueFlags } from "./prompt_flags.ts";
import {
  MODEL_FLAGS,
  modelFlagValues,
  numberFlag,
  parseCommand,
  READ_LIMITS,
  readTextSafe,
  refuseKeyFlags,
  UsageError,
} from "../util/mod.ts";

const EVAL_USAGE = `usage: deno task eval [--dataset FILE|DIR] [--db-root DIR] [--db ID]... [--limit N]
         [--dialect sqlite|postgresql|mysql] [--db-url URL (or TEXT2SQL_DB_URL)]
         (--predictions FILE | --model NAME [--provider llama-api|together|openai|openai-compatible] [--base-url URL])
         [--concurrency N] [--request-timeout S] [--timeout S] [--workers N] [--worker-memory SIZE] [--temperature T] [--max-tokens N]
         [--n K (K > 1: vote over K samples' results) | --agent [--max-turns T] [--question-timeout S]] [--retry-budget S]
         [--no-evidence] [--sample-rows N] [--descriptions] ${VALUE_USAGE} [--reasoning] [--ves N] [--no-cache] [--retry-failed]
         [--prices FILE] [--out DIR] [--quiet] [--max-retries N] [--max-consecutive-failures N] [--allow-symlinks]
With no arguments: scores the bundled official gpt-3.5-turbo baseline predictions on the bundled superhero sample.
API keys come from the environment only: LLAMA_API_KEY, TOGETHER_API_KEY, OPENAI_API_KEY.`;

const EVAL_FLAGS = {
  dataset: { type: "string" },
  "db-root": { type: "string" },
  db: { type: "string", multiple: true },
  limit: { type: "string" },
  dialect: { type: "string" },
  "db-url": { type: "string" },
  predictions: { type: "string" },
  ...MODEL_FLAGS,
  timeout: { type: "string" },
  workers: { type: "string" },
  "worker-memory": { type: "string" },
  n: { type: "string" },
  agent: { type: "boolean" },
  "max-turns": { type: "string" },
  "question-timeout": { type: "string" },
  "retry-budget": { type: "string" },
  "no-evidence": { type: "boolean" },
  "sample-rows": { type: "string" },
  descriptions: { type: "boolean" },
  ...VALUE_FLAGS,
  reasoning: { type: "boolean" },
  ves: { type: "string" },
  "retry-failed": { type: "boolean" },
  "max-retries": { type: "string" },
  "max-consecutive-failures": { type: "string" },
  "allow-symlinks": { type: "boolean" },
  prices: { type: "string" },
  out: { type: "string" },
  quiet: { type: "boolean" },
} as const;

type EvalValues = NonNullable<ReturnType<typeof parseEvalFlags>>["values"];

/** Flag combinations that make no run, checked in this order: the first that holds is the error. */
const CONFLICTS: [holds: (v: EvalValues) => boolean, message: string][] = [
  [(v) => Boolean(v.predictions && v.model), "give either --predictions or --model, not both"],
  [
    (v) => (v.agent || v["max-turns"] !== undefined || Number(v.n ?? 1) > 1) && !v.model,
    "--n K, --agent and --max-turns need --model",
  ],
  [(v) => v["max-turns"] !== undefined && !v.agent, "--max-turns needs --agent"],
  [(v) => v["question-timeout"] !== undefined && !v.agent, "--question-timeout needs --agent"],
  [(v) => Boolean(v.agent) && Number(v.n ?? 1) > 1, "--agent and --n > 1 are separate modes: choose one"],
  [(v) => Boolean(v.provider || v["base-url"]) && !v.model, "--provider/--base-url need --model"],
];

function parseEvalFlags(argv: string[]) {
  return parseCommand(argv, { usage: EVAL_USAGE, options: EVAL_FLAGS, negativeNumbers: true });
}

/**
 * `deno task eval`: parse flags, run, print the official table.
 *
 * @param argv The arguments after `eval`.
 * @returns The exit code: 0 scored, 1 nothing could be scored; bad flags throw a `UsageError` (exit 2).
 */
export async function evalCommand(argv: string[]): Promise<number> {
  refuseKeyFlags(argv);
  const values = parseEvalFlags(argv)?.values;
  if (!values) return 0;
  const { runEvaluation, formatSummaryTable } = await import("../run/mod.ts");
  const conflict = CONFLICTS.find(([holds]) => holds(values));
  if (conflict) throw new UsageError(conflict[1]);
  const result = await runEvaluation(await runOptions(values));
  if (result.usedDefaults) {
    console.log(
      "No model or predictions given: scored the bundled official BIRD baseline predictions (gpt-3.5-turbo with " +
        "external knowledge, made for the 2023 dev release) on the bundled superhero sample of dev 2024-06-27.",
    );
  }
  console.log(formatSummaryTable(result.summary));
  console.log(`run: ${result.dir}`);
  console.log(reuseLine(result.reuse, Boolean(values.model)));
  return exitCode(result);
}

/**
 * What this call reused, e.g. `reused: 129 from the run log, 0 from the completion cache; 0 new requests`: a
 * resumed finished run reads as such, not as an empty progress bar.
 */
export function reuseLine(
  reuse: { fromLog: number; fromCache: number; fresh: number },
  model: boolean,
): string {
  const fresh = model ? `${reuse.fresh} asked the model` : `${reuse.fresh} scored from the predictions file`;
  return `questions: ${reuse.fromLog} from the run log, ${reuse.fromCache} from the completion cache, ${fresh}`;
}

/** The options of `runEvaluation`, each flag checked with a one-line message. */
async function runOptions(values: EvalValues) {
  // The OpenAI client module loads only when a model is asked for: scoring predictions starts fast.
  const providers = values.model ? (await import("../model/mod.ts")).PROVIDERS : [];
  const model = modelFlagValues(values, providers);
  const prices = values.prices ? await readPrices(values.prices, values.model) : undefined;
  const int = (name: keyof EvalValues & string, min: number) =>
    numberFlag(name, values[name] as string | undefined, { integer: true, min });
  return {
    dataset: values.dataset,
    dbRoot: values["db-root"],
    db: values.db,
    limit: int("limit", 0),
    ...dialectFlags(values),
    predictions: values.predictions,
    model: model.model,
    provider: model.provider,
    baseUrl: model.baseUrl,
    concurrency: model.concurrency,
    requestTimeoutS: model.requestTimeoutS,
    retryBudgetS: numberFlag("retry-budget", values["retry-budget"], { min: 0.001 }),
    questionTimeoutS: numberFlag("question-timeout", values["question-timeout"], { min: 0.001 }),
    timeoutS: numberFlag("timeout", values.timeout, { min: 0.001 }),
    workers: int("workers", 1),
    workerMemory: memoryFlag(values["worker-memory"]),
    temperature: model.temperature,
    maxTokens: model.maxTokens,
    n: int("n", 1),
    agent: values.agent ?? false,
    maxTurns: int("max-turns", 1),
    prompt: {
      evidence: !values["no-evidence"],
      sampleRows: int("sample-rows", 0) ?? 0,
      descriptions: values.descriptions ?? false,
      reasoning: values.reasoning ?? false,
      ...valueFlags(values),
    },
    ves: int("ves", 1) ?? null,
    cache: model.cache,
    retryFailed: values["retry-failed"] ?? false,
    maxRetries: int("max-retries", 0),
    maxConsecutiveFailures: int("max-consecutive-failures", 0),
    allowSymlinks: values["allow-symlinks"] ?? false,
    prices,
    out: values.out,
    quiet: values.quiet ?? false,
  };
}

/** 1 when nothing at all was scored (a setup problem); 0 otherwise, with a last line for unanswered questions. */
function exitCode(result: {
  summary: {
    statuses: { correct: number; wrong: number };
    total: number;
    incomplete?: { generation_error?: number };
  };
  records: { error?: string | null }[];
}): number {
  const { statuses, total } = result.summary;
  if (total > 0 && statuses.correct + statuses.wrong === 0) {
    // Nothing was scored at all: a setup problem (URL, key, database, predictions file), not a bad model.
    const first = result.records.find((r) => r.error)?.error ?? "unknown";
    console.error(`error: none of the ${total} questions could be scored; the first error: ${first}`);
    return 1;
  }
  const failed = result.summary.incomplete?.generation_error ?? 0;
  if (failed) {
    // Last, so a glance at the end of a log cannot read a half-answered run as the model's score.
    console.log(
      `incomplete: ${failed} of ${total} questions got no answer from the model (generation_error), ` +
        "scored as failures; rerun with --retry-failed to ask them again",
    );
  }
  return 0;
}

/** `--worker-memory 2G`: bytes, or K/M/G/T (binary units); at least what a worker needs to start. */
function memoryFlag(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  let bytes: number;
  try {
    bytes = parseMemory(text);
  } catch (e) {
    throw new UsageError(`--worker-memory: ${(e as Error).message}`);
  }
  if (bytes < MIN_WORKER_MEMORY) {
    throw new UsageError(`--worker-memory: at least 1G (a worker needs ~1 GiB to start)`);
  }
  return bytes;
}

/** The `--prices` table's entry for the model, undefined when it has none. */
async function readPrices(path: string, model: string | undefined) {
  let table: Record<string, { prompt_per_mtok: number; completion_per_mtok: number }>;
  try {
    table = JSON.parse(await readTextSafe(path, { maxBytes: READ_LIMITS.smallJson, what: "price table" }));
  } catch (e) {
    throw new UsageError(`${path}: cannot read price table (${(e as Error).message})`);
  }
  const entry = model ? table[model] : undefined;
  if (!entry) return undefined;
  if (typeof entry.prompt_per_mtok !== "number" || typeof entry.completion_per_mtok !== "number") {
    throw new UsageError(`${path}: entry ${model} needs numeric prompt_per_mtok and completion_per_mtok`);
  }
  return entry;
}
