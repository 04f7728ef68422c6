"""The GRPO execution reward: the evaluator's verdict on a completion, computed in a sandbox (stdlib only).

Verdicts (the reward for each in parentheses, configurable):
- `correct` (1.0): the extracted SQL's result equals the gold result as BIRD EX decides, `set(pred) == set(gold)`
  over the rows Python's `sqlite3` returns (the official evaluator's own driver and comparison);
- `incorrect` (`partial`, Arctic-Text2SQL-R1's 0.1): it executes but gives another result;
- `error`, `timeout`, `too_large`, `no_sql`, `gold_error` (0): it cannot be extracted, fails, runs too long or
  returns too much; `gold_error` when the gold itself fails (logged, never rewarded).

The sandbox is as strict as `lib/exec/sqlite_worker.ts`: the database opened through a read-only URI
(`file:…?mode=ro`), an authorizer that allows only reads (no writes, ATTACH, PRAGMA settings or
`load_extension`), extension loading off, SQLite's heap bounded (`PRAGMA hard_heap_limit`), a progress handler
that aborts a statement past its time limit, and a bound on distinct rows and bytes read. Each query runs in a
worker process: a worker that does not answer within the time limit plus a grace period (a hang outside
SQLite's VM, a crash) is killed and replaced, so a runaway query never stalls training.
"""

from __future__ import annotations

import json
import os
import pickle
import queue
import re
import select
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable

from .sql_extract import extract_sql

VERDICTS = ("correct", "incorrect", "error", "timeout", "too_large", "no_sql", "gold_error")
EXECUTABLE = frozenset({"correct", "incorrect"})

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, getattr(sqlite3, "SQLITE_RECURSIVE", 33)}
# The same lists as lib/exec/sqlite_worker.ts: PRAGMAs that only read (allowed without a value) and those whose
# argument names a table or index to describe or check.
_READ_PRAGMAS = frozenset("""
analysis_limit application_id auto_vacuum automatic_index busy_timeout cache_size cache_spill case_sensitive_like
cell_size_check checkpoint_fullfsync collation_list compile_options data_version database_list defer_foreign_keys
encoding foreign_key_check foreign_keys freelist_count fullfsync function_list hard_heap_limit
ignore_check_constraints integrity_check journal_mode journal_size_limit legacy_alter_table locking_mode
max_page_count mmap_size module_list page_count page_size pragma_list query_only quick_check read_uncommitted
recursive_triggers reverse_unordered_selects schema_version secure_delete soft_heap_limit synchronous table_list
temp_store threads trusted_schema user_version wal_autocheckpoint""".split())
_DESCRIBE_PRAGMAS = frozenset({"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
                               "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check"})
_COMMENTS = r"^\s*(?:(?:--[^\n]*(?:\n|\Z)|/\*.*?\*/)\s*)*"
_READ_STATEMENT = re.compile(_COMMENTS + r"(SELECT|WITH|VALUES|EXPLAIN|PRAGMA)\b", re.I | re.S | re.ASCII)
# Nothing but whitespace, comments and semicolons: Python's sqlite3 runs it as an empty result.
_EMPTY_STATEMENT = re.compile(r"^(?:\s|;|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*\Z", re.S)


@dataclass(frozen=True)
class SandboxLimits:
    """Bounds of one query: seconds, distinct rows, bytes (of the rows' reprs) and SQLite heap bytes."""

    timeout_s: float = 30.0
    max_rows: int = 2_000_000
    max_bytes: int = 256 * 2**20
    heap_bytes: int = 512 * 2**20


_KNOWN_PRAGMAS: frozenset[str] | None = None


def _known_pragmas() -> frozenset[str]:
    """The PRAGMAs this SQLite knows (its own `pragma_list`), read once from a private in-memory connection."""
    global _KNOWN_PRAGMAS
    if _KNOWN_PRAGMAS is None:
        conn = sqlite3.connect(":memory:")
        try:
            _KNOWN_PRAGMAS = frozenset(r[0] for r in conn.execute("SELECT name FROM pragma_pragma_list"))
        finally:
            conn.close()
    return _KNOWN_PRAGMAS


def _authorize(action: int, a1: str | None, a2: str | None, _db: str | None, _trigger: str | None) -> int:
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and a1 == "sqlite_master" and _db == "main":
        # Asked (by some SQLite builds) when an eponymous virtual table such as json_each or pragma_table_info is
        # first used: no write follows, and the database is opened read-only anyway.
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_DENY if (a2 or "").lower() == "load_extension" else sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and a1 is not None:
        name = a1.lower()
        # SQLite does nothing with a PRAGMA it does not know (no rows, no write), so it runs, as in
        # lib/exec/sqlite_worker.ts. Any known PRAGMA given a value (`= x`) is a setting.
        if name not in _known_pragmas():
            return sqlite3.SQLITE_OK
        if name in _DESCRIBE_PRAGMAS or (a2 is None and name in _READ_PRAGMAS):
            return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def read_only_uri(path: str) -> str:
    """`file:` URI that opens `path` read-only (and never creates it)."""
    return "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"


def execute_sandboxed(db_path: str, sql: str, limits: SandboxLimits = SandboxLimits()) -> dict[str, Any]:
    """Run one statement in THIS process under the sandbox; returns `{"ok": True, "rows": set}` or an error.

    Called inside worker processes by {@link RewardPool}; also usable directly in tests.
    """
    if not os.path.isfile(db_path):
        return {"ok": False, "kind": "error", "error": f"database not found: {db_path}"}
    if _EMPTY_STATEMENT.match(sql):
        return {"ok": True, "rows": set()}
    if not _READ_STATEMENT.match(sql):
        return {"ok": False, "kind": "error", "error": "not authorized: only SELECT, WITH, VALUES, EXPLAIN, PRAGMA"}
    conn = sqlite3.connect(read_only_uri(db_path), uri=True, check_same_thread=False)
    try:
        if hasattr(conn, "enable_load_extension"):
            conn.enable_load_extension(False)
        conn.execute(f"PRAGMA hard_heap_limit = {int(limits.heap_bytes)}")
        # Load the schema before the authorizer is installed: parsing it is not the query's doing.
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        conn.set_authorizer(_authorize)
        deadline = time.monotonic() + limits.timeout_s
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
        rows: set = set()
        size = 0
        try:
            cur = conn.execute(sql)
            while True:
                batch = cur.fetchmany(1000)
                if not batch:
                    break
                for row in batch:
                    if row in rows:
                        continue
                    rows.add(row)
                    size += len(repr(row))
                if len(rows) > limits.max_rows or size > limits.max_bytes:
                    return {"ok": False, "kind": "too_large", "error": "result too large to compare"}
        except sqlite3.OperationalError as e:
            if time.monotonic() > deadline and "interrupt" in str(e).lower():
                return {"ok": False, "kind": "timeout", "error": f"query timed out after {limits.timeout_s} s"}
            return {"ok": False, "kind": "error", "error": str(e)}
        except (sqlite3.Error, MemoryError, OverflowError, ValueError) as e:
            return {"ok": False, "kind": "error", "error": f"{type(e).__name__}: {e}"}
        return {"ok": True, "rows": rows}
    finally:
        conn.close()


_HEADER = struct.Struct("!Q")
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read_exact(f: Any, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def serve_stdio() -> None:
    """A worker process's loop: length-prefixed pickled jobs on stdin, results on stdout, until EOF."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            (n,) = _HEADER.unpack(_read_exact(inp, _HEADER.size))
            db_path, sql, limits = pickle.loads(_read_exact(inp, n))
        except EOFError:
            return
        body = pickle.dumps(execute_sandboxed(db_path, sql, limits))
        out.write(_HEADER.pack(len(body)) + body)
        out.flush()


class _Worker:
    """One sandbox process. A plain `python -c` child, not multiprocessing: spawn/forkserver children re-import
    the parent's main module (train.py, hence torch), and forking a process holding CUDA state is unsafe."""

    def __init__(self) -> None:
        code = (f"import sys; sys.path.insert(0, {_PACKAGE_PARENT!r}); "
                "from text2sql_trainer.reward import serve_stdio; serve_stdio()")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, close_fds=True)

    def run(self, db_path: str, sql: str, limits: SandboxLimits, grace_s: float) -> dict[str, Any] | None:
        """The result, or None when the worker did not answer in time (the caller kills it)."""
        body = pickle.dumps((db_path, sql, limits))
        self.proc.stdin.write(_HEADER.pack(len(body)) + body)
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, limits.timeout_s + grace_s))
        if not ready:
            return None
        try:
            (n,) = _HEADER.unpack(_read_exact(self.proc.stdout, _HEADER.size))
            return pickle.loads(_read_exact(self.proc.stdout, n))
        except EOFError:
            return {"ok": False, "kind": "error", "error": "the query's worker process died"}

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(5)
        self._close_pipes()

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(2)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(5)
        self._close_pipes()

    def _close_pipes(self) -> None:
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


class RewardPool:
    """N sandbox worker processes; `execute_many` runs queries in parallel, killing any worker that hangs."""

    def __init__(self, workers: int = 4, limits: SandboxLimits = SandboxLimits(), grace_s: float = 5.0):
        self.limits = limits
        self.grace_s = grace_s
        self._idle: queue.Queue[_Worker] = queue.Queue()
        for _ in range(max(1, workers)):
            self._idle.put(_Worker())
        self._threads = ThreadPoolExecutor(max_workers=max(1, workers))
        self._lock = threading.Lock()
        self.killed = 0

    def execute(self, db_path: str, sql: str) -> dict[str, Any]:
        worker = self._idle.get()
        try:
            out = worker.run(db_path, sql, self.limits, self.grace_s)
        except (BrokenPipeError, OSError):
            out = {"ok": False, "kind": "error", "error": "the query's worker process died"}
            worker.kill()
            worker = _Worker()
        if out is None:
            worker.kill()
            with self._lock:
                self.killed += 1
            worker = _Worker()
            out = {"ok": False, "kind": "timeout", "error": f"query did not finish in {self.limits.timeout_s} s"}
        self._idle.put(worker)
        return out

    def execute_many(self, jobs: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        return list(self._threads.map(lambda j: self.execute(*j), jobs))

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        while not self._idle.empty():
            self._idle.get().stop()

    def __enter__(self) -> "RewardPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def decode_cell(key: str) -> Any:
    """A canonical cell key of lib/exec (`z` NULL, `n…` number, `s…` text, `b…` hex blob) as the value Python's
    sqlite3 returns; numbers compare as Python does (`1 == 1.0`)."""
    tag, body = key[:1], key[1:]
    if tag == "z":
        return None
    if tag == "s":
        return body
    if tag == "b":
        return bytes.fromhex(body)
    if tag == "n":
        return int(body) if re.fullmatch(r"-?\d+", body) else float(body)
    raise ValueError(f"unknown cell key {key[:20]!r}")


def alternative_sets(alt_results: Any) -> list[frozenset]:
    """The equally right results of a `tie` question (`alt_results` of a GRPO row: a JSON string or a list of
    results, each a list of rows of cell keys), as row sets; [] when there are none."""
    if not alt_results:
        return []
    if isinstance(alt_results, str):
        alt_results = json.loads(alt_results)
    return [frozenset(tuple(decode_cell(k) for k in row) for row in result) for result in alt_results]


def verdict_of(pred: dict[str, Any] | None, gold: dict[str, Any], alternatives: Iterable[frozenset] = ()) -> str:
    """The evaluator's verdict for an executed prediction (None: no SQL) against the gold execution. A result equal
    to one of `alternatives` (the other answers of a gold whose `ORDER BY … LIMIT` cut ties) is also correct."""
    if not gold.get("ok"):
        return "gold_error"
    if pred is None:
        return "no_sql"
    if not pred.get("ok"):
        return pred.get("kind", "error") if pred.get("kind") in ("timeout", "too_large") else "error"
    # BIRD EX, as the official evaluator writes it: set(predicted_res) == set(ground_truth_res).
    if pred["rows"] == gold["rows"] or any(pred["rows"] == alt for alt in alternatives):
        return "correct"
    return "incorrect"


_FORMAT_RE = re.compile(r"^\s*<think>.+?</think>\s*\S", re.S)


def format_ok(completion: str) -> bool:
    """The reasoning prompt's format: a closed `<think>…</think>` block followed by an answer."""
    return bool(_FORMAT_RE.match(completion or ""))


def completion_text(completion: Any) -> str:
    """TRL passes a conversational completion as a list of messages; a plain one as a string."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return completion if isinstance(completion, str) else ""


class ExecutionReward:
    """A TRL reward function: `reward(prompts, completions, db_path=[…], gold_sql=[…]) -> list[float]`.

    `db_root` is where the rows' relative `db_path` resolve (the read-only mount in the container). Gold
    results are cached per (database, gold SQL): K generations of a prompt share one gold execution. Counts of
    each verdict since the last `pop_stats()` feed the metric lines (fraction correct, fraction executable).
    """

    __name__ = "execution_reward"

    def __init__(self, db_root: str, partial: float = 0.1, pool: RewardPool | None = None, workers: int = 4,
                 limits: SandboxLimits = SandboxLimits()):
        self.db_root = db_root
        self.partial = partial
        self.pool = pool or RewardPool(workers=workers, limits=limits)
        self._gold: dict[tuple[str, str], dict[str, Any]] = {}
        self._stats = {v: 0 for v in VERDICTS}

    def resolve(self, db_path: str) -> str:
        full = os.path.normpath(os.path.join(self.db_root, db_path))
        root = os.path.normpath(self.db_root)
        if os.path.commonpath([full, root]) != root:
            raise ValueError(f"db_path {db_path!r} leaves the database root")
        return full

    def verdicts(self, completions: list[Any], db_path: list[str], gold_sql: list[str],
                 alt_results: list[Any] | None = None) -> list[str]:
        """Verdicts of completions: the SQL is extracted as lib/model/sql_extract.ts does; none extracted is `no_sql`."""
        sqls = [extract_sql(completion_text(c)) for c in completions]
        return self.verdicts_sql([s if s.strip() else None for s in sqls], db_path, gold_sql, alt_results)

    def verdicts_sql(self, sqls: list[str | None], db_path: list[str], gold_sql: list[str],
                     alt_results: list[Any] | None = None) -> list[str]:
        """Verdicts of SQL strings as given (None: nothing to run), as the evaluator gives them; a row's
        `alt_results` (from `deno task audit`'s tie flags) are accepted as correct too."""
        paths = [self.resolve(p) for p in db_path]
        need = sorted({(p, g) for p, g in zip(paths, gold_sql) if (p, g) not in self._gold})
        for key, res in zip(need, self.pool.execute_many(need)):
            self._gold[key] = res
        jobs = [(i, (p, s)) for i, (p, s) in enumerate(zip(paths, sqls)) if s is not None]
        results: list[dict[str, Any] | None] = [None] * len(sqls)
        for (i, _), res in zip(jobs, self.pool.execute_many([j for _, j in jobs])):
            results[i] = res
        alts = [alternative_sets(a) for a in (alt_results or [None] * len(sqls))]
        out = [verdict_of(results[i], self._gold[(paths[i], gold_sql[i])], alts[i]) for i in range(len(sqls))]
        for v in out:
            self._stats[v] += 1
        return out

    def reward_of(self, verdict: str) -> float:
        return 1.0 if verdict == "correct" else self.partial if verdict == "incorrect" else 0.0

    def __call__(self, prompts: Any = None, completions: Any = None, db_path: Any = None, gold_sql: Any = None,
                 alt_results: Any = None, **_: Any) -> list[float]:
        alts = list(alt_results) if alt_results is not None else None
        return [self.reward_of(v) for v in self.verdicts(list(completions), list(db_path), list(gold_sql), alts)]

    def pop_stats(self) -> dict[str, float] | None:
        """Fractions correct / executable over the completions scored since the last call (None if none)."""
        n = sum(self._stats.values())
        if n == 0:
            return None
        out = {
            "frac_correct": self._stats["correct"] / n,
            "frac_executable": sum(self._stats[v] for v in EXECUTABLE) / n,
            "gold_errors": self._stats["gold_error"],
        }
        self._stats = {v: 0 for v in VERDICTS}
        return out

    def close(self) -> None:
        self.pool.close()


class FormatReward:
    """Optional format reward for the reasoning prompt: `weight` when the completion thinks, then answers."""

    __name__ = "format_reward"

    def __init__(self, weight: float = 0.1):
        self.weight = weight

    def __call__(self, prompts: Any = None, completions: Any = None, **_: Any) -> list[float]:
        return [self.weight if format_ok(completion_text(c)) else 0.0 for c in completions]
