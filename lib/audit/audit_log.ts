/**
 * `audit.jsonl` while an audit runs: an append-only JSON-lines log with the guarantees of a run's
 * `results.jsonl` (`lib/util/jsonl_log.ts`: one whole line per question, group commit, a torn last line
 * skipped and cut, a bad line elsewhere named by file and line). The folder's lock (`lockRun`) keeps a second
 * writer out.
 *
 * @module
 */
import { join } from "node:path";
import {
  emptyJsonLines,
  JsonLinesAppender,
  type ParsedJsonLines,
  parseJsonLines,
  READ_LIMITS,
  readTextSafe,
  UnsafeFileError,
} from "../util/mod.ts";
import { AUDIT_FILES, type AuditRecord } from "./audit_types.ts";

/** The records of an `audit.jsonl`, the byte length of its whole lines, and whether a tail was torn. */
export type ParsedAudit = ParsedJsonLines<AuditRecord>;

/** Why a parsed line is not an audit record, or null. */
function notAuditRecord(value: unknown): string | null {
  const rec = value as Partial<AuditRecord> | null;
  return typeof rec?.index !== "number" || !Array.isArray(rec.flags)
    ? "not an audit record (no index or flags)"
    : null;
}

/** Parse `audit.jsonl` text (see the module doc); `file` names it in errors. */
export function parseAuditLog(text: string, file: string): ParsedAudit {
  return parseJsonLines<AuditRecord>(text, { file, invalid: notAuditRecord });
}

/** Read an audit folder's `audit.jsonl` (absent: no records). */
export async function readAuditLog(dir: string): Promise<ParsedAudit> {
  const file = join(dir, AUDIT_FILES.log);
  let text: string;
  try {
    text = await readTextSafe(file, { maxBytes: READ_LIMITS.runLog, what: "audit log" });
  } catch (e) {
    if (e instanceof UnsafeFileError && e.kind === "missing") return emptyJsonLines();
    throw e;
  }
  return parseAuditLog(text, file);
}

/** Open an audit folder's `audit.jsonl` for appending, first cutting a torn last line at `intactBytes`. */
export function openAuditLog(dir: string, intactBytes: number): Promise<JsonLinesAppender<AuditRecord>> {
  return JsonLinesAppender.open<AuditRecord>(join(dir, AUDIT_FILES.log), intactBytes);
}
