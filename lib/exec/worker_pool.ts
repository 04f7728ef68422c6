/**
 * The pool every engine's workers share: persistent, sandboxed worker processes (`worker_process.ts`) speaking
 * `worker_core.ts`'s protocol, one request in flight per worker, a queue for the rest, and a fresh worker for one
 * killed at its time limit. What differs between engines is the worker script and its permissions
 * ({@linkcode WorkerPool.spec}) and how a question's database is named ({@linkcode WorkerPool.target}).
 *
 * @module
 */
import type { CatalogTable, Dialect, DigestOptions, EngineInfo, SqlEngine } from "./engine.ts";
import {
  DEFAULT_WORKER_MEMORY,
  type DigestResult,
  type ExecErr,
  type ExecResult,
  formatBytes,
  GOLD_DIGEST_CHARS,
  type GoldDigest,
  MIN_WORKER_MEMORY,
  type PoolOptions,
  type ScoredOk,
  type ScoreOutcome,
} from "./pool_types.ts";
import { isRequeued, WorkerProcess, type WorkerSpec } from "./worker_process.ts";

/** Most requests a worker holds at once. */
const MAX_PIPELINE = 32;
/** A worker is given as many requests as this much recent work (ms): deep for quick questions, one for slow. */
const PIPELINE_WINDOW_MS = 8;

const isFailure = (m: Record<string, unknown> | ExecErr): m is ExecErr => m.ok === false && "kind" in m;

/**
 * A pool of persistent worker processes serving `worker_core.ts`'s protocol: untrusted SQL in parallel, with a
 * hard time limit (SIGKILL, then a fresh worker), each worker under a kernel memory limit. An engine is this pool
 * plus its worker script and how it addresses databases ({@linkcode WorkerPool.spec},
 * {@linkcode WorkerPool.target}); see `sqlite_pool.ts`.
 */
export abstract class WorkerPool implements SqlEngine {
  abstract readonly dialect: Dialect;
  readonly workers: number;
  readonly timeoutS: number;
  readonly workerMemory: number;
  protected readonly maxBytes: number;
  protected readonly sampleRows: number;
  private readonly goldDigestChars: number;
  /** Bumped when workers must be replaced (new permissions): idle workers of an older generation are killed. */
  protected generation = 0;
  private procs: WorkerProcess[] = [];
  /** Requests handed to each worker and not finished. */
  private readonly assigned = new Map<WorkerProcess, number>();
  /** Recent time a request took in a worker (ms, a moving average): sets the pipeline's depth. */
  private recentMs = PIPELINE_WINDOW_MS;
  private queue: (() => void)[] = [];
  /** Which worker kept the digest of (target, statement) (`digest` with `keep`), oldest first, bounded. */
  private keptOn = new Map<string, WorkerProcess>();
  private closed = false;
  private closing: Promise<void> | null = null;

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

  /** What a new worker runs and may do. */
  protected abstract spec(): WorkerSpec;
  /** How this engine addresses a question's database. */
  abstract target(dbRoot: string, dbId: string): string;
  /** Declare the targets a run will use. */
  abstract allow(targets: string[]): void;
  /** The engine as `run.json` records it. */
  abstract info(): Promise<EngineInfo>;
  /** The gold cache's identity of a target's content, or null. */
  abstract contentKey(target: string): Promise<string | null>;
  /** The tables of a target's database. */
  abstract catalog(target: string): Promise<CatalogTable[]>;
  /**
   * A worker process has exited (killed at its time limit, died, or stopped by {@linkcode WorkerPool.close}): an
   * engine whose work outlives its worker (a server backend still running the query) ends it here.
   */
  protected workerGone(_proc: WorkerProcess): void {}

  /** The request's `db` field for a target (SQLite: the absolute path). */
  protected dbOf(target: string): string {
    return target;
  }

  /** Execute one statement read-only. Never throws for bad SQL: see {@linkcode ExecErr}. */
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
          db: this.dbOf(dbPath),
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
   * Run one statement and digest it inside a worker: its shape, a display sample of `sampleRows` rows and the set
   * digest of its distinct rows (`result_digest.ts` `setDigest`); no rows cross the pipe, whatever the result's
   * size, and the statement has the same time limit and worker memory limit as a scored one. With `keep`, the
   * worker keeps the digest, and a later `score(target, sql, {reuse: true})` goes to that worker and compares it
   * without running the statement again.
   */
  async digest(target: string, sql: string, options: DigestOptions = {}): Promise<DigestResult> {
    const timeoutS = options.timeoutS ?? this.timeoutS;
    const ran: { on: WorkerProcess | null; t0: number } = { on: null, t0: 0 };
    const out = await this.onWorker(target, (proc) => {
      ran.on = proc;
      ran.t0 = performance.now();
      return proc.request("digest", {
        db: this.dbOf(target),
        sql,
        keep: options.keep === true,
        sampleRows: options.sampleRows ?? this.sampleRows,
      }, { timeoutS, expected: 1 });
    });
    if (isFailure(out)) return out;
    const { msg } = out;
    if (isFailure(msg)) return msg;
    const r = msg.result as DigestResult;
    if (!r.ok) return { ...r, ms: performance.now() - ran.t0 };
    if (options.keep && ran.on) this.rememberKept(target, sql, ran.on);
    return { ...r, ms: performance.now() - ran.t0 };
  }

  private rememberKept(target: string, sql: string, proc: WorkerProcess): void {
    const key = `${target}\0${sql}`;
    this.keptOn.delete(key);
    this.keptOn.set(key, proc);
    // Only a hint (the worker may have let the digest go): a bounded map of the latest ones.
    for (const k of this.keptOn.keys()) {
      if (this.keptOn.size <= 4096) break;
      this.keptOn.delete(k);
    }
  }

  /**
   * Score a prediction against its gold query inside one worker: the prediction runs first; the gold query runs
   * only if it succeeded (as in the official script), unless `gold` is a cached {@linkcode GoldDigest}, which the
   * worker compares against instead. No rows cross the pipe: only shapes, samples, the verdict and Soft-F1.
   */
  async score(
    dbPath: string,
    predSql: string,
    options: { gold: string | GoldDigest | null; timeoutS?: number; reuse?: boolean },
  ): Promise<ScoreOutcome> {
    const timeoutS = options.timeoutS ?? this.timeoutS;
    const cached = typeof options.gold === "object" ? options.gold : null;
    const key = `${dbPath}\0${predSql}`;
    const holder = options.reuse ? this.keptOn.get(key) ?? null : null;
    this.keptOn.delete(key);
    const body = {
      db: this.dbOf(dbPath),
      pred: predSql,
      gold: typeof options.gold === "string" ? options.gold : null,
      // Only the digest is compared against: the cached shape and sample stay here.
      goldDigest: cached ? { digest: cached.digest } : null,
      maxBytes: this.maxBytes,
      sampleRows: this.sampleRows,
      goldDigestChars: this.goldDigestChars,
      reuse: holder !== null,
      goldSet: options.reuse === true,
    };
    const out = await this.onWorker(
      dbPath,
      (proc) => proc.request("score", body, { timeoutS, expected: 1 }),
      holder,
    );
    const none = { gold: cached, goldExecuted: false, goldSet: null, match: false, softF1: 0 };
    if (isFailure(out)) return { pred: out, ...none };
    const { msg, partial } = out;
    if (isFailure(msg)) {
      // Killed or died: during the gold query if the prediction's summary had arrived.
      if (!partial) return { pred: msg, ...none };
      return {
        pred: { ...partial.pred, ms: partial.ms },
        gold: msg,
        goldExecuted: true,
        goldSet: null,
        match: false,
        softF1: 0,
      };
    }
    const pred = (msg.pred ?? partial?.pred) as ScoredOk | (ExecErr & { execMs?: number });
    if (!pred.ok) return { pred: { ...pred, ms: pred.execMs ?? 0 }, ...none };
    const reused = (pred as { reused?: boolean }).reused === true;
    const predOut = { ...pred, ms: reused ? pred.execMs : partial?.ms ?? pred.execMs };
    delete (predOut as { reused?: boolean }).reused;
    if (!msg.gold) return { pred: predOut, ...none };
    const gold = msg.gold as GoldDigest | ExecErr;
    if (!gold.ok) {
      return {
        pred: predOut,
        gold: { ...gold, ms: gold.execMs ?? 0 },
        goldExecuted: true,
        goldSet: null,
        match: false,
        softF1: 0,
      };
    }
    return {
      pred: predOut,
      gold: cached ?? gold,
      goldExecuted: !cached,
      goldSet: typeof msg.goldSet === "string" ? msg.goldSet : null,
      match: msg.match === true,
      softF1: Number(msg.softF1),
    };
  }

  /**
   * Acquire a worker (`prefer` first, when it is alive and current), wait for it to start, run `fn` on it,
   * release it.
   */
  private async onWorker<T>(
    dbPath: string,
    fn: (proc: WorkerProcess) => Promise<T>,
    prefer: WorkerProcess | null = null,
  ): Promise<T | ExecErr> {
    if (this.closed) throw new Error(`${this.constructor.name} is closed`);
    this.allow([dbPath]);
    for (let first = true;; first = false) {
      const proc = first && prefer ? this.assignTo(prefer) ?? await this.assign() : await this.assign();
      let out: T;
      try {
        try {
          await proc.ready;
        } catch (e) {
          return { ok: false, kind: "error", error: (e as Error).message, ms: 0 };
        }
        out = await fn(proc);
      } finally {
        this.release(proc);
      }
      // Queued behind a request that killed its worker: it never ran, so it goes to another worker.
      if (!isRequeued(out)) return out;
    }
  }

  /** Replace the workers (after a change of permissions): idle ones now, busy ones when their work is done. */
  protected renew(): void {
    this.generation++;
    for (const p of this.procs) if (!this.assigned.get(p)) p.kill();
  }

  /**
   * Start the workers now rather than at the first request, so their start-up overlaps whatever the caller does
   * before it (a run reads its folder and writes `run.json` meanwhile).
   */
  warm(): void {
    if (this.closed) return;
    const live = this.procs.filter((p) => !p.dead && p.generation === this.generation).length;
    for (let i = live; i < this.workers && this.procs.filter((p) => !p.dead).length < this.workers; i++) {
      this.spawn();
    }
  }

  /** Process ids of the live workers (tests check that none outlives the pool or its parent). */
  pids(): number[] {
    return this.procs.filter((p) => !p.dead).map((p) => p.pid);
  }

  /**
   * How many requests a worker may hold at once: as many as fill {@linkcode PIPELINE_WINDOW_MS} of work at the
   * recent time per request (quick questions travel in batches, a write and a round trip spared each), one when
   * queries are slow (no question waits behind another's long query).
   */
  private depth(): number {
    return Math.max(
      1,
      Math.min(MAX_PIPELINE, Math.floor(PIPELINE_WINDOW_MS / Math.max(this.recentMs, 1e-3))),
    );
  }

  private spawn(): WorkerProcess {
    const proc = new WorkerProcess(this.spec(), this.generation, this.workerMemory);
    proc.onServed = (ms) => {
      this.recentMs += (ms - this.recentMs) * 0.1;
    };
    proc.onExit = () => {
      this.procs = this.procs.filter((p) => p !== proc);
      this.assigned.delete(proc);
      this.workerGone(proc);
      // A slot freed by a killed worker lets a queued request spawn a fresh one.
      this.wake();
    };
    this.procs.push(proc);
    this.assigned.set(proc, 0);
    return proc;
  }

  /** A worker for one more request: the least loaded under the pipeline depth, a new one while there is room. */
  private assign(): Promise<WorkerProcess> {
    const depth = this.depth();
    let best: WorkerProcess | null = null;
    for (const p of this.procs) {
      if (p.dead || p.generation !== this.generation) continue;
      const load = this.assigned.get(p) ?? 0;
      if (load < depth && (!best || load < (this.assigned.get(best) ?? 0))) best = p;
    }
    const live = this.procs.filter((p) => !p.dead).length;
    if ((!best || (this.assigned.get(best) ?? 0) > 0) && live < this.workers) best = this.spawn();
    if (best) {
      this.assigned.set(best, (this.assigned.get(best) ?? 0) + 1);
      return Promise.resolve(best);
    }
    return new Promise((res) => this.queue.push(() => res(this.assign())));
  }

  /**
   * This worker for one more request, whatever its load (it holds what the request needs: a kept digest), when
   * it is alive and current; else null. The request waits in its pipeline behind the ones before it.
   */
  private assignTo(proc: WorkerProcess): WorkerProcess | null {
    if (proc.dead || proc.generation !== this.generation || !this.procs.includes(proc)) return null;
    this.assigned.set(proc, (this.assigned.get(proc) ?? 0) + 1);
    return proc;
  }

  private release(proc: WorkerProcess): void {
    const load = (this.assigned.get(proc) ?? 1) - 1;
    if (!proc.dead) this.assigned.set(proc, load);
    if (proc.dead || this.closed) return;
    if (proc.generation !== this.generation && load === 0) {
      proc.kill();
      return;
    }
    this.wake();
  }

  /** Let a waiting request try again. */
  private wake(): void {
    const next = this.queue.shift();
    if (next) next();
  }

  /** Stop every worker (once: a second call waits for the first). */
  close(): Promise<void> {
    return this.closing ??= this.stopWorkers();
  }

  private async stopWorkers(): Promise<void> {
    this.closed = true;
    // Every worker at once: each waits for its own exit, not for the others'.
    await Promise.all([...this.procs].map(async (p) => {
      await p.closeInput();
      p.kill();
      await p.child.status;
      try {
        await p.child.stdout.cancel();
      } catch { /* stream already consumed */ }
    }));
  }
}
