/**
 * Every detector on a database the test builds with planted defects and clean look-alikes (`planted.ts`): each
 * question must get exactly the kinds it plants. Prints precision and recall per detector (the README's table).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { FLAG_KINDS, loadAudit, runAudit } from "../../lib/audit/mod.ts";
import { buildPlantedDb, PLANTED, plantedDataset } from "./planted.ts";

Deno.test("audit: each planted defect is flagged, each clean look-alike is not", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "t2s-audit-" });
  try {
    buildPlantedDb(join(tmp, "db"));
    const dataset = join(tmp, "dev.json");
    await Deno.writeTextFile(dataset, JSON.stringify(plantedDataset()));
    const result = await runAudit({
      dataset,
      dbRoot: join(tmp, "db"),
      out: join(tmp, "audit"),
      workers: 2,
      timeoutS: 4,
      slowMs: 50,
      silent: true,
    });
    const got = result.records.map((r) => [...new Set(r.flags.map((f) => f.kind))].sort());
    // Per detector: true positives, false positives, false negatives.
    const rows: string[] = [];
    for (const kind of FLAG_KINDS) {
      let tp = 0, fp = 0, fn = 0;
      PLANTED.forEach((p, i) => {
        const planted = p.want.includes(kind), flagged = got[i].includes(kind);
        if (planted && flagged) tp++;
        else if (flagged) fp++;
        else if (planted) fn++;
      });
      const planted = PLANTED.filter((p) => p.want.includes(kind)).length;
      const clean = PLANTED.length - planted;
      rows.push(
        `| ${kind} | ${planted} | ${clean} | ${tp + fp ? (tp / (tp + fp)).toFixed(2) : "-"} | ${
          planted ? (tp / planted).toFixed(2) : "-"
        } |`,
      );
    }
    console.log(
      `| detector | planted | not planted | precision | recall |\n| --- | --- | --- | --- | --- |\n${
        rows.join("\n")
      }`,
    );
    const wrong = PLANTED.map((p, i) => ({ note: p.note, want: [...p.want].sort(), got: got[i] }))
      .filter((x) => JSON.stringify(x.want) !== JSON.stringify(x.got));
    assertEquals(wrong, []);
    // Evidence: the tie lists its tied rows and both answers; the literal names the spelling the data holds.
    const tie = result.records[9].flags.find((f) => f.kind === "tie")!;
    assertEquals(tie.rows, [["Ana", 190], ["Bo", 190]]);
    assertEquals(tie.alternatives, [[["sAna"]], [["sBo"]]]);
    const sub = result.records[11].flags.find((f) => f.kind === "tie")!;
    assertEquals(
      new Set(sub.alternatives!.map((a) => JSON.stringify(a))),
      new Set(['[["sParis"]]', '[["sLyon"]]']),
    );
    const lit = result.records[18].flags.find((f) => f.kind === "literal_not_in_data")!;
    assertEquals(lit.severity, "error");
    assert(lit.detail.includes("'Male'"), lit.detail);
    assertEquals(result.records[19].flags[0].severity, "suspect");
    // The files: one line per question, a summary, a page naming every flagged question.
    const loaded = await loadAudit(result.dir);
    assertEquals(loaded.records.size, PLANTED.length);
    const summary = JSON.parse(await Deno.readTextFile(join(result.dir, "summary.json")));
    assertEquals(summary.questions, PLANTED.length);
    assertEquals(summary.clean, PLANTED.filter((p) => !p.want.length).length);
    const page = await Deno.readTextFile(join(result.dir, "audit.html"));
    for (const r of result.records.filter((r) => r.flags.length)) assert(page.includes(`id="q${r.index}"`));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
