"""The trainer trains for real on CPU: the SFT smoke test and the GRPO check, each as a child process, must pass.

What they assert (see each script's docstring): masking and one BOS, the loss falls, metric lines, the adapter
reloads, generates and merges; `training.seed` fixes the LoRA initialisation; an interrupted run resumed from its
checkpoint equals the uninterrupted run bit for bit (SFT and GRPO); GRPO's temperature and beta reach TRL, the KL
reference is the base, every step has a gradient, KL > 0 after the first update, and the logged reward equals the
project's reward recomputed from the logged completions.
"""

import unittest

import cpu_checks as cc


@unittest.skipIf(cc.MISSING, cc.WHY_SKIPPED)
class CpuChecksTest(unittest.TestCase):
    def check(self, args):
        res = cc.run_check(cc.TRAINER, args)
        out = res.stdout + res.stderr
        self.assertEqual(res.returncode, 0, out[-6000:])
        return out

    def test_the_sft_smoke_test_passes(self):
        self.assertIn("SMOKE PASSED", self.check(cc.SMOKE))

    def test_the_grpo_check_passes(self):
        self.assertIn("checks passed", self.check(cc.GRPO))


if __name__ == "__main__":
    unittest.main()
