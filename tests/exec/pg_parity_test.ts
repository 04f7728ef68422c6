/**
 * The PostgreSQL parity suite, against a real PostgreSQL 15 server this file starts (and always stops):
 *
 * 1. every probe of tests/parity/pg_probes.json scored by the project's PostgreSQL engine (`score()`, the run's
 *    path) and, live, by the official logic (tests/parity/official_ex_dialects.py: mini-dev's execute_sql with
 *    psycopg2, a new connection per pair, EX and Soft-F1) on the same database: every asserted probe agrees. The
 *    `session` probes run in file order on one connection: what a prediction sets must not reach the next one.
 * 2. the same probes on the embedded PGlite (a newer PostgreSQL): its verdicts equal PostgreSQL 15's official
 *    ones, except the probes that name a version case (`pglite`), which are printed.
 * 3. mini-dev's official PostgreSQL baseline predictions on `superhero` (loaded by `deno task db load`'s loader)
 *    through `deno task eval --dialect postgresql`: every verdict equals psycopg2's.
 *
 * `deliberate` probes (writes, refused by design; a gold query reading the prediction's session) are printed,
 * not held to agreement.
 *
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { startPostgres } from "../../lib/util/local_server.ts";
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

Deno.test("parity (postgresql): probes and mini-dev predictions score as mini-dev's evaluator with psycopg2", async (t) => {
  const probes = await readProbes("postgresql");
  await using server = await startPostgres();
  const { adminDbUrl, readonlyUrl } = await loadProbeDatabase("postgresql", server.adminUrl);
  const official = await officialProbeVerdicts("postgresql", adminDbUrl);

  await t.step("PostgreSQL server: every asserted probe agrees (EX and Soft-F1)", async () => {
    const engine = await openServerEngine("postgresql", readonlyUrl);
    let ours;
    try {
      const target = engine.target("", "probes");
      ours = await scoreProbes(engine, target, probes.filter((p) => p.topic !== "session"));
    } finally {
      await engine.close();
    }
    const one = await openServerEngine("postgresql", readonlyUrl, { workers: 1 });
    try {
      const session = probes.filter((p) => p.topic === "session");
      for (const [id, v] of await scoreProbes(one, one.target("", "probes"), session, { sequential: true })) {
        ours.set(id, v);
      }
    } finally {
      await one.close();
    }
    assertParity(`parity (postgresql ${server.version})`, probes, official.verdicts, ours);
  });
  await t.step(
    "mini-dev postgresql predictions on superhero: deno task eval --dialect postgresql gives psycopg2's verdicts",
    async () => {
      const url = await loadSuperhero("postgresql", server.adminUrl);
      const out = await Deno.makeTempDir({ prefix: "t2s-minidev-pg-" });
      try {
        const problems: string[] = [];
        for (const model of MINI_DEV_MODELS) {
          const files = miniDevFiles("postgresql", model);
          const official = await officialPairs("postgresql", adminDbUrl, { ...files, db: "superhero" });
          const run = await evalCli("postgresql", url, { ...files, db: "superhero", out: join(out, model) });
          const c = compareRecords(run.records, official);
          console.log(
            `mini-dev (postgresql) ${model}: ${c.count} questions on superhero, EX ${c.ex} (official ${c.officialEx}), ` +
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
