/**
 * Running a training plan: the trainer process started, its stdout metric lines streamed into
 * `<run>/metrics.jsonl` and to a callback, every other line into `<run>/train.log`.
 *
 * @module
 */

import * as path from "node:path";
import type { TrainPlan } from "./command.ts";
import { type MetricLine, parseMetricLine } from "./metrics.ts";

/** Callbacks of {@link runTraining}. */
export interface RunTrainingOptions {
  /** Called with each metric line as it arrives (the notebook's live loss chart). */
  onMetric?: (m: MetricLine) => void;
  /** Called with each non-metric line (stdout log lines and all of stderr); default: written to stderr. */
  onLog?: (line: string, stream: "stdout" | "stderr") => void;
  /** Aborting kills the trainer process (SIGTERM; the engine forwards it to the container). */
  signal?: AbortSignal;
}

/** The outcome of {@link runTraining}. */
export interface TrainResult {
  /** The trainer's exit code. */
  code: number;
  /** Metric lines received (also appended to `metricsPath`). */
  metrics: MetricLine[];
  metricsPath: string;
  logPath: string;
}

/**
 * Runs a plan's command, streaming stdout metric lines into `<outDir>/metrics.jsonl` (appended, so a resumed run
 * keeps its history) and to `onMetric`; every other line goes to `onLog` and `<outDir>/train.log`. Non-JSON
 * stdout lines (library prints) are tolerated. Does not check engines or GPUs: see {@link preflight}.
 *
 * Machine R > 0 of a run over several machines writes `metrics.machineR.jsonl` and `train.machineR.log`: the run
 * folder is shared, and two hosts appending to one file over a network file system can interleave mid-line.
 */
export async function runTraining(plan: TrainPlan, options: RunTrainingOptions = {}): Promise<TrainResult> {
  await Deno.mkdir(plan.outDir, { recursive: true });
  const suffix = plan.machine && plan.machine.rank > 0 ? `.machine${plan.machine.rank}` : "";
  const metricsPath = path.join(plan.outDir, `metrics${suffix}.jsonl`);
  const logPath = path.join(plan.outDir, `train${suffix}.log`);
  const sinks: Sinks = {
    metricsFile: await Deno.open(metricsPath, { append: true, create: true }),
    logFile: await Deno.open(logPath, { append: true, create: true }),
    metrics: [],
    onMetric: options.onMetric,
    onLog: options.onLog ?? ((line: string) => console.error(line)),
  };
  try {
    const child = new Deno.Command(plan.command[0], {
      args: plan.command.slice(1),
      env: plan.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const kill = () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
    };
    options.signal?.addEventListener("abort", kill, { once: true });
    const [status] = await Promise.all([
      child.status,
      pumpStdout(child.stdout, sinks),
      pumpStderr(child.stderr, sinks),
    ]);
    options.signal?.removeEventListener("abort", kill);
    return { code: status.code, metrics: sinks.metrics, metricsPath, logPath };
  } finally {
    sinks.metricsFile.close();
    sinks.logFile.close();
  }
}

/** Where a run's lines go: the two files, the metrics received, and the callbacks. */
interface Sinks {
  metricsFile: Deno.FsFile;
  logFile: Deno.FsFile;
  metrics: MetricLine[];
  onMetric?: (m: MetricLine) => void;
  onLog: (line: string, stream: "stdout" | "stderr") => void;
}

const encoder = new TextEncoder();

/** Metric lines to metrics.jsonl and `onMetric`; other non-blank stdout lines to train.log and `onLog`. */
async function pumpStdout(stream: ReadableStream<Uint8Array>, sinks: Sinks): Promise<void> {
  for await (const line of lines(stream)) {
    const m = parseMetricLine(line);
    if (m) {
      // Written line by line, so a notebook (or tail -f) sees the run live and a crash loses nothing.
      await sinks.metricsFile.write(encoder.encode(JSON.stringify(m) + "\n"));
      sinks.metrics.push(m);
      sinks.onMetric?.(m);
    } else if (line.trim()) {
      await sinks.logFile.write(encoder.encode(line + "\n"));
      sinks.onLog(line, "stdout");
    }
  }
}

/** Every stderr line to train.log and `onLog`. */
async function pumpStderr(stream: ReadableStream<Uint8Array>, sinks: Sinks): Promise<void> {
  for await (const line of lines(stream)) {
    await sinks.logFile.write(encoder.encode(line + "\n"));
    sinks.onLog(line, "stderr");
  }
}

/** The lines of a byte stream (a trailing `\r` dropped), the last one even without a newline. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i).replace(/\r$/, "");
      buf = buf.slice(i + 1);
    }
  }
  if (buf) yield buf;
}
