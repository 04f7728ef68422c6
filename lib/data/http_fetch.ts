/**
 * Resumable HTTP download of one archive: streams to `<archive>.part`, resumes with a `Range` request guarded by
 * `If-Range`, retries with exponential backoff, aborts an attempt that stalls, and computes the sha256 on the way.
 * The retry loop is a sequence of named steps, each answering whether the download is done or goes again.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { basename, dirname } from "node:path";
import { exists, writeJsonAtomic } from "../util/mod.ts";
import { fileSize, readJson } from "./archive_files.ts";
import { DownloadError } from "./bird_archives.ts";
import { Meter, type OnProgress } from "./download_progress.ts";
import { message } from "./archive_error.ts";

/** How {@link fetchArchive} retries and reports. */
export interface FetchOptions {
  /** Progress reports, about ten per second at most per phase, plus each phase's last one. */
  onProgress?: OnProgress;
  /** Informational lines (what is being done); nothing is printed by default. */
  log?: (line: string) => void;
  /** Attempts in a row that may fail without receiving a byte before giving up; default 6. */
  retries?: number;
  /** First backoff delay in ms, doubled after each failed attempt (capped at 30 s); default 1000. */
  retryDelayMs?: number;
  /** An attempt that receives nothing for this long is aborted and retried; default 60 000 ms. */
  stallTimeoutMs?: number;
  /** Cancels the download or extraction (the temporary folder is removed). */
  signal?: AbortSignal;
}

/** What {@link fetchArchive} did. */
export interface FetchResult {
  sha256: string;
  /** Size of the finished archive. */
  bytes: number;
  /** Bytes received in this call (a resumed download receives only the rest). */
  bytesFetched: number;
  /** HTTP requests made. */
  requests: number;
}

/**
 * Streams `url` to `<archivePath>.part`, resuming from its size with a `Range` request (guarded by `If-Range`
 * so a file changed upstream restarts from zero), retrying with exponential backoff, and renames it to
 * `archivePath` once its size matches Content-Length / Content-Range. The sha256 is computed on the way
 * (the bytes already on disk are hashed from the file, never fetched again).
 *
 * @param url Where to fetch from.
 * @param archivePath Where the complete archive goes.
 * @param options Retries, backoff, stall timeout, progress and abort signal.
 * @throws {DownloadError} naming the URL when the server refuses or the retries run out.
 */
export async function fetchArchive(
  url: string,
  archivePath: string,
  options: FetchOptions = {},
): Promise<FetchResult> {
  const download = new PartDownload(url, archivePath, options);
  await download.prepare();
  while ((await download.attempt()) === "again");
  return await download.finish();
}

/** Where the `.part` file's download came from, kept beside it so a later run can resume it. */
interface PartMeta {
  url: string;
  /** ETag or Last-Modified of the response the .part started from, sent back as If-Range. */
  validator: string | null;
  total: number | null;
}

/** Each step's answer: the `.part` file is complete, or the loop makes another attempt. */
type Step = "done" | "again";

/** Retryable HTTP statuses besides the 5xx. */
const RETRY_STATUSES = [408, 425, 429];

/** A name that does not resolve (offline, or a typo) will not resolve in a minute either: no retries. */
const DNS_ERROR = /dns error|failed to lookup address|name or service not known/i;

/** One archive's download: the `.part` file, its running hash, and the counts of the retry loop. */
class PartDownload {
  readonly #url: string;
  readonly #archivePath: string;
  readonly #partPath: string;
  readonly #metaPath: string;
  readonly #options: FetchOptions;
  readonly #retries: number;
  readonly #stallTimeout: number;
  readonly #meter: Meter;
  #meta: PartMeta | null = null;
  #hash: Hash = createHash("sha256");
  /** Bytes of the `.part` file fed into `#hash`. */
  #hashed = 0;
  #requests = 0;
  #bytesFetched = 0;
  /** Failed attempts in a row that received nothing. */
  #failures = 0;

  constructor(url: string, archivePath: string, options: FetchOptions) {
    this.#url = url;
    this.#archivePath = archivePath;
    this.#partPath = `${archivePath}.part`;
    this.#metaPath = `${this.#partPath}.json`;
    this.#options = options;
    this.#retries = options.retries ?? 6;
    this.#stallTimeout = options.stallTimeoutMs ?? 60_000;
    this.#meter = new Meter("download", basename(archivePath), options.onProgress);
  }

  /** Reads the `.part` file's meta; a `.part` from another URL is another file, and resuming would splice two. */
  async prepare(): Promise<void> {
    this.#meta = await readJson<PartMeta>(this.#metaPath);
    if (this.#meta?.url !== this.#url && (await exists(this.#partPath))) {
      await Deno.remove(this.#partPath);
      this.#meta = null;
    }
    await Deno.mkdir(dirname(this.#archivePath), { recursive: true });
  }

  /** One attempt: done when the `.part` file is already whole, else one request and its body. */
  async attempt(): Promise<Step> {
    this.#options.signal?.throwIfAborted();
    const size = await this.#syncHash();
    const known = this.#meta?.total;
    if (known != null && size === known) return "done";
    if (known != null && size > known) return await this.#restart();
    const attempt = new Attempt(this.#stallTimeout, this.#options.signal);
    const response = await this.#send(attempt, size);
    if (response === "again") return "again";
    const total = await this.#accept(attempt, response, size);
    if (total === "again" || total === "done") return total;
    return await this.#receive(attempt, response, total);
  }

  /** Checks the size announced against the file, renames it into place and returns what was fetched. */
  async finish(): Promise<FetchResult> {
    const bytes = (await fileSize(this.#partPath)) ?? 0;
    if (this.#meta?.total != null && bytes !== this.#meta.total) {
      throw new DownloadError(
        `${this.#partPath}: size ${bytes} differs from the ${this.#meta.total} bytes announced by ${this.#url}`,
      );
    }
    this.#meter.finish(bytes, bytes, this.#bytesFetched);
    await Deno.rename(this.#partPath, this.#archivePath);
    await Deno.remove(this.#metaPath).catch(() => undefined);
    return {
      sha256: this.#hash.digest("hex"),
      bytes,
      bytesFetched: this.#bytesFetched,
      requests: this.#requests,
    };
  }

  /** The `.part` file's size, with the hash brought up to it (hashed from the file, never fetched again). */
  async #syncHash(): Promise<number> {
    const size = (await fileSize(this.#partPath)) ?? 0;
    if (this.#hashed !== size) {
      this.#hash = createHash("sha256");
      this.#hashed = await hashFileInto(this.#partPath, this.#hash);
    }
    return size;
  }

  /** Empties the `.part` file and its hash: the next attempt starts from zero. */
  async #restart(): Promise<"again"> {
    await Deno.writeFile(this.#partPath, new Uint8Array());
    this.#hash = createHash("sha256");
    this.#hashed = 0;
    return "again";
  }

  /** Counts a failed attempt and waits out the backoff, or gives up once the retries are spent. */
  async #fail(reason: string): Promise<"again"> {
    this.#failures++;
    if (this.#failures > this.#retries) {
      throw new DownloadError(
        `${this.#url}: ${reason} (gave up after ${this.#failures} attempts; run again to resume)`,
      );
    }
    const base = this.#options.retryDelayMs ?? 1000;
    const delay = Math.min(30_000, base * 2 ** (this.#failures - 1)) * (0.5 + Math.random() / 2);
    this.#options.log?.(
      `${this.#url}: ${reason}; retrying in ${
        (delay / 1000).toFixed(1)
      } s (${this.#failures} of ${this.#retries})`,
    );
    await sleep(delay, this.#options.signal);
    return "again";
  }

  /** Sends the request for the bytes from `size` on; a network error is a failed attempt (or fatal for DNS). */
  async #send(attempt: Attempt, size: number): Promise<Response | "again"> {
    // Byte offsets only mean something on the raw file: no transparent decompression.
    const headers = new Headers({ "Accept-Encoding": "identity" });
    if (size > 0) {
      headers.set("Range", `bytes=${size}-`);
      if (this.#meta?.validator) headers.set("If-Range", this.#meta.validator);
    }
    try {
      this.#requests++;
      return await fetch(this.#url, { headers, signal: attempt.signal });
    } catch (error) {
      attempt.clear();
      this.#options.signal?.throwIfAborted();
      const reason = `${message(error)}${
        error instanceof Error && error.cause ? ` (${message(error.cause)})` : ""
      }`;
      if (!attempt.stalled && DNS_ERROR.test(reason)) {
        throw new DownloadError(
          `${this.#url}: cannot resolve ${new URL(this.#url).hostname} (offline?): ${reason}`,
        );
      }
      return await this.#fail(attempt.stalled ? `no response in ${this.#stallTimeout / 1000} s` : reason);
    }
  }

  /**
   * Reads the response's status and headers: the total size the body leads to, or the step to take instead
   * (the file is already whole, or another attempt). Records the meta a later run resumes from.
   */
  async #accept(attempt: Attempt, response: Response, size: number): Promise<number | null | Step> {
    if (response.status === 416 && size > 0) {
      await discard(attempt, response);
      return await this.#rangeNotSatisfiable(response, size);
    }
    if (!response.ok) {
      await discard(attempt, response);
      const reason = `HTTP ${response.status} ${response.statusText}`.trim();
      if (response.status >= 500 || RETRY_STATUSES.includes(response.status)) return await this.#fail(reason);
      throw new DownloadError(`${this.#url}: ${reason}`);
    }
    let total: number | null;
    if (response.status === 206) {
      const range = parseContentRange(response.headers.get("content-range"));
      if (!range || range.start !== size) {
        await discard(attempt, response);
        await this.#restart();
        return await this.#fail(
          `server answered range ${response.headers.get("content-range")} to bytes=${size}-`,
        );
      }
      total = range.total;
    } else {
      // 200: the server ignored the range, or If-Range said the file changed: start over.
      if (size > 0) await this.#restart();
      const length = response.headers.get("content-length");
      total = length !== null && /^\d+$/.test(length) ? Number(length) : null;
    }
    const validator = response.headers.get("etag") ?? response.headers.get("last-modified");
    this.#meta = { url: this.#url, validator, total };
    await writeJsonAtomic(this.#metaPath, this.#meta);
    return total;
  }

  /** 416 to a resume: the `.part` file is whole when the server's size is its size, else it starts over. */
  async #rangeNotSatisfiable(response: Response, size: number): Promise<Step> {
    const total = parseContentRange(response.headers.get("content-range"))?.total ?? null;
    if (total !== size) return await this.#restart();
    this.#meta = { url: this.#url, validator: this.#meta?.validator ?? null, total };
    return "done";
  }

  /** Streams the body onto the end of the `.part` file; a cut or short body is a failed attempt. */
  async #receive(attempt: Attempt, response: Response, total: number | null): Promise<Step> {
    const start = this.#hashed;
    const streamError = await this.#append(attempt, response, total);
    const position = this.#hashed;
    if (position > start) this.#failures = 0; // progress was made: only consecutive empty attempts count
    if (streamError !== null) {
      this.#options.signal?.throwIfAborted();
      return await this.#fail(
        attempt.stalled
          ? `no data for ${this.#stallTimeout / 1000} s`
          : `connection lost (${message(streamError.error)})`,
      );
    }
    if (total !== null && position !== total) {
      if (position > total) await this.#restart();
      return await this.#fail(`received ${position} of ${total} bytes`);
    }
    if (total === null) this.#meta = { ...this.#meta!, total: position };
    return "done";
  }

  /** Writes and hashes each chunk as it arrives; the error that cut the stream, or null when it ended. */
  async #append(
    attempt: Attempt,
    response: Response,
    total: number | null,
  ): Promise<{ error: unknown } | null> {
    const file = await Deno.open(this.#partPath, { write: true, create: true });
    try {
      await file.seek(this.#hashed, Deno.SeekMode.Start);
      for await (const chunk of response.body ?? new ReadableStream<Uint8Array>()) {
        attempt.reset();
        let written = 0;
        while (written < chunk.length) written += await file.write(chunk.subarray(written));
        this.#hash.update(chunk);
        this.#hashed += chunk.length;
        this.#bytesFetched += chunk.length;
        this.#meter.update(this.#hashed, total, this.#bytesFetched);
      }
      return null;
    } catch (error) {
      return { error };
    } finally {
      attempt.clear();
      file.close();
    }
  }
}

/** One request's abort signal and stall timer: nothing received for the timeout aborts the attempt. */
class Attempt {
  readonly signal: AbortSignal;
  /** True once the stall timer fired. */
  stalled = false;
  readonly #controller = new AbortController();
  readonly #timeoutMs: number;
  #timer: ReturnType<typeof setTimeout>;

  constructor(timeoutMs: number, outer?: AbortSignal) {
    this.#timeoutMs = timeoutMs;
    this.signal = outer ? AbortSignal.any([this.#controller.signal, outer]) : this.#controller.signal;
    this.#timer = this.#arm();
  }

  /** Data arrived: the stall timeout counts from now. */
  reset(): void {
    clearTimeout(this.#timer);
    this.#timer = this.#arm();
  }

  /** The attempt is over: no stall can fire any more. */
  clear(): void {
    clearTimeout(this.#timer);
  }

  #arm(): ReturnType<typeof setTimeout> {
    return setTimeout(() => (this.stalled = true, this.#controller.abort()), this.#timeoutMs);
  }
}

/** A response whose body is not wanted: drop it, and its stall timer with it. */
async function discard(attempt: Attempt, response: Response): Promise<void> {
  await response.body?.cancel();
  attempt.clear();
}

/** Feeds a file into `hash` (a resumed download's prefix, which the bytes still to come continue); its size. */
async function hashFileInto(path: string, hash: Hash): Promise<number> {
  using file = await Deno.open(path, { read: true });
  let total = 0;
  for await (const chunk of file.readable) {
    hash.update(chunk);
    total += chunk.length;
  }
  return total;
}

/** `bytes 100-199/1000` gives start 100, total 1000; the unsatisfied form `bytes *\/1000` gives start NaN. */
function parseContentRange(header: string | null): { start: number; total: number | null } | null {
  const match = header?.match(/^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i);
  if (!match) return null;
  return {
    start: match[1] === undefined ? NaN : Number(match[1]),
    total: match[2] === "*" ? null : Number(match[2]),
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
