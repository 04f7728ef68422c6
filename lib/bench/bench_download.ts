/**
 * Memory benchmark of the BIRD download path (`deno task bench`): builds an archive of a few hundred MB in the
 * official dev layout (outer zip holding a nested `dev_databases.zip` of incompressible, stored data), serves
 * it from the local archive server, downloads, extracts and verifies it with {@link downloadDataset}, and
 * prints the peak resident memory, which must stay flat (under 300 MB) whatever the archive size.
 *
 * @module
 */

import { join } from "node:path";
import { ZipWriter } from "@zip.js/zip.js";
import { downloadDataset } from "../data/mod.ts";
import { startArchiveServer } from "../../tests/support/archive_server.ts";
import { SAMPLE, superhero, tables } from "../../tests/support/sample_archives.ts";

const MB = 1_000_000;

/** Options of {@link benchDownload}. */
export interface BenchDownloadOptions {
  /** Incompressible bytes in the nested zip, in MB; default 320. */
  megabytes?: number;
  /** Peak RSS allowed, in MB; default 300. */
  limitMb?: number;
  /** Where the lines go; default `console.log`. */
  log?: (line: string) => void;
}

/** The peak of `Deno.memoryUsage().rss` over its samples, from its creation on. */
class PeakRss {
  peak = Deno.memoryUsage().rss;
  /** Take one sample (also a progress callback). */
  sample = (): void => {
    this.peak = Math.max(this.peak, Deno.memoryUsage().rss);
  };
  /** Run `work` with a sample every 20 ms. */
  async during<T>(work: () => Promise<T>): Promise<T> {
    const timer = setInterval(this.sample, 20);
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  }
}

/** Write the bench archive to `archive` and print its size, build time and peak RSS; returns its bytes. */
async function buildArchive(archive: string, options: { megabytes: number; log: (line: string) => void }) {
  const rss = new PeakRss();
  const began = performance.now();
  await rss.during(() => writeBenchArchive(archive, { megabytes: options.megabytes }));
  const size = (await Deno.stat(archive)).size;
  options.log(
    `download bench: built ${(size / MB).toFixed(0)} MB archive (nested dev_databases.zip, stored, ` +
      `incompressible) in ${((performance.now() - began) / 1000).toFixed(1)} s, peak RSS ${mb(rss.peak)}`,
  );
  return size;
}

/** Serve `archive`, download it into `dest` and print the time; returns the peak RSS and the RSS before. */
async function downloadArchive(
  archive: string,
  options: { dest: string; size: number; log: (line: string) => void },
): Promise<{ peak: number; before: number }> {
  const { size } = options;
  const server = startArchiveServer({ "/dev.zip": { path: archive } });
  const rss = new PeakRss();
  const before = rss.peak;
  const start = performance.now();
  try {
    const result = await rss.during(() =>
      downloadDataset("dev", { dest: options.dest, url: server.url("/dev.zip"), onProgress: rss.sample })
    );
    const seconds = (performance.now() - start) / 1000;
    options.log(
      `download bench: downloaded, extracted (outer + nested) and verified ${(size / MB).toFixed(0)} MB in ` +
        `${seconds.toFixed(1)} s (${(size / MB / seconds).toFixed(0)} MB/s end to end); ` +
        `${result.verification.questions} questions, ${result.verification.databases} database`,
    );
  } finally {
    await server.close();
  }
  rss.sample();
  return { peak: rss.peak, before };
}

/**
 * Generates, serves, downloads and extracts a large archive and prints the peak RSS
 * (`Deno.memoryUsage().rss`, sampled every 20 ms and at each progress report).
 *
 * @param options Archive size, memory limit, output.
 * @throws {Error} when the peak RSS exceeds the limit, so `deno task bench` fails on a regression.
 */
export async function benchDownload(options: BenchDownloadOptions = {}): Promise<void> {
  const megabytes = options.megabytes ?? 320;
  const limitMb = options.limitMb ?? 300;
  const log = options.log ?? console.log;
  const root = await Deno.makeTempDir({ prefix: "text2sql-bench-download-" });
  try {
    const archive = join(root, "dev.zip");
    const size = await buildArchive(archive, { megabytes, log });
    const { peak, before } = await downloadArchive(archive, { dest: join(root, "data"), size, log });
    const verdict = peak <= limitMb * MB ? "under" : "OVER";
    log(
      `download bench: peak RSS ${mb(peak)} (${
        mb(before)
      } before the download): ${verdict} the ${limitMb} MB limit`,
    );
    if (peak > limitMb * MB) {
      throw new Error(
        `download bench: peak RSS ${mb(peak)} exceeds ${limitMb} MB: extraction is not streaming`,
      );
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function mb(bytes: number): string {
  return `${(bytes / MB).toFixed(0)} MB`;
}

/**
 * Writes a large archive in the official dev layout: `dev_20240627/{dev.json, dev_tables.json}` (the bundled
 * superhero questions) and a nested, stored `dev_databases.zip` holding the superhero database plus
 * `megabytes` MB of random bytes in `bench_filler/`. Both zips are streamed to disk, never held in memory.
 *
 * @param archivePath Where the archive goes; the nested zip is staged beside it and removed.
 * @param options `megabytes` of filler (default 320).
 */
async function writeBenchArchive(
  archivePath: string,
  options: { megabytes?: number } = {},
): Promise<void> {
  const megabytes = options.megabytes ?? 320;
  const nestedPath = `${archivePath}.dev_databases.zip`;
  const nested = new ZipWriter((await Deno.create(nestedPath)).writable, { level: 0, useWebWorkers: false });
  const db = join(SAMPLE, "dev_databases", "superhero");
  await nested.add(
    "dev_databases/superhero/superhero.sqlite",
    (await Deno.open(join(db, "superhero.sqlite"))).readable,
  );
  for await (const entry of Deno.readDir(join(db, "database_description"))) {
    const file = await Deno.open(join(db, "database_description", entry.name));
    await nested.add(`dev_databases/superhero/database_description/${entry.name}`, file.readable);
  }
  // Several large files, like BIRD's biggest databases, of random bytes so no compressor could shrink them.
  const parts = Math.max(1, Math.round(megabytes / 40));
  for (let i = 0; i < parts; i++) {
    await nested.add(
      `dev_databases/bench_filler/part_${i}.bin`,
      randomStream(Math.round((megabytes * MB) / parts)),
    );
  }
  await nested.close();

  const outer = new ZipWriter((await Deno.create(archivePath)).writable, { level: 0, useWebWorkers: false });
  await outer.add("dev_20240627/dev.json", textStream(JSON.stringify(superhero)));
  await outer.add("dev_20240627/dev_tables.json", textStream(JSON.stringify(tables)));
  await outer.add("dev_20240627/dev_databases.zip", (await Deno.open(nestedPath)).readable);
  await outer.add("__MACOSX/dev_20240627/._dev_databases.zip", textStream("resource fork"));
  await outer.close();
  await Deno.remove(nestedPath);
}

function randomStream(bytes: number): ReadableStream<Uint8Array> {
  let left = bytes;
  return new ReadableStream({
    pull(controller) {
      if (left === 0) return controller.close();
      // getRandomValues fills at most 65 536 bytes per call.
      const chunk = crypto.getRandomValues(new Uint8Array(Math.min(65_536, left)));
      left -= chunk.length;
      controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
}

function textStream(text: string): ReadableStream<Uint8Array> {
  return new Blob([text]).stream();
}

if (import.meta.main) await benchDownload();
