/**
 * The trainer's metric lines: their shapes, parsing a stdout line, reading a `metrics.jsonl`, splitting a byte
 * stream into lines, and the one-line console form of a metric.
 *
 * @module
 */

import { isObj } from "./guards.ts";

/** Any JSON object line the trainer prints on stdout (`type` tells which). */
export interface MetricLine {
  type: string;
  [key: string]: unknown;
}
/** One logging step of training. */
export interface TrainMetric extends MetricLine {
  type: "train";
  step: number;
  epoch: number | null;
  loss: number | null;
  lr: number | null;
  grad_norm: number | null;
  tokens_per_s: number | null;
  gpu_mem_gb: number | null;
}
/** One evaluation on `test.jsonl`. */
export interface EvalMetric extends MetricLine {
  type: "eval";
  step: number;
  epoch: number | null;
  eval_loss: number | null;
}
/** Narrows a metric line to a train step. */
export const isTrainMetric = (m: MetricLine): m is TrainMetric => m.type === "train";
/** Narrows a metric line to an evaluation. */
export const isEvalMetric = (m: MetricLine): m is EvalMetric => m.type === "eval";

/** The metric object on a line, or null for a log line (anything that is not a JSON object with a string `type`). */
export function parseMetricLine(line: string): MetricLine | null {
  const s = line.trim();
  if (!s.startsWith("{")) return null;
  try {
    const obj = JSON.parse(s);
    return isObj(obj) && typeof obj.type === "string" ? obj as MetricLine : null;
  } catch {
    return null;
  }
}

/**
 * Reads a metrics JSONL file (a run's `metrics.jsonl` or {@link SAMPLE_METRICS}) into an array, skipping log
 * lines and a torn last line.
 */
export async function readMetrics(file: string): Promise<MetricLine[]> {
  const text = await Deno.readTextFile(file);
  return text.split("\n").map(parseMetricLine).filter((m): m is MetricLine => m !== null);
}

/**
 * One metric as a console line: a train step's loss, learning rate, throughput and memory, or an eval's loss.
 *
 * @param m the metric
 * @returns the line
 */
export function formatMetricForConsole(m: MetricLine): string {
  const f = (v: unknown, d = 4) => typeof v === "number" ? v.toFixed(d) : String(v);
  if (isTrainMetric(m)) {
    return `step ${m.step}  epoch ${f(m.epoch, 2)}  loss ${f(m.loss)}  lr ${f(m.lr, 6)}  ${
      f(m.tokens_per_s, 0)
    } tok/s  ${f(m.gpu_mem_gb, 1)} GiB`;
  }
  if (isEvalMetric(m)) return `step ${m.step}  eval_loss ${f(m.eval_loss)}`;
  return JSON.stringify(m);
}
