/**
 * Looking at runs: reading run folders, Polars analysis, the paired test, the modes compared, Observable Plot
 * charts, self-contained HTML reports.
 *
 * @module
 */
export * from "./run_data.ts";
export * from "./metrics.ts";
export * from "./error_taxonomy.ts";
export * from "./leaderboard.ts";
export * from "./analysis.ts";
export * from "./paired_test.ts";
export * from "./mode_analysis.ts";
export * from "./charts.ts";
export * from "./html.ts";
export * from "./report.ts";
export * from "./report_modes.ts";
