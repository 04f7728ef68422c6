#!/usr/bin/env python3
"""GRPO check of train.py: a tiny random Llama with the real Llama 3.1 chat template, no download, no network.

    python trainer/grpo_check.py [--steps 4] [--adapter lora|qlora] [--warm-start 120] [--keep DIR] [--metrics FILE] [--cpu]

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

    tok = smoke_test.build_tokenizer()  # model_input_names as Llama's: no token_type_ids
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


# The warm start's second answer to every question: it runs, and is wrong for all but one (reward 0.1 there).
WRONG = "SELECT name FROM hero"


def warm_start(model: Any, tok: Any, steps: int) -> float:
    """Full-weight SFT of the random model on each of the check's 10 questions answered twice, once with its
    SQL and once with WRONG, so that GRPO starts from a policy that writes SQL and, sampling, writes the right
    one about half the time: the rewards in a group differ (1 vs 0.1) and every step has a learning signal.
    (A random policy never writes SQL and every reward is 0; one trained on the right answers alone writes
    them every time: either way all rewards in a group are equal, the advantages 0, and nothing is learned.)
    Returns the last loss."""
    train_mod.prepare_tokenizer(tok)
    examples = [train_mod.tokenize_conversation(tok, smoke_test.conversation(q, answer)["messages"], 1024)
                for q, s in smoke_test.PAIRS for answer in (s, WRONG)]
    batch = train_mod.PadCollator(tok.pad_token_id)(examples)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    loss = float("nan")
    for _ in range(steps):
        out = model(**batch)
        out.loss.backward()
        opt.step()
        opt.zero_grad()
        loss = float(out.loss.detach())
    model.eval()
    return loss


# Not TRL's defaults (temperature 1.0, beta 0.0): a setting that does not reach GRPOConfig shows.
TEMPERATURE = 0.9
BETA = 0.04


def grpo_config(base: str, steps: int, adapter: str, db_root: str) -> dict[str, Any]:
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return validate_config({
        "name": "grpo-check",
        "base_model": base,
        "method": "grpo",
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
        # 2 prompts × 4 completions a step. Gradient checkpointing on, as configs/llama31_8b_grpo.json has it.
        # No warmup: the first step updates the adapter (a warmup step has learning rate 0), so KL > 0 from step 2.
        "training": {"max_steps": steps, "learning_rate": 2e-3, "warmup_ratio": 0.0, "per_device_batch_size": 8,
                     "gradient_accumulation_steps": 1, "max_length": 1024, "logging_steps": 1,
                     "eval_strategy": "no", "save_steps": max(1, steps // 2), "optim": "adamw_torch",
                     "gradient_checkpointing": True, "bf16": bf16},
        "grpo": {"adapter": adapter, "num_generations": 4, "max_completion_length": 64,
                 "temperature": TEMPERATURE, "beta": BETA, "db_root": db_root, "reward_workers": 2,
                 "reward_timeout_s": 5, "use_vllm": False},
    })


class Recorder:
    """What the checks assert on: the trainer as built, and at each logged step the completions TRL scored with
    the rewards it logged for them (TRL keeps the last generation batch in `_logs`)."""

    def __init__(self) -> None:
        self.trainer: Any = None
        self.batches: dict[int, tuple[list[str], list[str], list[float]]] = {}
        self.lora_init: dict[str, Any] = {}

    def on_trainer(self, trainer: Any) -> None:
        self.trainer = trainer
        self.lora_init = smoke_test.lora_a(trainer.model)

    def callback(self) -> Any:
        from transformers import TrainerCallback

        rec = self

        class Record(TrainerCallback):
            def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
                if logs and "loss" in logs:
                    t = rec.trainer
                    rewards = list(t._logs["rewards"]["execution_reward"])
                    rec.batches[state.global_step] = (list(t._logs["prompt"]), list(t._logs["completion"]), rewards)

        return Record()


def check_built(trainer: Any) -> None:
    """The config reached TRL: temperature and beta as set; the reference is the base (adapter disabled), not a
    second `ref` adapter."""
    assert trainer.temperature == TEMPERATURE, f"GRPO samples at temperature {trainer.temperature}, config {TEMPERATURE}"
    assert trainer.args.temperature == TEMPERATURE, trainer.args.temperature
    assert trainer.beta == BETA, f"GRPO's KL weight is {trainer.beta}, config {BETA}"
    peft_config = getattr(trainer.model, "peft_config", {})
    assert list(peft_config) == ["default"], f"adapters {list(peft_config)}: TRL added a reference copy"
    assert trainer.ref_model is None, "a second reference model was loaded"


def recompute(recorded: dict[int, tuple[list[str], list[str], list[float]]], db_root: str) -> None:
    """The project's reward, recomputed in a fresh pool from the completions TRL logged, equals what TRL logged."""
    from text2sql_trainer.reward import ExecutionReward

    by_question = {q: sql for q, sql in smoke_test.PAIRS}
    reward = ExecutionReward(db_root, workers=1)
    try:
        for step, (prompts, completions, logged) in recorded.items():
            golds = []
            for p in prompts:
                hits = [sql for q, sql in by_question.items() if q in p]
                assert len(hits) == 1, f"step {step}: cannot tell the question of a logged prompt"
                golds.append(hits[0])
            again = reward([], [[{"role": "assistant", "content": c}] for c in completions],
                           db_path=["hero/hero.sqlite"] * len(completions), gold_sql=golds)
            # TRL keeps rewards as float32 tensors: compare at that precision, exactly.
            again32 = torch.tensor(again, dtype=torch.float32).tolist()
            assert again32 == logged, f"step {step}: logged rewards {logged}, recomputed {again}"
    finally:
        reward.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--adapter", choices=("lora", "qlora"), default="lora")
    ap.add_argument("--keep", help="work folder to keep (default: a temporary one, removed)")
    ap.add_argument("--metrics", help="also write the metric lines to this JSONL file")
    ap.add_argument("--cpu", action="store_true", help="hide the GPU")
    ap.add_argument("--warm-start", type=int, default=120, metavar="N",
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
        rec = Recorder()
        summary = train_mod.train(cfg, data, out, tokenizer=tok, callbacks=[rec.callback()],
                                  on_trainer=lambda t: (check_built(t), rec.on_trainer(t)))
        smoke_test.ok(f"GRPOConfig carries temperature {TEMPERATURE} and beta {BETA}; the KL reference is the base "
                      "with the adapter disabled (one adapter, no reference copy)")
        train_lines = [m for m in seen if m.get("type") == "train"]
        assert len(train_lines) == a.steps, f"{len(train_lines)} train lines for {a.steps} steps"
        for m in train_lines:
            for key in ("loss", "lr", "reward", "reward_std", "frac_reward_zero_std", "frac_correct",
                        "frac_executable", "kl", "completion_length"):
                assert key in m, f"train line lacks {key}: {m}"
            assert m["frac_correct"] is not None and 0 <= m["frac_correct"] <= 1, m
        smoke_test.ok(f"{len(train_lines)} GRPO train lines; rewards {[m['reward'] for m in train_lines]}, "
                      f"groups without signal {[m['frac_reward_zero_std'] for m in train_lines]}, "
                      f"KL {[m['kl'] for m in train_lines]}, grad norms {[m['grad_norm'] for m in train_lines]}")
        # Real learning: every step has a gradient (some group's rewards differ), and once the adapter has moved
        # the policy differs from the reference (KL > 0).
        no_grad = [m["step"] for m in train_lines if not m["grad_norm"]]
        assert not no_grad, f"steps {no_grad} had no gradient (every group's rewards were equal)"
        flat_kl = [m["step"] for m in train_lines if m["step"] > 1 and not (m["kl"] and m["kl"] > 0)]
        assert not flat_kl, f"KL stayed 0 after the first update at steps {flat_kl}"
        smoke_test.ok("every step has a non-zero gradient; KL > 0 after the first update")
        assert sorted(rec.batches) == [m["step"] for m in train_lines], sorted(rec.batches)
        for m in train_lines:
            logged = rec.batches[m["step"]][2]
            assert abs(sum(logged) / len(logged) - m["reward"]) < 1e-6, (m["step"], logged, m["reward"])
        recompute(rec.batches, db_root)
        smoke_test.ok("the logged reward is the mean of the project's reward recomputed from the logged completions")
        adapter_dir = summary["adapter"]
        if a.metrics:  # the uninterrupted run's lines
            with open(a.metrics, "w", encoding="utf-8") as f:
                for m in seen:
                    f.write(json.dumps(m) + "\n")
        assert not os.path.exists(os.path.join(adapter_dir, "ref")), "the saved adapter carries a ref/ copy"

        # Exact resume: interrupted at the first checkpoint (RNG disturbed first), then resumed; the steps after
        # the checkpoint equal the uninterrupted run's (losses as logged, rewards, and the adapter bit for bit).
        stop = cfg["training"]["save_steps"]
        full = {m["step"]: (m["loss"], m["reward"]) for m in train_lines}
        out_b = os.path.join(work, "run_b")
        rec_b = Recorder()
        seen.clear()
        torch.manual_seed(4321)
        train_mod.train(cfg, data, out_b, tokenizer=tok, callbacks=[smoke_test.stop_at(stop)],
                        on_trainer=rec_b.on_trainer)
        smoke_test.assert_same_init(rec.lora_init, rec_b.lora_init, "GRPO")
        seen.clear()
        train_mod.train(cfg, data, out_b, tokenizer=tok)
        start = next(m for m in seen if m.get("type") == "start")
        assert start["resume_from"] and start["resume_from"].endswith(f"checkpoint-{stop}"), start
        resumed = {m["step"]: (m["loss"], m["reward"]) for m in seen if m.get("type") == "train"}
        assert sorted(resumed) == list(range(stop + 1, a.steps + 1)), sorted(resumed)
        differ = [(s, full[s], resumed[s]) for s in resumed if full[s] != resumed[s]]
        assert not differ, f"GRPO: resumed (loss, reward) differ from the uninterrupted run's: {differ}"
        smoke_test.assert_same_weights(os.path.join(out, f"checkpoint-{a.steps}"),
                                       os.path.join(out_b, f"checkpoint-{a.steps}"), "GRPO resume")
        smoke_test.ok(f"training.seed fixes the LoRA initialisation; interrupted at step {stop} and resumed: steps "
                      f"{stop + 1}-{a.steps} equal the uninterrupted run's (loss, reward, adapter bit for bit)")
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter_dir)
        enc = tok.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        gen = reloaded.generate(**enc, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
        assert gen.shape[1] > enc["input_ids"].shape[1], "nothing generated"
        smoke_test.ok("the GRPO adapter reloads and generates")
        print(f"grpo_check: {len(smoke_test.checks)} checks passed", flush=True)
        return 0
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
