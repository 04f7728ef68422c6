/**
 * `deno task train` and `deno task serve`: their flags, usage texts and exit codes. The work is `trainJob` and
 * `serveJob` (`lib/train/`); a {@link TrainerError} becomes one `train:`/`serve:` line per problem.
 *
 * @module
 */
import {
  DEFAULT_TRAIN_CONFIG,
  type Runtime,
  RUNTIMES,
  serveJob,
  TrainerError,
  trainJob,
} from "../train/mod.ts";
import { parseCommand, usageExit } from "../util/mod.ts";

const TRAIN_USAGE =
  `usage: deno task train [--config F] [--dataset DIR] [--out DIR] [--runtime docker|podman|local] [--dry-run]
                       [--machine-rank R --main-process-ip HOST [--main-process-port 29500]]
  --config F     trainer config JSON (default: trainer/configs/llama31_8b_qlora.json, the sample)
  --dataset DIR  folder with train.jsonl/test.jsonl from deno task sft (default: the config's dataset_dir)
  --out DIR      run folder (default: runs/train/<UTC timestamp>-<name>); an existing one resumes (refused
                 when its run differs in dataset, base model, method, LoRA shape, max_length or optim)
  --runtime R    docker, podman or local (default: docker, else podman)
  --python P     python for --runtime local (default: python3)
  --dry-run      validate the config and the dataset and print the command; checks no engine, GPU or token
  Several machines (distributed.num_machines > 1): run it on each machine with the same --out (shared storage)
  --machine-rank R          this machine's rank, 0 to num_machines - 1; 0 runs the main process (a dry run
                            without it prints every machine's command)
  --main-process-ip HOST    machine 0's address, reachable from every machine
  --main-process-port PORT  the port machine 0 listens on (default 29500)`;

const TRAIN_FLAGS = {
  config: { type: "string" },
  dataset: { type: "string" },
  out: { type: "string" },
  runtime: { type: "string" },
  python: { type: "string" },
  "machine-rank": { type: "string" },
  "main-process-ip": { type: "string" },
  "main-process-port": { type: "string" },
  "dry-run": { type: "boolean", default: false },
} as const;

const SERVE_USAGE =
  `usage: deno task serve --adapter DIR [--base-model ID] [--name NAME] [--port 8000] [--max-model-len N]
                       [--runtime docker|podman|local] [--image IMG] [--timeout S] [--dataset F] [--dry-run]
  --adapter DIR       a trained LoRA adapter (adapter_config.json inside)
  --base-model ID     default: the adapter's base_model_name_or_path
  --name NAME         the served model name (default: text2sql-lora)
  --max-model-len N   context length (default 8192: BIRD prompts with schema fit with room for the answer)
  --timeout S         seconds to wait for the server to answer (default 900: the first start downloads the base)
  --dataset F         the dataset named in the printed eval line (default data/sample/dev.json)`;

const SERVE_FLAGS = {
  adapter: { type: "string" },
  "base-model": { type: "string" },
  name: { type: "string", default: "text2sql-lora" },
  port: { type: "string", default: "8000" },
  "max-model-len": { type: "string", default: "8192" },
  runtime: { type: "string" },
  image: { type: "string" },
  timeout: { type: "string", default: "900" },
  dataset: { type: "string", default: "data/sample/dev.json" },
  "dry-run": { type: "boolean", default: false },
} as const;

/**
 * `deno task train`: validates the config and the dataset, then prints the command (`--dry-run`) or checks the
 * engine, GPU and token and runs it, streaming metrics into `<out>/metrics.jsonl`.
 *
 * @param argv the arguments after `train`
 * @returns the exit code: 0 done, 1 environment problem or failed run, 2 invalid arguments/config/dataset.
 */
export async function trainCommand(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseCommand(argv, { usage: TRAIN_USAGE, options: TRAIN_FLAGS })?.values;
  } catch (e) {
    return usageExit("train", TRAIN_USAGE, e);
  }
  if (!values) return 0;
  if (values.runtime !== undefined && !RUNTIMES.includes(values.runtime as Runtime)) {
    console.error(`train: --runtime must be one of ${RUNTIMES.join(", ")}`);
    return 2;
  }
  try {
    return await trainJob({
      configPath: values.config ?? DEFAULT_TRAIN_CONFIG,
      dataset: values.dataset,
      out: values.out,
      runtime: values.runtime as Runtime | undefined,
      python: values.python,
      machineRank: wholeNumber(values["machine-rank"]),
      mainProcessIp: values["main-process-ip"],
      mainProcessPort: wholeNumber(values["main-process-port"]),
      dryRun: values["dry-run"],
    });
  } catch (e) {
    return reportTrainerError("train", e);
  }
}

/** A flag's whole number: undefined when not given, NaN when not digits (the config check then says why). */
function wholeNumber(flag: string | undefined): number | undefined {
  if (flag === undefined) return undefined;
  return /^\d+$/.test(flag) ? Number(flag) : NaN;
}

/**
 * `deno task serve`: starts vLLM's OpenAI-compatible server with the adapter, waits until `/v1/models` lists
 * it, prints the `deno task eval` line, and keeps serving until interrupted. `--dry-run` prints the command
 * and the eval line without checking or starting anything.
 *
 * @param argv the arguments after `serve`
 * @returns the exit code: 0 served and stopped, 1 failed to start, 2 invalid arguments.
 */
export async function serveCommand(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseCommand(argv, { usage: SERVE_USAGE, options: SERVE_FLAGS })?.values;
  } catch (e) {
    return usageExit("serve", SERVE_USAGE, e);
  }
  if (!values) return 0;
  const numbers = {
    port: Number(values.port),
    maxModelLen: Number(values["max-model-len"]),
    timeoutS: Number(values.timeout),
  };
  const problems = serveProblems(values, numbers);
  if (problems.length) {
    console.error(problems.map((p) => `serve: ${p}`).join("\n") + `\n${SERVE_USAGE}`);
    return 2;
  }
  try {
    return await serveJob({
      adapter: values.adapter!,
      baseModel: values["base-model"],
      name: values.name,
      ...numbers,
      runtime: values.runtime as Runtime | undefined,
      image: values.image,
      dataset: values.dataset,
      dryRun: values["dry-run"],
    });
  } catch (e) {
    return reportTrainerError("serve", e);
  }
}

/** Every problem of serve's flags, one message each (empty when they are fine). */
function serveProblems(
  values: { adapter?: string; runtime?: string; name: string },
  n: { port: number; maxModelLen: number; timeoutS: number },
): string[] {
  const problems: string[] = [];
  if (!values.adapter) problems.push("--adapter DIR is required");
  if (!Number.isInteger(n.port) || n.port < 1 || n.port > 65535) problems.push("--port must be 1-65535");
  if (!Number.isInteger(n.maxModelLen) || n.maxModelLen < 16) {
    problems.push("--max-model-len must be an integer >= 16");
  }
  if (!(n.timeoutS > 0)) problems.push("--timeout must be a positive number of seconds");
  if (values.runtime !== undefined && !RUNTIMES.includes(values.runtime as Runtime)) {
    problems.push(`--runtime must be one of ${RUNTIMES.join(", ")}`);
  }
  if (!/^[A-Za-z0-9._-]+$/.test(values.name)) {
    problems.push("--name may use letters, digits, '.', '_' and '-'");
  }
  return problems;
}

/** Prints a {@link TrainerError} one `prefix:` line per problem and returns its exit code; rethrows anything else. */
function reportTrainerError(prefix: string, e: unknown): number {
  if (!(e instanceof TrainerError)) throw e;
  console.error(e.message.split("\n").map((l) => `${prefix}: ${l}`).join("\n"));
  return e.exitCode;
}
