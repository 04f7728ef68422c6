/**
 * The work of `deno task train` once its flags are parsed: validate the config and the dataset, build the plan,
 * refuse a run folder holding another run, then print the command (a dry run) or check the machine, build the
 * image when missing and run the trainer, streaming its metrics.
 *
 * @module
 */

import * as path from "node:path";
import { type Runtime, type TrainConfig, TRAINER_DIR, TrainerError } from "./config.ts";
import { loadTrainConfig } from "./config_load.ts";
import { validateDataset } from "./dataset_check.ts";
import { checkRunFolder } from "./fingerprint.ts";
import { buildTrainCommand, formatCommand, type TrainPlan } from "./command.ts";
import { formatMetricForConsole } from "./metrics.ts";
import { runTraining } from "./launch.ts";
import { chooseRuntime, preflight, systemProbe } from "./preflight.ts";

/** What `deno task train` was asked to do. */
export interface TrainJobOptions {
  /** The config file. */
  configPath: string;
  /** `--dataset`: overrides the config's `dataset_dir`. */
  dataset?: string;
  /** `--out`: the run folder (default `runs/train/<UTC stamp>-<name>`). */
  out?: string;
  /** `--runtime`, already checked to be a runtime name. */
  runtime?: Runtime;
  /** `--python` for `--runtime local`. */
  python?: string;
  dryRun: boolean;
}

/** A checked run, ready to print or to start. */
interface PreparedRun {
  config: TrainConfig;
  plan: TrainPlan;
  counts: { train: number; test: number };
}

/**
 * Runs `deno task train`'s work: a dry run prints the command, a real run runs it.
 *
 * @param options the parsed flags
 * @returns the exit code: 0 done, 1 the trainer failed
 * @throws {TrainerError} for an invalid config or dataset (exit 2) or a missing engine, GPU or token (exit 1)
 */
export async function trainJob(options: TrainJobOptions): Promise<number> {
  const run = await prepareRun(options);
  if (options.dryRun) {
    printDryRun(run, options.configPath);
    console.log(await memoryEstimateLine(options.configPath));
    return 0;
  }
  await preflight(run.config, run.plan.runtime, { python: options.python });
  await Deno.mkdir(run.plan.outDir, { recursive: true });
  await Deno.mkdir(run.plan.hfCache, { recursive: true });
  await ensureImage(run.plan);
  return await runWithInterrupt(run);
}

/** Config and dataset validated, the plan built, the run folder checked: everything a dry run checks too. */
async function prepareRun(options: TrainJobOptions): Promise<PreparedRun> {
  const config = await loadTrainConfig(options.configPath);
  const datasetDir = options.dataset ? path.resolve(options.dataset) : config.dataset_dir;
  if (!datasetDir) {
    throw new TrainerError("no dataset: pass --dataset DIR or set dataset_dir in the config");
  }
  const grpo = config.method === "grpo";
  const counts = await validateDataset(datasetDir, {
    maxLength: config.training.max_length,
    requireTest: !grpo && config.training.eval_strategy !== "no",
    grpo,
  });
  if (grpo && !config.grpo.db_root) {
    throw new TrainerError(
      "grpo.db_root: required for method grpo (the folder holding <db_id>/<db_id>.sqlite)",
    );
  }
  for (const w of counts.warnings) console.error(`train: warning: ${w}`);
  const runtime = await chooseRuntime(
    options.runtime,
    options.dryRun,
    "pass --runtime local on a GPU machine",
  );
  const outDir = options.out ?? path.join("runs", "train", `${utcStamp()}-${config.name}`);
  const plan = buildTrainCommand(config, {
    runtime,
    configPath: options.configPath,
    datasetDir,
    outDir,
    python: options.python,
  });
  // Before anything starts (dry runs too: it only reads): a folder holding another run must not be resumed.
  await checkRunFolder(plan.outDir, config, datasetDir);
  return { config, plan, counts };
}

/** What a dry run prints: the config and dataset it checked, the image build, the run folder, the command. */
function printDryRun({ config, plan, counts }: PreparedRun, configPath: string): void {
  console.log(`# config: ${path.resolve(configPath)} (valid; ${config.method}, base ${config.base_model})`);
  console.log(`# dataset: ${plan.datasetDir} (train ${counts.train}, test ${counts.test} examples)`);
  if (plan.build) console.log(`# build the image once: ${formatCommand(plan.build)}`);
  console.log(`# run folder: ${plan.outDir}`);
  console.log(formatCommand(plan.command));
}

/**
 * The memory estimate per GPU as a dry run prints it, from `trainer/text2sql_trainer/memory.py` (stdlib Python:
 * one formula for the dry run and `train.py`); the base model's shape comes from its folder's config.json or the
 * table of known bases there. One `#` line, saying why when there is no estimate.
 */
async function memoryEstimateLine(configPath: string): Promise<string> {
  try {
    const out = await new Deno.Command("python3", {
      args: ["-m", "text2sql_trainer.memory", path.resolve(configPath)],
      cwd: TRAINER_DIR,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!text) {
      return `# memory estimate: not computed (${
        new TextDecoder().decode(out.stderr).trim().split("\n").at(-1)
      })`;
    }
    const e = JSON.parse(text) as Record<string, number | string | boolean>;
    if (e.unknown_shape) {
      return `# memory estimate: the shape of ${e.base_model} is unknown here (train.py estimates it)`;
    }
    const shards = e.fsdp_shards ? `, FSDP over ${e.fsdp_shards} processes` : "";
    const vllm = e.vllm_fraction ? ` + vLLM's ${e.vllm_fraction} of the GPU` : "";
    return `# memory estimate: ${e.total_gb} GiB per GPU${vllm} (${e.parameters_b}B parameters${shards}: weights ` +
      `${e.weights_gb}, adapter/gradients/optimizer ${e.adapter_and_optimizer_gb}, logits ${e.logits_gb}, ` +
      `activations ${e.activations_gb}, overhead ${e.overhead_gb})`;
  } catch (e) {
    return `# memory estimate: not computed (${e instanceof Error ? e.message : String(e)})`;
  }
}

/** Builds the container image first when the engine does not have it. */
async function ensureImage(plan: TrainPlan): Promise<void> {
  if (!plan.build || !plan.image) return;
  if ((await systemProbe(plan.runtime, ["image", "inspect", plan.image])).ok) return;
  console.error(`building ${plan.image}: ${formatCommand(plan.build)}`);
  const built = await new Deno.Command(plan.build[0], { args: plan.build.slice(1) }).spawn().status;
  if (!built.success) throw new TrainerError(`image build failed (exit ${built.code})`, 1);
}

/** Runs the trainer, Ctrl-C stopping it, metrics on stdout; says where the adapter is to serve it. */
async function runWithInterrupt({ config, plan }: PreparedRun): Promise<number> {
  console.error(`run folder: ${plan.outDir}\n${formatCommand(plan.command)}`);
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  Deno.addSignalListener("SIGINT", onSigint);
  try {
    const result = await runTraining(plan, {
      signal: controller.signal,
      onMetric: (m) => console.log(formatMetricForConsole(m)),
    });
    console.error(`metrics: ${result.metricsPath}\nlog: ${result.logPath}`);
    if (result.code !== 0) {
      console.error(`train: the trainer exited with code ${result.code} (see ${result.logPath})`);
      return 1;
    }
    const adapter = path.join(plan.outDir, config.method === "full" ? "model" : "adapter");
    if (config.method !== "full") console.log(`serve it: deno task serve --adapter ${adapter}`);
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
}

/** `20261201T235959Z`: a run folder's default name stamp. */
function utcStamp(): string {
  return new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}
