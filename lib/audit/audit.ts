/**
 * `deno task audit`: every gold query of a dataset executed through the sandboxed engine and checked, one
 * `audit.jsonl` line per question (`{index, question_id, db_id, flags: [{kind, severity, detail}]}`, an empty
 * list when clean), `summary.json` (flags by kind and database) and `audit.html` (each flagged question with its
 * SQL, evidence, result and why) in the output folder.
 *
 * Resumable like a run: the folder is locked (`lockRun`), `audit.json` records what is audited (a folder holding
 * another dataset's audit is refused), each question's line is appended as it finishes, and a killed audit
 * started again audits only the questions without a line. `duplicate` needs every question's result, so it is
 * decided at the end, when `audit.jsonl` is rewritten whole (sorted by index) with those flags added.
 *
 * @module
 */
import { join, relative, resolve } from "node:path";
import { DatasetError, loadDataset, missingDatabases, selectExamples } from "../data/mod.ts";
import { type CatalogTable, openEngine, type SqlEngine } from "../exec/mod.ts";
import { lockRun } from "../run/mod.ts";
import { createProgress, writeJsonAtomic, writeTextAtomic } from "../util/mod.ts";
import type { Example } from "../types.ts";
import { AUDIT_SAMPLE_ROWS, auditQuestion, setKeyByExecution } from "./audit_question.ts";
import { openAuditLog, readAuditLog } from "./audit_log.ts";
import { auditPage } from "./audit_html.ts";
import {
  AUDIT_FILES,
  AUDIT_VERSION,
  type AuditInfo,
  type AuditRecord,
  type AuditSummary,
  DEFAULT_SLOW_MS,
  type Flag,
  FLAG_KINDS,
} from "./audit_types.ts";
import { normaliseQuestion } from "./question_rules.ts";

/** Options of {@linkcode runAudit}. */
export interface AuditOptions {
  /** A dataset JSON file or a BIRD-layout folder. */
  dataset: string;
  /** Folder of `<db_id>/<db_id>.sqlite` (default: beside the dataset). */
  dbRoot?: string;
  /** Only these databases. */
  db?: string[];
  /** The first N questions after `db` (as `sft --limit` selects them). */
  limit?: number | null;
  /** Output folder (default `audits/<dataset name>`). */
  out?: string;
  workers?: number;
  /** Per-query limit, seconds (default 30, as the official evaluator). */
  timeoutS?: number;
  /** `slow` threshold, milliseconds (default {@linkcode DEFAULT_SLOW_MS}). */
  slowMs?: number;
  quiet?: boolean;
  silent?: boolean;
  /** Called with each progress line's state (notebooks). */
  onProgress?: (done: number, total: number) => void;
}

/** What {@linkcode runAudit} returns. */
export interface AuditResult {
  dir: string;
  records: AuditRecord[];
  summary: AuditSummary;
  /** Questions audited by this call (the rest came from an earlier, interrupted one). */
  audited: number;
}

/** The default output folder of an audit of `dataset`. */
export function defaultAuditDir(datasetPath: string): string {
  const name = datasetPath.replace(/\/+$/, "").split("/").pop()!.replace(/\.json$/, "");
  return join("audits", name || "dataset");
}

/** Audit every selected question; see the module doc. */
export async function runAudit(options: AuditOptions): Promise<AuditResult> {
  const t0 = performance.now();
  const dataset = await loadDataset(options.dataset, { dbRoot: options.dbRoot });
  const selection = { db: [...(options.db ?? [])].sort() };
  const examples = selectExamples(dataset, { ...selection, limit: options.limit ?? null });
  const missing = await missingDatabases(dataset, examples);
  if (missing.length) {
    throw new DatasetError(
      `${dataset.path}: database(s) missing under ${dataset.dbRoot}: ${
        missing.join(", ")
      } (leave them out with --db, or give --db-root)`,
    );
  }
  const dir = resolve(options.out ?? defaultAuditDir(options.dataset));
  await Deno.mkdir(dir, { recursive: true }).catch((e) => {
    throw new DatasetError(`--out ${dir}: cannot create the audit folder (${(e as Error).message})`);
  });
  const lock = await lockRun(dir);
  const timeoutS = options.timeoutS ?? 30;
  const slowMs = options.slowMs ?? DEFAULT_SLOW_MS;
  let engine: SqlEngine | null = null;
  try {
    engine = await openEngine({
      dialect: "sqlite",
      workers: options.workers ?? Math.min(8, Math.max(1, navigator.hardwareConcurrency ?? 2)),
      timeoutS,
      sampleRows: AUDIT_SAMPLE_ROWS,
    });
    const ids = [...new Set(examples.map((e) => e.db_id))].sort();
    engine.allow(ids.map((id) => engine!.target(dataset.dbRoot, id)));
    engine.warm();
    const einfo = await engine.info();
    const info: AuditInfo = {
      dataset: { path: displayPath(dataset.path), sha256: dataset.sha256, count: dataset.examples.length },
      db_root: displayPath(dataset.dbRoot),
      selection,
      engine: { dialect: einfo.dialect, version: einfo.version, semantics: einfo.semantics },
      timeout_s: timeoutS,
      slow_ms: slowMs,
      version: AUDIT_VERSION,
    };
    await checkAuditResume(dir, info);
    await writeJsonAtomic(join(dir, AUDIT_FILES.info), info);
    const parsed = await readAuditLog(dir);
    const wanted = new Set(examples.map((e) => e.index));
    const done = new Map([...parsed.records].filter(([i]) => wanted.has(i)));
    const pending = examples.filter((e) => !done.has(e.index));
    const catalogs = new Map<string, CatalogTable[]>();
    for (const id of ids) catalogs.set(id, await engine.catalog(engine.target(dataset.dbRoot, id)));
    const writer = await openAuditLog(dir, parsed.intactBytes);
    const progress = createProgress(pending.length, {
      label: `audit${examples.length - pending.length ? ` (resumed, ${done.size} done)` : ""}`,
      errorsLabel: "flagged as errors",
      quiet: options.quiet,
      silent: options.silent,
      onUpdate: options.onProgress ? (s) => options.onProgress!(s.done, s.total) : undefined,
    });
    try {
      const eng = engine;
      let next = 0;
      const lane = async () => {
        while (next < pending.length) {
          const e = pending[next++];
          const { flags, gold } = await auditQuestion({
            engine: eng,
            target: eng.target(dataset.dbRoot, e.db_id),
            catalog: catalogs.get(e.db_id)!,
            timeoutS,
            slowMs,
          }, e);
          const rec: AuditRecord = {
            index: e.index,
            question_id: e.question_id,
            db_id: e.db_id,
            flags,
            gold,
          };
          await writer.append(rec);
          done.set(e.index, rec);
          progress.tick({ error: flags.some((f) => f.severity === "error") });
        }
      };
      // Four questions per worker in flight: a question's follow-up queries wait on its gold result.
      await Promise.all(Array.from({ length: Math.max(1, eng.workers * 4) }, lane));
    } finally {
      progress.done();
      await writer.close();
    }
    const eng = engine;
    await fillSetKeys(
      examples,
      done,
      (e) => setKeyByExecution({ engine: eng, target: eng.target(dataset.dbRoot, e.db_id), timeoutS }, e.sql),
    );
    const records = finalRecords(examples, done);
    await writeTextAtomic(join(dir, AUDIT_FILES.log), records.map((r) => JSON.stringify(r) + "\n").join(""));
    const summary = summariseAudit(records, (performance.now() - t0) / 1000);
    await writeJsonAtomic(join(dir, AUDIT_FILES.summary), summary);
    await writeTextAtomic(join(dir, AUDIT_FILES.page), auditPage(records, examples, { info, summary }));
    return { dir, records, summary, audited: pending.length };
  } finally {
    await engine?.close();
    lock.release();
  }
}

/** Refuse a folder audited from another dataset, selection or audit version (one line naming both). */
async function checkAuditResume(dir: string, info: AuditInfo): Promise<void> {
  let old: AuditInfo;
  try {
    old = JSON.parse(await Deno.readTextFile(join(dir, AUDIT_FILES.info)));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw new Error(`${join(dir, AUDIT_FILES.info)}: unreadable (${(e as Error).message})`);
  }
  const diff: string[] = [];
  if (old.dataset?.sha256 !== info.dataset.sha256) {
    diff.push(`dataset ${old.dataset?.path} vs ${info.dataset.path}`);
  }
  if (old.version !== info.version) diff.push(`audit version ${old.version} vs ${info.version}`);
  if (old.engine?.semantics !== info.engine.semantics) diff.push("engine semantics");
  if (old.timeout_s !== info.timeout_s || old.slow_ms !== info.slow_ms) diff.push("--timeout or --slow-ms");
  if (diff.length) {
    throw new DatasetError(
      `--out ${dir} holds another audit (${diff.join("; ")}); use another --out or remove it`,
    );
  }
}

const groupKey = (e: Example) => `${e.db_id}\u0000${normaliseQuestion(e.question)}`;

/** Give the gold results of questions asked more than once a set key where the first run left none (a result
 * bigger than the sample): `duplicate` compares them. */
async function fillSetKeys(
  examples: readonly Example[],
  done: Map<number, AuditRecord>,
  keyOf: (e: Example) => Promise<string>,
): Promise<void> {
  const counts = new Map<string, number>();
  for (const e of examples) counts.set(groupKey(e), (counts.get(groupKey(e)) ?? 0) + 1);
  for (const e of examples) {
    const r = done.get(e.index)!;
    if ((counts.get(groupKey(e)) ?? 0) < 2 || !r.gold?.ok || r.gold.set) continue;
    r.gold.set = await keyOf(e);
  }
}

/** Records in dataset order with `duplicate` decided across them (an earlier run's duplicate flags replaced). */
export function finalRecords(
  examples: readonly Example[],
  done: ReadonlyMap<number, AuditRecord>,
): AuditRecord[] {
  const records = examples.map((e) => {
    const r = done.get(e.index)!;
    return { ...r, flags: r.flags.filter((f) => f.kind !== "duplicate") };
  });
  const byIndex = new Map(examples.map((e) => [e.index, e]));
  const groups = new Map<string, AuditRecord[]>();
  for (const r of records) {
    const e = byIndex.get(r.index)!;
    const key = groupKey(e);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    for (const r of group) {
      const others = group.filter((o) => o !== r && resultKey(o) !== resultKey(r));
      if (!others.length) continue;
      const ev = normaliseQuestion(byIndex.get(r.index)!.evidence);
      const sameEvidence = others.some((o) => normaliseQuestion(byIndex.get(o.index)!.evidence) === ev);
      r.flags.push({
        kind: "duplicate",
        severity: sameEvidence ? "error" : "suspect",
        detail: `the same question is asked at ${others.map((o) => `#${o.index}`).join(", ")} with gold of ` +
          `another result${sameEvidence ? "" : " (with other evidence)"}`,
      });
    }
  }
  return records;
}

const resultKey = (r: AuditRecord) => (r.gold?.ok ? r.gold.set : `failed:${r.gold?.error ?? ""}`);

/** `summary.json` of audit records. */
export function summariseAudit(records: readonly AuditRecord[], seconds: number): AuditSummary {
  const byKind: AuditSummary["by_kind"] = {};
  for (const k of FLAG_KINDS) byKind[k] = { error: 0, suspect: 0 };
  const byDb: AuditSummary["by_db"] = {};
  let clean = 0, severe = 0;
  for (const r of records) {
    const db = (byDb[r.db_id] ??= { questions: 0, flagged: 0, severe: 0 });
    db.questions++;
    if (!r.flags.length) clean++;
    else db.flagged++;
    if (r.flags.some((f: Flag) => f.severity === "error")) {
      severe++;
      db.severe++;
    }
    for (const f of r.flags) byKind[f.kind][f.severity]++;
  }
  return {
    questions: records.length,
    clean,
    severe,
    by_kind: byKind,
    by_db: byDb,
    seconds: Math.round(seconds * 10) / 10,
  };
}

function displayPath(path: string): string {
  const rel = relative(Deno.cwd(), path);
  return rel && !rel.startsWith("..") ? rel : path;
}
