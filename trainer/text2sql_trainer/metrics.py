"""Metric lines: the one JSON object per logging step that `train.py` prints on stdout (pure Python).

`lib/train/launch.ts` reads these lines from the trainer's stdout, appends them to `<run>/metrics.jsonl` and hands
them to the notebook's live loss chart. Shapes (more fields may be added, these stay):

    {"type": "train", "step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "gpu_mem_gb"}
    {"type": "eval", "step", "epoch", "eval_loss"}

Any other stdout line is a log line; readers skip it.
"""

from __future__ import annotations

import json
import math
from typing import Any


def _num(value: Any) -> float | None:
    """A finite float, or None (NaN/inf are not JSON, and a tensor-like becomes its float)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def metric_from_logs(
    logs: dict[str, Any],
    step: int,
    epoch: float | None,
    tokens_per_s: float | None = None,
    gpu_mem_gb: float | None = None,
    resumed: bool = False,
) -> dict[str, Any] | None:
    """Turn a `Trainer` log dict into a metric object, or None for logs that are neither train nor eval steps.

    Train logs carry `loss` (and `learning_rate`, `grad_norm`); eval logs carry `eval_loss`; the end-of-training
    summary carries `train_loss`/`train_runtime` and becomes a `"summary"` object.

    `resumed`: the run continued from a checkpoint. Trainer's `train_loss` then divides this process's loss sum
    by every step, the checkpoint's included, so it is meaningless: the summary reports null (as the `end` line
    does) and says it resumed.
    """
    ep = _num(epoch if epoch is not None else logs.get("epoch"))
    if "eval_loss" in logs:
        out: dict[str, Any] = {"type": "eval", "step": step, "epoch": ep, "eval_loss": _num(logs["eval_loss"])}
        for key in ("eval_runtime", "eval_samples_per_second"):
            if key in logs:
                out[key] = _num(logs[key])
        return out
    if "loss" in logs:
        return {
            "type": "train",
            "step": step,
            "epoch": ep,
            "loss": _num(logs["loss"]),
            "lr": _num(logs.get("learning_rate")),
            "grad_norm": _num(logs.get("grad_norm")),
            "tokens_per_s": _num(tokens_per_s),
            "gpu_mem_gb": _num(gpu_mem_gb),
        }
    if "train_runtime" in logs:
        return {
            "type": "summary",
            "step": step,
            "epoch": ep,
            "train_loss": None if resumed else _num(logs.get("train_loss")),
            "train_runtime": _num(logs.get("train_runtime")),
            "resumed": resumed,
        }
    return None


def format_metric(obj: dict[str, Any]) -> str:
    """One compact JSON line (no NaN: json.dumps would write the non-JSON token `NaN`)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def parse_metric_line(line: str) -> dict[str, Any] | None:
    """The metric object on a stdout line, or None for a log line (anything not a JSON object with a type)."""
    s = line.strip()
    if not s.startswith("{"):
        return None
    try:
        obj = json.loads(s)
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("type"), str) else None


def _first(logs: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in logs:
            return logs[key]
    return None


def grpo_metric_from_logs(
    logs: dict[str, Any],
    step: int,
    epoch: float | None,
    reward_stats: dict[str, float] | None = None,
    gpu_mem_gb: float | None = None,
) -> dict[str, Any] | None:
    """A GRPOTrainer log dict as a metric object: the SFT train line plus reward mean/std, the fractions correct
    and executable (from the execution reward's counts since the previous line), KL and completion length.

    TRL names: `reward`, `reward_std` (over the batch), `frac_reward_zero_std` (groups without signal), `kl` (only logged with beta > 0), `completions/mean_length`; older TRL
    used `completion_length`.
    """
    if "loss" not in logs:
        return metric_from_logs(logs, step, epoch)
    stats = reward_stats or {}
    return {
        "type": "train",
        "step": step,
        "epoch": _num(epoch if epoch is not None else logs.get("epoch")),
        "loss": _num(logs["loss"]),
        "lr": _num(logs.get("learning_rate")),
        "grad_norm": _num(logs.get("grad_norm")),
        "reward": _num(logs.get("reward")),
        # TRL's reward_std is the std over the whole batch: high even when no group carries a signal. The
        # per-group signal is frac_reward_zero_std: the share of prompts whose K completions all got the same
        # reward (zero advantage, no gradient from them). 1.0 means the step learned nothing from rewards.
        "reward_std": _num(logs.get("reward_std")),
        "frac_reward_zero_std": _num(logs.get("frac_reward_zero_std")),
        "frac_correct": _num(stats.get("frac_correct")),
        "frac_executable": _num(stats.get("frac_executable")),
        "kl": _num(logs.get("kl")),
        "completion_length": _num(_first(logs, "completions/mean_length", "completion_length")),
        "gpu_mem_gb": _num(gpu_mem_gb),
    }
