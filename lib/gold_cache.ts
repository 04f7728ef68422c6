/**
 * Cache of gold-query results, keyed by the database file's sha256 and the SQL text, so scoring a second
 * predictions file (or model) on the same questions does not rerun the gold queries. Timeouts and worker
 * deaths are never cached: they depend on load, not on the query. R-VES timing never reads this cache.
 *
 * Entries live in memory and on disk under `<cache root>/gold/`, written atomically.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import type { ExecResult, SqlitePool } from "./sqlite_pool.ts";

/** `$XDG_CACHE_HOME/text2sql`, else `~/.cache/text2sql`, else a folder under the system temp dir. */
export function cacheRoot(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "text2sql");
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  return home
    ? join(home, ".cache", "text2sql")
    : join(Deno.makeTempDirSync({ prefix: "text2sql-" }), "cache");
}

/** sha256 of a file, streamed so a 1 GB database does not sit in memory. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

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
  private readonly memory = new Map<string, ExecResult>();
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
    if (!this.memoryOnly) await writeAtomic(indexFile, hash);
    return hash;
  }

  private entryPath(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  private async lookup(key: string): Promise<ExecResult | null> {
    const mem = this.memory.get(key);
    if (mem) return mem;
    if (this.memoryOnly) return null;
    try {
      const stored = JSON.parse(await Deno.readTextFile(this.entryPath(key))) as ExecResult;
      this.memory.set(key, stored);
      return stored;
    } catch {
      // Miss, or an unreadable entry: recompute.
      return null;
    }
  }

  private async keyOf(dbPath: string, sql: string): Promise<string> {
    return createHash("sha256").update(`${await this.dbHash(dbPath)}\0${sql}`).digest("hex");
  }

  /** Wait until every entry written so far is on disk. */
  async flush(): Promise<void> {
    await Promise.all(this.writes);
    this.writes.clear();
  }

  /** The cached gold result, or null, without executing anything. */
  async peek(dbPath: string, sql: string): Promise<ExecResult | null> {
    return await this.lookup(await this.keyOf(dbPath, sql));
  }

  /** The gold result of `sql` on `dbPath`, from the cache or executed (and then cached) in `pool`. */
  async get(pool: SqlitePool, dbPath: string, sql: string): Promise<ExecResult> {
    const key = await this.keyOf(dbPath, sql);
    const found = await this.lookup(key);
    if (found) {
      this.hits++;
      return found;
    }
    this.misses++;
    const result = await pool.execute(dbPath, sql);
    const cacheable = result.ok || (result.kind !== "timeout" && !result.error.startsWith("SQLite worker"));
    if (cacheable) {
      this.memory.set(key, result);
      if (!this.memoryOnly) {
        // Written off the scoring path; `flush()` waits for the writes before a run ends.
        this.writes.add(
          writeAtomic(this.entryPath(key), JSON.stringify(result)).catch(() => {
            // A read-only cache folder only costs speed.
          }),
        );
      }
    }
    return result;
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}
