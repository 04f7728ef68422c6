/**
 * The sandboxed SQLite worker: a persistent Deno subprocess started by `sqlite_pool.ts` with read access
 * to the database folders and no other permission, under an OS memory limit, killed by the kernel when its
 * parent dies. It reads one JSON request per line on stdin and writes JSON lines on stdout: `{id, start}` when a
 * statement starts, `{id, end, execMs}` when SQLite is done with it, then the reply. The parent enforces the
 * time limit by SIGKILL once a statement has run too long, because nothing inside a thread can interrupt
 * `node:sqlite` mid-query.
 *
 * Two requests: `exec` returns each statement's distinct rows as canonical cell keys (CoT, SFT, R-VES); `score`
 * runs a prediction and its gold query (or takes the gold's cached digest) and compares them here, so result rows
 * never cross the pipe: only the verdict, Soft-F1, shapes, a display sample and the gold's digest for the cache.
 *
 * The connection behaves as Python's `sqlite3` (what the official evaluator uses): double-quoted string literals
 * on, SQLite's math functions, unbound parameters, NUL bytes and undecodable text raise. Layers of defence against
 * hostile SQL: the connection is read-only; an authorizer allows only reads, SELECT, functions (but not
 * `load_extension`), recursive CTEs and read-only PRAGMAs; extension loading is off; temporary data stays in
 * memory; SQLite's heap is capped below the process's memory limit.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { MULTIPLE_STATEMENTS_ERROR, splitFirstStatement } from "./sql_statement.ts";
import { registerMathFunctions } from "./sqlite_math.ts";
import {
  cellKey,
  decodeDigest,
  digestExMatch,
  digestRows,
  digestSoftF1,
  type EncodedDigest,
  encodeDigest,
  type ResultDigest,
} from "./result_digest.ts";

/** A request from the pool. */
interface Request {
  id: number;
  op: "exec" | "score";
  db: string;
  /** exec: statements run in order, stopping at the first that fails. */
  sqls?: string[];
  /** score: the prediction, and the gold SQL to run unless `goldDigest` is given (null: prediction only). */
  pred?: string;
  gold?: string | null;
  goldDigest?: CachedGold | null;
  maxBytes: number;
  sampleRows: number;
  timeoutS: number;
  /** Bytes SQLite's own allocator may use (kept below the process's memory limit). */
  heapLimit: number;
}

/** A gold result as the cache keeps it. */
interface CachedGold {
  columns: string[];
  rowCount: number;
  sample: Display[][];
  execMs: number;
  digest: EncodedDigest;
}

type Display = number | string | null | { blob: string } | { int: string } | { real: string };

/** SQLite's authorizer codes (sqlite3.h); Deno's bundled node:sqlite typings lag behind its runtime. */
const SQLITE = { OK: 0, DENY: 1, PRAGMA: 19, READ: 20, SELECT: 21, FUNCTION: 31, RECURSIVE: 33 } as const;

/** The parts of node:sqlite's runtime API that its typings in Deno 2.9 do not declare yet. */
interface StatementExtras {
  setReturnArrays(enabled: boolean): void;
  columns(): { name: string }[];
}
interface DatabaseExtras {
  setAuthorizer(fn: (action: number, a1: string | null, a2: string | null) => number): void;
}

/** PRAGMAs that only report when given no value (`PRAGMA page_count`, `PRAGMA cache_size`). */
const READ_PRAGMAS = new Set([
  "analysis_limit",
  "application_id",
  "auto_vacuum",
  "automatic_index",
  "busy_timeout",
  "cache_size",
  "cache_spill",
  "case_sensitive_like",
  "cell_size_check",
  "checkpoint_fullfsync",
  "collation_list",
  "compile_options",
  "data_version",
  "database_list",
  "defer_foreign_keys",
  "encoding",
  "foreign_key_check",
  "foreign_keys",
  "freelist_count",
  "fullfsync",
  "function_list",
  "hard_heap_limit",
  "ignore_check_constraints",
  "integrity_check",
  "journal_mode",
  "journal_size_limit",
  "legacy_alter_table",
  "locking_mode",
  "max_page_count",
  "mmap_size",
  "module_list",
  "page_count",
  "page_size",
  "pragma_list",
  "query_only",
  "quick_check",
  "read_uncommitted",
  "recursive_triggers",
  "reverse_unordered_selects",
  "schema_version",
  "secure_delete",
  "soft_heap_limit",
  "synchronous",
  "table_list",
  "temp_store",
  "threads",
  "trusted_schema",
  "user_version",
  "wal_autocheckpoint",
]);

/**
 * PRAGMAs whose argument names a table or index to describe or check (`PRAGMA table_info(superhero)`,
 * `PRAGMA integrity_check(superhero)`), not a setting.
 */
const DESCRIBE_PRAGMAS = new Set([
  "table_info",
  "table_xinfo",
  "table_list",
  "index_list",
  "index_info",
  "index_xinfo",
  "foreign_key_list",
  "foreign_key_check",
  "integrity_check",
  "quick_check",
]);

/** The first keyword of a statement that can only read (after comments: `splitFirstStatement` strips leading ones). */
const READ_STATEMENT = /^(SELECT|WITH|VALUES|EXPLAIN|PRAGMA)\b/i;

const ALLOWED_ACTIONS = new Set<number>([SQLITE.SELECT, SQLITE.READ, SQLITE.RECURSIVE]);

function authorize(action: number, a1: string | null, a2: string | null): number {
  if (ALLOWED_ACTIONS.has(action)) return SQLITE.OK;
  if (action === SQLITE.FUNCTION) {
    return a2 !== null && a2.toLowerCase() === "load_extension" ? SQLITE.DENY : SQLITE.OK;
  }
  if (action === SQLITE.PRAGMA && a1 !== null) {
    const name = a1.toLowerCase();
    // Any other PRAGMA given a value (`= x`) is a setting.
    if (DESCRIBE_PRAGMAS.has(name) || (a2 === null && READ_PRAGMAS.has(name))) return SQLITE.OK;
  }
  return SQLITE.DENY;
}

const connections = new Map<string, DatabaseSync>();

function open(path: string, heapLimit: number): DatabaseSync {
  let db = connections.get(path);
  if (db) return db;
  // Keep a handful of databases open: BIRD runs hop between ~11 (dev) or ~70 (train) databases.
  if (connections.size >= 16) {
    const [oldest, conn] = connections.entries().next().value!;
    conn.close();
    connections.delete(oldest);
  }
  // Python's sqlite3 accepts "text" as a string literal where no such column exists (SQLite's legacy default).
  db = new DatabaseSync(path, {
    readOnly: true,
    allowExtension: false,
    enableDoubleQuotedStringLiterals: true,
  });
  // Before any untrusted SQL runs (the authorizer is not installed yet): bound SQLite's own memory, and keep
  // sorts and temporary tables in memory, so a "read-only" query never writes a spill file.
  db.exec(`PRAGMA hard_heap_limit = ${Math.floor(heapLimit)}`);
  db.exec("PRAGMA temp_store = MEMORY");
  registerMathFunctions(db);
  (db as unknown as DatabaseExtras).setAuthorizer(authorize);
  connections.set(path, db);
  return db;
}

const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const LONG_CELL = 512;

function display(v: unknown): Display {
  if (typeof v === "bigint") {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : { int: v.toString() };
  }
  if (typeof v === "number") {
    return Number.isFinite(v) ? v : { real: Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf" };
  }
  // The sample is for display: long values are cut (the comparison never uses it).
  if (v instanceof Uint8Array) {
    return { blob: hexOf(v.subarray(0, LONG_CELL)) + (v.length > LONG_CELL ? "…" : "") };
  }
  if (typeof v === "string") return v.length > 4 * LONG_CELL ? v.slice(0, 4 * LONG_CELL) + "…" : v;
  if (v === null) return v;
  return String(v);
}

/** A failure as the pool reports it. */
interface Failure {
  ok: false;
  kind: "error" | "timeout" | "too_large";
  error: string;
  execMs?: number;
}

/** A statement that ran: its raw rows (arrays) and SQLite's time. */
interface Ran {
  ok: true;
  columns: string[];
  rows: unknown[][];
  execMs: number;
}

const fail = (error: string, kind: Failure["kind"] = "error"): Failure => ({ ok: false, kind, error });

/** Characters that can open a bound parameter (`?`, `?1`, `:x`, `@x`, `$x`). */
const MAYBE_PARAMETER = /[?:@$]/;

/**
 * Python's check that every parameter is bound (it binds none): the number of parameters is the largest
 * `Variable` operand of the statement's bytecode. Only asked when the text could hold one.
 */
function unboundParameters(db: DatabaseSync, statement: string): number {
  if (!MAYBE_PARAMETER.test(statement) || /^(EXPLAIN|PRAGMA)\b/i.test(statement)) return 0;
  let max = 0;
  for (const op of db.prepare("EXPLAIN " + statement).all() as { opcode: string; p1: number }[]) {
    if (op.opcode === "Variable" && op.p1 > max) max = op.p1;
  }
  return max;
}

/**
 * Python decodes every TEXT value as strict UTF-8 and raises on bytes it cannot decode, where node:sqlite
 * silently substitutes U+FFFD. A result holding U+FFFD is re-checked on the raw bytes (CAST AS BLOB), so only
 * undecodable text fails, never a genuine U+FFFD. Returns Python's message, or null.
 */
function undecodable(
  db: DatabaseSync,
  statement: string,
  columns: string[],
  rows: unknown[][],
): string | null {
  let suspect = false;
  outer: for (const row of rows) {
    for (const v of row) {
      if (typeof v === "string" && v.includes("\uFFFD")) {
        suspect = true;
        break outer;
      }
    }
  }
  if (!suspect || !/^(SELECT|WITH|VALUES)\b/i.test(statement)) return null;
  const cols = columns.map((_, i) => `c${i}`);
  const body = statement.replace(/;\s*$/, "");
  const check = db.prepare(
    `WITH t2s_q(${cols.join(",")}) AS (${body}\n) SELECT ${
      cols.map((c) => `CASE WHEN typeof(${c}) = 'text' THEN CAST(${c} AS BLOB) END`).join(",")
    } FROM t2s_q`,
  ) as StatementSync & StatementExtras;
  check.setReturnArrays(true);
  const strict = new TextDecoder("utf-8", { fatal: true });
  for (const row of check.iterate() as Iterable<unknown[]>) {
    for (let j = 0; j < row.length; j++) {
      const raw = row[j];
      if (!(raw instanceof Uint8Array)) continue;
      try {
        strict.decode(raw);
      } catch {
        return `Could not decode to UTF-8 column '${columns[j]}' with text '${
          new TextDecoder().decode(raw)
        }'`;
      }
    }
  }
  return null;
}

/** Prepare and run one statement as Python's `sqlite3` would, telling the parent when SQLite starts and ends. */
function runStatement(req: Request, sql: string): Ran | Failure {
  if (sql.includes("\0")) return fail("the query contains a null character");
  const { statement, multiple } = splitFirstStatement(sql);
  if (multiple) return fail(MULTIPLE_STATEMENTS_ERROR);
  // Python's sqlite3 returns no rows for an empty statement; node:sqlite would throw.
  if (statement === null) return { ok: true, columns: [], rows: [], execMs: 0 };
  const db = open(req.db, req.heapLimit);
  send({ id: req.id, start: true });
  const t0 = performance.now();
  let ran: Ran | Failure;
  try {
    // Prepared first, so a typo reports SQLite's own syntax error and a write the authorizer's refusal.
    const stmt = db.prepare(statement) as StatementSync & StatementExtras;
    if (!READ_STATEMENT.test(statement)) {
      // VACUUM, REINDEX, BEGIN … never reach the authorizer; a query statement is all BIRD ever asks for.
      ran = fail("not authorized: only SELECT, WITH, VALUES, EXPLAIN and read-only PRAGMA");
    } else {
      const params = unboundParameters(db, statement);
      if (params > 0) {
        ran = fail(
          `Incorrect number of bindings supplied. The current statement uses ${params}, and there are 0 supplied.`,
        );
      } else {
        stmt.setReturnArrays(true);
        const columns = stmt.columns().map((c) => c.name);
        // `all()`, not `iterate()`: in Deno 2.9 an error raised while stepping (`json('x')`, integer overflow in
        // `sum`) silently ends `iterate()` as if the result were complete. Memory is bounded by the process's
        // limit: a result too big for it kills the worker, and the question gets that error.
        let rows: unknown[][];
        try {
          rows = stmt.all() as unknown as unknown[][];
        } catch (e) {
          // Plain numbers are faster; an integer past 2^53 needs BigInt (node:sqlite refuses to round it).
          if (!String((e as Error).message).includes("too large to be represented")) throw e;
          stmt.setReadBigInts(true);
          rows = stmt.all() as unknown as unknown[][];
        }
        const execMs = performance.now() - t0;
        const bad = undecodable(db, statement, columns, rows);
        ran = bad ? fail(bad) : { ok: true, columns, rows, execMs };
      }
    }
  } catch (e) {
    ran = fail(e instanceof Error ? e.message : String(e));
  }
  const execMs = ran.ok ? ran.execMs : performance.now() - t0;
  send({ id: req.id, end: true, execMs });
  // The verdict `timeout` is SQLite's own time against the limit, whatever the parent's clock says.
  if (execMs > req.timeoutS * 1000) {
    return { ok: false, kind: "timeout", error: `query timed out after ${req.timeoutS} s`, execMs };
  }
  if (!ran.ok) ran.execMs = execMs;
  return ran;
}

/** The first rows as returned, JSON-safe. */
const sampleOf = (rows: unknown[][], n: number): Display[][] => rows.slice(0, n).map((r) => r.map(display));

/** exec: one reply per statement with its distinct rows as canonical cell keys. */
function execute(req: Request): void {
  for (const sql of req.sqls ?? []) {
    const ran = runStatement(req, sql);
    if (!ran.ok) {
      send({ id: req.id, result: ran });
      return;
    }
    const seen = new Set<string>();
    const distinct: string[][] = [];
    let bytes = 0;
    let tooLarge = false;
    for (const raw of ran.rows) {
      const cells = raw.map(cellKey);
      const key = JSON.stringify(cells);
      if (seen.has(key)) continue;
      seen.add(key);
      distinct.push(cells);
      bytes += key.length;
      // These rows travel to the parent: cap them (scoring compares here, without any cap but memory).
      if (bytes > req.maxBytes) {
        tooLarge = true;
        break;
      }
    }
    if (tooLarge) {
      send({
        id: req.id,
        result: fail(`result too large to return: over ${req.maxBytes} bytes`, "too_large"),
      });
      return;
    }
    send({
      id: req.id,
      result: {
        ok: true,
        columns: ran.columns,
        rows: distinct,
        rowCount: ran.rows.length,
        sample: sampleOf(ran.rows, req.sampleRows),
        execMs: ran.execMs,
      },
    });
  }
}

/** The shape of a result that ran, as the reply carries it. */
function summary(ran: Ran, digest: ResultDigest, sampleRows: number) {
  return {
    ok: true,
    columns: ran.columns,
    rowCount: ran.rows.length,
    distinctRows: digest.rows.length / 4,
    sample: sampleOf(ran.rows, sampleRows),
    execMs: ran.execMs,
  };
}

/** score: prediction, then gold (unless cached), compared here; one reply. */
function score(req: Request): void {
  const pred = runStatement(req, req.pred ?? "");
  if (!pred.ok) {
    send({ id: req.id, pred });
    return;
  }
  const predDigest = digestRows(pred.rows, pred.columns.length, cellKey);
  const predOut = summary(pred, predDigest, req.sampleRows);
  if (req.gold === null && !req.goldDigest) {
    send({ id: req.id, pred: predOut });
    return;
  }
  // Free the prediction's rows before the gold query runs: both results need not be in memory at once.
  pred.rows = [];
  // The parent keeps the prediction's shape in case the gold query is killed or kills the worker.
  send({ id: req.id, partial: true, pred: predOut });
  let goldDigest: ResultDigest;
  let goldOut: Record<string, unknown>;
  if (req.goldDigest) {
    goldDigest = decodeDigest(req.goldDigest.digest);
    goldOut = { ok: true, distinctRows: goldDigest.rows.length / 4, cached: true };
  } else {
    const gold = runStatement(req, req.gold!);
    if (!gold.ok) {
      send({ id: req.id, gold });
      return;
    }
    goldDigest = digestRows(gold.rows, gold.columns.length, cellKey);
    goldOut = { ...summary(gold, goldDigest, req.sampleRows), digest: encodeDigest(goldDigest) };
  }
  send({
    id: req.id,
    gold: goldOut,
    match: digestExMatch(predDigest, goldDigest),
    softF1: digestSoftF1(predDigest, goldDigest),
  });
}

const encoder = new TextEncoder();
function send(obj: Record<string, unknown>): void {
  const data = encoder.encode(JSON.stringify(obj) + "\n");
  let off = 0;
  while (off < data.length) off += Deno.stdout.writeSync(data.subarray(off));
}

function handle(line: string): void {
  const req = JSON.parse(line) as Request;
  try {
    if (req.op === "score") score(req);
    else execute(req);
  } catch (e) {
    // Anything unexpected (a malformed cached digest, a RangeError from a huge string) fails this request only.
    send({ id: req.id, error: e instanceof Error ? e.message : String(e) });
  }
}

send({ ready: true });
// Lines are assembled from a list of chunks, decoded once each: a 40 MB request costs one pass, not a quadratic
// series of concatenations and searches.
const decoder = new TextDecoder();
let parts: Uint8Array[] = [];
for await (const chunk of Deno.stdin.readable) {
  let from = 0;
  let nl: number;
  while ((nl = chunk.indexOf(10, from)) >= 0) {
    parts.push(chunk.subarray(from, nl));
    const line = parts.length === 1 ? parts[0] : concat(parts);
    parts = [];
    from = nl + 1;
    if (line.length) handle(decoder.decode(line));
  }
  if (from < chunk.length) parts.push(chunk.slice(from));
}
// stdin closed: the parent is gone or done, and so is this worker.
Deno.exit(0);

function concat(list: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(list.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of list) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
