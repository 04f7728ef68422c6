"""Every planted bug fails the suite: each mutation is planted in a temp copy of trainer/, and the check that
guards against it must fail there, with the message that names the bug (a failure for another reason, such as a
broken copy, does not count).

The seven bugs of issue 23 (loss-mask off-by-one, reward 1.0 for failing SQL, resume without optimizer state, a
duplicated BOS, empty LoRA targets, GRPO's beta not passed, GRPO's temperature not passed) and two more (the seed
not fixing the LoRA initialisation; GRPO handed a PEFT-wrapped policy, which makes TRL add a reference copy).
The checks run unmodified on the real trainer in test_cpu_checks.py, so a pass there and a failure here is the
mutation's doing. Costs about three smoke runs and two short GRPO starts.
"""

import unittest

import cpu_checks as cc

UNIT_DATA = ["-m", "unittest", "tests.test_data"]
UNIT_REWARD = ["-m", "unittest", "tests.test_reward"]
# GRPO mutants fail when the trainer is built, before any step: no warm start needed to reach that point.
GRPO_FAST = [*cc.GRPO, "--warm-start", "0"]

# (name, file, old text, new text, check, text the failure must contain)
MUTATIONS = [
    ("loss mask off by one", "text2sql_trainer/data.py",
     "    return [IGNORE_INDEX] * k + list(full_ids[k:])",
     "    return [IGNORE_INDEX] * (k + 1) + list(full_ids[k + 1:])",
     UNIT_DATA, "FAILED"),
    ("reward 1.0 for failing SQL", "text2sql_trainer/reward.py",
     'return 1.0 if verdict == "correct" else',
     'return 1.0 if verdict in ("correct", "error") else',
     UNIT_REWARD, "FAILED"),
    ("resume without optimizer state", "text2sql_trainer/hf_sft.py",
     "    result = trainer.train(resume_from_checkpoint=resume)",
     "    if resume:\n        os.remove(os.path.join(resume, 'optimizer.pt'))\n"
     "    result = trainer.train(resume_from_checkpoint=resume)",
     cc.SMOKE, "resumed losses differ"),
    ("duplicated BOS", "text2sql_trainer/hf_data.py",
     'return list(tokenizer(text, add_special_tokens=False)["input_ids"])',
     'return list(tokenizer(text, add_special_tokens=True)["input_ids"])',
     cc.SMOKE, "<|begin_of_text|>SELECT"),  # the answer's labels start with a second BOS
    ("empty LoRA targets", "text2sql_trainer/hf_model.py",
     'target_modules=lc["target_modules"],',
     "target_modules=[],",
     cc.SMOKE, "SMOKE FAILED"),
    ("GRPO beta not passed", "text2sql_trainer/hf_grpo.py",
     '        "beta": g["beta"],\n', "",
     GRPO_FAST, "KL weight"),
    ("GRPO temperature not passed", "text2sql_trainer/hf_grpo.py",
     '        "temperature": g["temperature"],\n', "",
     GRPO_FAST, "temperature"),
    ("training.seed does not fix the LoRA initialisation", "text2sql_trainer/hf_sft.py",
     '    set_seed(cfg["training"]["seed"])\n', "",
     cc.SMOKE, "training.seed did not fix"),
    ("GRPO given a PEFT-wrapped policy (a ref adapter copy)", "text2sql_trainer/hf_grpo.py",
     "trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs, args=args, peft_config=lora_config(policy_cfg),",
     "trainer = GRPOTrainer(model=__import__('peft').get_peft_model(model, lora_config(policy_cfg)), "
     "reward_funcs=reward_funcs, args=args,",
     GRPO_FAST, "reference copy"),
]


@unittest.skipIf(cc.MISSING, cc.WHY_SKIPPED)
class MutationTest(unittest.TestCase):
    def test_every_planted_bug_fails_its_check(self):
        for name, path, old, new, check, expect in MUTATIONS:
            with self.subTest(name), cc.temp_dir() as tmp:
                trainer = cc.copy_repo(tmp)
                cc.plant(trainer, path, old, new)
                res = cc.run_check(trainer, check)
                out = res.stdout + res.stderr
                self.assertNotEqual(res.returncode, 0, f"{name}: the check passed with the bug planted")
                self.assertIn(expect, out, f"{name}: failed, but not for the planted bug:\n{out[-3000:]}")
                for broken in ("SyntaxError", "ModuleNotFoundError", "IndentationError", "NameError"):
                    self.assertNotIn(broken, out, f"{name}: the mutated copy is broken:\n{out[-3000:]}")


if __name__ == "__main__":
    unittest.main()
