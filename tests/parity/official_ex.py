"""The official BIRD EX semantics, in Python, for a question-by-question parity check.

Mirrors AlibabaResearch/DAMO-ConvAI bird/llm/src/evaluation.py: for each prediction, a NEW connection,
execute the predicted SQL then the gold SQL, fetchall, correct iff set(pred) == set(gold); any exception
(or the time limit) scores 0. Written from the published semantics, not copied.

Also the baseline of `deno task bench`: `--processes N` runs the pairs in a multiprocessing pool as the
official script does, and `--time` prints only the wall time in seconds.

usage: python3 official_ex.py DATASET PREDICTIONS DB_ROOT [--db ID] [--timeout S] [--processes N] [--time]
prints {"<index>": [ex 0|1, soft_f1], ...} as JSON on stdout (Soft-F1 as mini-dev evaluation_f1.py).
"""
import argparse
import json
import multiprocessing
import sqlite3
import time

SEP = "\t----- bird -----\t"


def execute_pair(pred_sql, gold_sql, db_file, timeout_s):
    conn = sqlite3.connect(db_file)
    deadline = time.monotonic() + timeout_s

    def guard():
        # Non-zero aborts the running statement, like func_timeout killing the official worker.
        return 1 if time.monotonic() > deadline else 0

    conn.set_progress_handler(guard, 10000)
    try:
        cur = conn.cursor()
        cur.execute(pred_sql)
        pred = cur.fetchall()
        cur.execute(gold_sql)
        gold = cur.fetchall()
        return (1 if set(pred) == set(gold) else 0), soft_f1(pred, gold)
    finally:
        conn.close()


def soft_f1(predicted, ground_truth):
    """mini-dev evaluation_f1.py semantics: dedupe keeping order, pair rows by position."""
    if not predicted and not ground_truth:
        return 1.0
    predicted = list(dict.fromkeys(predicted))
    ground_truth = list(dict.fromkeys(ground_truth))
    tp = fp = fn = 0.0
    for i, gt_row in enumerate(ground_truth):
        if i >= len(predicted):
            fn += 1
            continue
        pred_row = predicted[i]
        width = len(gt_row)
        tp += sum(1 for v in pred_row if v in gt_row) / width
        fp += sum(1 for v in pred_row if v not in gt_row) / width
        fn += sum(1 for v in gt_row if v not in pred_row) / width
    fp += max(0, len(predicted) - len(ground_truth))
    precision = tp / (tp + fp) if tp + fp > 0 else 0
    recall = tp / (tp + fn) if tp + fn > 0 else 0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0


def score(job):
    index, sql, gold_sql, db_file, timeout_s = job
    if sql is None:
        return index, [0, 0.0]
    try:
        return index, list(execute_pair(sql, gold_sql, db_file, timeout_s))
    except Exception:
        return index, [0, 0.0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("predictions")
    ap.add_argument("db_root")
    ap.add_argument("--db", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--time", action="store_true")
    args = ap.parse_args()
    with open(args.dataset) as f:
        questions = json.load(f)
    with open(args.predictions) as f:
        preds = json.load(f)
    jobs = []
    for index, q in enumerate(questions):
        if args.db and q["db_id"] not in args.db:
            continue
        raw = preds.get(str(index))
        if not isinstance(raw, str):
            jobs.append((str(index), None, None, None, args.timeout))
            continue
        sql, db_name = raw.split(SEP)
        db_file = f"{args.db_root}/{db_name}/{db_name}.sqlite"
        jobs.append((str(index), sql, q["SQL"], db_file, args.timeout))
    started = time.perf_counter()
    if args.processes > 1:
        with multiprocessing.Pool(args.processes) as pool:
            verdicts = dict(pool.imap_unordered(score, jobs, chunksize=1))
    else:
        verdicts = dict(map(score, jobs))
    elapsed = time.perf_counter() - started
    if args.time:
        print(f"{elapsed:.4f}")
        return
    print(json.dumps(verdicts))


if __name__ == "__main__":
    main()
