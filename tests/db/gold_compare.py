"""Run each question's PostgreSQL or MySQL gold on the loaded server and its SQLite gold on the SQLite file, and
compare as BIRD does: set(cursor.fetchall()) equality, with psycopg2 / pymysql / sqlite3 values.

usage: gold_compare.py postgresql|mysql URL SQLITE_FILE DB_ID DIALECT_JSON SQLITE_JSON
Prints one JSON object: {"total": n, "equal": n, "differ": [{question_id, sqlite, other, error}]}.
The password is read from the URL and never printed.
"""
import json
import sqlite3
import sys
from urllib.parse import unquote, urlparse


def connect(dialect, url):
    u = urlparse(url)
    if dialect == "postgresql":
        import psycopg2

        return psycopg2.connect(
            host=u.hostname, port=u.port, user=unquote(u.username or "postgres"),
            password=unquote(u.password or ""), dbname=unquote(u.path.lstrip("/")),
        )
    import pymysql

    return pymysql.connect(
        host=u.hostname, port=u.port, user=unquote(u.username or "root"), password=unquote(u.password or ""),
        database=unquote(u.path.lstrip("/")),
    )


def main():
    dialect, url, sqlite_file, db_id, other_json, sqlite_json = sys.argv[1:7]
    other = {q["question_id"]: q for q in json.load(open(other_json)) if q["db_id"] == db_id}
    base = {q["question_id"]: q for q in json.load(open(sqlite_json)) if q["db_id"] == db_id}
    out = {"total": 0, "equal": 0, "differ": []}
    for qid in sorted(other):
        out["total"] += 1
        lite = sqlite3.connect(sqlite_file)
        want = lite.execute(base[qid]["SQL"]).fetchall()
        lite.close()
        conn = connect(dialect, url)
        err = None
        got = []
        try:
            cur = conn.cursor()
            cur.execute(other[qid]["SQL"])
            got = cur.fetchall()
        except Exception as e:  # noqa: BLE001 - the error is the result
            err = str(e).strip().splitlines()[0]
        finally:
            conn.close()
        if err is None and set(got) == set(want):
            out["equal"] += 1
        else:
            out["differ"].append({
                "question_id": qid, "sqlite": repr(want[:5]), "other": repr(list(got)[:5]), "error": err,
                "sqlite_sql": base[qid]["SQL"], "other_sql": other[qid]["SQL"],
            })
    print(json.dumps(out))


main()
