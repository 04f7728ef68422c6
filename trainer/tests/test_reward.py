"""The GRPO execution reward (stdlib only): extraction parity with lib/model/sql_extract.ts, the sandbox, the verdicts."""

import json
import os
import sqlite3
import tempfile
import time
import unittest

import _path  # noqa: F401  (puts trainer/ on sys.path)
from text2sql_trainer.reward import (
    ExecutionReward,
    FormatReward,
    RewardPool,
    SandboxLimits,
    alternative_sets,
    execute_sandboxed,
    verdict_of,
)
from text2sql_trainer.sql_extract import extract_sql

REPO = os.path.dirname(_path.TRAINER_DIR)


def make_db(path: str) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE hero (id INTEGER PRIMARY KEY, name TEXT, height REAL);"
        "INSERT INTO hero VALUES (1, 'Ana', 170.0), (2, 'Bo', 180.5), (3, 'Cy', NULL);"
    )
    conn.commit()
    conn.close()


class ExtractionParityTest(unittest.TestCase):
    def test_every_shared_case_extracts_what_the_typescript_extracts(self):
        with open(os.path.join(REPO, "tests", "fixtures", "sql_extract_cases.json"), encoding="utf-8") as f:
            cases = json.load(f)["cases"]
        self.assertGreaterEqual(len(cases), 50)
        wrong = [c["name"] for c in cases if extract_sql(c["completion"]) != c["expected"]]
        self.assertEqual(wrong, [])


class SandboxTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.db = os.path.join(self.tmp.name, "hero.sqlite")
        make_db(self.db)

    def run_sql(self, sql, **limits):
        return execute_sandboxed(self.db, sql, SandboxLimits(**limits))

    def test_a_read_returns_the_distinct_rows(self):
        res = self.run_sql("SELECT name FROM hero UNION ALL SELECT name FROM hero")
        self.assertEqual(res, {"ok": True, "rows": {("Ana",), ("Bo",), ("Cy",)}})

    def test_writes_attach_extensions_and_settings_are_refused_and_nothing_changes(self):
        for sql in (
            "INSERT INTO hero VALUES (4, 'x', 1)",
            "WITH x AS (SELECT 1) INSERT INTO hero(id) SELECT 9 FROM x",
            "ATTACH DATABASE ':memory:' AS m",
            "SELECT load_extension('/tmp/evil')",
            "PRAGMA writable_schema = 1",
            "PRAGMA journal_mode = WAL",
            "SELECT 1; DROP TABLE hero",
            "DROP TABLE hero",
        ):
            res = self.run_sql(sql)
            self.assertFalse(res["ok"], sql)
            self.assertEqual(res["kind"], "error", sql)
        self.assertEqual(len(self.run_sql("SELECT * FROM hero")["rows"]), 3)

    def test_the_database_is_opened_read_only_and_never_created(self):
        missing = os.path.join(self.tmp.name, "nope.sqlite")
        self.assertFalse(execute_sandboxed(missing, "SELECT 1")["ok"])
        self.assertFalse(os.path.exists(missing))

    def test_a_runaway_query_times_out(self):
        t0 = time.monotonic()
        res = self.run_sql("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c",
                           timeout_s=0.5)
        self.assertEqual(res["kind"], "timeout")
        self.assertLess(time.monotonic() - t0, 20)  # a hang bound, not a speed test

    def test_too_many_rows_is_too_large(self):
        res = self.run_sql("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100) SELECT x FROM c",
                           max_rows=10)
        self.assertEqual(res["kind"], "too_large")


class PoolTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.db = os.path.join(self.tmp.name, "hero.sqlite")
        make_db(self.db)

    def test_a_worker_that_does_not_answer_is_killed_and_replaced(self):
        # The grace is negative so the parent gives up before SQLite's own time limit fires: the kill path.
        runaway = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
        with RewardPool(workers=1, limits=SandboxLimits(timeout_s=20), grace_s=-19.5) as pool:
            t0 = time.monotonic()
            res = pool.execute(self.db, runaway)
            self.assertEqual(res["kind"], "timeout")
            # Well before SQLite's own 20 s limit could have ended the query: the parent gave up and killed it.
            self.assertLess(time.monotonic() - t0, 15)
            self.assertEqual(pool.killed, 1)
            self.assertEqual(pool.execute(self.db, "SELECT count(*) FROM hero"), {"ok": True, "rows": {(3,)}})

    def test_a_hang_in_the_middle_of_a_batch_costs_only_that_statement(self):
        runaway = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c"
        with RewardPool(workers=1, limits=SandboxLimits(timeout_s=20), grace_s=-19.5, batch=8) as pool:
            out = pool.execute_many([(self.db, "SELECT 1"), (self.db, runaway), (self.db, "SELECT 2"),
                                     (self.db, "SELECT count(*) FROM hero")])
        self.assertEqual([r.get("kind") for r in out], [None, "timeout", None, None])
        self.assertEqual([r["rows"] for r in out if r["ok"]], [{(1,)}, {(2,)}, {(3,)}])

    def test_duplicates_run_once_and_every_job_gets_its_result(self):
        with RewardPool(workers=2) as pool:
            jobs = [(self.db, "SELECT name FROM hero WHERE id = 1"), (self.db, "SELECT 7")] * 5
            out = pool.execute_many(jobs)
        self.assertEqual(out, [{"ok": True, "rows": {("Ana",)}}, {"ok": True, "rows": {(7,)}}] * 5)

    def test_a_reused_connection_keeps_nothing_from_the_previous_statement(self):
        from text2sql_trainer.reward import Sandbox

        box = Sandbox(SandboxLimits(max_rows=1))
        try:
            self.assertEqual(box.execute(self.db, "SELECT name FROM hero")["kind"], "too_large")  # cut mid-read
            for sql in ("CREATE TEMP TABLE t(x)", "PRAGMA query_only = 0", "ATTACH ':memory:' AS m",
                        "INSERT INTO hero VALUES (9, 'x', 1)"):
                self.assertEqual(box.execute(self.db, sql)["kind"], "error", sql)
            self.assertEqual(box.execute(self.db, "SELECT count(*) FROM hero"), {"ok": True, "rows": {(3,)}})
            self.assertEqual(len(box._conns), 1)  # one connection, reused
        finally:
            box.close()

    def test_execute_many_keeps_the_order(self):
        with RewardPool(workers=2) as pool:
            out = pool.execute_many([(self.db, f"SELECT {i}") for i in range(6)])
        self.assertEqual([next(iter(r["rows"])) for r in out], [(i,) for i in range(6)])


class RewardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        os.makedirs(os.path.join(cls.tmp.name, "hero"))
        make_db(os.path.join(cls.tmp.name, "hero", "hero.sqlite"))
        cls.reward = ExecutionReward(cls.tmp.name, partial=0.1, workers=2)

    @classmethod
    def tearDownClass(cls):
        cls.reward.close()
        cls.tmp.cleanup()

    def test_the_reward_is_the_evaluators_verdict(self):
        gold = "SELECT name FROM hero WHERE height > 100"
        completions = [
            [{"role": "assistant", "content": "```sql\nSELECT name FROM hero WHERE height IS NOT NULL ORDER BY 1 DESC;\n```"}],
            [{"role": "assistant", "content": "SELECT name FROM hero"}],
            [{"role": "assistant", "content": "```sql\nSELECT nam FROM hero\n```"}],
            [{"role": "assistant", "content": "I cannot answer that."}],
            "SELECT name FROM hero WHERE id IN (1, 2, 1)",
        ]
        n = len(completions)
        verdicts = self.reward.verdicts(completions, ["hero/hero.sqlite"] * n, [gold] * n)
        self.assertEqual(verdicts, ["correct", "incorrect", "error", "error", "correct"])
        self.reward.pop_stats()
        rewards = self.reward(prompts=[None] * n, completions=completions, db_path=["hero/hero.sqlite"] * n,
                              gold_sql=[gold] * n)
        self.assertEqual(rewards, [1.0, 0.1, 0.0, 0.0, 1.0])
        self.assertEqual(self.reward.pop_stats(), {"frac_correct": 0.4, "frac_executable": 0.6, "gold_errors": 0})
        self.assertIsNone(self.reward.pop_stats())

    def test_a_failing_gold_rewards_nothing(self):
        self.assertEqual(self.reward.verdicts(["SELECT 1"], ["hero/hero.sqlite"], ["SELECT nope FROM hero"]),
                         ["gold_error"])

    def test_a_path_outside_the_root_is_refused(self):
        with self.assertRaises(ValueError):
            self.reward.verdicts(["SELECT 1"], ["../x.sqlite"], ["SELECT 1"])

    def test_verdict_of_uses_set_semantics_like_bird(self):
        gold = {"ok": True, "rows": {(1,), (2.0,)}}
        self.assertEqual(verdict_of({"ok": True, "rows": {(1.0,), (2,)}}, gold), "correct")
        self.assertEqual(verdict_of({"ok": True, "rows": {(1,)}}, gold), "incorrect")
        self.assertEqual(verdict_of({"ok": True, "rows": {("1",), (2,)}}, gold), "incorrect")
        self.assertEqual(verdict_of(None, gold), "no_sql")
        self.assertEqual(verdict_of({"ok": False, "kind": "timeout"}, gold), "timeout")

    def test_a_tie_accepts_every_equally_right_answer_and_nothing_else(self):
        # hero 1 and 2 tie on id > 0 ordering by a constant: the gold picks one; the audit lists both.
        gold = "SELECT name FROM hero ORDER BY 1 = 1 LIMIT 1"
        alts = json.dumps([[["sAna"]], [["sBo"]], [["sCy"]]])
        sqls = ["SELECT 'Bo'", "SELECT 'Cy'", "SELECT 'Zed'", "SELECT name FROM hero"]
        n = len(sqls)
        self.assertEqual(self.reward.verdicts_sql(sqls, ["hero/hero.sqlite"] * n, [gold] * n, [alts] * n),
                         ["correct", "correct", "incorrect", "incorrect"])
        # Without alternatives the same answers are wrong: the reward punished a correct model before.
        self.assertEqual(self.reward.verdicts_sql(sqls[:2], ["hero/hero.sqlite"] * 2, [gold] * 2),
                         ["incorrect", "incorrect"])
        rewards = self.reward(completions=sqls, db_path=["hero/hero.sqlite"] * n, gold_sql=[gold] * n,
                              alt_results=[alts, "[]", alts, alts])
        self.assertEqual(rewards, [1.0, 0.1, 0.1, 0.1])
        self.reward.pop_stats()

    def test_cell_keys_decode_as_python_compares(self):
        self.assertEqual(alternative_sets([[["n1", "z"], ["n2.5", "sx"]]]), [frozenset({(1, None), (2.5, "x")})])
        self.assertEqual(alternative_sets([[["n1"]]])[0], frozenset({(1.0,)}))
        self.assertEqual(alternative_sets("[]"), [])
        self.assertEqual(alternative_sets([[["b00ff"]]]), [frozenset({(b"\x00\xff",)})])

    def test_the_format_reward_wants_thinking_then_an_answer(self):
        fmt = FormatReward(0.2)
        self.assertEqual(fmt(completions=["<think>join hero</think>\nSELECT 1", "SELECT 1", "<think>x</think>"]),
                         [0.2, 0.0, 0.0])


if __name__ == "__main__":
    unittest.main()


PARITY_DIR = os.path.join(REPO, "tests", "parity")
# Probes where the reward's sandbox knowingly differs from the official evaluator, as the Deno sandbox does.
KNOWN_DIFFERENCES: dict[str, str] = {}


@unittest.skipUnless(os.path.isfile(os.path.join(PARITY_DIR, "probes.json")), "tests/parity/probes.json absent")
class VerdictParityTest(unittest.TestCase):
    """The reward's verdict on every parity probe equals the official evaluator's stored one (tests/parity)."""

    def test_every_probe_gets_the_official_verdict(self):
        import sys

        sys.path.insert(0, PARITY_DIR)
        try:
            import probe_verdicts
        finally:
            sys.path.remove(PARITY_DIR)
        with open(os.path.join(PARITY_DIR, "probes.json"), encoding="utf-8") as f:
            probes = json.load(f)
        with tempfile.TemporaryDirectory() as root:
            probe_verdicts.build(root)
            reward = ExecutionReward(root, workers=2, limits=SandboxLimits(timeout_s=10))
            try:
                # One probe at a time against its own gold: the gold cache keys on (database, gold SQL).
                got = reward.verdicts_sql([p["pred"] for p in probes], [f"{p['db']}/{p['db']}.sqlite" for p in probes],
                                          [p["gold"] for p in probes])
            finally:
                reward.close()
        checked, wrong = 0, []
        for p, v in zip(probes, got):
            if p.get("version_dependent") or p["id"] in KNOWN_DIFFERENCES:
                continue
            if p.get("deliberate"):
                # Writes, ATTACH and settings: the sandbox refuses them, so they never earn a reward.
                self.assertIn(v, ("error", "gold_error"), p["id"])
                continue
            checked += 1
            if (v == "correct") != (p["expected"]["ex"] == 1):
                wrong.append((p["id"], v, p["expected"]))
        self.assertEqual(wrong, [])
        self.assertGreater(checked, 500)
