/**
 * Run analysis on Polars: many run directories into one frame (one row per question per run), accuracy as the
 * official BIRD script reports it, error-kind counts and token use per run. The paired test lives in
 * `paired_test.ts`, reading runs in `run_data.ts`, the taxonomy in `error_taxonomy.ts`.
 *
 * ```ts
 * const df = loadRuns(["runs/a", "runs/b"]);
 * accuracyByDifficulty(df); // one row per run: simple / moderate / challenging / total
 * errorTable(df); // verdict kinds per run
 * ```
 *
 * @module
 */
import pl from "nodejs-polars";
import { DIFFICULTIES } from "../run/mod.ts";
import type { ResultRecord } from "../types.ts";
import { readRuns, type RunData } from "./run_data.ts";
import { ERROR_KINDS, errorTaxonomy } from "./error_taxonomy.ts";

/** The official difficulty buckets, in the official order (the run log's, so both sides bucket alike). */
export { DIFFICULTIES };

/**
 * One row per question per run. Columns: `run`, `model`, `run_dir`, `dataset_sha256`, `index`, `question_id`,
 * `db_id`, `difficulty`, `question`, `status`, `correct`, `error_kind`, `error`, `soft_f1`, `prompt_tokens`,
 * `completion_tokens`, `cost_usd`, `generation_ms`, `pred_ms`, `gold_ms`, `sql`, `gold_sql`.
 */
export function runsFrame(runs: RunData[]): pl.DataFrame {
  const rows = runs.flatMap((run) => run.records.map((r) => ({ run, r })));
  const col = <T>(f: (x: { run: RunData; r: ResultRecord }) => T) => rows.map(f);
  const num = (v: unknown): number | null => typeof v === "number" && Number.isFinite(v) ? v : null;
  return pl.DataFrame([
    pl.Series("run", col((x) => x.run.id), pl.Utf8),
    pl.Series("model", col((x) => x.run.label), pl.Utf8),
    pl.Series("run_dir", col((x) => x.run.dir), pl.Utf8),
    pl.Series("dataset_sha256", col((x) => x.run.info.dataset?.sha256 ?? null), pl.Utf8),
    // The question identities alone: equal across a set's dialect files (mini-dev in SQLite, PostgreSQL, MySQL).
    pl.Series("questions_sha256", col((x) => x.run.info.dataset?.questions_sha256 ?? null), pl.Utf8),
    pl.Series("index", col((x) => x.r.index), pl.Int64),
    pl.Series("question_id", col((x) => num(x.r.question_id)), pl.Int64),
    pl.Series("db_id", col((x) => x.r.db_id), pl.Utf8),
    pl.Series("difficulty", col((x) => x.r.difficulty || "unknown"), pl.Utf8),
    pl.Series("question", col((x) => x.r.question ?? ""), pl.Utf8),
    pl.Series("status", col((x) => x.r.status), pl.Utf8),
    pl.Series("correct", col((x) => x.r.status === "correct"), pl.Bool),
    pl.Series("error_kind", col((x) => errorTaxonomy(x.r)), pl.Utf8),
    pl.Series("error", col((x) => x.r.error ?? null), pl.Utf8),
    pl.Series("soft_f1", col((x) => num(x.r.soft_f1) ?? 0), pl.Float64),
    pl.Series("prompt_tokens", col((x) => num(x.r.tokens?.prompt)), pl.Int64),
    pl.Series("completion_tokens", col((x) => num(x.r.tokens?.completion)), pl.Int64),
    pl.Series("cost_usd", col((x) => num(x.r.cost_usd)), pl.Float64),
    pl.Series("generation_ms", col((x) => num(x.r.timings?.generation_ms)), pl.Float64),
    pl.Series("pred_ms", col((x) => num(x.r.timings?.pred_ms)), pl.Float64),
    pl.Series("gold_ms", col((x) => num(x.r.timings?.gold_ms)), pl.Float64),
    pl.Series("sql", col((x) => x.r.sql ?? null), pl.Utf8),
    pl.Series("gold_sql", col((x) => x.r.gold_sql ?? ""), pl.Utf8),
  ]);
}

/** Loads run directories into one frame, one row per question per run (columns: see {@link runsFrame}). */
export function loadRuns(dirs: string[]): pl.DataFrame {
  return runsFrame(readRuns(dirs));
}

/** Percent with two decimals as the official script prints it (`%.2f` of the exact binary value); null for 0/0. */
export function percent(k: number, n: number): number | null {
  return n === 0 ? null : Number((100 * k / n).toFixed(2));
}

/** Runs in the order they appear in the frame (groupBy does not keep order). */
export function runOrder(df: pl.DataFrame): { run: string; model: string }[] {
  const seen = new Map<string, string>();
  const runs = df.getColumn("run").toArray() as string[];
  const models = df.getColumn("model").toArray() as string[];
  runs.forEach((r, i) => seen.has(r) || seen.set(r, models[i]));
  return [...seen].map(([run, model]) => ({ run, model }));
}

/** Counts of questions and correct ones grouped by `keys` (always including run). */
function counts(df: pl.DataFrame, keys: string[]): Record<string, unknown>[] {
  return df.groupBy(["run", ...keys]).agg(
    pl.len().alias("count"),
    pl.col("correct").sum().alias("correct"),
    pl.col("soft_f1").sum().alias("soft_f1_sum"),
  ).toRecords() as Record<string, unknown>[];
}

/**
 * Official-style accuracy: one row per run with, for `simple`, `moderate`, `challenging` (plus `unknown` when some
 * questions lack a difficulty) and `total`, the question count (`<bucket>_count`), the correct count
 * (`<bucket>_correct`) and the accuracy in percent with two decimals (`<bucket>`, null for an empty bucket).
 */
export function accuracyByDifficulty(df: pl.DataFrame): pl.DataFrame {
  const order = runOrder(df);
  const grouped = counts(df, ["difficulty"]);
  const present = new Set(grouped.map((g) => g.difficulty as string));
  const extra = [...present].filter((d) => !(DIFFICULTIES as readonly string[]).includes(d)).sort();
  const buckets = [...DIFFICULTIES, ...extra, "total"];
  const columns: Record<string, (string | number | null)[]> = { run: [], model: [] };
  for (const b of buckets) [columns[`${b}_count`], columns[`${b}_correct`], columns[b]] = [[], [], []];
  for (const { run, model } of order) {
    columns.run.push(run);
    columns.model.push(model);
    let n = 0, k = 0;
    for (const b of buckets) {
      const g = b === "total"
        ? { count: n, correct: k }
        : grouped.find((x) => x.run === run && x.difficulty === b);
      const bn = Number(g?.count ?? 0), bk = Number(g?.correct ?? 0);
      if (b !== "total") [n, k] = [n + bn, k + bk];
      columns[`${b}_count`].push(bn);
      columns[`${b}_correct`].push(bk);
      columns[b].push(percent(bk, bn));
    }
  }
  const dtype = (name: string) =>
    name === "run" || name === "model"
      ? pl.Utf8
      : (buckets as string[]).includes(name)
      ? pl.Float64
      : pl.Int64;
  return pl.DataFrame(Object.entries(columns).map(([name, values]) => pl.Series(name, values, dtype(name))));
}

/** Accuracy per run and database: `run`, `model`, `db_id`, `count`, `correct`, `accuracy` (%), `soft_f1` (%). */
export function accuracyByDatabase(df: pl.DataFrame): pl.DataFrame {
  const order = runOrder(df);
  const rank = new Map(order.map((o, i) => [o.run, i]));
  const rows = counts(df, ["db_id"]).sort((a, b) =>
    rank.get(a.run as string)! - rank.get(b.run as string)! || String(a.db_id).localeCompare(String(b.db_id))
  );
  const model = new Map(order.map((o) => [o.run, o.model]));
  return pl.DataFrame([
    pl.Series("run", rows.map((r) => r.run as string), pl.Utf8),
    pl.Series("model", rows.map((r) => model.get(r.run as string)!), pl.Utf8),
    pl.Series("db_id", rows.map((r) => r.db_id as string), pl.Utf8),
    pl.Series("count", rows.map((r) => Number(r.count)), pl.Int64),
    pl.Series("correct", rows.map((r) => Number(r.correct)), pl.Int64),
    pl.Series("accuracy", rows.map((r) => percent(Number(r.correct), Number(r.count))), pl.Float64),
    pl.Series("soft_f1", rows.map((r) => percent(Number(r.soft_f1_sum), Number(r.count))), pl.Float64),
  ]);
}

/**
 * Error taxonomy counts. Long form (default): `run`, `model`, `error_kind`, `count`, `percent` (of the run's
 * questions), kinds in {@link ERROR_KINDS} order, absent kinds left out. With `wide`, one row per run and one
 * column per kind that occurs in any run (zeros filled).
 */
export function errorTable(df: pl.DataFrame, options: { wide?: boolean } = {}): pl.DataFrame {
  const order = runOrder(df);
  const grouped = df.groupBy(["run", "error_kind"]).agg(pl.len().alias("count")).toRecords() as {
    run: string;
    error_kind: string;
    count: number;
  }[];
  const totals = new Map<string, number>();
  for (const g of grouped) totals.set(g.run, (totals.get(g.run) ?? 0) + Number(g.count));
  const kinds = (ERROR_KINDS as readonly string[]).filter((k) => grouped.some((g) => g.error_kind === k));
  if (options.wide) {
    return pl.DataFrame([
      pl.Series("run", order.map((o) => o.run), pl.Utf8),
      pl.Series("model", order.map((o) => o.model), pl.Utf8),
      ...kinds.map((k) =>
        pl.Series(
          k,
          order.map((o) => Number(grouped.find((g) => g.run === o.run && g.error_kind === k)?.count ?? 0)),
          pl.Int64,
        )
      ),
    ]);
  }
  const rows: { run: string; model: string; error_kind: string; count: number; percent: number | null }[] =
    [];
  for (const o of order) {
    for (const k of kinds) {
      const n = Number(grouped.find((g) => g.run === o.run && g.error_kind === k)?.count ?? 0);
      if (n > 0) {
        rows.push({
          run: o.run,
          model: o.model,
          error_kind: k,
          count: n,
          percent: percent(n, totals.get(o.run)!),
        });
      }
    }
  }
  return pl.DataFrame([
    pl.Series("run", rows.map((r) => r.run), pl.Utf8),
    pl.Series("model", rows.map((r) => r.model), pl.Utf8),
    pl.Series("error_kind", rows.map((r) => r.error_kind), pl.Utf8),
    pl.Series("count", rows.map((r) => r.count), pl.Int64),
    pl.Series("percent", rows.map((r) => r.percent), pl.Float64),
  ]);
}

/**
 * Token use and cost per run: `run`, `model`, `questions`, `prompt_tokens`, `completion_tokens`,
 * `cost_usd` (null when no question of the run has a known cost). Token counts are null for a run that asked no
 * model (scored from a predictions file).
 */
export function tokenUsage(df: pl.DataFrame): pl.DataFrame {
  const order = runOrder(df);
  const g = df.groupBy("run").agg(
    pl.len().alias("questions"),
    pl.col("prompt_tokens").sum().alias("prompt_tokens"),
    pl.col("completion_tokens").sum().alias("completion_tokens"),
    pl.col("cost_usd").sum().alias("cost_usd"),
    pl.col("cost_usd").count().alias("cost_known"),
    pl.col("prompt_tokens").count().alias("tokens_known"),
  ).toRecords() as Record<string, number>[];
  // A run that asked no model (a predictions file) has no token counts: null, not 0.
  const tokens = (run: string, column: string) =>
    Number(get(run).tokens_known) > 0 ? Number(get(run)[column] ?? 0) : null;
  const get = (run: string) => g.find((r) => (r.run as unknown as string) === run)!;
  return pl.DataFrame([
    pl.Series("run", order.map((o) => o.run), pl.Utf8),
    pl.Series("model", order.map((o) => o.model), pl.Utf8),
    pl.Series("questions", order.map((o) => Number(get(o.run).questions)), pl.Int64),
    pl.Series("prompt_tokens", order.map((o) => tokens(o.run, "prompt_tokens")), pl.Int64),
    pl.Series("completion_tokens", order.map((o) => tokens(o.run, "completion_tokens")), pl.Int64),
    pl.Series(
      "cost_usd",
      order.map((o) =>
        Number(get(o.run).cost_known) > 0 ? Number(Number(get(o.run).cost_usd).toFixed(6)) : null
      ),
      pl.Float64,
    ),
  ]);
}
