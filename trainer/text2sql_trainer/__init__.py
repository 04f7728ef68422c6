"""Pure-Python helpers of the text2sql trainer: config, dataset, label masking and metric lines.

Nothing here imports torch, so `python3 -m unittest discover -s trainer/tests` runs on any machine.
"""

from .config import DEFAULTS, OPTIMIZERS, ConfigError, launch_error, load_config, merge_defaults, validate_config
from .data import (
    IGNORE_INDEX,
    DatasetError,
    assistant_only_labels,
    build_example,
    common_prefix_len,
    pad_batch,
    split_conversation,
    validate_dataset_dir,
    validate_example,
)
from .metrics import format_metric, metric_from_logs, parse_metric_line
from .run import (
    RunMismatchError,
    base_model_source,
    check_run_folder,
    dataset_hash,
    fingerprint_differences,
    read_previous_fingerprint,
    run_fingerprint,
    set_adapter_base_model,
    write_fingerprint,
)

__all__ = [
    "DEFAULTS",
    "OPTIMIZERS",
    "RunMismatchError",
    "base_model_source",
    "check_run_folder",
    "dataset_hash",
    "fingerprint_differences",
    "read_previous_fingerprint",
    "run_fingerprint",
    "set_adapter_base_model",
    "write_fingerprint",
    "ConfigError",
    "DatasetError",
    "IGNORE_INDEX",
    "assistant_only_labels",
    "build_example",
    "common_prefix_len",
    "format_metric",
    "launch_error",
    "load_config",
    "merge_defaults",
    "metric_from_logs",
    "pad_batch",
    "parse_metric_line",
    "split_conversation",
    "validate_config",
    "validate_dataset_dir",
    "validate_example",
]
