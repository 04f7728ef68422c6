/**
 * Two runs compared question by question: which questions one solves and the other does not, the exact McNemar
 * p-value on the discordant pairs, and a seeded paired bootstrap CI of the accuracy difference, so a +1.5 point
 * difference can be told from noise.
 *
 * ```ts
 * pairedTest(loadRuns(["runs/a", "runs/b"]), "a", "b"); // McNemar exact p and a bootstrap CI of the difference
 * ```
 *
 * @module
 */
import pl from "nodejs-polars";
import { mulberry32 } from "../util/mod.ts";
import { percent, runOrder } from "./analysis.ts";

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

/**
 * Joins two runs on the question index, refusing runs over different datasets (indices would not match). The
 * dialect versions of one set (mini-dev's SQLite, PostgreSQL and MySQL files: the same questions in the same
 * order, each with its dialect's gold SQL and evidence) pair too: their question identities are equal.
 */
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
      "questions_sha256",
      pl.col("correct").alias(s),
      pl.col("error_kind").alias(`kind_${s}`),
    );
  const left = side(a.run, "a");
  const right = side(b.run, "b").select(
    "index",
    pl.col("dataset_sha256").alias("sha_b"),
    pl.col("questions_sha256").alias("questions_b"),
    "b",
    "kind_b",
  );
  const joined = left.join(right, { on: "index", how: "inner" });
  type Joined = PairRow & {
    dataset_sha256: string;
    sha_b: string;
    questions_sha256: string | null;
    questions_b: string | null;
  };
  const rows = joined.sort("index").toRecords() as unknown as Joined[];
  const sameQuestions = (r: Joined) => r.questions_sha256 !== null && r.questions_sha256 === r.questions_b;
  const mismatch = rows.find((r) => r.dataset_sha256 !== r.sha_b && !sameQuestions(r));
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
