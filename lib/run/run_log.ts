/**
 * The run directory (contract: ARCHITECTURE.md "Run directory"): `run.json`, the append-only
 * `results.jsonl`, `predict_dev.json` and `summary.json`; summarising records the official way; and the
 * per-difficulty table printed as the official script prints it.
 *
 * @module
 */
import { join } from "node:path";
import { formatPrediction } from "../data/mod.ts";
import { EVALUATOR, rVes } from "../exec/mod.ts";
import { JsonLinesAppender, READ_LIMITS, readTextSafe, UnsafeFileError } from "../util/mod.ts";
import {
  type BucketSummary,
  type ResultRecord,
  type RunInfo,
  type Status,
  STATUSES,
  type Summary,
} from "../types.ts";

/** File names inside a run directory. */
export const RUN_FILES = {
  info: "run.json",
  results: "results.jsonl",
  predictions: "predict_dev.json",
  summary: "summary.json",
} as const;

/** The difficulties the official table always shows, in its order. */
export const DIFFICULTIES = ["simple", "moderate", "challenging"] as const;

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** What `results.jsonl` holds: the records, the byte length of its intact prefix, and whether a tail was torn. */
export interface ParsedResults {
  /** By dataset index; a later record for the same index replaces an earlier one (`--retry-failed` appends). */
  records: Map<number, ResultRecord>;
  /** Bytes of whole lines: an appender cuts the file here before writing. */
  intactBytes: number;
  /** True when the last line was half written (a run killed mid-write) and was skipped. */
  torn: boolean;
}

/**
 * Parse `results.jsonl` text. Every record is written as one whole line ending in a newline, so a last line
 * without one is torn (skipped, and cut by the next appender); a bad line anywhere else is corruption, an error
 * naming `file` and the line. The one reading rule for evaluation (resume) and analysis (reports, notebooks).
 */
export function parseResults(text: string, file: string): ParsedResults {
  const records = new Map<number, ResultRecord>();
  const encoder = new TextEncoder();
  const lines = text.split("\n");
  let intactBytes = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const isLast = i === lines.length - 1;
    if (isLast) return { records, intactBytes, torn: line.trim() !== "" };
    if (line.trim()) {
      try {
        const rec = JSON.parse(line) as ResultRecord;
        records.set(rec.index, rec);
      } catch (e) {
        throw new Error(`${file}: line ${i + 1} is corrupt (${(e as Error).message})`);
      }
    }
    intactBytes += encoder.encode(line).length + 1;
  }
  return { records, intactBytes, torn: false };
}

/** Read and parse a run's `results.jsonl` (see {@linkcode parseResults}); an absent file is an empty run. */
export async function readResults(dir: string): Promise<ParsedResults> {
  const file = join(dir, RUN_FILES.results);
  let text: string;
  try {
    text = await readTextSafe(file, { maxBytes: READ_LIMITS.runLog, what: "run log" });
  } catch (e) {
    if (e instanceof UnsafeFileError && e.kind === "missing") {
      return { records: new Map(), intactBytes: 0, torn: false };
    }
    throw e;
  }
  return parseResults(text, file);
}

/** The append-only writer of `results.jsonl`: each record one full line, group-committed (`util/jsonl_log.ts`). */
export type ResultsWriter = JsonLinesAppender<ResultRecord>;

/** Open a run folder's `results.jsonl` for appending, first cutting a torn last line left by a killed run. */
export function openResultsWriter(dir: string, intactBytes: number): Promise<ResultsWriter> {
  return JsonLinesAppender.open<ResultRecord>(join(dir, RUN_FILES.results), intactBytes);
}

/** Read `run.json`, or null when the folder holds no run. */
export async function readRunInfo(dir: string): Promise<RunInfo | null> {
  try {
    const file = join(dir, RUN_FILES.info);
    return JSON.parse(
      await readTextSafe(file, { maxBytes: READ_LIMITS.smallJson, what: "run.json" }),
    ) as RunInfo;
  } catch (e) {
    if (e instanceof UnsafeFileError && e.kind === "missing") return null;
    throw new Error(`${join(dir, RUN_FILES.info)}: unreadable (${(e as Error).message})`);
  }
}

/** Summarise records as `summary.json` (percentages 0–100, two decimals). */
export function summarize(
  records: ResultRecord[],
  options: { ves?: boolean; costUsd?: number | null; unfinished?: number } = {},
): Summary {
  const pct = (num: number, den: number): number | null => (den ? round2((num / den) * 100) : null);
  const present = new Set(records.map((r) => r.difficulty));
  const buckets = [
    ...DIFFICULTIES,
    ...[...present].filter((d) => !(DIFFICULTIES as readonly string[]).includes(d)).sort(),
  ];
  const by_difficulty: Record<string, BucketSummary> = {};
  for (const d of buckets) {
    const rs = records.filter((r) => r.difficulty === d);
    const correct = rs.filter((r) => r.status === "correct").length;
    by_difficulty[d] = {
      total: rs.length,
      correct,
      accuracy: pct(correct, rs.length),
      soft_f1: rs.length ? round2((rs.reduce((a, r) => a + r.soft_f1, 0) / rs.length) * 100) : null,
    };
  }
  const statuses = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  for (const r of records) statuses[r.status]++;
  const correct = statuses.correct;
  const tokens = { prompt: 0, completion: 0 };
  for (const r of records) {
    tokens.prompt += r.tokens?.prompt ?? 0;
    tokens.completion += r.tokens?.completion ?? 0;
  }
  const ves = options.ves ? rVes(records.map((r) => r.ves_reward ?? 0)) : null;
  const unfinished = options.unfinished ?? 0;
  // Only present when flagged, so a complete run's summary keeps exactly the contract's fields.
  const incomplete = statuses.generation_error || unfinished
    ? { incomplete: { generation_error: statuses.generation_error, unfinished } }
    : {};
  return {
    evaluator: EVALUATOR,
    total: records.length,
    correct,
    accuracy: pct(correct, records.length),
    by_difficulty,
    statuses,
    soft_f1: records.length
      ? round2((records.reduce((a, r) => a + r.soft_f1, 0) / records.length) * 100)
      : null,
    r_ves: ves === null ? null : round2(ves),
    tokens,
    cost_usd: options.costUsd ?? null,
    ...incomplete,
  };
}

/** The official per-difficulty table (`print_data` of BIRD's evaluation.py), plus Soft-F1 and R-VES lines. */
export function formatSummaryTable(summary: Summary): string {
  const levels = [...DIFFICULTIES, "total"];
  const col = (s: string) => s.padEnd(20);
  const num = (x: number | null) => col(x === null ? "-" : x.toFixed(2));
  const bucket = (l: string): BucketSummary =>
    l === "total"
      ? {
        total: summary.total,
        correct: summary.correct,
        accuracy: summary.accuracy,
        soft_f1: summary.soft_f1,
      }
      : summary.by_difficulty[l] ?? { total: 0, correct: 0, accuracy: null, soft_f1: null };
  const lines = [
    `${col("")} ${levels.map(col).join(" ")}`,
    `${col("count")} ${levels.map((l) => col(String(bucket(l).total))).join(" ")}`,
    "======================================    ACCURACY    =====================================",
    `${col("accuracy")} ${levels.map((l) => num(bucket(l).accuracy)).join(" ")}`,
    `${col("soft-f1")} ${levels.map((l) => num(bucket(l).soft_f1)).join(" ")}`,
  ];
  const others = Object.entries(summary.by_difficulty)
    .filter(([d, b]) => !(DIFFICULTIES as readonly string[]).includes(d) && b.total > 0)
    .map(([d, b]) => `${b.total} ${d === "unknown" ? "without a difficulty" : `of difficulty "${d}"`}`);
  if (others.length) lines.push(`(${others.join(", ")}: counted in total only)`);
  if (summary.r_ves !== null) lines.push(`${col("r-ves")} ${" ".repeat(63)}${num(summary.r_ves)}`);
  const st = Object.entries(summary.statuses).filter(([, n]) => n > 0).map(([s, n]) => `${s} ${n}`).join(
    ", ",
  );
  const engine = summary.engine ? `, ${summary.engine}` : "";
  lines.push(`statuses: ${st || "none"}   (evaluator: ${summary.evaluator}${engine})`);
  if (summary.tokens.prompt || summary.tokens.completion) {
    const cost = summary.cost_usd === null ? "" : `, cost $${summary.cost_usd.toFixed(4)}`;
    lines.push(`tokens: ${summary.tokens.prompt} prompt, ${summary.tokens.completion} completion${cost}`);
  }
  // The official script pads every column, the last included; a terminal or a diff gains nothing from the spaces.
  return lines.map((line) => line.trimEnd()).join("\n");
}

/** The run's own `predict_dev.json`, keyed by original dataset index, in the official format. */
export function predictionsFile(records: ResultRecord[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of [...records].sort((a, b) => a.index - b.index)) {
    out[String(r.index)] = formatPrediction(r.sql ?? "", r.db_id);
  }
  return out;
}
