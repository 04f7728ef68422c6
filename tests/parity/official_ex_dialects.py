"""The official mini-dev verdict for PostgreSQL and MySQL, in Python, for the per-dialect parity suite.

Mirrors bird-bench/mini_dev evaluation/evaluation_utils.py (connect_postgresql, connect_mysql, execute_sql),
evaluation_ex.py (calculate_ex, execute_model) and evaluation_f1.py (calculate_row_match, calculate_f1_score):
for each pair a NEW connection (psycopg2 / pymysql, their defaults: no autocommit, never committed), execute the
predicted SQL, fetchall, execute the gold SQL, fetchall, close; EX is set(pred) == set(gold), Soft-F1 pairs the
de-duplicated rows by position; any exception (or the time limit) scores 0. EX and Soft-F1 are two separate runs,
each with its own connection, as the official scripts are. Written from those files, not copied; only the
connection parameters differ (taken from a URL, so it runs against the servers the tests start).

usage: /usr/bin/python3 official_ex_dialects.py load --dialect D --url URL --sql FILE [--database NAME]
           [--readonly-user U --readonly-password P]
           create the database (dropped first) and run the SQL file in it; optionally a SELECT-only login.
       /usr/bin/python3 official_ex_dialects.py probes --dialect D --url URL --probes FILE [--write]
           one JSON line per probe {"id", "ex", "soft_f1", "error"} (after a {"server": …} line); --write stores
           them as each probe's "expected" in FILE instead.
       /usr/bin/python3 official_ex_dialects.py pairs --dialect D --url URL DATASET PREDICTIONS [--db ID]
           [--processes N] [--ex-only]
           {"<index>": [ex, soft_f1], …} for an official-format predictions file (keyed by dataset index);
           --processes N: a multiprocessing pool of N, one task per pair (as evaluation_ex.py's
           run_sqls_parallel); --ex-only: only evaluation_ex.py's run (soft_f1 null), as `deno task bench` times it.
D is postgresql or mysql; URL is postgres://USER[:PASSWORD]@HOST:PORT/DB or mysql://USER[:PASSWORD]@HOST:PORT/DB
(default: $T2S_PARITY_PG_URL or $T2S_PARITY_MYSQL_URL). Needs Debian's python3-psycopg2 and python3-pymysql.
"""
import argparse
import json
import multiprocessing
import os
import sys
import threading
import urllib.parse

SEP = "\t----- bird -----\t"
DEFAULT_DB = {"postgresql": "bird", "mysql": "BIRD"}  # the official dumps' database names


def parse_url(url):
    u = urllib.parse.urlparse(url)
    return {
        "host": u.hostname or "127.0.0.1",
        "port": u.port,
        "user": urllib.parse.unquote(u.username or ""),
        "password": urllib.parse.unquote(u.password or ""),
        "database": urllib.parse.unquote(u.path.lstrip("/")) or None,
    }


def driver(name):
    """The driver module, or exit with the one line that installs it."""
    try:
        return __import__(name)
    except ImportError:
        sys.exit(
            f"official_ex_dialects.py: {name} is missing for {sys.executable}: "
            "apt-get install -y --no-install-recommends python3-psycopg2 python3-pymysql (run with /usr/bin/python3)"
        )


def connector(dialect, url, database=None):
    """A function opening a new connection, as connect_postgresql / connect_mysql do (driver defaults)."""
    c = parse_url(url)
    db = database or c["database"] or DEFAULT_DB[dialect]
    if dialect == "postgresql":
        psycopg2 = driver("psycopg2")

        return lambda: psycopg2.connect(
            host=c["host"], port=c["port"] or 5432, user=c["user"], password=c["password"], dbname=db
        )
    if dialect == "mysql":
        pymysql = driver("pymysql")

        return lambda: pymysql.connect(
            host=c["host"], port=c["port"] or 3306, user=c["user"], password=c["password"], database=db
        )
    raise ValueError("Unsupported SQL dialect")


# evaluation_utils.execute_sql
def execute_sql(predicted_sql, ground_truth, connect, calculate_func):
    conn = connect()
    cursor = conn.cursor()
    cursor.execute(predicted_sql)
    predicted_res = cursor.fetchall()
    cursor.execute(ground_truth)
    ground_truth_res = cursor.fetchall()
    conn.close()
    return calculate_func(predicted_res, ground_truth_res)


# evaluation_ex.calculate_ex
def calculate_ex(predicted_res, ground_truth_res):
    return 1 if set(predicted_res) == set(ground_truth_res) else 0


# evaluation_f1.calculate_row_match
def calculate_row_match(predicted_row, ground_truth_row):
    total_columns = len(ground_truth_row)
    matches = element_in_pred_only = element_in_truth_only = 0
    for pred_val in predicted_row:
        if pred_val in ground_truth_row:
            matches += 1
        else:
            element_in_pred_only += 1
    for truth_val in ground_truth_row:
        if truth_val not in predicted_row:
            element_in_truth_only += 1
    return (
        matches / total_columns,
        element_in_pred_only / total_columns,
        element_in_truth_only / total_columns,
    )


# evaluation_f1.calculate_f1_score
def calculate_f1_score(predicted, ground_truth):
    if not predicted and not ground_truth:
        return 1.0
    set(predicted) if predicted else set()  # the official code builds both sets (and so raises on a list/dict)
    set(ground_truth)
    predicted = list(dict.fromkeys(predicted))
    ground_truth = list(dict.fromkeys(ground_truth))
    match_scores, pred_only_scores, truth_only_scores = [], [], []
    for i, gt_row in enumerate(ground_truth):
        if i >= len(predicted):
            match_scores.append(0)
            truth_only_scores.append(1)
            continue
        m, p, t = calculate_row_match(predicted[i], gt_row)
        match_scores.append(m)
        pred_only_scores.append(p)
        truth_only_scores.append(t)
    for _ in range(len(predicted) - len(ground_truth)):
        match_scores.append(0)
        pred_only_scores.append(1)
        truth_only_scores.append(0)
    tp, fp, fn = sum(match_scores), sum(pred_only_scores), sum(truth_only_scores)
    precision = tp / (tp + fp) if tp + fp > 0 else 0
    recall = tp / (tp + fn) if tp + fn > 0 else 0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0


def error_text(e):
    """`Type: message`, first line (pymysql's (code, message) args shown as the message)."""
    args = getattr(e, "args", ())
    msg = args[1] if len(args) == 2 and isinstance(args[0], int) else str(e)
    first = str(msg).strip().split("\n")[0]
    return f"{type(e).__name__}: {first}"


def func_timeout(seconds, fn, args):
    """func_timeout's contract: fn's result, its exception, or TimeoutError after `seconds`."""
    box = {}

    def run():
        try:
            box["ok"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 (re-raised below)
            box["err"] = e

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(seconds)
    if th.is_alive():
        raise TimeoutError(f"timed out after {seconds} s")
    if "err" in box:
        raise box["err"]
    return box["ok"]


# evaluation_ex.execute_model / evaluation_f1.execute_model: any failure scores 0
def execute_model(predicted_sql, ground_truth, connect, timeout_s, calculate_func):
    try:
        return func_timeout(timeout_s, execute_sql, (predicted_sql, ground_truth, connect, calculate_func)), None
    except Exception as e:
        return 0, error_text(e)


def verdict(pred, gold, connect, timeout_s):
    """(ex, soft_f1, error): the EX run and the Soft-F1 run, each on its own new connection."""
    ex, err = execute_model(pred, gold, connect, timeout_s, calculate_ex)
    f1, err_f1 = execute_model(pred, gold, connect, timeout_s, calculate_f1_score)
    return ex, f1, err or err_f1


def server_version(connect):
    conn = connect()
    try:
        cur = conn.cursor()
        cur.execute("SELECT version()")
        return str(cur.fetchall()[0][0])
    finally:
        conn.close()


def cmd_load(args):
    admin = parse_url(args.url)
    name = args.database or DEFAULT_DB[args.dialect]
    script = open(args.sql, encoding="utf-8").read()
    if args.dialect == "postgresql":
        boot = connector("postgresql", args.url, admin["database"] or "postgres")()
        boot.autocommit = True
        cur = boot.cursor()
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
        if args.readonly_user:
            cur.execute(f'DROP ROLE IF EXISTS "{args.readonly_user}"')
            cur.execute(
                f"CREATE ROLE \"{args.readonly_user}\" LOGIN PASSWORD %s", (args.readonly_password or None,)
            )
        boot.close()
        conn = connector("postgresql", args.url, name)()
        cur = conn.cursor()
        cur.execute(script)
        if args.readonly_user:
            u = args.readonly_user
            cur.execute(f'GRANT CONNECT ON DATABASE "{name}" TO "{u}"')
            cur.execute(f'GRANT USAGE ON SCHEMA public TO "{u}"')
            cur.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{u}"')
            cur.execute(f'ALTER ROLE "{u}" SET default_transaction_read_only = on')
        conn.commit()
        conn.close()
    else:
        conn = connector("mysql", args.url, "mysql")()
        cur = conn.cursor()
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
        cur.execute(f"USE `{name}`")
        body = "\n".join(line for line in script.split("\n") if not line.startswith("--"))
        for stmt in body.split(";\n"):
            if stmt.strip():
                cur.execute(stmt)
        if args.readonly_user:
            u, p = args.readonly_user, args.readonly_password or ""
            for host in ("%", "localhost", "127.0.0.1"):
                cur.execute(f"DROP USER IF EXISTS '{u}'@'{host}'")
                cur.execute(f"CREATE USER '{u}'@'{host.replace('%', '%%')}' IDENTIFIED BY %s", (p,))
                cur.execute(f"GRANT SELECT ON `{name}`.* TO '{u}'@'{host}'")
        conn.commit()
        conn.close()
    return 0


def cmd_probes(args):
    connect = connector(args.dialect, args.url)
    probes = json.load(open(args.probes, encoding="utf-8"))
    version = server_version(connect)
    out = {}
    if not args.write:
        print(json.dumps({"server": version}), flush=True)
    for p in probes:
        ex, f1, err = verdict(p["pred"], p["gold"], connect, args.timeout)
        out[p["id"]] = {"ex": ex, "soft_f1": f1, "error": err}
        if not args.write:
            print(json.dumps({"id": p["id"], **out[p["id"]]}), flush=True)
    if args.write:
        changed = 0
        for p in probes:
            if p.get("expected") != out[p["id"]]:
                changed += 1
            p["expected"] = out[p["id"]]
        with open(args.probes, "w", encoding="utf-8") as f:
            json.dump(probes, f, indent=2, ensure_ascii=False)
            f.write("\n")
        ones = sum(1 for v in out.values() if v["ex"] == 1)
        print(f"{len(probes)} probes on {version}: {ones} EX 1, {changed} verdicts changed", file=sys.stderr)
    return 0


def pair_job(job):
    """One pair in a pool process (evaluation_ex.run_sqls_parallel's apply_async of execute_model)."""
    index, sql, gold, dialect, url, timeout_s, ex_only = job
    connect = connector(dialect, url)
    if ex_only:
        ex, _ = execute_model(sql, gold, connect, timeout_s, calculate_ex)
        return index, [ex, None]
    ex, f1, _ = verdict(sql, gold, connect, timeout_s)
    return index, [ex, f1]


def cmd_pairs(args):
    questions = json.load(open(args.dataset, encoding="utf-8"))
    preds = json.load(open(args.predictions, encoding="utf-8"))
    jobs = []
    for index, q in enumerate(questions):
        if args.db and q["db_id"] not in args.db:
            continue
        raw = preds.get(str(index))
        # evaluation_utils.package_sqls: no separator → the whole string; not a string → " "
        if isinstance(raw, str):
            sql = raw.split(SEP)[0] if SEP in raw else raw.strip()
        else:
            sql = " "
        jobs.append((str(index), sql, q["SQL"], args.dialect, args.url, args.timeout, args.ex_only))
    if args.processes > 1:
        # evaluation_ex.run_sqls_parallel: a multiprocessing pool of num_cpus, one task per pair.
        with multiprocessing.Pool(args.processes) as pool:
            out = dict(pool.imap_unordered(pair_job, jobs, chunksize=1))
    else:
        out = dict(map(pair_job, jobs))
    print(json.dumps(out))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dialect", required=True, choices=["postgresql", "mysql"])
    common.add_argument("--url")
    common.add_argument("--timeout", type=float, default=30.0)
    load = sub.add_parser("load", parents=[common])
    load.add_argument("--sql", required=True)
    load.add_argument("--database")
    load.add_argument("--readonly-user")
    load.add_argument("--readonly-password")
    pr = sub.add_parser("probes", parents=[common])
    pr.add_argument("--probes", required=True)
    pr.add_argument("--write", action="store_true")
    pa = sub.add_parser("pairs", parents=[common])
    pa.add_argument("dataset")
    pa.add_argument("predictions")
    pa.add_argument("--db", action="append", default=[])
    pa.add_argument("--processes", type=int, default=1)
    pa.add_argument("--ex-only", action="store_true")
    args = ap.parse_args()
    if not args.url:
        env = "T2S_PARITY_PG_URL" if args.dialect == "postgresql" else "T2S_PARITY_MYSQL_URL"
        args.url = os.environ.get(env)
        if not args.url:
            ap.error(f"--url or ${env} is required")
    return {"load": cmd_load, "probes": cmd_probes, "pairs": cmd_pairs}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
