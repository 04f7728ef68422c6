/**
 * `audit.jsonl` while an audit runs: append-only, one whole line per question, with the guarantees of a run's
 * `results.jsonl` (`lib/run/run_log.ts`): a line is one write, lines finishing during a write go out together
 * in the next (group commit), a torn last line left by a kill is skipped on reading and cut before the next
 * append, and a bad line anywhere else is corruption named by file and line. The folder's lock
 * (`lockRun`) keeps a second writer out.
 *
 * @module
 */
import { join } from "node:path";
import { AUDIT_FILES, type AuditRecord } from "./audit_types.ts";

/** The records of an `audit.jsonl`, the byte length of its whole lines, and whether a tail was torn. */
export interface ParsedAudit {
  records: Map<number, AuditRecord>;
  intactBytes: number;
  torn: boolean;
}

/** Parse `audit.jsonl` text (see the module doc); `file` names it in errors. */
export function parseAuditLog(text: string, file: string): ParsedAudit {
  const records = new Map<number, AuditRecord>();
  const encoder = new TextEncoder();
  const lines = text.split("\n");
  let intactBytes = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (i === lines.length - 1) return { records, intactBytes, torn: line.trim() !== "" };
    if (line.trim()) {
      let rec: AuditRecord;
      try {
        rec = JSON.parse(line) as AuditRecord;
      } catch (e) {
        throw new Error(`${file}: line ${i + 1} is corrupt (${(e as Error).message})`);
      }
      if (typeof rec.index !== "number" || !Array.isArray(rec.flags)) {
        throw new Error(`${file}: line ${i + 1} is not an audit record (no index or flags)`);
      }
      records.set(rec.index, rec);
    }
    intactBytes += encoder.encode(line).length + 1;
  }
  return { records, intactBytes, torn: false };
}

/** Read an audit folder's `audit.jsonl` (absent: no records). */
export async function readAuditLog(dir: string): Promise<ParsedAudit> {
  const file = join(dir, AUDIT_FILES.log);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { records: new Map(), intactBytes: 0, torn: false };
    throw new Error(`${file}: unreadable (${(e as Error).message})`);
  }
  return parseAuditLog(text, file);
}

/** The appender of `audit.jsonl`. */
export class AuditLogWriter {
  private queued: { lines: string[]; done: Promise<void> } | null = null;
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly file: Deno.FsFile, private readonly path: string) {}

  /** Open for appending, first cutting a torn last line. */
  static async open(dir: string, intactBytes: number): Promise<AuditLogWriter> {
    const path = join(dir, AUDIT_FILES.log);
    let file: Deno.FsFile | null = null;
    try {
      file = await Deno.open(path, { create: true, write: true, read: true });
      await file.truncate(intactBytes);
      await file.seek(0, Deno.SeekMode.End);
    } catch (e) {
      file?.close();
      throw new Error(`${path}: cannot open for appending (${(e as Error).message})`);
    }
    return new AuditLogWriter(file, path);
  }

  /** Append one record as one line (group-committed with any others that finish during a write). */
  append(record: AuditRecord): Promise<void> {
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

  private async writeAll(text: string): Promise<void> {
    const data = new TextEncoder().encode(text);
    let off = 0;
    try {
      while (off < data.length) off += await this.file.write(data.subarray(off));
    } catch (e) {
      throw new Error(
        `${this.path}: cannot write (${(e as Error).message}); the questions written so far are kept`,
      );
    }
  }

  /** Flush and close. */
  async close(): Promise<void> {
    await this.writing;
    await this.file.syncData().catch(() => {});
    this.file.close();
  }
}
