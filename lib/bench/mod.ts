/**
 * `deno task bench`: performance as ratios against baselines run in the same process or script, and the
 * BIRD-scale dataset it (and the scale test) scores.
 *
 * @module
 */
export * from "./bench.ts";
export * from "./scale.ts";
export * from "./scale_types.ts";
export * from "./scoring.ts";
export * from "./tree_run.ts";
