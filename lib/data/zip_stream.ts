/**
 * Streaming, safe zip extraction on top of `@zip.js/zip.js`.
 *
 * Archives are read through {@link FsFileReader}, which fetches only the byte ranges zip.js asks for, and every
 * entry is streamed straight to its file: memory stays flat whatever the size of the archive or of an entry
 * (the BIRD train databases zip is several GB). Each entry's CRC-32 is checked while it is written. Entry names
 * are validated before anything is written, so an archive that tries to escape its destination is refused
 * whole.
 *
 * @module
 */

import { configure, type Entry, Reader, ZipReader } from "@zip.js/zip.js";
import { dirname, join, resolve, sep } from "node:path";
import { ArchiveError, message } from "./archive_error.ts";

export { ArchiveError };

// Workers would copy every chunk across a thread boundary for no gain here: inflating is not the bottleneck
// next to disk and network, and the native DecompressionStream runs off the JS thread anyway.
configure({ useWebWorkers: false });

/**
 * A zip.js {@link Reader} over a `Deno.FsFile` that reads only the ranges asked for, so a multi-GB zip is never
 * held in memory. Reads are serialised because seek + read on one handle is not atomic and zip.js may issue
 * several at once.
 */
class FsFileReader extends Reader<Deno.FsFile> {
  #file: Deno.FsFile;
  #queue: Promise<unknown> = Promise.resolve();

  /** @param file An open file; the caller closes it after the {@link ZipReader} is done. */
  constructor(file: Deno.FsFile) {
    super(file);
    this.#file = file;
  }

  /** Reads the file size: zip.js needs it to find the central directory at the end. */
  override async init(): Promise<void> {
    this.size = (await this.#file.stat()).size;
  }

  /**
   * Reads `length` bytes at `offset`, truncated at the end of the file.
   *
   * @param offset Byte offset in the file.
   * @param length Number of bytes wanted.
   */
  override readUint8Array(offset: number, length: number): Promise<Uint8Array> {
    const result = this.#queue.then(async () => {
      await this.#file.seek(offset, Deno.SeekMode.Start);
      const data = new Uint8Array(Math.max(0, Math.min(length, this.size - offset)));
      let filled = 0;
      while (filled < data.length) {
        const count = await this.#file.read(data.subarray(filled));
        if (count === null) return data.subarray(0, filled);
        filled += count;
      }
      return data;
    });
    this.#queue = result.catch(() => undefined);
    return result;
  }
}

/** Where an entry goes: `null` for entries that are skipped (macOS metadata, empty names). */
export type EntryTarget = { segments: string[] } | null;

const SKIPPED_NAMES = new Set(["__MACOSX", ".DS_Store"]);

/**
 * Decides where an entry name may be written, relative to the extraction folder. Throws when the name would
 * escape it: a `..` component, an absolute path, a drive letter, a backslash root or a NUL byte. Backslashes
 * count as separators because archives made on Windows use them and a Windows host would resolve them.
 *
 * @param name The entry name as stored in the archive.
 * @returns The path components, or `null` when the entry is to be skipped (`__MACOSX/`, `._*`, `.DS_Store`).
 * @throws {Error} when the name is unsafe; the message names the entry.
 */
export function entryTarget(name: string): EntryTarget {
  if (name.includes("\0")) throw new Error(`entry "${name}" has a NUL byte in its name`);
  if (/^[\\/]/.test(name)) throw new Error(`entry "${name}" is an absolute path`);
  if (/^[A-Za-z]:/.test(name)) throw new Error(`entry "${name}" starts with a drive letter`);
  const parts = name.split(/[\\/]+/).filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) throw new Error(`entry "${name}" escapes the destination with ".."`);
  if (parts.length === 0) return null;
  if (parts.some((part) => SKIPPED_NAMES.has(part)) || parts[parts.length - 1].startsWith("._")) return null;
  return { segments: parts };
}

/** Options of {@link extractZip}. */
export interface ExtractOptions {
  /** Called after each chunk written, with the number of uncompressed bytes in it. */
  onBytes?: (bytes: number) => void;
  /** Called once the names are checked, before the first byte is written, with the bytes to write. */
  onStart?: (declaredBytes: number) => void;
  /** Aborts the extraction. */
  signal?: AbortSignal;
}

/** What {@link extractZip} wrote. */
export interface ExtractResult {
  /** Files written, as paths relative to the destination with `/` separators. */
  files: string[];
  /** Entries skipped (macOS metadata). */
  skipped: string[];
  /** Uncompressed bytes written. */
  bytes: number;
  /** Total uncompressed size declared by the entries written (what `onBytes` counts up to). */
  declaredBytes: number;
}

/**
 * Extracts a zip file into a folder, streaming each entry to disk and checking its CRC-32.
 *
 * Every name is validated before the first byte is written (see {@link entryTarget}); symlink entries are
 * refused. Entries that share data with another one ("overlapping", which makes Info-ZIP `unzip` report a
 * zip bomb, as BIRD's train archive does) are extracted like any other: their CRC still protects their content.
 *
 * @param zipPath The archive on disk.
 * @param destDir The folder to extract into (created if needed).
 * @param options Progress callback and abort signal.
 * @throws {ArchiveError} naming the archive and entry for unsafe names, symlinks, bad CRCs or unreadable data.
 */
export async function extractZip(
  zipPath: string,
  destDir: string,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const root = resolve(destDir);
  const file = await Deno.open(zipPath, { read: true });
  const reader = new ZipReader(new FsFileReader(file), {
    // Names are checked below with messages that name the entry; zip.js would reject them with its own.
    filenameValidation: "tolerant",
  });
  const result: ExtractResult = { files: [], skipped: [], bytes: 0, declaredBytes: 0 };
  try {
    let entries: Entry[];
    try {
      entries = await reader.getEntries();
    } catch (error) {
      throw new ArchiveError(
        `${zipPath}: not a readable zip archive (${message(error)})`,
        "unreadable",
        zipPath,
        undefined,
        {
          cause: error,
        },
      );
    }
    const plan: { entry: Entry; path: string; rel: string }[] = [];
    for (const entry of entries) {
      let target: EntryTarget;
      try {
        target = entryTarget(entry.filename);
      } catch (error) {
        throw new ArchiveError(`${zipPath}: refused ${message(error)}`, "unsafe", zipPath, entry.filename);
      }
      if (target === null) {
        result.skipped.push(entry.filename);
        continue;
      }
      if (entry.symlink) {
        throw new ArchiveError(
          `${zipPath}: refused entry "${entry.filename}": symbolic links are not extracted`,
          "unsafe",
          zipPath,
          entry.filename,
        );
      }
      const path = join(root, ...target.segments);
      // Belt and braces: the component checks above should make this impossible.
      if (!path.startsWith(root + sep)) {
        throw new ArchiveError(
          `${zipPath}: refused entry "${entry.filename}": it resolves outside ${root}`,
          "unsafe",
          zipPath,
          entry.filename,
        );
      }
      plan.push({ entry, path, rel: target.segments.join("/") });
      if (!entry.directory) result.declaredBytes += entry.uncompressedSize;
    }
    await Deno.mkdir(root, { recursive: true });
    options.onStart?.(result.declaredBytes);
    for (const { entry, path, rel } of plan) {
      options.signal?.throwIfAborted();
      if (entry.directory) {
        await Deno.mkdir(path, { recursive: true });
        continue;
      }
      await Deno.mkdir(dirname(path), { recursive: true });
      const out = await Deno.open(path, { write: true, create: true, truncate: true });
      const sink = fileSink(out, (n) => {
        result.bytes += n;
        options.onBytes?.(n);
      });
      try {
        await entry.getData(sink.writable, { checkCrc32: true, signal: options.signal });
      } catch (error) {
        if (options.signal?.aborted) throw error;
        // A full disk is not a corrupt archive: say which file could not be written.
        if (sink.failure !== undefined) {
          throw new Error(`${path}: ${message(sink.failure)}`, { cause: sink.failure });
        }
        throw new ArchiveError(
          `${zipPath}: entry "${entry.filename}" is corrupt (${message(error)})`,
          "corrupt",
          zipPath,
          entry.filename,
          { cause: error },
        );
      } finally {
        out.close();
      }
      result.files.push(rel);
    }
  } finally {
    await reader.close().catch(() => undefined);
    file.close();
  }
  return result;
}

/** A sink writing to an open file; closing it leaves the file open so the caller closes it in every case. */
function fileSink(
  file: Deno.FsFile,
  onBytes: (n: number) => void,
): { writable: WritableStream<Uint8Array>; failure?: unknown } {
  const sink: { writable: WritableStream<Uint8Array>; failure?: unknown } = {
    writable: new WritableStream<Uint8Array>({
      async write(chunk) {
        try {
          let written = 0;
          while (written < chunk.length) written += await file.write(chunk.subarray(written));
        } catch (error) {
          sink.failure = error;
          throw error;
        }
        onBytes(chunk.length);
      },
    }),
  };
  return sink;
}
