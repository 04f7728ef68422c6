#!/usr/bin/env python3
"""Fine-tune a causal LM on text-to-SQL conversations: QLoRA, LoRA or full fine-tuning, by config.

    python train.py --config configs/llama31_8b_qlora.json [--data DIR] [--output DIR]

Reads `train.jsonl`/`test.jsonl` (messages JSONL from `deno task sft` or `deno task cot`), trains with the loss
on the assistant answer only, evaluates on `test.jsonl`, resumes from the last checkpoint in the output folder,
and writes `adapter/` (or `model/` for full fine-tuning), optionally `merged/`, TensorBoard logs under
`tensorboard/`, and one JSON metric line per logging step on stdout (everything else goes to stderr).

Runs on the container's pins (see requirements.txt) and on newer stacks (torch 2.11, transformers 5.x, peft)
without bitsandbytes or trl: neither is imported unless used, and QLoRA without bitsandbytes fails with a
clear message. Launch under `accelerate launch` or `torchrun` for several GPUs (FSDP + QLoRA by config).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import inspect
import json
import math
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from text2sql_trainer import (  # noqa: E402  (path set above so the script runs from any folder)
    ConfigError,
    DatasetError,
    RunMismatchError,
    assistant_only_labels,
    base_model_source,
    build_example,
    check_run_folder,
    dataset_hash,
    format_metric,
    load_config,
    metric_from_logs,
    pad_batch,
    run_fingerprint,
    set_adapter_base_model,
    split_conversation,
    validate_dataset_dir,
    write_fingerprint,
)
from text2sql_trainer.data import read_jsonl  # noqa: E402

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    AutoTokenizer,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)


class TrainError(RuntimeError):
    """A run that cannot proceed, with a message meant for the user (printed as one line, exit 2)."""


def log(msg: str) -> None:
    """Human-readable progress on stderr: stdout is reserved for metric lines."""
    print(msg, file=sys.stderr, flush=True)


def emit(obj: dict[str, Any]) -> None:
    """One metric/event JSON line on stdout, flushed so the host sees it live."""
    print(format_metric(obj), flush=True)


def has_module(name: str) -> bool:
    """Whether an optional package is importable (bitsandbytes, trl, tensorboard), without importing it."""
    return importlib.util.find_spec(name) is not None


def transformers_major() -> int:
    return int(transformers.__version__.split(".")[0])


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


# ---------------------------------------------------------------------------------------------- tokenizer


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Give the tokenizer a pad token and right padding; refuse one without a chat template.

    Llama 3 has no pad token. Its reserved `<|finetune_right_pad_id|>` is used when present, else eos: padding
    is masked out of both attention and labels, so the choice never reaches the loss.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise TrainError("the tokenizer has no chat template: use an instruct model (or set one on the tokenizer)")
    if tokenizer.pad_token is None:
        vocab = tokenizer.get_vocab()
        if "<|finetune_right_pad_id|>" in vocab:
            tokenizer.pad_token = "<|finetune_right_pad_id|>"
        else:
            tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def _ids(tokenizer: Any, text: str) -> list[int]:
    # add_special_tokens=False: the chat template already writes <|begin_of_text|>; a second BOS would shift
    # every position away from what the server feeds the model at inference.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def tokenize_conversation(tokenizer: Any, messages: list[dict[str, str]], max_length: int) -> dict[str, list[int]] | None:
    """input_ids/attention_mask/labels for one conversation, the loss on the final assistant answer only.

    The prompt is rendered with `add_generation_prompt=True` (ending in the assistant header), exactly as vLLM
    renders it at inference. Rendering is done to text (`tokenize=False`) and tokenized here, because
    transformers 5 changed what `apply_chat_template(tokenize=True)` returns. Returns None when the example
    does not fit in `max_length`.
    """
    prompt_msgs, _answer = split_conversation(messages)
    prompt_text = tokenizer.apply_chat_template(prompt_msgs, tokenize=False, add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template(list(messages), tokenize=False)
    prompt_ids = _ids(tokenizer, prompt_text)
    if full_text.startswith(prompt_text):
        return build_example(prompt_ids, _ids(tokenizer, full_text[len(prompt_text):]), max_length)
    # A template whose prompt is not a prefix of the full render (rare): tokenize the whole and mask the common
    # prefix, which is never wider than the prompt.
    full_ids = _ids(tokenizer, full_text)
    if len(full_ids) > max_length:
        return None
    labels = assistant_only_labels(full_ids, prompt_ids)
    if all(label == -100 for label in labels):
        return None
    return {"input_ids": full_ids, "attention_mask": [1] * len(full_ids), "labels": labels}


def load_split(path: str, tokenizer: Any, max_length: int) -> tuple[list[dict[str, list[int]]], int]:
    """Tokenized examples of one JSONL file and the number dropped for exceeding max_length."""
    examples: list[dict[str, list[int]]] = []
    dropped = 0
    for n, obj, err in read_jsonl(path):
        if err:
            raise TrainError(f"{path}:{n}: {err}")
        ex = tokenize_conversation(tokenizer, obj["messages"], max_length)
        if ex is None:
            dropped += 1
        else:
            examples.append(ex)
    return examples, dropped


class PadCollator:
    """Pads a batch with `pad_batch` (labels -100, attention 0 on padding) and makes long tensors."""

    def __init__(self, pad_id: int, multiple_of: int | None = 8):
        self.pad_id = pad_id
        # A multiple of 8 keeps bf16 matmuls on tensor-core friendly shapes.
        self.multiple_of = multiple_of

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        batch = pad_batch(features, self.pad_id, self.multiple_of)
        return {k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()}


# ---------------------------------------------------------------------------------------------- model


def _dtype_kwarg(dtype: Any) -> dict[str, Any]:
    # transformers >= 4.56 names it `dtype` (5.x warns on `torch_dtype`); older pins only know `torch_dtype`.
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def quantization_config(cfg: dict[str, Any]) -> Any:
    """BitsAndBytesConfig for QLoRA (NF4, double quantization, bf16 compute), or a clear error without it."""
    if not has_module("bitsandbytes"):
        raise TrainError(
            'method "qlora" needs bitsandbytes (pip install bitsandbytes; it is in the trainer image). '
            'Use "method": "lora" to train without quantization.'
        )
    if not torch.cuda.is_available():
        raise TrainError('method "qlora" needs a CUDA GPU (bitsandbytes 4-bit kernels)')
    from transformers import BitsAndBytesConfig

    kwargs: dict[str, Any] = {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_use_double_quant": True,
        # Compute in the dtype the run trains in: bf16 on GPUs that have it, fp32 with `training.bf16: false`.
        "bnb_4bit_compute_dtype": torch.bfloat16 if cfg["training"]["bf16"] else torch.float32,
    }
    if uses_fsdp(cfg):
        # FSDP flattens parameters of one dtype per unit: storing the 4-bit weights as bf16 lets it shard them
        # alongside the bf16 norms (the FSDP-QLoRA recipe).
        kwargs["bnb_4bit_quant_storage"] = torch.bfloat16
    return BitsAndBytesConfig(**kwargs)


def lora_config(cfg: dict[str, Any]) -> Any:
    from peft import LoraConfig

    lc = cfg["lora"]
    return LoraConfig(
        r=lc["r"],
        lora_alpha=lc["alpha"],
        lora_dropout=lc["dropout"],
        target_modules=lc["target_modules"],
        bias="none",
        task_type="CAUSAL_LM",
    )


def uses_fsdp(cfg: dict[str, Any]) -> bool:
    dist = cfg.get("distributed")
    return bool(dist and dist.get("fsdp") and int(os.environ.get("WORLD_SIZE", "1")) > 1)


def load_model(cfg: dict[str, Any]) -> Any:
    """The base model as the method needs it (4-bit for QLoRA, bf16 otherwise), wrapped with LoRA unless full."""
    method = cfg["method"]
    bf16 = cfg["training"]["bf16"]
    kwargs: dict[str, Any] = _dtype_kwarg(torch.bfloat16 if bf16 else torch.float32)
    if method == "qlora":
        kwargs["quantization_config"] = quantization_config(cfg)
    if torch.cuda.is_available() and not uses_fsdp(cfg):
        # One full copy per process (single GPU or DDP); under FSDP the Trainer places the shards.
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    if uses_fsdp(cfg):
        kwargs["low_cpu_mem_usage"] = True
    kwargs["attn_implementation"] = "sdpa"
    token = os.environ.get("HF_TOKEN") or None
    model = AutoModelForCausalLM.from_pretrained(cfg["base_model"], token=token, **kwargs)
    return wrap_model(cfg, model)


def wrap_model(cfg: dict[str, Any], model: Any) -> Any:
    """Apply the method to a loaded model: LoRA adapters on all linear layers, or nothing for full FT."""
    model.config.use_cache = False  # the KV cache is useless in training and conflicts with checkpointing
    if cfg["method"] == "full":
        return model
    from peft import get_peft_model

    if cfg["method"] == "qlora" and not uses_fsdp(cfg):
        from peft import prepare_model_for_kbit_training

        # Casts the remaining non-4-bit weights for stable training; skipped under FSDP, where they must stay
        # bf16 to be flattened with the quantized storage.
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=cfg["training"]["gradient_checkpointing"],
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    model = get_peft_model(model, lora_config(cfg))
    if cfg["training"]["gradient_checkpointing"]:
        # With frozen embeddings nothing entering a checkpointed block requires grad; this makes it so.
        model.enable_input_require_grads()
    return model


# ---------------------------------------------------------------------------------------------- trainer


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


def memory_check(cfg: dict[str, Any], model: Any = None) -> dict[str, float] | None:
    """The GPU memory estimate (see text2sql_trainer/memory.py), or None when the model's shape is unknown.

    Raises TrainError, with the numbers, when a CUDA device is visible and the estimate exceeds its memory.
    """
    from text2sql_trainer.memory import estimate, fit_error, model_shape

    try:
        if model is not None:
            config = model.config
        else:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(cfg["base_model"], token=os.environ.get("HF_TOKEN") or None)
        parts = estimate(cfg, model_shape(config))
    except (OSError, ValueError, TypeError, AttributeError) as e:
        log(f"memory estimate skipped: {e}")
        return None
    log(f"memory estimate: {parts['total_gb']} GiB per GPU ({parts})")
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(int(os.environ.get("LOCAL_RANK", "0")))
        err = fit_error(parts, props.total_memory / 2**30, props.name)
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


def merge_adapter(cfg: dict[str, Any], adapter_dir: str, output_dir: str) -> str:
    """Merge the adapter into a bf16 copy of the base (never the 4-bit one, which would bake in rounding)."""
    from peft import PeftModel

    token = os.environ.get("HF_TOKEN") or None
    base = AutoModelForCausalLM.from_pretrained(
        cfg["base_model"], token=token, low_cpu_mem_usage=True, **_dtype_kwarg(torch.bfloat16)
    )
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    target = os.path.join(output_dir, "merged")
    merged.save_pretrained(target, safe_serialization=True)
    AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(target)
    return target


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


def train(
    cfg: dict[str, Any],
    data_dir: str,
    output_dir: str,
    model: Any = None,
    tokenizer: Any = None,
    base_model: str | None = None,
) -> dict[str, Any]:
    """Run one training job; `model`/`tokenizer` may be given already loaded (the smoke test's tiny model).

    A given model must be unwrapped: the method (LoRA/full) is applied here, so the smoke test exercises the
    same path as a real run. `base_model` is the original base model (host folder or hub id) when
    `cfg["base_model"]` is a container mount path; it is what `train_config.json`, the run fingerprint and the
    adapter's `adapter_config.json` record. Returns a summary dict (also emitted as the final `"end"` line).
    """
    if cfg["method"] == "grpo":
        return train_grpo(cfg, data_dir, output_dir, model=model, tokenizer=tokenizer, base_model=base_model)
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
    model = load_model(cfg) if model is None else wrap_model(cfg, model)
    trainer = make_trainer(model, tokenizer, train_ds, eval_ds, args)
    trainer.metrics_callback.resumed = resume is not None
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


# ---------------------------------------------------------------------------------------------- GRPO


def use_vllm(cfg: dict[str, Any]) -> bool:
    """vLLM colocated for generation when installed on a CUDA machine (`"auto"`), else TRL's plain generate."""
    want = cfg["grpo"]["use_vllm"]
    if want is True and not has_module("vllm"):
        raise TrainError('grpo.use_vllm is true but vllm is not installed (set "auto" to fall back to generate)')
    return bool(want is True or (want == "auto" and has_module("vllm") and torch.cuda.is_available()))


def load_grpo_prompts(path: str, tokenizer: Any, max_length: int) -> tuple[list[dict[str, Any]], int]:
    """GRPO rows of one JSONL file as TRL wants them (`prompt` = the conversation), and the number dropped
    because the rendered prompt exceeds `max_length` tokens (TRL 1.x has no prompt truncation of its own, and a
    cut schema would teach the wrong thing)."""
    rows: list[dict[str, Any]] = []
    dropped = 0
    for n, obj, err in read_jsonl(path):
        if err:
            raise TrainError(f"{path}:{n}: {err}")
        text = tokenizer.apply_chat_template(obj["messages"], tokenize=False, add_generation_prompt=True)
        if len(_ids(tokenizer, text)) > max_length:
            dropped += 1
            continue
        # `alt_results` (a tie's equally right answers, from `--audit`) as a JSON string: one column type for all.
        rows.append({"prompt": obj["messages"], "db_id": obj["db_id"], "gold_sql": obj["gold_sql"],
                     "db_path": obj["db_path"], "alt_results": json.dumps(obj.get("alt_results") or [])})
    return rows, dropped


def grpo_extra_args(cfg: dict[str, Any]) -> dict[str, Any]:
    """GRPOConfig's own settings from the `grpo` section."""
    g = cfg["grpo"]
    extra: dict[str, Any] = {
        "num_generations": g["num_generations"],
        "temperature": g["temperature"],
        "beta": g["beta"],
        "epsilon": g["epsilon"],
        "max_completion_length": g["max_completion_length"],
        "loss_type": g["loss_type"],
        "log_completions": g["log_completions"],
        "use_vllm": use_vllm(cfg),
    }
    if extra["use_vllm"]:
        extra["vllm_mode"] = "colocate"  # one GPU: vLLM shares it with training, no separate server
        extra["vllm_gpu_memory_utilization"] = g["vllm_gpu_memory_utilization"]
    if g["format_reward"] > 0:
        extra["reward_weights"] = [1.0, 1.0]
    return extra


class GrpoMetricsCallback(TrainerCallback):
    """One JSON line per GRPO logging step: loss, lr, reward mean/std, fractions correct/executable, KL, length."""

    def __init__(self, reward: Any):
        self.reward = reward

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not logs:
            return
        from text2sql_trainer.metrics import grpo_metric_from_logs

        gpu_mem = None
        if "loss" in logs and torch.cuda.is_available():
            gpu_mem = torch.cuda.max_memory_allocated() / 2**30
            torch.cuda.reset_peak_memory_stats()
        stats = self.reward.pop_stats() if "loss" in logs else None
        metric = grpo_metric_from_logs(logs, state.global_step, state.epoch, stats, gpu_mem)
        if metric is None or not state.is_world_process_zero:
            return
        emit(metric)
        if metric["type"] == "train":
            log(f"step {metric['step']} loss {metric['loss']} reward {metric['reward']} "
                f"correct {metric['frac_correct']} executable {metric['frac_executable']} kl {metric['kl']}")


def train_grpo(
    cfg: dict[str, Any],
    data_dir: str,
    output_dir: str,
    model: Any = None,
    tokenizer: Any = None,
    base_model: str | None = None,
) -> dict[str, Any]:
    """GRPO with TRL's GRPOTrainer: K completions per prompt, rewarded by the evaluator's verdict.

    The policy is the base with LoRA (on a 4-bit base for `grpo.adapter: "qlora"`); with `beta` > 0 the
    reference model is the same base with the adapter disabled (TRL does this for a PEFT model), so no second
    copy is loaded. Rewards execute in sandboxed worker processes (`text2sql_trainer/reward.py`).
    """
    if not has_module("trl"):
        raise TrainError('method "grpo" needs trl (pip install trl; it is in the trainer image)')
    import trl
    from trl import GRPOConfig, GRPOTrainer
    from text2sql_trainer.reward import ExecutionReward, FormatReward, SandboxLimits
    from text2sql_trainer.data import validate_dataset_dir as _validate

    g = cfg["grpo"]
    db_root = os.environ.get("TEXT2SQL_DB_ROOT") or g["db_root"]
    if not db_root or not os.path.isdir(db_root):
        raise TrainError(f"grpo.db_root: database folder not found ({db_root!r}); it holds <db_id>/<db_id>.sqlite")
    counts = _validate(data_dir, require_test=False, grpo=True)
    source = claim_run_folder(cfg, data_dir, output_dir, base_model)
    tokenizer = tokenizer_for(cfg, tokenizer)
    tokenizer.padding_side = "left"  # generation pads on the left
    max_length = cfg["training"]["max_length"]
    rows, dropped = load_grpo_prompts(os.path.join(data_dir, "train.jsonl"), tokenizer, max_length)
    if not rows:
        raise TrainError(f"no GRPO prompt fits in training.max_length {max_length}")
    resume = last_checkpoint(output_dir) if cfg["training"]["resume"] else None
    extra = grpo_extra_args(cfg)
    policy_cfg = {**cfg, "method": g["adapter"]}
    memory = memory_check(cfg, model)
    if is_main_process():
        emit({
            "type": "start",
            "base_model": source,
            "method": "grpo",
            "memory_estimate_gb": memory,
            "adapter": g["adapter"],
            "train_examples": len(rows),
            "eval_examples": 0,
            "dropped_too_long": dropped,
            "valid_lines": counts,
            "resume_from": resume,
            "num_generations": g["num_generations"],
            "generation": "vllm-colocate" if extra["use_vllm"] else "generate",
            "world_size": int(os.environ.get("WORLD_SIZE", "1")),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "trl": trl.__version__},
        })
    args = training_arguments(policy_cfg, output_dir, has_eval=False, args_cls=GRPOConfig, extra=extra)
    model = load_model(policy_cfg) if model is None else wrap_model(policy_cfg, model)
    from datasets import Dataset

    reward = ExecutionReward(db_root, partial=g["partial_reward"], workers=g["reward_workers"],
                             limits=SandboxLimits(timeout_s=g["reward_timeout_s"]))
    reward_funcs: list[Any] = [reward]
    if g["format_reward"] > 0:
        reward_funcs.append(FormatReward(g["format_reward"]))
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    try:
        trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs, args=args,
                              train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(GrpoMetricsCallback(reward))
        t0 = time.perf_counter()
        trainer.train(resume_from_checkpoint=resume)
        target = os.path.join(output_dir, "adapter")
        trainer.save_model(target)
        if trainer.is_world_process_zero():
            tokenizer.padding_side = "right"
            tokenizer.save_pretrained(target)
            set_adapter_base_model(target, source)
        written = {"adapter": target}
        if cfg["output"]["merge"] and trainer.is_world_process_zero():
            written["merged"] = merge_adapter(cfg, target, output_dir)
    finally:
        reward.close()
    summary = {"type": "end", "train_loss": None, "resumed_from": resume, "eval_loss": None,
               "seconds": round(time.perf_counter() - t0, 1), **written}
    if is_main_process():
        emit(summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="trainer config JSON")
    parser.add_argument("--data", help="folder with train.jsonl and test.jsonl (default: the config's dataset_dir)")
    parser.add_argument("--output", required=True, help="output folder (checkpoints, adapter, logs)")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
        # The base model as the user named it (host folder or hub id), recorded in the outputs.
        source = os.environ.get("TEXT2SQL_BASE_MODEL_SOURCE") or base_model_source(cfg["base_model"])
        if os.environ.get("TEXT2SQL_BASE_MODEL"):
            # Set by lib/train/command.ts when a local base-model folder is mounted into the container at another path.
            cfg["base_model"] = os.environ["TEXT2SQL_BASE_MODEL"]
        data_dir = args.data or cfg["dataset_dir"]
        if not data_dir:
            raise TrainError("no dataset: pass --data or set dataset_dir in the config")
        if cfg["dataset_dir"] and not args.data and not os.path.isabs(data_dir):
            data_dir = os.path.join(os.path.dirname(os.path.abspath(args.config)), data_dir)
        train(cfg, data_dir, args.output, base_model=source)
    except (ConfigError, DatasetError, TrainError, RunMismatchError) as e:
        print(f"train.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
