"""What every part of the torch side shares: the user-facing error, the two output channels, feature probes.

stdout is the metric channel (one JSON object a line, `emit`); everything else goes to stderr (`log`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any, Callable

from .metrics import format_metric

# Extra receivers of every emitted metric object (the smoke test and the GRPO check record them here).
METRIC_SINKS: list[Callable[[dict[str, Any]], None]] = []


class TrainError(RuntimeError):
    """A run that cannot proceed, with a message meant for the user (printed as one line, exit 2)."""


def log(msg: str) -> None:
    """Human-readable progress on stderr: stdout is reserved for metric lines."""
    print(msg, file=sys.stderr, flush=True)


def emit(obj: dict[str, Any]) -> None:
    """One metric/event JSON line on stdout, flushed so the host sees it live (and to every METRIC_SINKS entry)."""
    print(format_metric(obj), flush=True)
    for sink in METRIC_SINKS:
        sink(obj)


def has_module(name: str) -> bool:
    """Whether an optional package is importable (bitsandbytes, trl, tensorboard), without importing it."""
    return importlib.util.find_spec(name) is not None


def transformers_major() -> int:
    """The installed transformers' major version."""
    import transformers

    return int(transformers.__version__.split(".")[0])


def is_main_process() -> bool:
    """Rank 0 (or a single process): the one that prints metrics and writes run files."""
    return int(os.environ.get("RANK", "0")) == 0


def dtype_kwarg(dtype: Any) -> dict[str, Any]:
    """`dtype=` (transformers >= 4.56; 5.x warns on `torch_dtype`) or `torch_dtype=` for older pins."""
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}
