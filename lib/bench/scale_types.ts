/**
 * The vocabulary of the BIRD-scale dataset: its table sizes, a question and its prediction, the options and the
 * result of {@linkcode ensureScaleDatabase} (in `scale.ts`).
 *
 * @module
 */
/** Sizes of the generated tables. */
export interface ScaleParams {
  /** Rows of `bank_scale.trans`, the fact table (default 5,000,000). */
  transactions: number;
  /** Rows of `bank_scale.account` (default 200,000). */
  accounts: number;
  /** Rows of `forum_scale.posts` (default 300,000). */
  posts: number;
  /** Rows of `forum_scale.users` (default 100,000). */
  users: number;
}

/** The full BIRD-scale sizes (≥ 200 MB, a 5M-row fact table). */
export const FULL_SCALE: ScaleParams = {
  transactions: 5_000_000,
  accounts: 200_000,
  posts: 300_000,
  users: 100_000,
};

/** Options of {@linkcode ensureScaleDatabase}. */
export interface ScaleOptions {
  /** Table sizes; missing ones take {@linkcode FULL_SCALE}'s. */
  params?: Partial<ScaleParams>;
  /** Parent of the `<hash>/` folders (default `<cacheRoot()>/scale`). */
  cacheDir?: string;
  /** Called with a line per step of a fresh build. */
  onStep?: (line: string) => void;
}

/** Where a built dataset lies. */
export interface ScaleDataset {
  /** The folder of this build (`<cacheDir>/<hash>`). */
  dir: string;
  /** `dev.json`: the questions, BIRD layout. */
  dataset: string;
  /** `predict_dev.json`: official-format predictions for every question. */
  predictions: string;
  /** `dev_databases/`: `<db_id>/<db_id>.sqlite` below it. */
  dbRoot: string;
  /** The questions as written (with their tags), in dataset order. */
  questions: ScaleQuestion[];
  /** The parameters it was built with. */
  params: ScaleParams;
  /** True when this call built it, false when a previous build was reused. */
  built: boolean;
  /** Seconds the build took (0 when reused). */
  buildSeconds: number;
}

/** A generated question: the dataset entry plus what its prediction is and what the tests need to know. */
export interface ScaleQuestion {
  db_id: "bank_scale" | "forum_scale";
  question: string;
  evidence: string;
  SQL: string;
  difficulty: "simple" | "moderate" | "challenging";
  /** The SQL written into the predictions file for this question. */
  prediction: string;
  /** `correct`: the gold rewritten (same result set); `wrong`: a realistic mistake; `error`: fails to run. */
  kind: "correct" | "wrong" | "error";
  /** Free tags: `large` (100K–1M rows), `fact` (scans or joins the 5M-row table), `window`, … */
  tags: string[];
}

/** A question as written in the question tables; `alt` (a correct rewrite), `wrong` or `error` names its prediction. */
export interface QuestionSpec {
  q: string;
  ev?: string;
  sql: string;
  d: "simple" | "moderate" | "challenging";
  tags?: string[];
  alt?: string;
  wrong?: string;
  error?: string;
}
