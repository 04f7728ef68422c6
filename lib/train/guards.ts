/**
 * Type guards for parsed JSON, shared by the trainer's checks (internal: not exported by `mod.ts`).
 *
 * @module
 */

/** A JSON object (not null, not an array). */
export type Obj = Record<string, unknown>;
/** Whether `v` is a JSON object. */
export const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
/** Whether `v` is an integer. */
export const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
/** Whether `v` is a finite number. */
export const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
