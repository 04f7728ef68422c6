/**
 * A compact, comparable form of a query result: the worker compares a prediction with its gold result where
 * both are (inside the worker), and the gold cache keeps this form instead of the rows.
 *
 * Each distinct row (first-seen order, as `compare.ts` dedupes) is a 128-bit hash of its canonical cell keys, and
 * each of its cells a 64-bit hash of the cell's key. EX compares sets of row hashes; Soft-F1 pairs rows by position
 * and tests cell membership on cell hashes, mirroring `compare.ts` (the pure reference) step by step. Equal keys
 * always hash equally; unequal keys collide with probability ~2^-128 per pair of rows (~2^-64 per pair of cells
 * in one Soft-F1 row), far below anything a benchmark can observe.
 *
 * @module
 */

/** The digest of one result: `rows` 4 × u32 per distinct row, `cells` 2 × u32 per cell (width cells per row). */
export interface ResultDigest {
  width: number;
  rows: Uint32Array;
  cells: Uint32Array;
}

/** The digest as JSON carries it (base64 of the little-endian u32 arrays). */
export interface EncodedDigest {
  width: number;
  rows: string;
  cells: string;
}

const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/**
 * Canonical cell key: two cells have equal keys iff Python would call the values equal. INTEGER and integral
 * REAL share a form (`1 == 1.0`), compared exactly as Python compares int and float; text and blob never equal a
 * number (`'1' != 1`).
 */
export function cellKey(v: unknown): string {
  if (v === null) return "z";
  if (typeof v === "bigint") return "n" + v.toString();
  if (typeof v === "number") {
    if (Number.isInteger(v)) return "n" + BigInt(v).toString();
    if (!Number.isFinite(v)) return "n" + (Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf");
    return "n" + v.toString();
  }
  if (typeof v === "string") return "s" + v;
  if (v instanceof Uint8Array) return "b" + hexOf(v);
  return "s" + String(v);
}

// Four independent 32-bit lanes (murmur3 rounds with distinct seeds), finalised with murmur3's fmix32.
const SEEDS: readonly number[] = [0x9747b28c, 0x85ebca6b, 0xc2b2ae35, 0x27d4eb2f];
const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function round(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, C2);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** 128-bit hash of a string's UTF-16 code units into `out[o..o+4)`. */
function hashString(s: string, out: Uint32Array, o: number): void {
  let a = SEEDS[0] ^ s.length, b = SEEDS[1] ^ s.length, c = SEEDS[2], d = SEEDS[3];
  for (let i = 0; i < s.length; i++) {
    const k = s.charCodeAt(i);
    a = round(a, k);
    b = round(b, k ^ 0x5bd1e995);
    c = round(c, k + 0x3c6ef372);
    d = round(d, (k << 7) ^ 0x68e31da4);
  }
  // Cross the lanes so that each output word depends on all four.
  a = (a + b + c + d) | 0;
  b = (b + a) | 0;
  c = (c + a) | 0;
  d = (d + a) | 0;
  out[o] = fmix(a);
  out[o + 1] = fmix(b ^ 0x1b873593);
  out[o + 2] = fmix(c ^ 0xcc9e2d51);
  out[o + 3] = fmix(d ^ 0xe6546b64);
}

/** Open-addressing set of 128-bit values: the distinct rows of a result without a string per row. */
class Hash128Set {
  private table: Int32Array;
  private mask: number;
  size = 0;
  constructor(private readonly keys: Uint32Array, expected: number) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.table = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
  }
  /** Index of the entry equal to `src[o..o+4)` (in `keys`), or -1. */
  find(src: Uint32Array, o: number): number {
    let i = src[o] & this.mask;
    for (;;) {
      const e = this.table[i];
      if (e < 0) return -1;
      const k = e * 4;
      if (
        this.keys[k] === src[o] && this.keys[k + 1] === src[o + 1] && this.keys[k + 2] === src[o + 2] &&
        this.keys[k + 3] === src[o + 3]
      ) return e;
      i = (i + 1) & this.mask;
    }
  }
  /** Add entry `e` (whose value is `keys[4e..4e+4)`), known to be absent. */
  add(e: number): void {
    if ((this.size + 1) * 2 > this.table.length) this.grow();
    let i = this.keys[e * 4] & this.mask;
    while (this.table[i] >= 0) i = (i + 1) & this.mask;
    this.table[i] = e;
    this.size++;
  }
  private grow(): void {
    const old = this.table;
    this.table = new Int32Array(old.length * 2).fill(-1);
    this.mask = this.table.length - 1;
    for (const e of old) {
      if (e < 0) continue;
      let i = this.keys[e * 4] & this.mask;
      while (this.table[i] >= 0) i = (i + 1) & this.mask;
      this.table[i] = e;
    }
  }
}

/** The row hash of a row from its cells' 128-bit hashes (position-dependent). */
function rowHash(cells: Uint32Array, width: number, out: Uint32Array, o: number): void {
  let a = SEEDS[3] ^ width, b = SEEDS[2], c = SEEDS[1], d = SEEDS[0];
  for (let j = 0; j < width * 4; j += 4) {
    a = round(a, cells[j]);
    b = round(b, cells[j + 1]);
    c = round(c, cells[j + 2]);
    d = round(d, cells[j + 3]);
    // Mix the lanes between cells so that swapping two cells' hashes changes the result.
    a = (a + d) | 0;
    b = (b ^ a) | 0;
  }
  out[o] = fmix(a);
  out[o + 1] = fmix(b);
  out[o + 2] = fmix(c ^ a);
  out[o + 3] = fmix(d ^ b);
}

/** Digest rows of canonical cell keys (any row order; duplicates dropped keeping first-seen order). */
export function digestKeys(rows: Iterable<string[]>, width: number): ResultDigest {
  return digestRows(rows, width, (k) => k);
}

/**
 * Digest raw result rows (as node:sqlite returns them with `setReturnArrays`), hashing each cell's canonical key.
 * Linear in the result size; memory: 16 bytes per distinct row plus 8 per cell.
 */
export function digestRows<T>(rows: Iterable<T[]>, width: number, key: (v: T) => string): ResultDigest {
  let cap = 1024;
  let rowsOut = new Uint32Array(cap * 4);
  let cellsOut = new Uint32Array(cap * width * 2);
  const cell = new Uint32Array(Math.max(1, width) * 4);
  const one = new Uint32Array(4);
  let set = new Hash128Set(rowsOut, cap);
  let n = 0;
  for (const row of rows) {
    for (let j = 0; j < width; j++) hashString(key(row[j]), cell, j * 4);
    rowHash(cell, width, one, 0);
    if (set.find(one, 0) >= 0) continue;
    if (n === cap) {
      cap *= 2;
      const r = new Uint32Array(cap * 4);
      r.set(rowsOut);
      rowsOut = r;
      const c = new Uint32Array(cap * width * 2);
      c.set(cellsOut);
      cellsOut = c;
      const grown = new Hash128Set(rowsOut, cap);
      for (let e = 0; e < n; e++) grown.add(e);
      set = grown;
    }
    rowsOut.set(one, n * 4);
    for (let j = 0; j < width; j++) {
      cellsOut[(n * width + j) * 2] = cell[j * 4];
      cellsOut[(n * width + j) * 2 + 1] = cell[j * 4 + 1];
    }
    set.add(n);
    n++;
  }
  return { width, rows: rowsOut.slice(0, n * 4), cells: cellsOut.slice(0, n * width * 2) };
}

/** Distinct rows in a digest. */
export const distinctRows = (d: ResultDigest): number => d.rows.length / 4;

/** EX (`compare.ts` `exMatch`) on digests: the sets of distinct rows are equal. */
export function digestExMatch(pred: ResultDigest, gold: ResultDigest): boolean {
  const n = distinctRows(gold);
  if (distinctRows(pred) !== n) return false;
  const set = new Hash128Set(pred.rows, n);
  for (let e = 0; e < n; e++) set.add(e);
  for (let o = 0; o < gold.rows.length; o += 4) if (set.find(gold.rows, o) < 0) return false;
  return true;
}

/** Whether cell `j` of row `r` of `d` equals some cell of row `s` of `other` (`Array.includes` on hashes). */
function includes(other: ResultDigest, s: number, d: ResultDigest, r: number, j: number): boolean {
  const a = d.cells[(r * d.width + j) * 2];
  const b = d.cells[(r * d.width + j) * 2 + 1];
  for (let k = 0; k < other.width; k++) {
    const o = (s * other.width + k) * 2;
    if (other.cells[o] === a && other.cells[o + 1] === b) return true;
  }
  return false;
}

/** Soft-F1 (`compare.ts` `softF1`) on digests, step for step. */
export function digestSoftF1(pred: ResultDigest, gold: ResultDigest): number {
  const np = distinctRows(pred);
  const ng = distinctRows(gold);
  if (np === 0 && ng === 0) return 1;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < ng; i++) {
    if (i >= np) {
      fn += 1;
      continue;
    }
    const width = gold.width;
    let matches = 0;
    let predOnly = 0;
    let goldOnly = 0;
    for (let j = 0; j < pred.width; j++) {
      if (includes(gold, i, pred, i, j)) matches++;
      else predOnly++;
    }
    for (let j = 0; j < gold.width; j++) if (!includes(pred, i, gold, i, j)) goldOnly++;
    tp += matches / width;
    fp += predOnly / width;
    fn += goldOnly / width;
  }
  if (np > ng) fp += np - ng;
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

const u8 = (a: Uint32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function toBase64(a: Uint32Array): string {
  const bytes = u8(a);
  let s = "";
  // Chunks keep String.fromCharCode's argument list short.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function fromBase64(s: string): Uint32Array {
  const bin = atob(s);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Uint32Array(bytes.buffer, 0, bytes.length >>> 2);
}

/** The digest as JSON-safe strings (for the pipe and the gold cache). */
export function encodeDigest(d: ResultDigest): EncodedDigest {
  return { width: d.width, rows: toBase64(d.rows), cells: toBase64(d.cells) };
}

/** The inverse of {@linkcode encodeDigest}; throws on a malformed digest. */
export function decodeDigest(e: EncodedDigest): ResultDigest {
  const d = { width: e.width, rows: fromBase64(e.rows), cells: fromBase64(e.cells) };
  if (
    !Number.isInteger(d.width) || d.width < 0 || d.rows.length % 4 !== 0 ||
    d.cells.length !== (d.rows.length / 4) * d.width * 2
  ) throw new Error("malformed result digest");
  return d;
}
