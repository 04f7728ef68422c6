"""Metric lines: shape, NaN handling, and the recorded fixture that notebook 05 charts (stdlib only)."""

import json
import math
import os
import unittest

from _path import TRAINER_DIR
from text2sql_trainer import format_metric, metric_from_logs, parse_metric_line

TRAIN_KEYS = {"type", "step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "gpu_mem_gb"}
EVAL_KEYS = {"type", "step", "epoch", "eval_loss"}


class MetricTest(unittest.TestCase):
    def test_train_line(self):
        m = metric_from_logs({"loss": 1.25, "learning_rate": 2e-4, "grad_norm": 0.5, "epoch": 0.1}, 10, 0.1, 3000.0, 24.5)
        self.assertEqual(set(m), TRAIN_KEYS)
        self.assertEqual((m["type"], m["step"], m["loss"], m["lr"], m["tokens_per_s"]), ("train", 10, 1.25, 2e-4, 3000.0))

    def test_eval_line(self):
        m = metric_from_logs({"eval_loss": 0.4, "eval_runtime": 12.0, "epoch": 1.0}, 100, 1.0)
        self.assertTrue(EVAL_KEYS <= set(m))
        self.assertEqual((m["type"], m["eval_loss"], m["eval_runtime"]), ("eval", 0.4, 12.0))

    def test_summary_and_other(self):
        m = metric_from_logs({"train_runtime": 10.0, "train_loss": 0.3}, 5, 1.0)
        self.assertEqual(m["type"], "summary")
        self.assertIsNone(metric_from_logs({"total_flos": 1}, 5, 1.0))

    def test_summary_after_resume_has_no_train_loss(self):
        # Trainer divides this process's loss sum by all steps, the checkpoint's included: not a mean loss.
        fresh = metric_from_logs({"train_runtime": 10.0, "train_loss": 0.3}, 50, 1.0)
        self.assertEqual((fresh["train_loss"], fresh["resumed"]), (0.3, False))
        resumed = metric_from_logs({"train_runtime": 10.0, "train_loss": 0.06}, 50, 1.0, resumed=True)
        self.assertEqual((resumed["train_loss"], resumed["resumed"]), (None, True))
        self.assertIn('"train_loss":null', format_metric(resumed))

    def test_nan_becomes_null(self):
        m = metric_from_logs({"loss": float("nan"), "grad_norm": math.inf}, 1, None)
        line = format_metric(m)
        self.assertNotIn("NaN", line)
        self.assertNotIn("Infinity", line)
        self.assertIsNone(json.loads(line)["loss"])

    def test_parse_metric_line(self):
        self.assertEqual(parse_metric_line('{"type":"train","step":1}\n'), {"type": "train", "step": 1})
        self.assertIsNone(parse_metric_line("{'loss': 1.0}"))  # a Python dict repr is a log line
        self.assertIsNone(parse_metric_line('{"loss": 1.0}'))  # no type
        self.assertIsNone(parse_metric_line("Loading checkpoint shards: 100%"))
        self.assertIsNone(parse_metric_line("[1, 2]"))


class FixtureTest(unittest.TestCase):
    def test_recorded_stream_is_in_the_real_format(self):
        path = os.path.join(TRAINER_DIR, "fixtures", "metrics_sample.jsonl")
        with open(path) as f:
            raw = f.read().splitlines()
        metrics = [m for m in map(parse_metric_line, raw) if m is not None]
        self.assertLess(len(metrics), len(raw), "the fixture keeps a log line that readers must skip")
        train = [m for m in metrics if m["type"] == "train"]
        evals = [m for m in metrics if m["type"] == "eval"]
        self.assertGreater(len(train), 100)
        self.assertEqual(len(evals), 3)
        for m in train:
            self.assertTrue(TRAIN_KEYS <= set(m), m)
        for m in evals:
            self.assertTrue(EVAL_KEYS <= set(m), m)
        steps = [m["step"] for m in train]
        self.assertEqual(steps, sorted(steps))
        self.assertLess(sum(m["loss"] for m in train[-10:]), sum(m["loss"] for m in train[:10]))
        self.assertIn("not measured", metrics[0]["note"], "the fixture must say its numbers are illustrative")


class CompileTest(unittest.TestCase):
    def test_scripts_compile(self):
        # train.py and smoke_test.py need torch to run, but must at least be valid Python here.
        for name in ("train.py", "smoke_test.py"):
            path = os.path.join(TRAINER_DIR, name)
            with open(path, encoding="utf-8") as f:
                compile(f.read(), path, "exec")  # a SyntaxError fails the test; nothing is written


if __name__ == "__main__":
    unittest.main()


class GrpoMetricTest(unittest.TestCase):
    def test_a_grpo_log_becomes_a_train_line_with_reward_fields(self):
        from text2sql_trainer.metrics import grpo_metric_from_logs

        logs = {"loss": 0.25, "learning_rate": 1e-5, "grad_norm": 0.5, "reward": 0.55, "reward_std": 0.4,
                "frac_reward_zero_std": 0.5, "kl": 0.002, "completions/mean_length": 87.5, "epoch": 0.1}
        m = grpo_metric_from_logs(logs, 3, None, {"frac_correct": 0.5, "frac_executable": 0.75}, None)
        self.assertEqual(m, {"type": "train", "step": 3, "epoch": 0.1, "loss": 0.25, "lr": 1e-5, "grad_norm": 0.5,
                             "reward": 0.55, "reward_std": 0.4, "frac_reward_zero_std": 0.5, "frac_correct": 0.5, "frac_executable": 0.75,
                             "kl": 0.002, "completion_length": 87.5, "gpu_mem_gb": None})
        # Older TRL: completion_length; no KL logged with beta 0; NaN becomes null.
        old = grpo_metric_from_logs({"loss": float("nan"), "completion_length": 12}, 1, 0.0)
        self.assertEqual([old["loss"], old["kl"], old["completion_length"], old["frac_correct"]], [None, None, 12.0, None])
        self.assertEqual(grpo_metric_from_logs({"train_runtime": 5.0, "train_loss": 0.1}, 9, 1.0)["type"], "summary")
