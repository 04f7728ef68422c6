"""train.py's own checks before any model loads: a run folder holding another run is refused (stdlib only).

torch and transformers are replaced by empty stand-ins when absent: the checks under test run before either is
used, and a stand-in whose attribute is touched fails loudly.
"""

import contextlib
import importlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import types
import unittest
from unittest import mock

import _path  # noqa: F401  (puts trainer/ on sys.path)


# Looked up once, before any stand-in sits in sys.modules (find_spec fails on a module without a spec).
HAS_TORCH = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("transformers") is not None


def _stub_modules() -> dict:
    if HAS_TORCH:
        return {}
    torch = types.ModuleType("torch")
    transformers = types.ModuleType("transformers")
    transformers.__version__ = "4.57.6"

    class Unusable:
        def __init__(self, *a, **k):
            raise AssertionError("train.py used transformers before its checks")

        @classmethod
        def from_pretrained(cls, *a, **k):
            raise AssertionError("train.py loaded a model or tokenizer before its checks")

    for name in ("AutoModelForCausalLM", "AutoTokenizer", "Trainer", "TrainerCallback", "TrainingArguments"):
        setattr(transformers, name, type(name, (Unusable,), {}))

    def set_seed(*a, **k):
        raise AssertionError("train.py seeded before its checks")

    transformers.set_seed = set_seed
    return {"torch": torch, "transformers": transformers}


GOOD = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "SELECT 1"}]}


class TrainScriptTest(unittest.TestCase):
    def setUp(self):
        # Only the stand-ins are added and removed: `mock.patch.dict(sys.modules)` would restore the whole module
        # table at cleanup, unloading the real torch that importing train.py loaded (which breaks every later
        # torch import in the process wherever torch is installed).
        for name, module in _stub_modules().items():
            if name not in sys.modules:
                sys.modules[name] = module
                self.addCleanup(sys.modules.pop, name, None)
        sys.modules.pop("train", None)
        self.addCleanup(sys.modules.pop, "train", None)
        self.train = importlib.import_module("train")
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def dataset(self, name, n):
        d = os.path.join(self.tmp.name, name)
        os.makedirs(d)
        with open(os.path.join(d, "train.jsonl"), "w") as f:
            f.write("\n".join(json.dumps(GOOD) for _ in range(n)) + "\n")
        with open(os.path.join(d, "test.jsonl"), "w") as f:
            f.write(json.dumps(GOOD) + "\n")
        return d

    def main(self, *argv, env=None):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), mock.patch.dict(os.environ, env or {}):
            code = self.train.main(list(argv))
        return code, err.getvalue()

    def test_a_folder_holding_another_run_is_refused_before_loading(self):
        config = os.path.join(self.tmp.name, "c.json")
        with open(config, "w") as f:
            json.dump({"base_model": "meta-llama/Llama-3.1-8B-Instruct"}, f)
        first, second = self.dataset("a", 1), self.dataset("b", 2)
        out = os.path.join(self.tmp.name, "run")
        from text2sql_trainer import dataset_hash, run_fingerprint, validate_config, write_fingerprint

        os.makedirs(out)
        cfg = validate_config({})
        write_fingerprint(out, run_fingerprint(cfg, "meta-llama/Llama-3.1-8B-Instruct", dataset_hash(first)))
        code, err = self.main("--config", config, "--data", second, "--output", out)
        self.assertEqual(code, 2)
        self.assertIn("dataset (train.jsonl content differs)", err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        with open(config, "w") as f:
            json.dump({"lora": {"r": 8}}, f)
        code, err = self.main("--config", config, "--data", first, "--output", out)
        self.assertEqual(code, 2)
        self.assertIn("lora.r (256 → 8)", err)

    def test_a_launch_otherwise_than_the_config_is_refused_before_loading(self):
        # Two machines of 8 in the config, 8 processes launched: the memory estimate would be for the wrong sharding.
        config = os.path.join(self.tmp.name, "c.json")
        with open(config, "w") as f:
            json.dump({"method": "full", "distributed": {"num_processes": 16, "num_machines": 2}}, f)
        data = self.dataset("a", 1)
        out = os.path.join(self.tmp.name, "run")
        code, err = self.main("--config", config, "--data", data, "--output", out,
                              env={"WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "8", "RANK": "0"})
        self.assertEqual(code, 2)
        self.assertEqual(err.strip(), "train.py: launched as 8 processes but distributed.num_processes is 16 over "
                                      "2 machines: launch the config's count (deno task train --dry-run prints the "
                                      "command)")
        self.assertFalse(os.path.exists(out), "nothing is written before the checks")

    def test_cleanup_keeps_the_real_torch_loaded(self):
        # Regression: mock.patch.dict(sys.modules) unloaded torch at cleanup, breaking later torch imports.
        if not HAS_TORCH:
            self.skipTest("torch is not installed (the stand-ins are used; nothing real to keep loaded)")
        self.assertIn("torch", sys.modules)
        torch = sys.modules["torch"]
        self.doCleanups()
        self.assertIs(sys.modules.get("torch"), torch)

    def test_the_original_base_model_is_what_is_compared(self):
        # In the container the base is loaded from /base; the fingerprint holds the host path it came from.
        host = os.path.join(self.tmp.name, "llama")
        os.makedirs(host)
        config = os.path.join(self.tmp.name, "c.json")
        with open(config, "w") as f:
            json.dump({"base_model": "/base"}, f)
        data = self.dataset("a", 1)
        out = os.path.join(self.tmp.name, "run")
        from text2sql_trainer import dataset_hash, run_fingerprint, validate_config, write_fingerprint

        os.makedirs(out)
        write_fingerprint(out, run_fingerprint(validate_config({}), "/elsewhere/model", dataset_hash(data)))
        env = {"TEXT2SQL_BASE_MODEL": "/base", "TEXT2SQL_BASE_MODEL_SOURCE": host}
        code, err = self.main("--config", config, "--data", data, "--output", out, env=env)
        self.assertEqual(code, 2)
        self.assertIn(f'base_model ("/elsewhere/model" → "{host}")', err)


if __name__ == "__main__":
    unittest.main()
