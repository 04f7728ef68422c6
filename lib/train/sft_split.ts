/**
 * The train/test split of a dataset build: each example's side decided by a hash of (seed, db_id, question)
 * (or of (seed, db_id) with `--group-by-db`), the line order a content hash, and the split's record in
 * dataset.json.
 *
 * @module
 */

import { canonicalJson, sha256Hex, UsageError } from "../util/mod.ts";
import type { Example } from "../types.ts";

/** How examples are split between train and test. */
export interface SplitOptions {
  /** Fraction of examples (or databases, with `groupByDb`) sent to test, in [0, 1]. Default 0.3. */
  testRatio: number;
  /** Seed of the split hash. Default 42. */
  seed: number;
  /** Split by database instead of by question: a database's questions all land on one side. */
  groupByDb: boolean;
}

/** Default split: the original tool's 70/30, seeded. */
export const DEFAULT_SPLIT: Readonly<SplitOptions> = Object.freeze({
  testRatio: 0.3,
  seed: 42,
  groupByDb: false,
});

/**
 * The side of one example: `test` when the hash of (seed, db_id, question) — or (seed, db_id) when grouping by
 * database — mapped to [0, 1) falls below `testRatio`. Depends on nothing else, so the split is stable under
 * reordering and additions; identical questions of one database always share a side (no train/test leak).
 *
 * @param example the example (`db_id` and `question` are read)
 * @param options split options
 * @returns `"train"` or `"test"`
 */
export function splitOf(
  example: Pick<Example, "db_id" | "question">,
  options: Partial<SplitOptions> = {},
): "train" | "test" {
  const o = { ...DEFAULT_SPLIT, ...options };
  const key = o.groupByDb ? [o.seed, example.db_id] : [o.seed, example.db_id, example.question];
  // 52 bits of the hash: exactly representable, uniform in [0, 1).
  const u = parseInt(sha256Hex(canonicalJson(key)).slice(0, 13), 16) / 2 ** 52;
  return u < o.testRatio ? "test" : "train";
}

/**
 * Sort key of an output line: a hash of the example's content, so line order is a deterministic shuffle
 * (databases mixed, as training wants) that does not depend on the input order.
 *
 * @param example the example
 * @param seed split seed
 * @returns hex key
 */
export function orderKey(
  example: Pick<Example, "db_id" | "question" | "evidence" | "sql">,
  seed: number,
): string {
  return sha256Hex(canonicalJson([seed, example.db_id, example.question, example.evidence, example.sql]));
}

/**
 * The split description recorded in dataset.json.
 *
 * @param split split options
 * @returns the record
 */
export function splitDoc(split: SplitOptions): Record<string, unknown> {
  return {
    method: split.groupByDb
      ? "sha256(seed, db_id) < test_ratio"
      : "sha256(seed, db_id, question) < test_ratio",
    seed: split.seed,
    test_ratio: split.testRatio,
    group_by_db: split.groupByDb,
  };
}

/**
 * Reject split options out of range.
 *
 * @param split split options
 * @throws {UsageError} when the ratio is outside [0, 1] or the seed is not an integer
 */
export function checkSplit(split: SplitOptions): void {
  if (!(split.testRatio >= 0 && split.testRatio <= 1)) {
    throw new UsageError(`--test-ratio must be between 0 and 1, got ${split.testRatio}`);
  }
  if (!Number.isInteger(split.seed)) throw new UsageError(`--seed must be an integer, got ${split.seed}`);
}
