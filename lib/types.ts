/**
 * Types shared along the data flow: dataset → prompt → model → SQL → execution → comparison → run log.
 * The run-log shapes here are the contract in ARCHITECTURE.md ("Run directory", "summary.json").
 *
 * @module
 */

/** One question of a BIRD-format dataset, normalised. */
export interface Example {
  /** Position in the dataset array: the key of the official predictions file. */
  index: number;
  question_id: number | null;
  db_id: string;
  question: string;
  /** External knowledge; empty string when absent. */
  evidence: string;
  /** Gold SQL (`SQL` or `query` in the file). */
  sql: string;
  /** `simple|moderate|challenging`, or `unknown` when the file has none (TRAIN). */
  difficulty: string;
}

/** The six verdicts a question can get. */
export const STATUSES = [
  "correct",
  "wrong",
  "pred_error",
  "gold_error",
  "timeout",
  "generation_error",
] as const;
/** A question's verdict. */
export type Status = typeof STATUSES[number];

/**
 * A JSON-safe value from a result row, its SQLite type kept: TEXT is a string, integers within 2^53 and finite
 * REALs are numbers, larger integers `{"int": "<decimal>"}`, infinite REALs `{"real": "inf"|"-inf"}`, BLOBs
 * `{"blob": hex}` (long ones cut, with "…"); from a server engine, a value of a Python type with no JSON
 * counterpart (a date, a `Decimal` no float equals) `{"py": key}`, its canonical key (`result_digest.ts`).
 */
export type DisplayValue =
  | number
  | string
  | null
  | { blob: string }
  | { int: string }
  | { real: string }
  | { py: string };

/** The shape and a capped sample of one query's result, as stored in the run log. */
export interface ResultShape {
  /** Column names, in order. */
  columns: string[];
  /** Number of rows returned (all of them, not the sample). */
  rows: number;
  /** Number of distinct rows (what set comparison sees). */
  distinct_rows: number;
  /** The first rows, for display only. */
  sample: DisplayValue[][];
}

/** One line of `results.jsonl`. */
export interface ResultRecord {
  index: number;
  question_id: number | null;
  db_id: string;
  difficulty: string;
  question: string;
  evidence: string;
  prompt_hash: string | null;
  /** The raw model answer (first sample), or null when scoring a predictions file. */
  completion: string | null;
  /** All samples when `--n` > 1. */
  completions?: string[];
  /** The SQL that was executed (extracted from the completion, or from the predictions file). */
  sql: string | null;
  gold_sql: string;
  status: Status;
  /** Reason for a non-correct verdict (error message), null when correct or plainly wrong. */
  error: string | null;
  pred: ResultShape | null;
  gold: ResultShape | null;
  /** Soft-F1 in [0, 1] as BIRD mini-dev computes it; 0 on any error. */
  soft_f1: number;
  /** R-VES reward for this question when `--ves` was given (0 when not correct), else null. */
  ves_reward: number | null;
  timings: { generation_ms: number | null; pred_ms: number | null; gold_ms: number | null };
  tokens: { prompt: number; completion: number } | null;
  /** USD this run spent on this question's generation when a price is known (0 when served from the cache). */
  cost_usd?: number | null;
  /** True when the completion came from the on-disk cache (no request was made). */
  cached?: boolean;
  /** Voting runs: every candidate with its result digest, group and verdict (`correct` for analysis only). */
  candidates?: CandidateRecord[];
  /** Voting runs: the sample whose SQL is the answer. */
  answer_sample?: number;
  /** Voting runs: candidate executions made for the vote (distinct SQL texts). */
  executions?: number;
  /** Agent runs: each tool call's SQL, what it returned, its time. */
  trajectory?: TrajectoryStep[];
  /** Agent runs: model calls made. */
  turns?: number;
  /** Agent runs: how the loop ended. */
  stop?: AgentStop;
  /** Agent runs cut by `--question-timeout`: the budget, in seconds, that fired. */
  question_timeout_s?: number;
}

/** How a candidate fared in the vote (lib/run/voting.ts). */
export type CandidateStatus =
  /** The answer: the first sample (by index) of the winning group, or the first sample when all failed. */
  | "answer"
  /** Same result as the answer, a later sample. */
  | "agrees"
  /** Ran, but its group lost. */
  | "outvoted"
  /** Failed to execute: out of the vote. */
  | "error";

/** A voting candidate as a record lists it. */
export interface CandidateRecord {
  sample_index: number;
  sql: string;
  /** The result's set digest (`exec/result_digest.ts` `setDigest`: equal iff EX calls two results equal), null
   * when the candidate failed. */
  digest: string | null;
  /** Size of the candidate's result group (0 for a failed one). */
  group_size: number;
  status: CandidateStatus;
  /** The execution error of a failed candidate, else null. */
  error: string | null;
  /** Its verdict against gold, added after the vote for analysis only. */
  correct?: boolean;
}

/** One tool call of an agent trajectory, as a record stores it. */
export type TrajectoryStep =
  & {
    /** The turn (1-based model call) that asked for it. */
    turn: number;
    /** The query, or null when the call had no usable `query` argument or named another tool. */
    sql: string | null;
    /** The call's raw arguments when they held no usable query (not JSON, no `query`), capped; else absent. */
    arguments?: string;
    /** Execution time in ms (0 for a call that never reached the database). */
    ms: number;
  }
  & (
    | { ok: true; row_count: number; columns: string[]; rows: DisplayValue[][] }
    | { ok: false; error: string }
  );

/**
 * How an agent loop ended: `answer` (a message without a tool call), `max_turns` (cut at the limit) or
 * `question_timeout` (cut by the per-question wall-clock budget, `--question-timeout`).
 */
export type AgentStop = "answer" | "max_turns" | "question_timeout";

/** A run's mode, as `run.json` records it. */
export type RunMode =
  | { name: "single" }
  | { name: "voting"; n: number }
  | { name: "agent"; max_turns: number; tool_rows: number };

/** The three voting figures of one bucket, in percent (two decimals), null when the bucket is empty. */
export interface VotingFigures {
  /** The voted answer is correct (equals the run's accuracy). */
  majority: number | null;
  /** The first sample alone is correct: what a single-answer run at this sampling would score. */
  first: number | null;
  /** Some candidate is correct: the oracle's ceiling. */
  any: number | null;
}

/** `summary.json`'s `voting` (voting runs only). */
export interface VotingSummary extends VotingFigures {
  /** Samples per question. */
  n: number;
  /** The same figures per difficulty, with the bucket's question count. */
  by_difficulty: Record<string, VotingFigures & { total: number }>;
}

/** Accuracy of one difficulty bucket in `summary.json`. */
export interface BucketSummary {
  total: number;
  correct: number;
  /** Percent, two decimals; null when total is 0. */
  accuracy: number | null;
  /** Percent, two decimals; null when total is 0. */
  soft_f1: number | null;
}

/** `summary.json`, exactly as the contract gives it. */
export interface Summary {
  evaluator: "bird-ex-set";
  /**
   * The dialect and engine that scored, when not SQLite (`postgresql (PGlite 18.6)`, `mysql (10.11.19-MariaDB)`):
   * absent for SQLite, so its summary is as before dialects.
   */
  engine?: string;
  total: number;
  correct: number;
  accuracy: number | null;
  by_difficulty: Record<string, BucketSummary>;
  statuses: Record<Status, number>;
  soft_f1: number | null;
  r_ves: number | null;
  tokens: { prompt: number; completion: number };
  cost_usd: number | null;
  /**
   * Present only when the run is not a clean whole: questions whose generation failed (`generation_error`) and
   * questions not scored at all (a run stopped on a failing endpoint).
   */
  incomplete?: { generation_error: number; unfinished: number };
  /** Voting runs: the voted answer's, the first sample's and the oracle's accuracy. */
  voting?: VotingSummary;
}

/** `run.json`: what produced a run. Never holds a secret. */
export interface RunInfo {
  dataset: {
    path: string;
    sha256: string;
    count: number;
    /**
     * sha256 of the questions' identities alone (`question_id` and `db_id`, in order), not their text or SQL:
     * equal for the dialect versions of one set (mini-dev's SQLite, PostgreSQL and MySQL files, whose evidence
     * and gold differ per dialect), so runs of one model in several dialects compare question by question.
     * Absent in folders from before dialects.
     */
    questions_sha256?: string;
  };
  selection: { db: string[]; limit: number | null; indices: number[] };
  db_root: string;
  predictions: string | null;
  /** sha256 of the predictions file, so a resumed run cannot silently mix two files. */
  predictions_sha256?: string | null;
  model: string | null;
  provider: string | null;
  base_url: string | null;
  /** The model's identity as the server reports it (`/v1/models`), when known. */
  model_identity?: string | null;
  prompt: { version: string; hash: string | null; options: Record<string, unknown> };
  sampling: { temperature: number; max_tokens: number | null; n: number };
  evaluator: "bird-ex-set";
  timeout_s: number;
  ves: number | null;
  /** The SQLite that Deno links (the SQLite engine's, and the one the prompt's schema reader uses). */
  sqlite_version: string;
  /** The SQLite worker's semantics (`ENGINE_OPTIONS` in sqlite_pool.ts): DQS, math functions, … */
  engine?: string;
  /** The SQL dialect the run was evaluated in; absent in folders from before dialects existed (SQLite). */
  dialect?: "sqlite" | "postgresql" | "mysql";
  /** The engine that executed and compared (`SqlEngine.info()`): never a credential. */
  engine_info?: {
    dialect: "sqlite" | "postgresql" | "mysql";
    engine: "sqlite" | "pglite" | "postgresql" | "mysql";
    version: string;
    semantics: string;
    location: string | null;
  };
  code_version: string;
  started_at: string;
  finished_at: string | null;
  /** The evaluation mode; absent in folders from before modes existed (single answer). */
  mode?: RunMode;
  /** Symlinks in the database root pointing outside it, followed because `--allow-symlinks` was given. */
  db_symlinks?: { path: string; target: string }[];
}

/** A chat message in the OpenAI format. */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** Tokens one exchange with a model used, as the server reported them. */
export interface Usage {
  prompt: number;
  completion: number;
}

/** A tool offered to a model (the OpenAI tools protocol). */
export interface ToolSpec {
  type: "function";
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

/** The SQL dialects a run can be evaluated in (mini-dev ships its questions in all three). */
export type Dialect = "sqlite" | "postgresql" | "mysql";

/** A column as the prompt's DDL shows it. */
export interface CatalogColumn {
  name: string;
  /** The declared type as the engine's catalog names it (`integer`, `double precision`, `varchar(255)`, …). */
  type: string;
  notNull: boolean;
}

/** A table of one BIRD database as the engine's catalog describes it. */
export interface CatalogTable {
  name: string;
  columns: CatalogColumn[];
  primaryKey: string[];
  /** UNIQUE constraints other than the primary key, each its columns (a foreign key may reference one). */
  unique?: string[][];
  foreignKeys: { columns: string[]; refTable: string; refColumns: string[] }[];
}
