/**
 * A BIRD-scale dataset generated on the spot: two databases in BIRD's layout (`bank_scale`, modelled on BIRD's
 * `financial`, with a fact table of 5M transactions; `forum_scale`, modelled on `codebase_community`, with long
 * texts), about 50 analytic questions over them (joins, GROUP BY, window functions, date filters, subqueries,
 * results up to 1M rows), and an official-format predictions file (gold rewritten so it stays correct, and
 * realistic wrong answers).
 *
 * Everything is pure SQL inside SQLite (`WITH RECURSIVE` and integer hash expressions of the row number), so the
 * build is deterministic and needs nothing but the engine Deno ships. It lands in
 * `<cacheRoot()>/scale/<hash>/` where the hash covers the generator version and its parameters, and is reused
 * by every later call with the same parameters; a half-built folder is never taken for a finished one (a
 * `done.json` marker is written last).
 *
 * @module
 */
import { join } from "node:path";
import { cacheRoot, exists } from "../util/mod.ts";
import { buildScaleDatabases, scaleHash } from "./scale_build.ts";
import { scaleQuestions, writeQuestions } from "./scale_questions.ts";
import { FULL_SCALE, type ScaleDataset, type ScaleOptions, type ScaleParams } from "./scale_types.ts";

/**
 * The BIRD-scale dataset for `params` (default {@linkcode FULL_SCALE}): reused from the cache when a finished build
 * with the same hash exists, else built and then reused (full scale: 0.8 GB, ~53 s of CPU for `bank_scale`
 * and ~8 s for `forum_scale`, built in parallel threads; 150 s wall on a shared, loaded 2-core box).
 */
export async function ensureScaleDatabase(options: ScaleOptions = {}): Promise<ScaleDataset> {
  const params: ScaleParams = { ...FULL_SCALE, ...options.params };
  const root = options.cacheDir ?? join(cacheRoot(), "scale");
  const dir = join(root, scaleHash(params));
  const questions = scaleQuestions();
  const paths = {
    dir,
    dataset: join(dir, "dev.json"),
    predictions: join(dir, "predict_dev.json"),
    dbRoot: join(dir, "dev_databases"),
  };
  const reused = await exists(join(dir, "done.json"));
  const buildSeconds = reused ? 0 : await buildScaleDatabases(dir, params, { onStep: options.onStep });
  await writeQuestions(dir, questions);
  return { ...paths, questions, params, built: !reused, buildSeconds };
}
