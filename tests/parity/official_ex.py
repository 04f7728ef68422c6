"""The official BIRD EX semantics, in Python, for a question-by-question parity check.

Mirrors AlibabaResearch/DAMO-ConvAI bird/llm/src/evaluation.py: for each prediction, a NEW connection,
execute the predicted SQL then the gold SQL, fetchall, correct iff set(pred) == set(gold); any exception
(or the time limit) scores 0. Written from the published semantics, not copied.

usage: python3 official_ex.py DATASET PREDICTIONS DB_ROOT [--db ID] [--timeout S] [--ids-out FILE]
prints {"<index>": 0|1, ...} as JSON on stdout.
"""
import argparse
import json
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
        return 1 if set(pred) == set(gold) else 0
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("predictions")
    ap.add_argument("db_root")
    ap.add_argument("--db", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    questions = json.load(open(args.dataset))
    preds = json.load(open(args.predictions))
    verdicts = {}
    for index, q in enumerate(questions):
        if args.db and q["db_id"] not in args.db:
            continue
        raw = preds.get(str(index))
        if not isinstance(raw, str):
            verdicts[str(index)] = 0
            continue
        sql, db_name = raw.split(SEP)
        db_file = f"{args.db_root}/{db_name}/{db_name}.sqlite"
        try:
            verdicts[str(index)] = execute_pair(sql, q["SQL"], db_file, args.timeout)
        except Exception:
            verdicts[str(index)] = 0
    print(json.dumps(verdicts))


if __name__ == "__main__":
    main()
