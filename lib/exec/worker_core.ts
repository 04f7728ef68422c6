/**
 * The worker side of the execution protocol, shared by every engine's worker process (`sqlite_worker.ts` today;
 * the PostgreSQL and MySQL workers beside it). A worker reads one JSON request per line on stdin and writes JSON
 * lines on stdout: `{ready}` once, then per statement `{id, end, execMs}` when the engine is done with it, then
 * the reply. The parent (`worker_process.ts`) enforces the time limit by SIGKILL once a statement has run too
 * long, so nothing here has to interrupt an engine mid-query.
 *
 * The parent's timer starts when it sends a request and restarts at every message it receives. When a statement
 * starts, what is waiting is written first (a kill must not lose an earlier result), and a bare `{id, start}` is
 * written only when this worker has been silent for {@linkcode START_NOW_MS} or more: the timer never starts
 * more than that before the statement really did, and a trivial prediction scored against a cached gold result
 * costs one write, not three. A slow statement's end is written at once, so the parent's
 * timer restarts before the digest of a big result is computed.
 *
 * Three requests: `exec` returns each statement's distinct rows as canonical cell keys (CoT, SFT); `score` runs
 * a prediction and its gold query (or takes the gold's cached digest) and compares them here, so result rows
 * never cross the pipe: only the verdict, Soft-F1, shapes, a display sample and the gold's digest for the cache;
 * `digest` runs one statement (a voting candidate, an agent's tool call) and returns its shape, a display sample
 * and the set digest of its distinct rows (`result_digest.ts` `setDigest`, the one definition of EX equality),
 * never its rows. A digested statement may be kept here ({@linkcode WorkerRequest.keep}) so that a later
 * `score` of the same text on this worker compares it without running it again (the voted answer). What differs between engines is one function, {@linkcode WorkerBackend.run}: run one statement and
 * return its rows as values `result_digest.ts` compares as Python would.
 *
 * @module
 */
import { readLines } from "./json_lines.ts";
import {
  cellKey,
  decodeDigest,
  digestExMatch,
  digestRows,
  digestSoftF1,
  type EncodedDigest,
  encodeDigest,
  PyKey,
  type ResultDigest,
  setDigest,
} from "./result_digest.ts";

/** A request from the pool. */
export interface WorkerRequest {
  id: number;
  op: "exec" | "score" | "digest";
  /** The database as the engine addresses it (a SQLite file, a db_id on a server). */
  db: string;
  /** exec: statements run in order, stopping at the first that fails. */
  sqls?: string[];
  /** digest: the statement. */
  sql?: string;
  /** digest: keep the result's digest for a later `score` with `reuse` (bounded, least recently used out). */
  keep?: boolean;
  /** score: compare the prediction's kept digest (a `digest` with `keep` of the same text) instead of running it
   * again, when this worker still holds it. */
  reuse?: boolean;
  /** score: send the gold's set digest back too (voting judges its candidates with it). */
  goldSet?: boolean;
  /** score: the prediction, and the gold SQL to run unless `goldDigest` is given (null: prediction only). */
  pred?: string;
  gold?: string | null;
  goldDigest?: { digest: EncodedDigest } | null;
  maxBytes: number;
  sampleRows: number;
  /** score: the largest gold digest (base64 characters) sent back for the cache. */
  goldDigestChars: number;
  timeoutS: number;
  /** Bytes the engine's own allocator may use (kept below the process's memory limit). */
  heapLimit: number;
}

/** A failure as the pool reports it. */
export interface Failure {
  ok: false;
  kind: "error" | "timeout" | "too_large";
  error: string;
  execMs?: number;
}

/**
 * A statement that ran: its columns, raw rows (arrays of comparable values) and the engine's time. A backend that
 * digested the rows as they arrived (`score` and `digest` requests) gives the digest and the row count, and only
 * the first `sampleRows` rows.
 */
export interface Ran {
  ok: true;
  columns: string[];
  rows: unknown[][];
  execMs: number;
  /** Rows in the result (default: `rows.length`). */
  rowCount?: number;
  /** The digest of every row (`digestRows`), when the backend built it. */
  digest?: ResultDigest;
}

/** What a backend calls while it runs a statement. */
export interface StatementIo {
  /** Call right before the engine starts the statement: from here the parent's timer runs. */
  started(): void;
}

/**
 * One engine inside a worker. `run` executes one statement as the official evaluator's driver would and returns
 * its rows as values `result_digest.ts` compares as Python does (numbers, bigints, strings, `Uint8Array`, null,
 * {@linkcode PyKey}). It never throws for bad SQL: a failure is a {@linkcode Failure}.
 *
 * `pair` (optional) lets an engine run a score request's two statements in one session, as an official script
 * that uses one connection per pair does: it is called around the prediction and gold statements.
 */
export interface WorkerBackend {
  run(req: WorkerRequest, sql: string, io: StatementIo): Ran | Failure | Promise<Ran | Failure>;
  pair?<T>(req: WorkerRequest, body: () => Promise<T>): Promise<T>;
}

/** A failure of kind `error` (or another kind). */
export const fail = (error: string, kind: Failure["kind"] = "error"): Failure => ({ ok: false, kind, error });

type Display = number | string | null | { blob: string } | { int: string } | { real: string } | {
  py: string;
};

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
  if (v instanceof PyKey) return { py: v.key };
  return String(v);
}

/** The first rows as returned, JSON-safe. */
const sampleOf = (rows: unknown[][], n: number): Display[][] => rows.slice(0, n).map((r) => r.map(display));

/** Statements that took longer than this (ms) report their end at once; quicker ones batch it. */
const END_NOW_MS = 50;
/** A statement starting this long (ms) after the worker last wrote tells the parent at once. */
const START_NOW_MS = 100;
/** When this worker last wrote to the parent, or received a request (the parent's timer restarts then). */
let lastMark = 0;

const encoder = new TextEncoder();
/** Messages not yet written: a request's replies go out in as few writes as the timer allows. */
let outbox: string[] = [];

/** Queue one message for the parent (written by the next {@linkcode flush}). */
function send(obj: Record<string, unknown>): void {
  outbox.push(JSON.stringify(obj) + "\n");
}

/**
 * Tell the parent something about this worker (e.g. the server backend it is connected to): the latest note is
 * kept by the parent (`WorkerProcess.note`). It is written at the latest when the next statement starts.
 */
export function note(info: Record<string, unknown>): void {
  send({ note: info });
}

/** Write every queued message, in order, in one write. */
function flush(): void {
  if (!outbox.length) return;
  const data = encoder.encode(outbox.length === 1 ? outbox[0] : outbox.join(""));
  outbox = [];
  let off = 0;
  while (off < data.length) off += Deno.stdout.writeSync(data.subarray(off));
  lastMark = performance.now();
}

/** Run one statement through the backend, telling the parent when it starts and ends, and judging the time. */
async function runStatement(backend: WorkerBackend, req: WorkerRequest, sql: string): Promise<Ran | Failure> {
  let t0 = performance.now();
  let startedAt: number | null = null;
  const io: StatementIo = {
    started() {
      // What is waiting goes now (an earlier statement's result, the prediction's shape before its gold
      // query): a kill during this statement must not lose it; its `end` restarts the parent's timer. With
      // nothing waiting, the timer restarted at our last write: if that was long ago, restart it now.
      if (outbox.length) flush();
      else if (performance.now() - lastMark >= START_NOW_MS) {
        send({ id: req.id, start: true });
        flush();
      }
      startedAt = t0 = performance.now();
    },
  };
  let ran: Ran | Failure;
  try {
    ran = await backend.run(req, sql, io);
  } catch (e) {
    ran = fail(e instanceof Error ? e.message : String(e));
  }
  // A statement refused before the engine saw it (no start) has no end either.
  if (startedAt === null) return ran;
  const execMs = ran.ok ? ran.execMs : (ran.execMs ?? performance.now() - t0);
  send({ id: req.id, end: true, execMs });
  // A quick statement's end rides with the next message (one write, not two); a slow one's is told at once, so
  // the parent stops its timer before the digest of a big result is computed.
  if (execMs > END_NOW_MS) flush();
  // The verdict `timeout` is the engine's own time against the limit, whatever the parent's clock says.
  if (execMs > req.timeoutS * 1000) {
    return { ok: false, kind: "timeout", error: `query timed out after ${req.timeoutS} s`, execMs };
  }
  if (!ran.ok) ran.execMs = execMs;
  return ran;
}

/** exec: one reply per statement with its distinct rows as canonical cell keys. */
async function execute(backend: WorkerBackend, req: WorkerRequest): Promise<void> {
  for (const sql of req.sqls ?? []) {
    const ran = await runStatement(backend, req, sql);
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
    rowCount: ran.rowCount ?? ran.rows.length,
    distinctRows: digest.rows.length / 4,
    sample: sampleOf(ran.rows, sampleRows),
    execMs: ran.execMs,
  };
}

/** The base64 length of a digest's `rows` and `cells`, without encoding it. */
const encodedSize = (d: ResultDigest): number =>
  Math.ceil(d.rows.byteLength / 3) * 4 + Math.ceil(d.cells.byteLength / 3) * 4;

/** A digested result kept for a later `score` of the same statement: its digest and its summary. */
interface Kept {
  digest: ResultDigest;
  out: ReturnType<typeof summary>;
  bytes: number;
}

/** Digests kept by `digest` with `keep`, by database and statement text, least recently used first. */
const kept = new Map<string, Kept>();
let keptBytes = 0;

const keptKey = (req: WorkerRequest, sql: string) => `${req.db}\0${sql}`;

/** Keep a digest under a bound of an eighth of the engine's heap limit (the oldest leave first). */
function keep(req: WorkerRequest, sql: string, digest: ResultDigest, out: Kept["out"]): void {
  const key = keptKey(req, sql);
  const old = kept.get(key);
  if (old) {
    keptBytes -= old.bytes;
    kept.delete(key);
  }
  const bytes = digest.rows.byteLength + digest.cells.byteLength + 2 * sql.length + 4096;
  const bound = Math.max(0, req.heapLimit / 8);
  if (bytes > bound) return;
  kept.set(key, { digest, out, bytes });
  keptBytes += bytes;
  for (const [k, e] of kept) {
    if (keptBytes <= bound) break;
    kept.delete(k);
    keptBytes -= e.bytes;
  }
}

/** Take (and forget) the kept digest of a statement, or null. */
function takeKept(req: WorkerRequest, sql: string): Kept | null {
  const key = keptKey(req, sql);
  const e = kept.get(key);
  if (!e) return null;
  kept.delete(key);
  keptBytes -= e.bytes;
  return e;
}

/** digest: one statement run and digested here; its shape, sample and set digest go back, never its rows. */
async function digestOne(backend: WorkerBackend, req: WorkerRequest): Promise<void> {
  const sql = req.sql ?? "";
  const ran = await runStatement(backend, req, sql);
  if (!ran.ok) {
    send({ id: req.id, result: ran });
    return;
  }
  const digest = ran.digest ?? digestRows(ran.rows, ran.columns.length);
  const out = summary(ran, digest, req.sampleRows);
  ran.rows = [];
  if (req.keep) keep(req, sql, digest, out);
  send({ id: req.id, result: { ...out, set: setDigest(digest.rows) } });
}

/** score: prediction (or its kept digest), then gold (unless cached), compared here; one reply. */
async function score(backend: WorkerBackend, req: WorkerRequest): Promise<void> {
  const predSql = req.pred ?? "";
  const reused = req.reuse ? takeKept(req, predSql) : null;
  let predDigest: ResultDigest;
  let predOut: Kept["out"] & { reused?: true };
  if (reused) {
    predDigest = reused.digest;
    // Said, so that the parent times the prediction by its original run, not by this lookup.
    predOut = { ...reused.out, reused: true };
  } else {
    const pred = await runStatement(backend, req, predSql);
    if (!pred.ok) {
      send({ id: req.id, pred });
      return;
    }
    predDigest = pred.digest ?? digestRows(pred.rows, pred.columns.length);
    predOut = summary(pred, predDigest, req.sampleRows);
    // Free the prediction's rows before the gold query runs: both results need not be in memory at once.
    pred.rows = [];
  }
  if (req.gold === null && !req.goldDigest) {
    send({ id: req.id, pred: predOut });
    return;
  }
  // The parent keeps the prediction's shape in case the gold query is killed or kills the worker.
  send({ id: req.id, partial: true, pred: predOut });
  let goldDigest: ResultDigest;
  let goldOut: Record<string, unknown>;
  if (req.goldDigest) {
    goldDigest = decodeDigest(req.goldDigest.digest);
    goldOut = { ok: true, distinctRows: goldDigest.rows.length / 4, cached: true };
  } else {
    const gold = await runStatement(backend, req, req.gold!);
    if (!gold.ok) {
      send({ id: req.id, gold });
      return;
    }
    goldDigest = gold.digest ?? digestRows(gold.rows, gold.columns.length);
    goldOut = summary(gold, goldDigest, req.sampleRows);
    // The rows are digested: free them before the digest is encoded.
    gold.rows = [];
    if (encodedSize(goldDigest) <= req.goldDigestChars) goldOut.digest = encodeDigest(goldDigest);
  }
  send({
    id: req.id,
    gold: goldOut,
    // The gold's set digest when asked (voting: candidate verdicts, the same equality as `match`).
    ...(req.goldSet ? { goldSet: setDigest(goldDigest.rows) } : {}),
    match: digestExMatch(predDigest, goldDigest),
    softF1: digestSoftF1(predDigest, goldDigest),
  });
}

async function handle(backend: WorkerBackend, line: string): Promise<void> {
  lastMark = performance.now();
  const req = JSON.parse(line) as WorkerRequest;
  try {
    if (req.op === "score") {
      await (backend.pair ? backend.pair(req, () => score(backend, req)) : score(backend, req));
    } else if (req.op === "digest") await digestOne(backend, req);
    else await execute(backend, req);
  } catch (e) {
    // Anything unexpected (a malformed cached digest, a RangeError from a huge string) fails this request only.
    send({ id: req.id, error: e instanceof Error ? e.message : String(e) });
  }
  // More requests already waiting (a pipelined batch): this reply goes out with the next write, at the latest
  // when the next statement starts.
  if (waiting === 0) flush();
}

/** Request lines received and not yet handled. */
let waiting = 0;

/**
 * Serve requests on stdin with this backend until stdin closes, then exit. With `init`, the first line on stdin
 * is the engine's set-up (e.g. a connection URL, which must not appear on a command line) and is handed to
 * `init` before `ready` is sent.
 */
export async function serveWorker(
  makeBackend: (init: Record<string, unknown> | null) => WorkerBackend | Promise<WorkerBackend>,
  options: { init?: boolean } = {},
): Promise<never> {
  let backend: WorkerBackend | null = options.init ? null : await makeBackend(null);
  if (backend) {
    send({ ready: true });
    flush();
  }
  let chain: Promise<void> = Promise.resolve();
  await readLines(Deno.stdin.readable, (line) => {
    waiting++;
    chain = chain.then(async () => {
      waiting--;
      if (!backend) {
        try {
          backend = await makeBackend(JSON.parse(line));
        } catch (e) {
          // Start-up failed (bad URL, server down): say why, and exit; the parent reports it.
          send({ fatal: e instanceof Error ? e.message : String(e) });
          flush();
          Deno.exit(3);
        }
        send({ ready: true });
        flush();
        return;
      }
      await handle(backend, line);
    });
  });
  await chain;
  // stdin closed: the parent is gone or done, and so is this worker.
  Deno.exit(0);
}
