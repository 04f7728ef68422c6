"""GRPO with TRL's GRPOTrainer: K completions per prompt, rewarded by the evaluator's verdict."""

from __future__ import annotations

import os
import time
from typing import Any

import torch
import transformers
from transformers import TrainerCallback, set_seed

from .hf_common import TrainError, emit, has_module, is_main_process, log
from .hf_data import load_grpo_prompts
from .hf_model import load_base, lora_config, merge_adapter, prepare_base
from .hf_sft import claim_run_folder, last_checkpoint, memory_check, tokenizer_for, training_arguments
from .run import set_adapter_base_model


def use_vllm(cfg: dict[str, Any]) -> bool:
    """vLLM colocated for generation when installed on a CUDA machine (`"auto"`), else TRL's plain generate."""
    want = cfg["grpo"]["use_vllm"]
    if want is True and not has_module("vllm"):
        raise TrainError('grpo.use_vllm is true but vllm is not installed (set "auto" to fall back to generate)')
    return bool(want is True or (want == "auto" and has_module("vllm") and torch.cuda.is_available()))


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
    callbacks: list[Any] | None = None,
    on_trainer: Any = None,
) -> dict[str, Any]:
    """GRPO with TRL's GRPOTrainer: K completions per prompt, rewarded by the evaluator's verdict.

    The policy is the base with LoRA (on a 4-bit base for `grpo.adapter: "qlora"`). The base goes to TRL
    UNWRAPPED with the LoRA config (`peft_config`): TRL then adds the adapter itself and, with `beta` > 0, takes
    the reference log-probabilities from the same model with the adapter disabled, i.e. the base. (Handing TRL
    an already-wrapped PEFT model makes it add a second, frozen `ref` adapter: twice the adapter memory, and a
    `ref/` folder in every saved adapter.) Rewards execute in sandboxed worker processes (`reward.py`).
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
    memory = memory_check(cfg, model, vllm=extra["use_vllm"])
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
    model = load_base(policy_cfg) if model is None else prepare_base(policy_cfg, model)
    from datasets import Dataset

    reward = ExecutionReward(db_root, partial=g["partial_reward"], workers=g["reward_workers"],
                             limits=SandboxLimits(timeout_s=g["reward_timeout_s"]))
    reward_funcs: list[Any] = [reward]
    if g["format_reward"] > 0:
        reward_funcs.append(FormatReward(g["format_reward"]))
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    try:
        # `training.seed` fixes the LoRA initialisation: TRL draws it in its constructor, before Trainer seeds.
        set_seed(cfg["training"]["seed"])
        trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs, args=args, peft_config=lora_config(policy_cfg),
                              train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(GrpoMetricsCallback(reward))
        for callback in callbacks or []:
            trainer.add_callback(callback)
        if on_trainer:
            on_trainer(trainer)
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
