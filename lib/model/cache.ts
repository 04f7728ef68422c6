/**
 * On-disk, content-addressed cache of chat completions: rerunning an evaluation or a notebook cell makes no API
 * call.
 *
 * Key (the contract in ARCHITECTURE.md): sha256 of the canonical JSON of the base URL, the model name, the
 * model's identity as the server reports it, the messages and every sampling parameter. Concurrency, timeouts
 * and retries are deliberately not part of it: they change how an answer is fetched, not which answer.
 *
 * Layout: `<dir>/<first two hex digits>/<sha256>.json`, where `<dir>` defaults to
 * `$XDG_CACHE_HOME/text2sql/completions` (or `~/.cache/text2sql/completions`). Only the hash forms a path, so no
 * model name can escape the folder. Writes go to a temp file renamed into place, so a killed process never
 * leaves a torn entry. Entries hold the texts and token usage only: never an API key or a header.
 *
 * @module
 */

import { join } from "node:path";
import { cacheRoot, READ_LIMITS, readTextSafe, UnsafeFileError, writeTextAtomic } from "../util/mod.ts";
import { canonicalJson, sha256Hex } from "../util/mod.ts";
import { normalisedBaseUrl } from "../util/mod.ts";
import type { ChatMessage } from "../types.ts";

/** What makes two requests "the same" for the cache. */
export interface CacheKeyParts {
  /** The provider's base URL (credentials in it and a trailing slash are stripped here). */
  baseUrl: string;
  model: string;
  /** The model's identity from `/v1/models` (id, root, created, owned_by…), or null when the server lists none. */
  identity: object | null;
  messages: ChatMessage[];
  /** Every sampling parameter sent (temperature, max_tokens, n, top_p, seed…); absent ones as null. */
  params: Record<string, unknown>;
}

/** One cached completion. */
export interface CacheEntry {
  /** Format version of the entry. */
  version: 1;
  /** The key this entry is stored under (sha256 hex). */
  key: string;
  /** The model name, for humans browsing the folder (never used to form a path). */
  model: string;
  /** The n sampled texts, in choice order. */
  texts: string[];
  /** Token usage reported when the completion was fetched. */
  usage: { prompt: number; completion: number };
  /** ISO time the completion was fetched. */
  created_at: string;
}

const KEY_PATTERN = /^[0-9a-f]{64}$/;

/** The cache key (sha256 hex) of a request. */
export function cacheKey(parts: CacheKeyParts): string {
  return sha256Hex(canonicalJson({
    v: 1,
    // Query values stay: hashed, they are never shown, and a gateway's key can select a different model.
    base_url: normalisedBaseUrl(parts.baseUrl, { queryMark: null }),
    model: parts.model,
    identity: parts.identity,
    messages: parts.messages.map((m) => ({ role: m.role, content: m.content })),
    params: parts.params,
  }));
}

/** `<cacheRoot()>/completions`: `$XDG_CACHE_HOME/text2sql/completions`, else `~/.cache/text2sql/completions`. */
export function defaultCacheDir(): string {
  return join(cacheRoot(), "completions");
}

/** Options for {@linkcode CompletionCache}. */
export interface CompletionCacheOptions {
  /** Folder holding the entries (default {@linkcode defaultCacheDir}). */
  dir?: string;
}

/** The completion cache on disk. */
export class CompletionCache {
  /** The folder holding the entries. */
  readonly dir: string;
  /** Shard folders known to exist: saves a mkdir per write on a busy run. */
  readonly #made = new Set<string>();
  /** Entries already warned about: one warning per bad entry, however often it is looked up. */
  readonly #warned = new Set<string>();

  /** Opens (lazily creating) the cache folder. */
  constructor(options: CompletionCacheOptions = {}) {
    this.dir = (options.dir ?? defaultCacheDir()).replace(/\/+$/, "");
  }

  /**
   * The file path of an entry. Only a 64-hex-digit key is accepted, so nothing outside `dir` can be named.
   *
   * @throws {Error} when `key` is not a sha256 hex digest.
   */
  pathOf(key: string): string {
    if (!KEY_PATTERN.test(key)) throw new Error("cache key must be a sha256 hex digest");
    return `${this.dir}/${key.slice(0, 2)}/${key}.json`;
  }

  /**
   * The entry stored under `key`, or null when absent or unusable. An unusable entry (torn or empty file,
   * wrong shape; a FIFO, a device, a folder, a symlink loop, a file over {@linkcode READ_LIMITS}`.cacheEntry`,
   * unreadable) is always a miss, never a hang or an abort, with one warning naming the file; the fresh
   * answer then replaces it where it can.
   */
  async get(key: string): Promise<CacheEntry | null> {
    const path = this.pathOf(key);
    let text: string;
    try {
      text = await readTextSafe(path, { maxBytes: READ_LIMITS.cacheEntry, what: "cache entry" });
    } catch (e) {
      if (e instanceof UnsafeFileError && e.kind === "missing") return null;
      const why = e instanceof UnsafeFileError ? e.message.slice(path.length + 2) : String(e);
      return this.#damaged(path, why);
    }
    let entry: unknown;
    try {
      entry = JSON.parse(text);
    } catch (e) {
      return this.#damaged(path, `not JSON (${(e as Error).message})`);
    }
    const problem = entryProblem(entry, key);
    return problem === null ? entry as CacheEntry : this.#damaged(path, problem);
  }

  /** A miss, warned about once per entry. */
  #damaged(path: string, why: string): null {
    if (this.#warned.has(path)) return null;
    this.#warned.add(path);
    console.error(
      `warning: ${path}: damaged completion cache entry, a miss (replaced where it can be: ${why})`,
    );
    return null;
  }

  /** Stores an entry atomically ({@linkcode writeTextAtomic}: a temp file in the same folder, then a rename). */
  async put(key: string, entry: Omit<CacheEntry, "key" | "version" | "created_at">): Promise<void> {
    const path = this.pathOf(key);
    const folder = path.slice(0, path.lastIndexOf("/"));
    if (!this.#made.has(folder)) {
      await Deno.mkdir(folder, { recursive: true });
      this.#made.add(folder);
    }
    // Whitelisting the fields guards against a caller passing a richer object (say, with request headers).
    const full: CacheEntry = {
      version: 1,
      key,
      model: String(entry.model),
      texts: entry.texts.map(String),
      usage: { prompt: Number(entry.usage.prompt) || 0, completion: Number(entry.usage.completion) || 0 },
      created_at: new Date().toISOString(),
    };
    const text = JSON.stringify(full) + "\n";
    try {
      await writeTextAtomic(path, text);
      // Replaced: should it go bad again, that is news worth a warning.
      this.#warned.delete(path);
    } catch (e) {
      // A folder in the entry's place cannot be renamed over: it was warned about when read; stay a miss.
      if (await Deno.lstat(path).then((s) => s.isDirectory, () => false)) return;
      // The folder was removed under us (a user clearing the cache mid-run): recreate it once.
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      await Deno.mkdir(folder, { recursive: true });
      await writeTextAtomic(path, text);
    }
  }
}

/** What is wrong with a parsed entry, or null when it has the shape of a {@linkcode CacheEntry} for `key`. */
export function entryProblem(entry: unknown, key: string): string | null {
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) return "not an object";
  const e = entry as Record<string, unknown>;
  if (e.version !== 1) return `version ${JSON.stringify(e.version)} is not 1`;
  if (e.key !== key) return "stored under another key";
  if (typeof e.model !== "string") return "model is not a string";
  if (!Array.isArray(e.texts) || e.texts.length === 0) return "texts is not a non-empty array";
  if (e.texts.some((t) => typeof t !== "string")) return "texts holds a non-string";
  const usage = e.usage as Record<string, unknown> | null | undefined;
  if (usage === null || typeof usage !== "object" || Array.isArray(usage)) return "no usage";
  for (const field of ["prompt", "completion"]) {
    const n = usage[field];
    if (typeof n !== "number" || !Number.isFinite(n) || n < 0) return `usage.${field} is not a count`;
  }
  if (typeof e.created_at !== "string") return "created_at is not a string";
  return null;
}
