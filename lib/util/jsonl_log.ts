/**
 * Append-only JSON-lines logs that a killed process can resume (a run's `results.jsonl`, an audit's
 * `audit.jsonl`): every record is one whole line; lines appended in the same turn go out together in one
 * synchronous `write` (group commit); a torn last line left by a kill is skipped on reading and cut before the
 * next append; a bad line anywhere else is corruption, named by file and line.
 *
 * @module
 */

/** A log's records by `index` (a later line replaces an earlier one), the byte length of its whole lines, and whether a tail was torn. */
export interface ParsedJsonLines<T> {
  /** By the record's `index`; a later record for the same index replaces an earlier one. */
  records: Map<number, T>;
  /** Bytes of whole lines: an appender cuts the file here before writing. */
  intactBytes: number;
  /** True when the last line was half written (a process killed mid-write) and was skipped. */
  torn: boolean;
}

/** How {@linkcode parseJsonLines} names the file and tells a record from another JSON value. */
export interface JsonLinesOptions {
  /** The file, for messages. */
  file: string;
  /**
   * Why a parsed line is not a record (`not an audit record (no index or flags)`), or null when it is one;
   * default: a record is an object with a numeric `index`.
   */
  invalid?: (value: unknown) => string | null;
}

/** The default record check: an object with a numeric `index`. */
function noIndex(value: unknown): string | null {
  return typeof (value as { index?: unknown } | null)?.index === "number" ? null : "not a record (no index)";
}

/** The empty log: what an absent file holds. */
export function emptyJsonLines<T>(): ParsedJsonLines<T> {
  return { records: new Map(), intactBytes: 0, torn: false };
}

/**
 * Parse a JSON-lines log (see the module doc): a last line without a newline is torn, a line that is not JSON
 * (or that `invalid` rejects) is an error naming the file and the line.
 */
export function parseJsonLines<T extends { index: number }>(
  text: string,
  options: JsonLinesOptions,
): ParsedJsonLines<T> {
  const { file, invalid = noIndex } = options;
  const records = new Map<number, T>();
  const encoder = new TextEncoder();
  const lines = text.split("\n");
  let intactBytes = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (i === lines.length - 1) return { records, intactBytes, torn: line.trim() !== "" };
    if (line.trim()) {
      let rec: T;
      try {
        rec = JSON.parse(line) as T;
      } catch (e) {
        throw new Error(`${file}: line ${i + 1} is corrupt (${(e as Error).message})`);
      }
      const why = invalid(rec);
      if (why) throw new Error(`${file}: line ${i + 1} is ${why}`);
      records.set(rec.index, rec);
    }
    intactBytes += encoder.encode(line).length + 1;
  }
  return { records, intactBytes, torn: false };
}

/** The appender of a JSON-lines log: one record, one line, group-committed. */
export class JsonLinesAppender<T> {
  /** Lines waiting for the write in progress to finish, and the promise of the batch they go out in. */
  private queued: { lines: string[]; done: Promise<void> } | null = null;
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly file: Deno.FsFile, private readonly path: string) {}

  /**
   * Open `path` for appending (created when absent), first cutting it to `intactBytes` (a torn last line left
   * by a killed process).
   *
   * @throws {Error} naming the file when it cannot be opened
   */
  static async open<T>(path: string, intactBytes: number): Promise<JsonLinesAppender<T>> {
    let file: Deno.FsFile | null = null;
    try {
      file = await Deno.open(path, { create: true, write: true, read: true });
      await file.truncate(intactBytes);
      await file.seek(0, Deno.SeekMode.End);
    } catch (e) {
      file?.close();
      throw new Error(`${path}: cannot open for appending (${(e as Error).message})`);
    }
    return new JsonLinesAppender<T>(file, path);
  }

  /**
   * Append one record as one line. Records appended in the same turn (before the write, which follows in a
   * microtask) go out together in one write (a group commit): no record waits for a timer, and a SIGKILL loses
   * only records whose append has not resolved yet, which a resumed process does again.
   *
   * @throws {Error} naming the file when the write fails (a full disk): the lines before it stay whole, and a
   * half-written one is cut by the next open.
   */
  append(record: T): Promise<void> {
    const line = JSON.stringify(record) + "\n";
    if (this.queued) {
      this.queued.lines.push(line);
      return this.queued.done;
    }
    const batch: { lines: string[]; done: Promise<void> } = { lines: [line], done: Promise.resolve() };
    batch.done = this.writing.then(() => {
      if (this.queued === batch) this.queued = null;
      return this.writeAll(batch.lines.join(""));
    });
    this.queued = batch;
    this.writing = batch.done.catch(() => {});
    return batch.done;
  }

  /**
   * One synchronous write of a batch: an append to a local file costs a system call, where an asynchronous write
   * costs a hop to a thread and back per batch (most batches hold one record when records trickle in).
   */
  private writeAll(text: string): void {
    const data = new TextEncoder().encode(text);
    let off = 0;
    try {
      while (off < data.length) off += this.file.writeSync(data.subarray(off));
    } catch (e) {
      throw new Error(
        `${this.path}: cannot write (${(e as Error).message}); the questions written so far are kept`,
      );
    }
  }

  /** Wait for the writes in progress, flush to disk and close. */
  async close(): Promise<void> {
    await this.writing;
    await this.file.syncData().catch(() => {});
    this.file.close();
  }
}
