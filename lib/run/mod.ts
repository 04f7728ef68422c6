/**
 * An evaluation run: its stages from a question to its record, the modes (single, voting, agent), the run log and its lock.
 *
 * @module
 */
export * from "./evaluate.ts";
export * from "./modes.ts";
export * from "./run_log.ts";
export { lockRun, RunLockedError } from "./run_lock.ts";
