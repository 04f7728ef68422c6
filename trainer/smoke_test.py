#!/usr/bin/env python3
"""GPU smoke test of train.py: a tiny random Llama, no download, no network.

    python trainer/smoke_test.py [--steps 30] [--keep DIR] [--cpu]

Builds a character-level tokenizer and a randomly initialised 2-layer Llama in code, trains LoRA for ~30 steps
on short text-to-SQL conversations through the same functions as train.py (`train`, `tokenize_conversation`,
`make_trainer`, `save_outputs`, `merge_adapter`), and checks that:
  - the labels cover exactly the assistant answer and its end-of-turn token;
  - the train loss falls;
  - one JSON metric line per logging step came out, in the documented shape;
  - the adapter saves, reloads onto the base and gives the same logits, and generates;
  - training resumes from the last checkpoint;
  - merging the adapter gives the same logits as base + adapter.
Optional paths (QLoRA with bitsandbytes, TensorBoard) run when their packages are present and are reported as
skipped otherwise. Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import traceback
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import train as train_mod  # noqa: E402  (trainer/train.py: the code path under test)
from text2sql_trainer import IGNORE_INDEX, validate_config  # noqa: E402

SPECIALS = ["<unk>", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
# A Llama-3-shaped template: header, blank line, trimmed content, end-of-turn.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)

SYSTEM = "You are a text to SQL query translator. Translate the question into a SQLite SELECT statement."
SCHEMA = "CREATE TABLE hero (id INTEGER, name TEXT, height_cm INTEGER, publisher TEXT)"
PAIRS = [
    ("How many heroes are there?", "SELECT COUNT(*) FROM hero"),
    ("List the names of all heroes.", "SELECT name FROM hero"),
    ("How tall is Hulk?", "SELECT height_cm FROM hero WHERE name = 'Hulk'"),
    ("Which heroes are taller than 200 cm?", "SELECT name FROM hero WHERE height_cm > 200"),
    ("Who publishes Batman?", "SELECT publisher FROM hero WHERE name = 'Batman'"),
    ("How many heroes does Marvel publish?", "SELECT COUNT(*) FROM hero WHERE publisher = 'Marvel'"),
    ("What is the tallest hero?", "SELECT name FROM hero ORDER BY height_cm DESC LIMIT 1"),
    ("List heroes sorted by name.", "SELECT name FROM hero ORDER BY name"),
    ("What is the average height?", "SELECT AVG(height_cm) FROM hero"),
    ("List the publishers.", "SELECT DISTINCT publisher FROM hero"),
]

skipped: list[str] = []
checks: list[str] = []


def ok(msg: str) -> None:
    checks.append(msg)
    print(f"ok   {msg}", flush=True)


def conversation(question: str, sql: str) -> dict[str, Any]:
    return {"messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"-- DB Schema: {SCHEMA}\n\n-- Question: {question}"},
        {"role": "assistant", "content": sql},
    ]}


def write_dataset(folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "train.jsonl"), "w") as f:
        for q, s in PAIRS[:8]:
            f.write(json.dumps(conversation(q, s)) + "\n")
    with open(os.path.join(folder, "test.jsonl"), "w") as f:
        for q, s in PAIRS[8:]:
            f.write(json.dumps(conversation(q, s)) + "\n")


def build_tokenizer() -> Any:
    """A character-level fast tokenizer built in code: BPE with no merges over printable ASCII."""
    from tokenizers import AddedToken, Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    chars = [chr(c) for c in range(32, 127)] + ["\n", "\t"]
    vocab = {tok: i for i, tok in enumerate(SPECIALS + chars)}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    if hasattr(decoders, "Fuse"):
        tk.decoder = decoders.Fuse()  # join characters without the default space between tokens
    tk.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        unk_token="<unk>",
        clean_up_tokenization_spaces=False,
        # What Llama 3's tokenizer_config.json says: no token_type_ids (transformers 4.x's default lists them).
        model_input_names=["input_ids", "attention_mask"],
    )
    tok.chat_template = CHAT_TEMPLATE
    # No pad token on purpose: prepare_tokenizer must supply one, as for Llama 3.
    real = llama31_template()
    if real is not None:
        # The real Llama 3.1 template (system preamble with dates, trimmed turns) and, as Llama 3's tokenizer
        # does, a BOS added on plain tokenization: a second BOS in training inputs must then be caught.
        from tokenizers import processors

        tok.chat_template = real
        bos = tok.bos_token
        tok._tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.bos_token_id)])
    return tok


def llama31_template() -> str | None:
    """The Llama 3.1 chat template TRL ships (`trl/chat_templates/llama3_1.jinja`), or None without trl."""
    try:
        import importlib.resources

        return importlib.resources.files("trl").joinpath("chat_templates/llama3_1.jinja").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return None


def build_model(tok: Any) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        # Wider than the default 0.02: after the final RMSNorm the logits are bounded by |lm_head rows|, and with
        # 0.02 a frozen random head leaves a 64-wide model almost no room to lower the loss in 30 steps.
        initializer_range=0.1,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(cfg)


def smoke_config(base_model: str, steps: int, method: str = "lora") -> dict[str, Any]:
    """The smoke run's config, validated by the same validator as every real config."""
    return validate_config({
        "name": "smoke",
        "base_model": base_model,
        "method": method,
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
        "training": {
            "max_steps": steps,
            # High for a random tiny model: 30 steps at 2e-4 would barely move a zero-initialised adapter.
            "learning_rate": 5e-3,
            "per_device_batch_size": 4,
            "per_device_eval_batch_size": 2,
            "gradient_accumulation_steps": 1,
            "max_length": 512,
            "logging_steps": 1,
            "eval_strategy": "steps",
            "eval_steps": 10,
            "save_steps": 10,
            "save_total_limit": 2,
            "optim": "adamw_torch",
            "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        },
    })


def capture_metrics() -> list[dict[str, Any]]:
    """Collect what train.py emits (it still prints it)."""
    seen: list[dict[str, Any]] = []
    train_mod.METRIC_SINKS.append(seen.append)
    return seen


def stop_at(step: int) -> Any:
    """A TrainerCallback that ends training after `step` (an interrupted run: its checkpoint is what resumes)."""
    from transformers import TrainerCallback

    class StopAt(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step >= step:
                control.should_save = True
                control.should_training_stop = True

    return StopAt()


def lora_a(model: Any) -> dict[str, Any]:
    """The LoRA A matrices as initialised (the B ones start at zero): what training.seed must fix."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_A" in n}


def losses_by_step(lines: list[dict[str, Any]]) -> dict[int, float]:
    return {m["step"]: m["loss"] for m in lines if m.get("type") == "train"}


def assert_same_init(a: dict[str, Any], b: dict[str, Any], what: str) -> None:
    assert a and a.keys() == b.keys(), f"{what}: LoRA parameters differ ({len(a)} vs {len(b)})"
    differ = [n for n in a if not torch.equal(a[n], b[n])]
    assert not differ, f"{what}: training.seed did not fix the LoRA initialisation ({len(differ)} matrices differ)"


def assert_same_weights(dir_a: str, dir_b: str, what: str) -> None:
    """Two checkpoints' adapter weights are equal, bit for bit (the logged losses are rounded; these are not)."""
    from safetensors.torch import load_file

    a = load_file(os.path.join(dir_a, "adapter_model.safetensors"))
    b = load_file(os.path.join(dir_b, "adapter_model.safetensors"))
    assert a.keys() == b.keys() and a, f"{what}: adapters hold other tensors"
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{what}: {len(differ)} of {len(a)} adapter tensors differ from the uninterrupted run's"


def assert_exact_resume(full: dict[int, float], resumed: dict[int, float], from_step: int, what: str) -> None:
    """The resumed run's losses after the checkpoint equal the uninterrupted run's, bit for bit (CPU, fixed seeds)."""
    steps = sorted(s for s in resumed if s > from_step)
    assert steps and steps[0] == from_step + 1, f"{what}: resumed at step {steps[:1]}, checkpoint {from_step}"
    differ = [(s, full.get(s), resumed[s]) for s in steps if full.get(s) != resumed[s]]
    assert not differ, f"{what}: resumed losses differ from the uninterrupted run's (step, full, resumed): {differ[:3]}"


def check_masking(tok: Any) -> None:
    q, sql = PAIRS[0]
    ex = train_mod.tokenize_conversation(tok, conversation(q, sql)["messages"], 512)
    assert ex is not None, "example unexpectedly dropped"
    kept = [t for t, label in zip(ex["input_ids"], ex["labels"]) if label != IGNORE_INDEX]
    assert tok.decode(kept) == sql + "<|eot_id|>", f"labels cover {tok.decode(kept)!r}"
    first = ex["labels"].index(next(label for label in ex["labels"] if label != IGNORE_INDEX))
    prompt = tok.decode(ex["input_ids"][:first])
    assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n"), repr(prompt[-60:])
    assert train_mod.tokenize_conversation(tok, conversation(q, sql)["messages"], 40) is None
    assert ex["input_ids"].count(tok.bos_token_id) == 1, f"{ex['input_ids'].count(tok.bos_token_id)} BOS tokens"
    ok("labels cover exactly the answer and <|eot_id|>; one BOS; too-long examples are dropped "
       f"({'real Llama 3.1 template, BOS-adding tokenizer' if llama31_template() else 'simplified template'})")
    if llama31_template() is None:
        skipped.append("real Llama 3.1 template (trl not installed)")


def logits_of(model: Any, tok: Any, device: str) -> Any:
    ids = tok("<|begin_of_text|>SELECT name FROM hero", add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids.to(device)).logits.float().cpu()


def run(steps: int, work: str, force_cpu: bool, metrics_file: str | None = None, method: str = "lora") -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    device = "cuda" if torch.cuda.is_available() and not force_cpu else "cpu"
    import transformers

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, device {device}", flush=True)
    data = os.path.join(work, "data")
    write_dataset(data)
    tok = build_tokenizer()
    train_mod.prepare_tokenizer(tok)
    check_masking(tok)

    base_dir = os.path.join(work, "base")
    base = build_model(tok)
    base.save_pretrained(base_dir)
    tok.save_pretrained(base_dir)

    metrics = capture_metrics()
    out = os.path.join(work, "out")
    cfg = smoke_config(base_dir, steps, method)
    # QLoRA must load the base from disk itself (quantized on load); LoRA takes the model built here.
    fresh = (lambda: None) if method == "qlora" else (lambda: build_model(tok))
    inits: list[dict[str, Any]] = []
    summary = train_mod.train(cfg, data, out, model=fresh(), tokenizer=tok,
                              on_trainer=lambda t: inits.append(lora_a(t.model)))

    train_lines = [m for m in metrics if m["type"] == "train"]
    eval_lines = [m for m in metrics if m["type"] == "eval"]
    assert len(train_lines) >= steps, f"expected >= {steps} train lines, got {len(train_lines)}"
    for m in train_lines:
        for key in ("step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "gpu_mem_gb"):
            assert key in m, f"train line lacks {key}: {m}"
    assert eval_lines and all("eval_loss" in m for m in eval_lines), "no eval lines"
    ok(f"{len(train_lines)} train and {len(eval_lines)} eval metric lines in the documented shape")
    losses = [m["loss"] for m in train_lines]
    head, tail = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    print(f"loss: first-5 mean {head:.4f}, last-5 mean {tail:.4f}", flush=True)
    # 7 %: well above the batch-to-batch noise of 5-step means on the same 8 conversations.
    assert tail < head * 0.93, f"loss did not fall enough: {head:.4f} -> {tail:.4f}"
    ok("train loss falls")

    adapter = summary["adapter"]
    for name in ("adapter_config.json",):
        assert os.path.isfile(os.path.join(adapter, name)), f"{name} missing in {adapter}"
    assert any(f.startswith("adapter_model") for f in os.listdir(adapter)), "adapter weights missing"
    with open(os.path.join(adapter, "adapter_config.json")) as f:
        assert json.load(f)["r"] == 16
    if train_mod.has_module("tensorboard"):
        tb = os.environ.get("TENSORBOARD_LOGGING_DIR", os.path.join(out, "tensorboard"))
        found = any("tfevents" in f for _, _, files in os.walk(tb) for f in files)
        assert found, f"no TensorBoard event file under {tb}"
        ok("TensorBoard event file written")
    else:
        skipped.append("TensorBoard logs (tensorboard not installed)")

    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), adapter).to(device).eval()
    a = logits_of(reloaded, tok, device)
    base_only = logits_of(AutoModelForCausalLM.from_pretrained(base_dir).to(device).eval(), tok, device)
    assert not torch.allclose(a, base_only, atol=1e-4), "the adapter changes nothing"
    ok("adapter saved, reloaded onto the base, and changes its logits")

    prompt = tok.apply_chat_template(conversation(*PAIRS[0])["messages"][:-1], tokenize=False, add_generation_prompt=True)
    ids = tok(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"].to(device)
    with torch.no_grad():
        gen = reloaded.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=24, do_sample=False,
            pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
        )
    text = tok.decode(gen[0, ids.shape[1]:])
    assert gen.shape[1] > ids.shape[1], "generated nothing"
    print(f"generated: {text!r}", flush=True)
    ok("reloaded adapter generates")

    if metrics_file:
        with open(metrics_file, "w", encoding="utf-8") as f:
            for m in metrics:
                f.write(json.dumps(m, separators=(",", ":")) + "\n")
    # Exact resume and the seed: run B is run A interrupted at step 2/3 (RNG disturbed first and the base
    # loaded from disk, so only training.seed can make its LoRA initialisation equal A's); run C resumes B's
    # checkpoint. B's losses equal A's up to the stop, and C's equal A's after it, bit for bit: a restarted
    # optimizer, scheduler, data order or RNG state changes them.
    stop = max(2, (steps * 2 // 3) // cfg["training"]["save_steps"] * cfg["training"]["save_steps"])
    out_b = os.path.join(work, "out_b")
    full = losses_by_step(train_lines)
    metrics.clear()
    torch.manual_seed(12345)
    inits_b: list[dict[str, Any]] = []
    train_mod.train(cfg, data, out_b, model=AutoModelForCausalLM.from_pretrained(base_dir) if method != "qlora" else None,
                    tokenizer=tok, callbacks=[stop_at(stop)], on_trainer=lambda t: inits_b.append(lora_a(t.model)))
    assert_same_init(inits[0], inits_b[0], "interrupted run")
    first_part = losses_by_step(metrics)
    assert max(first_part) == stop and all(full[s] == first_part[s] for s in first_part), (
        f"the same config and seed gave other losses: {[(s, full[s], first_part[s]) for s in first_part][:3]}")
    assert os.path.isdir(os.path.join(out_b, f"checkpoint-{stop}")), f"no checkpoint-{stop} to resume from"
    metrics.clear()
    train_mod.train(cfg, data, out_b, model=fresh(), tokenizer=tok)
    start = next(m for m in metrics if m["type"] == "start")
    assert start["resume_from"] and start["resume_from"].endswith(f"checkpoint-{stop}"), start
    resumed = losses_by_step(metrics)
    assert_exact_resume(full, resumed, stop, "SFT")
    final = os.path.join(out_b, f"checkpoint-{steps}")
    opt = torch.load(os.path.join(final, "optimizer.pt"), map_location="cpu", weights_only=False)
    opt_steps = {int(v["step"]) for v in opt["state"].values() if "step" in v}
    assert opt_steps == {steps}, f"optimizer step count {opt_steps} at checkpoint {steps}"
    assert_same_weights(os.path.join(out, f"checkpoint-{steps}"), final, "SFT resume")
    ok(f"training.seed fixes the LoRA initialisation; interrupted at step {stop} and resumed: losses of steps "
       f"{stop + 1}-{steps} equal the uninterrupted run's bit for bit; optimizer at {steps} steps")

    merged_dir = train_mod.merge_adapter(cfg, summary["adapter"], os.path.join(work, "merge"))
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, **train_mod._dtype_kwarg(torch.float32)).to(device).eval()
    reloaded_fp32 = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base_dir, **train_mod._dtype_kwarg(torch.float32)), adapter
    ).to(device).eval()
    m_logits, p_logits = logits_of(merged, tok, device), logits_of(reloaded_fp32, tok, device)
    # The merge runs in bf16 (as for the real 8B model), so allow bf16 rounding.
    assert torch.allclose(m_logits, p_logits, atol=0.1, rtol=0.05), (m_logits - p_logits).abs().max()
    ok("merged weights match base + adapter")

    if not train_mod.has_module("bitsandbytes"):
        try:
            train_mod.quantization_config(smoke_config(base_dir, 10, method="qlora"))
        except train_mod.TrainError as e:
            assert "bitsandbytes" in str(e) and '"lora"' in str(e), str(e)
        else:
            raise AssertionError("QLoRA without bitsandbytes did not fail")
        ok("QLoRA without bitsandbytes fails with a clear message")
        skipped.append("QLoRA 4-bit path (bitsandbytes not installed)")
    elif device != "cuda":
        skipped.append("QLoRA 4-bit path (no CUDA device)")
    else:
        metrics.clear()
        qcfg = smoke_config(base_dir, 10, method="qlora")
        train_mod.train(qcfg, data, os.path.join(work, "out_qlora"), tokenizer=tok)
        assert any(m["type"] == "train" for m in metrics), "QLoRA produced no train lines"
        ok("QLoRA (4-bit NF4) path trains")
    if not train_mod.has_module("trl"):
        skipped.append("trl (not installed; SFT does not need it, GRPO does: see grpo_check.py)")


def main() -> int:
    parser = argparse.ArgumentParser(description="GPU smoke test of train.py on a tiny random Llama")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temp folder, removed)")
    parser.add_argument("--cpu", action="store_true", help="run on CPU even when a GPU is present")
    parser.add_argument("--metrics", help="write the first run's metric lines to this JSONL file")
    parser.add_argument("--method", choices=("lora", "qlora"), default="lora",
                        help="the main run's method (qlora needs CUDA and bitsandbytes)")
    args = parser.parse_args()
    if args.cpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before anything initialises CUDA
    work = args.keep or tempfile.mkdtemp(prefix="t2s-smoke-")
    if args.keep and os.path.exists(work):
        shutil.rmtree(work)  # resume must find only this run's checkpoints
    os.makedirs(work, exist_ok=True)
    os.environ["TENSORBOARD_LOGGING_DIR"] = os.path.join(work, "out", "tensorboard")
    status = 0
    try:
        run(args.steps, work, args.cpu, args.metrics, args.method)
    except Exception:  # report every failure the same way, with its traceback, then exit non-zero
        traceback.print_exc()
        status = 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("skipped: " + ("; ".join(skipped) if skipped else "nothing"), flush=True)
    print(f"SMOKE {'PASSED' if status == 0 else 'FAILED'}: {len(checks)} checks passed", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
