/**
 * File reads the download steps share: a size that may be absent, JSON that may be torn (redo the work) or must
 * parse (name the file), and an archive's sha256 reported as the `hash` phase.
 *
 * @module
 */
import { basename } from "node:path";
import { fileSha256, sha256Hex } from "../util/mod.ts";
import { DownloadError } from "./bird_archives.ts";
import { Meter, type OnProgress } from "./download_progress.ts";
import { message } from "./archive_error.ts";

/** The size of `path`, `null` when nothing is there. */
export async function fileSize(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** A JSON file this code wrote (marker, manifest, part meta), `null` when missing or torn. */
export async function readJson<T>(path: string): Promise<T | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    // A torn marker or meta file (killed mid-write) is treated as absent, which redoes the work safely.
    return null;
  }
}

/** Reads and parses a JSON file the dataset needs, with the sha256 of the bytes parsed. */
export async function readJsonStrict(path: string): Promise<{ value: unknown; sha256: string }> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new DownloadError(`${path}: ${error instanceof Deno.errors.NotFound ? "missing" : message(error)}`);
  }
  try {
    // ignoreBOM keeps a byte-order mark, as Deno.readTextFile does: JSON.parse refuses it.
    return {
      value: JSON.parse(new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes)),
      sha256: sha256Hex(bytes),
    };
  } catch (error) {
    throw new DownloadError(`${path}: invalid JSON (${message(error)})`);
  }
}

/** {@link fileSha256} reported as the `hash` phase: a kept multi-GB archive takes a while to hash. */
export async function hashWithProgress(path: string, onProgress?: OnProgress): Promise<string> {
  const size = (await fileSize(path)) ?? 0;
  const meter = new Meter("hash", basename(path), onProgress);
  let done = 0;
  const sha256 = await fileSha256(path, (n) => meter.update(done += n, size));
  meter.finish(size, size);
  return sha256;
}
