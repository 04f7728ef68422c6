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
import { DEFAULT_MAIN_PROCESS_PORT, machineLaunches, MAIN_PROCESS_IP_PLACEHOLDER } from "./machines.ts";
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
  /** `--machine-rank`: this machine's rank in a run over several (`distributed.num_machines` > 1). */
  machineRank?: number;
  /** `--main-process-ip`: machine 0's address, reachable from every machine. */
  mainProcessIp?: string;
  /** `--main-process-port`: the port machine 0 listens on (default 29500). */
  mainProcessPort?: number;
  dryRun: boolean;
}

/** A checked run, ready to print or to start. */
interface PreparedRun {
  config: TrainConfig;
  /**
   * The commands: one, except a dry run over several machines without `--machine-rank`, which has one for each
   * machine (rank 0 first).
   */
  plans: TrainPlan[];
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
    printDryRun(run, options);
    console.log(await memoryEstimateLine(options.configPath));
    return 0;
  }
  const [plan] = run.plans;
  await preflight(run.config, plan.runtime, { python: options.python });
  await Deno.mkdir(plan.outDir, { recursive: true });
  await Deno.mkdir(plan.hfCache, { recursive: true });
  await ensureImage(plan);
  return await runWithInterrupt(run.config, plan);
}

/** Config and dataset validated, the plan built, the run folder checked: everything a dry run checks too. */
async function prepareRun(options: TrainJobOptions): Promise<PreparedRun> {
  const config = await loadTrainConfig(options.configPath);
  // The launch flags against the config first: a run over several machines needs its rank and machine 0's address.
  const machines = machineLaunches(config, options, options.dryRun);
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
  const plans = machines.map((machine) =>
    buildTrainCommand(config, {
      runtime,
      configPath: options.configPath,
      datasetDir,
      outDir,
      python: options.python,
      machine,
    })
  );
  // Before anything starts (dry runs too: it only reads): a folder holding another run must not be resumed.
  await checkRunFolder(plans[0].outDir, config, datasetDir);
  return { config, plans, counts };
}

/**
 * What a dry run prints: the config and dataset it checked, the image build, the run folder, the command; over
 * several machines, each machine's command (rank 0 first) and the `deno task train` line that runs it there.
 */
function printDryRun({ config, plans, counts }: PreparedRun, options: TrainJobOptions): void {
  const [plan] = plans;
  const machine = plan.machine;
  console.log(
    `# config: ${path.resolve(options.configPath)} (valid; ${config.method}, base ${config.base_model})`,
  );
  console.log(`# dataset: ${plan.datasetDir} (train ${counts.train}, test ${counts.test} examples)`);
  if (plan.build) {
    console.log(`# build the image once${machine ? " on each machine" : ""}: ${formatCommand(plan.build)}`);
  }
  if (!machine) {
    console.log(`# run folder: ${plan.outDir}`);
    console.log(formatCommand(plan.command));
    return;
  }
  const { count, mainProcessIp, mainProcessPort } = machine;
  const processes = config.distributed?.num_processes ?? 1;
  console.log(
    `# run folder: ${plan.outDir} (one folder for all machines: shared storage, at this path on each; the ` +
      "trainer, config, dataset and HF cache paths below must exist on each machine too)",
  );
  console.log(
    `# ${count} machines × ${
      processes / count
    } processes (${processes} in all); machine R runs its line below, ` +
      `or there: ${formatCommand(machineTrainLine(options, plan, mainProcessIp))}`,
  );
  if (mainProcessIp === MAIN_PROCESS_IP_PLACEHOLDER) {
    console.log(
      `# ${MAIN_PROCESS_IP_PLACEHOLDER}: replace with machine 0's address, reachable from every machine ` +
        "(or pass --main-process-ip HOST)",
    );
  }
  for (const p of plans) {
    const rank = p.machine?.rank ?? 0;
    const role = rank === 0 ? ` (main process: listens on port ${mainProcessPort})` : "";
    console.log(`# machine ${rank} of ${count}${role}:`);
    console.log(formatCommand(p.command));
  }
}

/** The `deno task train` line that runs machine R's part of a run (`R` left for the user). */
function machineTrainLine(options: TrainJobOptions, plan: TrainPlan, mainProcessIp: string): string[] {
  const line = ["deno", "task", "train", "--config", path.resolve(options.configPath)];
  if (options.dataset) line.push("--dataset", plan.datasetDir);
  line.push("--out", plan.outDir);
  if (options.runtime) line.push("--runtime", options.runtime);
  if (options.python) line.push("--python", options.python);
  line.push("--machine-rank", "R", "--main-process-ip", mainProcessIp);
  const port = plan.machine?.mainProcessPort ?? DEFAULT_MAIN_PROCESS_PORT;
  if (port !== DEFAULT_MAIN_PROCESS_PORT) line.push("--main-process-port", String(port));
  return line;
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
    const machines = e.fsdp_machines ? ` on ${e.fsdp_machines} machines` : "";
    const shards = e.fsdp_shards ? `, FSDP over ${e.fsdp_shards} processes${machines}` : "";
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
async function runWithInterrupt(config: TrainConfig, plan: TrainPlan): Promise<number> {
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
    // Machine 0 saves the adapter; the others only took part.
    const main = (plan.machine?.rank ?? 0) === 0;
    if (main && config.method !== "full") console.log(`serve it: deno task serve --adapter ${adapter}`);
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
}

/** `20261201T235959Z`: a run folder's default name stamp. */
function utcStamp(): string {
  return new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}
