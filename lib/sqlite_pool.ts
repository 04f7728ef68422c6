/**
 * A pool of persistent, sandboxed SQLite worker processes (`sqlite_worker.ts`).
 *
 * Why subprocesses: `node:sqlite` has no interrupt or progress handler, and `Worker.terminate()` does not stop
 * a thread stuck in a query (Deno 2.9), so the only reliable time limit is SIGKILL on a process, then a fresh
 * one (~50 ms). Each worker runs with `--allow-read` on the database folders only (no write, net, env, run or
 * ffi), under a data-segment limit the kernel enforces (`ulimit -d`: a result too big fails its own question,
 * not the machine), and with a parent-death signal (`setpriv --pdeathsig KILL`), so no worker outlives the
 * process that started it, however that process dies.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { EncodedDigest } from "./result_digest.ts";
import type { DisplayValue } from "./types.ts";

/** A query that ran: its columns, its DISTINCT rows (canonical cell keys, first-seen order) and a sample. */
export interface ExecOk {
  ok: true;
  columns: string[];
  /** Distinct rows in first-seen order; each cell a canonical key (equal iff Python's `==` says so). */
  rows: string[][];
  /** All rows returned, duplicates included. */
  rowCount: number;
  /** The first rows as returned, JSON-safe, for display. */
  sample: DisplayValue[][];
  /** Wall time measured by the parent, milliseconds. */
  ms: number;
  /** Time SQLite took (prepare + fetch all rows), measured in the worker, milliseconds: what R-VES compares. */
  execMs: number;
}

/** A query that failed: an SQL error, the time limit, or a result too large for the worker's memory. */
export interface ExecErr {
  ok: false;
  kind: "error" | "timeout" | "too_large";
  error: string;
  ms: number;
  /** Time SQLite spent before failing, when the worker could say. */
  execMs?: number;
}

/** The outcome of one query. */
export type ExecResult = ExecOk | ExecErr;

/** A query that ran, compared inside the worker: its shape, not its rows. */
export interface ScoredOk {
  ok: true;
  columns: string[];
  rowCount: number;
  distinctRows: number;
  sample: DisplayValue[][];
  /** Time SQLite took, milliseconds (worker-measured). */
  execMs: number;
}

/** A gold result as the gold cache keeps it: its shape and the digest a prediction is compared against. */
export interface GoldDigest extends ScoredOk {
  digest: EncodedDigest;
}

/** The outcome of {@linkcode SqlitePool.score}. */
export interface ScoreOutcome {
  pred: (ScoredOk & { ms: number }) | ExecErr;
  /** The gold result: executed now (with its digest, for the cache), the cached one passed in, or null when the
   * prediction failed (the gold query is not run then, as in the official script). */
  gold: GoldDigest | ExecErr | null;
  /** Whether `gold` was executed by this call (a cache miss). */
  goldExecuted: boolean;
  /** EX: set equality of distinct rows. */
  match: boolean;
  /** mini-dev Soft-F1. */
  softF1: number;
}

/** Options of a {@linkcode SqlitePool}. */
export interface PoolOptions {
  /** Worker processes (default: the number of CPU cores). */
  workers?: number;
  /** Per-query time limit in seconds (default 30, as the official evaluator), measured on SQLite's statement. */
  timeoutS?: number;
  /** Bytes of distinct rows above which {@linkcode SqlitePool.execute} refuses to return them (default 256 MiB). */
  maxBytes?: number;
  /** Rows kept for display (default 10). */
  sampleRows?: number;
  /** Memory limit of each worker process in bytes, enforced by the kernel (default 2 GiB, at least 1 GiB). */
  workerMemory?: number;
}

/** Default memory limit of a worker: a result larger than this fails its own question. */
export const DEFAULT_WORKER_MEMORY: number = 2 * 1024 ** 3;
/** Deno needs about 1 GiB of data segment to start (V8 reserves its code range under the limit). */
export const MIN_WORKER_MEMORY: number = 1024 ** 3;

/**
 * The semantics of the worker's SQLite connection, part of every gold cache key: a result computed under other
 * semantics (an older engine, another SQLite) is never served. Bump the version when the worker's behaviour
 * changes.
 */
export const ENGINE_OPTIONS =
  "t2s-engine/2 dqs=on math=sqlite-func.c params=python-raise nul=python-raise utf8=strict temp_store=memory " +
  "digest=murmur128";

/** The SQLite version linked by Deno (the workers run the same binary), read without a worker. */
export function sqliteVersion(): string {
  const db = new DatabaseSync(":memory:");
  try {
    return String((db.prepare("select sqlite_version() v").get() as { v: string }).v);
  } finally {
    db.close();
  }
}

/**
 * Parse a memory size: bytes, or a number with K, M, G or T (binary units: `2G` = 2 GiB). Throws on anything
 * else.
 */
export function parseMemory(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text);
  if (!m) throw new Error(`not a memory size: ${JSON.stringify(text)} (use bytes or e.g. 512M, 2G)`);
  const unit = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2].toUpperCase()]!;
  return Math.floor(Number(m[1]) * unit);
}

const formatBytes = (n: number) =>
  n >= 1024 ** 3 ? `${+(n / 1024 ** 3).toFixed(2)} GiB` : `${Math.round(n / 1024 ** 2)} MiB`;

/** How long past the limit, after the worker said a statement started, the parent waits before it kills. */
const KILL_SLACK_MS = 1000;

interface Pending {
  id: number;
  op: "exec" | "score";
  /** exec: results so far, one per statement. */
  results: ExecResult[];
  expected: number;
  /** Statements the worker has started (score: 1 = prediction, 2 = gold). */
  started: number;
  /** When the worker's current statement started (parent clock, on receipt), or null between statements. */
  runningSince: number | null;
  sent: number;
  /** score: the prediction's summary, sent before the gold query runs, and when it arrived. */
  partial: { pred: ScoredOk; ms: number } | null;
  timer: ReturnType<typeof setTimeout> | null;
  timeoutS: number;
  /** Deliver a final message (score reply, exec list) or a failure of the whole request. */
  finish: (msg: Record<string, unknown> | ExecErr) => void;
}

const WORKER_URL = new URL("./sqlite_worker.ts", import.meta.url);

function findTool(name: string): string | null {
  for (const dir of ["/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin", "/sbin"]) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return null;
}

/**
 * The worker's deno command line: read access to the database folders and no other permission (no write, net,
 * env, run or ffi), and a V8 heap limit inside the process's memory limit.
 */
export function workerArgs(readDirs: string[], workerMemory: number = DEFAULT_WORKER_MEMORY): string[] {
  return [
    "run",
    "--no-config",
    "--no-lock",
    "--no-prompt",
    `--v8-flags=--max-old-space-size=${Math.max(256, Math.floor(workerMemory / 2 / 1024 ** 2))}`,
    "--quiet",
    ...(readDirs.length ? [`--allow-read=${readDirs.join(",")}`] : []),
    WORKER_URL.protocol === "file:" ? WORKER_URL.pathname : WORKER_URL.href,
  ];
}

/**
 * The full command: `sh -c 'ulimit -d …; exec setpriv --pdeathsig KILL -- deno …'`. `ulimit -d` rather than
 * `prlimit`: util-linux's prlimit crashes on some kernels, and an address-space limit (`-v`) makes V8 abort at
 * start. Without setpriv, the worker still exits at stdin EOF (when idle).
 */
function workerCommand(readDirs: string[], workerMemory: number): { cmd: string; args: string[] } {
  const deno = [Deno.execPath(), ...workerArgs(readDirs, workerMemory)];
  const setpriv = findTool("setpriv");
  const sh = findTool("sh");
  if (!sh) return { cmd: deno[0], args: deno.slice(1) };
  const kb = Math.floor(workerMemory / 1024);
  const exec = setpriv ? `exec ${setpriv} --pdeathsig KILL -- "$@"` : `exec "$@"`;
  return { cmd: sh, args: ["-c", `ulimit -d ${kb} && ${exec}`, "t2s-sqlite-worker", ...deno] };
}

class WorkerProcess {
  readonly child: Deno.ChildProcess;
  readonly generation: number;
  private writer: WritableStreamDefaultWriter<Uint8Array>;
  private pending: Pending | null = null;
  private nextId = 1;
  readonly ready: Promise<void>;
  private readyResolve!: () => void;
  private readyReject!: (e: Error) => void;
  dead = false;
  onExit: () => void = () => {};

  constructor(readDirs: string[], generation: number, private readonly memory: number) {
    this.generation = generation;
    this.ready = new Promise((res, rej) => {
      this.readyResolve = res;
      this.readyReject = rej;
    });
    this.ready.catch(() => {});
    const { cmd, args } = workerCommand(readDirs, memory);
    this.child = new Deno.Command(cmd, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
      clearEnv: true,
    }).spawn();
    this.writer = this.child.stdin.getWriter();
    this.readLoop();
    this.child.stderr.pipeTo(new WritableStream({ write() {} })).catch(() => {});
    this.child.status.then((s) => {
      this.dead = true;
      this.readyReject(new Error(`SQLite worker exited during start-up (code ${s.code})`));
      const p = this.pending;
      if (p) {
        this.pending = null;
        if (p.timer !== null) clearTimeout(p.timer);
        // The worker dies on its own only when it runs out of memory (an allocation failure aborts V8).
        p.finish({
          ok: false,
          kind: "too_large",
          error:
            `SQLite worker died (exit code ${s.code}${s.signal ? `, ${s.signal}` : ""}): out of memory, ` +
            `the query needs more than the worker memory limit (${
              formatBytes(this.memory)
            }, --worker-memory)`,
          ms: performance.now() - p.sent,
        });
      }
      this.onExit();
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Lines from a list of chunks, joined once each: linear in the reply size, however it is split. */
  private async readLoop(): Promise<void> {
    const decoder = new TextDecoder();
    let parts: Uint8Array[] = [];
    try {
      for await (const chunk of this.child.stdout) {
        let from = 0;
        let nl: number;
        while ((nl = chunk.indexOf(10, from)) >= 0) {
          parts.push(chunk.subarray(from, nl));
          const line = parts.length === 1 ? parts[0] : concat(parts);
          parts = [];
          from = nl + 1;
          if (line.length) this.handle(JSON.parse(decoder.decode(line)));
        }
        if (from < chunk.length) parts.push(chunk.subarray(from));
      }
    } catch {
      // The process was killed: status handling reports it.
    }
  }

  private handle(msg: Record<string, unknown>): void {
    if (msg.ready) {
      this.readyResolve();
      return;
    }
    const p = this.pending;
    if (!p || msg.id !== p.id) return;
    if (msg.start) {
      p.started++;
      p.runningSince = performance.now();
      p.timer = this.arm(p);
      return;
    }
    if (msg.end) {
      if (p.timer !== null) clearTimeout(p.timer);
      p.timer = null;
      p.runningSince = null;
      return;
    }
    if (msg.partial) {
      p.partial = { pred: msg.pred as ScoredOk, ms: performance.now() - p.sent };
      return;
    }
    if (typeof msg.error === "string") {
      this.pending = null;
      p.finish({ ok: false, kind: "error", error: msg.error, ms: performance.now() - p.sent });
      return;
    }
    if (p.op === "exec") {
      const r = msg.result as ExecResult;
      const result = { ...r, ms: performance.now() - p.sent } as ExecResult;
      p.results.push(result);
      if (!result.ok || p.results.length === p.expected) {
        this.pending = null;
        p.finish({ results: p.results });
      }
      return;
    }
    this.pending = null;
    p.finish(msg);
  }

  /** Kill the worker if the statement it said it started runs past the limit (plus slack for a busy parent). */
  private arm(p: Pending): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      if (this.pending !== p || p.timer !== timer) return;
      this.pending = null;
      this.kill();
      p.finish({
        ok: false,
        kind: "timeout",
        error: `query timed out after ${p.timeoutS} s`,
        ms: performance.now() - p.sent,
        execMs: performance.now() - (p.runningSince ?? p.sent),
      });
    }, p.timeoutS * 1000 + KILL_SLACK_MS);
    return timer;
  }

  /** Send one request; resolves with the worker's final message or a failure of the request. */
  request(
    op: "exec" | "score",
    body: Record<string, unknown>,
    options: { timeoutS: number; expected: number },
  ): Promise<
    {
      msg: Record<string, unknown> | ExecErr;
      started: number;
      results: ExecResult[];
      partial: { pred: ScoredOk; ms: number } | null;
    }
  > {
    return new Promise((resolveRequest) => {
      const id = this.nextId++;
      const p: Pending = {
        id,
        op,
        results: [],
        expected: options.expected,
        started: 0,
        runningSince: null,
        sent: performance.now(),
        partial: null,
        timer: null,
        timeoutS: options.timeoutS,
        finish: (msg) => resolveRequest({ msg, started: p.started, results: p.results, partial: p.partial }),
      };
      this.pending = p;
      const line = new TextEncoder().encode(
        JSON.stringify({ id, op, timeoutS: options.timeoutS, heapLimit: this.memory / 2, ...body }) + "\n",
      );
      this.writer.write(line).catch(() => {/* death is reported by status */});
    });
  }

  /** Close stdin: the worker's read loop ends and the process exits by itself. */
  async closeInput(): Promise<void> {
    try {
      await this.writer.close();
    } catch {
      // Killed already.
    }
  }

  kill(): void {
    if (this.dead) return;
    // Dead from now on: the exit status arrives later, and the pool must not hand this worker out meanwhile.
    this.dead = true;
    try {
      this.child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

function concat(list: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(list.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of list) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const isFailure = (m: Record<string, unknown> | ExecErr): m is ExecErr => m.ok === false && "kind" in m;

/**
 * Run untrusted SQL against BIRD databases, in parallel, with a hard time limit.
 *
 * @example
 * const pool = new SqlitePool({ workers: 2, timeoutS: 30 });
 * const r = await pool.execute("data/sample/dev_databases/superhero/superhero.sqlite", "SELECT COUNT(*) FROM superhero");
 * await pool.close();
 */
export class SqlitePool {
  readonly workers: number;
  readonly timeoutS: number;
  readonly workerMemory: number;
  private readonly maxBytes: number;
  private readonly sampleRows: number;
  private readonly readDirs = new Set<string>();
  private generation = 0;
  private procs: WorkerProcess[] = [];
  private idle: WorkerProcess[] = [];
  private queue: (() => void)[] = [];
  private closed = false;

  constructor(options: PoolOptions = {}) {
    this.workers = Math.max(1, options.workers ?? navigator.hardwareConcurrency ?? 2);
    this.timeoutS = options.timeoutS ?? 30;
    this.maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
    this.sampleRows = options.sampleRows ?? 10;
    this.workerMemory = options.workerMemory ?? DEFAULT_WORKER_MEMORY;
    if (!(this.workerMemory >= MIN_WORKER_MEMORY)) {
      throw new RangeError(
        `worker memory ${this.workerMemory} bytes is below the ${
          formatBytes(MIN_WORKER_MEMORY)
        } a worker needs`,
      );
    }
  }

  /** Execute one statement on a database opened read-only. Never throws for bad SQL: see {@linkcode ExecErr}. */
  async execute(dbPath: string, sql: string, options: { timeoutS?: number } = {}): Promise<ExecResult> {
    return (await this.executeEach(dbPath, [sql], options))[0];
  }

  /**
   * Execute statements in order on one worker, stopping at the first that fails. Each statement has its own time
   * limit. Returns one result per statement that ran (the failed one included), with distinct rows as keys.
   */
  async executeEach(
    dbPath: string,
    sqls: string[],
    options: { timeoutS?: number } = {},
  ): Promise<ExecResult[]> {
    const timeoutS = options.timeoutS ?? this.timeoutS;
    const out = await this.onWorker(
      dbPath,
      (proc) =>
        proc.request("exec", {
          db: resolve(dbPath),
          sqls,
          maxBytes: this.maxBytes,
          sampleRows: this.sampleRows,
        }, {
          timeoutS,
          expected: sqls.length,
        }),
    );
    if (isFailure(out)) return [out];
    const { msg, results } = out;
    return isFailure(msg) ? [...results, msg] : results;
  }

  /**
   * Score a prediction against its gold query inside one worker: the prediction runs first; the gold query runs
   * only if it succeeded (as in the official script), unless `gold` is a cached {@linkcode GoldDigest}, which the
   * worker compares against instead. No rows cross the pipe: only shapes, samples, the verdict and Soft-F1.
   */
  async score(
    dbPath: string,
    predSql: string,
    options: { gold: string | GoldDigest | null; timeoutS?: number },
  ): Promise<ScoreOutcome> {
    const timeoutS = options.timeoutS ?? this.timeoutS;
    const cached = typeof options.gold === "object" ? options.gold : null;
    const body = {
      db: resolve(dbPath),
      pred: predSql,
      gold: typeof options.gold === "string" ? options.gold : null,
      goldDigest: cached,
      maxBytes: this.maxBytes,
      sampleRows: this.sampleRows,
    };
    const out = await this.onWorker(dbPath, (proc) => proc.request("score", body, { timeoutS, expected: 1 }));
    const none = { gold: cached, goldExecuted: false, match: false, softF1: 0 };
    if (isFailure(out)) return { pred: out, ...none };
    const { msg, partial } = out;
    if (isFailure(msg)) {
      // Killed or died: during the gold query if the prediction's summary had arrived.
      if (!partial) return { pred: msg, ...none };
      return {
        pred: { ...partial.pred, ms: partial.ms },
        gold: msg,
        goldExecuted: true,
        match: false,
        softF1: 0,
      };
    }
    const pred = (msg.pred ?? partial?.pred) as ScoredOk | (ExecErr & { execMs?: number });
    if (!pred.ok) return { pred: { ...pred, ms: pred.execMs ?? 0 }, ...none };
    const predOut = { ...pred, ms: partial?.ms ?? pred.execMs };
    if (!msg.gold) return { pred: predOut, ...none };
    const gold = msg.gold as GoldDigest | ExecErr;
    if (!gold.ok) {
      return {
        pred: predOut,
        gold: { ...gold, ms: gold.execMs ?? 0 },
        goldExecuted: true,
        match: false,
        softF1: 0,
      };
    }
    return {
      pred: predOut,
      gold: cached ?? gold,
      goldExecuted: !cached,
      match: msg.match === true,
      softF1: Number(msg.softF1),
    };
  }

  /** Acquire a worker, wait for it to start, run `fn` on it, release it. */
  private async onWorker<T>(
    dbPath: string,
    fn: (proc: WorkerProcess) => Promise<T>,
  ): Promise<T | ExecErr> {
    if (this.closed) throw new Error("SqlitePool is closed");
    this.allow([resolve(dbPath)]);
    const proc = await this.acquire();
    try {
      try {
        await proc.ready;
      } catch (e) {
        return { ok: false, kind: "error", error: (e as Error).message, ms: 0 };
      }
      return await fn(proc);
    } finally {
      this.release(proc);
    }
  }

  /**
   * Grant the workers read access to these databases' folders. Workers get read access only to the folders they
   * need; a new folder means fresh workers, so callers that know their databases up front say so here.
   */
  allow(dbPaths: string[]): void {
    const dirs = dbPaths.map((p) => dirname(resolve(p))).filter((d) => !this.readDirs.has(d));
    if (!dirs.length) return;
    for (const d of dirs) this.readDirs.add(d);
    this.generation++;
    for (const p of this.idle) p.kill();
    this.idle = [];
  }

  /** The SQLite version the workers link (for `run.json`): the same Deno binary, so asked here, not of a worker. */
  sqliteVersion(): Promise<string> {
    return Promise.resolve(sqliteVersion());
  }

  /** Process ids of the live workers (tests check that none outlives the pool or its parent). */
  pids(): number[] {
    return this.procs.filter((p) => !p.dead).map((p) => p.pid);
  }

  private spawn(): WorkerProcess {
    const proc = new WorkerProcess([...this.readDirs], this.generation, this.workerMemory);
    proc.onExit = () => {
      this.procs = this.procs.filter((p) => p !== proc);
      this.idle = this.idle.filter((p) => p !== proc);
      // A slot freed by a killed worker lets a queued request spawn a fresh one.
      const next = this.queue.shift();
      if (next) next();
    };
    this.procs.push(proc);
    return proc;
  }

  private acquire(): Promise<WorkerProcess> {
    const fresh = this.idle.filter((p) => !p.dead && p.generation === this.generation);
    if (fresh.length) {
      const proc = fresh[0];
      this.idle = this.idle.filter((p) => p !== proc);
      return Promise.resolve(proc);
    }
    const live = this.procs.filter((p) => !p.dead).length;
    if (live < this.workers) return Promise.resolve(this.spawn());
    return new Promise((res) => this.queue.push(() => res(this.acquire())));
  }

  private release(proc: WorkerProcess): void {
    if (proc.dead || this.closed) {
      return;
    }
    if (proc.generation !== this.generation) {
      proc.kill();
      return;
    }
    this.idle.push(proc);
    const next = this.queue.shift();
    if (next) next();
  }

  /** Stop every worker. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.procs];
    for (const p of all) {
      await p.closeInput();
      p.kill();
    }
    await Promise.all(all.map((p) => p.child.status));
    for (const p of all) {
      try {
        await p.child.stdout.cancel();
      } catch { /* stream already consumed */ }
    }
  }
}
