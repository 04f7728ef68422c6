/**
 * PostgreSQL cell values as mini-dev's evaluator sees them: `psycopg2` (2.9) parses each column's TEXT by its type
 * OID into a Python value, and `set(fetchall())` compares those values. This module turns (OID, text) into the
 * comparable values of `python_values.ts` (equal keys iff Python's `==` says equal), following psycopg2's own
 * typecasters character for character where they are lenient, and failing where they raise:
 *
 * - `int2/int4/int8/oid` → `int`; `numeric` → `Decimal` (NaN equals nothing, `Infinity` equals `float('inf')`);
 *   `float4/float8` → `float`; `bool` → `bool` (`True == 1`).
 * - `text/varchar/bpchar/name/"char"` and every type psycopg2 has no typecaster for (`uuid`, `money`, `inet`,
 *   `xml`, composite rows, multiranges, arrays of those, …) → `str`, the server's text as is.
 * - `bytea` → `memoryview` (format `c`: equal only to another bytea of the same bytes).
 * - `date`, `timestamp`, `timestamptz`, `time`, `timetz`, `interval` → `date`, naive/aware `datetime`, naive/aware
 *   `time`, `timedelta` (a month is 30 days, a year 365); `±infinity` → `date.min/max`, `datetime.min/max`
 *   (aware in UTC for `timestamptz`); BC years and years past 9999 raise `ValueError`, as in psycopg2 2.9.5.
 * - `json/jsonb` → `json.loads`: an object or array is unhashable (the pair fails), a scalar compares as the
 *   Python `str`, `int`, `float`, `bool` or `None` it is.
 * - arrays of the types psycopg2 registers → `list`: unhashable, the pair fails.
 * - `int4range/int8range/numrange/daterange/tsrange/tstzrange` → psycopg2's `Range`: equal when lower, upper and
 *   bounds are equal (a `Range` never equals a non-range).
 *
 * Checked against psycopg2 on a real server in `tests/exec/pg_values_test.ts`.
 *
 * @module
 */
import {
  pyBool,
  pyDate,
  pyDateTime,
  pyDateTimeTz,
  pyDecimal,
  pyFloat,
  pyInt,
  PyKey,
  pyTime,
  pyTimedelta,
  pyTimeTz,
  Unhashable,
} from "./python_values.ts";
import { cellKey } from "./result_digest.ts";
import type { DisplayValue } from "../types.ts";

/** A comparable cell value (what `result_digest.ts` hashes). */
export type PgCell = number | bigint | string | null | Uint8Array | PyKey;

/** A value psycopg2 fails to build (`ValueError`, `OverflowError`, `DataError`): the pair scores 0. */
export class PgValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PgValueError";
  }
}

/** Type OIDs psycopg2 2.9 casts to something other than `str`. */
export const PG_OID = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  timetz: 1266,
  numeric: 1700,
  jsonb: 3802,
  int4range: 3904,
  numrange: 3906,
  tsrange: 3908,
  tstzrange: 3910,
  daterange: 3912,
  int8range: 3926,
} as const;

/** Array types psycopg2 2.9 casts to a Python `list` (`psycopg2.extensions.string_types`). */
const LIST_OIDS = new Set([
  199, // json[]
  651, // cidr[]
  1000, // bool[]
  1001, // bytea[]
  1002, // "char"[]
  1003, // name[]
  1005, // int2[]
  1006, // int2vector[]
  1007, // int4[]
  1009, // text[]
  1013, // oidvector[]
  1014, // bpchar[]
  1015, // varchar[]
  1016, // int8[]
  1021, // float4[]
  1022, // float8[]
  1028, // oid[]
  1040, // macaddr[]
  1041, // inet[]
  1115, // timestamp[]
  1182, // date[]
  1183, // time[]
  1185, // timestamptz[]
  1187, // interval[]
  1231, // numeric[]
  1270, // timetz[]
  3807, // jsonb[]
  3905, // int4range[]
  3907, // numrange[]
  3909, // tsrange[]
  3911, // tstzrange[]
  3913, // daterange[]
  3927, // int8range[]
]);

/** Converts one column's non-NULL text to its comparable value (throws {@linkcode PgValueError}/`Unhashable`). */
export type PgConverter = (text: string) => PgCell;

const digitOf = (s: string, i: number) => s.charCodeAt(i) - 48;

/** psycopg2's `typecast_parse_date`: separators `-`, ` `, `T`; anything else accumulates as a digit. */
function parseDate(s: string): { n: number; y: number; m: number; d: number; rest: number } {
  let acc = -1, cz = 0, i = 0;
  let y = 0, m = 0, d = 0;
  while (cz < 3 && i < s.length) {
    const c = s[i];
    if (c === "-" || c === " " || c === "T") {
      if (cz === 0) y = acc;
      else if (cz === 1) m = acc;
      else d = acc;
      acc = -1;
      cz++;
    } else acc = (acc === -1 ? 0 : acc * 10) + digitOf(s, i);
    i++;
  }
  if (acc !== -1) {
    d = acc;
    cz++;
  }
  if (s.length - i >= 2 && s.endsWith("BC")) y = 1 - y;
  return { n: cz, y, m, d, rest: i };
}

interface Clock {
  n: number;
  hh: number;
  mm: number;
  ss: number;
  us: number;
  tz: number;
}

/** psycopg2's `typecast_parse_time` (`24:00` → `00:00`; offsets in seconds east of UTC). */
function parseTime(s: string, from = 0): Clock | null {
  let acc = -1, cz = 0;
  let hh = 0, mm = 0, ss = 0, us = 0;
  let tzsign = 1, tzhh = 0, tzmm = 0, tzss = 0, usd = 0;
  for (let i = from; cz < 7 && i < s.length; i++) {
    const c = s[i];
    if (c === ":") {
      if (cz === 0) hh = acc;
      else if (cz === 1) mm = acc;
      else if (cz === 2) ss = acc;
      else if (cz === 3) us = acc;
      else if (cz === 4) tzhh = acc;
      else if (cz === 5) tzmm = acc;
      acc = -1;
      cz++;
    } else if (c === ".") {
      if (cz !== 2) return null;
      ss = acc;
      acc = -1;
      cz++;
    } else if (c === "+" || c === "-") {
      if (cz < 2 || cz > 3) return null;
      if (c === "-") tzsign = -1;
      if (cz === 2) ss = acc;
      else us = acc;
      acc = -1;
      cz = 4;
    } else if (c === " " || c === "B" || c === "C") {
      // the " BC" suffix is the date's business
    } else {
      acc = (acc === -1 ? 0 : acc * 10) + digitOf(s, i);
      if (cz === 3) usd++;
    }
  }
  if (acc !== -1) {
    if (cz === 0) {
      hh = acc;
      cz++;
    } else if (cz === 1) {
      mm = acc;
      cz++;
    } else if (cz === 2) {
      ss = acc;
      cz++;
    } else if (cz === 3) {
      us = acc;
      cz++;
    } else if (cz === 4) {
      tzhh = acc;
      cz++;
    } else if (cz === 5) {
      tzmm = acc;
      cz++;
    } else if (cz === 6) tzss = acc;
  }
  if (us !== 0) { while (usd++ < 6) us *= 10; }
  if (hh === 24) hh = 0;
  return { n: cz, hh, mm, ss, us, tz: tzsign * (3600 * tzhh + 60 * tzmm + tzss) };
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (y: number) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);

/** Python's `date(y, m, d)` argument checks, with its messages. */
function checkDate(y: number, m: number, d: number): void {
  if (!(y >= 1 && y <= 9999)) throw new PgValueError(`year ${y} is out of range`);
  if (!(m >= 1 && m <= 12)) throw new PgValueError("month must be in 1..12");
  const dim = m === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[m - 1];
  if (!(d >= 1 && d <= dim)) throw new PgValueError("day is out of range for month");
}

/** Python's `time(hh, mm, ss, us)` argument checks. */
function checkClock(c: Clock): void {
  if (!(c.hh >= 0 && c.hh <= 23)) throw new PgValueError("hour must be in 0..23");
  if (!(c.mm >= 0 && c.mm <= 59)) throw new PgValueError("minute must be in 0..59");
  if (!(c.ss >= 0 && c.ss <= 59)) throw new PgValueError("second must be in 0..59");
  if (!(c.us >= 0 && c.us <= 999999)) throw new PgValueError("microsecond must be in 0..999999");
}

/** Python's `timezone(timedelta(seconds=tz))` range. */
function checkOffset(tz: number): void {
  if (!(Math.abs(tz) < 86400)) {
    throw new PgValueError(
      "offset must be a timedelta strictly between -timedelta(hours=24) and timedelta(hours=24).",
    );
  }
}

/** `date`: `typecast_PYDATE_cast`. */
function toDate(s: string): PgCell {
  if (s === "infinity") return pyDate(9999, 12, 31);
  if (s === "-infinity") return pyDate(1, 1, 1);
  const p = parseDate(s);
  if (p.n !== 3) throw new PgValueError("unable to parse date");
  checkDate(p.y, p.m, p.d);
  return pyDate(p.y, p.m, p.d);
}

const MAX_STAMP = { year: 9999, month: 12, day: 31, hour: 23, minute: 59, second: 59, micro: 999999 };
const MIN_STAMP = { year: 1, month: 1, day: 1, hour: 0, minute: 0, second: 0, micro: 0 };

/** `timestamp`/`timestamptz` other than infinity: `_parse_noninftz`. */
function toStamp(s: string): PgCell {
  const p = parseDate(s);
  if (p.n !== 3) throw new PgValueError("unable to parse date");
  let c: Clock = { n: 0, hh: 0, mm: 0, ss: 0, us: 0, tz: 0 };
  if (p.rest < s.length) {
    const t = parseTime(s, p.rest);
    if (!t || t.n < 3 || t.n > 6) throw new PgValueError("unable to parse time");
    c = t;
  }
  if (c.ss > 59) {
    c.mm += 1;
    c.ss -= 60;
  }
  checkDate(p.y, p.m, p.d);
  checkClock(c);
  const parts = {
    year: p.y,
    month: p.m,
    day: p.d,
    hour: c.hh,
    minute: c.mm,
    second: c.ss,
    micro: c.us,
  };
  if (c.n >= 5) {
    checkOffset(c.tz);
    return pyDateTimeTz(parts, c.tz);
  }
  return pyDateTime(parts);
}

function toTimestamp(s: string): PgCell {
  if (s === "infinity") return pyDateTime(MAX_STAMP);
  if (s === "-infinity") return pyDateTime(MIN_STAMP);
  return toStamp(s);
}

function toTimestampTz(s: string): PgCell {
  if (s === "infinity") return pyDateTimeTz(MAX_STAMP, 0);
  if (s === "-infinity") return pyDateTimeTz(MIN_STAMP, 0);
  return toStamp(s);
}

/** `time`/`timetz`: `typecast_PYTIME_cast`. */
function toTime(s: string): PgCell {
  const c = parseTime(s);
  if (!c || c.n < 3 || c.n > 6) throw new PgValueError("unable to parse time");
  if (c.ss > 59) {
    c.mm += 1;
    c.ss -= 60;
  }
  checkClock(c);
  const parts = { hour: c.hh, minute: c.mm, second: c.ss, micro: c.us };
  if (c.n >= 5) {
    checkOffset(c.tz);
    return pyTimeTz(parts, c.tz);
  }
  return pyTime(parts);
}

const INT_MAX = 2147483647;
const MAX_DELTA_DAYS = 999999999n;

/** A `timedelta(days, seconds, micros)`, or OverflowError past ±999999999 days (Python's normalisation). */
function delta(days: bigint, seconds: bigint, micros: bigint): PgCell {
  const total = (days * 86400n + seconds) * 1000000n + micros;
  const day = 86400000000n;
  const normDays = total >= 0n ? total / day : -((-total + day - 1n) / day);
  if (normDays > MAX_DELTA_DAYS || normDays < -MAX_DELTA_DAYS) {
    throw new PgValueError(`days=${normDays}; must have magnitude <= 999999999`);
  }
  return pyTimedelta(total);
}

/** psycopg2's `interval_from_usecs`: the whole text as an integer of microseconds. */
function intervalFromMicros(s: string): PgCell {
  const t = s.trim();
  if (!/^[+-]?\d+$/.test(t)) throw new PgValueError(`expected number of microseconds, got ${s}`);
  return delta(0n, 0n, BigInt(t));
}

/** `interval`: `typecast_PYINTERVAL_cast`, character for character (postgres IntervalStyle). */
function toInterval(s: string): PgCell {
  let v = 0, years = 0, months = 0, hours = 0, minutes = 0, micros = 0;
  let days = 0, seconds = 0;
  let sign = 1, denom = 1, part = 0;
  const skipToSpace = (i: number) => {
    while (i < s.length && s[i] !== " ") i++;
    return i;
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "-") sign = -1;
    else if (c >= "0" && c <= "9") {
      const v1 = v * 10 + digitOf(s, i);
      if (v1 > INT_MAX) {
        try {
          return intervalFromMicros(s);
        } catch {
          throw new PgValueError("interval component too big");
        }
      }
      v = v1;
      if (part === 6) denom *= 10;
    } else if (c === "y") {
      if (part === 0) {
        years = v * sign;
        v = 0, sign = 1, part = 1;
        i = skipToSpace(i);
      }
    } else if (c === "m") {
      if (part <= 1) {
        months = v * sign;
        v = 0, sign = 1, part = 2;
        i = skipToSpace(i);
      }
    } else if (c === "d") {
      if (part <= 2) {
        days = v * sign;
        v = 0, sign = 1, part = 3;
        i = skipToSpace(i);
      }
    } else if (c === ":") {
      if (part <= 3) {
        hours = v;
        v = 0, part = 4;
      } else if (part === 4) {
        minutes = v;
        v = 0, part = 5;
      }
    } else if (c === ".") {
      if (part === 5) {
        seconds = v;
        v = 0, part = 6;
      }
    } else if (c === "P") {
      throw new PgValueError("iso_8601 intervalstyle currently not supported");
    }
  }
  if (part === 4) minutes = v;
  else if (part === 5) seconds = v;
  else if (part === 6) {
    micros = v;
    if (denom < 1000000) {
      do {
        micros *= 10;
        denom *= 10;
      } while (denom < 1000000);
    } else if (denom > 1000000) micros = Math.round(micros / denom * 1000000);
  } else if (part === 0) return intervalFromMicros(s);
  let secs = BigInt(seconds) + 60n * BigInt(minutes) + 3600n * BigInt(hours);
  let us = BigInt(micros);
  if (sign < 0) {
    secs = -secs;
    us = -us;
  }
  const allDays = BigInt(days) + 30n * BigInt(months) + 365n * BigInt(years);
  return delta(allDays, secs, us);
}

/** `bytea` in hex (`\x00ff`) or escape output, as psycopg2's own parser reads both. */
function toBytes(s: string): Uint8Array {
  if (s.startsWith("\\x")) {
    const hex = s.slice(2);
    const out = new Uint8Array(hex.length >> 1);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
    return out;
  }
  const out: number[] = [];
  const bytes = new TextEncoder().encode(s);
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0x5c) out.push(bytes[i]);
    else if (bytes[i + 1] === 0x5c) {
      out.push(0x5c);
      i++;
    } else {
      out.push(((bytes[i + 1] - 48) << 6) | ((bytes[i + 2] - 48) << 3) | (bytes[i + 3] - 48));
      i += 3;
    }
  }
  return new Uint8Array(out);
}

const JSON_INT = /^-?(?:0|[1-9]\d*)$/;

/** `json`/`jsonb`: Python's `json.loads`; objects and arrays cannot be hashed. */
function toJson(s: string): PgCell {
  const t = s.trim();
  if (t.startsWith("{")) throw new Unhashable("dict");
  if (t.startsWith("[")) throw new Unhashable("list");
  if (t === "null") return null;
  if (t === "true") return pyBool(true);
  if (t === "false") return pyBool(false);
  if (t.startsWith('"')) return JSON.parse(t) as string;
  return JSON_INT.test(t) ? pyInt(t) : pyFloat(t);
}

// psycopg2's range pattern: bound flag, quoted or unquoted lower, comma, quoted or unquoted upper, bound flag.
const RANGE = /^(\(|\[)(?:"((?:[^"]|"")*)"|([^",]+))?,(?:"((?:[^"]|"")*)"|([^"\)\]]+))?(\)|\])/;
const UNDOUBLE = /(["\\])\1/g;

/** A psycopg2 `Range` of the subtype's values: equal iff lower, upper and bounds are equal. */
function rangeOf(sub: PgConverter): PgConverter {
  const bound = (quoted: string | undefined, plain: string | undefined): PgCell => {
    const text = plain ?? (quoted === undefined ? undefined : quoted.replace(UNDOUBLE, "$1"));
    return text === undefined ? null : sub(text);
  };
  return (s) => {
    if (s === "empty") return new PyKey(`range:${JSON.stringify(["z", "z", null])}`);
    const m = RANGE.exec(s);
    if (!m) throw new PgValueError(`failed to parse range: '${s}'`);
    const lower = bound(m[2], m[3]);
    const upper = bound(m[4], m[5]);
    return new PyKey(`range:${JSON.stringify([cellKey(lower), cellKey(upper), m[1] + m[6]])}`);
  };
}

const asText: PgConverter = (s) => s;
const asInt: PgConverter = pyInt;
const asFloat: PgConverter = pyFloat;
const asBool: PgConverter = (s) => pyBool(s[0] === "t");
const asList: PgConverter = () => {
  throw new Unhashable("list");
};

const CONVERTERS = new Map<number, PgConverter>([
  [PG_OID.int2, asInt],
  [PG_OID.int4, asInt],
  [PG_OID.int8, asInt],
  [PG_OID.oid, asInt],
  [PG_OID.float4, asFloat],
  [PG_OID.float8, asFloat],
  [PG_OID.numeric, pyDecimal],
  [PG_OID.bool, asBool],
  [PG_OID.bytea, toBytes],
  [PG_OID.date, toDate],
  [PG_OID.timestamp, toTimestamp],
  [PG_OID.timestamptz, toTimestampTz],
  [PG_OID.time, toTime],
  [PG_OID.timetz, toTime],
  [704, toInterval], // tinterval (PostgreSQL < 12), cast as psycopg2 casts it
  [PG_OID.interval, toInterval],
  [PG_OID.json, toJson],
  [PG_OID.jsonb, toJson],
]);
CONVERTERS.set(PG_OID.int4range, rangeOf(asInt));
CONVERTERS.set(PG_OID.int8range, rangeOf(asInt));
CONVERTERS.set(PG_OID.numrange, rangeOf(pyDecimal));
CONVERTERS.set(PG_OID.daterange, rangeOf(toDate));
CONVERTERS.set(PG_OID.tsrange, rangeOf(toTimestamp));
CONVERTERS.set(PG_OID.tstzrange, rangeOf(toTimestampTz));
for (const oid of LIST_OIDS) CONVERTERS.set(oid, asList);

/** The converter psycopg2 applies to a column of this type (text for every type it does not know). */
export function pgConverter(oid: number): PgConverter {
  return CONVERTERS.get(oid) ?? asText;
}

/** One cell as Python compares it (NULL → `None`); throws {@linkcode PgValueError} or `Unhashable`. */
export function pgValue(oid: number, text: string | null): PgCell {
  return text === null ? null : pgConverter(oid)(text);
}

const LONG_CELL = 512;

/** One cell for display in a result sample: numbers as numbers, exact decimals and bool unquoted, text as text. */
export function pgDisplay(oid: number, text: string | null): DisplayValue {
  if (text === null) return null;
  switch (oid) {
    case PG_OID.int2:
    case PG_OID.int4:
    case PG_OID.int8:
    case PG_OID.oid: {
      const n = Number(text);
      return Number.isSafeInteger(n) ? n : { int: text };
    }
    case PG_OID.float4:
    case PG_OID.float8: {
      const n = Number(text);
      return Number.isFinite(n)
        ? n
        : { real: text === "NaN" ? "nan" : text.startsWith("-") ? "-inf" : "inf" };
    }
    case PG_OID.numeric:
      return { real: text };
    case PG_OID.bool:
      return { int: text[0] === "t" ? "True" : "False" };
    case PG_OID.bytea: {
      const hex = text.startsWith("\\x")
        ? text.slice(2)
        : Array.from(toBytes(text), (b) => b.toString(16).padStart(2, "0")).join("");
      return { blob: hex.length > 2 * LONG_CELL ? hex.slice(0, 2 * LONG_CELL) + "…" : hex };
    }
  }
  return text.length > 4 * LONG_CELL ? text.slice(0, 4 * LONG_CELL) + "…" : text;
}
