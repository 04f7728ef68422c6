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
 * question. A database's sha256 is memoised by a stamp of (path, size, mtime, ctime, inode); a database seen for
 * the first time is hashed in the background while its first questions run uncached.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { cacheRoot, fileSha256, writeTextAtomic } from "./files.ts";
import { ENGINE_OPTIONS, type ExecErr, type GoldDigest, sqliteVersion } from "./sqlite_pool.ts";

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

/** Whether a gold result may be cached: not when it depends on load or on the memory limit. */
export function cacheable(result: GoldEntry): boolean {
  if (result.ok) return true;
  return result.kind === "error" && !result.error.startsWith("SQLite worker") &&
    !/out of memory/i.test(result.error);
}

/** Gold results by (database sha256, engine, SQL). */
export class GoldCache {
  readonly dir: string;
  readonly engine: string;
  private readonly memoryOnly: boolean;
  private readonly shards = new Map<string, Promise<Map<string, GoldEntry>>>();
  private readonly pending = new Map<string, string[]>();
  /** Content hash by absolute path: settled (a string) once known; a promise while it is being computed. */
  private readonly dbHashes = new Map<string, Promise<string | null>>();
  private readonly known = new Map<string, string | null>();
  private readonly writes = new Set<Promise<void>>();
  /** Gold queries actually executed (cache misses), for tests and benchmarks. */
  misses = 0;
  hits = 0;

  constructor(options: GoldCacheOptions = {}) {
    this.dir = options.dir ?? join(cacheRoot(), "gold");
    this.memoryOnly = options.memoryOnly ?? false;
    this.engine = options.engine ?? `${ENGINE_OPTIONS} sqlite=${sqliteVersion()}`;
  }

  /** The database's content hash, memoised on disk by its stamp so a big file is hashed once. */
  dbHash(dbPath: string): Promise<string | null> {
    const abs = resolve(dbPath);
    let p = this.dbHashes.get(abs);
    if (!p) {
      p = this.computeDbHash(abs).then((h) => {
        this.known.set(abs, h);
        return h;
      });
      this.dbHashes.set(abs, p);
    }
    return p;
  }

  private async computeDbHash(abs: string): Promise<string | null> {
    const stampOf = (st: Deno.FileInfo) =>
      createHash("sha256").update(
        [abs, st.size, st.mtime?.getTime(), st.ctime?.getTime(), st.ino, st.dev].join("\0"),
      ).digest("hex");
    let st: Deno.FileInfo;
    try {
      st = await Deno.stat(abs);
    } catch {
      return null;
    }
    const stamp = stampOf(st);
    const indexFile = join(this.dir, "db-hashes", `${stamp}.txt`);
    if (!this.memoryOnly) {
      try {
        const known = (await Deno.readTextFile(indexFile)).trim();
        if (/^[0-9a-f]{64}$/.test(known)) return known;
      } catch {
        // Not hashed yet.
      }
    }
    const hash = await fileSha256(abs);
    // A file changed while it was hashed has no trustworthy hash: no cache for it in this run.
    const after = await Deno.stat(abs).catch(() => null);
    if (!after || stampOf(after) !== stamp) return null;
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
      text = await Deno.readTextFile(file);
    } catch {
      return entries;
    }
    const lines = text.split("\n");
    const kept: string[] = [];
    let malformed = 0;
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i]) continue;
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
      if (v.key === this.engine) entries.set(v.sql, v.result);
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

  private shardPath(dbHash: string): string {
    const engine = createHash("sha256").update(this.engine).digest("hex").slice(0, 16);
    return join(this.dir, `${dbHash}-${engine}.jsonl`);
  }

  /**
   * The cached gold result, or null (a miss), without executing anything. Never waits for a database's first
   * hash: until it is known, every lookup on that database is a miss.
   */
  async peek(dbPath: string, sql: string): Promise<GoldEntry | null> {
    const abs = resolve(dbPath);
    const pending = this.dbHash(abs);
    if (!this.known.has(abs)) {
      // Known from the stamp index at once, or being hashed in the background: do not wait for a full hash.
      const quick = await Promise.race([
        pending,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 50)),
      ]);
      if (quick === undefined || quick === null) return null;
    }
    const hash = this.known.get(abs);
    if (!hash) return null;
    return (await this.shard(hash)).get(sql) ?? null;
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
      entries.set(sql, result);
      if (this.memoryOnly) return;
      const lines = this.pending.get(dbHash) ?? [];
      lines.push(JSON.stringify({ key: this.engine, sql, result }) + "\n");
      this.pending.set(dbHash, lines);
      if (lines.length >= 256) await this.writeShard(dbHash);
    })();
    this.writes.add(work);
    work.finally(() => this.writes.delete(work));
  }

  /** Append the pending entries of one database in a single write (O_APPEND: concurrent runs do not clobber). */
  private async writeShard(dbHash: string): Promise<void> {
    const lines = this.pending.get(dbHash);
    if (!lines?.length) return;
    this.pending.delete(dbHash);
    try {
      await Deno.mkdir(this.dir, { recursive: true });
      await Deno.writeTextFile(this.shardPath(dbHash), lines.join(""), { append: true });
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
