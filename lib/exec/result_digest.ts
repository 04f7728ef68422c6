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

/**
 * A cell value of a Python type with no JavaScript counterpart (a `datetime.date`, a `Decimal` that equals no
 * float, a NaN), as its canonical key: equal keys iff Python's `==` says the values are equal. Built by
 * `python_values.ts`; it never equals a number, text or blob (its own hash domain).
 */
export class PyKey {
  constructor(readonly key: string) {}
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
  if (v instanceof PyKey) return "p" + v.key;
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

/** Type tags: numbers (INTEGER and REAL share one domain, as Python's `==` does), text, blob, NULL. */
const TAG_NUMBER = 0x4e554d31, TAG_FLOAT = 0x464c5431, TAG_TEXT = 0x54585431, TAG_BLOB = 0x424c4231;
const TAG_NULL = 0x4e554c31, TAG_BIG = 0x42494731, TAG_PY = 0x50594b31;
const TWO32 = 2 ** 32;
const TWO63 = 2 ** 63;
const f64 = new Float64Array(1);
const f64words = new Uint32Array(f64.buffer);

/** Finish the four lanes into `out[o..o+4)`, crossing them so each word depends on all four. */
function finish(a: number, b: number, c: number, d: number, out: Uint32Array, o: number): void {
  a = (a + b + c + d) | 0;
  b = (b + a) | 0;
  c = (c + a) | 0;
  d = (d + a) | 0;
  out[o] = fmix(a);
  out[o + 1] = fmix(b ^ 0x1b873593);
  out[o + 2] = fmix(c ^ 0xcc9e2d51);
  out[o + 3] = fmix(d ^ 0xe6546b64);
}

/** 128-bit hash of two 32-bit words under a tag (numbers). */
function hashWords(tag: number, w0: number, w1: number, out: Uint32Array, o: number): void {
  let a = SEEDS[0] ^ tag, b = SEEDS[1] ^ tag, c = SEEDS[2] ^ tag, d = SEEDS[3] ^ tag;
  a = round(round(a, w0), w1);
  b = round(round(b, w0 ^ 0x5bd1e995), w1);
  c = round(round(c, w0 + 0x3c6ef372), w1 ^ 0x68e31da4);
  d = round(round(d, w1), w0);
  finish(a, b, c, d, out, o);
}

/** 128-bit hash of a string's UTF-16 code units, two per round, under a tag (text, or a typed key's domain). */
function hashText(s: string, out: Uint32Array, o: number, tag: number = TAG_TEXT): void {
  const n = s.length;
  let a = SEEDS[0] ^ tag ^ n, b = SEEDS[1] ^ n, c = SEEDS[2] ^ tag, d = SEEDS[3] + n;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    a = round(a, k);
    b = round(b, k ^ 0x5bd1e995);
    c = round(c, k + 0x3c6ef372);
    d = round(d, (k << 7) ^ (k >>> 25) ^ 0x68e31da4);
  }
  if (i < n) {
    const k = s.charCodeAt(i) | 0x10000;
    a = round(a, k);
    b = round(b, k ^ 0x5bd1e995);
    c = round(c, k + 0x3c6ef372);
    d = round(d, (k << 7) ^ 0x68e31da4);
  }
  finish(a, b, c, d, out, o);
}

/** 128-bit hash of a blob's bytes, four per round. */
function hashBlob(v: Uint8Array, out: Uint32Array, o: number): void {
  const n = v.length;
  let a = SEEDS[0] ^ TAG_BLOB ^ n, b = SEEDS[1] ^ n, c = SEEDS[2] ^ TAG_BLOB, d = SEEDS[3] + n;
  for (let i = 0; i < n; i += 4) {
    const k = v[i] | (v[i + 1] << 8) | (v[i + 2] << 16) | (v[i + 3] << 24);
    a = round(a, k);
    b = round(b, k ^ 0x5bd1e995);
    c = round(c, k + 0x3c6ef372);
    d = round(d, (k << 7) ^ (k >>> 25) ^ 0x68e31da4);
  }
  finish(a, b, c, d, out, o);
}

/**
 * 128-bit hash of one cell value, equal iff Python's `==` says the values are equal (what {@linkcode cellKey}
 * encodes): an integral number in the int64 range hashes as that integer whether it came as INTEGER (number or
 * bigint) or REAL (`1 == 1.0`, `2**60 == 2.0**60`); any other REAL by its IEEE bits (SQLite never returns NaN).
 */
export function hashCell(v: unknown, out: Uint32Array, o: number): void {
  if (typeof v === "number") {
    if (Number.isInteger(v) && v >= -TWO63 && v < TWO63) {
      // Two's-complement 64-bit words of the exact integer (exact in doubles for integral |v| < 2^63).
      const hi = Math.floor(v / TWO32);
      hashWords(TAG_NUMBER, (v - hi * TWO32) >>> 0, hi | 0, out, o);
    } else {
      f64[0] = v;
      hashWords(TAG_FLOAT, f64words[0], f64words[1], out, o);
    }
  } else if (typeof v === "bigint") {
    if (v >= -(2n ** 63n) && v < 2n ** 63n) {
      hashWords(TAG_NUMBER, Number(BigInt.asUintN(32, v)), Number(BigInt.asIntN(32, v >> 32n)), out, o);
    } else hashText(v.toString(), out, o, TAG_BIG);
  } else if (typeof v === "string") hashText(v, out, o);
  else if (v instanceof PyKey) hashText(v.key, out, o, TAG_PY);
  else if (v instanceof Uint8Array) hashBlob(v, out, o);
  else if (v === null || v === undefined) hashWords(TAG_NULL, 0, 0, out, o);
  else hashText(String(v), out, o);
}

/**
 * Open-addressing set of 128-bit values kept in `keys` (4 words per entry): the distinct rows of a result without
 * a string per row. Each slot holds the entry's first word beside its index + 1 (0: empty, so a new table needs no
 * fill), so a probe past another entry rarely touches `keys` (one cache miss per row, not three).
 */
class Hash128Set {
  private table: Int32Array;
  private mask: number;
  size = 0;
  constructor(private keys: Uint32Array, expected: number) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.table = new Int32Array(cap * 2);
    this.mask = cap - 1;
  }
  /** Index of the entry equal to `src[o..o+4)`, or -1. */
  find(src: Uint32Array, o: number): number {
    const w = src[o] | 0;
    const t = this.table;
    let i = (src[o + 1] ^ w) & this.mask;
    for (;;) {
      const e = t[2 * i + 1] - 1;
      if (e < 0) return -1;
      if (t[2 * i] === w) {
        const k = e * 4;
        const keys = this.keys;
        if (keys[k + 1] === src[o + 1] && keys[k + 2] === src[o + 2] && keys[k + 3] === src[o + 3]) return e;
      }
      i = (i + 1) & this.mask;
    }
  }
  /**
   * The index of the entry equal to `src[o..o+4)`, or -1 after adding it as entry `e`: one probe for both. The
   * caller writes its value to `keys[4e..4e+4)` before the next call.
   */
  findOrAdd(src: Uint32Array, o: number, e: number): number {
    if ((this.size + 1) * 2 > this.table.length / 2) this.grow();
    const w = src[o] | 0;
    const t = this.table;
    let i = (src[o + 1] ^ w) & this.mask;
    for (;;) {
      const f = t[2 * i + 1] - 1;
      if (f < 0) break;
      if (t[2 * i] === w) {
        const k = f * 4;
        const keys = this.keys;
        if (keys[k + 1] === src[o + 1] && keys[k + 2] === src[o + 2] && keys[k + 3] === src[o + 3]) return f;
      }
      i = (i + 1) & this.mask;
    }
    t[2 * i] = w;
    t[2 * i + 1] = e + 1;
    this.size++;
    return -1;
  }
  /** The entries' values now live in `keys` (a larger copy of the old array). */
  useKeys(keys: Uint32Array): void {
    this.keys = keys;
  }
  /** Add entry `e` (its value is `keys[4e..4e+4)`), known to be absent. */
  add(e: number): void {
    if ((this.size + 1) * 2 > this.table.length / 2) this.grow();
    this.place(e);
    this.size++;
  }
  private place(e: number): void {
    const w = this.keys[e * 4] | 0;
    let i = (this.keys[e * 4 + 1] ^ w) & this.mask;
    while (this.table[2 * i + 1] !== 0) i = (i + 1) & this.mask;
    this.table[2 * i] = w;
    this.table[2 * i + 1] = e + 1;
  }
  private grow(): void {
    const old = this.table;
    this.table = new Int32Array(old.length * 2);
    this.mask = this.table.length / 2 - 1;
    for (let i = 1; i < old.length; i += 2) if (old[i] !== 0) this.place(old[i] - 1);
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

/** From this many rows on, duplicates are found bucket by bucket ({@linkcode markDuplicates}). */
const PARTITION_MIN_ROWS = 65_536;
/** Rows per bucket of {@linkcode markDuplicates} (on average): its hash table then stays in the CPU's L2 cache. */
const BUCKET_ROWS = 8192;

/**
 * A digest built one row at a time, as a result streams in (a server's rows need not all be held to be
 * digested): {@linkcode digestRows} over rows added in order, the same words. `add` hashes the row's cells at
 * once, so the array passed may be reused for the next row.
 */
export class DigestBuilder {
  private cap: number;
  private rowsOut: Uint32Array;
  private cellsOut: Uint32Array;
  private readonly cell: Uint32Array;
  private readonly set: Hash128Set;
  private n = 0;

  /** `expected`: rows to size the buffers for (they grow past it). */
  constructor(readonly width: number, expected = 16) {
    this.cap = Math.max(16, expected);
    this.rowsOut = new Uint32Array(this.cap * 4);
    this.cellsOut = new Uint32Array(this.cap * width * 2);
    this.cell = new Uint32Array(Math.max(1, width) * 4);
    this.set = new Hash128Set(this.rowsOut, this.cap);
  }

  /** Add one row (its first `width` cells), unless an equal row was added before. */
  add(row: ArrayLike<unknown>): void {
    const { width, cell } = this;
    for (let j = 0; j < width; j++) hashCell(row[j], cell, j * 4);
    const n = this.n;
    if (n === this.cap) this.grow();
    // Hashed straight into the next entry's place: kept only when the set has no equal row.
    const rowsOut = this.rowsOut;
    rowHash(cell, width, rowsOut, n * 4);
    if (this.set.findOrAdd(rowsOut, n * 4, n) >= 0) return;
    const cellsOut = this.cellsOut;
    for (let j = 0; j < width; j++) {
      cellsOut[(n * width + j) * 2] = cell[j * 4];
      cellsOut[(n * width + j) * 2 + 1] = cell[j * 4 + 1];
    }
    this.n = n + 1;
  }

  private grow(): void {
    this.cap *= 2;
    const r = new Uint32Array(this.cap * 4);
    r.set(this.rowsOut);
    this.rowsOut = r;
    this.set.useKeys(r);
    const c = new Uint32Array(this.cap * this.width * 2);
    c.set(this.cellsOut);
    this.cellsOut = c;
  }

  /** The digest of the rows added (the builder's last use: a full buffer is handed over, not copied). */
  finish(): ResultDigest {
    const n = this.n, width = this.width;
    const full = n === this.cap;
    return {
      width,
      rows: full ? this.rowsOut : this.rowsOut.slice(0, n * 4),
      cells: full ? this.cellsOut : this.cellsOut.slice(0, n * width * 2),
    };
  }
}

/**
 * Digest raw result rows (as node:sqlite returns them with `setReturnArrays`; duplicates dropped keeping
 * first-seen order), hashing each cell's value as {@linkcode hashCell}. Linear in the result size; memory: 16
 * bytes per distinct row plus 8 per cell (and, from {@linkcode PARTITION_MIN_ROWS} rows, 21 bytes per row while
 * it runs).
 */
export function digestRows(rows: unknown[][], width: number): ResultDigest {
  if (rows.length >= PARTITION_MIN_ROWS) return digestPartitioned(rows, width);
  // Sized for all rows at once (distinct rows are at most all rows): no regrowth, and no copy when all are distinct.
  const builder = new DigestBuilder(width, rows.length);
  for (let r = 0; r < rows.length; r++) builder.add(rows[r]);
  return builder.finish();
}

/**
 * {@linkcode digestRows} of a large result, the same digest: every row hashed in place first, then the repeated
 * rows found bucket by bucket ({@linkcode markDuplicates}) and squeezed out, keeping first-seen order. One hash
 * set over a million rows costs a cache miss a row; buckets that fit the cache halve the digest's time.
 */
function digestPartitioned(rows: unknown[][], width: number): ResultDigest {
  const n = rows.length;
  const rowsOut = new Uint32Array(n * 4);
  const cellsOut = new Uint32Array(n * width * 2);
  const cell = new Uint32Array(Math.max(1, width) * 4);
  for (let r = 0; r < n; r++) {
    const row = rows[r];
    for (let j = 0; j < width; j++) hashCell(row[j], cell, j * 4);
    rowHash(cell, width, rowsOut, r * 4);
    for (let j = 0; j < width; j++) {
      cellsOut[(r * width + j) * 2] = cell[j * 4];
      cellsOut[(r * width + j) * 2 + 1] = cell[j * 4 + 1];
    }
  }
  const repeated = markDuplicates(rowsOut, n);
  if (repeated === null) return { width, rows: rowsOut, cells: cellsOut };
  let k = 0;
  for (let r = 0; r < n; r++) {
    if (repeated[r]) continue;
    if (k !== r) {
      rowsOut.copyWithin(k * 4, r * 4, r * 4 + 4);
      cellsOut.copyWithin(k * width * 2, r * width * 2, (r + 1) * width * 2);
    }
    k++;
  }
  return { width, rows: rowsOut.slice(0, k * 4), cells: cellsOut.slice(0, k * width * 2) };
}

/**
 * Which of `n` row hashes (`hashes[4r..4r+4)`) repeat an earlier one: 1 at each row equal to a row before it, or
 * null when all are distinct. The rows are spread over buckets by the top bits of their third word (equal rows
 * share a bucket), each bucket's rows copied together in row order, and each bucket deduplicated with a hash
 * table small enough to stay in cache, so the first of equal rows is the one kept.
 */
function markDuplicates(hashes: Uint32Array, n: number): Uint8Array | null {
  let bits = 1;
  while (n >>> bits > BUCKET_ROWS) bits++;
  const buckets = 1 << bits;
  const shift = 32 - bits;
  const start = new Int32Array(buckets + 1);
  for (let r = 0; r < n; r++) start[(hashes[r * 4 + 2] >>> shift) + 1]++;
  for (let b = 0; b < buckets; b++) start[b + 1] += start[b];
  // Each bucket's rows in row order: the four hash words and the row index, five words an entry.
  const next = start.slice(0, buckets);
  const entries = new Uint32Array(n * 5);
  for (let r = 0; r < n; r++) {
    const o = r * 4;
    const p = next[hashes[o + 2] >>> shift]++ * 5;
    entries[p] = hashes[o];
    entries[p + 1] = hashes[o + 1];
    entries[p + 2] = hashes[o + 2];
    entries[p + 3] = hashes[o + 3];
    entries[p + 4] = r;
  }
  let largest = 0;
  for (let b = 0; b < buckets; b++) largest = Math.max(largest, start[b + 1] - start[b]);
  let size = 16;
  while (size < largest * 2) size *= 2;
  // Open addressing over a bucket's entries: slot = entry index + 1 (0: empty).
  const table = new Int32Array(size);
  let repeated: Uint8Array | null = null;
  for (let b = 0; b < buckets; b++) {
    const lo = start[b];
    const hi = start[b + 1];
    let slots = 16;
    while (slots < (hi - lo) * 2) slots *= 2;
    const mask = slots - 1;
    table.fill(0, 0, slots);
    for (let e = lo; e < hi; e++) {
      const p = e * 5;
      const w0 = entries[p], w1 = entries[p + 1], w2 = entries[p + 2], w3 = entries[p + 3];
      for (let i = (w0 ^ w1) & mask;; i = (i + 1) & mask) {
        const f = table[i];
        if (f === 0) {
          table[i] = e + 1;
          break;
        }
        const q = (f - 1) * 5;
        if (entries[q] === w0 && entries[q + 1] === w1 && entries[q + 2] === w2 && entries[q + 3] === w3) {
          (repeated ??= new Uint8Array(n))[entries[p + 4]] = 1;
          break;
        }
      }
    }
  }
  return repeated;
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

/** Tag of the set digest's per-row remix (its own domain, apart from cell and row hashes). */
const TAG_SET = 0x53455431;

/**
 * The set digest of a result: one 128-bit value, equal for two results iff {@linkcode digestExMatch} calls them
 * equal (the same SET of distinct rows: row order and duplicates ignored, column order kept, values compared as
 * Python's `==`; two empty results are equal whatever their columns), up to the same ~2^-128 collision bound as
 * the row hashes. Each distinct row's 128-bit hash is remixed into four 32-bit lanes that are summed modulo 2^32
 * (order-independent, linear time, no sort: ~20 ns a row), then sealed with the row count. EX, the vote and candidate verdicts
 * all use this one definition; it is computed in the worker, or in the parent from a cached digest's `rows`.
 *
 * @param rows a digest's `rows` (4 × u32 per distinct row, distinct)
 * @returns 32 lowercase hex characters
 */
export function setDigest(rows: Uint32Array): string {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const one = new Uint32Array(4);
  for (let o = 0; o + 3 < rows.length; o += 4) {
    const a = rows[o], b = rows[o + 1], c = rows[o + 2], d = rows[o + 3];
    // The row hash's words are already well mixed (fmix outputs): one cheap remix, each lane from two words.
    s0 = (s0 + fmix(a ^ ((d << 7) | (d >>> 25)) ^ TAG_SET)) | 0;
    s1 = (s1 + fmix(b ^ ((a << 13) | (a >>> 19)) ^ SEEDS[1])) | 0;
    s2 = (s2 + fmix(c ^ ((b << 19) | (b >>> 13)) ^ SEEDS[2])) | 0;
    s3 = (s3 + fmix(d ^ ((c << 27) | (c >>> 5)) ^ SEEDS[3])) | 0;
  }
  const n = rows.length >>> 2;
  // Sealed with the count: the lane sums alone are not a hash (all zero for no rows).
  let h0 = round(SEEDS[0] ^ TAG_SET ^ n, s0), h1 = round(SEEDS[1] ^ n, s1);
  let h2 = round(SEEDS[2] + n, s2), h3 = round(SEEDS[3] ^ TAG_SET, s3);
  h0 = round(h0, s1);
  h1 = round(h1, s2);
  h2 = round(h2, s3);
  h3 = round(h3, s0);
  finish(h0, h1, h2, h3, one, 0);
  return Array.from(one, (w) => w.toString(16).padStart(8, "0")).join("");
}

/** {@linkcode setDigest} of an encoded digest (a gold cache entry), without its cells. Throws when malformed. */
export function setDigestOf(encoded: EncodedDigest): string {
  const rows = fromBase64(encoded.rows);
  if (rows.length % 4 !== 0) throw new Error("malformed result digest");
  return setDigest(rows);
}

const u8 = (a: Uint32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Native base64 (TC39 `Uint8Array.prototype.toBase64`, in Deno 2.9's V8): ~1 GB/s, not a string per byte. */
interface Base64 {
  toBase64(): string;
}
interface FromBase64 {
  fromBase64(s: string): Uint8Array;
}

const toBase64 = (a: Uint32Array): string => (u8(a) as unknown as Base64).toBase64();

function fromBase64(s: string): Uint32Array {
  const bytes = (Uint8Array as unknown as FromBase64).fromBase64(s);
  if (bytes.length % 4 !== 0 || bytes.byteOffset % 4 !== 0) throw new Error("malformed result digest");
  // A fresh buffer: aligned for the u32 view.
  return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
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
