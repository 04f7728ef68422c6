"""Dataset validation, assistant-only label masking and batch padding, in pure Python (no torch).

The dataset is the messages JSONL that `deno task sft` / `deno task cot` write: one
`{"messages": [{"role": "system", ...}, {"role": "user", ...}, {"role": "assistant", ...}]}` per line, in
`train.jsonl` and `test.jsonl` inside one folder.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Sequence

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant")
SPLITS = ("train.jsonl", "test.jsonl")


class DatasetError(ValueError):
    """A dataset that must not start a run; the message lists the problems (capped), one per line."""


def validate_example(obj: Any) -> list[str]:
    """Problems with one parsed line (empty list when it is a valid conversation).

    A valid conversation has an optional leading system turn, then alternating user/assistant turns, and ends
    with an assistant turn with non-empty content: the loss is computed on that last answer.
    """
    if not isinstance(obj, dict):
        return ["not a JSON object"]
    msgs = obj.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return ['missing "messages" array']
    problems: list[str] = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            problems.append(f"messages[{i}] is not an object")
            continue
        if m.get("role") not in ROLES:
            problems.append(f"messages[{i}].role must be one of {', '.join(ROLES)}")
        if not isinstance(m.get("content"), str):
            problems.append(f"messages[{i}].content must be a string")
    if problems:
        return problems
    roles = [m["role"] for m in msgs]
    body = roles[1:] if roles[0] == "system" else roles
    if "system" in body:
        problems.append("a system message may only come first")
    elif not body or len(body) % 2 != 0 or any(r != ("user" if i % 2 == 0 else "assistant") for i, r in enumerate(body)):
        problems.append("turns must alternate user/assistant after the optional system message")
    if roles[-1] != "assistant":
        problems.append("the last message must be the assistant answer")
    elif not msgs[-1]["content"].strip():
        problems.append("the assistant answer is empty")
    return problems


def validate_grpo_example(obj: Any) -> list[str]:
    """Problems of one GRPO prompt row (`deno task sft --format grpo`), as `validateGrpoExample` in lib/train/dataset_check.ts."""
    if not isinstance(obj, dict):
        return ["not a JSON object"]
    msgs = obj.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return ['missing "messages" array']
    problems = [
        f"messages[{i}] must be {{role: system|user|assistant, content: string}}"
        for i, m in enumerate(msgs)
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str)
    ]
    if not problems and msgs[-1]["role"] != "user":
        problems.append("a GRPO prompt must end with the user turn (the model writes the answer)")
    if not isinstance(obj.get("gold_sql"), str) or not obj["gold_sql"].strip():
        problems.append('missing "gold_sql"')
    if not isinstance(obj.get("db_id"), str) or not obj["db_id"]:
        problems.append('missing "db_id"')
    p = obj.get("db_path")
    if not isinstance(p, str) or not p:
        problems.append('missing "db_path"')
    elif os.path.isabs(p) or ".." in os.path.normpath(p).split(os.sep):
        problems.append(f"db_path {json.dumps(p)} must be relative to the database root, inside it")
    return problems


def read_jsonl(path: str) -> Iterable[tuple[int, Any, str | None]]:
    """Yield (line number, parsed object or None, error or None) for each non-blank line."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line), None
            except json.JSONDecodeError as e:
                yield n, None, f"not valid JSON ({e.msg})"


def validate_dataset_dir(path: str, max_errors: int = 20, require_test: bool = True,
                         grpo: bool = False) -> dict[str, int]:
    """Check `train.jsonl` and `test.jsonl` in `path`; return example counts per split.

    Raises DatasetError with up to `max_errors` problems (file:line: reason) when anything is wrong, so a
    broken line is found before a GPU is rented, not hours into a run. With `require_test=False` (evaluation
    off) a missing or empty `test.jsonl` is accepted (count 0); its lines, when present, must still be valid.
    """
    errors: list[str] = []
    counts: dict[str, int] = {}
    if not os.path.isdir(path):
        raise DatasetError(f"{path}: dataset folder not found (expected train.jsonl and test.jsonl from deno task sft)")
    for split in SPLITS:
        file = os.path.join(path, split)
        optional = split == "test.jsonl" and not require_test
        if not os.path.isfile(file):
            if optional:
                counts["test"] = 0
            else:
                errors.append(f"{file}: missing")
            continue
        count = 0
        for n, obj, err in read_jsonl(file):
            problems = [err] if err else (validate_grpo_example(obj) if grpo else validate_example(obj))
            if problems:
                errors.extend(f"{file}:{n}: {p}" for p in problems)
            else:
                count += 1
        counts[split.split(".")[0]] = count
        if count == 0 and not optional and not any(e.startswith(f"{file}:") for e in errors):
            errors.append(f"{file}: no examples")
    if errors:
        more = f"\n… and {len(errors) - max_errors} more" if len(errors) > max_errors else ""
        raise DatasetError("\n".join(errors[:max_errors]) + more)
    return counts


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token id sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def assistant_only_labels(full_ids: Sequence[int], prompt_ids: Sequence[int]) -> list[int]:
    """Labels for causal-LM training on the assistant answer only.

    `full_ids` is the whole conversation tokenized; `prompt_ids` is the same conversation without the final
    answer, rendered with `add_generation_prompt=True` (so it ends with the assistant header). Every position
    of the prompt gets IGNORE_INDEX (-100); the answer tokens, and whatever end-of-turn tokens the template puts
    after them, keep their ids so the model learns to answer and to stop.

    When the two tokenizations diverge before the prompt's end (a merge across the boundary), only the common
    prefix is known to be prompt, and masking stops there rather than guessing.
    """
    k = min(common_prefix_len(full_ids, prompt_ids), len(prompt_ids))
    return [IGNORE_INDEX] * k + list(full_ids[k:])


def build_example(prompt_ids: Sequence[int], answer_ids: Sequence[int], max_length: int) -> dict[str, list[int]] | None:
    """One training example from the prompt tokens and the answer tokens, or None when it does not fit.

    The answer is tokenized on its own after the prompt, which is what happens at inference: the server
    tokenizes the rendered prompt and the model generates the rest. An example longer than `max_length` is
    dropped rather than truncated: a truncated schema or a cut-off SQL answer teaches the wrong thing.
    """
    if not answer_ids or len(prompt_ids) + len(answer_ids) > max_length:
        return None
    input_ids = list(prompt_ids) + list(answer_ids)
    labels = assistant_only_labels(input_ids, prompt_ids)
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}


def pad_batch(features: Sequence[dict[str, list[int]]], pad_id: int, multiple_of: int | None = None) -> dict[str, list[list[int]]]:
    """Right-pad a batch to its longest example (rounded up to `multiple_of`).

    Padding gets attention 0 and label IGNORE_INDEX, so the pad token id never matters for the loss (Llama 3
    has no pad token; the eos id can stand in safely).
    """
    if not features:
        raise ValueError("pad_batch: empty batch")
    longest = max(len(f["input_ids"]) for f in features)
    if multiple_of and longest % multiple_of:
        longest += multiple_of - longest % multiple_of
    out: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
    for f in features:
        n = longest - len(f["input_ids"])
        out["input_ids"].append(list(f["input_ids"]) + [pad_id] * n)
        out["attention_mask"].append(list(f["attention_mask"]) + [0] * n)
        out["labels"].append(list(f["labels"]) + [IGNORE_INDEX] * n)
    return out


def split_conversation(messages: Sequence[dict[str, str]]) -> tuple[list[dict[str, str]], str]:
    """(the messages before the final answer, the final answer's content)."""
    if not messages or messages[-1].get("role") != "assistant":
        raise ValueError("the last message must be the assistant answer")
    return [dict(m) for m in messages[:-1]], messages[-1]["content"]
