"""Config validation (stdlib only). The same cases are checked in tests/train/trainer_test.ts for the TS validator."""

import copy
import json
import os
import tempfile
import unittest

from _path import TRAINER_DIR
from text2sql_trainer import DEFAULTS, OPTIMIZERS, ConfigError, launch_error, load_config, validate_config


class ConfigTest(unittest.TestCase):
    def test_defaults_are_the_original_profile(self):
        cfg = validate_config({})
        self.assertEqual(cfg["base_model"], "meta-llama/Llama-3.1-8B-Instruct")
        self.assertEqual(cfg["method"], "qlora")
        self.assertEqual((cfg["lora"]["r"], cfg["lora"]["alpha"], cfg["lora"]["dropout"]), (256, 128, 0.05))
        self.assertEqual(cfg["lora"]["target_modules"], "all-linear")
        t = cfg["training"]
        self.assertEqual(t["learning_rate"], 2e-4)
        self.assertEqual(t["lr_scheduler"], "constant_with_warmup")
        self.assertEqual(t["warmup_ratio"], 0.03)
        self.assertEqual((t["epochs"], t["per_device_batch_size"], t["gradient_accumulation_steps"]), (3, 3, 2))
        self.assertEqual((t["max_grad_norm"], t["max_length"], t["gradient_checkpointing"]), (0.3, 4096, True))

    def test_sections_merge_one_level(self):
        cfg = validate_config({"training": {"epochs": 1}, "lora": {"r": 8}})
        self.assertEqual(cfg["training"]["epochs"], 1)
        self.assertEqual(cfg["training"]["learning_rate"], 2e-4)
        self.assertEqual(cfg["lora"]["r"], 8)
        self.assertEqual(cfg["lora"]["alpha"], 128)
        self.assertEqual(DEFAULTS["training"]["epochs"], 3, "merging must not mutate DEFAULTS")

    def test_unknown_keys_are_errors(self):
        with self.assertRaises(ConfigError) as e:
            validate_config({"training": {"learning_rte": 1e-4}, "bogus": 1})
        self.assertIn("training: unknown key 'learning_rte'", str(e.exception))
        self.assertIn("config: unknown key 'bogus'", str(e.exception))

    def test_bad_values_all_listed(self):
        with self.assertRaises(ConfigError) as e:
            validate_config({
                "method": "qlora4",
                "lora": {"r": 0, "dropout": 1.5, "target_modules": []},
                "training": {"epochs": -1, "lr_scheduler": "constant_ish", "per_device_batch_size": 2.5,
                             "eval_strategy": "steps", "gradient_checkpointing": "yes"},
            })
        msg = str(e.exception)
        for fragment in ("method:", "lora.r:", "lora.dropout:", "lora.target_modules:", "training.epochs:",
                         "training.lr_scheduler:", "training.per_device_batch_size:", "training.eval_steps:",
                         "training.gradient_checkpointing:"):
            self.assertIn(fragment, msg)

    def test_optimizer_names_are_checked(self):
        for name in ("adamw_torch_fused", "adamw_torch", "paged_adamw_8bit", "adamw_8bit", "adafactor", "sgd"):
            self.assertIn(name, OPTIMIZERS)
            self.assertEqual(validate_config({"training": {"optim": name}})["training"]["optim"], name)
        for typo in ("adamw_torch_fussed", "adam", "", 3):
            with self.assertRaises(ConfigError) as e:
                validate_config({"training": {"optim": typo}})
            self.assertIn("training.optim:", str(e.exception))

    def test_null_section_means_defaults(self):
        self.assertEqual(validate_config({"lora": None, "output": None}), validate_config({}))

    def test_booleans_are_not_numbers(self):
        with self.assertRaises(ConfigError):
            validate_config({"lora": {"r": True}})

    def test_distributed(self):
        cfg = validate_config({"distributed": {"launcher": "torchrun", "num_processes": 4}})
        self.assertEqual(cfg["distributed"], {"launcher": "torchrun", "num_processes": 4, "num_machines": 1,
                                              "fsdp": True, "fsdp_layer_cls": None})
        with self.assertRaises(ConfigError) as e:
            validate_config({"distributed": {"launcher": "mpirun", "num_processes": 0, "gpus": 2}})
        self.assertIn("distributed: unknown key 'gpus'", str(e.exception))
        with self.assertRaises(ConfigError) as e:
            validate_config({"distributed": {"launcher": "mpirun", "num_processes": 0}})
        self.assertIn("distributed.launcher", str(e.exception))
        self.assertIn("distributed.num_processes", str(e.exception))
        with self.assertRaises(ConfigError):
            validate_config({"distributed": {"fsdp": True}, "output": {"merge": True}})

    def test_several_machines(self):
        cfg = validate_config({"method": "full", "distributed": {"num_processes": 16, "num_machines": 2}})
        self.assertEqual(cfg["distributed"]["num_machines"], 2)
        for dist, method, message in (
            ({"num_processes": 16, "num_machines": 3}, "qlora",
             "distributed.num_processes: 16 is not a multiple of distributed.num_machines (3): every machine runs "
             "the same number of processes, one a GPU"),
            ({"num_processes": 16, "num_machines": 2, "fsdp": False}, "full",
             "distributed.fsdp: must be true for method full on several machines (without it every GPU holds the "
             "whole model, its gradients and the AdamW state)"),
            ({"num_processes": 8, "num_machines": 0}, "qlora", "distributed.num_machines: must be a positive integer"),
            ({"num_processes": 8, "num_machines": True}, "qlora",
             "distributed.num_machines: must be a positive integer"),
        ):
            with self.assertRaises(ConfigError) as e:
                validate_config({"method": method, "distributed": dist})
            self.assertEqual(str(e.exception), message)  # one line, nothing else
        # DDP over several machines is fine for LoRA (the adapter's optimizer state is small).
        validate_config({"method": "lora", "distributed": {"num_processes": 16, "num_machines": 2, "fsdp": False}})

    def test_launch_must_match_the_config(self):
        cfg = validate_config({"method": "full", "distributed": {"num_processes": 16, "num_machines": 2}})
        # A plain `python train.py` (no launcher) is one process, whatever the config says.
        self.assertIsNone(launch_error(cfg, {}))
        self.assertIsNone(launch_error(cfg, {"WORLD_SIZE": "16", "LOCAL_WORLD_SIZE": "8"}, cuda_gpus=lambda: 8))
        self.assertEqual(launch_error(cfg, {"WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "8"}, cuda_gpus=lambda: 8),
                         "launched as 8 processes but distributed.num_processes is 16 over 2 machines: launch the "
                         "config's count (deno task train --dry-run prints the command)")
        self.assertEqual(launch_error(cfg, {"WORLD_SIZE": "16", "LOCAL_WORLD_SIZE": "8"}, cuda_gpus=lambda: 4),
                         "8 processes on this machine but it has 4 CUDA GPU(s): distributed.num_processes / "
                         "num_machines (16 / 2) must not exceed the GPUs of one machine")
        self.assertIsNone(launch_error(cfg, {"WORLD_SIZE": "16", "LOCAL_WORLD_SIZE": "8"}))  # CPU: not checked
        self.assertIn("distributed.num_processes is 1:", launch_error(validate_config({}), {"WORLD_SIZE": "2"}))

    def test_shipped_configs_validate(self):
        folder = os.path.join(TRAINER_DIR, "configs")
        names = sorted(f for f in os.listdir(folder) if f.endswith(".json"))
        self.assertGreaterEqual(len(names), 2)
        for name in names:
            cfg = load_config(os.path.join(folder, name))
            self.assertTrue(os.path.isdir(os.path.join(folder, cfg["dataset_dir"])), name)
        multi = load_config(os.path.join(folder, "llama33_70b_fsdp_qlora.json"))
        self.assertTrue(multi["distributed"]["fsdp"])
        self.assertGreater(multi["distributed"]["num_processes"], 1)
        full = load_config(os.path.join(folder, "llama33_70b_full_fsdp.json"))["distributed"]
        self.assertEqual((full["num_processes"], full["num_machines"], full["fsdp"]), (16, 2, True))
        scout = load_config(os.path.join(folder, "llama4_scout_lora_fsdp.json"))["distributed"]
        self.assertEqual((scout["num_processes"], scout["num_machines"]), (8, 1))
        sample = load_config(os.path.join(folder, "llama31_8b_qlora.json"))
        self.assertEqual(sample["lora"], validate_config({})["lora"])
        self.assertEqual(sample["training"], validate_config({})["training"])

    def test_load_config_names_the_file_on_bad_json(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.json")
            with open(path, "w") as f:
                f.write("{not json")
            with self.assertRaises(ConfigError) as e:
                load_config(path)
            self.assertIn(path, str(e.exception))
            with open(path, "w") as f:
                json.dump(copy.deepcopy({"method": "lora"}), f)
            self.assertEqual(load_config(path)["method"], "lora")


if __name__ == "__main__":
    unittest.main()
