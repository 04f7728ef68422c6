/**
 * SQLite's built-in math functions (`SQLITE_ENABLE_MATH_FUNCTIONS`, func.c), which Deno's bundled SQLite lacks
 * and the SQLite behind Python's `sqlite3` on Debian/Ubuntu has. Registered on every worker connection so a
 * prediction using `FLOOR` or `sqrt` scores as the official evaluator scores it.
 *
 * Semantics copied from func.c: an argument must have numeric type after SQLite's numeric affinity (a
 * well-formed numeric text converts, anything else, a blob included, gives NULL); a NaN result is NULL (SQLite
 * stores NaN as NULL); `ceil`/`floor`/`trunc` of an INTEGER return it unchanged, as an INTEGER; `log(X)` is base
 * 10, `log(B, X)` is base B (each computed as ln(X) divided by a logarithm, as func.c does), and non-positive inputs or a base ≤ 1 give NULL.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";

/** A SQL value as node:sqlite hands it to a function with `useBigIntArguments`. */
type SqlValue = null | bigint | number | string | Uint8Array;

/** Whitespace SQLite's `sqlite3AtoF` skips around a number (sqlite3Isspace). */
const NUMERIC_TEXT = /^[ \t\n\v\f\r]*([+-]?)(\d*)(\.\d*)?([eE][+-]?\d+)?[ \t\n\v\f\r]*$/;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/**
 * `sqlite3_value_numeric_type` + value: INTEGER (bigint), REAL (number), or null for a non-numeric value. Text
 * converts only when the whole text is a number; a pure digit string within 64 bits becomes an INTEGER.
 */
export function numericValue(v: SqlValue): bigint | number | null {
  if (typeof v === "bigint" || typeof v === "number") return v;
  if (typeof v !== "string") return null;
  const m = NUMERIC_TEXT.exec(v);
  if (!m || (m[2] === "" && (m[3] === undefined || m[3] === "."))) return null;
  if (m[3] === undefined && m[4] === undefined) {
    const i = BigInt(m[1] + m[2]);
    if (i >= INT64_MIN && i <= INT64_MAX) return i;
  }
  return Number(v.trim());
}

/** `sqlite3_value_double`: like a CAST to REAL, a text converts from its longest numeric prefix (else 0). */
function doubleValue(v: SqlValue): number {
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "number") return v;
  if (v === null) return 0;
  const text = typeof v === "string" ? v : new TextDecoder().decode(v);
  const m = /^[ \t\n\v\f\r]*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(text);
  return m ? Number(m[0].trim()) : 0;
}

/** A REAL result; NaN becomes NULL as `sqlite3_result_double` stores it. */
const real = (x: number): number | null => (Number.isNaN(x) ? null : x);

function math1(fn: (x: number) => number): (a: SqlValue) => number | null {
  return (a) => {
    const v = numericValue(a);
    return v === null ? null : real(fn(Number(v)));
  };
}

function math2(fn: (x: number, y: number) => number): (a: SqlValue, b: SqlValue) => number | null {
  return (a, b) => {
    const x = numericValue(a);
    const y = numericValue(b);
    return x === null || y === null ? null : real(fn(Number(x), Number(y)));
  };
}

/** ceil/floor/trunc: an INTEGER comes back unchanged (and stays INTEGER), a REAL is rounded as a REAL. */
function rounding(fn: (x: number) => number): (a: SqlValue) => bigint | number | null {
  return (a) => {
    const v = numericValue(a);
    if (v === null) return null;
    return typeof v === "bigint" ? v : real(fn(v));
  };
}

/** log(X) (base 10), log10, log2, ln: NULL for X ≤ 0. */
function log1(fn: (x: number) => number): (a: SqlValue) => number | null {
  return (a) => {
    const v = numericValue(a);
    if (v === null) return null;
    const x = Number(v);
    return x <= 0 ? null : real(fn(x));
  };
}

/** log(B, X) as func.c computes it: ln(X)/ln(B); NULL when ln(B) ≤ 0 or X ≤ 0 (X converted like a CAST). */
function logBase(b: SqlValue, x: SqlValue): number | null {
  const base = numericValue(b);
  if (base === null) return null;
  const lb = Math.log(Number(base));
  // func.c checks the type of the first argument twice; the second converts without a type check.
  if (!(lb > 0)) return null;
  const v = doubleValue(x);
  if (!(v > 0)) return null;
  return real(Math.log(v) / lb);
}

/** The functions, by SQL name, as SQLite registers them (same name twice: different argument counts). */
const FUNCTIONS: [string, (...args: SqlValue[]) => SqlValue][] = [
  ["acos", math1(Math.acos)],
  ["acosh", math1(Math.acosh)],
  ["asin", math1(Math.asin)],
  ["asinh", math1(Math.asinh)],
  ["atan", math1(Math.atan)],
  ["atan2", math2(Math.atan2)],
  ["atanh", math1(Math.atanh)],
  ["ceil", rounding(Math.ceil)],
  ["ceiling", rounding(Math.ceil)],
  ["cos", math1(Math.cos)],
  ["cosh", math1(Math.cosh)],
  ["degrees", math1((x) => x * (180 / Math.PI))],
  ["exp", math1(Math.exp)],
  ["floor", rounding(Math.floor)],
  ["ln", log1(Math.log)],
  // func.c computes every logarithm as ln(x), then divides by ln(10) or ln(2): so do we, bit for bit.
  ["log", log1((x) => Math.log(x) / Math.LN10)],
  ["log", logBase as (...args: SqlValue[]) => SqlValue],
  ["log10", log1((x) => Math.log(x) / Math.LN10)],
  ["log2", log1((x) => Math.log(x) / Math.LN2)],
  // C's fmod: the sign of the dividend, NaN (NULL) for a zero divisor; JS `%` on doubles is exactly fmod.
  ["mod", math2((x, y) => x % y)],
  ["pi", () => Math.PI],
  ["pow", math2(Math.pow)],
  ["power", math2(Math.pow)],
  ["radians", math1((x) => x * (Math.PI / 180))],
  ["sin", math1(Math.sin)],
  ["sinh", math1(Math.sinh)],
  ["sqrt", math1(Math.sqrt)],
  ["tan", math1(Math.tan)],
  ["tanh", math1(Math.tanh)],
  ["trunc", rounding(Math.trunc)],
];

/** Register SQLite's math functions on a connection (deterministic, so usable in indexes and constant folding). */
export function registerMathFunctions(db: DatabaseSync): void {
  for (const [name, fn] of FUNCTIONS) {
    // node:sqlite takes the argument count from `fn.length`, which is what tells the two `log`s apart.
    db.function(name, { deterministic: true, useBigIntArguments: true }, fn as (...a: unknown[]) => null);
  }
}

/** SQL names of the registered functions, for documentation and tests. */
export const MATH_FUNCTIONS: readonly string[] = [...new Set(FUNCTIONS.map(([n]) => n))];
