/**
 * What a run can be asked (the options of `deno task eval`), what it returns, and how it fails: the vocabulary
 * every stage of a run shares.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import type { Dialect } from "../exec/mod.ts";
import type { ModelClientOptions, Provider } from "../model/mod.ts";
import type { PromptOptions } from "../prompt/mod.ts";
import type { ResultRecord, Summary } from "../types.ts";

/** Where the bundled sample lives (independent of the current directory: notebooks run in `notebooks/`). */
export const SAMPLE_DIR: string = resolve(
  dirname(new URL(import.meta.url).pathname),
  "..",
  "..",
  "data",
  "sample",
);
/** The bundled official baseline predictions (gpt-3.5-turbo with evidence, BIRD's authors, 2023 dev release). */
export const SAMPLE_PREDICTIONS: string = join(
  SAMPLE_DIR,
  "predictions",
  "gpt-3.5-turbo-evidence",
  "predict_dev.json",
);

/** Progress of a run, for notebooks. */
export interface EvalProgress {
  done: number;
  total: number;
  correct: number;
  errors: number;
}

/** Everything a run can be asked to do (the CLI flags of `deno task eval`, in camelCase). */
export interface EvalOptions {
  /** Dataset JSON file or BIRD-layout folder (default: the bundled sample's dev.json). */
  dataset?: string;
  dbRoot?: string;
  db?: string[];
  /**
   * The SQL dialect the run is evaluated in (default `sqlite`): the engine that executes and compares, the
   * dialect the prompt names and renders its schema in. With `postgresql` and no `dbUrl`, an embedded PostgreSQL
   * (PGlite) loaded from the SQLite databases under `dbRoot`.
   */
  dialect?: Dialect;
  /** A PostgreSQL or MySQL server holding the databases (`deno task db load`), credentials never recorded. */
  dbUrl?: string;
  limit?: number | null;
  /** An official-format predictions file to score instead of asking a model. */
  predictions?: string;
  model?: string;
  provider?: Provider;
  baseUrl?: string;
  concurrency?: number;
  /** Seconds per API call (default 45). */
  requestTimeoutS?: number;
  /** Seconds after a request's first attempt past which no retry starts (default 60; 429s exempt). */
  retryBudgetS?: number;
  /**
   * Agent mode: wall-clock seconds for one question, all turns and tool calls together (default 300); when it
   * fires the last query executed is the answer and the record says `stop: "question_timeout"`.
   */
  questionTimeoutS?: number;
  /** Per-query time limit, seconds (default 30). */
  timeoutS?: number;
  workers?: number;
  /** Memory limit of each worker process, bytes (default 2 GiB): a larger result fails its own question. */
  workerMemory?: number;
  temperature?: number;
  maxTokens?: number | null;
  /** Samples per question; K > 1 is self-consistency (the vote over execution results). */
  n?: number;
  /** Agent mode: the model may run queries through the `execute_sql` tool. */
  agent?: boolean;
  /** Model calls per question in agent mode (default 8). */
  maxTurns?: number;
  prompt?: Partial<PromptOptions>;
  /** R-VES with this many timed repetitions per correct question. */
  ves?: number | null;
  cache?: boolean;
  /** Completion cache folder (default `$XDG_CACHE_HOME/text2sql/completions`). */
  cacheDir?: string;
  /** Gold-result cache folder (default `$XDG_CACHE_HOME/text2sql/gold`). */
  goldCacheDir?: string;
  retryFailed?: boolean;
  out?: string;
  /** Progress as occasional lines (CI logs) instead of a terminal bar. */
  quiet?: boolean;
  /** No progress output at all (tests; notebooks that draw their own with `onProgress`). */
  silent?: boolean;
  /** USD per million tokens, for the cost line. */
  prices?: { prompt_per_mtok: number; completion_per_mtok: number };
  onProgress?: (p: EvalProgress) => void;
  /** Retry/backoff knobs of the model client (tests shorten the backoff). */
  clientOptions?: ModelClientOptions;
  /** Retries of a failing request after the first attempt (default 6). */
  maxRetries?: number;
  /** Stop after this many questions in a row fail to generate (default 5; 0 never stops). */
  maxConsecutiveFailures?: number;
  /** Follow symlinks in the database root that point outside it (recorded in `run.json`). */
  allowSymlinks?: boolean;
}

/** The endpoint kept failing: the run stopped early, its finished work kept; the message is one line. */
export class EndpointError extends Error {
  override name = "EndpointError";
}

/** Where the answers of a run came from in one call, so a rerun can say what it reused. */
export interface ReuseCounts {
  /** Questions read back from the run log (`results.jsonl`), finished by an earlier call. */
  fromLog: number;
  /** Questions scored in this call whose model answers all came from the completion cache (no request). */
  fromCache: number;
  /** Questions scored in this call that asked the model (for a predictions run: scored from the file). */
  fresh: number;
}

/** What a finished run returns. */
export interface EvalResult {
  dir: string;
  summary: Summary;
  records: ResultRecord[];
  /** True when the bundled baseline predictions were scored because nothing else was asked for. */
  usedDefaults: boolean;
  /** Gold queries served from the cache vs executed in this call. */
  gold: { hits: number; misses: number };
  /** The selected questions by where their answers came from in this call. */
  reuse: ReuseCounts;
}

/** A run folder holding a different configuration; the message lists the differences. */
export class RunMismatchError extends Error {
  override name = "RunMismatchError";
}
