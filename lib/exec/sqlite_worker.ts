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
 * on, foreign keys off, SQLite's math functions; unbound parameters, NUL bytes, lone surrogates and undecodable
 * text raise; unknown PRAGMAs are no-ops. Layers of defence against hostile SQL: the connection is read-only; an
 * authorizer allows only reads, SELECT, functions (but not `load_extension`), recursive CTEs and read-only
 * PRAGMAs; extension loading is off; temporary data stays in memory; SQLite's heap is capped below the process's
 * memory limit.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { countParameters, MULTIPLE_STATEMENTS_ERROR, splitFirstStatement } from "./sql_statement.ts";
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

/**
 * The PRAGMAs this SQLite knows (its own `pragma_list`), read once before any untrusted SQL runs. SQLite treats
 * any other name as a no-op returning no rows, whatever its value (`PRAGMA nonexistent_pragma`): Python runs it,
 * and a no-op cannot write.
 */
let knownPragmas: Set<string> | null = null;

function authorize(action: number, a1: string | null, a2: string | null): number {
  if (ALLOWED_ACTIONS.has(action)) return SQLITE.OK;
  if (action === SQLITE.FUNCTION) {
    return a2 !== null && a2.toLowerCase() === "load_extension" ? SQLITE.DENY : SQLITE.OK;
  }
  if (action === SQLITE.PRAGMA && a1 !== null) {
    const name = a1.toLowerCase();
    if (knownPragmas !== null && !knownPragmas.has(name)) return SQLITE.OK;
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
  // The connection defaults of Python's sqlite3, where node:sqlite's differ (`PRAGMA foreign_keys` and
  // `PRAGMA busy_timeout` read as in Python): "text" is a string literal where no such column exists (SQLite's
  // legacy default), foreign keys are not enforced, a locked database is waited for 5 s.
  db = new DatabaseSync(path, {
    readOnly: true,
    allowExtension: false,
    enableDoubleQuotedStringLiterals: true,
    enableForeignKeyConstraints: false,
    timeout: 5000,
  });
  // Before any untrusted SQL runs (the authorizer is not installed yet): bound SQLite's own memory, and keep
  // sorts and temporary tables in memory, so a "read-only" query never writes a spill file.
  db.exec(`PRAGMA hard_heap_limit = ${Math.floor(heapLimit)}`);
  db.exec("PRAGMA temp_store = MEMORY");
  encodings.set(db, String((db.prepare("PRAGMA encoding").get() as { encoding: string }).encoding));
  knownPragmas ??= new Set(
    (db.prepare("SELECT name FROM pragma_pragma_list").all() as { name: string }[]).map((r) => r.name),
  );
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

/** Characters that can open a bound parameter (`?`, `?1`, `:x`, `@x`, `#x`, `$x`). */
const MAYBE_PARAMETER = /[?:@#$]/;

/**
 * Python's check that every parameter is bound (it binds none): `sqlite3_bind_parameter_count`, which counts
 * what the tokenizer saw, even a parameter the planner drops. Only counted when the text could hold one.
 */
const unboundParameters = (statement: string): number =>
  MAYBE_PARAMETER.test(statement) ? countParameters(statement) : 0;

/**
 * Python encodes the SQL as strict UTF-8 before SQLite sees it, so a lone surrogate (`'\udcff'` in a JSON
 * predictions file) raises where node:sqlite would substitute U+FFFD. Returns Python's message, or null. The
 * position counts code points, as Python's does, and a run of surrogates is reported as one range.
 */
function unencodable(sql: string): string | null {
  if (sql.isWellFormed()) return null;
  let pos = 0;
  let start = -1;
  let first = "";
  for (const ch of sql) {
    const lone = ch.length === 1 && ch.charCodeAt(0) >= 0xd800 && ch.charCodeAt(0) <= 0xdfff;
    if (start < 0 && lone) {
      start = pos;
      first = ch;
    } else if (start >= 0 && !lone) break;
    pos++;
  }
  const hex = `\\u${first.charCodeAt(0).toString(16).padStart(4, "0")}`;
  return pos - start === 1
    ? `'utf-8' codec can't encode character '${hex}' in position ${start}: surrogates not allowed`
    : `'utf-8' codec can't encode characters in position ${start}-${pos - 1}: surrogates not allowed`;
}

/**
 * SQL that can make a NUL byte inside a TEXT value: `char(0)`, `unistr('\0000')`, a blob literal holding a zero
 * byte (cast to text). node:sqlite cuts TEXT at its first NUL where Python returns all of it; such a result is
 * re-read (see {@linkcode reread}). A NUL stored in the database is not seen here: a driver limit.
 */
const MAKES_NUL = /\b(?:char|unistr)\s*\(|\bx'(?:[0-9a-f]{2})*?00/i;

/** `TextDecoder` labels of SQLite's database encodings (`PRAGMA encoding`). */
const DECODER_LABEL: Record<string, string> = {
  "UTF-8": "utf-8",
  "UTF-16le": "utf-16le",
  "UTF-16be": "utf-16be",
};
const encodings = new WeakMap<DatabaseSync, string>();

/**
 * Python reads each TEXT value in full (`sqlite3_column_bytes`) and decodes it as strict UTF-8, raising on bytes it
 * cannot decode; node:sqlite substitutes U+FFFD for those and cuts the text at a NUL byte. A result holding
 * U+FFFD, or one of SQL that can make a NUL (`MAKES_NUL`), is re-read as raw bytes (`CAST AS BLOB` in the
 * database's encoding), so only undecodable text fails (never a genuine U+FFFD) and cut text is restored in
 * `rows`, cell by cell where the re-read extends it at a NUL. Returns Python's message, or null.
 */
function reread(
  db: DatabaseSync,
  statement: string,
  columns: string[],
  rows: unknown[][],
): string | null {
  let replaced = false;
  outer: for (const row of rows) {
    for (const v of row) {
      if (typeof v === "string" && v.includes("\uFFFD")) {
        replaced = true;
        break outer;
      }
    }
  }
  if (!replaced && !MAKES_NUL.test(statement)) return null;
  if (columns.length === 0 || !/^(SELECT|WITH|VALUES)\b/i.test(statement)) return null;
  try {
    return rereadRows(db, statement, columns, rows);
  } catch (e) {
    // Only a possible NUL asked for the re-read: the rows as read stand (the statement itself ran fine).
    if (replaced) throw e;
    return null;
  }
}

/** The re-read of {@linkcode reread}: the statement again, each TEXT cell as its raw bytes. */
function rereadRows(
  db: DatabaseSync,
  statement: string,
  columns: string[],
  rows: unknown[][],
): string | null {
  const cols = columns.map((_, i) => `c${i}`);
  const body = statement.replace(/;\s*$/, "");
  const check = db.prepare(
    `WITH t2s_q(${cols.join(",")}) AS (${body}\n) SELECT ${
      cols.map((c) => `CASE WHEN typeof(${c}) = 'text' THEN CAST(${c} AS BLOB) END`).join(",")
    } FROM t2s_q`,
  ) as StatementSync & StatementExtras;
  check.setReturnArrays(true);
  const label = DECODER_LABEL[encodings.get(db) ?? "UTF-8"] ?? "utf-8";
  const strict = new TextDecoder(label, { fatal: true });
  let i = 0;
  for (const row of check.iterate() as Iterable<unknown[]>) {
    const original = rows[i++];
    for (let j = 0; j < row.length; j++) {
      const raw = row[j];
      if (!(raw instanceof Uint8Array)) continue;
      let full: string;
      try {
        full = strict.decode(raw);
      } catch {
        return `Could not decode to UTF-8 column '${columns[j]}' with text '${
          new TextDecoder(label).decode(raw)
        }'`;
      }
      // Same query, same plan: row i is row i; a cell is replaced only where it is a prefix cut at a NUL.
      const cut = original?.[j];
      if (
        typeof cut === "string" && full.length > cut.length && full.charCodeAt(cut.length) === 0 &&
        full.startsWith(cut)
      ) original[j] = full;
    }
  }
  return null;
}

/** Prepare and run one statement as Python's `sqlite3` would, telling the parent when SQLite starts and ends. */
function runStatement(req: Request, sql: string): Ran | Failure {
  const badText = unencodable(sql);
  if (badText) return fail(badText);
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
      const params = unboundParameters(statement);
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
        const bad = reread(db, statement, columns, rows);
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
  const predDigest = digestRows(pred.rows, pred.columns.length);
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
    goldDigest = digestRows(gold.rows, gold.columns.length);
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
