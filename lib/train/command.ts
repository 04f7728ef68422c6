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
import { currentUser, defaultHfCache, gpuArgs, hasInfiniband, isLocalModel } from "./host.ts";
import { machineError, type MachineLaunch } from "./machines.ts";

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
  /**
   * This machine's part of a run over several machines (required when `distributed.num_machines` > 1, refused
   * otherwise): the launcher gets the machine count, rank and machine 0's address.
   */
  machine?: MachineLaunch | null;
  /** Pass the host's RDMA devices into the container (several machines only; default: `/dev/infiniband` exists). */
  infiniband?: boolean;
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
  /** The machine this command runs on in a run over several machines; null for one machine. */
  machine: MachineLaunch | null;
}

/**
 * NCCL's and gloo's settings passed into the container by name across machines (each set only when the host
 * has it): which interface reaches the other machines, which InfiniBand adapters, NCCL's log level.
 */
export const MULTI_MACHINE_ENV: readonly string[] = [
  "NCCL_SOCKET_IFNAME",
  "GLOO_SOCKET_IFNAME",
  "NCCL_IB_HCA",
  "NCCL_DEBUG",
];

/**
 * The launcher prefix for multi-GPU configs (`accelerate launch …` / `torchrun …`), the bare python for one
 * process. Over several machines each gets the machine count, its rank and machine 0's address (accelerate's
 * `--num_processes` is the total over every machine; torchrun's `--nproc_per_node` the count on each).
 */
function launcherArgs(
  dist: DistributedConfig | null,
  python: string,
  machine: MachineLaunch | null,
): string[] {
  if (!dist || dist.num_processes <= 1) return [python];
  const perMachine = dist.num_processes / dist.num_machines;
  if (dist.launcher === "torchrun") {
    if (!machine) return ["torchrun", "--standalone", `--nproc_per_node=${dist.num_processes}`];
    return [
      "torchrun",
      `--nnodes=${machine.count}`,
      `--nproc_per_node=${perMachine}`,
      `--node_rank=${machine.rank}`,
      `--master_addr=${machine.mainProcessIp}`,
      `--master_port=${machine.mainProcessPort}`,
    ];
  }
  // FSDP itself is configured by train.py through TrainingArguments, so one launch line serves FSDP and DDP.
  const accelerate = ["accelerate", "launch", "--multi_gpu"];
  if (!machine) return [...accelerate, `--num_processes=${dist.num_processes}`];
  return [
    ...accelerate,
    `--num_machines=${machine.count}`,
    `--num_processes=${dist.num_processes}`,
    `--machine_rank=${machine.rank}`,
    `--main_process_ip=${machine.mainProcessIp}`,
    `--main_process_port=${machine.mainProcessPort}`,
  ];
}

/**
 * Builds the command that runs `train.py` for a config: `docker run`/`podman run` with the GPU, the dataset
 * (read-only), the run folder, the trainer code and the HF cache mounted, or a local python. Creates and
 * checks nothing; it reads only defaults (HF cache path, uid), whether the base model is a local folder and,
 * over several machines, whether this host has `/dev/infiniband`.
 *
 * Multi-GPU configs (`distributed`) start the same script under `accelerate launch` or `torchrun` in the same
 * container. Over several machines this is one machine's command (`options.machine`): the container shares the
 * host's network (the processes of the other machines connect to it) and its RDMA devices, if any.
 *
 * @throws {TrainerError} without a dataset, or when `options.machine` does not fit `distributed.num_machines`.
 */
export function buildTrainCommand(config: TrainConfig, options: BuildTrainOptions): TrainPlan {
  if (!options.datasetDir && !config.dataset_dir) {
    throw new TrainerError("no dataset: pass --dataset DIR or set dataset_dir in the config");
  }
  const machine = options.machine ?? null;
  const problem = machineError(config, machine);
  if (problem) throw new TrainerError(problem);
  const paths: PlanPaths = {
    datasetDir: path.resolve(options.datasetDir ?? config.dataset_dir ?? ""),
    outDir: path.resolve(options.outDir),
    configPath: path.resolve(options.configPath),
    trainerDir: path.resolve(options.trainerDir ?? TRAINER_DIR),
    hfCache: path.resolve(options.hfCache ?? defaultHfCache()),
    dbRoot: config.method === "grpo" && config.grpo.db_root ? path.resolve(config.grpo.db_root) : null,
    machine,
  };
  if (options.runtime === "local") return localPlan(config, paths, options.python ?? "python3");
  const user = options.user === undefined ? currentUser() : options.user;
  const infiniband = machine !== null && (options.infiniband ?? hasInfiniband());
  return containerPlan(config, paths, { engine: options.runtime, user, infiniband });
}

/** The absolute host paths a plan is made of. */
interface PlanPaths {
  datasetDir: string;
  outDir: string;
  configPath: string;
  trainerDir: string;
  hfCache: string;
  /** The GRPO reward's database root, or null (not GRPO, or none set). */
  dbRoot: string | null;
  /** This machine's part of a run over several, or null. */
  machine: MachineLaunch | null;
}

/** `train.py` with a local python (under the launcher for multi-GPU), host paths as arguments. */
function localPlan(config: TrainConfig, p: PlanPaths, python: string): TrainPlan {
  const env: Record<string, string> = {
    PYTHONUNBUFFERED: "1",
    TENSORBOARD_LOGGING_DIR: path.join(p.outDir, "tensorboard"),
  };
  if (p.dbRoot) env.TEXT2SQL_DB_ROOT = p.dbRoot;
  const command = [
    ...launcherArgs(config.distributed, python, p.machine),
    path.join(p.trainerDir, "train.py"),
    "--config",
    p.configPath,
    "--data",
    p.datasetDir,
    "--output",
    p.outDir,
  ];
  const { outDir, datasetDir, configPath, hfCache } = p;
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
    machine: p.machine,
  };
}

/** `docker run`/`podman run` of the trainer image with everything mounted, and the image's build command. */
function containerPlan(
  config: TrainConfig,
  p: PlanPaths,
  run: { engine: "docker" | "podman"; user: string | null; infiniband: boolean },
): TrainPlan {
  const { engine } = run;
  const image = config.container.image;
  const args = [engine, "run", "--rm", ...gpuArgs(engine)];
  if (p.machine) {
    // Across machines NCCL and the rendezvous need the host's interfaces and address: a bridge network would
    // hide the container behind NAT. RDMA devices, when the host has them, keep NCCL off TCP sockets.
    args.push("--network", "host");
    if (run.infiniband) args.push("--device", "/dev/infiniband");
  }
  args.push("--shm-size", config.container.shm_size, "--ulimit", "memlock=-1", "--ulimit", "stack=67108864");
  if (engine === "docker" && run.user) args.push("--user", run.user);
  // The token goes by name only: the engine copies it from its own environment into the container.
  args.push("-e", "HF_TOKEN", "-e", "HF_HOME=/hf", "-e", "HOME=/tmp", "-e", "PYTHONUNBUFFERED=1");
  args.push("-e", "TENSORBOARD_LOGGING_DIR=/out/tensorboard");
  if (p.machine) { for (const name of MULTI_MACHINE_ENV) args.push("-e", name); }
  args.push("-v", `${p.trainerDir}:/app:ro`, "-v", `${p.configPath}:/config/train.json:ro`);
  args.push("-v", `${p.datasetDir}:/data:ro`, "-v", `${p.outDir}:/out`, "-v", `${p.hfCache}:/hf`);
  // The GRPO reward executes SQL against the databases: mounted read-only (the reward also opens them `mode=ro`).
  if (p.dbRoot) args.push("-v", `${p.dbRoot}:/dbs:ro`, "-e", "TEXT2SQL_DB_ROOT=/dbs");
  args.push(...baseModelMount(config.base_model));
  const scriptArgs = [
    "/app/train.py",
    "--config",
    "/config/train.json",
    "--data",
    "/data",
    "--output",
    "/out",
  ];
  args.push(image, ...launcherArgs(config.distributed, "python", p.machine), ...scriptArgs);
  const build = [engine, "build", "-t", image, p.trainerDir];
  const { outDir, datasetDir, configPath, hfCache } = p;
  const env = { PYTHONUNBUFFERED: "1" };
  return {
    runtime: engine,
    command: args,
    build,
    env,
    outDir,
    datasetDir,
    configPath,
    hfCache,
    image,
    machine: p.machine,
  };
}

/**
 * A local base model is mounted; train.py loads it from its container path and records the host path (in
 * train_config.json and the adapter's adapter_config.json), so `deno task serve` finds it afterwards. A hub id
 * needs nothing.
 */
function baseModelMount(base: string): string[] {
  if (!isLocalModel(base)) return [];
  const host = path.resolve(base);
  return [
    "-v",
    `${host}:/base:ro`,
    "-e",
    "TEXT2SQL_BASE_MODEL=/base",
    "-e",
    `TEXT2SQL_BASE_MODEL_SOURCE=${host}`,
  ];
}

/** Quotes argv for a POSIX shell so a printed command can be pasted as is. */
export function formatCommand(argv: string[]): string {
  return argv.map((a) => /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'"'"'`)}'`).join(
    " ",
  );
}
