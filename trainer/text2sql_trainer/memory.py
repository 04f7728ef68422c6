"""A GPU memory estimate for a run, printed at start and used to refuse a config that cannot fit (pure Python).

An estimate from the model's shape, not a measurement: weights (4-bit for QLoRA, bf16 or fp32 otherwise),
LoRA adapter with its gradients and AdamW state, the fp32 logits of a micro-batch (the largest single tensor at
Llama 3's 128k vocabulary: 3 × 4096 × 128256 × 4 bytes ≈ 5.9 GiB at the default profile), activations under
gradient checkpointing, and a fixed 1 GiB for the CUDA context and allocator slack.
"""

from __future__ import annotations

from typing import Any

GIB = 2**30


def model_shape(config: Any) -> dict[str, int]:
    """The dimensions the estimate needs, from a transformers model config (or a dict of the same keys)."""
    get = config.get if isinstance(config, dict) else (lambda k, d=None: getattr(config, k, d))
    hidden = int(get("hidden_size"))
    heads = int(get("num_attention_heads"))
    kv = int(get("num_key_value_heads", heads) or heads)
    return {
        "hidden": hidden,
        "layers": int(get("num_hidden_layers")),
        "intermediate": int(get("intermediate_size")),
        "vocab": int(get("vocab_size")),
        "kv_dim": hidden // heads * kv,
    }


def parameter_count(shape: dict[str, int]) -> int:
    """Parameters of a Llama-shaped decoder with untied embeddings and head."""
    h, i, kv, v = shape["hidden"], shape["intermediate"], shape["kv_dim"], shape["vocab"]
    per_layer = 2 * h * h + 2 * h * kv + 3 * h * i + 2 * h
    return shape["layers"] * per_layer + 2 * v * h + h


def estimate(cfg: dict[str, Any], shape: dict[str, int]) -> dict[str, float]:
    """GiB per part and the total for one GPU (one data-parallel process) under `cfg`."""
    t = cfg["training"]
    method = cfg["method"]
    if method == "grpo":
        method = cfg["grpo"]["adapter"]
    h, layers, v = shape["hidden"], shape["layers"], shape["vocab"]
    params = parameter_count(shape)
    head_and_embed = 2 * v * h
    act_bytes = 2 if t["bf16"] else 4
    if method == "qlora":
        # NF4 with double quantization ≈ 0.53 bytes a weight; embeddings and head stay in 16 bits.
        weights = (params - head_and_embed) * 0.53 + head_and_embed * 2
    else:
        weights = params * act_bytes
    trainable = 0
    if method in ("qlora", "lora"):
        r = cfg["lora"]["r"]
        per_layer = r * (2 * (h + h) + 2 * (h + shape["kv_dim"]) + 3 * (h + shape["intermediate"]))
        trainable = layers * per_layer
    else:
        trainable = params
    # Weight copy (if not counted), fp32 gradient and the two AdamW moments: 16 bytes a trainable parameter.
    optimizer = trainable * (16 if method != "full" else 12)
    seq = t["max_length"] + (cfg["grpo"]["max_completion_length"] if cfg["method"] == "grpo" else 0)
    batch = t["per_device_batch_size"]
    logits = batch * seq * v * 4
    per_token_layer = h if t["gradient_checkpointing"] else (10 * h + 3 * shape["intermediate"])
    activations = batch * seq * per_token_layer * layers * act_bytes
    if t["gradient_checkpointing"]:
        activations += batch * seq * (10 * h + 3 * shape["intermediate"]) * act_bytes  # one layer recomputed
    parts = {
        "weights_gb": weights / GIB,
        "adapter_and_optimizer_gb": optimizer / GIB,
        "logits_gb": logits / GIB,
        "activations_gb": activations / GIB,
        "overhead_gb": 1.0,
    }
    parts["total_gb"] = sum(parts.values())
    return {k: round(x, 2) for k, x in parts.items()}


def fit_error(parts: dict[str, float], gpu_gb: float, gpu_name: str = "the GPU") -> str | None:
    """One line refusing a run whose estimate exceeds the GPU's memory, or None when it fits."""
    if parts["total_gb"] <= gpu_gb:
        return None
    return (f"estimated {parts['total_gb']:.1f} GiB per GPU (weights {parts['weights_gb']:.1f}, logits "
            f"{parts['logits_gb']:.1f}, activations {parts['activations_gb']:.1f}, adapter+optimizer "
            f"{parts['adapter_and_optimizer_gb']:.1f}) exceeds {gpu_name}'s {gpu_gb:.1f} GiB: lower "
            "training.per_device_batch_size or training.max_length (raise gradient_accumulation_steps to keep the "
            "batch), or use method qlora")
