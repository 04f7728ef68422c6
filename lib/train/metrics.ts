/**
 * The trainer's metric lines: their shapes (SFT and GRPO train steps, evaluations), parsing a stdout line, reading a
 * `metrics.jsonl`, and the one-line console form of a metric.
 *
 * @module
 */

import { isObj } from "./guards.ts";

/** Any JSON object line the trainer prints on stdout (`type` tells which). */
export interface MetricLine {
  type: string;
  [key: string]: unknown;
}
/** What every logging step of training has, SFT or GRPO. */
interface StepMetric extends MetricLine {
  type: "train";
  step: number;
  epoch: number | null;
  loss: number | null;
  lr: number | null;
  grad_norm: number | null;
  gpu_mem_gb: number | null;
}
/** One logging step of training. */
export interface TrainMetric extends StepMetric {
  tokens_per_s: number | null;
}
/** One evaluation on `test.jsonl`. */
export interface EvalMetric extends MetricLine {
  type: "eval";
  step: number;
  epoch: number | null;
  eval_loss: number | null;
}
/**
 * One logging step of GRPO training (`trainer/text2sql_trainer/metrics.py`'s `grpo_metric_from_logs`): the SFT
 * step's loss, learning rate and gradient norm plus TRL's reward statistics. A field TRL did not log is `null`.
 *
 * Read as TRL computes them: `reward_std` is the standard deviation over the whole generation batch (high whenever
 * different prompts get different rewards, even when no prompt's group differs inside); the per-group signal is
 * `frac_reward_zero_std`, the share of prompts whose K completions all got the same reward (zero advantage, no
 * gradient from the reward: 1.0 means the step learned nothing from it). `kl` is the mean per-token KL to the
 * reference (the base with the adapter disabled), logged only with `beta` > 0.
 */
export interface GrpoTrainMetric extends StepMetric {
  /** Mean reward over the batch's completions. */
  reward: number | null;
  /** Standard deviation of the reward over the whole batch (not per group). */
  reward_std: number | null;
  /** Share of prompt groups whose completions all got the same reward (no learning signal from them). */
  frac_reward_zero_std: number | null;
  /** Share of completions scored correct since the previous line (the execution reward's own count). */
  frac_correct: number | null;
  /** Share of completions whose SQL executed since the previous line. */
  frac_executable: number | null;
  /** Mean per-token KL to the reference; `null` when TRL did not log it (`beta` 0). */
  kl: number | null;
  /** Mean completion length in tokens. */
  completion_length: number | null;
}
/** Narrows a metric line to a train step (SFT or GRPO). */
export const isTrainMetric = (m: MetricLine): m is TrainMetric => m.type === "train";
/** Narrows a metric line to a GRPO train step: a train line carrying TRL's `reward` (a number, or null when unlogged). */
export const isGrpoTrainMetric = (m: MetricLine): m is GrpoTrainMetric =>
  m.type === "train" && "reward" in m && (typeof m.reward === "number" || m.reward === null);
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
 * One metric as a console line: an SFT train step's loss, learning rate, throughput and memory; a GRPO train step's
 * loss, reward ± its batch std, share of prompt groups without signal, KL (`kl not logged` with `beta` 0) and gradient
 * norm; or an eval's loss.
 *
 * @param m the metric
 * @returns the line
 */
export function formatMetricForConsole(m: MetricLine): string {
  const f = (v: unknown, d = 4) => typeof v === "number" ? v.toFixed(d) : String(v);
  if (isGrpoTrainMetric(m)) {
    const zero = typeof m.frac_reward_zero_std === "number"
      ? `${(100 * m.frac_reward_zero_std).toFixed(0)}%`
      : String(m.frac_reward_zero_std);
    return `step ${m.step}  epoch ${f(m.epoch, 2)}  loss ${f(m.loss)}  reward ${f(m.reward, 3)} ± ${
      f(m.reward_std, 3)
    }  zero-std groups ${zero}  ${m.kl === null ? "kl not logged" : `kl ${f(m.kl, 5)}`}  grad ${
      f(m.grad_norm, 3)
    }`;
  }
  if (isTrainMetric(m)) {
    return `step ${m.step}  epoch ${f(m.epoch, 2)}  loss ${f(m.loss)}  lr ${f(m.lr, 6)}  ${
      f(m.tokens_per_s, 0)
    } tok/s  ${f(m.gpu_mem_gb, 1)} GiB`;
  }
  if (isEvalMetric(m)) return `step ${m.step}  eval_loss ${f(m.eval_loss)}`;
  return JSON.stringify(m);
}
