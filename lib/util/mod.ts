/**
 * Small helpers with no better home: atomic file writes and hashing, resumable JSON-lines logs, argument
 * parsing, progress lines.
 *
 * @module
 */
export * from "./args.ts";
export * from "./files.ts";
export * from "./hash.ts";
export * from "./jsonl_log.ts";
export * from "./progress.ts";
export * from "./local_server.ts";
export * from "./parent_watch.ts";
