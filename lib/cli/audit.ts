/**
 * `deno task audit`: flags and usage; the audit itself is `runAudit` (`lib/audit/audit.ts`).
 *
 * @module
 */
import { runAudit } from "../audit/mod.ts";
import { numberFlag, parseCommand, UsageError } from "../util/mod.ts";

const USAGE =
  `usage: deno task audit --dataset DIR|FILE [--db-root DIR] [--db NAME]... [--out DIR] [--workers N]
         [--timeout S] [--slow-ms N] [--quiet]
Executes every gold query through the sandboxed SQLite pool and flags each question (error, timeout, slow, empty,
all_null, tie, unordered_limit, literal_not_in_data, evidence_mismatch, shape, duplicate, version_sensitive).
Writes DIR/audit.jsonl (one line per question), summary.json and audit.html (default DIR: audits/<dataset>).
Resumable: run it again with the same --out after a kill and only the questions without a line are audited.`;

const FLAGS = {
  dataset: { type: "string" },
  "db-root": { type: "string" },
  db: { type: "string", multiple: true },
  out: { type: "string" },
  workers: { type: "string" },
  timeout: { type: "string" },
  "slow-ms": { type: "string" },
  quiet: { type: "boolean" },
} as const;

/**
 * `deno task audit`: parse flags, audit, print the summary.
 *
 * @param argv flags after `audit`
 * @returns exit code (0 ok; errors throw one line)
 */
export async function auditCommand(argv: string[]): Promise<number> {
  const values = parseCommand(argv, { usage: USAGE, options: FLAGS })?.values;
  if (!values) return 0;
  if (!values.dataset) throw new UsageError(`--dataset is required\n${USAGE}`);
  const result = await runAudit({
    dataset: values.dataset,
    dbRoot: values["db-root"],
    db: values.db,
    out: values.out,
    workers: numberFlag("workers", values.workers, { integer: true, min: 1 }),
    timeoutS: numberFlag("timeout", values.timeout, { min: 0.001 }),
    slowMs: numberFlag("slow-ms", values["slow-ms"], { min: 0 }),
    quiet: values.quiet,
  });
  const s = result.summary;
  console.log(
    `audit: ${s.questions} questions (${result.audited} audited now), ${s.clean} clean, ${s.severe} with a severe flag, ${s.seconds} s`,
  );
  const kinds = Object.entries(s.by_kind).filter(([, n]) => n.error + n.suspect > 0)
    .map(([k, n]) => `${k} ${n.error + n.suspect}${n.suspect && n.error ? ` (${n.error} severe)` : ""}`);
  if (kinds.length) console.log(`flags: ${kinds.join(", ")}`);
  console.log(`wrote ${result.dir}/audit.jsonl, summary.json, audit.html`);
  return 0;
}
