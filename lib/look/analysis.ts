/**
 * Run analysis on Polars: many run directories into one frame (one row per question per run), accuracy as the
 * official BIRD script reports it, an error taxonomy, which questions one model solves and another does not, and a
 * paired significance test so a +1.5 point difference can be told from noise.
 *
 * ```ts
 * const df = loadRuns(["runs/a", "runs/b"]);
 * accuracyByDifficulty(df); // one row per run: simple / moderate / challenging / total
 * pairedTest(df, "runs-a-id", "runs-b-id"); // McNemar exact p and a bootstrap CI of the difference
 * ```
 *
 * @module
 */

import { mulberry32 } from "../util/mod.ts";
import pl from "nodejs-polars";
import { basename, dirname, join } from "node:path";
import { DIFFICULTIES, parseResults } from "../run/mod.ts";
import { parseMetricLine } from "../train/mod.ts";
import type { ResultRecord, RunInfo, Summary } from "../types.ts";

/** The official difficulty buckets, in the official order (the run log's, so both sides bucket alike). */
export { DIFFICULTIES };

/** One run directory as read from disk. */
export interface RunData {
  /** The directory as given. */
  dir: string;
  /** Run id: the directory's name, made unique among the runs loaded together. */
  id: string;
  /** Model label: `run.json` model, else the predictions file's name; made unique among the runs loaded together. */
  label: string;
  /** `run.json`. */
  info: RunInfo;
  /** One record per question (the last one when a question was retried), in the order first seen. */
  records: ResultRecord[];
  /** `summary.json`, or null while the run has none yet. */
  summary: Summary | null;
  /** True when the last line of `results.jsonl` was half-written and skipped. */
  torn: boolean;
}

/** The verdict kinds of {@link errorTaxonomy}, in display order (best first). */
export const ERROR_KINDS = [
  "correct",
  "wrong:values",
  "wrong:row_count",
  "wrong:column_count",
  "wrong:empty_result",
  "sql_error:no_such_column",
  "sql_error:no_such_table",
  "sql_error:syntax",
  "sql_error:other",
  "timeout",
  "generation_error",
  "gold_error",
] as const;

/** A question's verdict refined by why it failed. */
export type ErrorKind = typeof ERROR_KINDS[number];

/** Reads and parses a JSON file, naming the file in any error. */
function readJson<T>(path: string): T {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`missing ${path}`);
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`invalid JSON in ${path}: ${(e as Error).message}`);
  }
}

/** The name a predictions file goes by: its folder for `…/<name>/predict_dev.json`, else its file name. */
function predictionsName(path: string): string {
  const file = basename(path);
  if (/^predict_\w+\.json$/.test(file)) return basename(dirname(path));
  return file.replace(/\.json$/, "");
}

/**
 * Reads one run directory: `run.json` (required), `results.jsonl` (a torn last line is skipped; when a question
 * appears more than once, as after `--retry-failed`, its last record wins) and `summary.json` (null if absent).
 * Throws a one-line error naming the directory when it is missing or not a run.
 */
export function readRun(dir: string): RunData {
  let stat: Deno.FileInfo;
  try {
    stat = Deno.statSync(dir);
  } catch {
    throw new Error(`run directory not found: ${dir}`);
  }
  if (!stat.isDirectory) throw new Error(`not a directory: ${dir}`);
  let info: RunInfo;
  try {
    info = readJson<RunInfo>(join(dir, "run.json"));
  } catch (e) {
    throw new Error(`not a run directory: ${dir} (${(e as Error).message})`);
  }
  if (typeof info !== "object" || info === null || !info.dataset) {
    throw new Error(`not a run directory: ${dir} (run.json has no dataset)`);
  }
  let records: ResultRecord[] = [];
  let torn = false;
  const resultsPath = join(dir, "results.jsonl");
  try {
    const parsed = parseResults(Deno.readTextFileSync(resultsPath), resultsPath);
    torn = parsed.torn;
    records = [...parsed.records.values()];
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  let summary: Summary | null = null;
  try {
    summary = readJson<Summary>(join(dir, "summary.json"));
  } catch (e) {
    if (!(e as Error).message.startsWith("missing ")) throw e;
  }
  const label = info.model ?? (info.predictions ? predictionsName(info.predictions) : basename(dir));
  return { dir, id: basename(dir.replace(/\/+$/, "")) || dir, label, info, records, summary, torn };
}

/** Makes names unique in order: the first keeps its name, later ones get ` #2`, ` #3`… */
function dedupe(names: string[]): string[] {
  const seen = new Map<string, number>();
  const used = new Set(names);
  return names.map((name) => {
    const k = (seen.get(name) ?? 0) + 1;
    seen.set(name, k);
    if (k === 1) return name;
    let n = k, candidate = `${name} #${n}`;
    while (used.has(candidate)) candidate = `${name} #${++n}`;
    used.add(candidate);
    return candidate;
  });
}

/** Reads many run directories, with run ids and model labels made unique across them (see {@link readRun}). */
export function readRuns(dirs: string[]): RunData[] {
  const runs = dirs.map(readRun);
  const ids = dedupe(runs.map((r) => r.id));
  const labels = dedupe(runs.map((r) => r.label));
  return runs.map((r, i) => ({ ...r, id: ids[i], label: labels[i] }));
}

/**
 * Classifies a record's verdict. Pure. SQL errors by their SQLite message; wrong results by how the predicted
 * result differs from the gold one: empty, column count, distinct row count (EX compares sets), else values.
 */
export function errorTaxonomy(record: Pick<ResultRecord, "status" | "error" | "pred" | "gold">): ErrorKind {
  switch (record.status) {
    case "correct":
    case "timeout":
    case "gold_error":
    case "generation_error":
      return record.status;
    case "pred_error": {
      const msg = record.error ?? "";
      // An engine may report a killed query as a pred_error with the reason rather than as `timeout`.
      if (/timed? ?out|interrupted/i.test(msg)) return "timeout";
      if (/no such column/i.test(msg)) return "sql_error:no_such_column";
      if (/no such table/i.test(msg)) return "sql_error:no_such_table";
      if (/syntax error|incomplete input|unrecognized token|unterminated/i.test(msg)) {
        return "sql_error:syntax";
      }
      return "sql_error:other";
    }
    case "wrong": {
      const { pred, gold } = record;
      if (!pred || !gold) return "wrong:values";
      if (pred.rows === 0 && gold.rows > 0) return "wrong:empty_result";
      if (pred.columns.length !== gold.columns.length) return "wrong:column_count";
      if (pred.distinct_rows !== gold.distinct_rows) return "wrong:row_count";
      return "wrong:values";
    }
    default:
      return "sql_error:other";
  }
}

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
function runOrder(df: pl.DataFrame): { run: string; model: string }[] {
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
 * `cost_usd` (null when no question of the run has a known cost).
 */
export function tokenUsage(df: pl.DataFrame): pl.DataFrame {
  const order = runOrder(df);
  const g = df.groupBy("run").agg(
    pl.len().alias("questions"),
    pl.col("prompt_tokens").sum().alias("prompt_tokens"),
    pl.col("completion_tokens").sum().alias("completion_tokens"),
    pl.col("cost_usd").sum().alias("cost_usd"),
    pl.col("cost_usd").count().alias("cost_known"),
  ).toRecords() as Record<string, number>[];
  const get = (run: string) => g.find((r) => (r.run as unknown as string) === run)!;
  return pl.DataFrame([
    pl.Series("run", order.map((o) => o.run), pl.Utf8),
    pl.Series("model", order.map((o) => o.model), pl.Utf8),
    pl.Series("questions", order.map((o) => Number(get(o.run).questions)), pl.Int64),
    pl.Series("prompt_tokens", order.map((o) => Number(get(o.run).prompt_tokens ?? 0)), pl.Int64),
    pl.Series("completion_tokens", order.map((o) => Number(get(o.run).completion_tokens ?? 0)), pl.Int64),
    pl.Series(
      "cost_usd",
      order.map((o) =>
        Number(get(o.run).cost_known) > 0 ? Number(Number(get(o.run).cost_usd).toFixed(6)) : null
      ),
      pl.Float64,
    ),
  ]);
}

/** Finds a run by id, else by model label; throws listing the runs present. */
function resolveRun(df: pl.DataFrame, name: string): { run: string; model: string } {
  const order = runOrder(df);
  const hit = order.find((o) => o.run === name) ?? order.find((o) => o.model === name);
  if (!hit) {
    throw new Error(`unknown run "${name}"; runs: ${order.map((o) => `${o.run} (${o.model})`).join(", ")}`);
  }
  return hit;
}

interface PairRow {
  index: number;
  question_id: number | null;
  db_id: string;
  difficulty: string;
  question: string;
  a: boolean;
  b: boolean;
  kind_a: string;
  kind_b: string;
}

/** Joins two runs on the question index, refusing runs over different datasets (indices would not match). */
function pairRuns(
  df: pl.DataFrame,
  runA: string,
  runB: string,
): { a: { run: string; model: string }; b: { run: string; model: string }; rows: PairRow[] } {
  const a = resolveRun(df, runA), b = resolveRun(df, runB);
  const side = (run: string, s: string) =>
    df.filter(pl.col("run").eq(pl.lit(run))).select(
      "index",
      "question_id",
      "db_id",
      "difficulty",
      "question",
      "dataset_sha256",
      pl.col("correct").alias(s),
      pl.col("error_kind").alias(`kind_${s}`),
    );
  const left = side(a.run, "a");
  const right = side(b.run, "b").select("index", pl.col("dataset_sha256").alias("sha_b"), "b", "kind_b");
  const joined = left.join(right, { on: "index", how: "inner" });
  const rows = joined.sort("index")
    .toRecords() as unknown as (PairRow & { dataset_sha256: string; sha_b: string })[];
  const mismatch = rows.find((r) => r.dataset_sha256 !== r.sha_b);
  if (mismatch) {
    throw new Error(
      `runs ${a.run} and ${b.run} are over different datasets (sha256 differs): not comparable`,
    );
  }
  return { a, b, rows: rows.map((r) => ({ ...r, index: Number(r.index) })) };
}

/** Questions one run solves and the other does not (the runs are matched by id or model label). */
export interface SolvedDiff {
  /** Questions both runs answered. */
  common: number;
  /** Questions both runs solve. */
  both: number;
  /** Questions neither run solves. */
  neither: number;
  /** Solved by A only: `index`, `question_id`, `db_id`, `difficulty`, `question`, `error_kind_b`. */
  onlyA: pl.DataFrame;
  /** Solved by B only: same columns with `error_kind_a`. */
  onlyB: pl.DataFrame;
}

/** Questions that run A solves and run B does not, and vice versa, over the questions both answered. */
export function solvedDiff(df: pl.DataFrame, runA: string, runB: string): SolvedDiff {
  const { rows } = pairRuns(df, runA, runB);
  const frame = (sel: PairRow[], other: "a" | "b") =>
    pl.DataFrame([
      pl.Series("index", sel.map((r) => r.index), pl.Int64),
      pl.Series("question_id", sel.map((r) => r.question_id), pl.Int64),
      pl.Series("db_id", sel.map((r) => r.db_id), pl.Utf8),
      pl.Series("difficulty", sel.map((r) => r.difficulty), pl.Utf8),
      pl.Series("question", sel.map((r) => r.question), pl.Utf8),
      pl.Series(`error_kind_${other}`, sel.map((r) => other === "a" ? r.kind_a : r.kind_b), pl.Utf8),
    ]);
  return {
    common: rows.length,
    both: rows.filter((r) => r.a && r.b).length,
    neither: rows.filter((r) => !r.a && !r.b).length,
    onlyA: frame(rows.filter((r) => r.a && !r.b), "b"),
    onlyB: frame(rows.filter((r) => !r.a && r.b), "a"),
  };
}

/** Bit length of a positive BigInt. */
function bitLength(x: bigint): number {
  return x.toString(2).length;
}

/**
 * Exact (binomial) two-sided McNemar p-value from the discordant counts: `b` pairs where only A is right, `c` where
 * only B is right. p = min(1, 2·P(X ≤ min(b, c))) with X ~ Binomial(b + c, 1/2); 1 when there is no discordant pair.
 * Computed with integers (the tail's numerator over 2^n) and rounded once, so it is exact to the last float bit.
 */
export function mcnemarExact(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  const k = Math.min(b, c);
  let term = 1n, tail = 1n;
  for (let i = 0; i < k; i++) {
    term = term * BigInt(n - i) / BigInt(i + 1);
    tail += term;
  }
  const num = 2n * tail, den = 1n << BigInt(n);
  if (num >= den) return 1;
  // Scale so the integer quotient carries 64 significant bits, then undo the scale in floating point.
  const shift = Math.max(0, bitLength(den) - bitLength(num) + 64);
  const q = Number((num << BigInt(shift)) / den);
  return shift > 1000 ? q * 2 ** -1000 * 2 ** -(shift - 1000) : q * 2 ** -shift;
}

/** Linear-interpolated quantile (type 7) of sorted values. */
function quantile(sorted: Float64Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Options of {@link pairedBootstrap} and {@link pairedTest}. */
export interface BootstrapOptions {
  /** Number of resamples (default 10000). */
  resamples?: number;
  /** PRNG seed (default 42). */
  seed?: number;
  /** Confidence level of the interval (default 0.95). */
  confidence?: number;
}

/**
 * Paired bootstrap CI of accuracy(A) − accuracy(B) in percentage points: questions are resampled with
 * replacement, keeping each question's pair of verdicts together. Deterministic for a given seed.
 */
export function pairedBootstrap(
  a: boolean[],
  b: boolean[],
  options: BootstrapOptions = {},
): [number, number] {
  if (a.length !== b.length) throw new Error("pairedBootstrap: both runs need the same questions");
  const n = a.length;
  if (n === 0) return [0, 0];
  const resamples = options.resamples ?? 10000, confidence = options.confidence ?? 0.95;
  const d = a.map((x, i) => Number(x) - Number(b[i]));
  const rand = mulberry32(options.seed ?? 42);
  const diffs = new Float64Array(resamples);
  for (let s = 0; s < resamples; s++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += d[Math.floor(rand() * n)];
    diffs[s] = 100 * sum / n;
  }
  diffs.sort();
  const tail = (1 - confidence) / 2;
  return [quantile(diffs, tail), quantile(diffs, 1 - tail)];
}

/** Result of {@link pairedTest}. Accuracies and differences are in percent / percentage points. */
export interface PairedTestResult {
  /** Run id of A. */
  runA: string;
  /** Run id of B. */
  runB: string;
  /** Model label of A. */
  modelA: string;
  /** Model label of B. */
  modelB: string;
  /** Questions answered by both runs (the test's sample). */
  n: number;
  /** Accuracy of A on the common questions, %. */
  accuracyA: number;
  /** Accuracy of B on the common questions, %. */
  accuracyB: number;
  /** accuracy(A) − accuracy(B), percentage points. */
  diff: number;
  /** Concordant pairs: both right. */
  bothCorrect: number;
  /** Discordant pairs: A right and B wrong. */
  onlyA: number;
  /** Discordant pairs: B right and A wrong. */
  onlyB: number;
  /** Concordant pairs: both wrong. */
  neither: number;
  /** Exact McNemar two-sided p-value. */
  mcnemarP: number;
  /** Bootstrap CI of `diff`, percentage points, two decimals. */
  ciLow: number;
  /** Upper end of the CI of `diff`. */
  ciHigh: number;
  /** Confidence level of the CI (0.95). */
  confidence: number;
  /** Bootstrap resamples drawn. */
  resamples: number;
  /** PRNG seed of the bootstrap. */
  seed: number;
  /** p < 1 − confidence (and so the CI excludes 0, up to resampling noise). */
  significant: boolean;
}

/**
 * Paired comparison of two runs on the questions both answered: exact McNemar p-value on the discordant pairs and a
 * seeded paired bootstrap CI of the accuracy difference (A − B). Runs are named by id or model label.
 */
export function pairedTest(
  df: pl.DataFrame,
  runA: string,
  runB: string,
  options: BootstrapOptions = {},
): PairedTestResult {
  const { a, b, rows } = pairRuns(df, runA, runB);
  if (rows.length === 0) throw new Error(`runs ${a.run} and ${b.run} share no question: nothing to compare`);
  const va = rows.map((r) => Boolean(r.a)), vb = rows.map((r) => Boolean(r.b));
  const both = rows.filter((r) => r.a && r.b).length;
  const onlyA = rows.filter((r) => r.a && !r.b).length;
  const onlyB = rows.filter((r) => !r.a && r.b).length;
  const ka = both + onlyA, kb = both + onlyB, n = rows.length;
  const confidence = options.confidence ?? 0.95,
    resamples = options.resamples ?? 10000,
    seed = options.seed ?? 42;
  const [lo, hi] = pairedBootstrap(va, vb, { resamples, seed, confidence });
  const p = mcnemarExact(onlyA, onlyB);
  return {
    runA: a.run,
    runB: b.run,
    modelA: a.model,
    modelB: b.model,
    n,
    accuracyA: percent(ka, n)!,
    accuracyB: percent(kb, n)!,
    diff: Number((100 * (ka - kb) / n).toFixed(2)),
    bothCorrect: both,
    onlyA,
    onlyB,
    neither: n - both - onlyA - onlyB,
    mcnemarP: p,
    ciLow: Number(lo.toFixed(2)),
    ciHigh: Number(hi.toFixed(2)),
    confidence,
    resamples,
    seed,
    significant: p < 1 - confidence,
  };
}

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
