"""reward_bench.py (stdlib only): the GRPO mix it builds, the arguments it passes as GRPOTrainer does, and a
small end-to-end run printing its figures (no timing is asserted: the bench measures, the test checks shape)."""

import json
import os
import subprocess
import sys
import unittest

import _path
import reward_bench as rb

REPO = os.path.dirname(_path.TRAINER_DIR)
DEV = os.path.join(REPO, "data", "sample", "dev.json")
DBS = os.path.join(REPO, "data", "sample", "dev_databases")


class RewardBenchTest(unittest.TestCase):
    def test_the_mix_and_the_trainer_call(self):
        rows = rb.build(DEV, DBS, "superhero", 64, 16)
        self.assertEqual(len(rows), 64)
        self.assertTrue(all(len(r["completions"]) == 16 for r in rows))
        flat = [c for r in rows for c in r["completions"]]
        self.assertIn(rb.RUNAWAY, flat)  # one prompt in 64
        self.assertTrue(any(c.startswith("DELETE FROM") for c in flat))
        kw = rb.trl_kwargs(rows[:2])
        self.assertEqual(set(kw), {"prompts", "completions", "completion_ids", "trainer_state", "db_id", "db_path",
                                   "gold_sql"})
        self.assertTrue(all(len(v) == 32 for k, v in kw.items() if k != "trainer_state"))
        self.assertEqual(kw["completions"][0], [{"role": "assistant", "content": rows[0]["completions"][0]}])

    def test_a_small_run_prints_both_sides_figures(self):
        out = subprocess.run([sys.executable, os.path.join(_path.TRAINER_DIR, "reward_bench.py"), "--questions", DEV,
                              "--db-root", DBS, "--db-id", "superhero", "--prompts", "4", "--runs", "1",
                              "--workers", "2", "--timeout", "2"], capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        fig = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertEqual(fig["completions"], 64)
        self.assertEqual(sum(fig["verdicts"].values()), 64)  # every completion got a verdict
        self.assertGreater(fig["verdicts"]["correct"], 0)
        for side in ("ours", "floor"):
            self.assertGreater(fig[side]["per_s"], 0)
            self.assertLessEqual(fig[side]["p50_ms"], fig[side]["p99_ms"])
        self.assertGreater(fig["throughput_vs_floor"], 0)


if __name__ == "__main__":
    unittest.main()
