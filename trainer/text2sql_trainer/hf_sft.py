"""SFT with transformers' Trainer: arguments for 4.4x–5.x, the metric callback, checkpoints, the run folder."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import time
from typing import Any

import torch
import transformers
from transformers import AutoTokenizer, Trainer, TrainerCallback, TrainingArguments, set_seed

from .data import validate_dataset_dir
from .hf_common import TrainError, emit, has_module, is_main_process, log, transformers_major
from .hf_data import PadCollator, load_split, prepare_tokenizer
from .hf_model import load_model, merge_adapter, uses_fsdp, wrap_model
from .metrics import metric_from_logs
from .run import base_model_source, check_run_folder, dataset_hash, run_fingerprint, set_adapter_base_model, write_fingerprint


class JsonMetricsCallback(TrainerCallback):
    """Prints one JSON line per logging step (train and eval) on stdout; only the main process prints."""

    def __init__(self, token_counter: "TokenCountingTrainer | None" = None):
        self.trainer: TokenCountingTrainer | None = token_counter
        self.last_time = time.perf_counter()
        self.last_tokens = 0
        self.last_eval: dict[str, Any] | None = None
        # Set by train() when the run continues from a checkpoint: the summary's train_loss is then wrong.
        self.resumed = False

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not logs:
            return
        # Every rank tracks the last eval (all ranks must agree on whether to evaluate again); one prints.
        printing = state.is_world_process_zero
        tokens_per_s = None
        gpu_mem = None
        if "loss" in logs:
            now = time.perf_counter()
            tokens = self.trainer.tokens_seen if self.trainer else 0
            if now > self.last_time and tokens > self.last_tokens:
                # Local count times world size: data-parallel ranks see batches of about the same size.
                tokens_per_s = (tokens - self.last_tokens) / (now - self.last_time) * max(1, args.world_size)
            self.last_time, self.last_tokens = now, tokens
            if torch.cuda.is_available():
                gpu_mem = torch.cuda.max_memory_allocated() / 2**30
                torch.cuda.reset_peak_memory_stats()
        metric = metric_from_logs(logs, state.global_step, state.epoch, tokens_per_s, gpu_mem, resumed=self.resumed)
        if metric is None:
            return
        if metric["type"] == "eval":
            self.last_eval = metric
        if not printing:
            return
        emit(metric)
        if metric["type"] == "train":
            log(f"step {metric['step']} epoch {metric['epoch']} loss {metric['loss']} lr {metric['lr']}")
        elif metric["type"] == "eval":
            log(f"step {metric['step']} eval_loss {metric['eval_loss']}")


class TokenCountingTrainer(Trainer):
    """A Trainer that counts the non-padding tokens it trains on, for the tokens/s metric."""

    tokens_seen = 0
    metrics_callback: JsonMetricsCallback

    def training_step(self, model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        mask = inputs.get("attention_mask")
        if mask is not None:
            self.tokens_seen += int(mask.sum())
        return super().training_step(model, inputs, *args, **kwargs)


def training_arguments(cfg: dict[str, Any], output_dir: str, has_eval: bool, args_cls: Any = None,
                       extra: dict[str, Any] | None = None) -> Any:
    """TrainingArguments for the config, for transformers 4.4x–5.x.

    Differences handled: `eval_strategy` (the old `evaluation_strategy` is gone in 5); `warmup_ratio` is
    deprecated in 5 where `warmup_steps` takes a float ratio; the TensorBoard folder moved from `logging_dir`
    to the `TENSORBOARD_LOGGING_DIR` variable. Keys this version does not know are dropped, unless dropping
    would change what is trained (then it is an error).
    """
    t = cfg["training"]
    tb_dir = os.path.join(output_dir, "tensorboard")
    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", tb_dir)
    eval_strategy = t["eval_strategy"] if has_eval else "no"
    fsdp = uses_fsdp(cfg)
    kwargs: dict[str, Any] = {
        "output_dir": output_dir,
        "num_train_epochs": t["epochs"],
        "max_steps": t["max_steps"],
        "learning_rate": t["learning_rate"],
        "lr_scheduler_type": t["lr_scheduler"],
        "per_device_train_batch_size": t["per_device_batch_size"],
        "per_device_eval_batch_size": t["per_device_eval_batch_size"],
        "gradient_accumulation_steps": t["gradient_accumulation_steps"],
        "max_grad_norm": t["max_grad_norm"],
        "weight_decay": t["weight_decay"],
        "optim": t["optim"],
        "bf16": t["bf16"] and torch.cuda.is_available(),
        "gradient_checkpointing": t["gradient_checkpointing"],
        # Non-reentrant checkpointing works with frozen inputs; FSDP-QLoRA recipes use the reentrant one.
        "gradient_checkpointing_kwargs": {"use_reentrant": fsdp},
        "logging_steps": t["logging_steps"],
        "logging_first_step": True,
        "eval_strategy": eval_strategy,
        "save_strategy": t["save_strategy"],
        "save_steps": t["save_steps"],
        "save_total_limit": t["save_total_limit"],
        "seed": t["seed"],
        "report_to": ["tensorboard"] if has_module("tensorboard") else [],
        "remove_unused_columns": False,
        "ddp_find_unused_parameters": False,
        "disable_tqdm": True,
    }
    if eval_strategy == "steps":
        kwargs["eval_steps"] = t["eval_steps"]
    if transformers_major() >= 5:
        kwargs["warmup_steps"] = t["warmup_ratio"]  # a float below 1 is a ratio of the total steps
    else:
        kwargs["warmup_ratio"] = t["warmup_ratio"]
        kwargs["logging_dir"] = tb_dir
    if t["optim"].startswith("adamw_torch_fused") and not torch.cuda.is_available():
        kwargs["optim"] = "adamw_torch"  # the fused kernel needs CUDA tensors
    if not torch.cuda.is_available():
        # Without it accelerate does not join several CPU processes (gloo): each rank would train alone on the
        # whole dataset and print its own metric lines (found by multiproc_check.py).
        kwargs["use_cpu"] = True
    if fsdp:
        layer = cfg["distributed"].get("fsdp_layer_cls")
        fsdp_config: dict[str, Any] = {
            "backward_prefetch": "backward_pre",
            "forward_prefetch": False,
            "use_orig_params": False,  # PEFT + FSDP: frozen and trainable params in one flat unit
            "cpu_ram_efficient_loading": True,
            "sync_module_states": True,
        }
        if layer:
            fsdp_config["transformer_layer_cls_to_wrap"] = [layer]
        kwargs["fsdp"] = "full_shard auto_wrap"
        kwargs["fsdp_config"] = fsdp_config
    # `args_cls`: TRL's GRPOConfig (a TrainingArguments subclass) for GRPO, with its own settings in `extra`.
    args_cls = args_cls or TrainingArguments
    kwargs.update(extra or {})
    fields = {f.name for f in dataclasses.fields(args_cls)}
    essential = {"eval_strategy", "fsdp", "fsdp_config", "warmup_steps", "gradient_checkpointing_kwargs"}
    essential |= set(extra or {})
    missing = sorted(k for k in kwargs if k not in fields and k in essential)
    if missing:
        raise TrainError(f"{args_cls.__name__} (transformers {transformers.__version__}) lacks {', '.join(missing)}")
    return args_cls(**{k: v for k, v in kwargs.items() if k in fields})


def make_trainer(model: Any, tokenizer: Any, train_ds: list, eval_ds: list, args: Any) -> TokenCountingTrainer:
    """The Trainer with the padding collator and the JSON metric callback in place of the console printers."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    kwargs: dict[str, Any] = {
        "model": model,
        "args": args,
        "train_dataset": train_ds,
        "eval_dataset": eval_ds or None,
        "data_collator": PadCollator(tokenizer.pad_token_id),
    }
    # `processing_class` replaced `tokenizer` (4.46; `tokenizer` is gone in 5). It saves the tokenizer with
    # every checkpoint, so a checkpoint folder is servable on its own.
    params = inspect.signature(Trainer.__init__).parameters
    kwargs["processing_class" if "processing_class" in params else "tokenizer"] = tokenizer
    trainer = TokenCountingTrainer(**kwargs)
    # The printers write Python dict reprs to stdout, which is the metric channel.
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.metrics_callback = JsonMetricsCallback(trainer)
    trainer.add_callback(trainer.metrics_callback)
    return trainer


def memory_check(cfg: dict[str, Any], model: Any = None, vllm: bool = False) -> dict[str, float] | None:
    """The GPU memory estimate (see text2sql_trainer/memory.py), or None when the model's shape is unknown.

    `vllm`: GRPO generates with vLLM colocated (its share of the GPU is counted). Raises TrainError, with the
    numbers, when a CUDA device is visible and the estimate exceeds its memory.
    """
    from text2sql_trainer.memory import estimate, fit_error, model_shape

    props = torch.cuda.get_device_properties(int(os.environ.get("LOCAL_RANK", "0"))) if torch.cuda.is_available() else None
    gpu_gb = props.total_memory / 2**30 if props else None
    try:
        if model is not None:
            config = model.config
        else:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(cfg["base_model"], token=os.environ.get("HF_TOKEN") or None)
        parts = estimate(cfg, model_shape(config), gpu_gb=gpu_gb, vllm=vllm)
    except (OSError, ValueError, TypeError, AttributeError) as e:
        log(f"memory estimate skipped: {e}")
        return None
    log(f"memory estimate: {parts['total_gb']} GiB per GPU ({parts})")
    if props is not None:
        err = fit_error(parts, gpu_gb, props.name)
        if err:
            raise TrainError(err)
    return parts


def last_checkpoint(output_dir: str) -> str | None:
    """The newest `checkpoint-N` folder in output_dir, or None."""
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None


def save_outputs(cfg: dict[str, Any], trainer: TokenCountingTrainer, tokenizer: Any, output_dir: str) -> dict[str, str]:
    """Write the adapter (LoRA/QLoRA) or the model (full) and the tokenizer; returns the folders written."""
    target = os.path.join(output_dir, "model" if cfg["method"] == "full" else "adapter")
    if getattr(trainer, "is_fsdp_enabled", False):
        # Gather the sharded weights into one state dict so the saved adapter loads anywhere.
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(target)
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(target)
    return {"model" if cfg["method"] == "full" else "adapter": target}


def claim_run_folder(cfg: dict[str, Any], data_dir: str, output_dir: str, base_model: str | None) -> str:
    """Check, create and stamp the run folder (SFT and GRPO alike); returns the base model's source.

    Before anything is written: a folder holding another run's checkpoints must not be resumed or overwritten.
    """
    source = base_model or base_model_source(cfg["base_model"])
    fingerprint = run_fingerprint(cfg, source, dataset_hash(data_dir))
    check_run_folder(output_dir, fingerprint)
    os.makedirs(output_dir, exist_ok=True)
    if is_main_process():
        with open(os.path.join(output_dir, "train_config.json"), "w", encoding="utf-8") as f:
            json.dump({**cfg, "base_model": source}, f, indent=2)
        write_fingerprint(output_dir, fingerprint)
    return source


def tokenizer_for(cfg: dict[str, Any], tokenizer: Any) -> Any:
    """The given tokenizer, or the base model's, prepared for training (pad token, template checks)."""
    if tokenizer is None:
        tokenizer = AutoTokenizer.from_pretrained(cfg["base_model"], token=os.environ.get("HF_TOKEN") or None)
    prepare_tokenizer(tokenizer)
    return tokenizer


def train_sft(
    cfg: dict[str, Any],
    data_dir: str,
    output_dir: str,
    model: Any = None,
    tokenizer: Any = None,
    base_model: str | None = None,
    callbacks: list[Any] | None = None,
    on_trainer: Any = None,
) -> dict[str, Any]:
    """Run one SFT job (qlora/lora/full); `model`/`tokenizer` may be given already loaded (the smoke test's tiny
    model).

    A given model must be unwrapped: the method (LoRA/full) is applied here, so the smoke test exercises the
    same path as a real run. `base_model` is the original base model (host folder or hub id) when
    `cfg["base_model"]` is a container mount path; it is what `train_config.json`, the run fingerprint and the
    adapter's `adapter_config.json` record. Returns a summary dict (also emitted as the final `"end"` line).
    """
    eval_on = cfg["training"]["eval_strategy"] != "no"
    counts = validate_dataset_dir(data_dir, require_test=eval_on)
    source = claim_run_folder(cfg, data_dir, output_dir, base_model)
    tokenizer = tokenizer_for(cfg, tokenizer)
    max_length = cfg["training"]["max_length"]
    train_ds, train_dropped = load_split(os.path.join(data_dir, "train.jsonl"), tokenizer, max_length)
    test_file = os.path.join(data_dir, "test.jsonl")
    eval_ds, eval_dropped = [], 0
    # Loaded whenever present: with eval_strategy "no" the final weights are still evaluated once, at the end.
    if os.path.isfile(test_file):
        eval_ds, eval_dropped = load_split(test_file, tokenizer, max_length)
    if not train_ds:
        raise TrainError(f"no training example fits in max_length {max_length}")
    if train_dropped > 0.1 * (len(train_ds) + train_dropped):
        log(f"warning: {train_dropped} of {len(train_ds) + train_dropped} training examples exceed max_length "
            f"{max_length} and are dropped")
    resume = last_checkpoint(output_dir) if cfg["training"]["resume"] else None
    memory = memory_check(cfg, model)
    if is_main_process():
        emit({
            "type": "start",
            "base_model": source,
            "method": cfg["method"],
            "memory_estimate_gb": memory,
            "train_examples": len(train_ds),
            "eval_examples": len(eval_ds),
            "dropped_too_long": train_dropped + eval_dropped,
            "valid_lines": counts,
            "resume_from": resume,
            "world_size": int(os.environ.get("WORLD_SIZE", "1")),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        })
    # TrainingArguments first: under FSDP it sets the environment (ACCELERATE_USE_FSDP, CPU-RAM-efficient
    # loading) that from_pretrained reads, so only rank 0 materialises the weights.
    args = training_arguments(cfg, output_dir, has_eval=bool(eval_ds))
    # `training.seed` fixes the LoRA initialisation too: get_peft_model draws it before Trainer seeds anything.
    set_seed(cfg["training"]["seed"])
    model = load_model(cfg) if model is None else wrap_model(cfg, model)
    trainer = make_trainer(model, tokenizer, train_ds, eval_ds, args)
    trainer.metrics_callback.resumed = resume is not None
    for callback in callbacks or []:
        trainer.add_callback(callback)
    if on_trainer:
        on_trainer(trainer)
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    last_eval = trainer.metrics_callback.last_eval
    if eval_ds and (last_eval is None or last_eval["step"] != trainer.state.global_step):
        # Evaluate the final weights unless the schedule just did (it does at the end of every epoch).
        trainer.evaluate()
        last_eval = trainer.metrics_callback.last_eval
    written = save_outputs(cfg, trainer, tokenizer, output_dir)
    if "adapter" in written and trainer.is_world_process_zero():
        # PEFT recorded the path the base was loaded from (`/base` in the container): serve needs the original.
        set_adapter_base_model(written["adapter"], source)
    if cfg["output"]["merge"] and cfg["method"] != "full" and trainer.is_world_process_zero():
        del trainer, model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        written["merged"] = merge_adapter(cfg, written["adapter"], output_dir)
    summary = {
        "type": "end",
        # Trainer's training_loss divides this session's loss sum by all steps, resumed ones included, so it is
        # only meaningful for a run that started from step 0.
        "train_loss": result.training_loss if resume is None and math.isfinite(result.training_loss) else None,
        "resumed_from": resume,
        "eval_loss": last_eval["eval_loss"] if last_eval else None,
        "seconds": round(time.perf_counter() - t0, 1),
        **written,
    }
    if is_main_process():
        emit(summary)
    return summary
