/**
 * Synthetic but realistic run directories for the analysis, chart and report tests, written in the contract's
 * format (`run.json`, `results.jsonl`, `summary.json`, `predict_dev.json`, optional `metrics.jsonl`).
 *
 * Two "models" answer the 129 `superhero` questions of the bundled `data/sample/dev.json`, with the real question
 * text, evidence and gold SQL, and gold result samples from really executing the gold SQL on the bundled database.
 * Verdicts are assigned by a seeded permutation so every count below is known exactly:
 *
 * - run A (`gpt-3.5-turbo-evidence`, a predictions file): 74 correct; the baseline's real predicted SQL.
 * - run B (`llama-3.3-70b-instruct`, a model run with tokens and cost): 82 correct.
 * - both correct 64, only A 10, only B 18, neither 37 (one of them a gold error shared by both runs).
 *
 * @module
 */

import { mulberry32 } from "../../lib/util/hash.ts";
import { DatabaseSync } from "node:sqlite";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { DisplayValue, ResultRecord, ResultShape, RunInfo, Status, Summary } from "../../lib/types.ts";
import { STATUSES } from "../../lib/types.ts";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The bundled dataset the fixtures draw their questions from. */
export const SAMPLE_DATASET: string = join(REPO, "data/sample/dev.json");
const SAMPLE_DB = join(REPO, "data/sample/dev_databases/superhero/superhero.sqlite");
const BASELINE = join(REPO, "data/sample/predictions/gpt-3.5-turbo-evidence/predict_dev.json");

/** Verdict kinds the fixture assigns; they match `errorTaxonomy` in `lib/look/error_taxonomy.ts` one to one. */
export type Kind =
  | "correct"
  | "generation_error"
  | "timeout"
  | "gold_error"
  | "sql_error:no_such_column"
  | "sql_error:no_such_table"
  | "sql_error:syntax"
  | "sql_error:other"
  | "wrong:empty_result"
  | "wrong:column_count"
  | "wrong:row_count"
  | "wrong:values";

/** Failure kinds of run A, in the order they are dealt to its failing questions (54 in all). */
export const RUN_A_FAILURES: [Kind, number][] = [
  ["wrong:values", 15],
  ["wrong:empty_result", 8],
  ["wrong:column_count", 5],
  ["wrong:row_count", 6],
  ["sql_error:no_such_column", 10],
  ["sql_error:syntax", 3],
  ["sql_error:no_such_table", 2],
  ["sql_error:other", 2],
  ["timeout", 3],
];

/** Failure kinds of run B (46 in all). */
export const RUN_B_FAILURES: [Kind, number][] = [
  ["generation_error", 4],
  ["wrong:values", 14],
  ["wrong:empty_result", 6],
  ["wrong:column_count", 4],
  ["wrong:row_count", 5],
  ["sql_error:no_such_column", 7],
  ["sql_error:syntax", 2],
  ["sql_error:no_such_table", 1],
  ["sql_error:other", 1],
  ["timeout", 2],
];

/** Known facts about the fixture pair, for the tests to pin. */
export const FIXTURE_FACTS = {
  questions: 129,
  aCorrect: 74,
  bCorrect: 82,
  bothCorrect: 64,
  onlyA: 10,
  onlyB: 18,
  neither: 37,
  goldErrorPosition: 5,
} as const;

/** Paths of the fixture run directories. */
export interface FixtureRuns {
  /** Scored predictions file (no tokens). */
  a: string;
  /** Model run with tokens and cost. */
  b: string;
  /** A training output folder holding `metrics.jsonl`. */
  train: string;
}

interface DatasetQuestion {
  question_id?: number;
  db_id: string;
  question: string;
  evidence?: string;
  SQL: string;
  difficulty?: string;
}

function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  const rand = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function toDisplay(v: unknown): DisplayValue {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === "number" || typeof v === "string") return v;
  if (v instanceof Uint8Array) {
    return { blob: Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("") };
  }
  return String(v);
}

/** Runs the gold SQL for real (read-only) so the report shows genuine result samples. */
function executeGold(db: DatabaseSync, sql: string): ResultShape {
  // setReturnArrays keeps duplicate column names apart; Deno's node:sqlite types do not declare it yet.
  const stmt = db.prepare(sql) as ReturnType<DatabaseSync["prepare"]> & {
    setReturnArrays(on: boolean): void;
  };
  stmt.setReturnArrays(true);
  const columns = stmt.columns().map((c) => c.name);
  const rows = stmt.all() as unknown as unknown[][];
  const distinct = new Set(rows.map((r) => JSON.stringify(r.map(toDisplay))));
  return {
    columns,
    rows: rows.length,
    distinct_rows: distinct.size,
    sample: rows.slice(0, 5).map((r) => r.map(toDisplay)),
  };
}

const ERRORS: Partial<Record<Kind, string[]>> = {
  "sql_error:no_such_column": [
    "no such column: T1.name",
    "no such column: T2.power_name",
    "no such column: height",
  ],
  "sql_error:no_such_table": ["no such table: superheroes", "no such table: powers"],
  "sql_error:syntax": ['near "SELEC": syntax error', 'near "FROM": syntax error', "incomplete input"],
  "sql_error:other": ["misuse of aggregate: COUNT()", "ambiguous column name: id"],
  timeout: ["query timed out after 30 s"],
  generation_error: [
    "429 Too Many Requests: rate limit exceeded after 5 retries",
    "request timed out after 120 s",
  ],
};

const STATUS_OF: Record<Kind, Status> = {
  correct: "correct",
  generation_error: "generation_error",
  timeout: "timeout",
  gold_error: "gold_error",
  "sql_error:no_such_column": "pred_error",
  "sql_error:no_such_table": "pred_error",
  "sql_error:syntax": "pred_error",
  "sql_error:other": "pred_error",
  "wrong:empty_result": "wrong",
  "wrong:column_count": "wrong",
  "wrong:row_count": "wrong",
  "wrong:values": "wrong",
};

/** Builds a predicted result shape that has exactly the defect `kind` names. */
function predShape(kind: Kind, gold: ResultShape | null, p: number): ResultShape | null {
  if (!gold || STATUS_OF[kind] !== "correct" && STATUS_OF[kind] !== "wrong") return null;
  switch (kind) {
    case "correct":
      return structuredClone(gold);
    case "wrong:empty_result":
      return { columns: gold.columns, rows: 0, distinct_rows: 0, sample: [] };
    case "wrong:column_count":
      return {
        columns: [...gold.columns, "id"],
        rows: gold.rows,
        distinct_rows: gold.distinct_rows,
        sample: gold.sample.map((r, i) => [...r, i + 1]),
      };
    case "wrong:row_count": {
      const extra = Math.max(1, gold.distinct_rows) + 3 + (p % 5);
      return {
        columns: gold.columns,
        rows: extra,
        distinct_rows: extra,
        sample: [...gold.sample, ...gold.sample].slice(0, 5),
      };
    }
    default: // wrong:values: same shape, other values
      return {
        columns: gold.columns,
        rows: gold.rows,
        distinct_rows: gold.distinct_rows,
        sample: gold.sample.map((r) =>
          r.map((v) => typeof v === "number" ? v + 1 : v === null ? 0 : `${v}?`)
        ),
      };
  }
}

/** Mutates gold SQL into a plausible model answer with the given defect (run B). */
function mutateSql(kind: Kind, gold: string): string {
  switch (kind) {
    case "sql_error:syntax":
      return gold.replace(/^SELECT/i, "SELEC");
    case "sql_error:no_such_column":
      return gold.replace(/T1\.\w+/, "T1.name");
    case "sql_error:no_such_table":
      return gold.replace(/FROM (\w+)/i, "FROM superheroes");
    case "wrong:empty_result":
      return gold.replace(/WHERE/i, "WHERE 1 = 0 AND");
    case "wrong:column_count":
      return gold.replace(/^SELECT/i, "SELECT id,");
    case "wrong:row_count":
      return gold.replace(/^SELECT DISTINCT/i, "SELECT").replace(/LIMIT \d+/i, "");
    case "wrong:values":
      return gold.replace(/DESC/i, "ASC").replace(/=\s*'([^']*)'/, "LIKE '%$1%'");
    default:
      return gold;
  }
}

interface RunSpec {
  label: string;
  dir: string;
  correct: Set<number>;
  failures: [Kind, number][];
  failing: number[];
  model: boolean;
}

function deal(failing: number[], failures: [Kind, number][]): Map<number, Kind> {
  const out = new Map<number, Kind>();
  let i = 0;
  for (const [kind, count] of failures) {
    for (let k = 0; k < count; k++) out.set(failing[i++], kind);
  }
  if (i !== failing.length) throw new Error(`fixture bug: ${failing.length} failing questions, ${i} dealt`);
  return out;
}

function pct(k: number, n: number): number | null {
  return n === 0 ? null : Number((100 * k / n).toFixed(2));
}

/** The contract's summary.json, computed from records the way the engine should. */
export function summarize(records: ResultRecord[]): Summary {
  const statuses = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  const buckets: Record<string, { total: number; correct: number; f1: number }> = {};
  let prompt = 0, completion = 0, cost = 0, costKnown = false, f1 = 0;
  for (const r of records) {
    statuses[r.status]++;
    const b = buckets[r.difficulty] ??= { total: 0, correct: 0, f1: 0 };
    b.total++;
    b.f1 += r.soft_f1;
    f1 += r.soft_f1;
    if (r.status === "correct") b.correct++;
    prompt += r.tokens?.prompt ?? 0;
    completion += r.tokens?.completion ?? 0;
    if (typeof r.cost_usd === "number") [cost, costKnown] = [cost + r.cost_usd, true];
  }
  return {
    evaluator: "bird-ex-set",
    total: records.length,
    correct: statuses.correct,
    accuracy: pct(statuses.correct, records.length),
    by_difficulty: Object.fromEntries(
      Object.entries(buckets).map((
        [d, b],
      ) => [d, {
        total: b.total,
        correct: b.correct,
        accuracy: pct(b.correct, b.total),
        soft_f1: pct(b.f1, b.total),
      }]),
    ),
    statuses,
    soft_f1: pct(f1, records.length),
    r_ves: null,
    tokens: { prompt, completion },
    cost_usd: costKnown ? Number(cost.toFixed(6)) : null,
  };
}

async function writeRun(
  spec: RunSpec,
  questions: [number, DatasetQuestion][],
  golds: Map<number, ResultShape>,
) {
  const baseline = JSON.parse(await Deno.readTextFile(BASELINE)) as Record<string, string>;
  const kinds = deal(spec.failing, spec.failures);
  const rand = mulberry32(spec.model ? 7 : 3);
  const records: ResultRecord[] = [];
  const predictions: Record<string, string> = {};
  let n = 0;
  for (const [p, [index, q]] of questions.entries()) {
    const kind: Kind = p === FIXTURE_FACTS.goldErrorPosition
      ? "gold_error"
      : spec.correct.has(p)
      ? "correct"
      : kinds.get(p)!;
    const gold = golds.get(index) ?? null;
    const status = STATUS_OF[kind];
    const sql = kind === "generation_error"
      ? null
      : spec.model
      ? (kind === "correct" ? q.SQL : mutateSql(kind, q.SQL))
      : baseline[String(index)].split("\t----- bird -----\t")[0];
    const messages = ERRORS[kind];
    const error = kind === "gold_error"
      ? "gold SQL failed: no such column: T2.colour"
      : messages
      ? messages[n++ % messages.length]
      : null;
    const pred = predShape(kind, gold, p);
    const tokens = spec.model && kind !== "generation_error"
      ? { prompt: 900 + Math.floor(rand() * 500), completion: 30 + Math.floor(rand() * 90) }
      : null;
    const completion = sql === null
      ? null
      : spec.model
      ? `Here is the query:\n\`\`\`sql\n${sql}\n\`\`\``
      : null;
    records.push({
      index,
      question_id: q.question_id ?? null,
      db_id: q.db_id,
      difficulty: q.difficulty ?? "unknown",
      question: q.question,
      evidence: q.evidence ?? "",
      prompt_hash: spec.model ? "sha256:5f1c0e9a7d2b" : null,
      completion,
      sql,
      gold_sql: q.SQL,
      status,
      error,
      pred,
      gold: kind === "gold_error" ? null : gold,
      soft_f1: kind === "correct" ? 1 : status === "wrong" ? Number((rand() * 0.6).toFixed(4)) : 0,
      ves_reward: null,
      timings: {
        generation_ms: spec.model ? 400 + Math.floor(rand() * 2000) : null,
        pred_ms: sql === null ? null : kind === "timeout" ? 30000 : 1 + Math.floor(rand() * 40),
        gold_ms: 1 + Math.floor(rand() * 40),
      },
      tokens,
      cost_usd: tokens ? Number(((tokens.prompt * 0.59 + tokens.completion * 0.79) / 1e6).toFixed(8)) : null,
    });
    predictions[String(index)] = `${sql ?? ""}\t----- bird -----\t${q.db_id}`;
  }
  const dataset = await Deno.readFile(SAMPLE_DATASET);
  const sha = Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", dataset)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
  const info: RunInfo = {
    dataset: { path: "data/sample/dev.json", sha256: sha, count: 1534 },
    selection: { db: ["superhero"], limit: null, indices: questions.map(([i]) => i) },
    db_root: "data/sample/dev_databases",
    predictions: spec.model ? null : "data/sample/predictions/gpt-3.5-turbo-evidence/predict_dev.json",
    model: spec.model ? spec.label : null,
    provider: spec.model ? "openai-compatible" : null,
    base_url: spec.model ? "http://127.0.0.1:8000/v1" : null,
    model_identity: spec.model ? spec.label : null,
    prompt: {
      version: "bird-v1",
      hash: spec.model ? "sha256:5f1c0e9a7d2b" : null,
      options: { evidence: true },
    },
    sampling: { temperature: 0, max_tokens: 512, n: 1 },
    evaluator: "bird-ex-set",
    timeout_s: 30,
    ves: null,
    sqlite_version: "3.53.2",
    code_version: "0.1.0+fixture",
    started_at: spec.model ? "2026-11-20T10:00:00.000Z" : "2026-11-20T09:00:00.000Z",
    finished_at: spec.model ? "2026-11-20T10:07:12.000Z" : "2026-11-20T09:00:21.000Z",
  };
  await Deno.mkdir(spec.dir, { recursive: true });
  await Deno.writeTextFile(join(spec.dir, "run.json"), JSON.stringify(info, null, 2) + "\n");
  await Deno.writeTextFile(
    join(spec.dir, "results.jsonl"),
    records.map((r) => JSON.stringify(r) + "\n").join(""),
  );
  await Deno.writeTextFile(
    join(spec.dir, "summary.json"),
    JSON.stringify(summarize(records), null, 2) + "\n",
  );
  await Deno.writeTextFile(join(spec.dir, "predict_dev.json"), JSON.stringify(predictions, null, 2) + "\n");
}

/** A recorded training metrics stream: 60 train steps (loss decaying with noise) and an eval every 20. */
export function metricsLines(): string[] {
  const rand = mulberry32(11);
  const lines: string[] = [];
  for (let step = 1; step <= 60; step++) {
    const epoch = Number((step / 20).toFixed(3));
    const loss = 0.35 + 1.6 * Math.exp(-step / 12) + (rand() - 0.5) * 0.08;
    lines.push(JSON.stringify({
      type: "train",
      step,
      epoch,
      loss: Number(loss.toFixed(4)),
      lr: step < 2 ? 1e-4 : 2e-4,
      grad_norm: Number((0.4 + rand()).toFixed(3)),
      tokens_per_s: 2400 + Math.floor(rand() * 300),
      gpu_mem_gb: 21.5,
    }));
    if (step % 20 === 0) {
      lines.push(
        JSON.stringify({
          type: "eval",
          step,
          epoch,
          eval_loss: Number((0.42 + 1.2 * Math.exp(-step / 14)).toFixed(4)),
        }),
      );
    }
  }
  return lines;
}

/**
 * Writes the two fixture runs (and a training folder with `metrics.jsonl`) under `root`.
 * With `torn`, run B's `results.jsonl` ends in a half-written line, as after a crash mid-append.
 */
export async function makeRunFixtures(root: string, options: { torn?: boolean } = {}): Promise<FixtureRuns> {
  const dataset = JSON.parse(await Deno.readTextFile(SAMPLE_DATASET)) as DatasetQuestion[];
  const questions = dataset.map((q, i) => [i, q] as [number, DatasetQuestion]).filter(([, q]) =>
    q.db_id === "superhero"
  );
  const db = new DatabaseSync(SAMPLE_DB, { readOnly: true });
  const golds = new Map<number, ResultShape>();
  try {
    for (const [i, q] of questions) golds.set(i, executeGold(db, q.SQL));
  } finally {
    db.close();
  }
  const positions = questions.map((_, p) => p).filter((p) => p !== FIXTURE_FACTS.goldErrorPosition);
  const perm = shuffled(positions, 42);
  const a = join(root, "20261120T090000Z-gpt-3.5-turbo-evidence");
  const b = join(root, "20261120T100000Z-llama-3.3-70b-instruct");
  await writeRun(
    {
      label: "gpt-3.5-turbo-evidence",
      dir: a,
      correct: new Set(perm.slice(0, 74)),
      failing: perm.slice(74),
      failures: RUN_A_FAILURES,
      model: false,
    },
    questions,
    golds,
  );
  await writeRun(
    {
      label: "llama-3.3-70b-instruct",
      dir: b,
      correct: new Set(perm.slice(10, 92)),
      failing: [...perm.slice(0, 10), ...perm.slice(92)],
      failures: RUN_B_FAILURES,
      model: true,
    },
    questions,
    golds,
  );
  if (options.torn) {
    await Deno.writeTextFile(
      join(b, "results.jsonl"),
      '{"index": 845, "question_id": 845, "db_id": "superh',
      { append: true },
    );
  }
  const train = join(root, "train-output");
  await Deno.mkdir(train, { recursive: true });
  await Deno.writeTextFile(join(train, "metrics.jsonl"), metricsLines().join("\n") + "\n");
  return { a, b, train };
}

/**
 * Copies run `from` (its `run.json` and `results.jsonl`) into a new folder `to` under another model name: the
 * escaping tests give a run a hostile label this way.
 */
export async function copyRunAs(from: string, to: string, model: string): Promise<void> {
  await Deno.mkdir(to);
  const info = JSON.parse(await Deno.readTextFile(join(from, "run.json")));
  info.model = model;
  await Deno.writeTextFile(join(to, "run.json"), JSON.stringify(info));
  await Deno.copyFile(join(from, "results.jsonl"), join(to, "results.jsonl"));
}

/** Asserts that `fn` throws an Error whose message contains `fragment` (node:assert has no substring form). */
export function assertThrowsWith(fn: () => unknown, fragment: string): void {
  try {
    fn();
  } catch (e) {
    const message = (e as Error).message;
    if (!message.includes(fragment)) {
      throw new Error(`expected an error containing "${fragment}", got "${message}"`);
    }
    return;
  }
  throw new Error(`expected an error containing "${fragment}", nothing was thrown`);
}

/** Asserts `|actual − expected| ≤ tolerance`. */
export function assertNear(actual: number, expected: number, tolerance: number): void {
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new Error(`expected ${expected} ± ${tolerance}, got ${actual}`);
  }
}
