/**
 * The MySQL parity suite, against a real MariaDB server this file starts (and always stops):
 *
 * 1. every probe of tests/parity/mysql_probes.json scored by the project's MySQL engine (`score()`, the run's
 *    path) and, live, by the official logic (tests/parity/official_ex_dialects.py: mini-dev's execute_sql with
 *    pymysql, a new connection per pair, EX and Soft-F1) on the same database: every asserted probe agrees. The
 *    `session` probes run in file order on one connection: what a prediction sets must not reach the next one.
 * 2. mini-dev's official MySQL baseline predictions on `superhero` (loaded by `deno task db load`'s loader)
 *    through `deno task eval --dialect mysql`: every verdict equals pymysql's.
 *
 * `deliberate` probes (writes, refused by design; a gold query reading the prediction's session) are printed,
 * not held to agreement.
 *
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { startMysql } from "../../lib/util/local_server.ts";
import {
  assertParity,
  compareRecords,
  evalCli,
  loadProbeDatabase,
  loadSuperhero,
  MINI_DEV_MODELS,
  miniDevFiles,
  officialPairs,
  officialProbeVerdicts,
  openServerEngine,
  readProbes,
  scoreProbes,
} from "../support/dialect_parity.ts";

Deno.test("parity (mysql): probes and mini-dev predictions score as mini-dev's evaluator with pymysql", async (t) => {
  const probes = await readProbes("mysql");
  await using server = await startMysql();
  const { adminDbUrl, readonlyUrl } = await loadProbeDatabase("mysql", server.adminUrl);
  const official = await officialProbeVerdicts("mysql", adminDbUrl);

  await t.step("MariaDB server: every asserted probe agrees (EX and Soft-F1)", async () => {
    const engine = await openServerEngine("mysql", readonlyUrl);
    let ours;
    try {
      const target = engine.target("", "probes");
      ours = await scoreProbes(engine, target, probes.filter((p) => p.topic !== "session"));
    } finally {
      await engine.close();
    }
    const one = await openServerEngine("mysql", readonlyUrl, { workers: 1 });
    try {
      const session = probes.filter((p) => p.topic === "session");
      for (const [id, v] of await scoreProbes(one, one.target("", "probes"), session, { sequential: true })) {
        ours.set(id, v);
      }
    } finally {
      await one.close();
    }
    assertParity(`parity (mysql ${server.version})`, probes, official.verdicts, ours);
  });
  await t.step(
    "mini-dev mysql predictions on superhero: deno task eval --dialect mysql gives pymysql's verdicts",
    async () => {
      const url = await loadSuperhero("mysql", server.adminUrl);
      const out = await Deno.makeTempDir({ prefix: "t2s-minidev-mysql-" });
      try {
        const problems: string[] = [];
        for (const model of MINI_DEV_MODELS) {
          const files = miniDevFiles("mysql", model);
          const official = await officialPairs("mysql", adminDbUrl, { ...files, db: "superhero" });
          const run = await evalCli("mysql", url, { ...files, db: "superhero", out: join(out, model) });
          const c = compareRecords(run.records, official);
          console.log(
            `mini-dev (mysql) ${model}: ${c.count} questions on superhero, EX ${c.ex} (official ${c.officialEx}), ` +
              `${c.count - c.disagree.length} agree`,
          );
          problems.push(...c.disagree.map((l) => `${model} ${l}`));
        }
        assert(
          problems.length === 0,
          `${problems.length} mini-dev verdicts disagree:\n${problems.join("\n")}`,
        );
      } finally {
        await Deno.remove(out, { recursive: true });
      }
    },
  );
});
