/**
 * The notebooks' side: Jupyter display, notebook parameters and steps, HTML export of executed notebooks.
 *
 * @module
 */
export * from "./display.ts";
export * from "./notebook_env.ts";
export * from "./notebook_html.ts";
