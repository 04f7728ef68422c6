/**
 * A pool of persistent, sandboxed SQLite worker processes (`sqlite_worker.ts`).
 *
 * Why subprocesses: `node:sqlite` has no interrupt or progress handler, and `Worker.terminate()` does not stop
 * a thread stuck in a query (Deno 2.9), so the only reliable time limit is SIGKILL on a process, then a fresh
 * one (~50 ms). Each worker runs with `--allow-read` on the database folders only: no write, net, env or run.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
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
  /** Time inside the worker (prepare + fetch all rows), milliseconds: what R-VES compares. */
  execMs: number;
}

/** A query that failed: an SQL error, the time limit, or a result too large to hold. */
export interface ExecErr {
  ok: false;
  kind: "error" | "timeout" | "too_large";
  error: string;
  ms: number;
}

/** The outcome of one query. */
export type ExecResult = ExecOk | ExecErr;

/** Options of a {@linkcode SqlitePool}. */
export interface PoolOptions {
  /** Worker processes (default: the number of CPU cores). */
  workers?: number;
  /** Per-query time limit in seconds (default 30, as the official evaluator). */
  timeoutS?: number;
  /** Distinct rows above which a result is refused as too large (default 2,000,000). */
  maxRows?: number;
  /** Encoded bytes of distinct rows above which a result is refused (default 256 MiB). */
  maxBytes?: number;
  /** Rows kept for display (default 10). */
  sampleRows?: number;
}

interface Pending {
  resolve: (r: ExecResult[]) => void;
  /** Results so far, one per statement, in order. */
  results: ExecResult[];
  /** Statements in the request. */
  expected: number;
  /** When the current statement started (each statement has its own time limit). */
  started: number;
  timer: ReturnType<typeof setTimeout>;
  timeoutS: number;
  id: number;
}

const WORKER_URL = new URL("./sqlite_worker.ts", import.meta.url);

/**
 * The worker's command line: read access to the database folders and no other permission (no write, net, env,
 * run or ffi), and a V8 heap limit so a result too big for memory kills this worker, not the machine.
 */
export function workerArgs(readDirs: string[]): string[] {
  return [
    "run",
    "--no-config",
    "--no-lock",
    "--no-prompt",
    "--v8-flags=--max-old-space-size=2048",
    "--quiet",
    ...(readDirs.length ? [`--allow-read=${readDirs.join(",")}`] : []),
    WORKER_URL.protocol === "file:" ? WORKER_URL.pathname : WORKER_URL.href,
  ];
}

class WorkerProcess {
  readonly child: Deno.ChildProcess;
  readonly generation: number;
  private writer: WritableStreamDefaultWriter<Uint8Array>;
  private pending: Pending | null = null;
  private nextId = 1;
  readonly ready: Promise<string>;
  private readyResolve!: (v: string) => void;
  private readyReject!: (e: Error) => void;
  dead = false;
  onExit: () => void = () => {};

  constructor(readDirs: string[], generation: number) {
    this.generation = generation;
    this.ready = new Promise((res, rej) => {
      this.readyResolve = res;
      this.readyReject = rej;
    });
    this.child = new Deno.Command(Deno.execPath(), {
      args: workerArgs(readDirs),
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
        clearTimeout(p.timer);
        p.results.push({
          ok: false,
          kind: "error",
          error: `SQLite worker died (exit code ${s.code}${
            s.signal ? `, ${s.signal}` : ""
          }): most likely the result was too large for memory`,
          ms: performance.now() - p.started,
        });
        p.resolve(p.results);
      }
      this.onExit();
    });
  }

  private async readLoop(): Promise<void> {
    const decoder = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of this.child.stdout) {
        buf += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          this.handle(line);
        }
      }
    } catch {
      // The process was killed: status handling reports it.
    }
  }

  private handle(line: string): void {
    const msg = JSON.parse(line);
    if (msg.ready) {
      this.readyResolve(String(msg.sqlite_version));
      return;
    }
    const p = this.pending;
    if (!p || msg.id !== p.id) return;
    clearTimeout(p.timer);
    const ms = performance.now() - p.started;
    delete msg.id;
    const result: ExecResult = msg.ok ? { ...msg, ms } : { ok: false, kind: msg.kind, error: msg.error, ms };
    p.results.push(result);
    if (!result.ok || p.results.length === p.expected) {
      this.pending = null;
      p.resolve(p.results);
      return;
    }
    // The next statement of the same request starts now, with a time limit of its own.
    p.started = performance.now();
    p.timer = this.arm(p);
  }

  private arm(p: Pending): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      if (this.pending !== p || p.timer !== timer) return;
      this.pending = null;
      this.kill();
      p.results.push({
        ok: false,
        kind: "timeout",
        error: `query timed out after ${p.timeoutS} s`,
        ms: performance.now() - p.started,
      });
      p.resolve(p.results);
    }, p.timeoutS * 1000);
    return timer;
  }

  /** Run statements in order, stopping at the first that fails; each has `timeoutS`. */
  run(
    req: { db: string; sqls: string[]; maxRows: number; maxBytes: number; sampleRows: number },
    timeoutS: number,
  ): Promise<ExecResult[]> {
    return new Promise((resolveResults) => {
      const id = this.nextId++;
      const p: Pending = {
        resolve: resolveResults,
        results: [],
        expected: req.sqls.length,
        started: performance.now(),
        timer: 0 as unknown as ReturnType<typeof setTimeout>,
        timeoutS,
        id,
      };
      p.timer = this.arm(p);
      this.pending = p;
      const line = new TextEncoder().encode(JSON.stringify({ id, ...req }) + "\n");
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
  private readonly maxRows: number;
  private readonly maxBytes: number;
  private readonly sampleRows: number;
  private readonly readDirs = new Set<string>();
  private generation = 0;
  private procs: WorkerProcess[] = [];
  private idle: WorkerProcess[] = [];
  private queue: (() => void)[] = [];
  private closed = false;
  private version: string | null = null;

  constructor(options: PoolOptions = {}) {
    this.workers = Math.max(1, options.workers ?? navigator.hardwareConcurrency ?? 2);
    this.timeoutS = options.timeoutS ?? 30;
    this.maxRows = options.maxRows ?? 2_000_000;
    this.maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
    this.sampleRows = options.sampleRows ?? 10;
  }

  /** Execute one statement on a database opened read-only. Never throws for bad SQL: see {@linkcode ExecErr}. */
  async execute(dbPath: string, sql: string, options: { timeoutS?: number } = {}): Promise<ExecResult> {
    return (await this.executeEach(dbPath, [sql], options))[0];
  }

  /**
   * Execute statements in order on one worker, stopping at the first that fails: the official evaluator's
   * "prediction, then gold" in one round trip. Each statement has its own time limit. Returns one result per
   * statement that ran (the failed one included).
   */
  async executeEach(
    dbPath: string,
    sqls: string[],
    options: { timeoutS?: number } = {},
  ): Promise<ExecResult[]> {
    if (this.closed) throw new Error("SqlitePool is closed");
    const db = resolve(dbPath);
    this.allow([db]);
    const proc = await this.acquire();
    try {
      try {
        await proc.ready;
      } catch (e) {
        return [{ ok: false, kind: "error", error: (e as Error).message, ms: 0 }];
      }
      return await proc.run(
        { db, sqls, maxRows: this.maxRows, maxBytes: this.maxBytes, sampleRows: this.sampleRows },
        options.timeoutS ?? this.timeoutS,
      );
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

  /** The SQLite version the workers link (for `run.json`). */
  async sqliteVersion(): Promise<string> {
    if (this.version) return this.version;
    // Ask a pooled worker (spawned now, used afterwards) rather than a throwaway process.
    const proc = await this.acquire();
    try {
      this.version = await proc.ready;
    } finally {
      this.release(proc);
    }
    return this.version;
  }

  private spawn(): WorkerProcess {
    const proc = new WorkerProcess([...this.readDirs], this.generation);
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
