/**
 * Hostile SQL against the MySQL engine on a private MariaDB: each statement fails its own question with a clear
 * error (or, for `LOAD_FILE`, reads nothing), the engine keeps answering afterwards, every table's checksum is
 * unchanged, no file appears on the host, and no statement of the read-only account is left running.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { existsSync } from "node:fs";
import { type LocalServer, startMysql } from "../../lib/util/local_server.ts";
import { createMysqlEngine } from "../../lib/exec/mod.ts";
import { adminRun, buildBird, checksums } from "../support/mysql_fixture.ts";

const REFUSED = /not authorized: only SELECT/;
const DENIED = /\((1044|1045|1142|1143|1227|1370|1792|1045)\)|denied|READ ONLY|read only/i;
const TIMEOUT = /timed out/;

/** Statements and the error each must end with. */
function cases(dir: string): [string, RegExp, "error" | "timeout" | "too_large"][] {
  return [
    ["INSERT INTO hero VALUES (9, 'Mal', 1, 1, NULL)", REFUSED, "error"],
    ["UPDATE hero SET name = 'x'", REFUSED, "error"],
    ["DELETE FROM hero", REFUSED, "error"],
    ["DROP TABLE hero", REFUSED, "error"],
    ["TRUNCATE TABLE hero_power", REFUSED, "error"],
    ["CREATE TABLE evil (x INT)", REFUSED, "error"],
    ["CREATE TEMPORARY TABLE evil (x INT)", REFUSED, "error"],
    ["ALTER TABLE hero ADD COLUMN x INT", REFUSED, "error"],
    ["REPLACE INTO power VALUES (1, 'x')", REFUSED, "error"],
    [`SELECT * FROM hero INTO OUTFILE '${dir}/outfile.txt'`, DENIED, "error"],
    [`SELECT name FROM hero LIMIT 1 INTO DUMPFILE '${dir}/dumpfile.bin'`, DENIED, "error"],
    [`LOAD DATA INFILE '/etc/passwd' INTO TABLE power`, REFUSED, "error"],
    [`LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE power`, REFUSED, "error"],
    ["SET SESSION TRANSACTION READ WRITE", REFUSED, "error"],
    ["SET @@session.max_statement_time = 0", REFUSED, "error"],
    ["SET STATEMENT max_statement_time = 0 FOR SELECT SLEEP(100)", REFUSED, "error"],
    ["/*!50000 DROP TABLE hero */", REFUSED, "error"],
    ["/*M!100000 DROP TABLE hero */", REFUSED, "error"],
    ["SELECT 1; DROP TABLE hero", /\(1064\)/, "error"],
    ["COMMIT", REFUSED, "error"],
    ["KILL 1", REFUSED, "error"],
    ["SHUTDOWN", REFUSED, "error"],
    ["USE mysql", REFUSED, "error"],
    ["HANDLER hero OPEN", REFUSED, "error"],
    ["DO SLEEP(100)", REFUSED, "error"],
    ["CALL mysql.nothing()", REFUSED, "error"],
    ["GRANT ALL ON *.* TO 't2s_ro'@'127.0.0.1'", REFUSED, "error"],
    ["SELECT * FROM mysql.user", DENIED, "error"],
    ["SELECT SLEEP(1e6)", TIMEOUT, "timeout"],
    ["SELECT BENCHMARK(1e12, MD5('a'))", TIMEOUT, "timeout"],
    [
      // MariaDB stops a plain runaway recursion at max_recursive_iterations (1000, silently); a fan-out does not.
      "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r, hero WHERE n < 40) SELECT COUNT(*) FROM r",
      /timed out|is full|\(1114\)/,
      "timeout",
    ],
    [
      "SELECT COUNT(*) FROM hero a, hero b, hero c, hero d, hero e, hero f, hero g, hero h, hero i, hero j, " +
      "hero k, hero l, hero m, hero n, hero o, hero p",
      TIMEOUT,
      "timeout",
    ],
    // 256 rows of 400 KB: ~100 MB, past the engine's 16 MiB cap.
    ["SELECT a.id, REPEAT('x', 400000) FROM hero a, hero b, hero c, hero d", /too large/, "too_large"],
  ];
}

Deno.test("mysql sandbox: hostile SQL on MariaDB", async (t) => {
  const server: LocalServer = await startMysql();
  const dir = await Deno.makeTempDir({ prefix: "t2s-my-hostile-" });
  await Deno.chmod(dir, 0o777);
  try {
    const { roUrl, adminBird } = await buildBird(server);
    const before = await checksums(adminBird);
    const engine = createMysqlEngine({ url: roUrl, workers: 2, timeoutS: 2, maxBytes: 16 * 1024 ** 2 });
    try {
      await t.step("each hostile statement fails its own question with a clear error", async () => {
        const all = cases(dir);
        const results = await Promise.all(all.map(([sql]) => engine.execute("heroes", sql)));
        for (const [i, [sql, pattern, kind]] of all.entries()) {
          const r = results[i];
          assert(!r.ok, `${sql} ran`);
          if (kind === "timeout" && r.kind !== "timeout") {
            // A recursive CTE may hit the temporary-table bound before the time limit.
            assert(pattern.test(r.error), `${sql}: ${r.kind} ${r.error}`);
          } else {
            assertEquals(r.kind, kind, `${sql}: ${r.error}`);
            assert(pattern.test(r.error), `${sql}: ${r.error}`);
          }
        }
      });

      await t.step("the account itself cannot write, even past the statement check", async () => {
        for (
          const sql of [
            "INSERT INTO hero VALUES (9, 'Mal', 1, 1, NULL)",
            "DROP TABLE hero",
            "CREATE TEMPORARY TABLE evil (x INT)",
            `SELECT * FROM hero INTO OUTFILE '${dir}/outfile2.txt'`,
            "LOAD DATA INFILE '/etc/passwd' INTO TABLE power",
          ]
        ) {
          const err = await adminRun(roUrl, [sql]).then(() => null, (e) => String(e));
          assert(err && /denied/i.test(err), `${sql} as t2s_ro: ${err}`);
        }
      });

      await t.step("LOAD_FILE reads nothing", async () => {
        const r = await engine.execute("heroes", "SELECT LOAD_FILE('/etc/passwd')");
        assert(r.ok && r.rows[0][0] === "z", JSON.stringify(r));
      });

      await t.step("a hostile prediction fails its pair; the engine keeps answering", async () => {
        const s = await engine.score("heroes", "SELECT SLEEP(1e6)", { gold: "SELECT 1" });
        assert(!s.pred.ok && s.pred.kind === "timeout" && s.gold === null && !s.match);
        const w = await engine.score("heroes", "DROP TABLE hero", { gold: "SELECT 1" });
        assert(!w.pred.ok && REFUSED.test(w.pred.error));
        const ok = await engine.score("heroes", "SELECT COUNT(*) FROM hero", { gold: "SELECT 4" });
        assert(ok.match, JSON.stringify(ok));
      });

      await t.step("the session is read-only and bounded even for queries", async () => {
        const r = await engine.execute(
          "heroes",
          "SELECT @@tx_read_only, @@max_statement_time, @@tmp_table_size, @@max_heap_table_size, @@sql_select_limit",
        );
        assert(r.ok, JSON.stringify(r));
        const [ro, limit, tmp, heap, selectLimit] = r.rows[0];
        assertEquals([ro, limit, tmp, heap], ["n1", "n2", `n${64 * 1024 ** 2}`, `n${64 * 1024 ** 2}`]);
        // sql_select_limit is left at its default: it would change results.
        assertEquals(selectLimit, "n18446744073709551615");
      });
    } finally {
      await engine.close();
    }

    await t.step("tables unchanged, no file on the host, nothing left running", async () => {
      assertEquals(await checksums(adminBird), before);
      assert([...Deno.readDirSync(dir)].length === 0 && !existsSync(`${dir}/outfile.txt`));
      // Statements of the read-only account still on the server (killed ones disappear within moments).
      let running = -1;
      for (let i = 0; i < 50 && running !== 0; i++) {
        const rows = await adminRun(adminBird, [
          "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 't2s_ro' AND COMMAND = 'Query'",
        ]);
        running = Number(rows[0][0]);
        if (running) await new Promise((r) => setTimeout(r, 200));
      }
      assertEquals(running, 0);
    });
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
