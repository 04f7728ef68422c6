"""Loading the base model as the method needs it (4-bit for QLoRA, 16-bit otherwise), LoRA, merging."""

from __future__ import annotations

import os
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from .hf_common import TrainError, dtype_kwarg, has_module


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
    """The `lora` section as a peft `LoraConfig` (bias none, causal LM)."""
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
    """FSDP is configured and more than one process runs."""
    dist = cfg.get("distributed")
    return bool(dist and dist.get("fsdp") and int(os.environ.get("WORLD_SIZE", "1")) > 1)


def load_base(cfg: dict[str, Any]) -> Any:
    """The base model as the method needs it (4-bit for QLoRA, bf16 otherwise), prepared but without LoRA."""
    method = cfg["method"]
    bf16 = cfg["training"]["bf16"]
    kwargs: dict[str, Any] = dtype_kwarg(torch.bfloat16 if bf16 else torch.float32)
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
    return prepare_base(cfg, model)


def load_model(cfg: dict[str, Any]) -> Any:
    """The base model as the method needs it, wrapped with LoRA unless full."""
    return apply_method(cfg, load_base(cfg))


def prepare_base(cfg: dict[str, Any], model: Any) -> Any:
    """Ready a loaded base for training: no KV cache; for QLoRA (not under FSDP) `prepare_model_for_kbit_training`,
    which casts every non-4-bit weight (embeddings, head, norms) to fp32: memory.py counts them so."""
    model.config.use_cache = False  # the KV cache is useless in training and conflicts with checkpointing
    if cfg["method"] == "qlora" and not uses_fsdp(cfg):
        from peft import prepare_model_for_kbit_training

        # Skipped under FSDP, where they must stay bf16 to be flattened with the quantized storage.
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=cfg["training"]["gradient_checkpointing"],
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    return model


def apply_method(cfg: dict[str, Any], model: Any) -> Any:
    """LoRA adapters on all linear layers of a prepared base, or nothing for full fine-tuning.

    The caller seeds first (`training.seed`): the adapter's A matrices are drawn here."""
    if cfg["method"] == "full":
        return model
    from peft import get_peft_model

    model = get_peft_model(model, lora_config(cfg))
    if cfg["training"]["gradient_checkpointing"]:
        # With frozen embeddings nothing entering a checkpointed block requires grad; this makes it so.
        model.enable_input_require_grads()
    return model


def wrap_model(cfg: dict[str, Any], model: Any) -> Any:
    """Apply the method to a loaded model: `prepare_base` then `apply_method`."""
    return apply_method(cfg, prepare_base(cfg, model))


def merge_adapter(cfg: dict[str, Any], adapter_dir: str, output_dir: str) -> str:
    """Merge the adapter into a bf16 copy of the base (never the 4-bit one, which would bake in rounding)."""
    from peft import PeftModel

    token = os.environ.get("HF_TOKEN") or None
    base = AutoModelForCausalLM.from_pretrained(
        cfg["base_model"], token=token, low_cpu_mem_usage=True, **dtype_kwarg(torch.bfloat16)
    )
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    target = os.path.join(output_dir, "merged")
    merged.save_pretrained(target, safe_serialization=True)
    AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(target)
    return target
