/**
 * One worker process as the pool sees it: its sandboxed command line (read access to the database folders only,
 * the engine's own flags, a kernel-enforced data-segment limit, a parent-death signal), one request in flight,
 * and the statement timer, armed when the worker says the engine started a statement and killed when that runs
 * late. The worker is any module serving `worker_core.ts`'s protocol: `sqlite_worker.ts` by default.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { readLines } from "./json_lines.ts";
import {
  DEFAULT_WORKER_MEMORY,
  type ExecErr,
  type ExecResult,
  formatBytes,
  type ScoredOk,
} from "./pool_types.ts";

/** How long past the limit, after the worker said a statement started, the parent waits before it kills. */
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
  timer: ReturnType<typeof setTimeout> | null;
  timeoutS: number;
  /** Deliver a final message (score reply, exec list) or a failure of the whole request. */
  finish: (msg: Record<string, unknown> | ExecErr) => void;
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
  private pending: Pending | null = null;
  private nextId = 1;
  readonly ready: Promise<void>;
  private readyResolve!: () => void;
  private readyReject!: (e: Error) => void;
  dead = false;
  /** Why the worker could not start, as it said before exiting. */
  private fatal: string | null = null;
  onExit: () => void = () => {};

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
    this.readLoop();
    this.child.stderr.pipeTo(new WritableStream({ write() {} })).catch(() => {});
    this.child.status.then((s) => {
      this.dead = true;
      this.readyReject(
        new Error(
          `${this.label} exited during start-up (code ${s.code})${this.fatal ? `: ${this.fatal}` : ""}`,
        ),
      );
      const p = this.pending;
      if (p) {
        this.pending = null;
        if (p.timer !== null) clearTimeout(p.timer);
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
    if (typeof msg.fatal === "string") {
      this.fatal = msg.fatal;
      return;
    }
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
        timer: null,
        timeoutS: options.timeoutS,
        finish: (msg) => resolveRequest({ msg, started: p.started, results: p.results, partial: p.partial }),
      };
      this.pending = p;
      const line = encoder.encode(
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
