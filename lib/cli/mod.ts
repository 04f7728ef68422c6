/**
 * `deno task <command>`: the command-line entry points, one per notebook step.
 *
 * @module
 */
export * from "./cli.ts";
