/**
 * Values on their way from SQLite to a server and back: how each column is read from SQLite for its
 * {@linkcode ValueKind}, how it is sent (as text parameters, so nothing is rounded by a driver), and the
 * canonical form both sides are reduced to for the loader's checksum ({@linkcode TableChecksum}).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { LoadDialect } from "./names.ts";
import type { ValueKind } from "./type_map.ts";

/** A value as read from SQLite for its column's kind. */
export type SourceValue = bigint | number | string | Uint8Array | null;

/** The SQLite expression that reads a column for `kind` (`q` is the quoted column). */
export function sqliteReadExpr(q: string, kind: ValueKind, readAsBytes = false): string {
  if (kind === "text" && readAsBytes) {
    return `CASE WHEN ${q} IS NULL THEN NULL ELSE CAST(CAST(${q} AS TEXT) AS BLOB) END`;
  }
  if (kind === "text") return `CASE WHEN ${q} IS NULL THEN NULL ELSE CAST(${q} AS TEXT) END`;
  if (kind === "bytes") return `CASE WHEN ${q} IS NULL THEN NULL ELSE CAST(${q} AS BLOB) END`;
  return q;
}

/** A double as text that parses back to the same double (`-0`, `Infinity`, shortest digits). */
export function floatText(n: number): string {
  if (Object.is(n, -0)) return "-0";
  return String(n);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lower-case hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]];
  return s;
}

/** A SQLite value as the parameter sent to `dialect` for a column of `kind`. */
export function toParam(v: SourceValue, kind: ValueKind, dialect: LoadDialect): unknown {
  if (v === null) return null;
  switch (kind) {
    case "int":
      return String(v);
    case "float":
      return floatText(Number(v));
    case "bytes": {
      const bytes = v instanceof Uint8Array ? v : new TextEncoder().encode(String(v));
      return dialect === "mysql"
        ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
        : `\\x${toHex(bytes)}`;
    }
    default:
      return typeof v === "string" ? v : String(v);
  }
}

/** The canonical form of a SQLite value (after the column's conversion). */
export function canonSource(v: SourceValue, kind: ValueKind, dialect: LoadDialect): string {
  if (v === null) return "N";
  switch (kind) {
    case "int":
      return `I${String(v)}`;
    case "float":
      return `R${canonFloat(Number(v), dialect)}`;
    case "bytes":
      return `B${toHex(v instanceof Uint8Array ? v : new TextEncoder().encode(String(v)))}`;
    default:
      return `T${String(v)}`;
  }
}

function canonFloat(n: number, dialect: LoadDialect): string {
  // MariaDB/MySQL return -0.0 as 0 (Python compares them equal).
  return dialect === "mysql" && Object.is(n, -0) ? "0" : floatText(n);
}

/** The canonical form of a value read back from the target as text. `binary`: MySQL latin1 bytes. */
export function canonTarget(text: string | null, kind: ValueKind, dialect: LoadDialect): string {
  if (text === null) return "N";
  switch (kind) {
    case "int":
      return `I${text}`;
    case "float":
      return `R${canonFloat(Number(text), dialect)}`;
    case "bytes": {
      if (dialect === "postgresql") return `B${text.startsWith("\\x") ? text.slice(2) : text}`;
      let s = "";
      for (let i = 0; i < text.length; i++) s += HEX[text.charCodeAt(i) & 0xff];
      return `B${s}`;
    }
    default:
      return `T${text}`;
  }
}

/** Two independent 32-bit string hashes (FNV-1a and a multiply-xorshift), over UTF-16 units. */
function hash2(s: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
  return [a >>> 0, (b ^ (b >>> 16)) >>> 0];
}

/**
 * An order-independent checksum of a table's rows (row count and two 32-bit sums of row hashes): equal on both
 * sides iff (with overwhelming probability) the same multiset of canonical rows.
 */
export class TableChecksum {
  #rows = 0;
  #a = 0;
  #b = 0;

  /** Add one row of canonical values. */
  add(row: string[]): void {
    const [a, b] = hash2(row.map((v) => `${v.length}:${v}`).join("\u0001"));
    this.#a = (this.#a + a) >>> 0;
    this.#b = (this.#b + b) >>> 0;
    this.#rows++;
  }

  /** Rows added so far. */
  get rows(): number {
    return this.#rows;
  }

  /** `rows:hexhex`. */
  digest(): string {
    return `${this.#rows}:${this.#a.toString(16).padStart(8, "0")}${this.#b.toString(16).padStart(8, "0")}`;
  }
}
