/**
 * The notebooks' side: Jupyter display, notebook parameters, the steps each notebook calls, HTML export of
 * executed notebooks.
 *
 * @module
 */
export * from "./display.ts";
export * from "./stop.ts";
export * from "./params.ts";
export * from "./selection.ts";
export * from "./data_steps.ts";
export * from "./eval_steps.ts";
export * from "./dataset_steps.ts";
export * from "./train_steps.ts";
export * from "./analysis_steps.ts";
export * from "./notebook_html.ts";
export * from "./notebook_files.ts";
