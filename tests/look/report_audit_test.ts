/** The report's audit section: EX on unflagged questions beside the official EX, and flagged failures listed. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { LoadedAudit } from "../../lib/audit/mod.ts";
import { auditSection, exOnUnflagged } from "../../lib/look/report_audit.ts";
import type { ResultRecord } from "../../lib/types.ts";

const rec = (index: number, status: string) =>
  ({ index, status, question: `q${index}` }) as unknown as ResultRecord;

const audit: LoadedAudit = {
  dir: "audits/x",
  info: { dataset: { sha256: "abc", path: "x.json", count: 4 } } as LoadedAudit["info"],
  records: new Map([
    [0, { index: 0, question_id: 0, db_id: "d", flags: [] }],
    [1, {
      index: 1,
      question_id: 1,
      db_id: "d",
      flags: [{ kind: "tie", severity: "error", detail: "2 rows tie" }],
    }],
    [2, {
      index: 2,
      question_id: 2,
      db_id: "d",
      flags: [{ kind: "shape", severity: "suspect", detail: "rows" }],
    }],
    [3, { index: 3, question_id: 3, db_id: "d", flags: [] }],
  ]),
};

Deno.test("report audit: EX on unflagged questions leaves out severe flags only; flagged failures listed", () => {
  const records = [rec(0, "correct"), rec(1, "wrong"), rec(2, "wrong"), rec(3, "correct")];
  const s = exOnUnflagged(records, audit);
  assertEquals([s.total, s.ex, s.unflagged, s.exUnflagged], [4, 50, 3, 66.67]);
  assertEquals(s.failedFlagged.map((r) => r.index), [1, 2]);
  const html = auditSection([{ label: "m", datasetSha256: "abc", records }], audit);
  assert(
    html.includes("66.67") && html.includes("2 rows tie") && html.includes("2 flagged question(s) failed"),
  );
  const other = auditSection([{ label: "m", datasetSha256: "zzz", records }], audit);
  assert(other.includes("another dataset"));
});
