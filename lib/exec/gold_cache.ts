/**
 * Cache of gold-query results, keyed by the database file's sha256, the worker's engine semantics and SQLite
 * version, and the SQL text, so scoring a second predictions file (or model) on the same questions does not rerun
 * the gold queries, and a result made under other semantics is never served. Timeouts, worker deaths and
 * out-of-memory errors are never cached: they depend on load and limits, not on the query. R-VES timing never
 * reads this cache.
 *
 * An entry holds the gold result's shape and digest (`result_digest.ts`), which the worker compares a prediction
 * against: the gold rows never cross the pipe again. Entries live in memory and on disk in one append-only JSONL
 * file per (database content hash, engine), loaded once per run and appended in batches, never awaited per
 * question. Memory is bounded: the least recently used entries leave memory past {@linkcode GOLD_CACHE_MEMORY}
 * (they stay on disk for the next run), and the worker sends no digest for a very large gold result at all. A database's sha256 is memoised by a stamp of (path, size, mtime, ctime, inode); a database seen for
 * the first time is hashed in the background while its first questions run uncached.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import {
  cacheRoot,
  fileSha256,
  READ_LIMITS,
  readTextSafe,
  redact,
  registeredSecrets,
  scrubDeep,
  sha256Hex,
  UnsafeFileError,
  writeTextAtomic,
} from "../util/mod.ts";
import { ENGINE_OPTIONS, type ExecErr, type GoldDigest, sqliteVersion } from "./pool_types.ts";

/** A cached gold result: its digest, or the error the gold query raised. */
export type GoldEntry = GoldDigest | ExecErr;

/** Options of a {@linkcode GoldCache}. */
export interface GoldCacheOptions {
  /** Folder for entries (default `<cacheRoot()>/gold`). */
  dir?: string;
  /** Keep entries in memory only. */
  memoryOnly?: boolean;
  /** The engine identity in the key (default: {@linkcode ENGINE_OPTIONS} and the linked SQLite version). */
  engine?: string;
  /** Bytes of entries kept in memory, all databases together (default {@linkcode GOLD_CACHE_MEMORY}). */
  memoryBytes?: number;
  /**
   * The identity of a database's content for an engine that is not a local SQLite file (`SqlEngine.contentKey`):
   * null means unknown, and that database's gold results are then not cached. Default: the file's sha256.
   */
  contentKey?: (target: string) => Promise<string | null>;
}

/**
 * Default bound of the entries a {@linkcode GoldCache} keeps in memory. Entries are written through to disk, so
 * one evicted (the least recently used first) only costs its gold query again; the bound keeps a long run's
 * parent process small whatever its gold results weigh.
 */
export const GOLD_CACHE_MEMORY: number = 64 * 1024 ** 2;

/** Pending disk lines are written once they hold this many bytes (or 256 lines), so they never pile up. */
const PENDING_BYTES = 4 * 1024 ** 2;

/** Longest cache line read back: the worker sends digests of at most 2 MiB of base64 (`sqlite_worker.ts`). */
const MAX_LINE_CHARS = 8 * 1024 ** 2;

/** Roughly what an entry costs in memory: its SQL, its digest text and its shape and sample. */
function entryBytes(sql: string, result: GoldEntry): number {
  if (!result.ok) return 2 * (sql.length + result.error.length) + 256;
  const d = result.digest;
  return 2 * sql.length + (d ? d.rows.length + d.cells.length : 0) +
    2 * JSON.stringify(result.sample).length +
    512;
}

/**
 * An entry as it is written to disk: where the process holds registered credentials (a server URL's), its
 * display sample, column names and error pass the secret model's scrubber; the digest a prediction is compared
 * against is kept as it is, so no verdict depends on it.
 */
function forDisk(result: GoldEntry): GoldEntry {
  if (!registeredSecrets().length) return result;
  const scrub = (text: string) => redact(text, []);
  if (!result.ok) return { ...result, error: scrub(result.error) };
  return { ...result, columns: result.columns.map(scrub), sample: scrubDeep(result.sample, scrub) };
}

const isInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
const isStrings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");

/** Whether a parsed cache line holds an entry of the shape this version writes. */
function validEntry(v: unknown): v is { key: string; sql: string; result: GoldEntry } {
  if (typeof v !== "object" || v === null) return false;
  const { key, sql, result } = v as Record<string, unknown>;
  if (typeof key !== "string" || typeof sql !== "string" || typeof result !== "object" || result === null) {
    return false;
  }
  const r = result as Record<string, unknown>;
  if (r.ok === false) {
    return (r.kind === "error" || r.kind === "too_large") && typeof r.error === "string";
  }
  const d = r.digest as Record<string, unknown> | undefined;
  return r.ok === true && isStrings(r.columns) && isInt(r.rowCount) && isInt(r.distinctRows) &&
    Array.isArray(r.sample) && r.sample.every(Array.isArray) && typeof r.execMs === "number" &&
    typeof d === "object" && d !== null && d.width === (r.columns as string[]).length &&
    typeof d.rows === "string" && typeof d.cells === "string" &&
    // 16 bytes of digest per distinct row: base64 length is fixed by the count.
    d.rows.length === Math.ceil((r.distinctRows as number) * 16 / 3) * 4;
}

/** (path, size, mtime, ctime, inode, device): any change of the file changes its stamp. */
function stampOf(abs: string, st: Deno.FileInfo): string {
  return createHash("sha256").update(
    [abs, st.size, st.mtime?.getTime(), st.ctime?.getTime(), st.ino, st.dev].join("\0"),
  ).digest("hex");
}

/** Whether a gold result may be cached: not when it depends on load or on the memory limit. */
export function cacheable(result: GoldEntry): boolean {
  // A gold result too big to travel back has no digest: nothing to compare against next time.
  if (result.ok) return result.digest !== undefined;
  return result.kind === "error" && !/^\w+ worker (died|exited)/.test(result.error) &&
    !/out of memory/i.test(result.error);
}

/** Gold results by (database sha256, engine, SQL). */
export class GoldCache {
  readonly dir: string;
  readonly engine: string;
  private readonly memoryOnly: boolean;
  private readonly shards = new Map<string, Promise<Map<string, GoldEntry>>>();
  private readonly pending = new Map<string, { lines: string[]; bytes: number }>();
  /** Entries in memory, least recently used first: `dbHash \0 sql` → its shard and size. */
  private readonly resident = new Map<
    string,
    { entries: Map<string, GoldEntry>; sql: string; bytes: number }
  >();
  private residentBytes = 0;
  private readonly memoryBytes: number;
  /** SQL already on disk (or pending) per database: an evicted entry executed again is not appended twice. */
  private readonly written = new Map<string, Set<string>>();
  /** Content hash by absolute path: settled (a string) once known; a promise while it is being computed. */
  private readonly dbHashes = new Map<string, Promise<string | null>>();
  private readonly known = new Map<string, string | null>();
  private readonly stamps = new Map<
    string,
    Promise<{ stamp: string; indexFile: string; known: string | null } | null>
  >();
  private readonly writes = new Set<Promise<void>>();
  /** Gold queries being executed now, by database and SQL. */
  private readonly inFlight = new Map<string, Promise<GoldEntry | null>>();
  /** Shard files that are not regular files (a FIFO, a device, a folder, a loop): never read nor appended to. */
  private readonly unusable = new Set<string>();
  /** The engine's content identity of a database ({@linkcode GoldCacheOptions.contentKey}), or null for files. */
  private readonly contentKey: ((target: string) => Promise<string | null>) | null;
  /** Gold queries actually executed (cache misses), for tests and benchmarks. */
  misses = 0;
  hits = 0;

  constructor(options: GoldCacheOptions = {}) {
    this.dir = options.dir ?? join(cacheRoot(), "gold");
    this.memoryOnly = options.memoryOnly ?? false;
    this.memoryBytes = options.memoryBytes ?? GOLD_CACHE_MEMORY;
    this.engine = options.engine ?? `${ENGINE_OPTIONS} sqlite=${sqliteVersion()}`;
    this.contentKey = options.contentKey ?? null;
  }

  /** The key of a database in the maps above: the engine's target as given, or a SQLite file's absolute path. */
  private keyOf(dbPath: string): string {
    return this.contentKey ? dbPath : resolve(dbPath);
  }

  /** The database's content hash, memoised on disk by its stamp so a big file is hashed once. */
  dbHash(dbPath: string): Promise<string | null> {
    const abs = this.keyOf(dbPath);
    let p = this.dbHashes.get(abs);
    if (!p && this.contentKey) {
      p = this.contentKey(dbPath).then((k) => {
        const h = k === null ? null : sha256Hex(k);
        this.known.set(abs, h);
        return h;
      });
      this.dbHashes.set(abs, p);
    }
    if (!p) {
      p = this.stamped(abs).then(async (s) =>
        s && (s.known ?? await this.hashFile(abs, s.stamp, s.indexFile))
      )
        .then((h) => {
          this.known.set(abs, h);
          return h;
        });
      this.dbHashes.set(abs, p);
    }
    return p;
  }

  /** The file's stamp and, when an earlier run hashed this very file, its hash (a stat and a small read). */
  private stamped(abs: string): Promise<{ stamp: string; indexFile: string; known: string | null } | null> {
    let p = this.stamps.get(abs);
    if (!p) {
      p = (async () => {
        let st: Deno.FileInfo;
        try {
          st = await Deno.stat(abs);
        } catch {
          return null;
        }
        const stamp = stampOf(abs, st);
        const indexFile = join(this.dir, "db-hashes", `${stamp}.txt`);
        if (this.memoryOnly) return { stamp, indexFile, known: null };
        const known = await readTextSafe(indexFile, { maxBytes: 1024, what: "gold cache index" })
          .then((text) => text.trim(), () => "");
        return { stamp, indexFile, known: /^[0-9a-f]{64}$/.test(known) ? known : null };
      })();
      this.stamps.set(abs, p);
    }
    return p;
  }

  private async hashFile(abs: string, stamp: string, indexFile: string): Promise<string | null> {
    const hash = await fileSha256(abs);
    // A file changed while it was hashed has no trustworthy hash: no cache for it in this run.
    const after = await Deno.stat(abs).catch(() => null);
    if (!after || stampOf(abs, after) !== stamp) return null;
    if (!this.memoryOnly) {
      try {
        await Deno.mkdir(dirname(indexFile), { recursive: true });
        await writeTextAtomic(indexFile, hash);
      } catch {
        // A read-only cache folder only costs speed.
      }
    }
    return hash;
  }

  /** Entries of one database, loaded once from its JSONL file (a torn or malformed line is a miss). */
  private shard(dbHash: string): Promise<Map<string, GoldEntry>> {
    let p = this.shards.get(dbHash);
    if (!p) {
      p = this.loadShard(dbHash);
      this.shards.set(dbHash, p);
    }
    return p;
  }

  private async loadShard(dbHash: string): Promise<Map<string, GoldEntry>> {
    const entries = new Map<string, GoldEntry>();
    if (this.memoryOnly) return entries;
    const file = this.shardPath(dbHash);
    let text = "";
    try {
      text = await readTextSafe(file, { maxBytes: READ_LIMITS.goldCache, what: "gold cache file" });
    } catch (e) {
      // A FIFO, a device, a folder, a loop or an oversized file: every gold query on it is a miss, one warning.
      if (e instanceof UnsafeFileError && e.kind !== "missing") {
        this.unusable.add(file);
        console.error(`warning: ${e.message}; ignored (its gold queries are recomputed)`);
      }
      return entries;
    }
    const lines = text.split("\n");
    const kept: string[] = [];
    let malformed = 0;
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i]) continue;
      // An entry bigger than the worker now sends (an older run's) is left on disk unread: a miss.
      if (lines[i].length > MAX_LINE_CHARS) {
        kept.push(lines[i] + "\n");
        continue;
      }
      let v: unknown;
      try {
        v = JSON.parse(lines[i]);
      } catch {
        // A torn last line (a killed run) is expected; anything else is counted as malformed.
        if (i < lines.length - 1) malformed++;
        continue;
      }
      if (!validEntry(v)) {
        malformed++;
        continue;
      }
      kept.push(lines[i] + "\n");
      if (v.key !== this.engine) continue;
      this.writtenOf(dbHash).add(v.sql);
      this.keep(dbHash, entries, v.sql, v.result);
    }
    if (malformed) {
      console.error(
        `warning: ${file}: ${malformed} malformed gold cache entr${malformed > 1 ? "ies" : "y"} dropped ` +
          "(recomputed when asked for)",
      );
      await writeTextAtomic(file, kept.join("")).catch(() => {});
    }
    return entries;
  }

  private writtenOf(dbHash: string): Set<string> {
    let set = this.written.get(dbHash);
    if (!set) this.written.set(dbHash, set = new Set());
    return set;
  }

  /** Keep an entry in memory, evicting the least recently used ones past the memory bound. */
  private keep(dbHash: string, entries: Map<string, GoldEntry>, sql: string, result: GoldEntry): void {
    const id = `${dbHash}\0${sql}`;
    const bytes = entryBytes(sql, result);
    const old = this.resident.get(id);
    if (old) {
      this.residentBytes -= old.bytes;
      this.resident.delete(id);
    }
    entries.set(sql, result);
    this.resident.set(id, { entries, sql, bytes });
    this.residentBytes += bytes;
    for (const [key, e] of this.resident) {
      if (this.residentBytes <= this.memoryBytes) break;
      this.resident.delete(key);
      e.entries.delete(e.sql);
      this.residentBytes -= e.bytes;
    }
  }

  /** Mark an entry as just used, so eviction takes others first. */
  private touch(dbHash: string, sql: string): void {
    const id = `${dbHash}\0${sql}`;
    const e = this.resident.get(id);
    if (!e) return;
    this.resident.delete(id);
    this.resident.set(id, e);
  }

  /** Bytes of entries held in memory now (tests check the bound). */
  get memoryUsed(): number {
    return this.residentBytes;
  }

  private shardPath(dbHash: string): string {
    const engine = createHash("sha256").update(this.engine).digest("hex").slice(0, 16);
    return join(this.dir, `${dbHash}-${engine}.jsonl`);
  }

  /**
   * The cached gold result, or null (a miss), without executing anything. Never waits for a database's first
   * hash: until it is known, every lookup on that database is a miss.
   */
  async peek(dbPath: string, sql: string): Promise<GoldEntry | null> {
    const abs = this.keyOf(dbPath);
    let hash: string | null | undefined;
    // An engine's content key is quick (a catalog read, once): wait for it.
    if (this.contentKey) hash = await this.dbHash(abs);
    else {
      void this.dbHash(abs);
      // Known from an earlier run's stamp index at once, or being hashed in the background: never wait for that.
      hash = (await this.stamped(abs))?.known ?? this.known.get(abs);
    }
    if (!hash) return null;
    const hit = (await this.shard(hash)).get(sql) ?? null;
    if (hit) this.touch(hash, sql);
    return hit;
  }

  /**
   * The result of the same gold query on the same database being executed right now by another question of this
   * run, once it is done (null when none is, or when its result cannot be shared): two questions with one gold
   * query execute it once, however many run at a time.
   */
  async running(dbPath: string, sql: string): Promise<GoldEntry | null> {
    return await (this.inFlight.get(`${dbPath}\0${sql}`) ?? null);
  }

  /**
   * Say that the caller executes this gold query now; call the returned function with its result (or null when it
   * did not run), which releases those waiting in {@linkcode running}.
   */
  start(dbPath: string, sql: string): (result: GoldEntry | null) => void {
    const key = `${dbPath}\0${sql}`;
    let settle!: (r: GoldEntry | null) => void;
    this.inFlight.set(key, new Promise((res) => (settle = res)));
    return (result) => {
      this.inFlight.delete(key);
      settle(result && cacheable(result) ? result : null);
    };
  }

  /**
   * Count a gold query executed by the caller (a miss) and keep its result unless it depends on load. Returns at
   * once; the entry is written in a batch (see {@linkcode flush}).
   */
  record(dbPath: string, sql: string, result: GoldEntry): void {
    this.misses++;
    if (!cacheable(result)) return;
    const work = (async () => {
      const dbHash = await this.dbHash(dbPath);
      if (!dbHash) return;
      const entries = await this.shard(dbHash);
      if (entries.has(sql)) return;
      this.keep(dbHash, entries, sql, result);
      if (this.memoryOnly) return;
      const written = this.writtenOf(dbHash);
      if (written.has(sql)) return;
      written.add(sql);
      const batch = this.pending.get(dbHash) ?? { lines: [], bytes: 0 };
      const line = JSON.stringify({ key: this.engine, sql, result: forDisk(result) }) + "\n";
      batch.lines.push(line);
      batch.bytes += line.length;
      this.pending.set(dbHash, batch);
      if (batch.lines.length >= 256 || batch.bytes >= PENDING_BYTES) await this.writeShard(dbHash);
    })();
    this.writes.add(work);
    work.finally(() => this.writes.delete(work));
  }

  /** Append the pending entries of one database in a single write (O_APPEND: concurrent runs do not clobber). */
  private async writeShard(dbHash: string): Promise<void> {
    const batch = this.pending.get(dbHash);
    if (!batch?.lines.length) return;
    this.pending.delete(dbHash);
    if (this.unusable.has(this.shardPath(dbHash))) return;
    try {
      await Deno.mkdir(this.dir, { recursive: true });
      await Deno.writeTextFile(this.shardPath(dbHash), batch.lines.join(""), { append: true });
    } catch {
      // A read-only cache folder only costs speed.
    }
  }

  /** Write every pending entry to disk; a run calls it before it ends. */
  async flush(): Promise<void> {
    await Promise.all(this.writes);
    await Promise.all([...this.pending.keys()].map((h) => this.writeShard(h)));
  }
}
