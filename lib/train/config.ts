/**
 * The trainer's config: its shape, the defaults shared with the Python validator, the paths of the trainer
 * folder, and the error every check throws (the field rules are in `config_rules.ts`, reading a file in
 * `config_load.ts`).
 *
 * @module
 */

import * as path from "node:path";
import { fileURLToPath } from "node:url";
// The defaults, the scheduler and the optimizer names, shared with the Python validator that runs again in the container
// (`trainer/text2sql_trainer/config.py` loads the same file), so the two cannot drift apart.
import SHARED from "../../trainer/text2sql_trainer/defaults.json" with { type: "json" };

/** Where the trainer lives: `trainer/` beside `lib/`, whatever the working directory (notebooks run in theirs). */
export const TRAINER_DIR: string = fileURLToPath(new URL("../../trainer/", import.meta.url)).replace(
  /\/$/,
  "",
);
/** The sample config `deno task train` uses without `--config`: Llama 3.1 8B, QLoRA, the original profile. */
export const DEFAULT_TRAIN_CONFIG: string = path.join(TRAINER_DIR, "configs", "llama31_8b_qlora.json");
/**
 * The recorded metrics stream notebook 05 charts: a real run of `trainer/smoke_test.py --cpu` (a tiny model on
 * CPU; see `trainer/README.md`), in the line format every run writes.
 */
export const SAMPLE_METRICS: string = path.join(TRAINER_DIR, "fixtures", "metrics_cpu_tiny.jsonl");
/**
 * A recorded GRPO metrics stream notebook 05 can chart (`METRICS`): a real run of `trainer/grpo_check.py --cpu`
 * (the tiny model, 4 steps of 2 prompts × 4 completions), with TRL's reward statistics and KL.
 */
export const SAMPLE_GRPO_METRICS: string = path.join(TRAINER_DIR, "fixtures", "metrics_grpo_cpu_tiny.jsonl");
/** The vLLM image `serve` runs in a container; pinned so a served adapter behaves the same next month. */
export const DEFAULT_VLLM_IMAGE = "vllm/vllm-openai:v0.10.1";
/** Ranks vLLM accepts for `--max-lora-rank`. */
export const VLLM_LORA_RANKS: readonly number[] = [8, 16, 32, 64, 128, 256, 320, 512];

/** Where the engine is run: a container engine, or a local python with the trainer's packages. */
export type Runtime = "docker" | "podman" | "local";
/** The runtimes `--runtime` accepts. */
export const RUNTIMES: readonly Runtime[] = ["docker", "podman", "local"];

/** Multi-GPU launch: the same container under `accelerate launch` or `torchrun`, FSDP by flag. */
export interface DistributedConfig {
  launcher: "accelerate" | "torchrun";
  /** Processes in all, one a GPU, over every machine (FSDP shards over all of them). */
  num_processes: number;
  /**
   * Machines (nodes) the processes are spread over, `num_processes / num_machines` on each. The address of
   * machine 0 is not here but given at launch (`--main-process-ip`): it belongs to the cluster, not the recipe.
   */
  num_machines: number;
  fsdp: boolean;
  /** The decoder layer class FSDP wraps (e.g. `LlamaDecoderLayer`); null lets transformers infer it. */
  fsdp_layer_cls: string | null;
}

/** The `grpo` section: TRL GRPOTrainer settings and the sandboxed execution reward's. */
export interface GrpoConfig {
  /** How the policy is trained: LoRA on a 4-bit base (`qlora`) or on a bf16 base (`lora`). */
  adapter: "qlora" | "lora";
  num_generations: number;
  temperature: number;
  beta: number;
  epsilon: number;
  max_completion_length: number;
  loss_type: string;
  /** Reward of SQL that executes but gives another result (a correct one gets 1.0, a failing one 0). */
  partial_reward: number;
  /** Weight of the optional format reward (`<think>…</think>` then the answer); 0 turns it off. */
  format_reward: number;
  /** Folder the dataset's `db_path` values are relative to (mounted read-only); relative to the config file. */
  db_root: string | null;
  reward_timeout_s: number;
  reward_workers: number;
  use_vllm: "auto" | boolean;
  vllm_gpu_memory_utilization: number;
  log_completions: boolean;
}

/** A validated trainer config with every default filled in (mirrors `trainer/text2sql_trainer/config.py`). */
export interface TrainConfig {
  name: string;
  base_model: string;
  /** Folder with `train.jsonl`/`test.jsonl`; relative paths are relative to the config file. */
  dataset_dir: string | null;
  method: "qlora" | "lora" | "full" | "grpo";
  lora: { r: number; alpha: number; dropout: number; target_modules: "all-linear" | string[] };
  training: {
    epochs: number;
    max_steps: number;
    learning_rate: number;
    lr_scheduler: string;
    warmup_ratio: number;
    per_device_batch_size: number;
    per_device_eval_batch_size: number;
    gradient_accumulation_steps: number;
    max_grad_norm: number;
    max_length: number;
    gradient_checkpointing: boolean;
    optim: string;
    weight_decay: number;
    bf16: boolean;
    logging_steps: number;
    eval_strategy: "no" | "steps" | "epoch";
    eval_steps: number | null;
    save_strategy: "no" | "steps" | "epoch";
    save_steps: number;
    save_total_limit: number;
    seed: number;
    resume: boolean;
  };
  output: { merge: boolean };
  /** GRPO with the execution reward (`method: "grpo"`); see `trainer/README.md`. */
  grpo: GrpoConfig;
  distributed: DistributedConfig | null;
  container: { image: string; shm_size: string };
}

/** The defaults: the original tool's fine-tuning profile (see `trainer/README.md` for the two deliberate changes). */
export const TRAIN_DEFAULTS: TrainConfig = SHARED.defaults as TrainConfig;
/** The `distributed` section's defaults, filled in when a config has one. */
export const DISTRIBUTED_DEFAULTS = SHARED.distributed as DistributedConfig;
/** The sections merged key by key with the defaults. */
export const SECTIONS = ["lora", "training", "output", "grpo", "container"] as const;
/** The `grpo.loss_type` values TRL accepts. */
export const GRPO_LOSS_TYPES: readonly string[] = SHARED.grpo_loss_types;
/** The `training.lr_scheduler` names. */
export const SCHEDULERS: readonly string[] = SHARED.schedulers;
/** The `eval_strategy` / `save_strategy` values. */
export const STRATEGIES: readonly string[] = ["no", "steps", "epoch"];
/**
 * `transformers.training_args.OptimizerNames` values of the pinned transformers (trainer/requirements.txt; a
 * trainer test compares them): a typo or a name transformers 5 dropped (`adamw_hf`, `adamw_apex_fused`) must fail
 * in the dry run, not in `TrainingArguments` on a rented GPU.
 */
export const OPTIMIZERS: readonly string[] = SHARED.optimizers;

/** A config, dataset or environment problem; `message` holds one problem per line, meant for the user. */
export class TrainerError extends Error {
  /** Exit code the CLI returns: 2 for invalid input, 1 for a missing engine/GPU/token or a failed run. */
  exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = "TrainerError";
    this.exitCode = exitCode;
  }
}
