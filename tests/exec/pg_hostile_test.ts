/**
 * Hostile SQL against the PostgreSQL engine, on a real PostgreSQL 15 server (as the loader's read-only role) and
 * on PGlite: writes, DDL, server file and program access, role changes, escapes from the read-only transaction
 * by multi-statement strings, sleep / series / recursion bombs and a 100 MB result each fail their own question
 * with a clear error; every table's checksum is unchanged afterwards (through an admin connection on the server,
 * through each worker's own copy on PGlite); no file appears on the host; the next question still works.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { connectPostgres, ensurePgliteData, openTargetDatabase } from "../../lib/db/mod.ts";
import { loadSuperheroReadOnly } from "../support/pg_superhero.ts";
import { createPgEngine, type PgEngine } from "../../lib/exec/pg_engine.ts";
import { type LocalServer, startPostgres } from "../../lib/util/local_server.ts";

const DB_ROOT = new URL("../../data/sample/dev_databases", import.meta.url).pathname;
const TOKEN = `t2s-hostile-${crypto.randomUUID().slice(0, 8)}`;
const HOST_FILES = [`/tmp/${TOKEN}`, `/tmp/${TOKEN}.csv`, `/tmp/${TOKEN}.lo`];
const TABLES = ["superhero", "hero_power", "superpower", "publisher", "hero_attribute", "attribute"];

/** Each must fail (never return rows), whatever the engine. */
const HOSTILE: string[] = [
  "INSERT INTO superhero (id) VALUES (99999) RETURNING id",
  "UPDATE superhero SET height_cm = 0 RETURNING id",
  "DELETE FROM hero_power RETURNING 1",
  "DROP TABLE superhero",
  "TRUNCATE hero_power",
  "CREATE TABLE evil (a int); SELECT 1",
  "ALTER TABLE superhero ADD COLUMN evil int; SELECT 1",
  `COPY (SELECT 1) TO PROGRAM 'touch /tmp/${TOKEN}'`,
  `COPY superhero TO '/tmp/${TOKEN}.csv'`,
  `COPY superhero TO '${TOKEN}.csv'`,
  "COPY superhero TO STDOUT",
  "COPY hero_power FROM STDIN",
  "SELECT pg_read_file('/etc/passwd')",
  "SELECT pg_ls_dir('/')",
  `SELECT lo_export(lo_import('/etc/passwd'), '/tmp/${TOKEN}.lo')`,
  "CREATE EXTENSION dblink; SELECT 1",
  "SELECT dblink_connect('host=127.0.0.1')",
  "SET ROLE postgres; DELETE FROM hero_power RETURNING 1",
  "RESET SESSION AUTHORIZATION; DELETE FROM hero_power RETURNING 1",
  "SET SESSION AUTHORIZATION postgres; DELETE FROM hero_power RETURNING 1",
  "SET default_transaction_read_only = off; DELETE FROM hero_power RETURNING 1",
  "COMMIT; BEGIN READ WRITE; DELETE FROM hero_power; COMMIT; SELECT 1",
  "COMMIT; SET default_transaction_read_only = off; BEGIN; INSERT INTO superhero (id) VALUES (99999); COMMIT; " +
  "SELECT 1",
  "RESET ROLE; COMMIT; BEGIN READ WRITE; DELETE FROM hero_power; COMMIT; SELECT 1",
  "RESET ROLE; COMMIT; BEGIN READ WRITE; CREATE TABLE evil (a int); COMMIT; SELECT 1",
  "SELECT pg_sleep(1e6)",
  "SET statement_timeout = 0; SELECT pg_sleep(1e6)",
  "SELECT count(*) FROM generate_series(1, 1e12::bigint)",
  "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
  "SELECT repeat('x', 1000) || g FROM generate_series(1, 100000) g",
];

/** md5 of every row of every table, in a stable order. */
const CHECKSUM_SQL =
  TABLES.map((t) =>
    `SELECT '${t}' AS t, count(*)::text AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h ` +
    `FROM ${t} x`
  ).join(" UNION ALL ") + " ORDER BY 1";

async function hostileRound(engine: PgEngine, label: string): Promise<string[]> {
  const problems: string[] = [];
  for (const sql of HOSTILE) {
    const r = await engine.score("superhero", sql, { gold: "SELECT 1" });
    if (r.pred.ok) problems.push(`${label}: returned rows: ${sql}`);
    else if (!r.pred.error.trim()) problems.push(`${label}: empty error: ${sql}`);
    const next = await engine.execute("superhero", "SELECT count(*) FROM superhero");
    if (!next.ok) problems.push(`${label}: the next question failed after ${sql}: ${next.error}`);
  }
  return problems;
}

Deno.test("hostile SQL fails its own question, leaves every table and the host unchanged (server, PGlite)", async (t) => {
  let server: LocalServer | null = null;
  const tmp = await Deno.makeTempDir({ prefix: "t2s-pg-hostile-" });
  const engines: PgEngine[] = [];
  try {
    server = await startPostgres();
    const admin = await openTargetDatabase(server.adminUrl, { dialect: "postgresql", database: "bird" });
    let before: string;
    try {
      await loadSuperheroReadOnly(admin, { password: "ro-pw" });
      before = JSON.stringify((await admin.query(CHECKSUM_SQL)).rows);
    } finally {
      await admin.close();
    }
    const data = await ensurePgliteData({ dbRoot: DB_ROOT, dbIds: ["superhero"], cacheDir: tmp });
    const options = { workers: 2, timeoutS: 2, maxBytes: 32 * 1024 ** 2 };
    const onServer = createPgEngine({
      url: `postgres://text2sql_ro:ro-pw@${server.host}:${server.port}/bird`,
      ...options,
    });
    const onPglite = createPgEngine({ pgliteData: data.path, ...options });
    engines.push(onServer, onPglite);

    await t.step("server: each fails, tables unchanged, no file written, no query left running", async () => {
      assertEquals(await hostileRound(onServer, "server"), []);
      const check = await connectPostgres(server!.adminUrl.replace(/\/postgres$/, "/bird"));
      try {
        assertEquals(JSON.stringify((await check.query(CHECKSUM_SQL)).rows), before);
        // The worker killed mid pg_sleep is gone, and so is its backend (client_connection_check_interval).
        let left = 1;
        for (let i = 0; i < 50 && left > 0; i++) {
          left = Number(
            (await check.query(
              "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(1e6)%' " +
                "AND pid <> pg_backend_pid()",
            )).rows[0][0],
          );
          if (left) await new Promise((r) => setTimeout(r, 200));
        }
        assertEquals(left, 0, "no backend still sleeping");
      } finally {
        await check.close();
      }
      assert(!existsSync(join(server!.dir, "data", `${TOKEN}.csv`)), "no file in the server's data folder");
    });

    await t.step("PGlite: each fails, every worker's copy unchanged, nothing on the host", async () => {
      assertEquals(await hostileRound(onPglite, "pglite"), []);
      // Each worker answers from its own copy: ask every one of them.
      const sums = await Promise.all([1, 2, 3, 4].map(() => onPglite.execute("superhero", CHECKSUM_SQL)));
      for (const s of sums) {
        assert(s.ok, JSON.stringify(s));
        assertEquals(JSON.stringify(s.rows.map((r) => r.map((k) => k.slice(1)))), before);
      }
    });

    await t.step("no file appeared on the host", () => {
      for (const f of HOST_FILES) assert(!existsSync(f), f);
    });
  } finally {
    for (const e of engines) await e.close();
    for (const e of engines) assertEquals(e.pids(), []);
    await server?.stop();
    await Deno.remove(tmp, { recursive: true });
    for (const f of HOST_FILES) await Deno.remove(f).catch(() => {});
  }
});
