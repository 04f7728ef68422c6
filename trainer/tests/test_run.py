"""The run folder's fingerprint: a resume with another dataset or config is refused (stdlib only)."""

import hashlib
import json
import os
import tempfile
import unittest

import _path  # noqa: F401  (puts trainer/ on sys.path)
from text2sql_trainer import (
    RunMismatchError,
    base_model_source,
    check_run_folder,
    dataset_hash,
    fingerprint_differences,
    read_previous_fingerprint,
    run_fingerprint,
    set_adapter_base_model,
    validate_config,
    write_fingerprint,
)


class RunFolderTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.data = os.path.join(self.tmp.name, "data")
        self.out = os.path.join(self.tmp.name, "out")
        os.makedirs(self.data)
        os.makedirs(self.out)
        self.write("train.jsonl", b'{"messages": []}\n')
        self.write("test.jsonl", b"")

    def write(self, name, data):
        with open(os.path.join(self.data, name), "wb") as f:
            f.write(data)

    def fp(self, user=None, base="meta-llama/Llama-3.1-8B-Instruct"):
        return run_fingerprint(validate_config(user or {}), base, dataset_hash(self.data))

    def test_dataset_hash_is_the_bytes(self):
        h = dataset_hash(self.data)
        self.assertEqual(h["train"], hashlib.sha256(b'{"messages": []}\n').hexdigest())
        self.assertEqual(h["test"], hashlib.sha256(b"").hexdigest())
        os.remove(os.path.join(self.data, "test.jsonl"))
        self.assertIsNone(dataset_hash(self.data)["test"])

    def test_new_folder_and_same_run_pass(self):
        check_run_folder(os.path.join(self.tmp.name, "fresh"), self.fp())
        write_fingerprint(self.out, self.fp())
        check_run_folder(self.out, self.fp())
        # Extending a run (more steps/epochs, another learning rate) is what resuming is for.
        check_run_folder(self.out, self.fp({"training": {"max_steps": 900, "epochs": 5, "learning_rate": 1e-4}}))

    def test_other_dataset_is_refused(self):
        write_fingerprint(self.out, self.fp())
        self.write("train.jsonl", b'{"messages": [1]}\n')
        with self.assertRaises(RunMismatchError) as e:
            check_run_folder(self.out, self.fp())
        msg = str(e.exception)
        self.assertIn("dataset (train.jsonl content differs)", msg)
        self.assertIn(self.out, msg)
        self.assertEqual(len(msg.splitlines()), 1)

    def test_other_config_lists_every_difference(self):
        write_fingerprint(self.out, self.fp())
        new = self.fp({"lora": {"r": 8}, "method": "lora", "training": {"max_length": 2048, "optim": "sgd"}},
                      base="/models/other")
        diffs = fingerprint_differences(read_previous_fingerprint(self.out), new)
        self.assertEqual(len(diffs), 5, diffs)
        self.assertIn("lora.r (256 → 8)", diffs)
        self.assertIn('method ("qlora" → "lora")', diffs)
        with self.assertRaises(RunMismatchError) as e:
            check_run_folder(self.out, new)
        self.assertIn("lora.r (256 → 8)", str(e.exception))

    def test_old_folder_with_only_train_config(self):
        # Written before the fingerprint existed, inside the container: base "/base", no dataset hash.
        cfg = dict(validate_config({}), base_model="/base")
        with open(os.path.join(self.out, "train_config.json"), "w") as f:
            json.dump(cfg, f)
        check_run_folder(self.out, self.fp())
        with self.assertRaises(RunMismatchError) as e:
            check_run_folder(self.out, self.fp({"lora": {"r": 16}}))
        self.assertIn("lora.r (256 → 16)", str(e.exception))

    def test_base_model_source(self):
        self.assertEqual(base_model_source("meta-llama/Llama-3.1-8B-Instruct"), "meta-llama/Llama-3.1-8B-Instruct")
        cwd = os.getcwd()
        try:
            os.chdir(self.tmp.name)
            self.assertEqual(base_model_source("data"), self.data)
        finally:
            os.chdir(cwd)

    def test_adapter_config_names_the_original_base(self):
        adapter = os.path.join(self.out, "adapter")
        self.assertFalse(set_adapter_base_model(adapter, "/home/me/llama"))
        os.makedirs(adapter)
        with open(os.path.join(adapter, "adapter_config.json"), "w") as f:
            json.dump({"r": 16, "base_model_name_or_path": "/base", "peft_type": "LORA"}, f)
        self.assertTrue(set_adapter_base_model(adapter, "/home/me/llama"))
        with open(os.path.join(adapter, "adapter_config.json")) as f:
            obj = json.load(f)
        self.assertEqual(obj, {"r": 16, "base_model_name_or_path": "/home/me/llama", "peft_type": "LORA"})


if __name__ == "__main__":
    unittest.main()
