/**
 * `deno task <command>` entry point: `eval`, `download`, `sft`, `cot`, `train`, `serve`, `report`,
 * `notebook:html`, `bench`. Each command lives in its own module, loaded only when asked for, so `eval`
 * never pays for Polars or Plot.
 *
 * Errors the user can fix (bad flags, files, keys) print one line and exit non-zero, never a stack trace.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  joinNegativeNumbers,
  MODEL_FLAGS,
  modelFlagValues,
  numberFlag,
  refuseKeyFlags,
  UsageError,
} from "./args.ts";

import { MIN_WORKER_MEMORY, parseMemory } from "./sqlite_pool.ts";

export { numberFlag, UsageError };

const EVAL_USAGE = `usage: deno task eval [--dataset FILE|DIR] [--db-root DIR] [--db ID]... [--limit N]
         (--predictions FILE | --model NAME [--provider llama-api|together|openai|openai-compatible] [--base-url URL])
         [--concurrency N] [--request-timeout S] [--timeout S] [--workers N] [--worker-memory SIZE] [--temperature T] [--max-tokens N] [--n N]
         [--no-evidence] [--sample-rows N] [--descriptions] [--reasoning] [--ves N] [--no-cache] [--retry-failed]
         [--prices FILE] [--out DIR] [--quiet]
With no arguments: scores the bundled official gpt-3.5-turbo baseline predictions on the bundled superhero sample.
API keys come from the environment only: LLAMA_API_KEY, TOGETHER_API_KEY, OPENAI_API_KEY.`;

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

/** `deno task eval`: parse flags, run, print the official table. Returns the exit code. */
export async function evalCommand(argv: string[]): Promise<number> {
  refuseKeyFlags(argv);
  const { values } = parseArgs({
    args: joinNegativeNumbers(argv),
    strict: true,
    allowPositionals: false,
    options: {
      dataset: { type: "string" },
      "db-root": { type: "string" },
      db: { type: "string", multiple: true },
      limit: { type: "string" },
      predictions: { type: "string" },
      ...MODEL_FLAGS,
      timeout: { type: "string" },
      workers: { type: "string" },
      "worker-memory": { type: "string" },
      n: { type: "string" },
      "no-evidence": { type: "boolean" },
      "sample-rows": { type: "string" },
      descriptions: { type: "boolean" },
      reasoning: { type: "boolean" },
      ves: { type: "string" },
      "retry-failed": { type: "boolean" },
      prices: { type: "string" },
      out: { type: "string" },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(EVAL_USAGE);
    return 0;
  }
  const { runEvaluation, formatSummaryTable } = await import("./evaluate.ts");
  if (values.predictions && values.model) {
    throw new UsageError("give either --predictions or --model, not both");
  }
  if ((values.provider || values["base-url"]) && !values.model) {
    throw new UsageError("--provider/--base-url need --model");
  }
  // The OpenAI client module loads only when a model is asked for: scoring predictions starts fast.
  const providers = values.model ? (await import("./models.ts")).PROVIDERS : [];
  const model = modelFlagValues(values, providers);
  let prices: { prompt_per_mtok: number; completion_per_mtok: number } | undefined;
  if (values.prices) prices = await readPrices(values.prices, values.model);
  const result = await runEvaluation({
    dataset: values.dataset,
    dbRoot: values["db-root"],
    db: values.db,
    limit: numberFlag("limit", values.limit, { integer: true, min: 0 }),
    predictions: values.predictions,
    model: model.model,
    provider: model.provider,
    baseUrl: model.baseUrl,
    concurrency: model.concurrency,
    requestTimeoutS: model.requestTimeoutS,
    timeoutS: numberFlag("timeout", values.timeout, { min: 0.001 }),
    workers: numberFlag("workers", values.workers, { integer: true, min: 1 }),
    workerMemory: memoryFlag(values["worker-memory"]),
    temperature: model.temperature,
    maxTokens: model.maxTokens,
    n: numberFlag("n", values.n, { integer: true, min: 1 }),
    prompt: {
      evidence: !values["no-evidence"],
      sampleRows: numberFlag("sample-rows", values["sample-rows"], { integer: true, min: 0 }) ?? 0,
      descriptions: values.descriptions ?? false,
      reasoning: values.reasoning ?? false,
    },
    ves: numberFlag("ves", values.ves, { integer: true, min: 1 }) ?? null,
    cache: model.cache,
    retryFailed: values["retry-failed"] ?? false,
    prices,
    out: values.out,
    quiet: values.quiet ?? false,
  });
  if (result.usedDefaults) {
    console.log(
      "No model or predictions given: scored the bundled official BIRD baseline predictions (gpt-3.5-turbo with " +
        "external knowledge, made for the 2023 dev release) on the bundled superhero sample of dev 2024-06-27.",
    );
  }
  console.log(formatSummaryTable(result.summary));
  console.log(`run: ${result.dir}`);
  const { statuses, total } = result.summary;
  if (total > 0 && statuses.correct + statuses.wrong === 0) {
    // Nothing was scored at all: a setup problem (URL, key, database, predictions file), not a bad model.
    const first = result.records.find((r) => r.error)?.error ?? "unknown";
    console.error(`error: none of the ${total} questions could be scored; the first error: ${first}`);
    return 1;
  }
  return 0;
}

async function readPrices(path: string, model: string | undefined) {
  let table: Record<string, { prompt_per_mtok: number; completion_per_mtok: number }>;
  try {
    table = JSON.parse(await Deno.readTextFile(path));
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

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  eval: evalCommand,
  download: async (a) => (await import("./download.ts")).downloadCommand(a),
  sft: async (a) => (await import("./sft.ts")).sftCommand(a),
  cot: async (a) => (await import("./cot.ts")).cotCommand(a),
  train: async (a) => (await import("./trainer.ts")).trainCommand(a),
  serve: async (a) => (await import("./trainer.ts")).serveCommand(a),
  report: async (a) => (await import("./report.ts")).reportCommand(a),
  "notebook:html": async (a) => (await import("./notebook_html.ts")).notebookHtmlCommand(a),
  bench: async (a) => (await import("./bench.ts")).benchCommand(a),
};

/** Run a command by name; returns the exit code. Known errors become one line on stderr. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  const run = command ? COMMANDS[command] : undefined;
  if (!run) {
    console.error(`usage: deno task <${Object.keys(COMMANDS).join("|")}> [flags]   (--help on each)`);
    return 2;
  }
  try {
    return await run(rest);
  } catch (e) {
    // Whatever went wrong, one line (a stack only with TEXT2SQL_DEBUG=1): bad flags exit 2, the rest 1.
    const err = e instanceof Error ? e : new Error(String(e));
    const code = (e as { code?: string }).code ?? "";
    console.error(`error: ${err.message.split("\n")[0]}`);
    if (Deno.env.get("TEXT2SQL_DEBUG")) console.error(err.stack);
    return err.name === "UsageError" || code.startsWith("ERR_PARSE_ARGS") ? 2 : 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
