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


class Sandbox:
    """Sandboxed execution with one open connection per database, reused from statement to statement.

    Opening a connection, reading the schema and installing the authorizer cost more than most text-to-SQL
    statements; a GRPO step runs K completions of each prompt on the same database. Reuse changes nothing a
    statement can see: the connection is read-only, the authorizer refuses every write, ATTACH, setting and
    temporary object, and each statement gets its own deadline. At most `max_open` connections stay open (the
    least recently used is closed).
    """

    def __init__(self, limits: SandboxLimits = SandboxLimits(), max_open: int = 16):
        self.limits = limits
        self.max_open = max_open
        self._conns: dict[str, sqlite3.Connection] = {}
        self._deadline = [0.0]

    def _connect(self, db_path: str) -> sqlite3.Connection:
        conn = self._conns.pop(db_path, None)
        if conn is None:
            conn = sqlite3.connect(read_only_uri(db_path), uri=True, check_same_thread=False)
            try:
                if hasattr(conn, "enable_load_extension"):
                    conn.enable_load_extension(False)
                conn.execute(f"PRAGMA hard_heap_limit = {int(self.limits.heap_bytes)}")
                # Load the schema before the authorizer is installed: parsing it is not the query's doing.
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
                conn.set_authorizer(_authorize)
                deadline = self._deadline
                conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline[0] else 0, 10_000)
            except sqlite3.Error:
                conn.close()
                raise
            while len(self._conns) >= self.max_open:
                self._conns.pop(next(iter(self._conns))).close()
        self._conns[db_path] = conn  # most recently used last
        return conn

    def execute(self, db_path: str, sql: str) -> dict[str, Any]:
        """Run one statement; `{"ok": True, "rows": set}` or `{"ok": False, "kind", "error"}`."""
        limits = self.limits
        if not os.path.isfile(db_path):
            return {"ok": False, "kind": "error", "error": f"database not found: {db_path}"}
        if _EMPTY_STATEMENT.match(sql):
            return {"ok": True, "rows": set()}
        if not _READ_STATEMENT.match(sql):
            return {"ok": False, "kind": "error", "error": "not authorized: only SELECT, WITH, VALUES, EXPLAIN, PRAGMA"}
        try:
            conn = self._connect(db_path)
        except sqlite3.Error as e:
            return {"ok": False, "kind": "error", "error": f"{type(e).__name__}: {e}"}
        self._deadline[0] = time.monotonic() + limits.timeout_s
        rows: set = set()
        size = 0
        cur = None
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
            if time.monotonic() > self._deadline[0] and "interrupt" in str(e).lower():
                return {"ok": False, "kind": "timeout", "error": f"query timed out after {limits.timeout_s} s"}
            return {"ok": False, "kind": "error", "error": str(e)}
        except (sqlite3.Error, MemoryError, OverflowError, ValueError) as e:
            return {"ok": False, "kind": "error", "error": f"{type(e).__name__}: {e}"}
        finally:
            if cur is not None:
                cur.close()  # ends the read transaction even when the rows were not all fetched
            if conn.in_transaction:
                conn.rollback()
        return {"ok": True, "rows": rows}

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()


def execute_sandboxed(db_path: str, sql: str, limits: SandboxLimits = SandboxLimits()) -> dict[str, Any]:
    """Run one statement in THIS process under the sandbox, on a fresh connection (see {@link Sandbox})."""
    box = Sandbox(limits, max_open=1)
    try:
        return box.execute(db_path, sql)
    finally:
        box.close()


_HEADER = struct.Struct("!Q")
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_READY = "ready"


def _read_exact(f: Any, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _send(f: Any, obj: Any) -> None:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(_HEADER.pack(len(body)) + body)
    f.flush()


def serve_stdio() -> None:
    """A worker process's loop: length-prefixed pickled batches `(limits, [(id, db_path, sql), …])` on stdin; one
    `(id, result)` message per statement on stdout as each finishes (a `"ready"` message first), until EOF."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    boxes: dict[SandboxLimits, Sandbox] = {}
    _send(out, _READY)
    while True:
        try:
            (n,) = _HEADER.unpack(_read_exact(inp, _HEADER.size))
            limits, jobs = pickle.loads(_read_exact(inp, n))
        except EOFError:
            return
        box = boxes.get(limits)
        if box is None:
            for old in boxes.values():
                old.close()
            boxes = {limits: Sandbox(limits)}
            box = boxes[limits]
        for job_id, db_path, sql in jobs:
            _send(out, (job_id, box.execute(db_path, sql)))


class _Worker:
    """One sandbox process. A plain `python -c` child, not multiprocessing: spawn/forkserver children re-import
    the parent's main module (train.py, hence torch), and forking a process holding CUDA state is unsafe.

    Its stdout is read unbuffered into a private buffer, so `select` never misses a message already read."""

    START_S = 120.0  # a child's start-up on a loaded machine; not the query time limit

    def __init__(self) -> None:
        code = (f"import sys; sys.path.insert(0, {_PACKAGE_PARENT!r}); "
                "from text2sql_trainer.reward import serve_stdio; serve_stdio()")
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, close_fds=True, bufsize=0)
        self._buf = bytearray()
        if self.receive(self.START_S) != _READY:
            self.kill()
            raise OSError("a reward worker process did not start")

    def submit(self, limits: SandboxLimits, jobs: list[tuple[int, str, str]]) -> None:
        _send(self.proc.stdin, (limits, jobs))

    def receive(self, timeout_s: float) -> Any:
        """The next message, None when none arrives within `timeout_s`; EOFError when the process died."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        fd = self.proc.stdout.fileno()
        while True:
            if len(self._buf) >= _HEADER.size:
                (n,) = _HEADER.unpack_from(self._buf)
                if len(self._buf) >= _HEADER.size + n:
                    body = bytes(self._buf[_HEADER.size:_HEADER.size + n])
                    del self._buf[:_HEADER.size + n]
                    return pickle.loads(body)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise EOFError
            self._buf += chunk

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
    """N persistent sandbox worker processes. `execute_many` hands them statements in small batches from one
    shared queue (so a slow statement holds up only its own worker) and gets each result back as it finishes.
    A worker that gives no answer within the time limit plus `grace_s` of its previous one (a hang outside
    SQLite's VM, a crash) is killed and replaced; the statement it was on is a timeout and the rest of its
    batch is run again on the new worker, so a runaway query never stalls training."""

    def __init__(self, workers: int = 4, limits: SandboxLimits = SandboxLimits(), grace_s: float = 5.0,
                 batch: int = 8):
        self.limits = limits
        self.grace_s = grace_s
        self.batch = max(1, batch)
        n = max(1, workers)
        self._workers: list[_Worker | None] = [None] * n
        self._threads = ThreadPoolExecutor(max_workers=n)
        for i, w in enumerate(self._threads.map(lambda _: _Worker(), range(n))):
            self._workers[i] = w
        self._lock = threading.Lock()
        self.killed = 0

    def execute(self, db_path: str, sql: str) -> dict[str, Any]:
        """One statement's result."""
        return self.execute_many([(db_path, sql)])[0]

    def execute_many(self, jobs: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """Results of `(db_path, sql)` jobs in their order; the same statement on the same database runs once."""
        jobs = list(jobs)
        unique: dict[tuple[str, str], int] = {}
        for job in jobs:
            unique.setdefault(job, len(unique))
        todo = list(unique)
        results: list[dict[str, Any] | None] = [None] * len(todo)
        state = {"next": 0}
        n = len(self._workers)

        def take() -> list[tuple[int, str, str]]:
            with self._lock:
                start = state["next"]
                left = len(todo) - start
                # Small batches near the end, so the last statements spread over every worker.
                size = max(1, min(self.batch, left // (2 * n) or 1))
                state["next"] = start + size
                return [(i, *todo[i]) for i in range(start, min(len(todo), start + size))]

        def lane(slot: int) -> None:
            while True:
                chunk = take()
                if not chunk:
                    return
                self._run_chunk(slot, chunk, results)

        if todo:
            list(self._threads.map(lane, range(min(n, len(todo)))))
        return [results[unique[job]] for job in jobs]  # type: ignore[misc]

    def _run_chunk(self, slot: int, chunk: list[tuple[int, str, str]], results: list[Any]) -> None:
        pending = list(chunk)
        while pending:
            worker = self._workers[slot]
            try:
                worker.submit(self.limits, pending)
                while pending:
                    msg = worker.receive(self.limits.timeout_s + self.grace_s)
                    if msg is None:
                        break
                    job_id, res = msg
                    results[job_id] = res
                    pending = [j for j in pending if j[0] != job_id]
                else:
                    return
                # No answer in time: the statement at the head of the batch is the one that hangs.
                results[pending[0][0]] = {"ok": False, "kind": "timeout",
                                          "error": f"query did not finish in {self.limits.timeout_s} s"}
                with self._lock:
                    self.killed += 1
            except (BrokenPipeError, OSError, EOFError):
                results[pending[0][0]] = {"ok": False, "kind": "error", "error": "the query's worker process died"}
            pending = pending[1:]
            worker.kill()
            self._workers[slot] = _Worker()

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        for w in self._workers:
            if w is not None:
                w.stop()
        self._workers = []

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
        jobs = [(i, (p, s)) for i, (p, s) in enumerate(zip(paths, sqls)) if s is not None]
        # Gold and predictions in one round: the pool runs each distinct statement once, in parallel.
        done = self.pool.execute_many(need + [j for _, j in jobs])
        for key, res in zip(need, done):
            self._gold[key] = res
        results: list[dict[str, Any] | None] = [None] * len(sqls)
        for (i, _), res in zip(jobs, done[len(need):]):
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
