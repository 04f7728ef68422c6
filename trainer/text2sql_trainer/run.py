"""The run folder's identity: what a checkpoint depends on, so a resume never mixes two trainings (pure Python).

A run folder (`--out`) resumes from its newest `checkpoint-N`. Resuming is only sound when the new run would
have produced that checkpoint itself: same base model, method, LoRA shape, max length, optimizer and the same
dataset bytes. `run_fingerprint.json` records those; `lib/train/fingerprint.ts` compares against it before starting (dry
runs too) and `train.py` compares again, so `--runtime local` and hand-started container runs are safe as well.
The two sides must compute the same fingerprint: `tests/train/trainer_test.ts` checks them against each other.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

FINGERPRINT_FILE = "run_fingerprint.json"
CONFIG_FILE = "train_config.json"
# Older train.py versions recorded the container path of a mounted base model, not the host path or hub id.
CONTAINER_BASE = "/base"


class RunMismatchError(ValueError):
    """The run folder holds a run that differs in what its checkpoints depend on; one line for the user."""


def file_sha256(path: str) -> str | None:
    """Hex SHA-256 of a file's bytes, or None when it does not exist."""
    if not os.path.isfile(path):
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dataset_hash(data_dir: str) -> dict[str, str | None]:
    """SHA-256 of `train.jsonl` and `test.jsonl` (None for a missing file): the dataset's content, not its path."""
    return {split: file_sha256(os.path.join(data_dir, f"{split}.jsonl")) for split in ("train", "test")}


def base_model_source(base_model: str) -> str:
    """What to record as the base model: an existing local folder as an absolute path, a hub id as given."""
    return os.path.abspath(base_model) if os.path.isdir(base_model) else base_model


def run_fingerprint(cfg: dict[str, Any], base_model: str, dataset: dict[str, str | None] | None) -> dict[str, Any]:
    """What the checkpoints of a run depend on (shapes of the adapter and of the optimizer state, and the data).

    `base_model` is the original (host path or hub id), not a container mount path. Step counts, epochs,
    learning rate and batch size are left out on purpose: changing them and resuming is how a run is extended.
    """
    dist = cfg.get("distributed")
    lora = cfg["lora"]
    return {
        "base_model": base_model,
        "method": cfg["method"],
        "lora.r": lora["r"],
        "lora.alpha": lora["alpha"],
        "lora.target_modules": lora["target_modules"],
        "training.max_length": cfg["training"]["max_length"],
        "training.optim": cfg["training"]["optim"],
        # FSDP checkpoints store sharded optimizer state; a plain run cannot load them, nor the reverse.
        "distributed.fsdp": bool(dist and dist.get("fsdp") and dist.get("num_processes", 1) > 1),
        "dataset": dataset,
    }


def read_previous_fingerprint(output_dir: str) -> dict[str, Any] | None:
    """The fingerprint a previous run left in `output_dir`, or None for a new folder.

    Falls back to `train_config.json` for folders written before the fingerprint existed; their dataset is
    unknown (None) and a recorded `/base` (a container path) is not compared.
    """
    path = os.path.join(output_dir, FINGERPRINT_FILE)
    if os.path.isfile(path):
        return _read_json(path)
    path = os.path.join(output_dir, CONFIG_FILE)
    if os.path.isfile(path):
        cfg = _read_json(path)
        try:
            base = cfg.get("base_model")
            return run_fingerprint(cfg, None if base == CONTAINER_BASE else base, None)
        except (KeyError, TypeError, AttributeError):
            return None
    return None


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise RunMismatchError(f"{path}: cannot read the previous run's record ({e})") from e


def fingerprint_differences(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """`key (old → new)` for every difference; a value the previous run did not record (None) is not compared."""
    diffs: list[str] = []
    for key, new in current.items():
        old = previous.get(key)
        if old is None or old == new:
            continue
        if key == "dataset":
            changed = [s for s in ("train", "test") if old.get(s) != (new or {}).get(s)]
            diffs.append(f"dataset ({', '.join(f'{s}.jsonl' for s in changed)} content differs)")
        else:
            diffs.append(f"{key} ({json.dumps(old)} → {json.dumps(new)})")
    return diffs


def check_run_folder(output_dir: str, current: dict[str, Any]) -> None:
    """Raise RunMismatchError (one line) when `output_dir` holds a run whose checkpoints `current` must not resume."""
    previous = read_previous_fingerprint(output_dir)
    if previous is None:
        return
    diffs = fingerprint_differences(previous, current)
    if diffs:
        raise RunMismatchError(
            f"{output_dir} holds a previous run that differs in {'; '.join(diffs)}: resuming would mix the two; "
            "use another output folder, or delete this one to start over"
        )


def write_fingerprint(output_dir: str, fingerprint: dict[str, Any]) -> None:
    """Write `run_fingerprint.json` atomically: other ranks of a multi-GPU run may be reading it at that moment."""
    path = os.path.join(output_dir, FINGERPRINT_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(fingerprint, f, indent=2)
    os.replace(tmp, path)


def set_adapter_base_model(adapter_dir: str, base_model: str) -> bool:
    """Record the original base model (host path or hub id) in a saved adapter's `adapter_config.json`.

    Inside the container a local base model is loaded from its mount (`/base`), and PEFT records that path;
    `deno task serve` reads this field to pick the model to serve, so it must name something on the host.
    Returns False when there is no adapter config (full fine-tuning).
    """
    path = os.path.join(adapter_dir, "adapter_config.json")
    if not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8") as f:
        obj = json.load(f)
    obj["base_model_name_or_path"] = base_model
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
    return True
