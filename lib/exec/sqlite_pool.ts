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
import { dirname, resolve } from "node:path";
import {
  DEFAULT_WORKER_MEMORY,
  type ExecErr,
  type ExecResult,
  formatBytes,
  GOLD_DIGEST_CHARS,
  type GoldDigest,
  MIN_WORKER_MEMORY,
  type PoolOptions,
  type ScoredOk,
  type ScoreOutcome,
  sqliteVersion,
} from "./pool_types.ts";
import { WorkerProcess } from "./worker_process.ts";

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
  private readonly goldDigestChars: number;
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
    this.goldDigestChars = options.goldDigestChars ?? GOLD_DIGEST_CHARS;
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
      // Only the digest is compared against: the cached shape and sample stay here.
      goldDigest: cached ? { digest: cached.digest } : null,
      maxBytes: this.maxBytes,
      sampleRows: this.sampleRows,
      goldDigestChars: this.goldDigestChars,
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
