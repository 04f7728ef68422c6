"""Dataset validation, assistant-only label masking and padding (stdlib only)."""

import json
import os
import tempfile
import unittest

from _path import TRAINER_DIR
from text2sql_trainer import (
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

GOOD = {"messages": [
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "-- Question: how many?"},
    {"role": "assistant", "content": "SELECT COUNT(*) FROM t"},
]}


class ValidateExampleTest(unittest.TestCase):
    def test_good(self):
        self.assertEqual(validate_example(GOOD), [])
        no_system = {"messages": GOOD["messages"][1:]}
        self.assertEqual(validate_example(no_system), [])
        multi = {"messages": GOOD["messages"] + [{"role": "user", "content": "and?"},
                                                 {"role": "assistant", "content": "SELECT 1"}]}
        self.assertEqual(validate_example(multi), [])

    def test_bad(self):
        cases = {
            "not a JSON object": [1, 2],
            'missing "messages" array': {"conversations": []},
            "role must be one of": {"messages": [{"role": "bot", "content": "x"}]},
            "content must be a string": {"messages": [{"role": "user", "content": None}]},
            "the last message must be the assistant answer": {"messages": GOOD["messages"][:2]},
            "the assistant answer is empty": {"messages": GOOD["messages"][:2] + [{"role": "assistant", "content": " "}]},
            "alternate": {"messages": [GOOD["messages"][0], GOOD["messages"][2]]},
            "system message may only come first": {"messages": GOOD["messages"][1:2] + GOOD["messages"][0:1]
                                                   + GOOD["messages"][2:]},
        }
        for expected, obj in cases.items():
            problems = validate_example(obj)
            self.assertTrue(any(expected in p for p in problems), f"{expected!r} not in {problems}")


class ValidateDatasetDirTest(unittest.TestCase):
    def write(self, d, name, lines):
        with open(os.path.join(d, name), "w") as f:
            f.write("\n".join(lines) + "\n")

    def test_sample_fixture(self):
        counts = validate_dataset_dir(os.path.join(TRAINER_DIR, "fixtures", "sft_sample"))
        self.assertEqual(counts, {"train": 6, "test": 3})

    def test_errors_name_file_and_line(self):
        with tempfile.TemporaryDirectory() as d:
            self.write(d, "train.jsonl", [json.dumps(GOOD), "", "{oops", json.dumps({"messages": []})])
            with self.assertRaises(DatasetError) as e:
                validate_dataset_dir(d)
            msg = str(e.exception)
            self.assertIn("train.jsonl:3: not valid JSON", msg)
            self.assertIn('train.jsonl:4: missing "messages"', msg)
            self.assertIn("test.jsonl: missing", msg)

    def test_empty_split_and_missing_folder(self):
        with tempfile.TemporaryDirectory() as d:
            self.write(d, "train.jsonl", [json.dumps(GOOD)])
            self.write(d, "test.jsonl", [""])
            with self.assertRaises(DatasetError) as e:
                validate_dataset_dir(d)
            self.assertIn("test.jsonl: no examples", str(e.exception))
            with self.assertRaises(DatasetError):
                validate_dataset_dir(os.path.join(d, "nope"))

    def test_test_split_optional_when_eval_is_off(self):
        with tempfile.TemporaryDirectory() as d:
            self.write(d, "train.jsonl", [json.dumps(GOOD)])
            self.assertEqual(validate_dataset_dir(d, require_test=False), {"train": 1, "test": 0})
            with self.assertRaises(DatasetError):
                validate_dataset_dir(d)
            self.write(d, "test.jsonl", [""])
            self.assertEqual(validate_dataset_dir(d, require_test=False), {"train": 1, "test": 0})
            self.write(d, "test.jsonl", ["{oops"])
            with self.assertRaises(DatasetError) as e:
                validate_dataset_dir(d, require_test=False)
            self.assertIn("test.jsonl:1: not valid JSON", str(e.exception))

    def test_error_cap(self):
        with tempfile.TemporaryDirectory() as d:
            self.write(d, "train.jsonl", ["x"] * 30)
            self.write(d, "test.jsonl", [json.dumps(GOOD)])
            with self.assertRaises(DatasetError) as e:
                validate_dataset_dir(d, max_errors=5)
            self.assertEqual(len(str(e.exception).splitlines()), 6)
            self.assertIn("and 25 more", str(e.exception))


class MaskingTest(unittest.TestCase):
    def test_prompt_masked_answer_kept(self):
        prompt = [1, 10, 11, 12, 20, 21]  # ... ends in the assistant header
        full = prompt + [30, 31, 32, 99]  # answer + end-of-turn
        labels = assistant_only_labels(full, prompt)
        self.assertEqual(labels, [IGNORE_INDEX] * 6 + [30, 31, 32, 99])
        self.assertEqual(len(labels), len(full))

    def test_divergence_masks_only_common_prefix(self):
        # The tokenizer merged the header's last token with the answer's first: only 5 tokens are surely prompt.
        prompt = [1, 10, 11, 12, 20, 21]
        full = [1, 10, 11, 12, 20, 77, 31, 99]
        self.assertEqual(common_prefix_len(full, prompt), 5)
        self.assertEqual(assistant_only_labels(full, prompt), [IGNORE_INDEX] * 5 + [77, 31, 99])

    def test_prompt_never_masks_past_itself(self):
        self.assertEqual(assistant_only_labels([1, 2, 3], [1, 2, 3, 4]), [IGNORE_INDEX] * 3)
        self.assertEqual(assistant_only_labels([1, 2], []), [1, 2])

    def test_build_example(self):
        ex = build_example([1, 2, 3], [7, 8, 9], max_length=6)
        self.assertEqual(ex["input_ids"], [1, 2, 3, 7, 8, 9])
        self.assertEqual(ex["labels"], [IGNORE_INDEX] * 3 + [7, 8, 9])
        self.assertEqual(ex["attention_mask"], [1] * 6)
        self.assertIsNone(build_example([1, 2, 3], [7, 8, 9], max_length=5), "too long: dropped, not truncated")
        self.assertIsNone(build_example([1, 2, 3], [], max_length=50), "no answer tokens: nothing to learn")

    def test_split_conversation(self):
        prompt, answer = split_conversation(GOOD["messages"])
        self.assertEqual([m["role"] for m in prompt], ["system", "user"])
        self.assertEqual(answer, "SELECT COUNT(*) FROM t")
        with self.assertRaises(ValueError):
            split_conversation(GOOD["messages"][:2])


class PadBatchTest(unittest.TestCase):
    def test_right_padding(self):
        a = build_example([1, 2], [5], 10)
        b = build_example([1, 2, 3], [6, 7], 10)
        batch = pad_batch([a, b], pad_id=0)
        self.assertEqual(batch["input_ids"], [[1, 2, 5, 0, 0], [1, 2, 3, 6, 7]])
        self.assertEqual(batch["attention_mask"], [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
        self.assertEqual(batch["labels"], [[-100, -100, 5, -100, -100], [-100, -100, -100, 6, 7]])

    def test_multiple_of(self):
        batch = pad_batch([build_example([1], [2, 3], 10)], pad_id=9, multiple_of=8)
        self.assertEqual(len(batch["input_ids"][0]), 8)
        self.assertEqual(batch["labels"][0][3:], [IGNORE_INDEX] * 5)
        with self.assertRaises(ValueError):
            pad_batch([], pad_id=0)


if __name__ == "__main__":
    unittest.main()


class GrpoRowTest(unittest.TestCase):
    def test_grpo_rows_are_checked_like_lib_trainer_ts_does(self):
        from text2sql_trainer.data import validate_grpo_example

        good = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}], "db_id": "hero",
                "gold_sql": "SELECT 1", "db_path": "hero/hero.sqlite"}
        self.assertEqual(validate_grpo_example(good), [])
        answered = {**good, "messages": good["messages"] + [{"role": "assistant", "content": "x"}]}
        self.assertIn("must end with the user turn", validate_grpo_example(answered)[0])
        self.assertEqual(validate_grpo_example({**good, "gold_sql": " "}), ['missing "gold_sql"'])
        for bad in ("../x.sqlite", "/etc/x.sqlite", "a/../../x"):
            self.assertIn("must be relative to the database root", validate_grpo_example({**good, "db_path": bad})[0])
