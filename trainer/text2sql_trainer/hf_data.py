"""Tokenizing conversations for training: chat template to text, the loss on the answer only, padding.

Rendering is done to text (`tokenize=False`) and tokenized here, because transformers 5 changed what
`apply_chat_template(tokenize=True)` returns.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from .data import assistant_only_labels, build_example, pad_batch, read_jsonl, split_conversation
from .hf_common import TrainError


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Give the tokenizer a pad token and right padding; refuse one without a chat template.

    Llama 3 has no pad token. Its reserved `<|finetune_right_pad_id|>` is used when present, else eos: padding
    is masked out of both attention and labels, so the choice never reaches the loss.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise TrainError("the tokenizer has no chat template: use an instruct model (or set one on the tokenizer)")
    if tokenizer.pad_token is None:
        vocab = tokenizer.get_vocab()
        if "<|finetune_right_pad_id|>" in vocab:
            tokenizer.pad_token = "<|finetune_right_pad_id|>"
        else:
            tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    # Llama-family models take no token_type_ids. A tokenizer that still lists them (transformers 4.x's default
    # for a PreTrainedTokenizerFast without a tokenizer_config saying otherwise) makes every encode return them,
    # and GRPO's generate() then fails: "model_kwargs are not used by the model: ['token_type_ids']".
    names = list(getattr(tokenizer, "model_input_names", []) or [])
    if "token_type_ids" in names:
        tokenizer.model_input_names = [n for n in names if n != "token_type_ids"]
    return tokenizer


def _ids(tokenizer: Any, text: str) -> list[int]:
    # add_special_tokens=False: the chat template already writes <|begin_of_text|>; a second BOS would shift
    # every position away from what the server feeds the model at inference.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def tokenize_conversation(tokenizer: Any, messages: list[dict[str, str]], max_length: int) -> dict[str, list[int]] | None:
    """input_ids/attention_mask/labels for one conversation, the loss on the final assistant answer only.

    The prompt is rendered with `add_generation_prompt=True` (ending in the assistant header), exactly as vLLM
    renders it at inference. Rendering is done to text (`tokenize=False`) and tokenized here, because
    transformers 5 changed what `apply_chat_template(tokenize=True)` returns. Returns None when the example
    does not fit in `max_length`.
    """
    prompt_msgs, _answer = split_conversation(messages)
    prompt_text = tokenizer.apply_chat_template(prompt_msgs, tokenize=False, add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template(list(messages), tokenize=False)
    prompt_ids = _ids(tokenizer, prompt_text)
    if full_text.startswith(prompt_text):
        return build_example(prompt_ids, _ids(tokenizer, full_text[len(prompt_text):]), max_length)
    # A template whose prompt is not a prefix of the full render (rare): tokenize the whole and mask the common
    # prefix, which is never wider than the prompt.
    full_ids = _ids(tokenizer, full_text)
    if len(full_ids) > max_length:
        return None
    labels = assistant_only_labels(full_ids, prompt_ids)
    if all(label == -100 for label in labels):
        return None
    return {"input_ids": full_ids, "attention_mask": [1] * len(full_ids), "labels": labels}


def load_split(path: str, tokenizer: Any, max_length: int) -> tuple[list[dict[str, list[int]]], int]:
    """Tokenized examples of one JSONL file and the number dropped for exceeding max_length."""
    examples: list[dict[str, list[int]]] = []
    dropped = 0
    for n, obj, err in read_jsonl(path):
        if err:
            raise TrainError(f"{path}:{n}: {err}")
        ex = tokenize_conversation(tokenizer, obj["messages"], max_length)
        if ex is None:
            dropped += 1
        else:
            examples.append(ex)
    return examples, dropped


class PadCollator:
    """Pads a batch with `pad_batch` (labels -100, attention 0 on padding) and makes long tensors."""

    def __init__(self, pad_id: int, multiple_of: int | None = 8):
        self.pad_id = pad_id
        # A multiple of 8 keeps bf16 matmuls on tensor-core friendly shapes.
        self.multiple_of = multiple_of

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        batch = pad_batch(features, self.pad_id, self.multiple_of)
        return {k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()}


def load_grpo_prompts(path: str, tokenizer: Any, max_length: int) -> tuple[list[dict[str, Any]], int]:
    """GRPO rows of one JSONL file as TRL wants them (`prompt` = the conversation), and the number dropped
    because the rendered prompt exceeds `max_length` tokens (TRL 1.x has no prompt truncation of its own, and a
    cut schema would teach the wrong thing)."""
    rows: list[dict[str, Any]] = []
    dropped = 0
    for n, obj, err in read_jsonl(path):
        if err:
            raise TrainError(f"{path}:{n}: {err}")
        text = tokenizer.apply_chat_template(obj["messages"], tokenize=False, add_generation_prompt=True)
        if len(_ids(tokenizer, text)) > max_length:
            dropped += 1
            continue
        # `alt_results` (a tie's equally right answers, from `--audit`) as a JSON string: one column type for all.
        rows.append({"prompt": obj["messages"], "db_id": obj["db_id"], "gold_sql": obj["gold_sql"],
                     "db_path": obj["db_path"], "alt_results": json.dumps(obj.get("alt_results") or [])})
    return rows, dropped
