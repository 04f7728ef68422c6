/**
 * File helpers every module needs the same way: existence, atomic writes (a killed process never leaves half a
 * file that looks whole), and a streamed sha256 (a multi-GB database or archive never sits in memory).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";

/** True when something exists at `path` (file or folder). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a path exists (a symlink followed), synchronously: any error reads as absent, as `node:fs`'s
 * `existsSync` (which would load Node's file system module, ~5 ms of start-up, for this alone).
 */
export function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Write text through a temporary file in the same folder and a rename; the temporary file is removed on failure. */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** {@linkcode writeTextAtomic} of pretty-printed JSON with a final newline. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeTextAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/** sha256 (hex) of a file, streamed; `onBytes` sees each chunk's length (progress of a long hash). */
export async function fileSha256(path: string, onBytes?: (n: number) => void): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) {
    hash.update(chunk);
    onBytes?.(chunk.length);
  }
  return hash.digest("hex");
}

/**
 * The toolkit's cache folder: `$XDG_CACHE_HOME/text2sql`, else `~/.cache/text2sql`, else (no home at all) a fresh
 * folder under the system temp dir, which only costs the cache's benefit.
 */
export function cacheRoot(): string {
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "text2sql");
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  return home
    ? join(home, ".cache", "text2sql")
    : join(Deno.makeTempDirSync({ prefix: "text2sql-" }), "cache");
}

/** Size bounds of each kind of file the toolkit reads (bytes): past one, the file is refused by name. */
export const READ_LIMITS = {
  /** A dataset JSON file (BIRD's train.json is ~10 MB). */
  dataset: 512 * 1024 ** 2,
  /** An official-format predictions file (a few MB for BIRD dev). */
  predictions: 256 * 1024 ** 2,
  /** One completion cache entry (the n texts of one request, or one tool turn). */
  cacheEntry: 32 * 1024 ** 2,
  /** One gold cache shard (a database's gold results). */
  goldCache: 512 * 1024 ** 2,
  /** A run's `results.jsonl` (JavaScript strings stop short of 1 GiB). */
  runLog: 512 * 1024 ** 2,
  /** A small JSON file: `run.json`, `summary.json`, a config, a price table. */
  smallJson: 16 * 1024 ** 2,
} as const;

/** Why a file was refused by {@linkcode readFileSafe}. */
export type UnsafeFileKind = "missing" | "folder" | "special" | "loop" | "too_big" | "unreadable";

/** A file the toolkit will not read (a FIFO, a device, a folder, a symlink loop, too big): one line naming it. */
export class UnsafeFileError extends Error {
  override name = "UnsafeFileError";
  /** The path as given. */
  readonly path: string;
  /** What is wrong with it. */
  readonly kind: UnsafeFileKind;

  /** An error about `path`; `message` already names it. */
  constructor(message: string, at: { path: string; kind: UnsafeFileKind }) {
    super(message);
    this.path = at.path;
    this.kind = at.kind;
  }
}

/** How a reader describes the file, and the most it reads. */
export interface SafeReadOptions {
  /** Bytes at most (see {@linkcode READ_LIMITS}). */
  maxBytes: number;
  /** What the file is, for messages: `dataset`, `predictions file`, `cache entry`. */
  what: string;
}

/** A file that is not a regular file, in words (`a FIFO`, `a character device`, …). */
function specialKind(info: Deno.FileInfo): string {
  if (info.isFifo) return "a FIFO";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(bytes < 10 * 1024 ** 2 ? 1 : 0)} MB`;
}

/** The error of a failed `stat`/`open`: missing, a loop, or unreadable. */
function statFailure(path: string, what: string, e: unknown): UnsafeFileError {
  if (e instanceof Deno.errors.NotFound) {
    return new UnsafeFileError(`${path}: ${what} not found`, { path, kind: "missing" });
  }
  const message = (e as Error)?.message ?? String(e);
  if (/ELOOP|too many levels of symbolic links/i.test(message)) {
    return new UnsafeFileError(`${path}: ${what} is a symlink loop`, { path, kind: "loop" });
  }
  if (e instanceof Deno.errors.IsADirectory) {
    return new UnsafeFileError(`${path}: ${what} is a folder`, { path, kind: "folder" });
  }
  return new UnsafeFileError(`${path}: cannot read ${what} (${message.split("\n")[0]})`, {
    path,
    kind: "unreadable",
  });
}

/** The refusal of a file whose (f)stat says it is not a regular file, or too big; null when it may be read. */
function refusal(path: string, info: Deno.FileInfo, options: SafeReadOptions): UnsafeFileError | null {
  const { what, maxBytes } = options;
  if (info.isDirectory) return new UnsafeFileError(`${path}: ${what} is a folder`, { path, kind: "folder" });
  if (!info.isFile) {
    return new UnsafeFileError(`${path}: ${what} is ${specialKind(info)}, not a regular file`, {
      path,
      kind: "special",
    });
  }
  if (info.size > maxBytes) {
    return new UnsafeFileError(
      `${path}: ${what} is ${megabytes(info.size)}, over the ${megabytes(maxBytes)} a ${what} may be`,
      { path, kind: "too_big" },
    );
  }
  return null;
}

/** The bytes of a file read chunk by chunk into `buffer`, refused once they pass `maxBytes` (a file that grew). */
class BoundedBytes {
  /** Where each read lands before {@linkcode took} keeps it. */
  readonly buffer = new Uint8Array(1024 * 1024);
  private readonly chunks: Uint8Array[] = [];
  private total = 0;

  constructor(private readonly path: string, private readonly options: SafeReadOptions) {}

  /** Keep the `n` bytes just read into `buffer`. */
  took(n: number): void {
    this.total += n;
    const { path, options: { what, maxBytes } } = this;
    if (this.total > maxBytes) {
      throw new UnsafeFileError(`${path}: ${what} grew past the ${megabytes(maxBytes)} a ${what} may be`, {
        path,
        kind: "too_big",
      });
    }
    this.chunks.push(this.buffer.slice(0, n));
  }

  /** Everything kept, in one array. */
  all(): Uint8Array {
    const out = new Uint8Array(this.total);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/**
 * What the toolkit reads every file with: regular files only, never blocking and never unbounded. The path is
 * `stat`ed first (a FIFO, a device such as `/dev/zero`, a folder, a symlink loop and a file over
 * `maxBytes` are refused by name, before any open that could block), then opened, `fstat`ed again (a file
 * swapped for a special one in between is refused too) and read to at most `maxBytes` (+1 to tell a file
 * that grew).
 *
 * @param path the file
 * @param options the size bound and what the file is, for messages
 * @throws {UnsafeFileError} naming the file, with `kind` saying why (`missing` when it does not exist)
 */
export async function readFileSafe(path: string, options: SafeReadOptions): Promise<Uint8Array> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw statFailure(path, options.what, e);
  }
  const refused = refusal(path, info, options);
  if (refused) throw refused;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw statFailure(path, options.what, e);
  }
  try {
    const again = refusal(path, await file.stat(), options);
    if (again) throw again;
    const bytes = new BoundedBytes(path, options);
    for (let n = await file.read(bytes.buffer); n !== null; n = await file.read(bytes.buffer)) bytes.took(n);
    return bytes.all();
  } catch (e) {
    throw e instanceof UnsafeFileError ? e : statFailure(path, options.what, e);
  } finally {
    file.close();
  }
}

/** {@linkcode readFileSafe} decoded as UTF-8 text. */
export async function readTextSafe(path: string, options: SafeReadOptions): Promise<string> {
  return new TextDecoder().decode(await readFileSafe(path, options));
}

/** {@linkcode readFileSafe}, synchronously (the analysis room reads run folders synchronously), as text. */
export function readTextSafeSync(path: string, options: SafeReadOptions): string {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    throw statFailure(path, options.what, e);
  }
  const refused = refusal(path, info, options);
  if (refused) throw refused;
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    throw statFailure(path, options.what, e);
  }
  try {
    const again = refusal(path, file.statSync(), options);
    if (again) throw again;
    const bytes = new BoundedBytes(path, options);
    for (let n = file.readSync(bytes.buffer); n !== null; n = file.readSync(bytes.buffer)) bytes.took(n);
    return new TextDecoder().decode(bytes.all());
  } catch (e) {
    throw e instanceof UnsafeFileError ? e : statFailure(path, options.what, e);
  } finally {
    file.close();
  }
}
