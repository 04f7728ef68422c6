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
 */
export async function runTraining(plan: TrainPlan, options: RunTrainingOptions = {}): Promise<TrainResult> {
  await Deno.mkdir(plan.outDir, { recursive: true });
  const metricsPath = path.join(plan.outDir, "metrics.jsonl");
  const logPath = path.join(plan.outDir, "train.log");
  const metricsFile = await Deno.open(metricsPath, { append: true, create: true });
  const logFile = await Deno.open(logPath, { append: true, create: true });
  const enc = new TextEncoder();
  const onLog = options.onLog ?? ((line: string) => console.error(line));
  const metrics: MetricLine[] = [];
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
    const out = (async () => {
      for await (const line of lines(child.stdout)) {
        const m = parseMetricLine(line);
        if (m) {
          // Written line by line, so a notebook (or tail -f) sees the run live and a crash loses nothing.
          await metricsFile.write(enc.encode(JSON.stringify(m) + "\n"));
          metrics.push(m);
          options.onMetric?.(m);
        } else if (line.trim()) {
          await logFile.write(enc.encode(line + "\n"));
          onLog(line, "stdout");
        }
      }
    })();
    const err = (async () => {
      for await (const line of lines(child.stderr)) {
        await logFile.write(enc.encode(line + "\n"));
        onLog(line, "stderr");
      }
    })();
    const [status] = await Promise.all([child.status, out, err]);
    options.signal?.removeEventListener("abort", kill);
    return { code: status.code, metrics, metricsPath, logPath };
  } finally {
    metricsFile.close();
    logFile.close();
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
