/**
 * Result comparison with the official BIRD semantics (evaluator name `bird-ex-set`).
 *
 * - EX (`bird/llm/src/evaluation.py`): correct iff `set(pred_rows) == set(gold_rows)`. Row order and
 *   duplicates are ignored, column order matters, values compare as Python's `==` (`1 == 1.0`, `'1' != 1`,
 *   `None == None`, floats exactly); both empty is correct.
 * - Soft-F1 (mini-dev `evaluation_f1.py`): duplicates dropped keeping first-seen order, rows paired by
 *   position, cell membership per row; both empty scores 1.
 * - R-VES (mini-dev `evaluation_ves.py`): reward from the mean gold/pred time ratio after dropping ratios
 *   beyond 3σ, score = mean(sqrt(reward)) × 100.
 *
 * All functions are pure. Rows arrive as canonical cell keys from `sqlite_pool.ts`, so equal keys mean
 * Python-equal values.
 *
 * @module
 */

/** Distinct rows of a query result as canonical cell keys, in first-seen order. */
export interface ComparableResult {
  rows: string[][];
}

/** The evaluator name recorded in `run.json` and `summary.json`. */
export const EVALUATOR = "bird-ex-set";

const rowKey = (row: string[]): string => JSON.stringify(row);

/** BIRD execution accuracy: the SET of predicted rows equals the SET of gold rows. */
export function exMatch(pred: ComparableResult, gold: ComparableResult): boolean {
  const predKeys = new Set(pred.rows.map(rowKey));
  const goldKeys = new Set(gold.rows.map(rowKey));
  if (predKeys.size !== goldKeys.size) return false;
  for (const k of goldKeys) if (!predKeys.has(k)) return false;
  return true;
}

function dedupe(rows: string[][]): string[][] {
  const seen = new Set<string>();
  const out: string[][] = [];
  for (const r of rows) {
    const k = rowKey(r);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(r);
    }
  }
  return out;
}

/** Per-row match fractions of mini-dev's `calculate_row_match`, each over the gold row's width. */
function rowMatch(pred: string[], gold: string[]): [number, number, number] {
  const width = gold.length;
  let matches = 0;
  let predOnly = 0;
  let goldOnly = 0;
  for (const v of pred) {
    if (gold.includes(v)) matches++;
    else predOnly++;
  }
  for (const v of gold) if (!pred.includes(v)) goldOnly++;
  return [matches / width, predOnly / width, goldOnly / width];
}

/** BIRD mini-dev Soft-F1 of one question, in [0, 1]. */
export function softF1(pred: ComparableResult, gold: ComparableResult): number {
  if (pred.rows.length === 0 && gold.rows.length === 0) return 1;
  const p = dedupe(pred.rows);
  const g = dedupe(gold.rows);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  g.forEach((goldRow, i) => {
    if (i >= p.length) {
      fn += 1;
      return;
    }
    const [m, po, go] = rowMatch(p[i], goldRow);
    tp += m;
    fp += po;
    fn += go;
  });
  if (p.length > g.length) fp += p.length - g.length;
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

/**
 * Mean of gold/pred time ratios after mini-dev's `clean_abnormal` (keep ratios strictly within 3σ of the
 * mean, population σ). When every ratio is equal (σ = 0) all are kept, where the original would divide by
 * zero.
 */
export function timeRatio(goldMs: number[], predMs: number[]): number {
  const ratios = goldMs.map((g, i) => g / Math.max(predMs[i], 1e-6));
  if (ratios.length === 0) return 0;
  const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
  const std = Math.sqrt(ratios.reduce((a, b) => a + (b - mean) ** 2, 0) / ratios.length);
  const kept = std === 0 ? ratios : ratios.filter((x) => x < mean + 3 * std && x > mean - 3 * std);
  const use = kept.length ? kept : ratios;
  return use.reduce((a, b) => a + b, 0) / use.length;
}

/** mini-dev's `calculate_reward`: 1.25 / 1 / 0.75 / 0.5 / 0.25 for ratio ≥2, ≥1, ≥0.5, ≥0.25, >0; 0 for 0. */
export function vesReward(ratio: number): number {
  if (ratio <= 0) return 0;
  if (ratio >= 2) return 1.25;
  if (ratio >= 1) return 1;
  if (ratio >= 0.5) return 0.75;
  if (ratio >= 0.25) return 0.5;
  return 0.25;
}

/** R-VES over all questions (rewards of wrong questions are 0): mean(sqrt(reward)) × 100. */
export function rVes(rewards: number[]): number | null {
  if (rewards.length === 0) return null;
  return (rewards.reduce((a, r) => a + Math.sqrt(r), 0) / rewards.length) * 100;
}
