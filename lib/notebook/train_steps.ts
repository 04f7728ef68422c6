/**
 * `05`'s steps: the training plan as `deno task train --dry-run` builds it, a real run streaming metrics, the replay of
 * a recorded stream, and the charts (loss; for GRPO, reward and learning signal) and metric tables that show either.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import {
  buildTrainCommand,
  DEFAULT_TRAIN_CONFIG,
  detectRuntime,
  isGrpoTrainMetric,
  loadTrainConfig,
  type MetricLine,
  preflight,
  readMetrics as readTrainerMetrics,
  runTraining,
  systemProbe,
  type TrainConfig,
  TrainerError,
  type TrainPlan,
  validateDataset,
} from "../train/mod.ts";
import { grpoMetricsChart, lossCurveChart } from "../look/mod.ts";
import { exists } from "../util/mod.ts";
import { displayBundle, inNotebook, type MediaBundle, showTable } from "./display.ts";
import { type NotebookParams, SAMPLE_METRICS } from "./params.ts";
import { runSlug } from "./selection.ts";
import { notebookStep } from "./stop.ts";
import { datasetDir } from "./dataset_steps.ts";

/** What the bundled metrics streams are, by file name, for the chart's title (their start lines do not say). */
const KNOWN_STREAMS: Record<string, string> = {
  "metrics_cpu_tiny.jsonl":
    "a real trainer run, but of a tiny random 2-layer Llama on CPU, 8 conversations, " +
    "40 steps: it shows the pipeline, not an 8B model's loss",
  "metrics_grpo_cpu_tiny.jsonl":
    "a real GRPO run of the trainer, but of a tiny random 2-layer Llama on CPU, 4 steps of 2 prompts × 4 " +
    "completions: it shows the reward pipeline and charts, not an 8B model's rewards",
};

/** What `05` will train: the config, the dataset and the resolved command. */
export interface NotebookTrainPlan {
  configPath: string;
  config: TrainConfig;
  datasetDir: string;
  counts: { train: number; test: number };
  plan: TrainPlan;
}

/**
 * Validates the trainer config and the dataset and builds the training command, as `deno task train --dry-run`
 * does (no engine, GPU or token is checked). The dataset is `03`'s output when it exists, else the config's
 * `dataset_dir` (the trainer's bundled sample); a GRPO config always takes its `dataset_dir` (prompt rows, not
 * `03`'s conversations); the run folder is `<runsDir>/train/<config name>` (fixed, so a rerun resumes its checkpoints).
 *
 * @param params Notebook parameters (`trainConfig`, `runsDir`).
 * @returns The plan.
 * @throws {NotebookStop} For an invalid config or dataset: one line naming the parameter to change.
 */
export function notebookTrainPlan(params: NotebookParams): Promise<NotebookTrainPlan> {
  return notebookStep(() => trainPlan(params));
}

async function trainPlan(params: NotebookParams): Promise<NotebookTrainPlan> {
  const configPath = params.trainConfig ?? DEFAULT_TRAIN_CONFIG;
  const config = await loadTrainConfig(configPath);
  const grpo = config.method === "grpo";
  const sft = datasetDir(params, "sft");
  // 03 builds SFT conversations; a GRPO config trains on prompt rows (`deno task sft --format grpo`): its own dataset.
  const fromSft = !grpo && await exists(join(sft, "train.jsonl"));
  const dir = fromSft ? sft : config.dataset_dir ?? sft;
  const counts = await validateDataset(dir, { requireTest: !grpo, grpo });
  const runtime = params.trainRun ? await detectRuntime() ?? "docker" : "docker";
  const plan = buildTrainCommand(config, {
    runtime,
    configPath,
    datasetDir: dir,
    outDir: join(params.runsDir, "train", runSlug(config.name)),
  });
  return { configPath, config, datasetDir: dir, counts, plan };
}

/**
 * A config flattened to `{setting, value}` rows (`lora.r`, `training.learning_rate`, …) for a table.
 *
 * @param config A validated config.
 */
export function configRows(config: TrainConfig): { setting: string; value: string }[] {
  const rows: { setting: string; value: string }[] = [];
  const walk = (prefix: string, value: unknown) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(prefix ? `${prefix}.${k}` : k, v);
    } else rows.push({ setting: prefix, value: Array.isArray(value) ? value.join(", ") : String(value) });
  };
  walk("", config);
  return rows;
}

/**
 * Runs the training for real: checks the engine, GPU and token (`preflight`), builds the image when missing,
 * then streams metrics to `onMetric` as they come.
 *
 * @param p The plan from {@linkcode notebookTrainPlan}.
 * @param onMetric Called per metric line (the live chart).
 * @returns The metric lines; throws when the trainer fails.
 */
export async function trainInNotebook(
  p: NotebookTrainPlan,
  onMetric: (m: MetricLine) => void,
): Promise<MetricLine[]> {
  await preflight(p.config, p.plan.runtime);
  await Deno.mkdir(p.plan.outDir, { recursive: true });
  await Deno.mkdir(p.plan.hfCache, { recursive: true });
  if (
    p.plan.build && p.plan.image &&
    !(await systemProbe(p.plan.runtime, ["image", "inspect", p.plan.image])).ok
  ) {
    const built = await new Deno.Command(p.plan.build[0], { args: p.plan.build.slice(1) }).spawn().status;
    if (!built.success) throw new TrainerError(`image build failed (exit ${built.code})`, 1);
  }
  const result = await runTraining(p.plan, { onMetric });
  if (result.code !== 0) {
    throw new TrainerError(`the trainer exited with code ${result.code} (see ${result.logPath})`, 1);
  }
  return result.metrics;
}

/**
 * Feeds a recorded metrics stream through the same callback a live run uses, so the live chart is exercised
 * without a GPU (the CI path of `05`).
 *
 * @param file A metrics JSONL file (e.g. `trainer/fixtures/metrics_cpu_tiny.jsonl`).
 * @param onMetric Called per metric line, in order.
 * @returns The metric lines.
 */
export async function replayMetrics(file: string, onMetric: (m: MetricLine) => void): Promise<MetricLine[]> {
  const metrics = await readTrainerMetrics(file);
  for (const m of metrics) onMetric(m);
  return metrics;
}

/** Charts that redraw in place as metrics arrive; see {@linkcode liveLossChart} and {@linkcode liveTrainingCharts}. */
export interface LiveLossChart {
  /** Adds a metric line; redraws at most about once a second. */
  onMetric(m: MetricLine): void;
  /** Draws the final charts and waits for pending redraws. */
  finish(): Promise<void>;
  /** The metric lines so far. */
  readonly metrics: MetricLine[];
}

/** One live display: its bundle for the metrics so far, or null while it has nothing to show (it is not shown yet). */
type LiveView = (metrics: MetricLine[]) => MediaBundle | null;

/**
 * Views shown once each and updated in place through a Jupyter `display_id`, so a long run shows one chart per view
 * that grows rather than hundreds. Outside a notebook nothing is drawn.
 */
function liveViews(views: LiveView[], options: { intervalMs?: number }): LiveLossChart {
  // Through display.ts's backend, so `setDisplayBackend` reaches these charts like every other display.
  const inKernel = inNotebook();
  const shown = views.map(() => ({ id: `t2s-live-${crypto.randomUUID()}`, shown: false }));
  const metrics: MetricLine[] = [];
  const interval = options.intervalMs ?? 1000;
  let last = -Infinity;
  let chain = Promise.resolve();
  const draw = () => {
    last = performance.now();
    views.forEach((view, i) => {
      const bundle = view(metrics);
      if (bundle === null) return;
      const update = shown[i].shown;
      shown[i].shown = true;
      chain = chain.then(async () => {
        await displayBundle(bundle, { display_id: shown[i].id, update });
      });
    });
  };
  return {
    metrics,
    onMetric(m) {
      metrics.push(m);
      if (inKernel && performance.now() - last >= interval) draw();
    },
    async finish() {
      if (inKernel) draw();
      await chain;
    },
  };
}

const lossView = (title: string): LiveView => (metrics) => ({
  "text/html": lossCurveChart(metrics, { title }),
  "text/plain": `[chart: ${title}, ${metrics.filter((m) => m.type === "train").length} steps]`,
});

/** The GRPO panels, shown from the first GRPO step on: an SFT stream never shows them. */
const grpoView = (title: string): LiveView => (metrics) => {
  const steps = metrics.filter(isGrpoTrainMetric);
  if (steps.length === 0) return null;
  const kl = steps.some((m) => typeof m.kl === "number") ? "kl" : "kl not logged (beta 0)";
  return {
    "text/html": grpoMetricsChart(metrics, { title }),
    "text/plain":
      `[chart: ${title}, ${steps.length} steps: reward ± batch std, frac_reward_zero_std, ${kl}, grad_norm]`,
  };
};

/**
 * A training-loss chart (`lossCurveChart` of `lib/look/charts.ts`) shown once and updated in place through a Jupyter
 * `display_id`, so a long run shows one chart that grows rather than hundreds. Outside a notebook nothing is drawn.
 *
 * @param title Chart title.
 * @param options `intervalMs` between redraws (default 1000).
 */
export function liveLossChart(title = "Training loss", options: { intervalMs?: number } = {}): LiveLossChart {
  return liveViews([lossView(title)], options);
}

/**
 * The live loss chart of {@linkcode liveLossChart} and, once a GRPO step arrives, a second display updated in place
 * the same way: `grpoMetricsChart`'s panels (reward ± the batch's `reward_std`, `frac_reward_zero_std`, KL or a note
 * that it is not logged, `grad_norm`). An SFT stream shows the loss chart alone, exactly as `liveLossChart` does.
 *
 * @param titles The loss chart's title and the GRPO panels' title.
 * @param options `intervalMs` between redraws (default 1000).
 */
export function liveTrainingCharts(
  titles: { loss: string; grpo: string },
  options: { intervalMs?: number } = {},
): LiveLossChart {
  return liveViews([lossView(titles.loss), grpoView(titles.grpo)], options);
}

/** The columns of an SFT train step's table. */
const SFT_TRAIN_COLUMNS = ["step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "gpu_mem_gb"];
/** The columns of a GRPO train step's table: TRL's reward statistics first (no `tokens_per_s`: GRPO has none). */
const GRPO_TRAIN_COLUMNS = [
  "step",
  "epoch",
  "loss",
  "reward",
  "reward_std",
  "frac_reward_zero_std",
  "frac_correct",
  "frac_executable",
  "kl",
  "completion_length",
  "grad_norm",
  "lr",
  "gpu_mem_gb",
];
/** GRPO columns dropped from a table when no row has a value (e.g. `kl` with `beta` 0). */
const GRPO_OPTIONAL = new Set(["frac_correct", "frac_executable", "kl", "completion_length"]);

/**
 * Metric lines of one type as table rows with the columns that matter for it.
 *
 * @param metrics Lines from a run or a replay.
 * @param type `eval` (step, epoch, eval_loss) or `train`: an SFT stream's step, epoch, loss, lr, grad_norm,
 *   tokens_per_s, gpu_mem_gb; a GRPO stream's step, epoch, loss, reward, reward_std, frac_reward_zero_std,
 *   frac_correct, frac_executable, kl, completion_length, grad_norm, lr, gpu_mem_gb (of the last four GRPO
 *   fields, those no row has are left out: `kl` with `beta` 0).
 * @param last Keep only the last N rows.
 */
export function metricRows(
  metrics: MetricLine[],
  type: "train" | "eval",
  last?: number,
): Record<string, unknown>[] {
  const lines = metrics.filter((m) => m.type === type);
  const kept = last === undefined ? lines : lines.slice(-last);
  const grpo = type === "train" && kept.some(isGrpoTrainMetric);
  const columns = type === "eval"
    ? ["step", "epoch", "eval_loss"]
    : grpo
    ? GRPO_TRAIN_COLUMNS.filter((c) => !GRPO_OPTIONAL.has(c) || kept.some((m) => m[c] != null))
    : SFT_TRAIN_COLUMNS;
  return kept.map((m) => Object.fromEntries(columns.map((c) => [c, m[c] ?? null])));
}

/**
 * Shows {@linkcode metricRows} as a table, or one line when the stream has no line of that type (a GRPO run
 * evaluates no test loss).
 *
 * @param metrics Lines from a run or a replay.
 * @param type `train` or `eval`.
 * @param last Keep only the last N rows.
 */
export async function showMetricRows(
  metrics: MetricLine[],
  type: "train" | "eval",
  last?: number,
): Promise<void> {
  const rows = metricRows(metrics, type, last);
  if (rows.length === 0) console.log(`no ${type} lines in this metrics stream`);
  else await showTable(rows);
}

/**
 * What a recorded metrics stream is, for the title of the chart that replays it: the `note` of its `start` line
 * when the recording says what it is (e.g. illustrative values), else the model, method and size it records.
 *
 * @param file A metrics JSONL file.
 * @returns A short description naming the file.
 */
export function metricsLabel(file: string): string {
  let start: Record<string, unknown> = {};
  try {
    const first = Deno.readTextFileSync(file).split("\n").find((l) => l.trim()) ?? "{}";
    start = JSON.parse(first) as Record<string, unknown>;
  } catch {
    // An unreadable file is reported by the replay itself; the title only names it.
  }
  const name = basename(file);
  const known = dirname(file) === dirname(SAMPLE_METRICS) ? KNOWN_STREAMS[name] : undefined;
  if (known) return `${name} (${known})`;
  if (start.type !== "start") return name;
  if (typeof start.note === "string" && start.note) return `${name} (${start.note})`;
  const parts = [start.base_model, start.method, start.train_examples && `${start.train_examples} examples`]
    .filter((p) => typeof p === "string" || typeof p === "number");
  return parts.length ? `${name} (a recorded run: ${parts.join(", ")})` : name;
}
