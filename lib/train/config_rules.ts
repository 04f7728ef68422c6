/**
 * The trainer config's field rules as one table: each row names a field, what a valid value is, and the
 * message when it is not. Same rules, same order and same messages as `trainer/text2sql_trainer/config.py`
 * (a test compares the two validators' output), so a config the dry run accepts is one the container accepts.
 *
 * @module
 */

import { GRPO_LOSS_TYPES, OPTIMIZERS, SCHEDULERS, STRATEGIES, type TrainConfig } from "./config.ts";
import { isInt, isNum, type Obj } from "./guards.ts";

/** One field's rule: `field: message` is reported when `ok` is false (and `when`, if given, holds). */
interface FieldRule {
  /** Dotted path into the merged config, e.g. `training.epochs`; also the message's prefix. */
  field: string;
  ok: (value: unknown, cfg: TrainConfig) => boolean;
  message: string | ((value: unknown, cfg: TrainConfig) => string);
  /** Only checked when this holds (the `distributed` rules, when the section is present). */
  when?: (cfg: TrainConfig) => boolean;
}

const positiveInt = (v: unknown) => isInt(v) && v >= 1;
const positiveNum = (v: unknown) => isNum(v) && v > 0;
const nonNegative = (v: unknown) => isNum(v) && v >= 0;
const unitHalfOpen = (v: unknown) => isNum(v) && v >= 0 && v < 1;
const bool = (v: unknown) => typeof v === "boolean";
const oneOf = (list: readonly unknown[]) => (v: unknown) => list.includes(v);
const text = (v: unknown) => typeof v === "string" && v !== "";
const trimmedText = (v: unknown) => typeof v === "string" && v.trim() !== "";
const nullOr = (check: (v: unknown) => boolean) => (v: unknown) => v === null || check(v);
const moduleList = (v: unknown) =>
  v === "all-linear" || (Array.isArray(v) && v.length > 0 && v.every((t) => typeof t === "string" && t));

/** One rule per field in `fields`, all with the same check and message. */
function each(fields: string[], ok: FieldRule["ok"], message: string): FieldRule[] {
  return fields.map((field) => ({ field, ok, message }));
}

const hasDistributed = (cfg: TrainConfig) => cfg.distributed !== null;

/** Every field rule, in the order config.py reports them. */
const RULES: readonly FieldRule[] = [
  { field: "name", ok: trimmedText, message: "must be a non-empty string" },
  { field: "base_model", ok: trimmedText, message: "must be a Hugging Face model id or a local path" },
  {
    field: "dataset_dir",
    ok: nullOr(text),
    message: "must be a folder path holding train.jsonl and test.jsonl",
  },
  {
    field: "method",
    ok: oneOf(["qlora", "lora", "full", "grpo"]),
    message: "must be one of qlora, lora, full, grpo",
  },
  { field: "lora.r", ok: positiveInt, message: "must be a positive integer" },
  { field: "lora.alpha", ok: positiveNum, message: "must be a positive number" },
  { field: "lora.dropout", ok: unitHalfOpen, message: "must be in [0, 1)" },
  {
    field: "lora.target_modules",
    ok: moduleList,
    message: 'must be "all-linear" or a non-empty list of module names',
  },
  ...each(
    ["training.epochs", "training.learning_rate", "training.max_grad_norm"],
    positiveNum,
    "must be a positive number",
  ),
  { field: "training.weight_decay", ok: nonNegative, message: "must be a number >= 0" },
  { field: "training.warmup_ratio", ok: unitHalfOpen, message: "must be in [0, 1)" },
  ...each(
    [
      "training.per_device_batch_size",
      "training.per_device_eval_batch_size",
      "training.gradient_accumulation_steps",
      "training.logging_steps",
      "training.save_steps",
      "training.save_total_limit",
    ],
    positiveInt,
    "must be a positive integer",
  ),
  { field: "training.max_length", ok: (v) => isInt(v) && v >= 16, message: "must be an integer >= 16" },
  {
    field: "training.max_steps",
    ok: (v) => isInt(v) && (v >= 1 || v === -1),
    message: "must be -1 (use epochs) or a positive integer",
  },
  { field: "training.seed", ok: isInt, message: "must be an integer" },
  {
    field: "training.lr_scheduler",
    ok: oneOf(SCHEDULERS),
    message: `must be one of ${SCHEDULERS.join(", ")}`,
  },
  {
    field: "training.optim",
    ok: oneOf(OPTIMIZERS),
    message: (v) =>
      `${
        JSON.stringify(v)
      } is not a transformers optimizer name (e.g. adamw_torch_fused, adamw_torch, paged_adamw_8bit, adafactor, sgd)`,
  },
  ...each(
    ["training.gradient_checkpointing", "training.bf16", "training.resume"],
    bool,
    "must be true or false",
  ),
  ...each(
    ["training.eval_strategy", "training.save_strategy"],
    oneOf(STRATEGIES),
    `must be one of ${STRATEGIES.join(", ")}`,
  ),
  { field: "training.eval_steps", ok: nullOr(positiveInt), message: "must be null or a positive integer" },
  {
    field: "training.eval_steps",
    ok: (v, cfg) => !(cfg.training.eval_strategy === "steps" && v === null),
    message: 'required when eval_strategy is "steps"',
  },
  // The grpo section is checked for every method, as `_grpo_errors` in config.py does.
  { field: "grpo.adapter", ok: oneOf(["qlora", "lora"]), message: "must be one of qlora, lora" },
  ...each(
    ["grpo.num_generations", "grpo.max_completion_length", "grpo.reward_workers"],
    positiveInt,
    "must be a positive integer",
  ),
  {
    field: "grpo.num_generations",
    ok: (v) => !isInt(v) || v >= 2,
    message: "must be at least 2 (advantages are relative within a group)",
  },
  ...each(["grpo.temperature", "grpo.reward_timeout_s"], positiveNum, "must be a positive number"),
  ...each(["grpo.beta", "grpo.epsilon", "grpo.format_reward"], nonNegative, "must be a number >= 0"),
  {
    field: "grpo.partial_reward",
    ok: unitHalfOpen,
    message: "must be in [0, 1) (below the 1.0 of a correct answer)",
  },
  {
    field: "grpo.vllm_gpu_memory_utilization",
    ok: (v) => isNum(v) && v > 0 && v < 1,
    message: "must be in (0, 1)",
  },
  {
    field: "grpo.loss_type",
    ok: oneOf(GRPO_LOSS_TYPES),
    message: `must be one of ${GRPO_LOSS_TYPES.join(", ")}`,
  },
  { field: "grpo.use_vllm", ok: oneOf(["auto", true, false]), message: 'must be "auto", true or false' },
  { field: "grpo.log_completions", ok: bool, message: "must be true or false" },
  {
    field: "grpo.db_root",
    ok: nullOr(text),
    message: "must be null or the folder the dataset's db_path values are relative to",
  },
  { field: "output.merge", ok: bool, message: "must be true or false" },
  { field: "container.image", ok: text, message: "must be an image name" },
  { field: "container.shm_size", ok: text, message: 'must be a size such as "16g"' },
  ...[
    {
      field: "distributed.launcher",
      ok: oneOf(["accelerate", "torchrun"]),
      message: "must be one of accelerate, torchrun",
    },
    { field: "distributed.num_processes", ok: positiveInt, message: "must be a positive integer" },
    { field: "distributed.num_machines", ok: positiveInt, message: "must be a positive integer" },
    {
      field: "distributed.num_processes",
      ok: (v: unknown, cfg: TrainConfig) => {
        const machines = cfg.distributed?.num_machines;
        return !isInt(v) || !positiveInt(machines) || v % (machines as number) === 0;
      },
      message: (v: unknown, cfg: TrainConfig) =>
        `${v} is not a multiple of distributed.num_machines (${cfg.distributed?.num_machines}): every machine runs the same number of processes, one a GPU`,
    },
    { field: "distributed.fsdp", ok: bool, message: "must be true or false" },
    {
      field: "distributed.fsdp_layer_cls",
      ok: nullOr(text),
      message: "must be null or a decoder layer class name",
    },
    {
      // Full fine-tuning is what needs several machines, and only FSDP spreads the model over them.
      field: "distributed.fsdp",
      ok: (v: unknown, cfg: TrainConfig) => {
        const machines = cfg.distributed?.num_machines;
        return !(cfg.method === "full" && v === false && isInt(machines) && machines > 1);
      },
      message:
        "must be true for method full on several machines (without it every GPU holds the whole model, its gradients and the AdamW state)",
    },
    {
      field: "output.merge",
      ok: (v: unknown, cfg: TrainConfig) => !(cfg.distributed?.fsdp === true && v === true),
      message: "not supported with distributed.fsdp; merge the adapter afterwards",
    },
  ].map((rule) => ({ ...rule, when: hasDistributed })),
];

/** The value at a dotted path of the config. */
function valueAt(cfg: TrainConfig, field: string): unknown {
  return field.split(".").reduce<unknown>((v, key) => (v as Obj | null)?.[key], cfg);
}

/**
 * Every field rule's problem, one `field: message` line each, in config.py's order.
 *
 * @param cfg the config merged with the defaults
 * @returns the problems (empty when every field is valid)
 */
export function fieldErrors(cfg: TrainConfig): string[] {
  const errors: string[] = [];
  for (const rule of RULES) {
    if (rule.when && !rule.when(cfg)) continue;
    const value = valueAt(cfg, rule.field);
    if (rule.ok(value, cfg)) continue;
    const message = typeof rule.message === "string" ? rule.message : rule.message(value, cfg);
    errors.push(`${rule.field}: ${message}`);
  }
  return errors;
}

/**
 * The checks of `method: "grpo"` across sections, made once every field is valid: the group size must divide the
 * completions sampled per optimizer step, and FSDP is not supported.
 *
 * @param cfg a config whose fields all pass {@linkcode fieldErrors}
 * @returns the problems
 */
export function grpoBatchErrors(cfg: TrainConfig): string[] {
  if (cfg.method !== "grpo") return [];
  const errors: string[] = [];
  const d = cfg.distributed;
  const batch = cfg.training.per_device_batch_size * cfg.training.gradient_accumulation_steps *
    (d ? d.num_processes : 1);
  if (batch % cfg.grpo.num_generations !== 0) {
    // TRL samples one generation batch per optimizer step, K completions per prompt.
    errors.push(
      `grpo.num_generations: ${cfg.grpo.num_generations} must divide the completions per step (per_device_batch_size × gradient_accumulation_steps × processes = ${batch})`,
    );
  }
  if (d?.fsdp) errors.push("method: grpo is not supported with distributed.fsdp (use DDP or one GPU)");
  return errors;
}
