/**
 * The training command: `docker run`/`podman run` (or a local python) that runs `trainer/train.py` with the
 * dataset, run folder, trainer code and HF cache mounted, and quoting argv for a shell.
 *
 * @module
 */

import * as path from "node:path";
import {
  type DistributedConfig,
  type Runtime,
  type TrainConfig,
  TRAINER_DIR,
  TrainerError,
} from "./config.ts";
import { currentUser, defaultHfCache, gpuArgs, isLocalModel } from "./host.ts";

/** What {@link buildTrainCommand} needs besides the config. Paths may be relative to the working directory. */
export interface BuildTrainOptions {
  runtime: Runtime;
  /** The config file as given (mounted read-only into the container). */
  configPath: string;
  /** Dataset folder; defaults to the config's `dataset_dir`. */
  datasetDir?: string;
  /** The run folder (checkpoints, adapter, logs, metrics.jsonl). */
  outDir: string;
  /** Host Hugging Face cache, shared so the 16 GB base model downloads once; default `$HF_HOME` or `~/.cache/huggingface`. */
  hfCache?: string;
  /** The trainer folder to run (default {@link TRAINER_DIR}); mounted at `/app` so code edits need no rebuild. */
  trainerDir?: string;
  /** Python for `--runtime local` (default `python3`). */
  python?: string;
  /** `uid:gid` the container runs as, so outputs stay owned by the user (docker only; default: the current user). */
  user?: string | null;
}

/** A fully resolved training command: what a dry run prints and a real run executes. */
export interface TrainPlan {
  runtime: Runtime;
  /** argv of the process to start: `[program, ...args]`. */
  command: string[];
  /** The image build command to run first when the image is missing (container runtimes), else null. */
  build: string[] | null;
  /** Extra environment for the child (names and values; never a secret: the token is inherited by name). */
  env: Record<string, string>;
  outDir: string;
  datasetDir: string;
  configPath: string;
  hfCache: string;
  image: string | null;
}

/** The launcher prefix for multi-GPU configs (`accelerate launch …` / `torchrun …`), empty for one process. */
function launcherArgs(dist: DistributedConfig | null, python: string): string[] {
  if (!dist || dist.num_processes <= 1) return [python];
  if (dist.launcher === "torchrun") {
    return ["torchrun", "--standalone", `--nproc_per_node=${dist.num_processes}`];
  }
  // FSDP itself is configured by train.py through TrainingArguments, so one launch line serves FSDP and DDP.
  return ["accelerate", "launch", "--multi_gpu", `--num_processes=${dist.num_processes}`];
}

/**
 * Builds the command that runs `train.py` for a config: `docker run`/`podman run` with the GPU, the dataset
 * (read-only), the run folder, the trainer code and the HF cache mounted, or a local python. Creates and
 * checks nothing; it reads only defaults (HF cache path, uid) and whether the base model is a local folder.
 *
 * Multi-GPU configs (`distributed`) start the same script under `accelerate launch` or `torchrun` in the same
 * container.
 */
export function buildTrainCommand(config: TrainConfig, options: BuildTrainOptions): TrainPlan {
  const datasetDir = path.resolve(options.datasetDir ?? config.dataset_dir ?? "");
  if (!options.datasetDir && !config.dataset_dir) {
    throw new TrainerError("no dataset: pass --dataset DIR or set dataset_dir in the config");
  }
  const outDir = path.resolve(options.outDir);
  const configPath = path.resolve(options.configPath);
  const trainerDir = path.resolve(options.trainerDir ?? TRAINER_DIR);
  const hfCache = path.resolve(options.hfCache ?? defaultHfCache());
  const python = options.python ?? "python3";
  const env: Record<string, string> = { PYTHONUNBUFFERED: "1" };
  const dbRoot = config.method === "grpo" && config.grpo.db_root ? path.resolve(config.grpo.db_root) : null;
  if (options.runtime === "local") {
    env.TENSORBOARD_LOGGING_DIR = path.join(outDir, "tensorboard");
    if (dbRoot) env.TEXT2SQL_DB_ROOT = dbRoot;
    const command = [
      ...launcherArgs(config.distributed, python),
      path.join(trainerDir, "train.py"),
      "--config",
      configPath,
      "--data",
      datasetDir,
      "--output",
      outDir,
    ];
    return {
      runtime: "local",
      command,
      build: null,
      env,
      outDir,
      datasetDir,
      configPath,
      hfCache,
      image: null,
    };
  }
  const engine = options.runtime;
  const image = config.container.image;
  const args = [engine, "run", "--rm", ...gpuArgs(engine)];
  args.push("--shm-size", config.container.shm_size, "--ulimit", "memlock=-1", "--ulimit", "stack=67108864");
  const user = options.user === undefined ? currentUser() : options.user;
  if (engine === "docker" && user) args.push("--user", user);
  // The token goes by name only: the engine copies it from its own environment into the container.
  args.push("-e", "HF_TOKEN", "-e", "HF_HOME=/hf", "-e", "HOME=/tmp", "-e", "PYTHONUNBUFFERED=1");
  args.push("-e", "TENSORBOARD_LOGGING_DIR=/out/tensorboard");
  args.push("-v", `${trainerDir}:/app:ro`, "-v", `${configPath}:/config/train.json:ro`);
  args.push("-v", `${datasetDir}:/data:ro`, "-v", `${outDir}:/out`, "-v", `${hfCache}:/hf`);
  // The GRPO reward executes SQL against the databases: mounted read-only (the reward also opens them `mode=ro`).
  if (dbRoot) args.push("-v", `${dbRoot}:/dbs:ro`, "-e", "TEXT2SQL_DB_ROOT=/dbs");
  const scriptArgs = [
    "/app/train.py",
    "--config",
    "/config/train.json",
    "--data",
    "/data",
    "--output",
    "/out",
  ];
  if (isLocalModel(config.base_model)) {
    // A local base model is mounted; train.py loads it from its container path and records the host path (in
    // train_config.json and the adapter's adapter_config.json), so `deno task serve` finds it afterwards.
    const host = path.resolve(config.base_model);
    args.push("-v", `${host}:/base:ro`, "-e", "TEXT2SQL_BASE_MODEL=/base");
    args.push("-e", `TEXT2SQL_BASE_MODEL_SOURCE=${host}`);
  }
  args.push(image, ...launcherArgs(config.distributed, "python"), ...scriptArgs);
  const build = [engine, "build", "-t", image, trainerDir];
  return { runtime: engine, command: args, build, env, outDir, datasetDir, configPath, hfCache, image };
}

/** Quotes argv for a POSIX shell so a printed command can be pasted as is. */
export function formatCommand(argv: string[]): string {
  return argv.map((a) => /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'"'"'`)}'`).join(
    " ",
  );
}
