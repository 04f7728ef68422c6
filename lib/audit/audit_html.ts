/**
 * `audit.html`: the page a person reviews, self-contained (no script, no network): the summary by kind and by
 * database, then each flagged question with its SQL, evidence, the gold result as executed, and every flag with
 * its reason and the rows that show it (tied rows, near matches).
 *
 * @module
 */
import type { Example } from "../types.ts";
import { type AuditInfo, type AuditRecord, type AuditSummary, FLAG_KINDS } from "./audit_types.ts";

const esc = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

const cell = (v: unknown) => (v === null ? "NULL" : typeof v === "object" ? JSON.stringify(v) : String(v));

function table(columns: readonly string[] | null, rows: readonly unknown[][]): string {
  const head = columns ? `<tr>${columns.map((c) => `<th>${esc(c)}</th>`).join("")}</tr>` : "";
  const body = rows.map((r) => `<tr>${r.map((v) => `<td>${esc(cell(v))}</td>`).join("")}</tr>`).join("");
  return `<table>${head}${body}</table>`;
}

/** The review page of an audit. */
export function auditPage(
  records: readonly AuditRecord[],
  examples: readonly Example[],
  meta: { info: AuditInfo; summary: AuditSummary },
): string {
  const byIndex = new Map(examples.map((e) => [e.index, e]));
  const s = meta.summary;
  const kinds = FLAG_KINDS.map((k) => {
    const n = s.by_kind[k];
    return `<tr><td>${k}</td><td>${n.error}</td><td>${n.suspect}</td></tr>`;
  }).join("");
  const dbs = Object.entries(s.by_db).sort().map(([db, n]) =>
    `<tr><td>${esc(db)}</td><td>${n.questions}</td><td>${n.flagged}</td><td>${n.severe}</td></tr>`
  ).join("");
  const flagged = records.filter((r) => r.flags.length);
  const items = flagged.map((r) => {
    const e = byIndex.get(r.index)!;
    const g = r.gold;
    const result = !g
      ? ""
      : g.ok
      ? `<p>gold result: ${g.rowCount} row(s), ${g.distinctRows} distinct, ${g.ms} ms</p>${
        table(g.columns ?? null, g.sample ?? [])
      }`
      : `<p>gold failed: ${esc(g.error ?? "")}</p>`;
    const flags = r.flags.map((f) =>
      `<li class="${f.severity}"><b>${f.kind}</b> (${f.severity}): ${esc(f.detail)}${
        f.rows?.length ? table(null, f.rows) : ""
      }${
        f.alternatives
          ? `<p>${f.alternatives.length} equally right results are accepted by the reward.</p>`
          : ""
      }</li>`
    ).join("");
    return `<section id="q${r.index}"><h3>#${r.index} ${esc(e.db_id)} (question_id ${r.question_id ?? "-"}, ${
      esc(e.difficulty)
    })</h3><p class="q">${esc(e.question)}</p><p>evidence: ${esc(e.evidence || "(none)")}</p><pre>${
      esc(e.sql)
    }</pre><ul>${flags}</ul>${result}</section>`;
  }).join("\n");
  return `<!doctype html><html><head><meta charset="utf-8"><title>Gold audit: ${
    esc(meta.info.dataset.path)
  }</title>
<style>body{font:14px system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}table{border-collapse:collapse;margin:.4em 0}
td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}pre{background:#f6f6f6;padding:.6em;white-space:pre-wrap}
li.error b{color:#b00}li.suspect b{color:#a60}section{border-top:1px solid #ddd;margin-top:1.2em}.q{font-weight:600}</style>
</head><body><h1>Gold audit</h1><p>${esc(meta.info.dataset.path)} (sha256 ${
    meta.info.dataset.sha256.slice(0, 12)
  }…), ${s.questions} questions audited: ${s.clean} clean, ${s.severe} with a severe flag. SQLite ${
    esc(meta.info.engine.version)
  }, time limit ${meta.info.timeout_s} s, slow past ${meta.info.slow_ms} ms.</p>
<h2>Flags by kind</h2><table><tr><th>kind</th><th>error</th><th>suspect</th></tr>${kinds}</table>
<h2>By database</h2><table><tr><th>database</th><th>questions</th><th>flagged</th><th>severe</th></tr>${dbs}</table>
<h2>Flagged questions (${flagged.length})</h2>
${items}
</body></html>
`;
}
