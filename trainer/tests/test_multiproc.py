"""Several processes, as a 70B run uses them: multiproc_check.py (accelerate launch --num_processes 2 on CPU,
gloo) must pass: rank-0-only metric lines, checkpoints, resume across processes, losses equal to one process's,
also over two launchers playing two machines (--num_machines 2)."""

import unittest

import cpu_checks as cc


@unittest.skipIf(cc.MISSING, cc.WHY_SKIPPED)
class MultiprocTest(unittest.TestCase):
    def test_two_processes_train_like_one_and_resume(self):
        res = cc.run_check(cc.TRAINER, ["multiproc_check.py"])
        out = res.stdout + res.stderr
        self.assertEqual(res.returncode, 0, out[-6000:])
        self.assertIn("checks passed", out)


if __name__ == "__main__":
    unittest.main()
