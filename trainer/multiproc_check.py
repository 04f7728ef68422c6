#!/usr/bin/env python3
"""Several processes, the way a 70B model runs: `accelerate launch --num_processes 2` of train.py on CPU (gloo).

    python trainer/multiproc_check.py [--keep DIR]

Builds smoke_test's tiny random Llama and its 8 training conversations on disk, then runs train.py (the real
command line, `--config`/`--output`) three times:
  1. one process, 8 conversations a step, 4 steps (the reference);
  2. two processes (`accelerate launch --multi_gpu --num_processes 2`, gloo), 4 conversations each a step, stopped after
     step 2 (`max_steps` 2, a checkpoint there);
  3. the same two processes with `max_steps` 4 in the same folder: resumes from checkpoint-2 across processes.
Each step sees all 8 conversations in both layouts, so the two-process losses equal the one-process losses up to
the order of floating-point sums (checked to 1e-4 relative), and checks:
  - metric lines come from rank 0 only: one `train` line per step, one `start` line per run, saying world size 2;
  - the checkpoints and the adapter are written once, by rank 0, and the resumed run starts at step 3.
Then two machines, played by two launchers on this host: the accelerate flags the dry run prints for a config
with `num_machines: 2` (`--num_machines 2 --machine_rank R --main_process_ip 127.0.0.1 --main_process_port P`,
one process each) must join into one run of two ranks whose losses equal one process's, with metric lines from
machine 0 only. Then GRPO the same way (two processes, each rank with its own reward pool): rank-0 lines with
rewards, resume across processes from checkpoint-2, the adapter saved once (`--no-grpo` skips it).
Needs torch, transformers, peft, accelerate, trl and datasets. Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def config(base: str, data: str, steps: int, per_device: int, processes: int) -> dict[str, Any]:
    return {
        "name": "multiproc-check", "base_model": base, "dataset_dir": data, "method": "lora",
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
        "training": {"max_steps": steps, "learning_rate": 5e-3, "lr_scheduler": "constant", "warmup_ratio": 0.0,
                     "per_device_batch_size": per_device, "gradient_accumulation_steps": 1, "max_length": 512,
                     "logging_steps": 1, "eval_strategy": "no", "save_steps": 2, "save_total_limit": 3,
                     "optim": "adamw_torch", "bf16": False, "gradient_checkpointing": False, "seed": 42},
        "distributed": {"launcher": "accelerate", "num_processes": processes, "fsdp": False} if processes > 1 else None,
    }


def run_train(cmd: list[str], work: str) -> list[dict[str, Any]]:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd[:4])}… exited {res.returncode}:\n{res.stderr[-4000:]}")
    lines = []
    for line in res.stdout.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def free_port() -> int:
    """A TCP port nothing listens on now (machine 0's rendezvous port)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_machines(work: str, base: str, data: str, train_py: str, ref: dict[int, float]) -> None:
    """The launch lib/train/command.ts prints for each machine of a `num_machines: 2` config, both machines on
    this host (one process each, gloo over 127.0.0.1): they must form one run of world size 2 that trains like
    one process, machine 1 printing no metric line."""
    cfg = config(base, data, 4, 4, 2)
    cfg["distributed"]["num_machines"] = 2
    path = os.path.join(work, "machines.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cfg, f)
    port = free_port()
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    procs = []
    for rank in (0, 1):
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines=2",
               "--num_processes=2", f"--machine_rank={rank}", "--main_process_ip=127.0.0.1",
               f"--main_process_port={port}", "--mixed_precision", "no", "--dynamo_backend", "no", train_py,
               "--config", path, "--output", os.path.join(work, "machines")]
        procs.append(subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    outs = []
    try:
        for rank, proc in enumerate(procs):
            out, err = proc.communicate(timeout=900)
            if proc.returncode != 0:
                raise AssertionError(f"machine {rank} exited {proc.returncode}:\n{err[-4000:]}")
            outs.append([json.loads(line) for line in out.splitlines() if line.startswith("{")])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    main, other = outs
    assert not other, f"machine 1 printed metric lines: {other}"
    starts = [m for m in main if m["type"] == "start"]
    assert len(starts) == 1 and starts[0]["world_size"] == 2, f"two machines: start lines {starts}"
    got = {m["step"]: m["loss"] for m in main if m["type"] == "train"}
    assert sorted(got) == sorted(ref), (ref, got)
    off = {s: (ref[s], got[s]) for s in ref if abs(ref[s] - got[s]) > 1e-4 * abs(ref[s])}
    assert not off, f"two-machine losses differ from one process's (step: one, two machines): {off}"
    import smoke_test

    losses = [round(got[s], 5) for s in sorted(got)]
    smoke_test.ok(f"two machines (--num_machines 2, ranks 0 and 1 at 127.0.0.1:{port}): one run of world size 2, "
                  f"metric lines from machine 0 only, losses equal one process's: {losses}")


def grpo_two_processes(work: str, launch: list[str], train_py: str) -> None:
    """GRPO under two processes (DDP over gloo): each rank samples its share of the groups and scores them with
    its own reward pool; rank 0 alone prints and saves. Stopped at step 2, launched again, resumed to step 4.
    (Sampling differs from one process's, so the numbers are not compared with a single-process run.)"""
    import grpo_check
    import smoke_test

    tok = grpo_check.build_tokenizer()
    model = smoke_test.build_model(tok)
    grpo_check.warm_start(model, tok, 120)
    base = os.path.join(work, "grpo_base")
    model.save_pretrained(base)
    tok.save_pretrained(base)
    db_root, data = grpo_check.write_fixture(os.path.join(work, "grpo"))
    out = os.path.join(work, "grpo_two")
    runs = []
    for steps in (2, 4):
        cfg = grpo_check.grpo_config(base, steps, "lora", db_root)
        cfg["training"]["per_device_batch_size"] = 4  # 2 ranks × 4 = 8 completions a step: 2 groups of 4
        cfg["training"]["save_steps"] = 2
        cfg["distributed"] = {"launcher": "accelerate", "num_processes": 2, "fsdp": False, "fsdp_layer_cls": None}
        path = os.path.join(work, f"grpo_{steps}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cfg, f)
        runs.append(run_train(launch + ["--config", path, "--data", data, "--output", out], work))
    for name, lines, steps in (("GRPO first", runs[0], [1, 2]), ("GRPO resumed", runs[1], [3, 4])):
        starts = [m for m in lines if m["type"] == "start"]
        trains = [m for m in lines if m["type"] == "train"]
        assert len(starts) == 1 and starts[0]["world_size"] == 2, f"{name}: start lines {starts}"
        assert [m["step"] for m in trains] == steps, f"{name}: train lines {trains} (rank 0 only: {steps})"
        assert all(m["reward"] is not None and m["frac_reward_zero_std"] is not None for m in trains), trains
    assert runs[1][0]["resume_from"].endswith("checkpoint-2"), runs[1][0]
    adapter = os.path.join(out, "adapter")
    assert os.path.isfile(os.path.join(adapter, "adapter_config.json")), "no GRPO adapter"
    assert not os.path.exists(os.path.join(adapter, "ref")), "the GRPO adapter carries a ref/ copy"
    smoke_test.ok("GRPO under two processes: rank-0 lines with rewards, world size 2, resumed from checkpoint-2 "
                  "across processes, adapter saved once without a ref copy")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", help="work folder to keep (default: a temporary one, removed)")
    ap.add_argument("--no-grpo", action="store_true", help="skip the two-process GRPO run")
    a = ap.parse_args()
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import smoke_test

    work = a.keep or tempfile.mkdtemp(prefix="t2s-multiproc-")
    os.makedirs(work, exist_ok=True)
    try:
        data = os.path.join(work, "data")
        smoke_test.write_dataset(data)
        tok = smoke_test.build_tokenizer()
        base = os.path.join(work, "base")
        smoke_test.build_model(tok).save_pretrained(base)
        tok.save_pretrained(base)
        train_py = os.path.join(HERE, "train.py")

        def cfg_file(name: str, c: dict[str, Any]) -> str:
            path = os.path.join(work, name)
            with open(path, "w", encoding="utf-8") as f:
                json.dump(c, f)
            return path

        one = run_train([sys.executable, train_py, "--config", cfg_file("one.json", config(base, data, 4, 8, 1)),
                         "--output", os.path.join(work, "one")], work)
        # The command lib/train/command.ts builds for several GPUs (`--multi_gpu`: torch's elastic launcher, one
        # process per rank). With no GPU visible the ranks join over gloo on CPU. (`--cpu` would not do: for
        # several CPU processes accelerate wants MPI.)
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                  "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", train_py]
        out2 = os.path.join(work, "two")
        first = run_train(launch + ["--config", cfg_file("two_a.json", config(base, data, 2, 4, 2)), "--output", out2],
                          work)
        second = run_train(launch + ["--config", cfg_file("two_b.json", config(base, data, 4, 4, 2)), "--output",
                                     out2], work)

        for name, lines, steps in (("first", first, [1, 2]), ("resumed", second, [3, 4])):
            starts = [m for m in lines if m["type"] == "start"]
            trains = [m["step"] for m in lines if m["type"] == "train"]
            assert len(starts) == 1 and starts[0]["world_size"] == 2, f"{name}: start lines {starts}"
            assert trains == steps, (f"{name}: train lines for steps {trains} (rank 0 only: {steps}): "
                                     f"{[m for m in lines if m['type'] == 'train']}")
        assert second[0]["resume_from"].endswith("checkpoint-2"), second[0]
        for ck in ("checkpoint-2", "checkpoint-4", "adapter"):
            assert os.path.isdir(os.path.join(out2, ck)), f"{ck} missing in the two-process run"
        smoke_test.ok("two processes: metric lines from rank 0 only, world size 2, checkpoints and adapter "
                      "written, the second launch resumed from checkpoint-2 at step 3")
        ref = {m["step"]: m["loss"] for m in one if m["type"] == "train"}
        two = {m["step"]: m["loss"] for m in first + second if m["type"] == "train"}
        assert sorted(ref) == sorted(two) == [1, 2, 3, 4], (ref, two)
        off = {s: (ref[s], two[s]) for s in ref if abs(ref[s] - two[s]) > 1e-4 * abs(ref[s])}
        assert not off, f"two-process losses differ from one process's (step: one, two): {off}"
        smoke_test.ok(f"two-process losses (resume included) equal one process's to 1e-4: "
                      f"{[round(two[s], 5) for s in sorted(two)]}")
        two_machines(work, base, data, train_py, ref)
        if not a.no_grpo:
            grpo_two_processes(work, launch, train_py)
        print(f"multiproc_check: {len(smoke_test.checks)} checks passed", flush=True)
        return 0
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
