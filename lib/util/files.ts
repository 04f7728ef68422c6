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
