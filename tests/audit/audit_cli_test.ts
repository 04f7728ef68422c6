/**
 * `deno task audit` as a user runs it: killed with SIGKILL mid-run and started again, it audits only what is
 * missing and ends with one line per question; bad input is one line; and the dataset builders take the audit
 * (`--audit --exclude`, the GRPO rows' `alt_results`).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { buildSftDataset } from "../../lib/train/mod.ts";
import { killAfterLines, linesSoFar, startCli } from "../support/robust_helpers.ts";
import { buildPlantedDb, PLANTED, plantedDataset } from "./planted.ts";

/** Start `deno task audit ARGS` (not awaited). */
const startAudit = (args: string[]) => startCli(["audit", ...args]);

Deno.test("audit CLI: SIGKILL mid-run, then a rerun finishes the rest; bad input is one line", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "t2s-audit-cli-" });
  try {
    buildPlantedDb(join(tmp, "db"));
    // 40 questions of ~0.1 s each on one worker: seconds of work to interrupt.
    const questions = Array.from({ length: 40 }, (_, i) => ({
      question_id: i,
      db_id: "shop",
      question: `Count to ${150000 + i}.`,
      evidence: "",
      SQL: `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${
        150000 + i
      }) SELECT max(x) FROM c`,
      difficulty: "simple",
    }));
    const dataset = join(tmp, "dev.json");
    await Deno.writeTextFile(dataset, JSON.stringify(questions));
    const out = join(tmp, "audit");
    const args = [
      "--dataset",
      dataset,
      "--db-root",
      join(tmp, "db"),
      "--out",
      out,
      "--workers",
      "1",
      "--quiet",
    ];
    const first = startAudit(args);
    const kept = await killAfterLines(first.child, join(out, "audit.jsonl"), {
      lines: 5,
      timeoutMs: 120_000,
    });
    assert(kept >= 5 && kept < 40, `killed after ${kept} lines`);
    // A torn half line, as a kill during a write leaves it: cut, not read.
    await Deno.writeTextFile(join(out, "audit.jsonl"), '{"index": 39, "fla', { append: true });
    const second = await startAudit(args).result;
    assertEquals(second.code, 0, second.stderr);
    assert(second.stdout.includes(`(${40 - kept} audited now)`), second.stdout);
    assert(second.stderr.includes("audit (resumed"), second.stderr);
    const lines = (await Deno.readTextFile(join(out, "audit.jsonl"))).split("\n").filter(Boolean);
    assertEquals(lines.map((l) => JSON.parse(l).index), questions.map((_, i) => i));
    assertEquals(await linesSoFar(join(out, "audit.jsonl")), 40);
    // Nothing is left to do: a third run audits none.
    const third = await startAudit(args).result;
    assert(third.stdout.includes("(0 audited now)"), third.stdout);

    // Bad input: one line each, non-zero exit.
    const missing = await startAudit(["--dataset", join(tmp, "nope.json"), "--out", join(tmp, "x")]).result;
    assertEquals(missing.code, 1);
    assertEquals(missing.stderr.trim().split("\n").length, 1, missing.stderr);
    assert(missing.stderr.includes("nope.json"), missing.stderr);
    const noDb = await startAudit(["--dataset", dataset, "--out", join(tmp, "y")]).result;
    assertEquals(noDb.code, 1);
    assertEquals(noDb.stderr.trim().split("\n").length, 1, noDb.stderr);
    assert(noDb.stderr.includes("shop"), noDb.stderr);
    const other = join(tmp, "other.json");
    await Deno.writeTextFile(other, JSON.stringify(questions.slice(0, 3)));
    const wrongFolder = await startAudit(["--dataset", other, "--db-root", join(tmp, "db"), "--out", out])
      .result;
    assertEquals(wrongFolder.code, 1);
    assert(wrongFolder.stderr.includes("holds another audit"), wrongFolder.stderr);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("sft --audit: flagged questions left out and recorded; GRPO rows of ties carry alt_results", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "t2s-audit-sft-" });
  try {
    buildPlantedDb(join(tmp, "db"));
    const dataset = join(tmp, "dev.json");
    await Deno.writeTextFile(dataset, JSON.stringify(plantedDataset()));
    const audit = join(tmp, "audit");
    const run = await startAudit([
      "--dataset",
      dataset,
      "--db-root",
      join(tmp, "db"),
      "--out",
      audit,
      "--timeout",
      "4",
      "--slow-ms",
      "50",
      "--quiet",
    ]).result;
    assertEquals(run.code, 0, run.stderr);
    const base = { dataset, dbRoot: join(tmp, "db"), silent: true, timeoutS: 4, workers: 2 } as const;
    const built = await buildSftDataset({ ...base, out: join(tmp, "sft"), audit, format: "grpo" });
    const doc = JSON.parse(await Deno.readTextFile(join(tmp, "sft", "dataset.json")));
    // Default exclude: error, timeout, empty, all_null, unordered_limit, duplicate, literal_not_in_data:error.
    const excluded = PLANTED.map((p, i) => ({ p, i })).filter(({ p }) =>
      p.want.some((k) =>
        ["error", "timeout", "empty", "all_null", "unordered_limit", "duplicate"].includes(k)
      ) ||
      p.sql.includes("'male'")
    ).map(({ i }) => i);
    const dropped = built.dropped.filter((d) => d.reason === "audit").map((d) => d.index);
    assertEquals(dropped, excluded);
    assertEquals(doc.audit.excluded, excluded.length);
    assert(built.dropped.find((d) => d.index === 0)!.error!.startsWith("error (error):"));
    const rows = ["train", "test"].flatMap((s) =>
      Deno.readTextFileSync(join(tmp, "sft", `${s}.jsonl`)).split("\n").filter(Boolean).map((l) =>
        JSON.parse(l)
      )
    );
    const tie = rows.find((r) => r.gold_sql === PLANTED[9].sql)!;
    assertEquals(tie.alt_results, [[["sAna"]], [["sBo"]]]);
    assert(rows.filter((r) => r.alt_results).length === 3);
    // --exclude tie leaves the ties out as well; none keeps everything the gold check keeps.
    const noTies = await buildSftDataset({ ...base, out: join(tmp, "sft2"), audit, exclude: ["tie"] });
    assertEquals(noTies.dropped.filter((d) => d.reason === "audit").map((d) => d.index), [9, 10, 11]);
    // An audit of another dataset is refused in one line.
    const other = join(tmp, "other.json");
    await Deno.writeTextFile(other, JSON.stringify(plantedDataset().slice(0, 3)));
    let message = "";
    try {
      await buildSftDataset({ ...base, dataset: other, out: join(tmp, "sft3"), audit });
    } catch (e) {
      message = (e as Error).message;
    }
    assert(message.includes("not this dataset"), message);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
