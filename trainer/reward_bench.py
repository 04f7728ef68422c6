#!/usr/bin/env python3
"""The GRPO reward at throughput: `ExecutionReward` called exactly as TRL's GRPOTrainer calls it, against the floor.

    python3 trainer/reward_bench.py --questions dev.json --db-root dev_databases [--db-id superhero]
        [--prompts 256] [--k 16] [--per-step 2] [--workers 2] [--runs 3] [--timeout 2] [--json OUT]

Builds K completions per prompt from each question's gold SQL, a realistic GRPO mix (stdlib only, deterministic):
right answers written several ways (fenced, plain, after a `<think>` block, as a subquery; identical samples
repeat, as they do at temperature 0.8), wrong ones (a LIMIT, a COUNT, a flipped comparison, another table),
failing ones (an unknown alias, a cut statement), a slow one (a self cross join), a hostile one (writes, ATTACH,
load_extension, settings, temp tables; a runaway recursive query on one prompt in 64) and prose without SQL.

- ours: one `ExecutionReward` (the trainer's reward, `--workers` sandbox processes, started before the clock as
  in training) called once per generation batch (`--per-step` prompts × K completions) with GRPOTrainer's
  arguments: `prompts`, conversational `completions`, `completion_ids`, the dataset columns, `trainer_state`.
- floor: the same statements (each prompt's gold, then every completion's extracted SQL, duplicates included) in
  plain Python `sqlite3` in `--workers` processes (a multiprocessing pool started before the clock), one
  read-only connection per database and process, `fetchall`, `set(pred) == set(gold)`: no sandbox, no
  extraction, no batching logic. A progress handler with the same time limit is its only addition (without it
  the runaway statement never ends).

Prints one JSON object: completions per second (median over `--runs` alternating runs), the p50/p99 latency of
one step's batch, the ratio ours/floor of throughput, and whether both gave the same verdict to every completion.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sqlite3
import sys
import time
import urllib.parse
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from text2sql_trainer.reward import ExecutionReward, SandboxLimits  # noqa: E402
from text2sql_trainer.sql_extract import extract_sql  # noqa: E402

HOSTILE = [
    "DELETE FROM {t}",
    "ATTACH DATABASE '/tmp/reward_bench_attach.sqlite' AS x",
    "SELECT load_extension('/tmp/evil')",
    "PRAGMA writable_schema = 1",
    "DROP TABLE {t}",
    "CREATE TEMP TABLE t AS SELECT * FROM {t}",
    "PRAGMA journal_mode = WAL",
    "SELECT 1; DELETE FROM {t}",
]
RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"


def tables_of(db: str) -> list[str]:
    conn = sqlite3.connect("file:" + urllib.parse.quote(db) + "?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    finally:
        conn.close()


def completions_for(gold: str, n: int, tables: list[str], k: int) -> list[str]:
    """K completions of prompt `n`, cycling through the mix (index i of 16; K > 16 repeats it)."""
    g = gold.strip().rstrip(";")
    big = tables[n % len(tables)]
    # The last comparison flipped (a WHERE filter, seldom a join condition, which would make a cross product):
    # a realistic near miss.
    at = g.rfind(" = ")
    flipped = g[:at] + " <> " + g[at + 3:] if at >= 0 else g.replace(">", "<", 1)
    hostile = RUNAWAY if n % 64 == 63 else HOSTILE[n % len(HOSTILE)].format(t=big)
    mix = [
        f"Here is the query:\n```sql\n{g}\n```",
        g,
        f"SELECT * FROM ({g})",
        g.replace(" ", "\n  ", 3),
        f"<think>Find the rows the question asks for.</think>\n```sql\n{g};\n```",
        g,  # identical samples: common at temperature 0.8
        f"Here is the query:\n```sql\n{g}\n```",
        f"SELECT * FROM ({g}) LIMIT 1",
        f"SELECT COUNT(*) FROM ({g})",
        flipped,
        g.replace("T1.", "T9.", 1) if "T1." in g else g + " WHERE nope = 1",
        g[: max(8, len(g) // 2)],
        f"SELECT COUNT(*) FROM {big} AS a, {big} AS b WHERE a.rowid > b.rowid",
        hostile,
        "I cannot answer this question from the schema given.",
        f"SELECT * FROM {big}",
    ]
    return [mix[i % len(mix)] for i in range(k)]


def build(questions: str, db_root: str, db_id: str | None, prompts: int, k: int) -> list[dict[str, Any]]:
    with open(questions, encoding="utf-8") as f:
        qs = [q for q in json.load(f) if db_id is None or q["db_id"] == db_id]
    if not qs:
        raise SystemExit(f"reward_bench: no question{' on ' + db_id if db_id else ''} in {questions}")
    tables: dict[str, list[str]] = {}
    rows = []
    for n in range(prompts):
        q = qs[n % len(qs)]
        rel = f"{q['db_id']}/{q['db_id']}.sqlite"
        db = os.path.join(db_root, rel)
        if q["db_id"] not in tables:
            tables[q["db_id"]] = tables_of(db)
        gold = q.get("SQL") or q.get("sql") or q["gold_sql"]
        # A distinct prompt per row (as a training set has): the question with its copy number.
        rows.append({"prompt": [{"role": "user", "content": f"{q['question']} (#{n})"}], "db_id": q["db_id"],
                     "db_path": rel, "gold_sql": gold, "completions": completions_for(gold, n, tables[q["db_id"]], k)})
    return rows


def step_batches(rows: list[dict[str, Any]], per_step: int) -> list[list[dict[str, Any]]]:
    return [rows[i:i + per_step] for i in range(0, len(rows), per_step)]


def trl_kwargs(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """The arguments GRPOTrainer passes a reward function for one generation batch (trl 1.13,
    `_calculate_rewards`): prompts and completions repeated per completion, every dataset column but `prompt`,
    `completion_ids`, `trainer_state`."""
    prompts, completions, ids, cols = [], [], [], {"db_id": [], "db_path": [], "gold_sql": []}
    for row in batch:
        for text in row["completions"]:
            prompts.append(row["prompt"])
            completions.append([{"role": "assistant", "content": text}])
            ids.append([ord(c) % 256 for c in text])
            for key in cols:
                cols[key].append(row[key])
    return {"prompts": prompts, "completions": completions, "completion_ids": ids, "trainer_state": None, **cols}


def run_ours(reward: ExecutionReward, batches: list[list[dict[str, Any]]]) -> tuple[float, list[float], list[str]]:
    reward._gold.clear()  # every run pays for its gold, as a fresh training run does
    lat, verdicts = [], []
    t0 = time.perf_counter()
    for batch in batches:
        kw = trl_kwargs(batch)
        s = time.perf_counter()
        out = reward(**kw)
        lat.append(time.perf_counter() - s)
        assert len(out) == len(kw["completions"])
    total = time.perf_counter() - t0
    # Verdicts for the agreement check, outside the clock (the gold cache is warm by now).
    for batch in batches:
        kw = trl_kwargs(batch)
        verdicts += reward.verdicts(kw["completions"], kw["db_path"], kw["gold_sql"])
    reward.pop_stats()
    return total, lat, verdicts


# ---------------------------------------------------------------------------------------------- the floor

_FLOOR: dict[str, Any] = {}


def _floor_init(timeout_s: float) -> None:
    _FLOOR["timeout"] = timeout_s
    _FLOOR["conns"] = {}
    _FLOOR["deadline"] = [0.0]


def _floor_exec(job: tuple[str, str]) -> Any:
    db, sql = job
    conns = _FLOOR["conns"]
    conn = conns.get(db)
    if conn is None:
        conn = sqlite3.connect("file:" + urllib.parse.quote(db) + "?mode=ro", uri=True)
        deadline = _FLOOR["deadline"]
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline[0] else 0, 10_000)
        conns[db] = conn
    _FLOOR["deadline"][0] = time.monotonic() + _FLOOR["timeout"]
    try:
        return set(conn.execute(sql).fetchall())
    except Exception as e:  # noqa: BLE001  (the floor only needs "failed")
        return ("error", type(e).__name__)


def run_floor(pool: Any, batches: list[list[dict[str, Any]]], db_root: str,
              workers: int) -> tuple[float, list[float], list[str]]:
    lat, verdicts = [], []
    # Extraction is not the floor's work: the statements are taken out before the clock starts.
    plan = []
    for batch in batches:
        jobs, slots = [], []
        for row in batch:
            db = os.path.join(db_root, row["db_path"])
            gold_at = len(jobs)
            jobs.append((db, row["gold_sql"]))
            for text in row["completions"]:
                sql = extract_sql(text)
                if sql.strip():
                    slots.append((gold_at, len(jobs)))
                    jobs.append((db, sql))
                else:
                    slots.append((gold_at, None))
        plan.append((jobs, slots))
    t0 = time.perf_counter()
    for jobs, slots in plan:
        s = time.perf_counter()
        res = pool.map(_floor_exec, jobs, chunksize=max(1, len(jobs) // (4 * workers)))
        out = []
        for gold_at, at in slots:
            gold, pred = res[gold_at], (res[at] if at is not None else None)
            if not isinstance(gold, set):
                out.append("gold_error")
            elif pred is None:
                out.append("no_sql")
            elif not isinstance(pred, set):
                out.append("error")
            else:
                out.append("correct" if pred == gold else "incorrect")
        lat.append(time.perf_counter() - s)
        verdicts += out
    return time.perf_counter() - t0, lat, verdicts


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", required=True, help="BIRD-format questions (db_id, SQL)")
    ap.add_argument("--db-root", required=True, help="folder holding <db_id>/<db_id>.sqlite")
    ap.add_argument("--db-id", help="only this database's questions")
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--k", type=int, default=16, help="completions per prompt (num_generations)")
    ap.add_argument("--per-step", type=int, default=2, help="prompts per generation batch (one reward call)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds per statement (grpo.reward_timeout_s)")
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args()
    rows = build(a.questions, a.db_root, a.db_id, a.prompts, a.k)
    batches = step_batches(rows, a.per_step)
    n = sum(len(r["completions"]) for r in rows)
    distinct = len({(r["db_path"], extract_sql(c)) for r in rows for c in r["completions"]})
    t = time.perf_counter()
    reward = ExecutionReward(a.db_root, workers=a.workers, limits=SandboxLimits(timeout_s=a.timeout))
    start_ours = time.perf_counter() - t
    ctx = multiprocessing.get_context("fork")
    t = time.perf_counter()
    pool = ctx.Pool(a.workers, initializer=_floor_init, initargs=(a.timeout,))
    pool.map(_floor_exec, [(os.path.join(a.db_root, rows[0]["db_path"]), "SELECT 1")] * a.workers)
    start_floor = time.perf_counter() - t
    ours, floor = [], []
    try:
        for _ in range(a.runs):
            ours.append(run_ours(reward, batches))
            floor.append(run_floor(pool, batches, a.db_root, a.workers))
    finally:
        reward.close()
        pool.close()
        pool.join()
    med = lambda runs: sorted(runs, key=lambda r: r[0])[len(runs) // 2]  # noqa: E731
    o, f = med(ours), med(floor)
    differ = [i for i, (x, y) in enumerate(zip(o[2], f[2])) if x != y]
    counts: dict[str, int] = {}
    for v in o[2]:
        counts[v] = counts.get(v, 0) + 1
    fig = {
        "completions": n, "prompts": len(rows), "k": a.k, "steps": len(batches), "per_step": a.per_step,
        "distinct_statements": distinct, "workers": a.workers, "runs": a.runs, "timeout_s": a.timeout,
        "verdicts": counts,
        "ours": {"seconds": round(o[0], 3), "per_s": round(n / o[0], 1), "p50_ms": round(pct(o[1], 50) * 1e3, 2),
                 "p99_ms": round(pct(o[1], 99) * 1e3, 2), "start_s": round(start_ours, 3)},
        "floor": {"seconds": round(f[0], 3), "per_s": round(n / f[0], 1), "p50_ms": round(pct(f[1], 50) * 1e3, 2),
                  "p99_ms": round(pct(f[1], 99) * 1e3, 2), "start_s": round(start_floor, 3)},
        "throughput_vs_floor": round(f[0] / o[0], 3),
        "verdicts_differ": len(differ),
        "differ_examples": [{"completion": rows[i // a.k]["completions"][i % a.k][:120], "ours": o[2][i],
                             "floor": f[2][i]} for i in differ[:5]],
    }
    text = json.dumps(fig)
    print(text, flush=True)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
