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
import { startMysql } from "../../lib/util/local_server.ts";
import {
  assertMiniDevOnServer,
  assertParity,
  loadProbeDatabase,
  officialProbeVerdicts,
  readProbes,
  scoreServerProbes,
} from "../support/dialect_parity.ts";

Deno.test("parity (mysql): probes and mini-dev predictions score as mini-dev's evaluator with pymysql", async (t) => {
  const probes = await readProbes("mysql");
  await using server = await startMysql();
  const { adminDbUrl, readonlyUrl } = await loadProbeDatabase("mysql", server.adminUrl);
  const official = await officialProbeVerdicts("mysql", adminDbUrl);

  await t.step("MariaDB server: every asserted probe agrees (EX and Soft-F1)", async () => {
    const ours = await scoreServerProbes(probes, { dialect: "mysql", url: readonlyUrl });
    assertParity(`parity (mysql ${server.version})`, probes, official.verdicts, ours);
  });
  await t.step(
    "mini-dev predictions on superhero: pymysql's verdicts (deno task eval --dialect mysql, score())",
    async () => {
      await assertMiniDevOnServer("mysql", server, adminDbUrl);
    },
  );
});
