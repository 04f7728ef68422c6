/**
 * MySQL/MariaDB cell values as `pymysql` (mini-dev's driver) returns them, as comparable keys: the text protocol
 * sends every value as text (or raw bytes), and pymysql turns it into a Python value by the column's field type
 * and character set (`connections.py` `_get_descriptions`, `converters.py` `decoders`):
 *
 * - TINY, SHORT, LONG, LONGLONG, INT24, YEAR → `int(text)`; DECIMAL, NEWDECIMAL → `Decimal(text)`; FLOAT,
 *   DOUBLE → `float(text)` (a FLOAT column's text is its shortest float32 form, read as a double);
 * - DATE → `datetime.date`, DATETIME and TIMESTAMP → `datetime.datetime`, TIME → `datetime.timedelta`, each parsed
 *   by pymysql's own regular expressions; a value Python cannot build (`0000-00-00`) stays the `str` it was;
 * - BIT, BLOB, STRING, VAR_STRING, VARCHAR, GEOMETRY: `bytes` when the column's charset is `binary` (63), else
 *   `str` decoded as UTF-8 (strictly: undecodable bytes raise, and the pair scores 0); JSON is always `str`;
 * - anything else (ENUM, SET, NULL, NEWDATE) → the text decoded as ASCII (strictly), unconverted;
 * - SQL NULL → `None`.
 *
 * Mirrors pymysql 1.0.2 (Debian's `python3-pymysql`; mini-dev names 1.1.1) with its default `utf8mb4` connection.
 *
 * @module
 */
import { pyDate, pyDateTime, pyDecimal, pyFloat, pyInt, pyTimedelta } from "./python_values.ts";
import type { PyKey } from "./result_digest.ts";

/** MySQL protocol field types (`include/mysql_com.h`, pymysql `constants/FIELD_TYPE.py`). */
export const FIELD_TYPE = {
  DECIMAL: 0,
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  FLOAT: 4,
  DOUBLE: 5,
  NULL: 6,
  TIMESTAMP: 7,
  LONGLONG: 8,
  INT24: 9,
  DATE: 10,
  TIME: 11,
  DATETIME: 12,
  YEAR: 13,
  NEWDATE: 14,
  VARCHAR: 15,
  BIT: 16,
  JSON: 245,
  NEWDECIMAL: 246,
  ENUM: 247,
  SET: 248,
  TINY_BLOB: 249,
  MEDIUM_BLOB: 250,
  LONG_BLOB: 251,
  BLOB: 252,
  VAR_STRING: 253,
  STRING: 254,
  GEOMETRY: 255,
} as const;

/** The `binary` character set: a text type with it is BINARY/VARBINARY/BLOB, returned as `bytes`. */
export const BINARY_CHARSET = 63;

/** A result column as the protocol describes it. */
export interface MysqlField {
  /** Protocol field type ({@linkcode FIELD_TYPE}). */
  type: number;
  /** Collation id of the value's character set (63 = binary). */
  charset: number;
}

/** A cell as Python compares it: number/bigint (int, float, Decimal equal to one), str, bytes, PyKey, None. */
export type MysqlValue = number | bigint | string | Uint8Array | PyKey | null;

/** A value pymysql cannot decode: the official script scores the pair 0 with this error. */
export class PyDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PyDecodeError";
  }
}

const TEXT_TYPES = new Set<number>([
  FIELD_TYPE.BIT,
  FIELD_TYPE.BLOB,
  FIELD_TYPE.LONG_BLOB,
  FIELD_TYPE.MEDIUM_BLOB,
  FIELD_TYPE.STRING,
  FIELD_TYPE.TINY_BLOB,
  FIELD_TYPE.VAR_STRING,
  FIELD_TYPE.VARCHAR,
  FIELD_TYPE.GEOMETRY,
]);

const INT_TYPES = new Set<number>([
  FIELD_TYPE.TINY,
  FIELD_TYPE.SHORT,
  FIELD_TYPE.LONG,
  FIELD_TYPE.LONGLONG,
  FIELD_TYPE.INT24,
  FIELD_TYPE.YEAR,
]);

// Python's UTF-8 codec keeps a leading BOM; TextDecoder strips it unless told not to.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const latin1 = new TextDecoder("latin1");

function decodeUtf8(raw: Uint8Array): string {
  try {
    return utf8.decode(raw);
  } catch {
    throw new PyDecodeError("'utf-8' codec can't decode the value (UnicodeDecodeError)");
  }
}

function decodeAscii(raw: Uint8Array): string {
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] > 127) {
      throw new PyDecodeError(
        `'ascii' codec can't decode byte 0x${raw[i].toString(16)} in position ${i} (UnicodeDecodeError)`,
      );
    }
  }
  return latin1.decode(raw);
}

/** Python's `int(text)` accepts surrounding whitespace, a sign and single underscores between digits. */
const PY_INT_TEXT = /^[ \t\n\r\f\v]*([+-]?)(\d+(?:_\d+)*)[ \t\n\r\f\v]*$/;

/** Python's `int(text)` on ASCII text, or null where it raises ValueError. */
function pyIntOf(text: string): number | null {
  const m = PY_INT_TEXT.exec(text);
  if (!m) return null;
  const n = Number(m[1] + m[2].replaceAll("_", ""));
  return Number.isSafeInteger(n) ? n : null;
}

const DATETIME_RE = /^(\d{1,4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{1,2}):(\d{1,2})(?:.(\d{1,6}))?/;
const TIMEDELTA_RE = /^(-)?(\d{1,3}):(\d{1,2}):(\d{1,2})(?:.(\d{1,6}))?/;

/** pymysql's `_convert_second_fraction`. */
const secondFraction = (s: string | undefined): number => (s ? Number(s.padEnd(6, "0").slice(0, 6)) : 0);

const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Whether `datetime.date(y, m, d)` accepts these (else ValueError). */
function validDate(y: number, m: number, d: number): boolean {
  if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
  return d <= (m === 2 && isLeap(y) ? 29 : DAYS[m - 1]);
}

/** pymysql's `convert_date`: a `date`, or the text itself when Python cannot build one. */
function convertDate(text: string): MysqlValue {
  // obj.split("-", 2)
  const first = text.indexOf("-");
  const second = first < 0 ? -1 : text.indexOf("-", first + 1);
  const parts = first < 0
    ? [text]
    : second < 0
    ? [text.slice(0, first), text.slice(first + 1)]
    : [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
  const ints = parts.map(pyIntOf);
  // int() raising ValueError comes first, left to right.
  if (ints.some((n) => n === null)) return text;
  if (ints.length < 3) {
    // datetime.date(y) or date(y, m): TypeError, which convert_date does not catch.
    throw new PyDecodeError(`function missing required argument (TypeError) converting DATE ${text}`);
  }
  const [y, m, d] = ints as number[];
  return validDate(y, m, d) ? pyDate(y, m, d) : text;
}

/** pymysql's `convert_datetime`. */
function convertDateTime(text: string): MysqlValue {
  const m = DATETIME_RE.exec(text);
  if (!m) return convertDate(text);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const micro = secondFraction(m[7]);
  if (!validDate(year, month, day) || hour > 23 || minute > 59 || second > 59) return convertDate(text);
  return pyDateTime({ year, month, day, hour, minute, second, micro });
}

/** pymysql's `convert_timedelta`. */
function convertTimedelta(text: string): MysqlValue {
  const m = TIMEDELTA_RE.exec(text);
  if (!m) return text;
  const [hours, minutes, seconds] = m.slice(2, 5).map(BigInt);
  const micros = ((hours * 60n + minutes) * 60n + seconds) * 1_000_000n + BigInt(secondFraction(m[5]));
  return pyTimedelta(m[1] ? -micros : micros);
}

/** Turns one column's raw cell into its comparable value. */
export type MysqlConverter = (raw: Uint8Array | null) => MysqlValue;

/**
 * The converter for one result column, chosen once per result (as pymysql does per field). The converter throws
 * {@linkcode PyDecodeError} where pymysql raises.
 */
export function mysqlConverter(field: MysqlField): MysqlConverter {
  const t = field.type;
  if (t === FIELD_TYPE.JSON) return (raw) => (raw === null ? null : decodeUtf8(raw));
  if (TEXT_TYPES.has(t)) {
    if (field.charset === BINARY_CHARSET) return (raw) => (raw === null ? null : raw.slice());
    return (raw) => (raw === null ? null : decodeUtf8(raw));
  }
  const text = (raw: Uint8Array) => decodeAscii(raw);
  if (INT_TYPES.has(t)) return (raw) => (raw === null ? null : pyIntStrict(text(raw)));
  if (t === FIELD_TYPE.DECIMAL || t === FIELD_TYPE.NEWDECIMAL) {
    return (raw) => (raw === null ? null : decimalStrict(text(raw)));
  }
  if (t === FIELD_TYPE.FLOAT || t === FIELD_TYPE.DOUBLE) {
    return (raw) => (raw === null ? null : floatStrict(text(raw)));
  }
  if (t === FIELD_TYPE.DATE) return (raw) => (raw === null ? null : convertDate(text(raw)));
  if (t === FIELD_TYPE.DATETIME || t === FIELD_TYPE.TIMESTAMP) {
    return (raw) => (raw === null ? null : convertDateTime(text(raw)));
  }
  if (t === FIELD_TYPE.TIME) return (raw) => (raw === null ? null : convertTimedelta(text(raw)));
  return (raw) => (raw === null ? null : text(raw));
}

function pyIntStrict(text: string): number | bigint {
  if (!PY_INT_TEXT.test(text)) throw new PyDecodeError(`invalid literal for int() with base 10: '${text}'`);
  return pyInt(text.trim().replaceAll("_", ""));
}

function decimalStrict(text: string): MysqlValue {
  try {
    return pyDecimal(text);
  } catch {
    throw new PyDecodeError(`[<class 'decimal.ConversionSyntax'>] Decimal('${text}')`);
  }
}

function floatStrict(text: string): MysqlValue {
  const t = text.trim();
  if (!/^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|inf|infinity|nan)$/i.test(t)) {
    throw new PyDecodeError(`could not convert string to float: '${text}'`);
  }
  const lower = t.toLowerCase().replace(/^\+/, "");
  if (lower === "inf" || lower === "infinity") return Infinity;
  if (lower === "-inf" || lower === "-infinity") return -Infinity;
  return pyFloat(t);
}
