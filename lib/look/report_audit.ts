/**
 * The report's gold-audit section (`deno task report --audit DIR`): beside the official EX, which stays the
 * headline and is never changed, each run's EX on the questions whose gold carries no severe audit flag, and the
 * flagged questions a model "failed" (where the error may be the gold's), with the flags that say why.
 *
 * @module
 */
import { hasSevereFlag, type LoadedAudit } from "../audit/mod.ts";
import type { ResultRecord } from "../types.ts";
import { escapeHtml } from "./html.ts";

/** A run as this section needs it. */
export interface AuditedRun {
  label: string;
  datasetSha256: string;
  records: readonly ResultRecord[];
}

/** EX over all questions and over the questions with no severe flag, as percentages (two decimals). */
export function exOnUnflagged(
  records: readonly ResultRecord[],
  audit: LoadedAudit,
): { total: number; ex: number; unflagged: number; exUnflagged: number; failedFlagged: ResultRecord[] } {
  const pct = (a: number, b: number) => (b ? Math.round((a / b) * 10000) / 100 : 0);
  const ok = (r: ResultRecord) => r.status === "correct";
  const clean = records.filter((r) => !hasSevereFlag(audit.records.get(r.index)));
  const failedFlagged = records.filter((r) => !ok(r) && (audit.records.get(r.index)?.flags.length ?? 0) > 0);
  return {
    total: records.length,
    ex: pct(records.filter(ok).length, records.length),
    unflagged: clean.length,
    exUnflagged: pct(clean.filter(ok).length, clean.length),
    failedFlagged,
  };
}

/** The section's HTML: the table of EX beside EX on unflagged questions, then each run's flagged failures. */
export function auditSection(
  runs: readonly AuditedRun[],
  audit: LoadedAudit,
  options: { max?: number } = {},
): string {
  const max = options.max ?? 200;
  const rows: string[] = [];
  const lists: string[] = [];
  for (const run of runs) {
    if (run.datasetSha256 !== audit.info.dataset.sha256) {
      rows.push(
        `<tr><td>${escapeHtml(run.label)}</td><td colspan="4">the audit is of another dataset</td></tr>`,
      );
      continue;
    }
    const s = exOnUnflagged(run.records, audit);
    rows.push(
      `<tr><td>${escapeHtml(run.label)}</td><td class="num">${s.total}</td><td class="num">${s.ex}</td>` +
        `<td class="num">${s.unflagged}</td><td class="num">${s.exUnflagged}</td></tr>`,
    );
    const items = s.failedFlagged.slice(0, max).map((r) => {
      const flags = audit.records.get(r.index)!.flags.map((f) =>
        `<span class="kind">${f.kind}</span> (${f.severity}) ${escapeHtml(f.detail)}`
      ).join("<br>");
      return `<tr><td>#${r.index}</td><td>${escapeHtml(r.status)}</td><td>${
        escapeHtml(r.question)
      }</td><td>${flags}</td></tr>`;
    });
    lists.push(
      `<h3>${escapeHtml(run.label)}: ${s.failedFlagged.length} flagged question(s) failed</h3>` +
        (items.length
          ? `<table><tr><th>question</th><th>verdict</th><th>text</th><th>audit flags</th></tr>${
            items.join("")
          }</table>`
          : "") +
        (s.failedFlagged.length > max ? `<p class="muted">${s.failedFlagged.length - max} more</p>` : ""),
    );
  }
  return `<p class="muted">Audit ${
    escapeHtml(audit.dir)
  }. The official EX stays the headline; EX on unflagged ` +
    `questions leaves out questions whose gold has a severe flag (error, empty, tie, …).</p>` +
    `<table><tr><th>run</th><th>questions</th><th>EX %</th><th>unflagged</th><th>EX % on unflagged</th></tr>${
      rows.join("")
    }</table>\n${lists.join("\n")}`;
}
