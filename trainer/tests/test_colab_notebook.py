"""The Colab notebook (trainer/colab_finetune.ipynb) runs headless on CPU: nbconvert executes it with a kernel on
the trainer's venv, the tiny random Llama in place of the base model (TEXT2SQL_COLAB_TINY=1) and a dataset in
`deno task sft`'s shape; it trains, saves the adapter, and the GPU-only evaluation cell says it was skipped."""

import json
import os
import shutil
import subprocess
import sys
import unittest

import cpu_checks as cc

NBCONVERT = shutil.which("jupyter-nbconvert")
HAS_KERNEL = not cc.MISSING and __import__("importlib.util").util.find_spec("ipykernel") is not None


@unittest.skipIf(cc.MISSING, cc.WHY_SKIPPED)
class ColabNotebookTest(unittest.TestCase):
    def test_the_notebook_trains_the_tiny_model_and_skips_the_gpu_cells_with_a_reason(self):
        self.assertIsNotNone(NBCONVERT, "jupyter-nbconvert missing (apt-get install jupyter-nbconvert)")
        self.assertTrue(HAS_KERNEL, "ipykernel missing in the trainer venv (bash trainer/install_cpu.sh)")
        import smoke_test

        with cc.temp_dir() as tmp:
            kernel = os.path.join(tmp, "kernels", "t2s-trainer")
            os.makedirs(kernel)
            with open(os.path.join(kernel, "kernel.json"), "w") as f:
                json.dump({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                           "display_name": "trainer venv", "language": "python"}, f)
            data = os.path.join(tmp, "sft")
            smoke_test.write_dataset(data)
            out = os.path.join(tmp, "run")
            env = {**os.environ, "JUPYTER_PATH": tmp, "CUDA_VISIBLE_DEVICES": "", "TOKENIZERS_PARALLELISM": "false",
                   "TEXT2SQL_COLAB_TINY": "1", "TEXT2SQL_COLAB_DATASET": data, "TEXT2SQL_COLAB_OUT": out,
                   "TEXT2SQL_COLAB_REPO": cc.REPO, "TEXT2SQL_COLAB_MAX_STEPS": "10"}
            executed = os.path.join(tmp, "executed.ipynb")
            res = subprocess.run([NBCONVERT, "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=900",
                                  "--ExecutePreprocessor.kernel_name=t2s-trainer", "--output", executed,
                                  os.path.join(cc.TRAINER, "colab_finetune.ipynb")],
                                 env=env, capture_output=True, text=True, timeout=1200)
            self.assertEqual(res.returncode, 0, res.stderr[-4000:])
            with open(executed, encoding="utf-8") as f:
                nb = json.load(f)
            text = "".join(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
                           for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []))
            self.assertIn("tiny random Llama (test)", text)
            self.assertIn("dataset " + data + ": 8 train, 2 test conversations", text)
            self.assertIn("QLoRA is GPU-only", text)
            self.assertRegex(text, r"adapter saved: .*/train/adapter \(train loss [\d.]+, eval loss [\d.]+\)")
            self.assertIn("GPU-only cell skipped", text)
            self.assertTrue(os.path.isfile(os.path.join(out, "train", "adapter", "adapter_config.json")))


if __name__ == "__main__":
    unittest.main()
