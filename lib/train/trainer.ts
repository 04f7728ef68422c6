/**
 * The GPU trainer from the Deno side: validate a trainer config and its dataset, build the container (or local)
 * command that runs `trainer/train.py`, stream its JSON metric lines into `<run>/metrics.jsonl` and to a
 * callback, and serve a trained adapter with vLLM's OpenAI-compatible server so it goes through `deno task eval`
 * like every other model.
 *
 * `deno task train [--config F] [--dataset DIR] [--out DIR] [--runtime docker|podman|local] [--dry-run]`
 * `deno task serve --adapter DIR [--base-model ID] [--name NAME] [--port 8000] [--max-model-len N] …`
 *
 * A dry run validates the config and the dataset files (and that `--out` holds no different run to resume) and
 * prints the exact command; it only reads files, and checks nothing about engines, GPUs or tokens (the contract
 * in ARCHITECTURE.md). The Hugging Face token only ever appears as the
 * name `-e HF_TOKEN`: the engine reads the value from its own environment, so it is never in a command line,
 * a file or the output.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { fileSha256 } from "../util/mod.ts";
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
/** The recorded metrics stream notebook 05 charts (illustrative values in the real line format). */
export const SAMPLE_METRICS: string = path.join(TRAINER_DIR, "fixtures", "metrics_sample.jsonl");
/** The vLLM image `serve` runs in a container; pinned so a served adapter behaves the same next month. */
export const DEFAULT_VLLM_IMAGE = "vllm/vllm-openai:v0.10.1";
/** Ranks vLLM accepts for `--max-lora-rank`. */
export const VLLM_LORA_RANKS: readonly number[] = [8, 16, 32, 64, 128, 256, 320, 512];

/** Where the engine is run: a container engine, or a local python with the trainer's packages. */
export type Runtime = "docker" | "podman" | "local";
const RUNTIMES: readonly Runtime[] = ["docker", "podman", "local"];

// ------------------------------------------------------------------------------------------------ config

/** Multi-GPU launch: the same container under `accelerate launch` or `torchrun`, FSDP by flag. */
export interface DistributedConfig {
  launcher: "accelerate" | "torchrun";
  num_processes: number;
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
const DISTRIBUTED_DEFAULTS = SHARED.distributed as DistributedConfig;
const SECTIONS = ["lora", "training", "output", "grpo", "container"] as const;
const GRPO_LOSS_TYPES: readonly string[] = SHARED.grpo_loss_types;
const SCHEDULERS: readonly string[] = SHARED.schedulers;
const STRATEGIES = ["no", "steps", "epoch"];
/**
 * `transformers.training_args.OptimizerNames` values, the union over the versions `train.py` supports
 * (4.46–5.x; `adamw_hf` is gone in 5): a typo must fail in the dry run, not in `TrainingArguments` on a rented GPU.
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

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Problems of the `grpo` section (checked for every method, as `_grpo_errors` in config.py does). */
function grpoErrors(g: GrpoConfig): string[] {
  const errors: string[] = [];
  if (!["qlora", "lora"].includes(g.adapter)) errors.push("grpo.adapter: must be one of qlora, lora");
  for (const key of ["num_generations", "max_completion_length", "reward_workers"] as const) {
    if (!isInt(g[key]) || g[key] < 1) errors.push(`grpo.${key}: must be a positive integer`);
  }
  if (isInt(g.num_generations) && g.num_generations < 2) {
    errors.push("grpo.num_generations: must be at least 2 (advantages are relative within a group)");
  }
  for (const key of ["temperature", "reward_timeout_s"] as const) {
    if (!isNum(g[key]) || g[key] <= 0) errors.push(`grpo.${key}: must be a positive number`);
  }
  for (const key of ["beta", "epsilon", "format_reward"] as const) {
    if (!isNum(g[key]) || g[key] < 0) errors.push(`grpo.${key}: must be a number >= 0`);
  }
  if (!isNum(g.partial_reward) || g.partial_reward < 0 || g.partial_reward >= 1) {
    errors.push("grpo.partial_reward: must be in [0, 1) (below the 1.0 of a correct answer)");
  }
  const u = g.vllm_gpu_memory_utilization;
  if (!isNum(u) || u <= 0 || u >= 1) errors.push("grpo.vllm_gpu_memory_utilization: must be in (0, 1)");
  if (!GRPO_LOSS_TYPES.includes(g.loss_type)) {
    errors.push(`grpo.loss_type: must be one of ${GRPO_LOSS_TYPES.join(", ")}`);
  }
  if (!["auto", true, false].includes(g.use_vllm)) {
    errors.push('grpo.use_vllm: must be "auto", true or false');
  }
  if (typeof g.log_completions !== "boolean") errors.push("grpo.log_completions: must be true or false");
  if (g.db_root !== null && (typeof g.db_root !== "string" || !g.db_root)) {
    errors.push("grpo.db_root: must be null or the folder the dataset's db_path values are relative to");
  }
  return errors;
}

/**
 * Validates a parsed config and returns it merged with {@link TRAIN_DEFAULTS}.
 *
 * Same rules as the Python validator that runs again inside the container. Unknown keys are errors: a typo
 * (`learning_rte`) would otherwise train silently with the default.
 *
 * @throws {TrainerError} listing every problem, one per line.
 */
export function validateTrainConfig(user: unknown): TrainConfig {
  if (!isObj(user)) throw new TrainerError("config: must be a JSON object");
  const errors: string[] = [];
  for (const key of Object.keys(user)) {
    if (!(key in TRAIN_DEFAULTS)) errors.push(`config: unknown key '${key}'`);
  }
  for (const section of SECTIONS) {
    const value = user[section];
    if (value === undefined || value === null) continue;
    if (!isObj(value)) {
      errors.push(`${section}: must be an object`);
      continue;
    }
    for (const key of Object.keys(value)) {
      if (!(key in TRAIN_DEFAULTS[section])) errors.push(`${section}: unknown key '${key}'`);
    }
  }
  const distUser = user.distributed;
  if (distUser !== undefined && distUser !== null && !isObj(distUser)) {
    errors.push("distributed: must be an object or null");
  } else if (isObj(distUser)) {
    for (const key of Object.keys(distUser)) {
      if (!(key in DISTRIBUTED_DEFAULTS)) errors.push(`distributed: unknown key '${key}'`);
    }
  }
  if (errors.length) throw new TrainerError(errors.join("\n"));

  const cfg = structuredClone(TRAIN_DEFAULTS) as TrainConfig & Obj;
  for (const [key, value] of Object.entries(user)) {
    if ((SECTIONS as readonly string[]).includes(key) && value === null) continue; // null section = the defaults
    if ((SECTIONS as readonly string[]).includes(key) && isObj(value)) {
      Object.assign(cfg[key as typeof SECTIONS[number]], value);
    } else if (key === "distributed" && isObj(value)) {
      cfg.distributed = { ...DISTRIBUTED_DEFAULTS, ...value } as DistributedConfig;
    } else {
      (cfg as Obj)[key] = value;
    }
  }

  if (typeof cfg.name !== "string" || !cfg.name.trim()) errors.push("name: must be a non-empty string");
  if (typeof cfg.base_model !== "string" || !cfg.base_model.trim()) {
    errors.push("base_model: must be a Hugging Face model id or a local path");
  }
  if (cfg.dataset_dir !== null && (typeof cfg.dataset_dir !== "string" || !cfg.dataset_dir)) {
    errors.push("dataset_dir: must be a folder path holding train.jsonl and test.jsonl");
  }
  if (!["qlora", "lora", "full", "grpo"].includes(cfg.method)) {
    errors.push("method: must be one of qlora, lora, full, grpo");
  }

  const l = cfg.lora;
  if (!isInt(l.r) || l.r < 1) errors.push("lora.r: must be a positive integer");
  if (!isNum(l.alpha) || l.alpha <= 0) errors.push("lora.alpha: must be a positive number");
  if (!isNum(l.dropout) || l.dropout < 0 || l.dropout >= 1) errors.push("lora.dropout: must be in [0, 1)");
  const tm: unknown = l.target_modules;
  if (
    !(tm === "all-linear" ||
      (Array.isArray(tm) && tm.length > 0 && tm.every((t) => typeof t === "string" && t)))
  ) errors.push('lora.target_modules: must be "all-linear" or a non-empty list of module names');

  const t = cfg.training as unknown as Obj;
  for (const key of ["epochs", "learning_rate", "max_grad_norm"]) {
    if (!isNum(t[key]) || (t[key] as number) <= 0) errors.push(`training.${key}: must be a positive number`);
  }
  if (!isNum(t.weight_decay) || t.weight_decay < 0) {
    errors.push("training.weight_decay: must be a number >= 0");
  }
  if (!isNum(t.warmup_ratio) || t.warmup_ratio < 0 || t.warmup_ratio >= 1) {
    errors.push("training.warmup_ratio: must be in [0, 1)");
  }
  for (
    const key of [
      "per_device_batch_size",
      "per_device_eval_batch_size",
      "gradient_accumulation_steps",
      "logging_steps",
      "save_steps",
      "save_total_limit",
    ]
  ) {
    if (!isInt(t[key]) || (t[key] as number) < 1) errors.push(`training.${key}: must be a positive integer`);
  }
  if (!isInt(t.max_length) || t.max_length < 16) errors.push("training.max_length: must be an integer >= 16");
  if (!isInt(t.max_steps) || (t.max_steps < 1 && t.max_steps !== -1)) {
    errors.push("training.max_steps: must be -1 (use epochs) or a positive integer");
  }
  if (!isInt(t.seed)) errors.push("training.seed: must be an integer");
  if (!SCHEDULERS.includes(t.lr_scheduler as string)) {
    errors.push(`training.lr_scheduler: must be one of ${SCHEDULERS.join(", ")}`);
  }
  if (!OPTIMIZERS.includes(t.optim as string)) {
    errors.push(
      `training.optim: ${
        JSON.stringify(t.optim)
      } is not a transformers optimizer name (e.g. adamw_torch_fused, adamw_torch, paged_adamw_8bit, adafactor, sgd)`,
    );
  }
  for (const key of ["gradient_checkpointing", "bf16", "resume"]) {
    if (typeof t[key] !== "boolean") errors.push(`training.${key}: must be true or false`);
  }
  for (const key of ["eval_strategy", "save_strategy"]) {
    if (!STRATEGIES.includes(t[key] as string)) {
      errors.push(`training.${key}: must be one of ${STRATEGIES.join(", ")}`);
    }
  }
  if (t.eval_steps !== null && (!isInt(t.eval_steps) || t.eval_steps < 1)) {
    errors.push("training.eval_steps: must be null or a positive integer");
  }
  if (t.eval_strategy === "steps" && t.eval_steps === null) {
    errors.push('training.eval_steps: required when eval_strategy is "steps"');
  }
  errors.push(...grpoErrors(cfg.grpo));
  if (typeof cfg.output.merge !== "boolean") errors.push("output.merge: must be true or false");
  if (typeof cfg.container.image !== "string" || !cfg.container.image) {
    errors.push("container.image: must be an image name");
  }
  if (typeof cfg.container.shm_size !== "string" || !cfg.container.shm_size) {
    errors.push('container.shm_size: must be a size such as "16g"');
  }
  const d = cfg.distributed;
  if (d !== null) {
    if (!["accelerate", "torchrun"].includes(d.launcher)) {
      errors.push("distributed.launcher: must be one of accelerate, torchrun");
    }
    if (!isInt(d.num_processes) || d.num_processes < 1) {
      errors.push("distributed.num_processes: must be a positive integer");
    }
    if (typeof d.fsdp !== "boolean") errors.push("distributed.fsdp: must be true or false");
    if (d.fsdp_layer_cls !== null && (typeof d.fsdp_layer_cls !== "string" || !d.fsdp_layer_cls)) {
      errors.push("distributed.fsdp_layer_cls: must be null or a decoder layer class name");
    }
    if (d.fsdp === true && cfg.output.merge === true) {
      errors.push("output.merge: not supported with distributed.fsdp; merge the adapter afterwards");
    }
  }
  if (cfg.method === "grpo" && errors.length === 0) {
    const batch = cfg.training.per_device_batch_size * cfg.training.gradient_accumulation_steps *
      (d ? d.num_processes : 1);
    if (batch % cfg.grpo.num_generations !== 0) {
      // TRL samples one generation batch per optimizer step, K completions per prompt.
      errors.push(
        `grpo.num_generations: ${cfg.grpo.num_generations} must divide the completions per step (per_device_batch_size × gradient_accumulation_steps × processes = ${batch})`,
      );
    }
    if (d?.fsdp) errors.push("method: grpo is not supported with distributed.fsdp (use DDP or one GPU)");
  }
  if (errors.length) throw new TrainerError(errors.join("\n"));
  return cfg;
}

/**
 * Reads and validates a config file; `dataset_dir` comes back absolute (resolved against the config's folder).
 *
 * @throws {TrainerError} when the file is missing, not JSON, or invalid.
 */
export async function loadTrainConfig(file: string): Promise<TrainConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new TrainerError(`${file}: cannot read config (${(e as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new TrainerError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  let cfg: TrainConfig;
  try {
    cfg = validateTrainConfig(parsed);
  } catch (e) {
    if (e instanceof TrainerError) {
      throw new TrainerError(e.message.split("\n").map((line) => `${file}: ${line}`).join("\n"));
    }
    throw e;
  }
  if (cfg.dataset_dir) cfg.dataset_dir = path.resolve(path.dirname(path.resolve(file)), cfg.dataset_dir);
  if (cfg.grpo.db_root) cfg.grpo.db_root = path.resolve(path.dirname(path.resolve(file)), cfg.grpo.db_root);
  return cfg;
}

// ------------------------------------------------------------------------------------------------ dataset

const ROLES = ["system", "user", "assistant"];

/** Problems with one parsed dataset line (empty when it is a valid conversation ending in an assistant answer). */
export function validateExample(obj: unknown, options: { grpo?: boolean } = {}): string[] {
  if (!isObj(obj)) return ["not a JSON object"];
  if (options.grpo) return validateGrpoExample(obj);
  const msgs = obj.messages;
  if (!Array.isArray(msgs) || msgs.length === 0) return ['missing "messages" array'];
  const problems: string[] = [];
  msgs.forEach((m, i) => {
    if (!isObj(m)) return problems.push(`messages[${i}] is not an object`);
    if (!ROLES.includes(m.role as string)) {
      problems.push(`messages[${i}].role must be one of ${ROLES.join(", ")}`);
    }
    if (typeof m.content !== "string") problems.push(`messages[${i}].content must be a string`);
  });
  if (problems.length) return problems;
  const roles = (msgs as Obj[]).map((m) => m.role as string);
  const body = roles[0] === "system" ? roles.slice(1) : roles;
  if (body.includes("system")) {
    problems.push("a system message may only come first");
  } else if (
    body.length === 0 || body.length % 2 !== 0 ||
    body.some((r, i) => r !== (i % 2 === 0 ? "user" : "assistant"))
  ) problems.push("turns must alternate user/assistant after the optional system message");
  const last = msgs[msgs.length - 1] as Obj;
  if (last.role !== "assistant") problems.push("the last message must be the assistant answer");
  else if (!(last.content as string).trim()) problems.push("the assistant answer is empty");
  return problems;
}

/**
 * Problems of one GRPO prompt row (`deno task sft --format grpo`): a conversation ending in the user turn, the
 * gold SQL, and the database path relative to the database root (never absolute, never leaving it).
 */
export function validateGrpoExample(obj: Obj): string[] {
  const msgs = obj.messages;
  if (!Array.isArray(msgs) || msgs.length === 0) return ['missing "messages" array'];
  const problems: string[] = [];
  msgs.forEach((m, i) => {
    if (!isObj(m) || !ROLES.includes(m.role as string) || typeof m.content !== "string") {
      problems.push(`messages[${i}] must be {role: system|user|assistant, content: string}`);
    }
  });
  if (!problems.length && (msgs[msgs.length - 1] as Obj).role !== "user") {
    problems.push("a GRPO prompt must end with the user turn (the model writes the answer)");
  }
  if (typeof obj.gold_sql !== "string" || !obj.gold_sql.trim()) problems.push('missing "gold_sql"');
  if (typeof obj.db_id !== "string" || !obj.db_id) problems.push('missing "db_id"');
  const p = obj.db_path;
  if (typeof p !== "string" || !p) problems.push('missing "db_path"');
  else if (path.isAbsolute(p) || path.normalize(p).split(path.sep).includes("..")) {
    problems.push(`db_path ${JSON.stringify(p)} must be relative to the database root, inside it`);
  }
  return problems;
}

/** Characters per token of the length estimate: a rough figure for Llama 3 on English, SQL and schemas. */
export const CHARS_PER_TOKEN = 3.5;

/** The estimated token length of a conversation: its message characters / {@link CHARS_PER_TOKEN}. */
export function estimateTokens(obj: unknown): number {
  const msgs = isObj(obj) && Array.isArray(obj.messages) ? obj.messages : [];
  const chars = msgs.reduce((n: number, m) => n + (isObj(m) ? String(m.content ?? "").length : 0), 0);
  return Math.ceil(chars / CHARS_PER_TOKEN);
}

/** What {@link validateDataset} found. */
export interface DatasetReport {
  /** Valid examples per split (`test` is 0 when the file is absent and not required). */
  train: number;
  test: number;
  /** Examples estimated longer than `maxLength` (train.py drops them); 0 without `maxLength`. */
  tooLong: { train: number; test: number };
  /** One line each, meant for the user: a split where more than 10% are estimated too long. */
  warnings: string[];
}

/**
 * Checks `train.jsonl` and `test.jsonl` in a dataset folder (the output of `deno task sft`/`cot`).
 *
 * `maxLength`: estimate each example's length (characters / {@link CHARS_PER_TOKEN}; an estimate, the real
 * tokenizer runs in train.py) and refuse when no training example fits, warn when more than 10% of a split
 * would be dropped. `requireTest: false` (evaluation off) accepts a missing or empty `test.jsonl`.
 *
 * @throws {TrainerError} with up to `maxErrors` problems as `file:line: reason`.
 */
export async function validateDataset(
  dir: string,
  options: { maxErrors?: number; maxLength?: number; requireTest?: boolean; grpo?: boolean } = {},
): Promise<DatasetReport> {
  const maxErrors = options.maxErrors ?? 20;
  const requireTest = options.requireTest ?? true;
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw new Error("not a folder");
  } catch {
    throw new TrainerError(
      `${dir}: dataset folder not found (expected train.jsonl and test.jsonl from deno task sft)`,
    );
  }
  const errors: string[] = [];
  const counts = { train: 0, test: 0 };
  const tooLong = { train: 0, test: 0 };
  let shortest = Infinity;
  for (const split of ["train", "test"] as const) {
    const file = path.join(dir, `${split}.jsonl`);
    const optional = split === "test" && !requireTest;
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch {
      if (!optional) errors.push(`${file}: missing`);
      continue;
    }
    const before = errors.length;
    text.split("\n").forEach((line, i) => {
      if (!line.trim()) return;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch {
        errors.push(`${file}:${i + 1}: not valid JSON`);
        return;
      }
      const problems = validateExample(obj, { grpo: options.grpo });
      if (problems.length) errors.push(...problems.map((p) => `${file}:${i + 1}: ${p}`));
      else {
        counts[split]++;
        const tokens = estimateTokens(obj);
        if (options.maxLength !== undefined && tokens > options.maxLength) tooLong[split]++;
        if (split === "train") shortest = Math.min(shortest, tokens);
      }
    });
    if (counts[split] === 0 && errors.length === before && !optional) errors.push(`${file}: no examples`);
  }
  if (errors.length) {
    const more = errors.length > maxErrors ? `\n… and ${errors.length - maxErrors} more` : "";
    throw new TrainerError(errors.slice(0, maxErrors).join("\n") + more);
  }
  const max = options.maxLength;
  if (max !== undefined && counts.train > 0 && tooLong.train === counts.train) {
    throw new TrainerError(
      `training.max_length ${max} is below every training example (shortest ~${shortest} tokens, estimated at ${CHARS_PER_TOKEN} chars/token): train.py would drop them all`,
    );
  }
  const warnings: string[] = [];
  for (const split of ["train", "test"] as const) {
    if (max !== undefined && tooLong[split] > 0.1 * counts[split]) {
      warnings.push(
        `${tooLong[split]} of ${
          counts[split]
        } ${split} examples are estimated longer than training.max_length ${max} (${CHARS_PER_TOKEN} chars/token) and would be dropped`,
      );
    }
  }
  return { ...counts, tooLong, warnings };
}

// ------------------------------------------------------------------------------------------------ run folder

/** The file in a run folder that records what its checkpoints depend on (written by train.py). */
export const FINGERPRINT_FILE = "run_fingerprint.json";

/**
 * What the checkpoints of a run depend on: the adapter's and the optimizer state's shapes, and the data. Same
 * keys and values as `run_fingerprint` in `trainer/text2sql_trainer/run.py`. Step counts, epochs, learning rate
 * and batch size are left out on purpose: changing them and resuming is how a run is extended.
 */
export interface RunFingerprint {
  /** The original base model: an absolute host folder or a hub id (never the container's `/base`). */
  base_model: string | null;
  method: string;
  "lora.r": number;
  "lora.alpha": number;
  "lora.target_modules": "all-linear" | string[];
  "training.max_length": number;
  "training.optim": string;
  "distributed.fsdp": boolean;
  /** Hex SHA-256 of `train.jsonl` and `test.jsonl` (null for a missing file); null when not recorded. */
  dataset: { train: string | null; test: string | null } | null;
}

/** The streamed SHA-256 of a file (a multi-GB train.jsonl never sits in memory), null when it is missing. */
async function fileSha256OrNull(file: string): Promise<string | null> {
  try {
    return await fileSha256(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** SHA-256 of a dataset folder's `train.jsonl` and `test.jsonl` bytes: its content, not its path. */
export async function datasetHash(dir: string): Promise<{ train: string | null; test: string | null }> {
  return {
    train: await fileSha256OrNull(path.join(dir, "train.jsonl")),
    test: await fileSha256OrNull(path.join(dir, "test.jsonl")),
  };
}

/** The base model as recorded: an existing local folder as an absolute path, a hub id as given. */
export function baseModelSource(base: string): string {
  return isLocalModel(base) ? path.resolve(base) : base;
}

/** The config's part of a fingerprint; one mapping for a new run and for an old folder's `train_config.json`. */
function fingerprintOf(
  config: Pick<TrainConfig, "method" | "lora" | "training" | "distributed">,
  baseModel: string | null,
  dataset: RunFingerprint["dataset"],
): RunFingerprint {
  const d = config.distributed;
  return {
    base_model: baseModel,
    method: config.method,
    "lora.r": config.lora.r,
    "lora.alpha": config.lora.alpha,
    "lora.target_modules": config.lora.target_modules,
    "training.max_length": config.training.max_length,
    "training.optim": config.training.optim,
    // FSDP checkpoints store sharded optimizer state; a plain run cannot load them, nor the reverse.
    "distributed.fsdp": Boolean(d && d.fsdp && (d.num_processes ?? 1) > 1),
    dataset,
  };
}

/** The fingerprint of a run of `config` on the dataset in `datasetDir`. */
export async function runFingerprint(config: TrainConfig, datasetDir: string): Promise<RunFingerprint> {
  return fingerprintOf(config, baseModelSource(config.base_model), await datasetHash(datasetDir));
}

/**
 * The fingerprint a previous run left in `outDir`, or null for a new folder. Folders written before the
 * fingerprint existed fall back to their `train_config.json`: dataset unknown, and a recorded `/base` (the
 * container path older versions wrote) is not compared.
 */
export async function readPreviousFingerprint(outDir: string): Promise<Partial<RunFingerprint> | null> {
  const read = async (file: string): Promise<unknown> => {
    try {
      return JSON.parse(await Deno.readTextFile(path.join(outDir, file)));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return undefined;
      throw new TrainerError(`${path.join(outDir, file)}: cannot read (${(e as Error).message})`);
    }
  };
  const fp = await read(FINGERPRINT_FILE);
  if (isObj(fp)) return fp as Partial<RunFingerprint>;
  const cfg = await read("train_config.json");
  if (!isObj(cfg) || !isObj(cfg.lora) || !isObj(cfg.training)) return null;
  const base = typeof cfg.base_model === "string" && cfg.base_model !== "/base" ? cfg.base_model : null;
  // Written by train.py from a validated config, so it has the shape; only the sections are checked above.
  return fingerprintOf(
    { ...cfg, distributed: isObj(cfg.distributed) ? cfg.distributed : null } as unknown as TrainConfig,
    base,
    null,
  );
}

/** `key (old → new)` for each difference; a value the previous run did not record (null) is not compared. */
export function fingerprintDifferences(previous: Partial<RunFingerprint>, current: RunFingerprint): string[] {
  const diffs: string[] = [];
  for (const [key, now] of Object.entries(current)) {
    const old = (previous as Obj)[key];
    if (old === null || old === undefined || JSON.stringify(old) === JSON.stringify(now)) continue;
    if (key === "dataset") {
      const o = old as Obj;
      const n = (now ?? {}) as Obj;
      const changed = (["train", "test"] as const).filter((s) => o[s] !== n[s]).map((s) => `${s}.jsonl`);
      diffs.push(`dataset (${changed.join(", ")} content differs)`);
    } else diffs.push(`${key} (${JSON.stringify(old)} → ${JSON.stringify(now)})`);
  }
  return diffs;
}

/**
 * Refuses a run folder that holds a previous run whose checkpoints this run must not resume (another dataset,
 * base model, method, LoRA shape, max length or optimizer). Only reads files, so a dry run checks it too.
 *
 * @throws {TrainerError} one line listing the differences.
 */
export async function checkRunFolder(outDir: string, config: TrainConfig, datasetDir: string): Promise<void> {
  const previous = await readPreviousFingerprint(outDir);
  if (!previous) return;
  const diffs = fingerprintDifferences(previous, await runFingerprint(config, datasetDir));
  if (diffs.length) {
    throw new TrainerError(
      `${outDir} holds a previous run that differs in ${
        diffs.join("; ")
      }: resuming would mix the two; use another --out, or delete it to start over`,
    );
  }
}

// ------------------------------------------------------------------------------------------------ commands

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

function defaultHfCache(): string {
  const hfHome = Deno.env.get("HF_HOME");
  if (hfHome) return path.resolve(hfHome);
  return path.join(Deno.env.get("HOME") ?? ".", ".cache", "huggingface");
}

function currentUser(): string | null {
  try {
    const uid = Deno.uid();
    const gid = Deno.gid();
    return uid === null || gid === null ? null : `${uid}:${gid}`;
  } catch {
    return null; // no --allow-sys: run as the image's user
  }
}

/** Whether a base model names an existing local folder (mounted into the container; no token needed). */
function isLocalModel(base: string): boolean {
  try {
    return Deno.statSync(base).isDirectory;
  } catch {
    return false;
  }
}

/** The container engine's GPU flags: podman reaches NVIDIA GPUs through CDI, docker through `--gpus`. */
function gpuArgs(engine: "docker" | "podman"): string[] {
  // SELinux labels would block podman's bind mounts on Fedora/RHEL hosts.
  return engine === "podman"
    ? ["--device", "nvidia.com/gpu=all", "--security-opt", "label=disable"]
    : ["--gpus", "all"];
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

// ------------------------------------------------------------------------------------------------ metrics

/** Any JSON object line the trainer prints on stdout (`type` tells which). */
export interface MetricLine {
  type: string;
  [key: string]: unknown;
}
/** One logging step of training. */
export interface TrainMetric extends MetricLine {
  type: "train";
  step: number;
  epoch: number | null;
  loss: number | null;
  lr: number | null;
  grad_norm: number | null;
  tokens_per_s: number | null;
  gpu_mem_gb: number | null;
}
/** One evaluation on `test.jsonl`. */
export interface EvalMetric extends MetricLine {
  type: "eval";
  step: number;
  epoch: number | null;
  eval_loss: number | null;
}
/** Narrows a metric line to a train step. */
export const isTrainMetric = (m: MetricLine): m is TrainMetric => m.type === "train";
/** Narrows a metric line to an evaluation. */
export const isEvalMetric = (m: MetricLine): m is EvalMetric => m.type === "eval";

/** The metric object on a line, or null for a log line (anything that is not a JSON object with a string `type`). */
export function parseMetricLine(line: string): MetricLine | null {
  const s = line.trim();
  if (!s.startsWith("{")) return null;
  try {
    const obj = JSON.parse(s);
    return isObj(obj) && typeof obj.type === "string" ? obj as MetricLine : null;
  } catch {
    return null;
  }
}

/**
 * Reads a metrics JSONL file (a run's `metrics.jsonl` or {@link SAMPLE_METRICS}) into an array, skipping log
 * lines and a torn last line.
 */
export async function readMetrics(file: string): Promise<MetricLine[]> {
  const text = await Deno.readTextFile(file);
  return text.split("\n").map(parseMetricLine).filter((m): m is MetricLine => m !== null);
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i).replace(/\r$/, "");
      buf = buf.slice(i + 1);
    }
  }
  if (buf) yield buf;
}

/** Callbacks of {@link runTraining}. */
export interface RunTrainingOptions {
  /** Called with each metric line as it arrives (the notebook's live loss chart). */
  onMetric?: (m: MetricLine) => void;
  /** Called with each non-metric line (stdout log lines and all of stderr); default: written to stderr. */
  onLog?: (line: string, stream: "stdout" | "stderr") => void;
  /** Aborting kills the trainer process (SIGTERM; the engine forwards it to the container). */
  signal?: AbortSignal;
}

/** The outcome of {@link runTraining}. */
export interface TrainResult {
  /** The trainer's exit code. */
  code: number;
  /** Metric lines received (also appended to `metricsPath`). */
  metrics: MetricLine[];
  metricsPath: string;
  logPath: string;
}

/**
 * Runs a plan's command, streaming stdout metric lines into `<outDir>/metrics.jsonl` (appended, so a resumed run
 * keeps its history) and to `onMetric`; every other line goes to `onLog` and `<outDir>/train.log`. Non-JSON
 * stdout lines (library prints) are tolerated. Does not check engines or GPUs: see {@link preflight}.
 */
export async function runTraining(plan: TrainPlan, options: RunTrainingOptions = {}): Promise<TrainResult> {
  await Deno.mkdir(plan.outDir, { recursive: true });
  const metricsPath = path.join(plan.outDir, "metrics.jsonl");
  const logPath = path.join(plan.outDir, "train.log");
  const metricsFile = await Deno.open(metricsPath, { append: true, create: true });
  const logFile = await Deno.open(logPath, { append: true, create: true });
  const enc = new TextEncoder();
  const onLog = options.onLog ?? ((line: string) => console.error(line));
  const metrics: MetricLine[] = [];
  try {
    const child = new Deno.Command(plan.command[0], {
      args: plan.command.slice(1),
      env: plan.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const kill = () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
    };
    options.signal?.addEventListener("abort", kill, { once: true });
    const out = (async () => {
      for await (const line of lines(child.stdout)) {
        const m = parseMetricLine(line);
        if (m) {
          // Written line by line, so a notebook (or tail -f) sees the run live and a crash loses nothing.
          await metricsFile.write(enc.encode(JSON.stringify(m) + "\n"));
          metrics.push(m);
          options.onMetric?.(m);
        } else if (line.trim()) {
          await logFile.write(enc.encode(line + "\n"));
          onLog(line, "stdout");
        }
      }
    })();
    const err = (async () => {
      for await (const line of lines(child.stderr)) {
        await logFile.write(enc.encode(line + "\n"));
        onLog(line, "stderr");
      }
    })();
    const [status] = await Promise.all([child.status, out, err]);
    options.signal?.removeEventListener("abort", kill);
    return { code: status.code, metrics, metricsPath, logPath };
  } finally {
    metricsFile.close();
    logFile.close();
  }
}

// ------------------------------------------------------------------------------------------------ preflight

/** Runs a probe command; injectable so tests can fake a machine without docker or a GPU. */
export type Probe = (cmd: string, args: string[]) => Promise<{ ok: boolean; stdout: string }>;

/** The real probe: runs the command, false when it is missing or fails. */
export const systemProbe: Probe = async (cmd, args) => {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null", stdin: "null" })
      .output();
    return { ok: out.success, stdout: new TextDecoder().decode(out.stdout) };
  } catch {
    return { ok: false, stdout: "" };
  }
};

/** The first container engine that answers (`docker`, then `podman`), or null. */
export async function detectRuntime(probe: Probe = systemProbe): Promise<"docker" | "podman" | null> {
  for (const engine of ["docker", "podman"] as const) {
    if ((await probe(engine, ["--version"])).ok) return engine;
  }
  return null;
}

/**
 * Checks what a real run needs, failing with a one-line message: the container engine, an NVIDIA GPU
 * (`nvidia-smi`; enough of them for `distributed.num_processes`), and `HF_TOKEN` unless the base model is a
 * local folder. Never called by a dry run.
 *
 * @throws {TrainerError} (exit code 1).
 */
export async function preflight(
  config: TrainConfig,
  runtime: Runtime,
  options: { probe?: Probe; env?: (name: string) => string | undefined; python?: string } = {},
): Promise<void> {
  const probe = options.probe ?? systemProbe;
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  if (runtime !== "local" && !(await probe(runtime, ["--version"])).ok) {
    throw new TrainerError(`${runtime} not found: install it, or pass --runtime local on a GPU machine`, 1);
  }
  const python = options.python ?? "python3";
  if (runtime === "local" && !(await probe(python, ["-c", "import torch, transformers, peft"])).ok) {
    throw new TrainerError(
      `${python} cannot import torch, transformers and peft: pip install -r trainer/requirements.txt (and torch)`,
      1,
    );
  }
  const gpus = await probe("nvidia-smi", ["-L"]);
  const count = gpus.stdout.split("\n").filter((l) => l.startsWith("GPU ")).length;
  if (!gpus.ok || count === 0) {
    throw new TrainerError("no NVIDIA GPU: nvidia-smi is missing or failed; training needs a CUDA GPU", 1);
  }
  const wanted = config.distributed?.num_processes ?? 1;
  if (count < wanted) {
    throw new TrainerError(`distributed.num_processes is ${wanted} but nvidia-smi lists ${count} GPU(s)`, 1);
  }
  if (!env("HF_TOKEN") && !isLocalModel(config.base_model)) {
    throw new TrainerError(
      `HF_TOKEN is not set: export a Hugging Face token with access to ${config.base_model} (passed by name, never written)`,
      1,
    );
  }
}

// ------------------------------------------------------------------------------------------------ train CLI

const HELP_FLAG = { help: { type: "boolean", short: "h", default: false } } as const;

/**
 * Parses a subcommand's flags (strict, no positionals, `-h/--help` added). Returns the exit code instead when
 * there is nothing to run: 0 after printing the usage for `--help`, 2 after printing the error and the usage.
 */
function parseCli<O extends ParseArgsOptionsConfig>(
  prefix: string,
  argv: string[],
  options: O,
  usage: string,
) {
  const config = {
    args: argv,
    options: { ...options, ...HELP_FLAG },
    strict: true,
    allowPositionals: false,
  } as const;
  let values;
  try {
    ({ values } = parseArgs(config));
  } catch (e) {
    console.error(`${prefix}: ${(e as Error).message}\n${usage}`);
    return 2;
  }
  // `values.help` is not visible through the generic options; the flag is always there.
  if ((values as { help?: boolean }).help) {
    console.log(usage);
    return 0;
  }
  return values;
}

/**
 * The runtime a subcommand uses: the one given, else (real runs only) the first container engine that answers.
 * A dry run names docker when no engine is given: it must not probe for one (the contract).
 *
 * @throws {TrainerError} (exit code 1) when a real run finds no engine; `hint` ends the message.
 */
async function chooseRuntime(given: string | undefined, dryRun: boolean, hint: string): Promise<Runtime> {
  if (given || dryRun) return (given as Runtime | undefined) ?? "docker";
  const found = await detectRuntime();
  if (!found) throw new TrainerError(`no container engine: install docker or podman, or ${hint}`, 1);
  return found;
}

/** Prints a {@link TrainerError} one `prefix:` line per problem and returns its exit code; rethrows anything else. */
function reportTrainerError(prefix: string, e: unknown): number {
  if (!(e instanceof TrainerError)) throw e;
  console.error(e.message.split("\n").map((l) => `${prefix}: ${l}`).join("\n"));
  return e.exitCode;
}

function utcStamp(): string {
  return new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

function formatMetricForConsole(m: MetricLine): string {
  const f = (v: unknown, d = 4) => typeof v === "number" ? v.toFixed(d) : String(v);
  if (isTrainMetric(m)) {
    return `step ${m.step}  epoch ${f(m.epoch, 2)}  loss ${f(m.loss)}  lr ${f(m.lr, 6)}  ${
      f(m.tokens_per_s, 0)
    } tok/s  ${f(m.gpu_mem_gb, 1)} GiB`;
  }
  if (isEvalMetric(m)) return `step ${m.step}  eval_loss ${f(m.eval_loss)}`;
  return JSON.stringify(m);
}

const TRAIN_USAGE =
  `usage: deno task train [--config F] [--dataset DIR] [--out DIR] [--runtime docker|podman|local] [--dry-run]
  --config F     trainer config JSON (default: trainer/configs/llama31_8b_qlora.json, the sample)
  --dataset DIR  folder with train.jsonl/test.jsonl from deno task sft (default: the config's dataset_dir)
  --out DIR      run folder (default: runs/train/<UTC timestamp>-<name>); an existing one resumes (refused
                 when its run differs in dataset, base model, method, LoRA shape, max_length or optim)
  --runtime R    docker, podman or local (default: docker, else podman)
  --python P     python for --runtime local (default: python3)
  --dry-run      validate the config and the dataset and print the command; checks no engine, GPU or token`;

/**
 * `deno task train`: validates the config and the dataset, then prints the command (`--dry-run`) or checks the
 * engine, GPU and token and runs it, streaming metrics into `<out>/metrics.jsonl`.
 *
 * @returns the exit code: 0 done, 1 environment problem or failed run, 2 invalid arguments/config/dataset.
 */
export async function trainCommand(argv: string[]): Promise<number> {
  const values = parseCli("train", argv, {
    config: { type: "string" },
    dataset: { type: "string" },
    out: { type: "string" },
    runtime: { type: "string" },
    python: { type: "string" },
    "dry-run": { type: "boolean", default: false },
  }, TRAIN_USAGE);
  if (typeof values === "number") return values;
  if (values.runtime !== undefined && !RUNTIMES.includes(values.runtime as Runtime)) {
    console.error(`train: --runtime must be one of ${RUNTIMES.join(", ")}`);
    return 2;
  }
  const dryRun = values["dry-run"];
  const configPath = values.config ?? DEFAULT_TRAIN_CONFIG;
  try {
    const config = await loadTrainConfig(configPath);
    const datasetDir = values.dataset ? path.resolve(values.dataset) : config.dataset_dir;
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
    const runtime = await chooseRuntime(values.runtime, dryRun, "pass --runtime local on a GPU machine");
    const outDir = values.out ?? path.join("runs", "train", `${utcStamp()}-${config.name}`);
    const plan = buildTrainCommand(config, {
      runtime,
      configPath,
      datasetDir,
      outDir,
      python: values.python,
    });
    // Before anything starts (dry runs too: it only reads): a folder holding another run must not be resumed.
    await checkRunFolder(plan.outDir, config, datasetDir);
    if (dryRun) {
      console.log(
        `# config: ${path.resolve(configPath)} (valid; ${config.method}, base ${config.base_model})`,
      );
      console.log(`# dataset: ${datasetDir} (train ${counts.train}, test ${counts.test} examples)`);
      if (plan.build) console.log(`# build the image once: ${formatCommand(plan.build)}`);
      console.log(`# run folder: ${plan.outDir}`);
      console.log(formatCommand(plan.command));
      return 0;
    }
    await preflight(config, plan.runtime, { python: values.python });
    await Deno.mkdir(plan.outDir, { recursive: true });
    await Deno.mkdir(plan.hfCache, { recursive: true });
    if (plan.build && plan.image) {
      const exists = await systemProbe(plan.runtime, ["image", "inspect", plan.image]);
      if (!exists.ok) {
        console.error(`building ${plan.image}: ${formatCommand(plan.build)}`);
        const built = await new Deno.Command(plan.build[0], { args: plan.build.slice(1) }).spawn().status;
        if (!built.success) throw new TrainerError(`image build failed (exit ${built.code})`, 1);
      }
    }
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
  } catch (e) {
    return reportTrainerError("train", e);
  }
}

// ------------------------------------------------------------------------------------------------ serve

/** The smallest `--max-lora-rank` vLLM accepts that holds rank `r`. @throws {TrainerError} above 512. */
export function vllmLoraRank(r: number): number {
  if (!Number.isInteger(r) || r < 1) throw new TrainerError(`invalid LoRA rank ${r}`);
  const rank = VLLM_LORA_RANKS.find((v) => v >= r);
  if (rank === undefined) {
    throw new TrainerError(`LoRA rank ${r} exceeds vLLM's maximum (${VLLM_LORA_RANKS.at(-1)})`);
  }
  return rank;
}

/** The parts of `adapter_config.json` serving needs. */
export interface AdapterInfo {
  /** The default rank `r`. */
  r: number;
  /** The largest rank of any module: `r` or a `rank_pattern` override (what `--max-lora-rank` must hold). */
  maxRank: number;
  baseModel: string | null;
}

/**
 * Reads rank and base model from an adapter folder's `adapter_config.json`; `maxRank` also covers
 * `rank_pattern`, which gives some modules another rank than `r` (`alpha_pattern` does not change shapes).
 *
 * @throws {TrainerError}
 */
export async function readAdapterConfig(dir: string): Promise<AdapterInfo> {
  const file = path.join(dir, "adapter_config.json");
  let obj: unknown;
  try {
    obj = JSON.parse(await Deno.readTextFile(file));
  } catch (e) {
    throw new TrainerError(`${file}: cannot read adapter config (${(e as Error).message})`);
  }
  if (!isObj(obj) || !isInt(obj.r) || obj.r < 1) throw new TrainerError(`${file}: no positive integer "r"`);
  const base = typeof obj.base_model_name_or_path === "string" && obj.base_model_name_or_path
    ? obj.base_model_name_or_path
    : null;
  let maxRank = obj.r;
  if (isObj(obj.rank_pattern)) {
    for (const [key, rank] of Object.entries(obj.rank_pattern)) {
      if (!isInt(rank) || rank < 1) {
        throw new TrainerError(`${file}: rank_pattern["${key}"] is not a positive integer`);
      }
      maxRank = Math.max(maxRank, rank);
    }
  }
  return { r: obj.r, maxRank, baseModel: base };
}

/** What {@link buildServeCommand} needs. */
export interface ServeOptions {
  runtime: Runtime;
  adapterDir: string;
  baseModel: string;
  /** The name the adapter is served under (the `--model` of `deno task eval`). */
  name: string;
  /** The adapter's largest LoRA rank, `rank_pattern` included (rounded up to a rank vLLM accepts). */
  rank: number;
  port: number;
  maxModelLen: number;
  image?: string;
  hfCache?: string;
}

/** A resolved serve command. */
export interface ServePlan {
  command: string[];
  /** OpenAI base URL once it answers, e.g. `http://127.0.0.1:8000/v1`. */
  baseUrl: string;
  name: string;
  maxLoraRank: number;
}

/**
 * Builds the `vllm serve` command (in the vLLM container or local) that serves the base model with the adapter
 * as a LoRA module named `name`, listening on 127.0.0.1 only.
 */
export function buildServeCommand(options: ServeOptions): ServePlan {
  const maxLoraRank = vllmLoraRank(options.rank);
  const adapterDir = path.resolve(options.adapterDir);
  const vllmArgs = (base: string, adapter: string, host: string, port: number) => [
    base,
    "--host",
    host,
    "--port",
    String(port),
    "--enable-lora",
    "--lora-modules",
    `${options.name}=${adapter}`,
    "--max-lora-rank",
    String(maxLoraRank),
    "--max-model-len",
    String(options.maxModelLen),
  ];
  let command: string[];
  if (options.runtime === "local") {
    command = ["vllm", "serve", ...vllmArgs(options.baseModel, adapterDir, "127.0.0.1", options.port)];
  } else {
    const engine = options.runtime;
    const hfCache = path.resolve(options.hfCache ?? defaultHfCache());
    command = [engine, "run", "--rm", ...gpuArgs(engine)];
    // Published on loopback only: the server has no authentication.
    command.push("--shm-size", "16g", "-p", `127.0.0.1:${options.port}:8000`, "-e", "HF_TOKEN");
    command.push("-v", `${hfCache}:/root/.cache/huggingface`, "-v", `${adapterDir}:/adapter:ro`);
    let base = options.baseModel;
    if (isLocalModel(base)) {
      command.push("-v", `${path.resolve(base)}:/base:ro`);
      base = "/base";
    }
    command.push("--entrypoint", "vllm", options.image ?? DEFAULT_VLLM_IMAGE, "serve");
    command.push(...vllmArgs(base, "/adapter", "0.0.0.0", 8000));
  }
  return { command, baseUrl: `http://127.0.0.1:${options.port}/v1`, name: options.name, maxLoraRank };
}

/**
 * Polls `GET <baseUrl>/models` until it answers 200 (and lists `model`, when given), then returns the model ids.
 *
 * @throws {TrainerError} on timeout, or as soon as `isAlive()` turns false (the server process died).
 */
export async function waitForServer(
  baseUrl: string,
  options: { timeoutMs?: number; intervalMs?: number; model?: string; isAlive?: () => boolean } = {},
): Promise<string[]> {
  const deadline = Date.now() + (options.timeoutMs ?? 900_000);
  const interval = options.intervalMs ?? 2000;
  const url = `${baseUrl.replace(/\/$/, "")}/models`;
  let last = "no answer";
  while (true) {
    if (options.isAlive && !options.isAlive()) {
      throw new TrainerError("the server exited before it answered", 1);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(Math.max(1000, interval * 2)) });
      if (res.ok) {
        const body = await res.json();
        const ids: string[] = Array.isArray(body?.data) ? body.data.map((d: Obj) => String(d.id)) : [];
        if (!options.model || ids.includes(options.model)) return ids;
        last = `answers, without ${options.model} (has ${ids.join(", ") || "nothing"})`;
      } else {
        await res.body?.cancel();
        last = `HTTP ${res.status}`;
      }
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() + interval > deadline) {
      throw new TrainerError(
        `${url} not ready after ${Math.round((options.timeoutMs ?? 900_000) / 1000)} s (${last})`,
        1,
      );
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** The `deno task eval` line that evaluates a served model through the same path as every other model. */
export function evalCommandLine(baseUrl: string, model: string, options: { dataset?: string } = {}): string {
  const dataset = options.dataset ?? "data/sample/dev.json";
  return formatCommand([
    "deno",
    "task",
    "eval",
    "--base-url",
    baseUrl,
    "--model",
    model,
    "--dataset",
    dataset,
  ]);
}

const SERVE_USAGE =
  `usage: deno task serve --adapter DIR [--base-model ID] [--name NAME] [--port 8000] [--max-model-len N]
                       [--runtime docker|podman|local] [--image IMG] [--timeout S] [--dataset F] [--dry-run]
  --adapter DIR       a trained LoRA adapter (adapter_config.json inside)
  --base-model ID     default: the adapter's base_model_name_or_path
  --name NAME         the served model name (default: text2sql-lora)
  --max-model-len N   context length (default 8192: BIRD prompts with schema fit with room for the answer)
  --timeout S         seconds to wait for the server to answer (default 900: the first start downloads the base)
  --dataset F         the dataset named in the printed eval line (default data/sample/dev.json)`;

/**
 * `deno task serve`: starts vLLM's OpenAI-compatible server with the adapter, waits until `/v1/models` lists
 * it, prints the `deno task eval` line, and keeps serving until interrupted. `--dry-run` prints the command
 * and the eval line without checking or starting anything.
 *
 * @returns the exit code: 0 served and stopped, 1 failed to start, 2 invalid arguments.
 */
export async function serveCommand(argv: string[]): Promise<number> {
  const values = parseCli("serve", argv, {
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
  }, SERVE_USAGE);
  if (typeof values === "number") return values;
  const port = Number(values.port);
  const maxModelLen = Number(values["max-model-len"]);
  const timeoutS = Number(values.timeout);
  const problems: string[] = [];
  if (!values.adapter) problems.push("--adapter DIR is required");
  if (!Number.isInteger(port) || port < 1 || port > 65535) problems.push("--port must be 1-65535");
  if (!Number.isInteger(maxModelLen) || maxModelLen < 16) {
    problems.push("--max-model-len must be an integer >= 16");
  }
  if (!(timeoutS > 0)) problems.push("--timeout must be a positive number of seconds");
  if (values.runtime !== undefined && !RUNTIMES.includes(values.runtime as Runtime)) {
    problems.push(`--runtime must be one of ${RUNTIMES.join(", ")}`);
  }
  if (!/^[A-Za-z0-9._-]+$/.test(values.name)) {
    problems.push("--name may use letters, digits, '.', '_' and '-'");
  }
  if (problems.length) {
    console.error(problems.map((p) => `serve: ${p}`).join("\n") + `\n${SERVE_USAGE}`);
    return 2;
  }
  try {
    const adapter = await readAdapterConfig(values.adapter!);
    const baseModel = values["base-model"] ?? adapter.baseModel;
    if (!baseModel) throw new TrainerError("the adapter names no base model: pass --base-model");
    // A path (not a hub id) must exist here: an adapter trained in a container may record its mount, `/base`.
    if (/^(\/|\.\.?\/|~)/.test(baseModel) && !isLocalModel(baseModel)) {
      throw new TrainerError(
        `base model ${baseModel} is not a folder on this machine (a path recorded inside the training container?): pass --base-model with the host folder or the hub id`,
      );
    }
    const runtime = await chooseRuntime(values.runtime, values["dry-run"], "pass --runtime local");
    const plan = buildServeCommand({
      runtime,
      adapterDir: values.adapter!,
      baseModel,
      name: values.name,
      rank: adapter.maxRank,
      port,
      maxModelLen,
      image: values.image,
    });
    const evalLine = evalCommandLine(plan.baseUrl, plan.name, { dataset: values.dataset });
    if (values["dry-run"]) {
      const pattern = adapter.maxRank > adapter.r ? `, ${adapter.maxRank} in rank_pattern` : "";
      console.log(`# adapter rank ${adapter.r}${pattern} -> --max-lora-rank ${plan.maxLoraRank}`);
      console.log(formatCommand(plan.command));
      console.log(`# once it answers: ${evalLine}`);
      return 0;
    }
    if (runtime !== "local" && !(await systemProbe("nvidia-smi", ["-L"])).ok) {
      throw new TrainerError("no NVIDIA GPU: nvidia-smi is missing or failed; vLLM needs a CUDA GPU", 1);
    }
    if (runtime === "local" && !(await systemProbe("vllm", ["--version"])).ok) {
      throw new TrainerError("vllm not found: pip install vllm, or use --runtime docker|podman", 1);
    }
    console.error(formatCommand(plan.command));
    const child = new Deno.Command(plan.command[0], { args: plan.command.slice(1), stdin: "null" }).spawn();
    let alive = true;
    const exited = child.status.then((s) => {
      alive = false;
      return s;
    });
    const stop = () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    };
    Deno.addSignalListener("SIGINT", stop);
    try {
      try {
        await waitForServer(plan.baseUrl, {
          timeoutMs: timeoutS * 1000,
          model: plan.name,
          isAlive: () => alive,
        });
      } catch (e) {
        stop();
        await exited;
        throw e;
      }
      console.log(`serving ${plan.name} at ${plan.baseUrl} (Ctrl-C stops it)`);
      console.log(evalLine);
      const status = await exited;
      return status.success || status.signal === "SIGTERM" ? 0 : 1;
    } finally {
      Deno.removeSignalListener("SIGINT", stop);
    }
  } catch (e) {
    return reportTrainerError("serve", e);
  }
}
