/**
 * Cell values as Python's database drivers return them, for the PostgreSQL and MySQL engines: mini-dev's
 * `evaluation_ex.py` compares `set(cursor.fetchall())` of `psycopg2` / `pymysql` rows, so a verdict depends on the
 * Python types those drivers build (`Decimal`, `float`, `int`, `bool`, `str`, `bytes`, `datetime.date`, …) and
 * on how Python's `==` and `hash` treat them across types:
 *
 * - numbers form one domain: `Decimal('2.50') == 2.5 == Fraction(5, 2)`, `True == 1`, `Decimal('0.1') != 0.1`
 *   (the float is not exactly one tenth). A number is returned here as the JavaScript value `result_digest.ts`
 *   already hashes as Python would (a number or bigint) whenever it equals some float or int; otherwise as a
 *   {@linkcode PyKey} of its exact decimal, which no float equals.
 * - `date`, `datetime` (naive or aware), `time`, `timedelta` are their own domains: a `date` never equals its
 *   string, nor a `datetime` at midnight; naive never equals aware; aware datetimes are equal at the same instant.
 * - NaN equals nothing, not even itself (each fetched NaN is a new object), so every NaN cell gets a key of its
 *   own and a row holding one never matches.
 * - a list or dict (a PostgreSQL array, json) is unhashable: `set()` raises, and the official script scores 0.
 *
 * Pure functions of the driver's text (or bytes): the engines parse the server's text protocol themselves, as
 * `psycopg2` and `pymysql` do, so nothing is lost to a JavaScript driver's own type parsing.
 *
 * @module
 */
import { PyKey } from "./result_digest.ts";

export { PyKey };

/** A value `set()` cannot hash: the official script fails the pair with this message. */
export class Unhashable extends Error {
  constructor(readonly pyType: "list" | "dict") {
    super(`unhashable type: '${pyType}'`);
    this.name = "Unhashable";
  }
}

let nanSerial = 0;

/** A NaN as Python holds it: equal to nothing, itself included (a new key each time). */
export function pyNaN(): PyKey {
  return new PyKey(`nan:${++nanSerial}`);
}

/** A Python `int` from its decimal text: a number when exactly representable, else a bigint. */
export function pyInt(text: string): number | bigint {
  const n = Number(text);
  if (Number.isSafeInteger(n)) return n;
  return BigInt(text.trim());
}

/** A Python `float` from the server's text (`float(text)`: `NaN`, `Infinity`, `-Infinity` included). */
export function pyFloat(text: string): number | PyKey {
  const t = text.trim();
  const n = t === "Infinity" || t === "inf"
    ? Infinity
    : t === "-Infinity" || t === "-inf"
    ? -Infinity
    : Number(t);
  return Number.isNaN(n) ? pyNaN() : n;
}

/** A Python `bool` as it compares: `True == 1`, `False == 0`. */
export const pyBool = (b: boolean): number => (b ? 1 : 0);

/** A decimal string split into sign, digits and a power-of-ten exponent, or null when it is not one. */
function parseDecimal(text: string): { negative: boolean; digits: string; exponent: number } | null {
  const m = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(text);
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) return null;
  const frac = m[3] ?? "";
  let digits = (m[2] + frac).replace(/^0+/, "");
  let exponent = Number(m[4] ?? 0) - frac.length;
  if (digits === "") return { negative: false, digits: "0", exponent: 0 };
  const trailing = digits.length - digits.replace(/0+$/, "").length;
  digits = digits.slice(0, digits.length - trailing);
  exponent += trailing;
  return { negative: m[1] === "-", digits, exponent };
}

/** The exact value of a finite double as digits × 10^exponent (normalised: no trailing zeros). */
function exactOfDouble(x: number): { negative: boolean; digits: string; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0), lo = view.getUint32(4);
  const negative = hi >>> 31 === 1;
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e2: number;
  if (biased === 0) e2 = -1074;
  else {
    mantissa |= 1n << 52n;
    e2 = biased - 1075;
  }
  if (mantissa === 0n) return { negative: false, digits: "0", exponent: 0 };
  let digits: bigint, exponent: number;
  if (e2 >= 0) {
    digits = mantissa << BigInt(e2);
    exponent = 0;
  } else {
    // m / 2^k = m * 5^k / 10^k
    digits = mantissa * 5n ** BigInt(-e2);
    exponent = e2;
  }
  let s = digits.toString();
  const trailing = s.length - s.replace(/0+$/, "").length;
  s = s.slice(0, s.length - trailing);
  return { negative, digits: s, exponent: exponent + trailing };
}

/**
 * A Python `Decimal` from its text, as it compares: the float or int it equals when there is one (so it hashes
 * and compares with those exactly as Python does), otherwise a {@linkcode PyKey} of its normalised exact value.
 * `NaN` equals nothing; `Infinity` equals the float infinity.
 */
export function pyDecimal(text: string): number | bigint | PyKey {
  const t = text.trim();
  if (/^[+-]?(s?nan)$/i.test(t)) return pyNaN();
  if (/^\+?inf(inity)?$/i.test(t)) return Infinity;
  if (/^-inf(inity)?$/i.test(t)) return -Infinity;
  const d = parseDecimal(t);
  if (!d) throw new Error(`not a decimal: ${JSON.stringify(text)}`);
  if (d.digits === "0") return 0;
  if (d.exponent >= 0) {
    // An integer: Python's int of it (a float of the same value hashes the same way in result_digest.ts).
    const big = BigInt((d.negative ? "-" : "") + d.digits + "0".repeat(d.exponent));
    const n = Number(big);
    if (Number.isSafeInteger(n)) return n;
    // Beyond 2^53: equal to a float only if that float is exactly this integer.
    if (Number.isFinite(n) && BigInt(n) === big) return n;
    return big;
  }
  const x = Number(t);
  if (Number.isFinite(x) && x !== 0) {
    const e = exactOfDouble(x);
    if (e.digits === d.digits && e.exponent === d.exponent && e.negative === d.negative) return x;
  }
  return new PyKey(`dec:${d.negative ? "-" : ""}${d.digits}e${d.exponent}`);
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** A time of day's fields, as Python's `datetime.time` holds them (`micro`: microseconds). */
export interface TimeParts {
  hour: number;
  minute: number;
  second: number;
  micro: number;
}

/** A `datetime.datetime`'s fields (`month` 1–12). */
export interface DateTimeParts extends TimeParts {
  year: number;
  month: number;
  day: number;
}

/** A `datetime.date` (`YYYY-MM-DD`). */
export function pyDate(year: number, month: number, day: number): PyKey {
  return new PyKey(`date:${pad(year, 4)}-${pad(month)}-${pad(day)}`);
}

/** A naive `datetime.datetime`, to the microsecond. */
export function pyDateTime(
  p: DateTimeParts,
): PyKey {
  return new PyKey(
    `dt:${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}.${
      pad(p.micro, 6)
    }`,
  );
}

/**
 * An aware `datetime.datetime`: equal to another aware one at the same instant, whatever their offsets; never
 * equal to a naive one. `offsetSeconds` is east of UTC.
 */
export function pyDateTimeTz(
  p: DateTimeParts,
  offsetSeconds: number,
): PyKey {
  // setUTCFullYear, not Date.UTC: the latter maps years 0–99 to 1900–1999.
  const at = new Date(0);
  at.setUTCFullYear(p.year, p.month - 1, p.day);
  at.setUTCHours(p.hour, p.minute, p.second, 0);
  const ms = at.getTime() - offsetSeconds * 1000;
  return new PyKey(`dtz:${BigInt(ms) * 1000n + BigInt(p.micro)}`);
}

/** A `datetime.time` (naive), to the microsecond. */
export function pyTime(p: TimeParts): PyKey {
  return new PyKey(`time:${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}.${pad(p.micro, 6)}`);
}

/**
 * An aware `datetime.time`: Python compares two aware times by their UTC-adjusted value (and `==` across naive
 * and aware is False).
 */
export function pyTimeTz(
  p: TimeParts,
  offset: number,
): PyKey {
  const micros = ((p.hour * 60 + p.minute) * 60 + p.second - offset) * 1_000_000 + p.micro;
  return new PyKey(`timetz:${micros}`);
}

/** A `datetime.timedelta` by its total microseconds (how Python compares them). */
export function pyTimedelta(totalMicros: bigint): PyKey {
  return new PyKey(`td:${totalMicros}`);
}
