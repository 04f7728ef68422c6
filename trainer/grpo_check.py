#!/usr/bin/env python3
"""GRPO check of train.py: a tiny random Llama with the real Llama 3.1 chat template, no download, no network.

    python trainer/grpo_check.py [--steps 4] [--adapter lora|qlora] [--warm-start 150] [--keep DIR] [--metrics FILE] [--cpu]

Builds a BOS-adding character-level tokenizer carrying the Llama 3.1 chat template that TRL ships
(`trl/chat_templates/llama3_1.jinja`), a random 2-layer Llama, a SQLite database and prompt rows in the
`deno task sft --format grpo` shape, then runs `train.train()` with `"method": "grpo"` for a few steps and checks:
  - the rendered prompt holds exactly one BOS (the template writes it; tokenizing must not add a second);
  - one JSON train line per step with reward, reward_std, frac_correct, frac_executable, kl, completion_length;
  - every completion was scored by the sandboxed execution reward (its verdict counts add up);
  - the adapter is saved, reloads and generates.
Needs torch, transformers, peft, trl and datasets. Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import smoke_test  # noqa: E402  (its tokenizer and tiny Llama builders)
import train as train_mod  # noqa: E402
from text2sql_trainer import validate_config  # noqa: E402


def llama31_template() -> str:
    """The real Llama 3.1 chat template, as TRL ships it."""
    return importlib.resources.files("trl").joinpath("chat_templates/llama3_1.jinja").read_text(encoding="utf-8")


def build_tokenizer() -> Any:
    """smoke_test's character tokenizer, with the real template and a BOS added on plain tokenization (as
    Llama 3's tokenizer does): the template path must still give exactly one BOS."""
    from tokenizers import processors

    tok = smoke_test.build_tokenizer()
    bos = tok.bos_token
    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.bos_token_id)])
    tok.chat_template = llama31_template()
    assert tok("SELECT 1")["input_ids"][0] == tok.bos_token_id, "the test tokenizer should add a BOS"
    return tok


def write_fixture(work: str) -> tuple[str, str]:
    """A database root with hero/hero.sqlite and a GRPO dataset folder; returns (db_root, data_dir)."""
    db_root = os.path.join(work, "dbs")
    os.makedirs(os.path.join(db_root, "hero"))
    conn = sqlite3.connect(os.path.join(db_root, "hero", "hero.sqlite"))
    conn.executescript(
        "CREATE TABLE hero (id INTEGER, name TEXT, height_cm INTEGER, publisher TEXT);"
        "INSERT INTO hero VALUES (1, 'Hulk', 244, 'Marvel'), (2, 'Batman', 188, 'DC'), (3, 'Thor', 198, 'Marvel');"
    )
    conn.commit()
    conn.close()
    data = os.path.join(work, "data")
    os.makedirs(data)
    with open(os.path.join(data, "train.jsonl"), "w", encoding="utf-8") as f:
        for q, sql in smoke_test.PAIRS:
            row = {"messages": smoke_test.conversation(q, sql)["messages"][:2], "db_id": "hero", "gold_sql": sql,
                   "db_path": "hero/hero.sqlite"}
            f.write(json.dumps(row) + "\n")
    return db_root, data


def warm_start(model: Any, tok: Any, steps: int) -> float:
    """Full-weight SFT of the random model on the check's own 10 question/SQL pairs, so that GRPO starts from a
    policy that writes some SQL (a random one never does, and every reward would be 0). Returns the last loss."""
    train_mod.prepare_tokenizer(tok)
    examples = [train_mod.tokenize_conversation(tok, smoke_test.conversation(q, s)["messages"], 1024)
                for q, s in smoke_test.PAIRS]
    batch = train_mod.PadCollator(tok.pad_token_id)(examples)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    loss = float("nan")
    for _ in range(steps):
        out = model(**batch)
        out.loss.backward()
        opt.step()
        opt.zero_grad()
        loss = float(out.loss)
    model.eval()
    return loss


def grpo_config(base: str, steps: int, adapter: str, db_root: str) -> dict[str, Any]:
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return validate_config({
        "name": "grpo-check",
        "base_model": base,
        "method": "grpo",
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
        "training": {"max_steps": steps, "learning_rate": 1e-3, "per_device_batch_size": 4,
                     "gradient_accumulation_steps": 1, "max_length": 1024, "logging_steps": 1,
                     "eval_strategy": "no", "save_steps": max(1, steps // 2), "optim": "adamw_torch",
                     "gradient_checkpointing": False, "bf16": bf16},
        "grpo": {"adapter": adapter, "num_generations": 4, "max_completion_length": 64, "temperature": 1.0,
                 "beta": 0.001, "db_root": db_root, "reward_workers": 2, "reward_timeout_s": 5,
                 "use_vllm": False},
    })


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--adapter", choices=("lora", "qlora"), default="lora")
    ap.add_argument("--keep", help="work folder to keep (default: a temporary one, removed)")
    ap.add_argument("--metrics", help="also write the metric lines to this JSONL file")
    ap.add_argument("--cpu", action="store_true", help="hide the GPU")
    ap.add_argument("--warm-start", type=int, default=150, metavar="N",
                    help="full-weight SFT steps on the pairs before GRPO, so some completions are SQL (0: none)")
    a = ap.parse_args()
    if a.cpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    work = a.keep or tempfile.mkdtemp(prefix="grpo_check_")
    os.makedirs(work, exist_ok=True)
    try:
        tok = build_tokenizer()
        prompt = smoke_test.conversation(*smoke_test.PAIRS[0])["messages"][:2]
        ids = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        rendered = train_mod._ids(tok, ids)
        assert rendered.count(tok.bos_token_id) == 1, f"{rendered.count(tok.bos_token_id)} BOS in the prompt"
        smoke_test.ok("the Llama 3.1 template renders one BOS; tokenizing it adds none")
        db_root, data = write_fixture(work)
        model = smoke_test.build_model(tok)
        if a.warm_start > 0:
            smoke_test.ok(f"warm start: {a.warm_start} full-weight SFT steps, loss {warm_start(model, tok, a.warm_start):.3f}")
        base = os.path.join(work, "base")
        model.save_pretrained(base)
        tok.save_pretrained(base)
        seen = smoke_test.capture_metrics()
        cfg = grpo_config(base, a.steps, a.adapter, db_root)
        out = os.path.join(work, "run")
        summary = train_mod.train(cfg, data, out, tokenizer=tok)
        train_lines = [m for m in seen if m.get("type") == "train"]
        assert len(train_lines) == a.steps, f"{len(train_lines)} train lines for {a.steps} steps"
        for m in train_lines:
            for key in ("loss", "lr", "reward", "reward_std", "frac_correct", "frac_executable", "kl",
                        "completion_length"):
                assert key in m, f"train line lacks {key}: {m}"
            assert m["frac_correct"] is not None and 0 <= m["frac_correct"] <= 1, m
        smoke_test.ok(f"{len(train_lines)} GRPO train lines with reward, fractions, KL and length; rewards "
                      f"{[m['reward'] for m in train_lines]}, correct {[m['frac_correct'] for m in train_lines]}")
        start = next(m for m in seen if m.get("type") == "start")
        assert start["method"] == "grpo" and start["generation"] == "generate", start
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), summary["adapter"])
        enc = tok.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        gen = reloaded.generate(**enc, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
        assert gen.shape[1] > enc["input_ids"].shape[1], "nothing generated"
        smoke_test.ok("the GRPO adapter reloads and generates")
        if a.metrics:
            with open(a.metrics, "w", encoding="utf-8") as f:
                for m in seen:
                    f.write(json.dumps(m) + "\n")
        print(f"grpo_check: {len(smoke_test.checks)} checks passed", flush=True)
        return 0
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
