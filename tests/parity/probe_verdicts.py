"""The official verdict of every parity probe, computed with Python's sqlite3 and the official per-pair logic.

Builds the probe databases of probe_dbs.sql (one fresh folder per run, BIRD layout NAME/NAME.sqlite), runs each
probe of probes.json in file order with official_ex.execute_pair (a new connection, the prediction then the gold
query, fetchall, set equality; any exception scores 0) and compares with the `expected` verdict stored in the file.

usage: python3 probe_verdicts.py            print each probe that differs from its stored verdict, and a summary
       python3 probe_verdicts.py --write    store the verdicts this Python computes into probes.json
       python3 probe_verdicts.py --check    exit 1 when a stored verdict differs (version-dependent ones only warn)
       python3 probe_verdicts.py --build DIR  only build the probe databases under DIR (the Deno test, trainer tests)
"""
import argparse
import collections
import json
import os
import re
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from official_ex import execute_pair  # noqa: E402  (the same per-pair logic the Deno test runs live)

DBS_FILE = os.path.join(HERE, "probe_dbs.sql")
PROBES_FILE = os.path.join(HERE, "probes.json")
TIMEOUT_S = 30.0


def db_scripts(path=DBS_FILE):
    """{name: script} from the '-- db: NAME' sections of the database file, in file order."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    parts = re.split(r"^-- db: ([A-Za-z0-9_]+)[ \t]*$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def build(root):
    """Create every probe database under root; returns {name: path}."""
    paths = {}
    for name, script in db_scripts().items():
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{name}.sqlite")
        if os.path.exists(path):
            os.remove(path)
        conn = sqlite3.connect(path)
        try:
            conn.executescript(script)
            conn.commit()
        finally:
            conn.close()
        paths[name] = path
    return paths


def verdicts(probes, root):
    """{id: {ex, soft_f1, error}} in probe order, each on the databases under root (built beforehand)."""
    out = {}
    for p in probes:
        db_file = os.path.join(root, p["db"], f"{p['db']}.sqlite")
        try:
            ex, f1 = execute_pair(p["pred"], p["gold"], db_file, TIMEOUT_S)
            out[p["id"]] = {"ex": ex, "soft_f1": f1, "error": None}
        except Exception as e:  # as the official script: any failure scores 0
            out[p["id"]] = {"ex": 0, "soft_f1": 0.0, "error": f"{type(e).__name__}: {e}"}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--build", metavar="DIR")
    args = ap.parse_args()
    if args.build:
        build(args.build)
        return 0
    with open(PROBES_FILE, encoding="utf-8") as f:
        probes = json.load(f)
    ids = collections.Counter(p["id"] for p in probes)
    dup = [i for i, n in ids.items() if n > 1]
    if dup:
        print(f"{PROBES_FILE}: duplicate probe ids {', '.join(dup)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="t2s-probes-") as root:
        build(root)
        got = verdicts(probes, root)
    differ = []
    for p in probes:
        now = got[p["id"]]
        was = p.get("expected")
        if was is None or was["ex"] != now["ex"] or abs(was["soft_f1"] - now["soft_f1"]) > 1e-12:
            differ.append(p)
            tag = "version-dependent" if p.get("version_dependent") else "DIFFERS"
            print(f"{tag} {p['id']}: stored {was} now {now}")
        if args.write:
            p["expected"] = {"ex": now["ex"], "soft_f1": now["soft_f1"], "error": now["error"]}
    if args.write:
        with open(PROBES_FILE, "w", encoding="utf-8") as f:
            json.dump(probes, f, indent=1, ensure_ascii=True)
            f.write("\n")
    topics = collections.Counter(p["topic"] for p in probes)
    correct = sum(1 for v in got.values() if v["ex"] == 1)
    print(
        f"{len(probes)} probes (sqlite {sqlite3.sqlite_version}), {correct} EX 1, {len(differ)} differ from the "
        f"stored verdicts; topics: " + ", ".join(f"{t} {n}" for t, n in topics.items())
    )
    hard = [p for p in differ if not p.get("version_dependent")]
    return 1 if args.check and hard else 0


if __name__ == "__main__":
    sys.exit(main())
