/**
 * A trainer's metrics stream (`metrics.jsonl` or its stdout) as the records a loss chart can plot.
 *
 * @module
 */
import { join } from "node:path";
import { parseMetricLine } from "../train/mod.ts";

/** One line of a trainer's `metrics.jsonl`. */
export type MetricRecord =
  | {
    type: "train";
    step: number;
    epoch: number;
    loss: number;
    lr?: number;
    grad_norm?: number;
    tokens_per_s?: number;
    gpu_mem_gb?: number;
  }
  | { type: "eval"; step: number; epoch: number; eval_loss: number };

/**
 * Parses a metrics stream (the text of `metrics.jsonl` or a trainer's stdout): JSON lines of type `train` or
 * `eval` are kept, anything else (log lines, a torn last line) is skipped.
 */
export function parseMetrics(text: string): MetricRecord[] {
  // The trainer's own line parser (log lines and a half-written last line give null), then only the records whose
  // step and loss are numbers: a chart cannot plot the rest.
  return text.split("\n").map(parseMetricLine).filter((m): m is MetricRecord =>
    typeof m?.step === "number" &&
    (m.type === "train" ? typeof m.loss === "number" : m.type === "eval" && typeof m.eval_loss === "number")
  );
}

/** Reads `metrics.jsonl` from a file or a training output folder (see {@link parseMetrics}). */
export function readMetrics(path: string): MetricRecord[] {
  const file = Deno.statSync(path).isDirectory ? join(path, "metrics.jsonl") : path;
  return parseMetrics(Deno.readTextFileSync(file));
}
