/**
 * `progress.jsonl` of a CoT build: one record per finished question, keyed by the teacher request's identity,
 * appended as questions finish (a kill loses at most the line in flight), read back so a rerun skips finished
 * questions, and compacted once the run is done.
 *
 * @module
 */

import { promptHash } from "../prompt/mod.ts";
import { canonicalJson, sha256Hex, writeTextAtomic } from "../util/mod.ts";
import type { ChatMessage } from "../types.ts";
import type { RejectReason } from "./cot_answer.ts";

/** One line of `progress.jsonl`: a finished (or failed) question. */
export interface ProgressRecord {
  /** Identity of the request: teacher messages + model + sampling (see `requestKey`). */
  key: string;
  index: number;
  question_id: number | null;
  db_id: string;
  question: string;
  status: "kept" | "rejected";
  reason: RejectReason | null;
  error: string | null;
  /** The teacher's raw answer (null on a generation error). */
  completion: string | null;
  /** The extracted SQL, or null. */
  sql: string | null;
  /** The assistant turn when kept. */
  answer: string | null;
}

/**
 * The resume key of one question: the teacher messages and everything that changes the teacher's answer.
 *
 * @param teacher the teacher messages
 * @param model model, provider, base URL and sampling
 * @returns sha256 hex
 */
export function requestKey(teacher: readonly ChatMessage[], model: Record<string, unknown>): string {
  return sha256Hex(canonicalJson({ prompt: promptHash(teacher), model }));
}

/**
 * Read `progress.jsonl`: the last record per key. A torn last line (a killed run) and foreign lines are skipped.
 *
 * @param path the file
 * @returns key → record
 */
export async function readProgress(path: string): Promise<Map<string, ProgressRecord>> {
  const out = new Map<string, ProgressRecord>();
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return out;
    throw e;
  }
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as ProgressRecord;
      if (typeof r.key === "string" && typeof r.index === "number") out.set(r.key, r);
    } catch {
      // A torn line from a killed run: that question is simply redone.
    }
  }
  return out;
}

/** An append-only writer of progress lines: one write at a time, so concurrent finishes never interleave. */
export interface ProgressLog {
  append(record: ProgressRecord): Promise<void>;
  /** Waits for the writes in flight (their errors ignored: the compacted file is written afterwards). */
  close(): Promise<void>;
}

/**
 * Opens `progress.jsonl` for appending.
 *
 * @param path the file (created when missing)
 * @returns the writer
 */
export async function openProgressLog(path: string): Promise<ProgressLog> {
  const log = await Deno.open(path, { append: true, create: true });
  const encoder = new TextEncoder();
  let writes: Promise<void> = Promise.resolve();
  return {
    append(record) {
      writes = writes.then(async () => {
        const bytes = encoder.encode(JSON.stringify(record) + "\n");
        for (let off = 0; off < bytes.length;) off += await log.write(bytes.subarray(off));
      });
      return writes;
    },
    async close() {
      await writes.catch(() => {});
      log.close();
    },
  };
}

/**
 * Rewrites the log with one record per question (this run's replacing earlier ones), in index order, so a
 * finished run's folder is deterministic.
 *
 * @param path the file
 * @param previous the records read at the start
 * @param records this run's records
 */
export async function compactProgress(
  path: string,
  previous: ReadonlyMap<string, ProgressRecord>,
  records: Iterable<ProgressRecord>,
): Promise<void> {
  const all = new Map(previous);
  for (const r of records) all.set(r.key, r);
  const compact = [...all.values()].sort((a, b) => a.index - b.index || (a.key < b.key ? -1 : 1));
  await writeTextAtomic(path, compact.map((r) => JSON.stringify(r) + "\n").join(""));
}
