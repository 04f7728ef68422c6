"""The floor of the voting benchmark (`lib/bench/bench_voting.ts`): for each question, its distinct candidate
statements once and then its gold statement once, in Python's sqlite3 (one read-only connection per question,
execute and fetchall, errors ignored), questions spread over a multiprocessing pool of N processes. Nothing is
compared or voted: this is only the SQLite work a vote cannot avoid.

usage: python3 voting_floor.py JOBS_JSON --processes N
JOBS_JSON holds [[db_file, [sql, ...]], ...]; prints the number of statements executed.
"""
import argparse
import json
import multiprocessing
import sqlite3


def run(job):
    db_file, sqls = job
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        for sql in sqls:
            try:
                conn.execute(sql).fetchall()
            except sqlite3.Error:
                pass
    finally:
        conn.close()
    return len(sqls)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("jobs")
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()
    with open(args.jobs) as f:
        jobs = json.load(f)
    with multiprocessing.Pool(args.processes) as pool:
        print(sum(pool.imap_unordered(run, jobs, chunksize=1)))


if __name__ == "__main__":
    main()
