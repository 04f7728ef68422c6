/**
 * Small helpers with no better home: atomic file writes and hashing, resumable JSON-lines logs, argument
 * parsing, progress lines, and the one secret model (`secrets.ts`: every credential the run holds and the
 * scrubber everything written or printed passes), which the database, model and run rooms share.
 *
 * @module
 */
export * from "./args.ts";
export * from "./files.ts";
export * from "./hash.ts";
export * from "./jsonl_log.ts";
export * from "./progress.ts";
export * from "./py_display.ts";
export * from "./secrets.ts";
export * from "./local_server.ts";
export * from "./parent_watch.ts";
