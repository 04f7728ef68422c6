/**
 * Cache of gold-query results, keyed by the database file's sha256 and the SQL text, so scoring a second
 * predictions file (or model) on the same questions does not rerun the gold queries. Timeouts and worker
 * deaths are never cached: they depend on load, not on the query. R-VES timing never reads this cache.
 *
 * Entries live in memory and on disk in one append-only JSONL file per database content hash,
 * `<cache root>/gold/<sha256>.jsonl`, loaded once per run and appended in batches.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { cacheRoot, fileSha256, writeTextAtomic } from "./files.ts";
import type { ExecResult, SqlitePool } from "./sqlite_pool.ts";

/** Options of a {@linkcode GoldCache}. */
export interface GoldCacheOptions {
  /** Folder for entries (default `<cacheRoot()>/gold`). */
  dir?: string;
  /** Keep entries in memory only. */
  memoryOnly?: boolean;
}

/** Gold results by (database sha256, SQL). */
export class GoldCache {
  readonly dir: string;
  private readonly memoryOnly: boolean;
  private readonly shards = new Map<string, Promise<Map<string, ExecResult>>>();
  private readonly pending = new Map<string, string[]>();
  private readonly dbHashes = new Map<string, Promise<string>>();
  private readonly writes = new Set<Promise<void>>();
  /** Gold queries actually executed (cache misses), for tests and benchmarks. */
  misses = 0;
  hits = 0;

  constructor(options: GoldCacheOptions = {}) {
    this.dir = options.dir ?? join(cacheRoot(), "gold");
    this.memoryOnly = options.memoryOnly ?? false;
  }

  /** The database's content hash; memoised on disk by (path, size, mtime) so big files hash once. */
  dbHash(dbPath: string): Promise<string> {
    const abs = resolve(dbPath);
    let p = this.dbHashes.get(abs);
    if (!p) {
      p = this.computeDbHash(abs);
      this.dbHashes.set(abs, p);
    }
    return p;
  }

  private async computeDbHash(abs: string): Promise<string> {
    const st = await Deno.stat(abs);
    const stamp = createHash("sha256").update(`${abs}\0${st.size}\0${st.mtime?.getTime()}`).digest("hex");
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
    if (!this.memoryOnly) {
      await Deno.mkdir(dirname(indexFile), { recursive: true });
      await writeTextAtomic(indexFile, hash);
    }
    return hash;
  }

  /** Entries of one database, loaded once from its JSONL file (a torn last line is ignored). */
  private shard(dbHash: string): Promise<Map<string, ExecResult>> {
    let p = this.shards.get(dbHash);
    if (!p) {
      p = this.loadShard(dbHash);
      this.shards.set(dbHash, p);
    }
    return p;
  }

  private async loadShard(dbHash: string): Promise<Map<string, ExecResult>> {
    const entries = new Map<string, ExecResult>();
    if (this.memoryOnly) return entries;
    let text = "";
    try {
      text = await Deno.readTextFile(this.shardPath(dbHash));
    } catch {
      return entries;
    }
    for (const line of text.split("\n")) {
      if (!line) continue;
      try {
        const { sql, result } = JSON.parse(line) as { sql: string; result: ExecResult };
        entries.set(sql, result);
      } catch {
        // A line torn by a killed run: that entry is simply recomputed.
      }
    }
    return entries;
  }

  private shardPath(dbHash: string): string {
    return join(this.dir, `${dbHash}.jsonl`);
  }

  /** The cached gold result, or null, without executing anything. */
  async peek(dbPath: string, sql: string): Promise<ExecResult | null> {
    return (await this.shard(await this.dbHash(dbPath))).get(sql) ?? null;
  }

  /** The gold result of `sql` on `dbPath`, from the cache or executed (and then cached) in `pool`. */
  async get(pool: SqlitePool, dbPath: string, sql: string): Promise<ExecResult> {
    const dbHash = await this.dbHash(dbPath);
    const entries = await this.shard(dbHash);
    const found = entries.get(sql);
    if (found) {
      this.hits++;
      return found;
    }
    const result = await pool.execute(dbPath, sql);
    await this.record(dbPath, sql, result);
    return result;
  }

  /** Count a gold query executed by the caller (a miss) and keep its result unless it depends on load. */
  async record(dbPath: string, sql: string, result: ExecResult): Promise<void> {
    this.misses++;
    const dbHash = await this.dbHash(dbPath);
    const entries = await this.shard(dbHash);
    const cacheable = result.ok || (result.kind !== "timeout" && !result.error.startsWith("SQLite worker"));
    if (!cacheable || entries.has(sql)) return;
    entries.set(sql, result);
    if (this.memoryOnly) return;
    const lines = this.pending.get(dbHash) ?? [];
    lines.push(JSON.stringify({ sql, result }) + "\n");
    this.pending.set(dbHash, lines);
    if (lines.length >= 256) this.writes.add(this.writeShard(dbHash));
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
    for (const dbHash of [...this.pending.keys()]) this.writes.add(this.writeShard(dbHash));
    await Promise.all(this.writes);
    this.writes.clear();
  }
}
