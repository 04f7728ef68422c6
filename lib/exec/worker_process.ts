/**
 * One worker process as the pool sees it: its sandboxed command line (read access to the database folders only,
 * the engine's own flags, a kernel-enforced data-segment limit, a parent-death signal), one request in flight,
 * and the statement timer, armed when the worker says the engine started a statement and killed when that runs
 * late. The worker is any module serving `worker_core.ts`'s protocol: `sqlite_worker.ts` by default.
 *
 * @module
 */
import { existsSync } from "../util/mod.ts";
import { readLines } from "./json_lines.ts";
import {
  DEFAULT_WORKER_MEMORY,
  type ExecErr,
  type ExecResult,
  formatBytes,
  type ScoredOk,
} from "./pool_types.ts";

/**
 * How long past the limit the parent waits before it kills, counted from the last message of the worker (or the
 * request): the worker tells a statement's start whenever it was silent for 100 ms or more before it.
 */
const KILL_SLACK_MS = 1000;

interface Pending {
  id: number;
  op: "exec" | "score" | "digest";
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
  timeoutS: number;
  /** Deliver a final message (score reply, exec list) or a failure of the whole request. */
  finish: (msg: Record<string, unknown> | ExecErr) => void;
}

/**
 * The failure given to requests queued behind one that killed its worker: they never started, and the pool sends
 * them to another worker ({@linkcode isRequeued}).
 */
const REQUEUE: ExecErr & { requeue: true } = {
  ok: false,
  kind: "error",
  error: "worker stopped before this request started",
  ms: 0,
  requeue: true,
};

/** Whether a request's outcome says it never ran and must be sent to another worker. */
export function isRequeued(out: unknown): boolean {
  return (out as { msg?: { requeue?: boolean } } | null)?.msg?.requeue === true;
}

const encoder = new TextEncoder();

/** The SQLite worker, the default script. */
export const SQLITE_WORKER: URL = new URL("./sqlite_worker.ts", import.meta.url);

/** What a worker process runs and may do. */
export interface WorkerSpec {
  /** The worker module (one that calls `serveWorker`). */
  script: URL;
  /** The worker as messages name it (`SQLite worker`, `PostgreSQL worker`). */
  label: string;
  /** Folders the worker may read. */
  readDirs: string[];
  /** Further deno flags: permissions beyond reading (e.g. `--allow-net=127.0.0.1:5432`) or a config. */
  flags?: string[];
  /** Sent as the first line on the worker's stdin (e.g. a connection URL, never put on a command line). */
  init?: Record<string, unknown>;
}

function findTool(name: string): string | null {
  for (const dir of ["/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin", "/sbin"]) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return null;
}

/**
 * The worker's deno command line: read access to the database folders and no other permission (no write, net,
 * env, run or ffi) unless the spec's flags grant one, and a V8 heap limit inside the process's memory limit.
 * Without a config among the flags, no config or lock file is read (the SQLite worker imports nothing from npm).
 */
export function workerArgs(
  readDirs: string[],
  workerMemory: number = DEFAULT_WORKER_MEMORY,
  options: { script?: URL; flags?: string[] } = {},
): string[] {
  const script = options.script ?? SQLITE_WORKER;
  const flags = options.flags ?? [];
  const configured = flags.some((f) => f.startsWith("--config"));
  return [
    "run",
    ...(configured ? [] : ["--no-config", "--no-lock"]),
    "--no-prompt",
    `--v8-flags=--max-old-space-size=${Math.max(256, Math.floor(workerMemory / 2 / 1024 ** 2))}`,
    "--quiet",
    ...(readDirs.length ? [`--allow-read=${readDirs.join(",")}`] : []),
    ...flags,
    script.protocol === "file:" ? script.pathname : script.href,
  ];
}

/**
 * The full command: `sh -c 'ulimit -d …; exec setpriv --pdeathsig KILL -- deno …'`. `ulimit -d` rather than
 * `prlimit`: util-linux's prlimit crashes on some kernels, and an address-space limit (`-v`) makes V8 abort at
 * start. Without setpriv, the worker still exits at stdin EOF (when idle).
 */
function workerCommand(spec: WorkerSpec, workerMemory: number): { cmd: string; args: string[] } {
  const deno = [Deno.execPath(), ...workerArgs(spec.readDirs, workerMemory, spec)];
  const setpriv = findTool("setpriv");
  const sh = findTool("sh");
  if (!sh) return { cmd: deno[0], args: deno.slice(1) };
  const kb = Math.floor(workerMemory / 1024);
  const exec = setpriv ? `exec ${setpriv} --pdeathsig KILL -- "$@"` : `exec "$@"`;
  return { cmd: sh, args: ["-c", `ulimit -d ${kb} && ${exec}`, "t2s-worker", ...deno] };
}

/** A live worker: spawn it, send it one request at a time, kill it. */
export class WorkerProcess {
  readonly child: Deno.ChildProcess;
  readonly generation: number;
  private writer: WritableStreamDefaultWriter<Uint8Array>;
  /**
   * Requests sent and not finished, in the order the worker runs them: the first is running, the others wait in
   * the worker's input. Several at once (a pipeline) spare a round trip and a write per quick question.
   */
  private inflight: Pending[] = [];
  /** Request lines written together at the end of the current task (one write for a batch). */
  private outLines: string[] = [];
  private nextId = 1;
  readonly ready: Promise<void>;
  private readyResolve!: () => void;
  private readyReject!: (e: Error) => void;
  dead = false;
  /** Why the worker could not start, as it said before exiting. */
  private fatal: string | null = null;
  onExit: () => void = () => {};
  /** The worker's latest note (`worker_core.ts`'s `note`): e.g. the server backend it is connected to. */
  note: Record<string, unknown> | null = null;
  /** Whether it was killed at a time limit or died with a request in flight (its engine may still be busy). */
  lostWork = false;
  /**
   * The statement timer: when the head request's statement runs past its limit (parent clock), and the one timer
   * that checks it. Restarting the clock only moves the deadline; the timer, when it fires early, waits for the
   * rest (a timer set and cleared per message and per request cost more than the quick questions it watched).
   */
  private deadline = Infinity;
  private watch: ReturnType<typeof setTimeout> | null = null;
  /** Told the time each request took once it was the worker's (ms), for the pool's pipeline depth. */
  onServed: (ms: number) => void = () => {};

  private readonly label: string;

  constructor(spec: WorkerSpec, generation: number, private readonly memory: number) {
    this.generation = generation;
    this.label = spec.label;
    this.ready = new Promise((res, rej) => {
      this.readyResolve = res;
      this.readyReject = rej;
    });
    this.ready.catch(() => {});
    const { cmd, args } = workerCommand(spec, memory);
    this.child = new Deno.Command(cmd, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
      clearEnv: true,
    }).spawn();
    this.writer = this.child.stdin.getWriter();
    if (spec.init) this.writer.write(encoder.encode(JSON.stringify(spec.init) + "\n")).catch(() => {});
    const reading = this.readLoop();
    this.child.stderr.pipeTo(new WritableStream({ write() {} })).catch(() => {});
    this.child.status.then((s) => {
      this.dead = true;
      this.unwatch();
      // Why it could not start (its `fatal` line) may still be in the pipe when the exit is seen: read to the
      // end of its output (bounded) before saying why, or the reason is lost at random.
      let timer: ReturnType<typeof setTimeout> | undefined;
      Promise.race([reading, new Promise((r) => (timer = setTimeout(r, 2000)))]).finally(() => {
        clearTimeout(timer);
        this.readyReject(
          new Error(
            `${this.label} exited during start-up (code ${s.code})${this.fatal ? `: ${this.fatal}` : ""}`,
          ),
        );
      });
      const [p, ...queued] = this.inflight;
      if (p) this.lostWork = true;
      this.inflight = [];
      for (const q of queued) q.finish(REQUEUE);
      if (p) {
        // The worker dies on its own only when it runs out of memory (an allocation failure aborts V8).
        p.finish({
          ok: false,
          kind: "too_large",
          error:
            `${this.label} died (exit code ${s.code}${s.signal ? `, ${s.signal}` : ""}): out of memory, ` +
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

  private async readLoop(): Promise<void> {
    try {
      await readLines(this.child.stdout, (line) => this.handle(JSON.parse(line)));
    } catch {
      // The process was killed: status handling reports it.
    }
  }

  private handle(msg: Record<string, unknown>): void {
    if (msg.note && typeof msg.note === "object") {
      this.note = msg.note as Record<string, unknown>;
      return;
    }
    if (typeof msg.fatal === "string") {
      this.fatal = msg.fatal;
      return;
    }
    if (msg.ready) {
      this.readyResolve();
      return;
    }
    const p = this.inflight[0];
    if (!p || msg.id !== p.id) return;
    if (msg.start) {
      p.started++;
      this.rearm(p);
      return;
    }
    if (msg.end) {
      // The next statement may start without a word: the timer runs again from here.
      this.rearm(p);
      return;
    }
    if (msg.partial) {
      p.partial = { pred: msg.pred as ScoredOk, ms: performance.now() - p.sent };
      return;
    }
    if (typeof msg.error === "string") {
      this.done(p, { ok: false, kind: "error", error: msg.error, ms: performance.now() - p.sent });
      return;
    }
    if (p.op === "exec") {
      const r = msg.result as ExecResult;
      const result = { ...r, ms: performance.now() - p.sent } as ExecResult;
      p.results.push(result);
      if (!result.ok || p.results.length === p.expected) this.done(p, { results: p.results });
      return;
    }
    this.done(p, msg);
  }

  /** The head request finished: deliver it; the next one starts in the worker now. */
  private done(p: Pending, msg: Record<string, unknown> | ExecErr): void {
    this.inflight.shift();
    this.onServed(performance.now() - p.sent);
    const next = this.inflight[0];
    if (next) {
      next.sent = performance.now();
      this.rearm(next);
    }
    p.finish(msg);
  }

  /** Requests sent to this worker and not finished (the pool balances on it). */
  get load(): number {
    return this.inflight.length;
  }

  /** Restart the head request's statement timer from now: its limit plus slack for a busy parent. */
  private rearm(p: Pending): void {
    p.runningSince = performance.now();
    this.deadline = p.runningSince + p.timeoutS * 1000 + KILL_SLACK_MS;
    if (this.watch === null) this.arm(this.deadline - p.runningSince);
  }

  /**
   * Check the deadline in `ms`. Unreferenced: it never keeps the process alive by itself (a live worker and its
   * pending read do while a request is in flight).
   */
  private arm(ms: number): void {
    this.watch = setTimeout(() => this.check(), ms);
    Deno.unrefTimer(this.watch as unknown as number);
  }

  private unwatch(): void {
    if (this.watch !== null) clearTimeout(this.watch);
    this.watch = null;
  }

  /** Kill the worker if the head request's statement has run past its deadline; else check again then. */
  private check(): void {
    this.watch = null;
    const p = this.inflight[0];
    if (!p || this.dead) return;
    const left = this.deadline - performance.now();
    if (left > 0) {
      this.arm(left);
      return;
    }
    // Every reply of the requests before it was written before this statement started (`worker_core.ts`):
    // the head is the one running. Those behind it never started.
    const queued = this.inflight.slice(1);
    this.lostWork = true;
    this.inflight = [];
    this.kill();
    for (const q of queued) q.finish(REQUEUE);
    this.onServed(performance.now() - p.sent);
    p.finish({
      ok: false,
      kind: "timeout",
      error: `query timed out after ${p.timeoutS} s`,
      ms: performance.now() - p.sent,
      execMs: performance.now() - (p.runningSince ?? p.sent),
    });
  }

  /**
   * Send one request (behind those in flight); resolves with the worker's final message or a failure of the
   * request. Requests sent in the same task go out in one write.
   */
  request(
    op: "exec" | "score" | "digest",
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
        timeoutS: options.timeoutS,
        finish: (msg) => {
          resolveRequest({ msg, started: p.started, results: p.results, partial: p.partial });
        },
      };
      if (this.dead) {
        p.finish(REQUEUE);
        return;
      }
      this.inflight.push(p);
      // The first statement starts as soon as the worker reads this: time it from here.
      if (this.inflight.length === 1) this.rearm(p);
      this.outLines.push(
        JSON.stringify({ id, op, timeoutS: options.timeoutS, heapLimit: this.memory / 2, ...body }) + "\n",
      );
      if (this.outLines.length === 1) queueMicrotask(() => this.writeOut());
    });
  }

  private writeOut(): void {
    const text = this.outLines.length === 1 ? this.outLines[0] : this.outLines.join("");
    this.outLines = [];
    this.writer.write(encoder.encode(text)).catch(() => {/* death is reported by status */});
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
    this.unwatch();
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
