/**
 * The sandboxed SQLite worker: a persistent Deno subprocess started by `sqlite_pool.ts` with read access
 * to the database folders and no other permission. It reads one JSON request per line on stdin and writes
 * one JSON reply per line on stdout. The parent enforces the time limit by SIGKILL, because nothing inside
 * a thread can interrupt `node:sqlite` mid-query.
 *
 * Layers of defence against hostile SQL: the connection is read-only; an authorizer allows only reads,
 * SELECT, functions (but not `load_extension`), recursive CTEs and read-only PRAGMAs; extension loading
 * is off; SQLite's heap is capped; results are capped by distinct rows and bytes.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { MULTIPLE_STATEMENTS_ERROR, splitFirstStatement } from "./sql_statement.ts";

/** A request from the pool: statements run in order, stopping at the first that fails. */
interface Request {
  id: number;
  db: string;
  sqls: string[];
  maxRows: number;
  maxBytes: number;
  sampleRows: number;
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

/** PRAGMAs that only report; they may run without an argument (`PRAGMA page_count`). */
const READ_PRAGMAS = new Set([
  "table_list",
  "collation_list",
  "function_list",
  "database_list",
  "user_version",
  "schema_version",
  "page_count",
  "page_size",
  "encoding",
]);

/** PRAGMAs whose argument names a table or index to describe (`PRAGMA table_info(superhero)`), not a setting. */
const DESCRIBE_PRAGMAS = new Set([
  "table_info",
  "table_xinfo",
  "table_list",
  "index_list",
  "index_info",
  "index_xinfo",
  "foreign_key_list",
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

function open(path: string): DatabaseSync {
  let db = connections.get(path);
  if (db) return db;
  // Keep a handful of databases open: BIRD runs hop between ~11 (dev) or ~70 (train) databases.
  if (connections.size >= 16) {
    const [oldest, conn] = connections.entries().next().value!;
    conn.close();
    connections.delete(oldest);
  }
  db = new DatabaseSync(path, { readOnly: true, allowExtension: false });
  // Bound SQLite's own memory before any untrusted SQL runs (the authorizer is not installed yet).
  db.exec("PRAGMA hard_heap_limit = 536870912");
  (db as unknown as DatabaseExtras).setAuthorizer(authorize);
  connections.set(path, db);
  return db;
}

const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/**
 * Canonical cell encoding: two cells encode equally iff Python would call the values equal.
 * INTEGER and integral REAL share a form (`1 == 1.0`), compared exactly as Python compares int and float.
 */
function cellKey(v: unknown): string {
  if (v === null) return "z";
  if (typeof v === "bigint") return "n" + v.toString();
  if (typeof v === "number") {
    if (Number.isInteger(v)) return "n" + BigInt(v).toString();
    if (!Number.isFinite(v)) return "n" + (Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf");
    return "n" + v.toString();
  }
  // Long texts and blobs travel as a digest: equal values still encode equally, and a megabyte cell does not
  // cross the pipe (or sit in the comparison set) several times over.
  if (typeof v === "string") return v.length > LONG_CELL ? "S" + digest(v) : "s" + v;
  if (v instanceof Uint8Array) return v.length > LONG_CELL ? "B" + digest(v) : "b" + hexOf(v);
  return "s" + String(v);
}

/** Cells longer than this (characters or bytes) are compared by sha256. */
const LONG_CELL = 512;

function digest(v: string | Uint8Array): string {
  return createHash("sha256").update(v).digest("hex");
}

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

function run(req: Request, sql: string): Record<string, unknown> {
  const t0 = performance.now();
  const { statement, multiple } = splitFirstStatement(sql);
  if (multiple) return { ok: false, kind: "error", error: MULTIPLE_STATEMENTS_ERROR };
  const db = open(req.db);
  if (statement !== null && !READ_STATEMENT.test(statement)) {
    // VACUUM and REINDEX never reach the authorizer; a query statement is all BIRD ever asks for.
    return {
      ok: false,
      kind: "error",
      error: "not authorized: only SELECT, WITH, VALUES, EXPLAIN and read-only PRAGMA",
    };
  }
  if (statement === null) {
    // Python's sqlite3 returns no rows for an empty statement; node:sqlite would throw.
    return { ok: true, columns: [], rows: [], rowCount: 0, sample: [], execMs: performance.now() - t0 };
  }
  const stmt = db.prepare(statement) as StatementSync & StatementExtras;
  stmt.setReadBigInts(true);
  stmt.setReturnArrays(true);
  const columns = stmt.columns().map((c) => c.name);
  // `all()`, not `iterate()`: in Deno 2.9 an error raised while stepping (`json('x')`, integer overflow in `sum`)
  // silently ends `iterate()` as if the result were complete, which would score a failing query as a short or
  // empty result. Memory is bounded by this process's V8 heap limit and SQLite's heap limit instead: a result too
  // big for them kills the worker, and the question gets that error.
  const all = stmt.all() as unknown as unknown[][];
  const seen = new Set<string>();
  const rows: string[][] = [];
  const sample: Display[][] = [];
  const rowCount = all.length;
  let bytes = 0;
  for (let i = 0; i < all.length; i++) {
    const raw = all[i];
    if (sample.length < req.sampleRows) sample.push(raw.map(display));
    const cells = raw.map(cellKey);
    const key = JSON.stringify(cells);
    if (seen.has(key)) continue;
    seen.add(key);
    rows.push(cells);
    bytes += key.length;
    if (rows.length > req.maxRows || bytes > req.maxBytes) {
      return {
        ok: false,
        kind: "too_large",
        error: `result too large to compare: over ${
          rows.length > req.maxRows ? `${req.maxRows} distinct rows` : `${req.maxBytes} bytes`
        }`,
      };
    }
  }
  return { ok: true, columns, rows, rowCount, sample, execMs: performance.now() - t0 };
}

const encoder = new TextEncoder();
function reply(obj: Record<string, unknown>): void {
  const data = encoder.encode(JSON.stringify(obj) + "\n");
  let off = 0;
  while (off < data.length) off += Deno.stdout.writeSync(data.subarray(off));
}

let buffer = "";
const decoder = new TextDecoder();
reply({
  ready: true,
  sqlite_version: new DatabaseSync(":memory:").prepare("select sqlite_version() v").get()?.v,
});
for await (const chunk of Deno.stdin.readable) {
  buffer += decoder.decode(chunk, { stream: true });
  let nl: number;
  while ((nl = buffer.indexOf("\n")) >= 0) {
    const line = buffer.slice(0, nl);
    buffer = buffer.slice(nl + 1);
    if (!line.trim()) continue;
    const req = JSON.parse(line) as Request;
    for (const sql of req.sqls) {
      let out: Record<string, unknown>;
      try {
        out = run(req, sql);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        out = { ok: false, kind: "error", error: msg };
      }
      // One line per statement, sent at once: the parent restarts the time limit for the next one.
      reply({ id: req.id, ...out });
      if (!out.ok) break;
    }
  }
}
