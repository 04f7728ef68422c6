"""Trainer config: defaults, merging and validation, in pure Python (no torch).

The same JSON file drives `deno task train` (which validates it in TypeScript before starting anything) and
`train.py` inside the container (which validates it again here, because it may be run by hand). The two
validators must agree: `trainer/tests/test_config.py` and `tests/train/trainer_test.ts` check the same cases.
"""

from __future__ import annotations

import copy
import json
import math
import os
from typing import Any, Callable

METHODS = ("qlora", "lora", "full", "grpo")
# How the GRPO policy is trained: LoRA on a 4-bit (QLoRA) or a bf16 base.
GRPO_ADAPTERS = ("qlora", "lora")
STRATEGIES = ("no", "steps", "epoch")
# The defaults, the scheduler and the optimizer names live in `defaults.json` beside this file, which `lib/train/config.ts` imports
# too: one list for both validators, so the dry run and the container cannot disagree.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "defaults.json"), encoding="utf-8") as _f:
    _SHARED: dict[str, Any] = json.load(_f)

# `transformers.training_args.OptimizerNames` values of the pinned transformers (requirements.txt; tests/
# test_torch_facts.py compares them): a typo, or a name transformers 5 dropped (adamw_hf, adamw_apex_fused),
# must fail here, before a GPU is rented, not in TrainingArguments on it.
OPTIMIZERS: tuple[str, ...] = tuple(_SHARED["optimizers"])
SCHEDULERS: tuple[str, ...] = tuple(_SHARED["schedulers"])
GRPO_LOSS_TYPES: tuple[str, ...] = tuple(_SHARED["grpo_loss_types"])
LAUNCHERS = ("accelerate", "torchrun")

# The original tool's profile (`trl_sft.py`), except: the scheduler is `constant_with_warmup` because the
# original asked for a 0.03 warmup with a `constant` schedule, which ignores warmup; and the loss covers the
# assistant answer only (the original trained on every token).
DEFAULTS: dict[str, Any] = _SHARED["defaults"]

_SECTIONS = ("lora", "training", "output", "grpo", "container")
_DISTRIBUTED_DEFAULTS: dict[str, Any] = _SHARED["distributed"]


class ConfigError(ValueError):
    """A config that must not start a run; the message lists every problem, one per line."""


def merge_defaults(user: dict[str, Any]) -> dict[str, Any]:
    """Return DEFAULTS overlaid with `user` (one level deep for the sections), without validating."""
    out = copy.deepcopy(DEFAULTS)
    for key, value in user.items():
        if key in _SECTIONS and value is None:
            continue  # `"lora": null` means "the defaults", as an absent section does
        if key in _SECTIONS and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key].update(value)
        elif key == "distributed" and isinstance(value, dict):
            merged = dict(_DISTRIBUTED_DEFAULTS)
            merged.update(value)
            out[key] = merged
        else:
            out[key] = value
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def validate_config(user: Any) -> dict[str, Any]:
    """Validate a user config and return it merged with the defaults.

    Unknown keys are errors, because a typo (`learning_rte`) would otherwise silently train with a default.
    Raises ConfigError listing every problem found.
    """
    if not isinstance(user, dict):
        raise ConfigError("config: must be a JSON object")
    errors: list[str] = []
    for key in user:
        if key not in DEFAULTS:
            errors.append(f"config: unknown key {key!r}")
    for section in _SECTIONS:
        value = user.get(section)
        if value is None:
            continue
        if not isinstance(value, dict):
            errors.append(f"{section}: must be an object")
            continue
        for key in value:
            if key not in DEFAULTS[section]:
                errors.append(f"{section}: unknown key {key!r}")
    dist_user = user.get("distributed")
    if dist_user is not None and not isinstance(dist_user, dict):
        errors.append("distributed: must be an object or null")
    elif isinstance(dist_user, dict):
        for key in dist_user:
            if key not in _DISTRIBUTED_DEFAULTS:
                errors.append(f"distributed: unknown key {key!r}")
    if errors:
        raise ConfigError("\n".join(errors))

    cfg = merge_defaults(user)
    if not isinstance(cfg["name"], str) or not cfg["name"].strip():
        errors.append("name: must be a non-empty string")
    if not isinstance(cfg["base_model"], str) or not cfg["base_model"].strip():
        errors.append("base_model: must be a Hugging Face model id or a local path")
    if cfg["dataset_dir"] is not None and (not isinstance(cfg["dataset_dir"], str) or not cfg["dataset_dir"]):
        errors.append("dataset_dir: must be a folder path holding train.jsonl and test.jsonl")
    if cfg["method"] not in METHODS:
        errors.append(f"method: must be one of {', '.join(METHODS)}")

    lora = cfg["lora"]
    if not _is_int(lora["r"]) or lora["r"] < 1:
        errors.append("lora.r: must be a positive integer")
    if not _is_num(lora["alpha"]) or lora["alpha"] <= 0:
        errors.append("lora.alpha: must be a positive number")
    if not _is_num(lora["dropout"]) or not 0 <= lora["dropout"] < 1:
        errors.append("lora.dropout: must be in [0, 1)")
    tm = lora["target_modules"]
    if not (tm == "all-linear" or (isinstance(tm, list) and tm and all(isinstance(t, str) and t for t in tm))):
        errors.append('lora.target_modules: must be "all-linear" or a non-empty list of module names')

    t = cfg["training"]
    for key in ("epochs", "learning_rate", "max_grad_norm"):
        if not _is_num(t[key]) or t[key] <= 0:
            errors.append(f"training.{key}: must be a positive number")
    if not _is_num(t["weight_decay"]) or t["weight_decay"] < 0:
        errors.append("training.weight_decay: must be a number >= 0")
    if not _is_num(t["warmup_ratio"]) or not 0 <= t["warmup_ratio"] < 1:
        errors.append("training.warmup_ratio: must be in [0, 1)")
    for key in (
        "per_device_batch_size",
        "per_device_eval_batch_size",
        "gradient_accumulation_steps",
        "logging_steps",
        "save_steps",
        "save_total_limit",
    ):
        if not _is_int(t[key]) or t[key] < 1:
            errors.append(f"training.{key}: must be a positive integer")
    if not _is_int(t["max_length"]) or t["max_length"] < 16:
        errors.append("training.max_length: must be an integer >= 16")
    if not _is_int(t["max_steps"]) or (t["max_steps"] < 1 and t["max_steps"] != -1):
        errors.append("training.max_steps: must be -1 (use epochs) or a positive integer")
    if not _is_int(t["seed"]):
        errors.append("training.seed: must be an integer")
    if t["lr_scheduler"] not in SCHEDULERS:
        errors.append(f"training.lr_scheduler: must be one of {', '.join(SCHEDULERS)}")
    if t["optim"] not in OPTIMIZERS:
        errors.append(f"training.optim: {t['optim']!r} is not a transformers optimizer name (e.g. adamw_torch_fused, "
                      "adamw_torch, paged_adamw_8bit, adafactor, sgd)")
    for key in ("gradient_checkpointing", "bf16", "resume"):
        if not isinstance(t[key], bool):
            errors.append(f"training.{key}: must be true or false")
    for key in ("eval_strategy", "save_strategy"):
        if t[key] not in STRATEGIES:
            errors.append(f"training.{key}: must be one of {', '.join(STRATEGIES)}")
    if t["eval_steps"] is not None and (not _is_int(t["eval_steps"]) or t["eval_steps"] < 1):
        errors.append("training.eval_steps: must be null or a positive integer")
    if t["eval_strategy"] == "steps" and t["eval_steps"] is None:
        errors.append('training.eval_steps: required when eval_strategy is "steps"')

    errors.extend(_grpo_errors(cfg["grpo"]))
    if not isinstance(cfg["output"]["merge"], bool):
        errors.append("output.merge: must be true or false")
    if not isinstance(cfg["container"]["image"], str) or not cfg["container"]["image"]:
        errors.append("container.image: must be an image name")
    if not isinstance(cfg["container"]["shm_size"], str) or not cfg["container"]["shm_size"]:
        errors.append('container.shm_size: must be a size such as "16g"')

    dist = cfg["distributed"]
    if dist is not None:
        if dist["launcher"] not in LAUNCHERS:
            errors.append(f"distributed.launcher: must be one of {', '.join(LAUNCHERS)}")
        procs, machines = dist["num_processes"], dist["num_machines"]
        if not _is_int(procs) or procs < 1:
            errors.append("distributed.num_processes: must be a positive integer")
        if not _is_int(machines) or machines < 1:
            errors.append("distributed.num_machines: must be a positive integer")
        elif _is_int(procs) and procs % machines:
            errors.append(f"distributed.num_processes: {procs} is not a multiple of distributed.num_machines "
                          f"({machines}): every machine runs the same number of processes, one a GPU")
        if not isinstance(dist["fsdp"], bool):
            errors.append("distributed.fsdp: must be true or false")
        layer = dist["fsdp_layer_cls"]
        if layer is not None and (not isinstance(layer, str) or not layer):
            errors.append("distributed.fsdp_layer_cls: must be null or a decoder layer class name")
        if cfg["method"] == "full" and dist["fsdp"] is False and _is_int(machines) and machines > 1:
            # Full fine-tuning is what needs several machines, and only FSDP spreads the model over them.
            errors.append("distributed.fsdp: must be true for method full on several machines (without it every "
                          "GPU holds the whole model, its gradients and the AdamW state)")
        if dist["fsdp"] is True and cfg["output"]["merge"] is True:
            # Merging needs the full bf16 model in one process: do it after training, not under FSDP.
            errors.append("output.merge: not supported with distributed.fsdp; merge the adapter afterwards")
    if cfg["method"] == "grpo" and not errors:
        g, procs = cfg["grpo"], (dist["num_processes"] if dist else 1)
        batch = t["per_device_batch_size"] * t["gradient_accumulation_steps"] * procs
        if batch % g["num_generations"]:
            # TRL samples one generation batch per optimizer step, K completions per prompt.
            errors.append(f"grpo.num_generations: {g['num_generations']} must divide the completions per step "
                          f"(per_device_batch_size × gradient_accumulation_steps × processes = {batch})")
        if dist and dist["fsdp"]:
            errors.append("method: grpo is not supported with distributed.fsdp (use DDP or one GPU)")
    if errors:
        raise ConfigError("\n".join(errors))
    return cfg


def launch_error(cfg: dict[str, Any], env: Any, cuda_gpus: Callable[[], int] | None = None) -> str | None:
    """One line when the processes were launched otherwise than the config says, else None.

    `env`: the process environment (`WORLD_SIZE` and `LOCAL_WORLD_SIZE` come from accelerate/torchrun; unset for
    a plain `python train.py`, which is one process whatever the config says); `cuda_gpus`: counts the CUDA
    devices this process sees, called only when needed (None or 0 on CPU: not checked). The memory estimate and
    the GRPO batch assume the config's process count, so a hand-started launch with another count must not train.
    """
    world = env.get("WORLD_SIZE")
    if world is None:
        return None
    dist = cfg.get("distributed") or {}
    procs = dist.get("num_processes", 1)
    machines = dist.get("num_machines", 1)
    if int(world) != procs:
        return (f"launched as {world} processes but distributed.num_processes is {procs}"
                f"{f' over {machines} machines' if machines > 1 else ''}: launch the config's count "
                "(deno task train --dry-run prints the command)")
    local = env.get("LOCAL_WORLD_SIZE")
    gpus = cuda_gpus() if cuda_gpus and local is not None else 0
    if gpus and int(local) > gpus:
        return (f"{local} processes on this machine but it has {gpus} CUDA GPU(s): distributed.num_processes "
                f"/ num_machines ({procs} / {machines}) must not exceed the GPUs of one machine")
    return None


def _grpo_errors(g: dict[str, Any]) -> list[str]:
    """Problems of the `grpo` section (checked for every method: a typo must not wait for a GRPO run)."""
    errors: list[str] = []
    if g["adapter"] not in GRPO_ADAPTERS:
        errors.append(f"grpo.adapter: must be one of {', '.join(GRPO_ADAPTERS)}")
    for key in ("num_generations", "max_completion_length", "reward_workers"):
        if not _is_int(g[key]) or g[key] < 1:
            errors.append(f"grpo.{key}: must be a positive integer")
    if _is_int(g["num_generations"]) and g["num_generations"] < 2:
        errors.append("grpo.num_generations: must be at least 2 (advantages are relative within a group)")
    for key in ("temperature", "reward_timeout_s"):
        if not _is_num(g[key]) or g[key] <= 0:
            errors.append(f"grpo.{key}: must be a positive number")
    for key in ("beta", "epsilon", "format_reward"):
        if not _is_num(g[key]) or g[key] < 0:
            errors.append(f"grpo.{key}: must be a number >= 0")
    if not _is_num(g["partial_reward"]) or not 0 <= g["partial_reward"] < 1:
        errors.append("grpo.partial_reward: must be in [0, 1) (below the 1.0 of a correct answer)")
    if not _is_num(g["vllm_gpu_memory_utilization"]) or not 0 < g["vllm_gpu_memory_utilization"] < 1:
        errors.append("grpo.vllm_gpu_memory_utilization: must be in (0, 1)")
    if g["loss_type"] not in GRPO_LOSS_TYPES:
        errors.append(f"grpo.loss_type: must be one of {', '.join(GRPO_LOSS_TYPES)}")
    if g["use_vllm"] not in ("auto", True, False):
        errors.append('grpo.use_vllm: must be "auto", true or false')
    if not isinstance(g["log_completions"], bool):
        errors.append("grpo.log_completions: must be true or false")
    if g["db_root"] is not None and (not isinstance(g["db_root"], str) or not g["db_root"]):
        errors.append("grpo.db_root: must be null or the folder the dataset's db_path values are relative to")
    return errors


def load_config(path: str) -> dict[str, Any]:
    """Read and validate a config file; ConfigError names the file on a JSON syntax error."""
    with open(path, encoding="utf-8") as f:
        try:
            user = json.load(f)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from e
    return validate_config(user)
