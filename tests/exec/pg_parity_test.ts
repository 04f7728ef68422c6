/**
 * The PostgreSQL parity suite, against a real PostgreSQL 15 server this file starts (and always stops):
 *
 * 1. every probe of tests/parity/pg_probes.json scored by the project's PostgreSQL engine (`score()`, the run's
 *    path) and, live, by the official logic (tests/parity/official_ex_dialects.py: mini-dev's execute_sql with
 *    psycopg2, a new connection per pair, EX and Soft-F1) on the same database: every asserted probe agrees. The
 *    `session` probes run in file order on one connection: what a prediction sets must not reach the next one.
 * 2. mini-dev's official PostgreSQL baseline predictions on `superhero` (loaded by `deno task db load`'s loader)
 *    through `deno task eval --dialect postgresql`: every verdict equals psycopg2's.
 * 3. the same probes and predictions on the embedded PGlite (a newer PostgreSQL): its verdicts equal PostgreSQL
 *    15's official ones, except the probes that name a version case (`pglite`), which are printed.
 *
 * `deliberate` probes (writes, refused by design; a gold query reading the prediction's session) are printed,
 * not held to agreement.
 *
 * @module
 */
import { ok as assert } from "node:assert/strict";
import type { SqlEngine } from "../../lib/exec/engine.ts";
import { createPgEngine } from "../../lib/exec/pg_engine.ts";
import { startPostgres } from "../../lib/util/local_server.ts";
import {
  assertMiniDevOnServer,
  assertParity,
  assertPgliteCases,
  loadProbeDatabase,
  MINI_DEV_MODELS,
  miniDevFiles,
  miniDevPairs,
  officialProbeVerdicts,
  openServerEngine,
  pgliteParityData,
  readProbes,
  scorePairs,
  scoreProbes,
} from "../support/dialect_parity.ts";

Deno.test("parity (postgresql): probes and mini-dev predictions score as mini-dev's evaluator with psycopg2", async (t) => {
  const probes = await readProbes("postgresql");
  await using server = await startPostgres();
  const { adminDbUrl, readonlyUrl } = await loadProbeDatabase("postgresql", server.adminUrl);
  const official = await officialProbeVerdicts("postgresql", adminDbUrl);
  /** psycopg2's verdicts of each model's predictions on superhero, by dataset index. */
  const miniDev = new Map<string, Record<string, [number, number]>>();

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
    "mini-dev predictions on superhero: psycopg2's verdicts (deno task eval --dialect postgresql, score())",
    async () => {
      for (const [model, v] of await assertMiniDevOnServer("postgresql", server, adminDbUrl)) {
        miniDev.set(model, v);
      }
    },
  );

  await t.step(
    "PGlite: PostgreSQL 15's verdicts on the probes and on mini-dev, or a named version case",
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "t2s-pglite-parity-" });
      try {
        // One worker: each PGlite worker boots its own copy (seconds), and two would share the CI's two cores.
        const engine = createPgEngine({ pgliteData: await pgliteParityData(dir), workers: 1, timeoutS: 30 });
        try {
          const ours = await scoreProbes(engine, engine.target("", "probes"), probes, { sequential: true });
          const label = `parity (PGlite ${(await engine.info()).version} vs postgresql ${server.version})`;
          assertPgliteCases(label, probes, official.verdicts, ours);
          const problems: string[] = [];
          for (const model of MINI_DEV_MODELS) {
            const theirs = miniDev.get(model);
            assert(theirs, "the server's mini-dev step ran first");
            problems.push(...await pgliteMiniDev(engine, model, theirs));
          }
          assert(
            problems.length === 0,
            `PGlite differs from PostgreSQL 15 on mini-dev:\n${problems.join("\n")}`,
          );
        } finally {
          await engine.close();
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
});

/**
 * mini-dev questions (dataset index) where PGlite's verdict may differ from PostgreSQL 15's, and why: version
 * cases, printed. Any other difference fails.
 */
const PGLITE_MINI_DEV_CASES: Record<string, string> = {
  "251":
    "Soft-F1 pairs rows by position and neither query orders its rows: PGlite's planner returns the same " +
    "rows in another order than PostgreSQL 15's (EX agrees)",
};

/** A model's mini-dev predictions on superhero scored on PGlite against psycopg2's verdicts on PostgreSQL 15. */
async function pgliteMiniDev(
  engine: SqlEngine,
  model: (typeof MINI_DEV_MODELS)[number],
  theirs: Record<string, [number, number]>,
): Promise<string[]> {
  const pairs = await miniDevPairs(miniDevFiles("postgresql", model), "superhero");
  const { differ, ex } = await scorePairs(engine, pairs, theirs);
  const cases = differ.filter((d) => d.sameEx && PGLITE_MINI_DEV_CASES[String(d.index)]);
  const problems = differ.filter((d) => !cases.includes(d));
  console.log(
    `mini-dev (PGlite) ${model}: ${pairs.length} questions on superhero, EX ${ex}, ` +
      `${
        pairs.length - differ.length
      } same verdicts as PostgreSQL 15's official ones, ${cases.length} version cases`,
  );
  for (const d of cases) {
    console.log(`  version case ${model} ${d.line} — ${PGLITE_MINI_DEV_CASES[String(d.index)]}`);
  }
  return problems.map((d) => `${model} ${d.line}`);
}
