/**
 * Looking at runs: Polars analysis, Observable Plot charts, self-contained HTML reports.
 *
 * @module
 */
export * from "./analysis.ts";
export * from "./charts.ts";
export * from "./html.ts";
export * from "./report.ts";
