"""A GPU memory estimate for a run, printed at start and used to refuse a config that cannot fit (pure Python).

An estimate from the model's shape, not a measurement: weights (4-bit for QLoRA, with the embeddings, head and
norms in fp32, as `prepare_model_for_kbit_training` casts them: 1.96 GiB for Llama 3.1 8B's 2 × 128256 × 4096;
bf16 or fp32 otherwise; sharded over the processes under FSDP), LoRA adapter with its gradients and AdamW state
(sharded under FSDP too), the fp32 logits of a micro-batch (the largest single tensor at Llama 3's 128k
vocabulary: 3 × 4096 × 128256 × 4 bytes ≈ 5.9 GiB at the default profile), activations under gradient
checkpointing, vLLM's reserved share of the GPU when GRPO generates with vLLM colocated
(`grpo.vllm_gpu_memory_utilization` × the GPU's memory: vLLM takes it whatever the model needs), and a fixed
1 GiB for the CUDA context and allocator slack.
"""

from __future__ import annotations

from typing import Any

GIB = 2**30


# The shapes of the bases the bundled configs name (their config.json's text_config values), so a dry run
# estimates without a download. A local folder's own config.json is read instead.
KNOWN_SHAPES: dict[str, dict[str, int]] = {
    "meta-llama/Llama-3.1-8B-Instruct": {"hidden_size": 4096, "num_hidden_layers": 32, "intermediate_size": 14336,
                                         "vocab_size": 128256, "num_attention_heads": 32, "num_key_value_heads": 8},
    "meta-llama/Llama-3.3-70B-Instruct": {"hidden_size": 8192, "num_hidden_layers": 80, "intermediate_size": 28672,
                                          "vocab_size": 128256, "num_attention_heads": 64, "num_key_value_heads": 8},
    # Mixture of experts: 16 routed experts (intermediate 8192) and one shared expert in each of 48 layers;
    # 17B parameters active, ~108B in the text model.
    "meta-llama/Llama-4-Scout-17B-16E-Instruct": {"hidden_size": 5120, "num_hidden_layers": 48,
                                                  "intermediate_size": 8192, "vocab_size": 202048,
                                                  "num_attention_heads": 40, "num_key_value_heads": 8,
                                                  "num_local_experts": 16},
}


def model_shape(config: Any) -> dict[str, int]:
    """The dimensions the estimate needs, from a transformers model config (or a dict of the same keys)."""
    if not isinstance(config, dict) and getattr(config, "text_config", None) is not None:
        config = config.text_config  # multimodal configs (Llama 4) keep the language model's shape there
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
        # Routed experts per MoE layer (0: a dense MLP); a MoE layer also has one shared expert.
        "experts": int(get("num_local_experts", 0) or 0),
    }


def parameter_count(shape: dict[str, int]) -> int:
    """Parameters of a Llama-shaped decoder with untied embeddings and head (MoE: every expert, the shared one
    and the router counted)."""
    h, i, kv, v = shape["hidden"], shape["intermediate"], shape["kv_dim"], shape["vocab"]
    experts = shape.get("experts", 0)
    mlps = experts + 1 if experts else 1
    per_layer = 2 * h * h + 2 * h * kv + 3 * h * i * mlps + 2 * h + (h * experts)
    return shape["layers"] * per_layer + 2 * v * h + h


def fsdp_shards(cfg: dict[str, Any]) -> int:
    """How many ways FSDP shards weights, gradients and optimizer state (1 without FSDP): every process of every
    machine, `full_shard` being one shard group over the whole world."""
    dist = cfg.get("distributed") or {}
    return max(1, int(dist.get("num_processes", 1))) if dist.get("fsdp") else 1


def weight_bytes(cfg: dict[str, Any], shape: dict[str, int]) -> float:
    """Bytes of the base model's weights on one process before FSDP sharding (4-bit for QLoRA)."""
    method = cfg["grpo"]["adapter"] if cfg["method"] == "grpo" else cfg["method"]
    h, layers, v = shape["hidden"], shape["layers"], shape["vocab"]
    params = parameter_count(shape)
    if method != "qlora":
        return params * (2 if cfg["training"]["bf16"] else 4)
    # NF4 with double quantization ≈ 0.53 bytes a weight. prepare_model_for_kbit_training casts every other
    # weight (embeddings, head, norms) to fp32; under FSDP it is skipped and they stay 16-bit.
    other = 2 * v * h + (2 * layers + 1) * h
    return (params - other) * 0.53 + other * (4 if fsdp_shards(cfg) == 1 else 2)


def estimate(cfg: dict[str, Any], shape: dict[str, int], gpu_gb: float | None = None,
             vllm: bool = False) -> dict[str, float]:
    """GiB per part and the total for one GPU (one process) under `cfg`.

    `gpu_gb`: the GPU's memory, for vLLM's share (`vllm`: GRPO generates with vLLM colocated); without it the
    share is reported as 0 and `vllm_fraction` says what it will take.
    """
    t = cfg["training"]
    method = cfg["method"]
    if method == "grpo":
        method = cfg["grpo"]["adapter"]
    h, layers, v = shape["hidden"], shape["layers"], shape["vocab"]
    params = parameter_count(shape)
    act_bytes = 2 if t["bf16"] else 4
    shards = fsdp_shards(cfg)
    weights = weight_bytes(cfg, shape)
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
    fraction = cfg["grpo"]["vllm_gpu_memory_utilization"] if vllm and cfg["method"] == "grpo" else 0.0
    parts = {
        "weights_gb": weights / shards / GIB,
        "adapter_and_optimizer_gb": optimizer / shards / GIB,
        "logits_gb": logits / GIB,
        "activations_gb": activations / GIB,
        "vllm_gb": fraction * gpu_gb if gpu_gb else 0.0,
        "overhead_gb": 1.0,
    }
    parts["total_gb"] = sum(parts.values())
    out = {k: round(x, 2) for k, x in parts.items()}
    if fraction and not gpu_gb:
        out["vllm_fraction"] = fraction
    if shards > 1:
        out["fsdp_shards"] = shards
        machines = (cfg.get("distributed") or {}).get("num_machines", 1)
        if machines > 1:
            out["fsdp_machines"] = machines  # FSDP full_shard spans every GPU of every machine
    return out


def fit_error(parts: dict[str, float], gpu_gb: float, gpu_name: str = "the GPU") -> str | None:
    """One line refusing a run whose estimate exceeds the GPU's memory, or None when it fits."""
    if parts["total_gb"] <= gpu_gb:
        return None
    vllm = f", vLLM's share {parts['vllm_gb']:.1f}" if parts.get("vllm_gb") else ""
    return (f"estimated {parts['total_gb']:.1f} GiB per GPU{vllm} (weights {parts['weights_gb']:.1f}, logits "
            f"{parts['logits_gb']:.1f}, activations {parts['activations_gb']:.1f}, adapter+optimizer "
            f"{parts['adapter_and_optimizer_gb']:.1f}) exceeds {gpu_name}'s {gpu_gb:.1f} GiB: lower "
            "training.per_device_batch_size or training.max_length (raise gradient_accumulation_steps to keep the "
            "batch), or use method qlora")


def shape_for(base_model: str) -> dict[str, int] | None:
    """The shape of a base model: its folder's config.json, or KNOWN_SHAPES by hub id; None when unknown."""
    import json
    import os

    path = os.path.join(base_model, "config.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            conf = json.load(f)
        return model_shape(conf.get("text_config") or conf)
    known = KNOWN_SHAPES.get(base_model)
    return model_shape(known) if known else None


def main(argv: list[str] | None = None) -> int:
    """`python3 -m text2sql_trainer.memory CONFIG [GPU_GIB]`: the estimate per GPU as one JSON line (stdlib
    only: what `deno task train --dry-run` prints); exit 3 when the base model's shape is unknown."""
    import json
    import sys

    from .config import load_config

    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print("usage: python3 -m text2sql_trainer.memory CONFIG [GPU_GIB]", file=sys.stderr)
        return 2
    cfg = load_config(args[0])
    shape = shape_for(cfg["base_model"])
    if shape is None:
        print(json.dumps({"base_model": cfg["base_model"], "unknown_shape": True}))
        return 3
    gpu = float(args[1]) if len(args) > 1 else None
    vllm = cfg["method"] == "grpo" and cfg["grpo"]["use_vllm"] is not False
    parts = estimate(cfg, shape, gpu_gb=gpu, vllm=vllm)
    print(json.dumps({"base_model": cfg["base_model"], "parameters_b": round(parameter_count(shape) / 1e9, 1),
                      **parts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
