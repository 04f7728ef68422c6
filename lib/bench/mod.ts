/**
 * `deno task bench`: performance as ratios against baselines run in the same process or script.
 *
 * @module
 */
export * from "./bench.ts";
