"""Running the trainer's CPU checks (smoke_test.py, grpo_check.py, the unit tests) as child processes.

Shared by the test that runs them on the trainer as it is (`test_cpu_checks.py`) and the one that runs them on
copies with a bug planted (`test_mutations.py`). They need torch, transformers, peft, trl and datasets (the venv
`install_cpu.sh` makes, which `deno task test` runs these tests with); without them the tests say so and skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

import _path

TRAINER = _path.TRAINER_DIR
REPO = os.path.dirname(TRAINER)
STACK = ("torch", "transformers", "peft", "trl", "datasets", "accelerate")
MISSING = [m for m in STACK if importlib.util.find_spec(m) is None]
WHY_SKIPPED = (f"needs {', '.join(MISSING)} (bash trainer/install_cpu.sh, then run with its python: "
               "deno task test does)")

# The checks, as commands relative to a trainer folder. --cpu hides any GPU; the defaults are what CI runs.
SMOKE = ["smoke_test.py", "--cpu"]
GRPO = ["grpo_check.py", "--cpu"]


def run_check(trainer_dir: str, args: list[str], timeout_s: float = 1500) -> subprocess.CompletedProcess:
    """Run one check script (or `-m unittest …`) with this Python in `trainer_dir`; output captured."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    script = args if args[0] == "-m" else [os.path.join(trainer_dir, args[0]), *args[1:]]
    return subprocess.run([sys.executable, *script], cwd=trainer_dir, env=env, capture_output=True, text=True,
                          timeout=timeout_s)


def copy_repo(dest: str) -> str:
    """A copy of trainer/ under `dest`/repo, beside a link to the real tests/ (the unit tests read shared
    fixtures from it); returns the copied trainer folder."""
    root = os.path.join(dest, "repo")
    os.makedirs(root)
    shutil.copytree(TRAINER, os.path.join(root, "trainer"),
                    ignore=shutil.ignore_patterns("__pycache__", ".venv", "outputs", "*.pyc"))
    os.symlink(os.path.join(REPO, "tests"), os.path.join(root, "tests"))
    return os.path.join(root, "trainer")


def plant(trainer_dir: str, path: str, old: str, new: str) -> None:
    """Replace the one occurrence of `old` in `path` (relative to the trainer folder) by `new`; a mutation whose
    text is not there exactly once is an error (the code moved: the mutation must be updated, not skipped)."""
    full = os.path.join(trainer_dir, path)
    with open(full, encoding="utf-8") as f:
        text = f.read()
    count = text.count(old)
    if count != 1:
        raise AssertionError(f"mutation target found {count} times in {path}: {old!r}")
    with open(full, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new))


def temp_dir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="t2s-trainer-check-")
