/**
 * The leaderboard: one row per run, sorted by execution accuracy, with what a person compares models by (EX per
 * difficulty and in total, Soft-F1, R-VES when measured, tokens, cost) and what tells two runs of one model apart
 * (mode, dialect, questions). Pure, from the records as read from disk: the report and `06` show the same rows.
 *
 * @module
 */
import { DIFFICULTIES } from "../run/mod.ts";
import type { ResultRecord, RunInfo, RunMode } from "../types.ts";
import type { RunData } from "./run_data.ts";

/** One run on the leaderboard. Percentages on a 0–100 scale with two decimals; null where nothing applies. */
export interface LeaderboardRow {
  /** Run id (the folder's name, unique among the runs). */
  run: string;
  /** The model, or the predictions' name. */
  model: string;
  /** `single`, `maj@K` or `agent T`. */
  mode: string;
  /** `sqlite`, `postgresql` or `mysql` (`sqlite` for runs from before dialects). */
  dialect: string;
  /** Questions scored. */
  questions: number;
  simple: number | null;
  moderate: number | null;
  challenging: number | null;
  /** EX over all scored questions. */
  ex: number | null;
  softF1: number | null;
  /** R-VES, when the run timed it. */
  rVes: number | null;
  /** Prompt plus completion tokens; null for runs that asked no model (predictions files). */
  tokens: number | null;
  /** USD, when a price was known. */
  costUsd: number | null;
  /** False while the run has no `summary.json` (interrupted or running). */
  finished: boolean;
}

/** The run's dialect as `run.json` records it (`dialect`, or `engine.dialect`); `sqlite` when absent. */
export function runDialect(info: RunInfo): string {
  const record = info as unknown as { dialect?: unknown; engine?: unknown };
  if (typeof record.dialect === "string") return record.dialect;
  const engine = record.engine as { dialect?: unknown } | undefined;
  if (engine && typeof engine === "object" && typeof engine.dialect === "string") return engine.dialect;
  return "sqlite";
}

/** A mode in a few characters, for a table column: `single`, `maj@8`, `agent 8`. */
export function shortMode(mode: RunMode | undefined): string {
  if (!mode || mode.name === "single") return "single";
  if (mode.name === "voting") return `maj@${mode.n}`;
  return `agent ${mode.max_turns}`;
}

function pct(k: number, n: number): number | null {
  return n === 0 ? null : Number((100 * k / n).toFixed(2));
}

function exOf(records: ResultRecord[]): number | null {
  return pct(records.filter((r) => r.status === "correct").length, records.length);
}

function sum(values: (number | null | undefined)[]): number | null {
  const known = values.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  return known.length ? known.reduce((a, b) => a + b, 0) : null;
}

/** One run's row. */
function rowOf(run: RunData): LeaderboardRow {
  const records = run.records;
  const bucket = (d: string) => exOf(records.filter((r) => (r.difficulty || "unknown") === d));
  const [simple, moderate, challenging] = DIFFICULTIES.map(bucket);
  const softF1 = records.length
    ? Number((100 * records.reduce((s, r) => s + (r.soft_f1 ?? 0), 0) / records.length).toFixed(2))
    : null;
  const asked = records.some((r) => r.tokens && (r.tokens.prompt ?? 0) + (r.tokens.completion ?? 0) > 0);
  const cost = sum(records.map((r) => r.cost_usd));
  return {
    run: run.id,
    model: run.label,
    mode: shortMode(run.info.mode),
    dialect: runDialect(run.info),
    questions: records.length,
    simple,
    moderate,
    challenging,
    ex: exOf(records),
    softF1,
    rVes: typeof run.summary?.r_ves === "number" ? run.summary.r_ves : null,
    tokens: asked ? sum(records.map((r) => r.tokens ? r.tokens.prompt + r.tokens.completion : null)) : null,
    costUsd: cost === null ? null : Number(cost.toFixed(6)),
    finished: run.summary !== null,
  };
}

/**
 * The leaderboard of runs: best EX first (ties by Soft-F1, then by the order given).
 *
 * @param runs Runs as `readRuns` returns them (ids and labels unique).
 * @returns One row per run.
 */
export function leaderboard(runs: RunData[]): LeaderboardRow[] {
  const rows = runs.map(rowOf);
  const order = new Map(rows.map((r, i) => [r, i]));
  const key = (v: number | null) => v ?? -1;
  return rows.sort((a, b) =>
    key(b.ex) - key(a.ex) || key(b.softF1) - key(a.softF1) || order.get(a)! - order.get(b)!
  );
}

/**
 * The leaderboard as table rows for a notebook (`showTable`), columns as {@linkcode leaderboardColumns}.
 *
 * @param rows From {@linkcode leaderboard}.
 * @returns Plain rows with display column names.
 */
export function leaderboardRows(rows: LeaderboardRow[]): Record<string, unknown>[] {
  const cols = leaderboardColumns(rows);
  return rows.map((r) => Object.fromEntries(cols.map((c) => [c.name, c.value(r)])));
}

/** One column of the leaderboard: its display name and how to read it from a row. */
export interface LeaderboardColumn {
  name: string;
  value: (row: LeaderboardRow) => string | number | null;
  /** True for the columns of numbers. */
  numeric: boolean;
}

/**
 * The leaderboard's columns for these rows: model, mode, dialect, questions, the EX of each difficulty some run
 * has, EX, Soft-F1, R-VES when some run timed it, tokens and cost (null, shown as a dash, where a run has none).
 *
 * @param rows From {@linkcode leaderboard}.
 */
export function leaderboardColumns(rows: LeaderboardRow[]): LeaderboardColumn[] {
  const any = (f: (r: LeaderboardRow) => unknown) => rows.some((r) => f(r) !== null && f(r) !== undefined);
  const cols: (LeaderboardColumn | false)[] = [
    { name: "model", value: (r) => r.model, numeric: false },
    { name: "mode", value: (r) => r.mode, numeric: false },
    { name: "dialect", value: (r) => r.dialect, numeric: false },
    { name: "questions", value: (r) => r.questions, numeric: true },
    any((r) => r.simple) && { name: "simple", value: (r) => r.simple, numeric: true },
    any((r) => r.moderate) && { name: "moderate", value: (r) => r.moderate, numeric: true },
    any((r) => r.challenging) && { name: "challenging", value: (r) => r.challenging, numeric: true },
    { name: "EX", value: (r) => r.ex, numeric: true },
    { name: "Soft-F1", value: (r) => r.softF1, numeric: true },
    any((r) => r.rVes) && { name: "R-VES", value: (r) => r.rVes, numeric: true },
    { name: "tokens", value: (r) => r.tokens, numeric: true },
    { name: "cost ($)", value: (r) => r.costUsd, numeric: true },
  ];
  return cols.filter((c): c is LeaderboardColumn => c !== false);
}
