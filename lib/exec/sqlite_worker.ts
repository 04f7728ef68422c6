/**
 * The sandboxed SQLite worker: a persistent Deno subprocess started by `sqlite_pool.ts` with read access
 * to the database folders and no other permission, under an OS memory limit, killed by the kernel when its
 * parent dies. It reads one JSON request per line on stdin and writes JSON lines on stdout: `{id, start}` when a
 * statement starts, `{id, end, execMs}` when SQLite is done with it, then the reply. The parent enforces the
 * time limit by SIGKILL once a statement has run too long, because nothing inside a thread can interrupt
 * `node:sqlite` mid-query. A `start` is written at once; other messages wait for the next write (a quick
 * statement's `end`, the prediction's summary, the reply), so a trivial question costs two or three writes.
 *
 * Two requests: `exec` returns each statement's distinct rows as canonical cell keys (CoT, SFT, R-VES); `score`
 * runs a prediction and its gold query (or takes the gold's cached digest) and compares them here, so result rows
 * never cross the pipe: only the verdict, Soft-F1, shapes, a display sample and the gold's digest for the cache.
 *
 * The connection (`sqlite_connection.ts`) behaves as Python's `sqlite3`, and `python_text.ts` restores Python's
 * handling of parameters, NUL bytes, lone surrogates and undecodable text. A gold digest too large to be worth
 * caching is not sent back (`GOLD_DIGEST_CHARS`), and rows are freed as soon as they are digested.
 *
 * @module
 */
import type { StatementSync } from "node:sqlite";
import { MULTIPLE_STATEMENTS_ERROR, splitFirstStatement } from "./sql_statement.ts";
import { open, READ_STATEMENT, type StatementExtras } from "./sqlite_connection.ts";
import { reread, unboundParameters, unencodable } from "./python_text.ts";
import { readLines } from "./json_lines.ts";
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
  /** score: the largest gold digest (base64 characters) sent back for the cache. */
  goldDigestChars: number;
  timeoutS: number;
  /** Bytes SQLite's own allocator may use (kept below the process's memory limit). */
  heapLimit: number;
}

/** A cached gold result: its digest is all the comparison needs. */
interface CachedGold {
  digest: EncodedDigest;
}

type Display = number | string | null | { blob: string } | { int: string } | { real: string };

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
  // Flushed with whatever is waiting: from here the parent's timer runs, and it must know.
  send({ id: req.id, start: true });
  flush();
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
  // A quick statement's end rides with the next message (one write, not two); a slow one's is told at once, so
  // the parent stops its timer before the digest of a big result is computed.
  if (execMs > END_NOW_MS) flush();
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
    goldOut = summary(gold, goldDigest, req.sampleRows);
    // The rows are digested: free them before the digest is encoded.
    gold.rows = [];
    if (encodedSize(goldDigest) <= req.goldDigestChars) goldOut.digest = encodeDigest(goldDigest);
  }
  send({
    id: req.id,
    gold: goldOut,
    match: digestExMatch(predDigest, goldDigest),
    softF1: digestSoftF1(predDigest, goldDigest),
  });
}

/** The base64 length of a digest's `rows` and `cells`, without encoding it. */
const encodedSize = (d: ResultDigest): number =>
  Math.ceil(d.rows.byteLength / 3) * 4 + Math.ceil(d.cells.byteLength / 3) * 4;

/** Statements that took longer than this (ms) report their end at once; quicker ones batch it. */
const END_NOW_MS = 50;

const encoder = new TextEncoder();
/** Messages not yet written: a request's replies go out in as few writes as the timer allows. */
let outbox: string[] = [];

/** Queue one message for the parent (written by the next {@linkcode flush}). */
function send(obj: Record<string, unknown>): void {
  outbox.push(JSON.stringify(obj) + "\n");
}

/** Write every queued message, in order, in one write. */
function flush(): void {
  if (!outbox.length) return;
  const data = encoder.encode(outbox.length === 1 ? outbox[0] : outbox.join(""));
  outbox = [];
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
  flush();
}

send({ ready: true });
flush();
await readLines(Deno.stdin.readable, handle);
// stdin closed: the parent is gone or done, and so is this worker.
Deno.exit(0);
