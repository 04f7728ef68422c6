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
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # so the script runs from any folder

# The torch side, one module per concern (text2sql_trainer/hf_*.py); re-exported here because train.py is the
# entry point every check (smoke_test.py, grpo_check.py, the mutation test) drives.
from text2sql_trainer import (  # noqa: E402
    ConfigError, DatasetError, RunMismatchError, base_model_source, launch_error, load_config)
from text2sql_trainer.hf_common import (  # noqa: E402,F401
    METRIC_SINKS, TrainError, dtype_kwarg, emit, has_module, is_main_process, log, transformers_major)
from text2sql_trainer.hf_data import (  # noqa: E402,F401
    PadCollator, _ids, load_grpo_prompts, load_split, prepare_tokenizer, tokenize_conversation)
from text2sql_trainer.hf_model import (  # noqa: E402,F401
    load_model, lora_config, merge_adapter, quantization_config, uses_fsdp, wrap_model)
from text2sql_trainer.hf_sft import (  # noqa: E402,F401
    JsonMetricsCallback, TokenCountingTrainer, claim_run_folder, last_checkpoint, make_trainer, memory_check,
    save_outputs, tokenizer_for, train_sft, training_arguments)
from text2sql_trainer.hf_grpo import GrpoMetricsCallback, grpo_extra_args, train_grpo, use_vllm  # noqa: E402,F401
import torch  # noqa: E402  (already loaded by the modules above)

_dtype_kwarg = dtype_kwarg  # the name the checks used before the split


def train(cfg: dict[str, Any], data_dir: str, output_dir: str, model: Any = None, tokenizer: Any = None,
          base_model: str | None = None, callbacks: list[Any] | None = None,
          on_trainer: Any = None) -> dict[str, Any]:
    """Run one training job (SFT or GRPO by `cfg["method"]`); see `train_sft` and `train_grpo`.

    `callbacks`: extra `TrainerCallback`s (the checks stop a run part-way with one, to prove resume);
    `on_trainer`: called with the trainer before training starts (the checks assert on what was built).
    """
    run = train_grpo if cfg["method"] == "grpo" else train_sft
    return run(cfg, data_dir, output_dir, model=model, tokenizer=tokenizer, base_model=base_model,
               callbacks=callbacks, on_trainer=on_trainer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="trainer config JSON")
    parser.add_argument("--data", help="folder with train.jsonl and test.jsonl (default: the config's dataset_dir)")
    parser.add_argument("--output", required=True, help="output folder (checkpoints, adapter, logs)")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
        # Launched as the config says (accelerate/torchrun set WORLD_SIZE), on no more processes than GPUs here.
        mismatch = launch_error(cfg, os.environ, cuda_gpus)
        if mismatch:
            raise ConfigError(mismatch)
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
        close_distributed()
    except (ConfigError, DatasetError, TrainError, RunMismatchError) as e:
        print(f"train.py: {e}", file=sys.stderr)
        return 2
    return 0


def cuda_gpus() -> int:
    """The CUDA devices this process sees (0 without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def close_distributed() -> None:
    """After a finished run under accelerate/torchrun, leave the process group cleanly: every rank waits for the
    others, then destroys the group (a failed run just exits: its launcher stops the other ranks). A rank that
    exits with gloo's threads still running can abort at interpreter exit ("terminate called without an active
    exception", SIGABRT) after the run itself has finished and saved: CI saw it once in test_multiproc."""
    dist = getattr(sys.modules.get("torch"), "distributed", None)
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return
    try:
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
