/**
 * The pair sets of the scoring benchmark, written into a folder: `superhero` (the bundled sample × copies,
 * distinct SQL text), `trivial` (`SELECT n` pairs: per-question overhead), `scale` (the BIRD-scale questions).
 *
 * @module
 */
import { join } from "node:path";
import { SAMPLE_DIR, SAMPLE_PREDICTIONS } from "../run/mod.ts";
import { BIRD_SEPARATOR } from "../data/mod.ts";

/** A dataset, its predictions file and databases, and how many pairs it holds. */
export interface Pairs {
  dataset: string;
  predictions: string;
  dbRoot: string;
  count: number;
}

/** Write a dataset of `copies` × the superhero questions, with a predictions file of distinct SQL text. */
async function buildPairs(dir: string, copies: number): Promise<Pairs> {
  const dev = JSON.parse(await Deno.readTextFile(join(SAMPLE_DIR, "dev.json"))) as Record<string, unknown>[];
  const preds = JSON.parse(await Deno.readTextFile(SAMPLE_PREDICTIONS)) as Record<string, string>;
  const heroes = dev.map((q, i) => [q, i] as const).filter(([q]) => q.db_id === "superhero");
  const questions: Record<string, unknown>[] = [];
  const first: Record<string, string> = {};
  for (let c = 0; c < copies; c++) {
    for (const [q, i] of heroes) {
      const idx = questions.length;
      questions.push({ ...q, question_id: idx, SQL: `${q.SQL}\n-- copy ${c}` });
      const sql = preds[String(i)].split(BIRD_SEPARATOR)[0];
      first[String(idx)] = `${sql}\n-- first ${c}${BIRD_SEPARATOR}superhero`;
    }
  }
  const dataset = join(dir, "dev.json");
  await Deno.writeTextFile(dataset, JSON.stringify(questions));
  await Deno.writeTextFile(join(dir, "predict_dev.json"), JSON.stringify(first));
  return {
    dataset,
    predictions: join(dir, "predict_dev.json"),
    dbRoot: join(SAMPLE_DIR, "dev_databases"),
    count: questions.length,
  };
}

/** Write `count` trivial pairs (`SELECT n` against `SELECT n AS v`) on superhero: the per-question overhead. */
async function buildTrivial(dir: string, count: number): Promise<Pairs> {
  const questions = [];
  const preds: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    questions.push({ question_id: i, db_id: "superhero", question: `number ${i}?`, SQL: `SELECT ${i}` });
    // One in ten wrong, so the verdicts are not all alike.
    preds[String(i)] = `SELECT ${i % 10 === 9 ? i + 1 : i} AS v${BIRD_SEPARATOR}superhero`;
  }
  await Deno.writeTextFile(join(dir, "dev.json"), JSON.stringify(questions));
  await Deno.writeTextFile(join(dir, "predict_dev.json"), JSON.stringify(preds));
  return {
    dataset: join(dir, "dev.json"),
    predictions: join(dir, "predict_dev.json"),
    dbRoot: join(SAMPLE_DIR, "dev_databases"),
    count,
  };
}

/** The BIRD-scale set's quick sizes (`--quick`). */
export const QUICK_SCALE = { transactions: 300_000, accounts: 20_000, posts: 30_000, users: 10_000 };

/** The BIRD-scale questions (quick: a small build), built on first use and reused from the cache. */
async function scalePairs(quick: boolean): Promise<Pairs> {
  const { ensureScaleDatabase } = await import("./scale.ts");
  const scale = await ensureScaleDatabase({
    params: quick ? QUICK_SCALE : {},
    onStep: (line) => console.log(line),
  });
  if (scale.built) console.log(`built in ${scale.buildSeconds.toFixed(1)} s`);
  return {
    dataset: scale.dataset,
    predictions: scale.predictions,
    dbRoot: scale.dbRoot,
    count: scale.questions.length,
  };
}

/** Sizes of the sets (each defaults to its quick or full size). */
export interface SetSizes {
  quick: boolean;
  copies?: number;
  trivial?: number;
}

/** The pairs of set `name`, written into `dir` (the scale set lives in its cache). Unknown names throw. */
export function buildSet(name: string, dir: string, sizes: SetSizes): Promise<Pairs> {
  const { quick } = sizes;
  if (name === "superhero") return buildPairs(dir, sizes.copies ?? (quick ? 2 : 20));
  if (name === "trivial") return buildTrivial(dir, sizes.trivial ?? (quick ? 300 : 3000));
  if (name === "scale") return scalePairs(quick);
  throw new Error(`unknown set ${name} (superhero, trivial, scale)`);
}
