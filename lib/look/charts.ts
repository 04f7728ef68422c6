/**
 * Charts over run frames with Observable Plot, rendered server-side on a linkedom document. Each function returns
 * the HTML of one `<figure>` holding an inline SVG (no script, no network, no web font): the same string goes to a
 * notebook (as `text/html`, since nbconvert's HTML export drops `image/svg+xml`) and into the HTML report.
 *
 * linkedom cannot measure text, so Plot cannot size margins from tick labels: every chart sets its margins from
 * an estimate of the longest label.
 *
 * @module
 */

import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import type pl from "nodejs-polars";
import {
  accuracyByDatabase,
  accuracyByDifficulty,
  DIFFICULTIES,
  errorTable,
  tokenUsage,
} from "./analysis.ts";
import { ERROR_KINDS } from "./error_taxonomy.ts";
import { escapeHtml } from "./html.ts";
import type { VotingRow } from "./mode_analysis.ts";
import { type GrpoTrainMetric, isGrpoTrainMetric, type MetricLine } from "../train/mod.ts";

/** Options shared by the chart functions. */
export interface ChartOptions {
  /** Title above the chart (each chart has a default). */
  title?: string;
  /** Caption under the chart. */
  caption?: string;
  /** Width in px (default 720). */
  width?: number;
}

/** Colours per error kind: green for correct, warm for wrong results, reds for SQL errors, greys for the rest. */
const KIND_COLORS: Record<string, string> = {
  correct: "#3ca951",
  "wrong:values": "#efb118",
  "wrong:row_count": "#f4c95d",
  "wrong:column_count": "#d98c2b",
  "wrong:empty_result": "#ffd8a8",
  "sql_error:no_such_column": "#ff725c",
  "sql_error:no_such_table": "#c94040",
  "sql_error:syntax": "#ff9b8a",
  "sql_error:other": "#8f2d2d",
  timeout: "#a463f2",
  generation_error: "#9c9c9c",
  gold_error: "#404040",
};

/** Rough width in px of a label at Plot's 10px system-ui font; generous, since clipping is worse than space. */
function textWidth(s: string): number {
  return Math.ceil(s.length * 6.2) + 4;
}

/** A fresh linkedom document per chart: Plot appends style elements to it, so sharing one would leak state. */
function newDocument(): PlotDocument {
  const { document } = parseHTML("<!doctype html><html><head></head><body></body></html>") as unknown as {
    document: PlotDocument;
  };
  return document;
}

/** Plot's `document` option type (a DOM Document, which Deno's lib does not declare). */
type PlotDocument = NonNullable<Plot.PlotOptions["document"]>;

/** The little of a DOM element used here. */
interface Element {
  outerHTML: string;
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
}

/** Renders a Plot spec to a `<figure>` string tagged with `data-chart` (tests and the report find charts by it). */
function render(kind: string, spec: Plot.PlotOptions): string {
  const document = newDocument();
  const node = Plot.plot({ ...spec, figure: true, document }) as unknown as Element;
  node.setAttribute("class", `${node.getAttribute("class") ?? ""} t2s-chart`.trim());
  node.setAttribute("data-chart", kind);
  return node.outerHTML;
}

/** A figure with a message and no marks, for data that is not there yet (a run without tokens, no metrics). */
function emptyFigure(kind: string, title: string, message: string): string {
  return `<figure class="t2s-chart t2s-empty" data-chart="${kind}"><h2>${escapeHtml(title)}</h2><p>${
    escapeHtml(message)
  }</p></figure>`;
}

/**
 * The bars of both accuracy charts: one bar per model coloured by model, its accuracy in the tooltip and printed
 * just past the bar's end. `along` is the axis the accuracy runs along (`y`: vertical bars, `x`: horizontal).
 */
function accuracyBars(
  along: "x" | "y",
  data: { model: string; accuracy: number | null }[],
  channels: Record<string, string>,
): Plot.Markish[] {
  const bar = {
    ...channels,
    fill: "model",
    title: (d: (typeof data)[number]) => `${d.model}: ${d.accuracy}%`,
  };
  const label = {
    ...channels,
    text: (d: (typeof data)[number]) => (d.accuracy as number).toFixed(1),
    ...(along === "y" ? { dy: -6 } : { dx: 4, textAnchor: "start" as const }),
    fontSize: 9,
  };
  return [along === "y" ? Plot.barY(data, bar) : Plot.barX(data, bar), Plot.text(data, label)];
}

/**
 * Grouped bars: accuracy (%) per difficulty bucket and total, one bar per model, value printed on each bar.
 * `df` is a {@link loadRuns} frame.
 */
export function accuracyByDifficultyChart(df: pl.DataFrame, options: ChartOptions = {}): string {
  const table = accuracyByDifficulty(df).toRecords() as Record<string, unknown>[];
  const buckets = [...DIFFICULTIES, "total"].filter((b) => table.some((r) => Number(r[`${b}_count`]) > 0));
  const data = table.flatMap((r) =>
    buckets.map((b) => ({ model: r.model as string, bucket: b, accuracy: r[b] as number | null }))
  ).filter((d) => d.accuracy !== null);
  const series = table.map((r) => r.model as string);
  const title = options.title ?? "Execution accuracy by difficulty (BIRD EX, set semantics)";
  // Past a few runs, grouped bars get too thin to label: one row per run, one cell per bucket, the value in it.
  if (series.length > GROUPED_MAX) {
    // Best total first, as the leaderboard reads.
    const total = new Map(table.map((r) => [r.model as string, (r.total as number | null) ?? -1]));
    return heatMap(
      "accuracy-by-difficulty",
      data.map((d) => ({ row: d.model, column: d.bucket, value: d.accuracy })),
      {
        rows: [...series].sort((a, b) => total.get(b)! - total.get(a)!),
        columns: buckets,
        ...options,
        title,
      },
    );
  }
  return bucketBars("accuracy-by-difficulty", data, { buckets, series, ...options, title });
}

/** Runs drawn as grouped bars at most; more are drawn as a heat map (one row per run). */
export const GROUPED_MAX = 5;

/** One cell of {@linkcode heatMap}: a run (row), a bucket or database (column), its accuracy. */
interface HeatCell {
  row: string;
  column: string;
  value: number | null;
}

/**
 * A heat map of accuracies: one row per run, one column per bucket (or database), each cell coloured by its value
 * with the value printed in it, so 25 runs read as easily as 3 and no label can overlap another.
 */
function heatMap(
  kind: string,
  data: HeatCell[],
  options: ChartOptions & { rows: string[]; columns: string[] },
): string {
  const width = options.width ?? 720;
  const marginLeft = Math.min(Math.round(width * 0.45), Math.max(60, ...options.rows.map(textWidth)));
  const cellWidth = (width - marginLeft - 10) / Math.max(1, options.columns.length);
  // Column labels longer than a cell would overlap: turned when they do not fit.
  const turn = options.columns.some((c) => textWidth(c) > cellWidth - 4);
  const marginTop = turn ? Math.min(140, 16 + Math.max(...options.columns.map(textWidth))) : 30;
  const cells = data.filter((d) => d.value !== null);
  return render(kind, {
    title: options.title,
    caption: options.caption,
    width,
    height: marginTop + 10 + options.rows.length * 22,
    marginLeft,
    marginRight: 10,
    marginTop,
    marginBottom: 10,
    x: { domain: options.columns, axis: "top", label: null, tickRotate: turn ? -45 : 0 },
    y: { domain: options.rows, label: null },
    // No colour legend: Plot draws a continuous one on a canvas, which has no server-side document; every cell
    // prints its value.
    color: { type: "linear", domain: [0, 100], scheme: "blues" },
    marks: [
      Plot.cell(cells, {
        x: "column",
        y: "row",
        fill: "value",
        inset: 0.5,
        title: (d: HeatCell) => `${d.row}, ${d.column}: ${d.value}%`,
      }),
      Plot.text(cells, {
        x: "column",
        y: "row",
        text: (d: HeatCell) => (d.value as number).toFixed(1),
        fill: (d: HeatCell) => (d.value as number) > 60 ? "white" : "black",
        fontSize: 10,
      }),
    ],
  });
}

/** One bar of {@linkcode bucketBars}: `model` names its series (a model, or a voting figure). */
interface BucketBar {
  model: string;
  bucket: string;
  accuracy: number | null;
}

/** Bars grouped by bucket (difficulty, then total), one per series, each coloured by series. */
function bucketBars(
  kind: string,
  data: BucketBar[],
  options: ChartOptions & { buckets: string[]; series: string[] },
): string {
  return render(kind, {
    title: options.title,
    caption: options.caption,
    width: options.width ?? 720,
    height: 320,
    marginLeft: 44,
    marginRight: 10,
    marginTop: 24,
    marginBottom: 36,
    fx: { domain: options.buckets, label: null, padding: 0.15 },
    x: { domain: options.series, axis: null, paddingInner: 0.1 },
    y: { domain: [0, 100], grid: true, label: "accuracy (%)" },
    color: { domain: options.series, legend: true },
    marks: [
      ...accuracyBars("y", data, { fx: "bucket", x: "model", y: "accuracy" }),
      Plot.ruleY([0]),
    ],
  });
}

/** The three figures of a voting run, as its chart's legend names them. */
const VOTING_SERIES = {
  first: "first sample",
  majority: "majority vote",
  any: "any candidate (oracle)",
} as const;

/**
 * A voting run's first sample / majority vote / oracle accuracy (%) per difficulty and in total, grouped bars:
 * what voting adds over one sample, and how far it is from the best a perfect picker could do.
 *
 * @param rows {@linkcode votingTable} of the run's summary
 * @param options title (default names the figures), caption, width
 */
export function votingChart(rows: readonly VotingRow[], options: ChartOptions = {}): string {
  const keys = Object.keys(VOTING_SERIES) as (keyof typeof VOTING_SERIES)[];
  const data = rows.flatMap((r) =>
    keys.map((k) => ({ model: VOTING_SERIES[k], bucket: r.difficulty, accuracy: r[k] }))
  ).filter((d) => d.accuracy !== null);
  return bucketBars("voting", data, {
    buckets: rows.filter((r) => r.total > 0).map((r) => r.difficulty),
    series: keys.map((k) => VOTING_SERIES[k]),
    ...options,
    title: options.title ?? "Self-consistency: first sample, majority vote, any candidate (%)",
  });
}

/** Horizontal grouped bars: accuracy (%) per database, one bar per model. */
export function accuracyByDatabaseChart(df: pl.DataFrame, options: ChartOptions = {}): string {
  const rows = accuracyByDatabase(df).toRecords() as {
    model: string;
    db_id: string;
    accuracy: number | null;
  }[];
  const data = rows.filter((r) => r.accuracy !== null);
  const models = [...new Set(rows.map((r) => r.model))];
  const dbs = [...new Set(rows.map((r) => r.db_id))].sort();
  if (models.length > GROUPED_MAX) {
    return heatMap(
      "accuracy-by-database",
      rows.map((r) => ({ row: r.model, column: r.db_id, value: r.accuracy })),
      {
        rows: models,
        columns: dbs,
        ...options,
        title: options.title ?? "Execution accuracy by database",
      },
    );
  }
  const bar = 14;
  return render("accuracy-by-database", {
    title: options.title ?? "Execution accuracy by database",
    caption: options.caption,
    width: options.width ?? 720,
    height: 60 + dbs.length * (models.length * bar + 10),
    marginLeft: Math.max(60, ...dbs.map(textWidth)),
    marginRight: 40,
    marginTop: 24,
    marginBottom: 36,
    fy: { domain: dbs, label: null, axis: "left", padding: 0.1 },
    y: { domain: models, axis: null, paddingInner: 0.1 },
    x: { domain: [0, 100], grid: true, label: "accuracy (%)" },
    color: { domain: models, legend: true },
    marks: [
      ...accuracyBars("x", data, { fy: "db_id", y: "model", x: "accuracy" }),
      Plot.ruleX([0]),
    ],
  });
}

/** Stacked horizontal bars: each model's questions split by error kind (see `errorTaxonomy`), as counts. */
export function errorTaxonomyChart(df: pl.DataFrame, options: ChartOptions = {}): string {
  const rows = errorTable(df).toRecords() as {
    model: string;
    error_kind: string;
    count: number;
    percent: number;
  }[];
  const models = [...new Set(rows.map((r) => r.model))];
  const kinds = (ERROR_KINDS as readonly string[]).filter((k) => rows.some((r) => r.error_kind === k));
  return render("error-taxonomy", {
    title: options.title ?? "Verdicts by error kind",
    caption: options.caption,
    width: options.width ?? 720,
    height: 70 + models.length * (models.length > 10 ? 22 : 34),
    marginLeft: Math.max(60, ...models.map(textWidth)),
    marginRight: 20,
    marginTop: 16,
    marginBottom: 36,
    y: { domain: models, label: null },
    x: { grid: true, label: "questions" },
    color: { domain: kinds, range: kinds.map((k) => KIND_COLORS[k]), legend: true },
    marks: [
      Plot.barX(rows, {
        y: "model",
        x: "count",
        fill: "error_kind",
        order: kinds,
        title: (d) => `${d.model}: ${d.error_kind} ${d.count} (${d.percent}%)`,
      }),
      Plot.ruleX([0]),
    ],
  });
}

/**
 * What the loss chart reads of a metric line: both `analysis.ts`'s `MetricRecord` and the trainer's `MetricLine`
 * (live, as the trainer prints them) fit, so a notebook can chart either without conversion. Other types are ignored.
 */
export interface LossPoint {
  type: string;
  step?: unknown;
  loss?: unknown;
  eval_loss?: unknown;
}

/**
 * Training curves: train loss per step (line) and eval loss (line with dots) from a trainer's metrics stream
 * (`readMetrics` / `parseMetrics`). With no record yet it returns a figure saying so.
 */
export function lossCurveChart(metrics: readonly LossPoint[], options: ChartOptions = {}): string {
  const title = options.title ?? "Training loss";
  const data = metrics.filter((m) => m.type === "train" || m.type === "eval").map((m) =>
    m.type === "train"
      ? { step: Number(m.step), loss: Number(m.loss ?? NaN), series: "train loss" }
      : { step: Number(m.step), loss: Number(m.eval_loss ?? NaN), series: "eval loss" }
  ).filter((d) => Number.isFinite(d.step) && Number.isFinite(d.loss));
  if (data.length === 0) return emptyFigure("loss-curve", title, "No metrics recorded yet.");
  const series = ["train loss", "eval loss"].filter((s) => data.some((d) => d.series === s));
  return render("loss-curve", {
    title,
    caption: options.caption,
    width: options.width ?? 720,
    height: 300,
    marginLeft: 48,
    marginRight: 20,
    marginTop: 20,
    marginBottom: 36,
    x: { label: "step", grid: true },
    y: { label: "loss", grid: true, zero: false },
    color: { domain: series, range: ["#4269d0", "#ff725c"].slice(0, series.length), legend: true },
    marks: [
      Plot.line(data, { x: "step", y: "loss", stroke: "series", strokeWidth: 1.6 }),
      Plot.dot(data.filter((d) => d.series === "eval loss"), {
        x: "step",
        y: "loss",
        fill: "series",
        r: 3.5,
      }),
    ],
  });
}

/** Panels two a row, without a browser's default figure margins, their titles smaller than the group's. */
const groupStyle = (panelWidth: number) =>
  "<style>.t2s-chart-group{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:flex-start}" +
  `.t2s-chart-group>h2{flex-basis:100%;margin:0}.t2s-chart-group>figure{margin:0;width:${panelWidth}px}` +
  ".t2s-chart-group>figure>h2{font-size:0.95em;margin:0 0 4px}.t2s-chart-group>p{flex-basis:100%}</style>";

/** One series of a GRPO panel: its name in the legend, colour and points (nulls left out). */
interface PanelSeries {
  name: string;
  color: string;
  points: { step: number; value: number }[];
  dashed?: boolean;
}

/** A figure with a sentence and no marks, for a GRPO series the trainer did not log (not an empty chart). */
function noteFigure(kind: string, title: string, message: string, width: number): string {
  return `<figure class="t2s-chart t2s-note" data-chart="${kind}" style="max-width:${width}px"><h2>${
    escapeHtml(title)
  }</h2><p>${escapeHtml(message)}</p></figure>`;
}

/** One small GRPO panel: lines per step (dots when few steps), an optional band, a legend past one series. */
function stepPanel(
  kind: string,
  options: {
    title: string;
    width: number;
    series: PanelSeries[];
    y: Plot.ScaleOptions;
    band?: { step: number; lo: number; hi: number }[];
    caption?: string;
    empty: string;
  },
): string {
  const series = options.series.filter((s) => s.points.length > 0);
  if (series.length === 0) return noteFigure(kind, options.title, options.empty, options.width);
  const data = series.flatMap((s) => s.points.map((p) => ({ ...p, series: s.name })));
  const steps = new Set(data.map((d) => d.step)).size;
  const [first] = series;
  return render(kind, {
    title: options.title,
    caption: options.caption,
    width: options.width,
    height: 200,
    marginLeft: 48,
    marginRight: 16,
    marginTop: 16,
    marginBottom: 32,
    x: { label: "step", grid: true },
    y: { grid: true, label: null, ...options.y },
    color: {
      domain: series.map((s) => s.name),
      range: series.map((s) => s.color),
      legend: series.length > 1,
    },
    marks: [
      ...(options.band?.length
        ? [Plot.areaY(options.band, { x: "step", y1: "lo", y2: "hi", fill: first.color, fillOpacity: 0.18 })]
        : []),
      ...series.map((s) =>
        Plot.line(data.filter((d) => d.series === s.name), {
          x: "step",
          y: "value",
          stroke: "series",
          strokeWidth: 1.6,
          strokeDasharray: s.dashed ? "4,3" : undefined,
        })
      ),
      // Dots while the steps are few enough to tell apart (a short run, or a replay's first steps).
      ...(steps <= 60
        ? [
          Plot.dot(data.filter((d) => d.series === first.name), {
            x: "step",
            y: "value",
            fill: "series",
            r: 3,
          }),
        ]
        : []),
    ],
  });
}

/**
 * GRPO training as TRL logs it, four panels per logging step (`GrpoTrainMetric` lines; SFT lines are ignored):
 *
 * - **reward**: the batch's mean reward, with a band of ± TRL's `reward_std` (the standard deviation over the whole
 *   batch, not per group) and the share of completions scored correct (dashed) when logged;
 * - **`frac_reward_zero_std`**: the share of prompt groups whose K completions all got the same reward, so zero
 *   advantage and no gradient from the reward: the per-group learning signal (1.0: the step learned nothing from
 *   rewards);
 * - **`kl`**: the mean per-token KL to the reference, logged by TRL only with `beta` > 0; a one-line note says so
 *   when no step has it;
 * - **`grad_norm`**.
 *
 * @param metrics A metrics stream (`readMetrics`, or lines as they arrive).
 * @param options Title (the group's), width of the whole group (two panels a row).
 * @returns The HTML of a `<div data-chart="grpo-metrics">` holding one figure per panel (`grpo-reward`,
 *   `grpo-zero-std`, `grpo-kl`, `grpo-grad-norm`), or an empty figure when there is no GRPO step yet.
 */
export function grpoMetricsChart(metrics: readonly MetricLine[], options: ChartOptions = {}): string {
  const title = options.title ?? "GRPO: reward and learning signal";
  const steps = metrics.filter(isGrpoTrainMetric).filter((m) => Number.isFinite(m.step));
  if (steps.length === 0) return emptyFigure("grpo-metrics", title, "No GRPO step recorded yet.");
  const width = Math.floor(((options.width ?? 720) - 16) / 2);
  const points = (key: keyof GrpoTrainMetric) =>
    steps.flatMap((m) => {
      const v = m[key];
      return typeof v === "number" && Number.isFinite(v) ? [{ step: m.step, value: v }] : [];
    });
  const band = steps.flatMap((m) =>
    typeof m.reward === "number" && typeof m.reward_std === "number"
      ? [{ step: m.step, lo: m.reward - m.reward_std, hi: m.reward + m.reward_std }]
      : []
  );
  const panels = [
    stepPanel("grpo-reward", {
      title: "Reward: batch mean, band ± reward_std (batch std)",
      width,
      y: { zero: true },
      series: [
        { name: "reward", color: "#4269d0", points: points("reward") },
        { name: "share correct", color: "#3ca951", points: points("frac_correct"), dashed: true },
      ],
      band,
      empty: "No reward logged.",
    }),
    stepPanel("grpo-zero-std", {
      title: "Groups without signal (frac_reward_zero_std)",
      width,
      y: { domain: [0, 1], tickFormat: "%" },
      series: [{ name: "frac_reward_zero_std", color: "#ff725c", points: points("frac_reward_zero_std") }],
      empty: "frac_reward_zero_std not logged by this TRL.",
    }),
    stepPanel("grpo-kl", {
      title: "KL to the reference (kl)",
      width,
      y: { zero: true },
      series: [{ name: "kl", color: "#a463f2", points: points("kl") }],
      empty:
        "KL not logged: TRL computes and logs kl only with beta > 0 (this run's beta is 0: no reference).",
    }),
    stepPanel("grpo-grad-norm", {
      title: "Gradient norm (grad_norm)",
      width,
      y: { zero: true },
      series: [{ name: "grad_norm", color: "#efb118", points: points("grad_norm") }],
      empty: "grad_norm not logged.",
    }),
  ];
  const caption = options.caption ? `<p class="t2s-caption">${escapeHtml(options.caption)}</p>` : "";
  return `<div class="t2s-chart-group" data-chart="grpo-metrics">${groupStyle(width)}<h2>${
    escapeHtml(title)
  }</h2>${panels.join("")}${caption}</div>`;
}

/**
 * Token use per model (prompt and completion tokens, stacked) with the total cost printed at the bar's end when
 * known. Runs scored from a predictions file have no tokens; when no run has any, the figure says so.
 */
export function tokenUsageChart(df: pl.DataFrame, options: ChartOptions = {}): string {
  const title = options.title ?? "Token use and cost per model";
  const rows = tokenUsage(df).toRecords() as {
    model: string;
    prompt_tokens: number;
    completion_tokens: number;
    cost_usd: number | null;
  }[];
  // Runs scored from a predictions file asked no model: they have no bar (and no "0 tokens" label).
  const counted = rows.filter((r) => (r.prompt_tokens ?? 0) + (r.completion_tokens ?? 0) > 0);
  if (counted.length === 0) {
    return emptyFigure(
      "token-usage",
      title,
      "No token counts in these runs (scored from predictions files).",
    );
  }
  const models = counted.map((r) => r.model);
  const data = counted.flatMap((r) => [
    { model: r.model, kind: "prompt", tokens: r.prompt_tokens },
    { model: r.model, kind: "completion", tokens: r.completion_tokens },
  ]);
  const labels = counted.map((r) => ({
    model: r.model,
    total: r.prompt_tokens + r.completion_tokens,
    text: `${(r.prompt_tokens + r.completion_tokens).toLocaleString("en-US")} tok` +
      (r.cost_usd === null ? "" : ` · $${r.cost_usd.toFixed(4)}`),
  }));
  const skipped = rows.length - counted.length;
  return render("token-usage", {
    title,
    caption: options.caption ??
      (skipped
        ? `${skipped} run${skipped === 1 ? "" : "s"} scored from predictions files asked no model.`
        : undefined),
    width: options.width ?? 720,
    height: 70 + models.length * 34,
    marginLeft: Math.max(60, ...models.map(textWidth)),
    // Room for the "123,456 tok · $0.1234" label beyond the longest bar.
    marginRight: Math.max(60, ...labels.map((l) => textWidth(l.text))),
    marginTop: 16,
    marginBottom: 36,
    y: { domain: models, label: null },
    x: { grid: true, label: "tokens" },
    color: { domain: ["prompt", "completion"], range: ["#6cc5b0", "#4269d0"], legend: true },
    marks: [
      Plot.barX(data, {
        y: "model",
        x: "tokens",
        fill: "kind",
        title: (d) => `${d.model}: ${d.tokens} ${d.kind} tokens`,
      }),
      Plot.text(labels, { y: "model", x: "total", text: "text", dx: 4, textAnchor: "start", fontSize: 9 }),
      Plot.ruleX([0]),
    ],
  });
}

/** Token lengths of one training conversation (from `sft.ts`/`cot.ts` results). */
export interface PromptLengthRow {
  split: string;
  prompt_tokens: number;
}

/** Histogram of prompt lengths (system + user tokens) per split of an SFT or CoT dataset. */
export function promptLengthChart(rows: PromptLengthRow[], options: ChartOptions = {}): string {
  const title = options.title ?? "Prompt lengths (tokens, system + user)";
  if (rows.length === 0) return emptyFigure("prompt-lengths", title, "No conversation kept.");
  const data = rows.map((r) => ({ split: r.split, tokens: r.prompt_tokens }));
  return render("prompt-lengths", {
    title,
    caption: options.caption,
    width: options.width ?? 720,
    height: 260,
    marginLeft: 48,
    marginBottom: 36,
    x: { label: "prompt tokens", grid: true },
    y: { label: "conversations", grid: true },
    color: { legend: true, domain: ["train", "test"], range: ["#4269d0", "#efb118"] },
    marks: [
      Plot.rectY(
        data,
        Plot.binX(
          { y: "count" },
          { x: "tokens", fill: "split", thresholds: 30 } as Plot.BinXInputs<Plot.RectYOptions>,
        ),
      ),
      Plot.ruleY([0]),
    ],
  });
}
