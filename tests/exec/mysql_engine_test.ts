/**
 * The MySQL engine on a private MariaDB: execute, score as mini-dev's `evaluation_ex.py` does (prediction first,
 * gold not run when it fails, cached gold digests), the catalog and content key from the loader's manifest, and
 * `info()` without the password.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { type LocalServer, startMysql } from "../../lib/util/local_server.ts";
import { createMysqlEngine } from "../../lib/exec/mod.ts";
import type { GoldDigest } from "../../lib/exec/pool_types.ts";
import { adminRun, buildBird } from "../support/mysql_fixture.ts";

Deno.test("mysql engine on MariaDB", async (t) => {
  const server: LocalServer = await startMysql();
  try {
    const { roUrl, adminBird } = await buildBird(server);
    const engine = createMysqlEngine({ url: roUrl, workers: 2, timeoutS: 5, sampleRows: 3 });
    let pids: number[] = [];
    try {
      await t.step("target is the db_id; execute returns distinct rows and a sample", async () => {
        assertEquals(engine.target("/any/root", "heroes"), "heroes");
        const r = await engine.execute("heroes", "SELECT name, height FROM hero ORDER BY id");
        assert(r.ok);
        assertEquals(r.columns, ["name", "height"]);
        assertEquals(r.rowCount, 4);
        assertEquals(r.rows[0], ["sAda", "n1.72"]);
        assertEquals(r.sample.length, 3);
        const dup = await engine.execute("heroes", "SELECT power_id FROM hero_power");
        assert(dup.ok && dup.rowCount === 5 && dup.rows.length === 3);
        pids = engine.pids();
        assert(pids.length >= 1, "statements run in worker processes");
        const bad = await engine.execute("heroes", "SELECT nope FROM hero");
        assert(!bad.ok && bad.kind === "error" && /Unknown column/.test(bad.error), JSON.stringify(bad));
      });

      await t.step("executeEach stops at the first failure", async () => {
        const rs = await engine.executeEach("heroes", ["SELECT 1", "SELECT x", "SELECT 2"]);
        assertEquals(rs.length, 2);
        assert(rs[0].ok && !rs[1].ok);
      });

      let goldDigest: GoldDigest | null = null;
      await t.step("score: match, mismatch, pred failure leaves gold unrun", async () => {
        const gold = "SELECT weight FROM hero WHERE weight IS NOT NULL";
        const hit = await engine.score("heroes", "SELECT weight * 1 FROM hero WHERE id <> 3", { gold });
        assert(hit.match, JSON.stringify(hit));
        assertEquals(hit.softF1, 1);
        assert(hit.goldExecuted && hit.gold?.ok);
        goldDigest = hit.gold as GoldDigest;
        assert(goldDigest.digest, "a small gold result carries its digest for the cache");
        // Decimal('60.50') == 60.5 as floats, but Decimal('1.6') != 1.6 (the float is not exactly 1.6).
        const floats = await engine.score("heroes", "SELECT weight + 0e0 FROM hero WHERE id <> 3", { gold });
        assert(floats.match, "DECIMAL 60.50/80.00/55.25 equal their floats exactly");
        const miss = await engine.score(
          "heroes",
          "SELECT CAST(height AS DECIMAL(4,2)) FROM hero WHERE id = 1",
          {
            gold: "SELECT height FROM hero WHERE id = 1",
          },
        );
        assert(!miss.match, "Decimal('1.72') != 1.72");
        const failed = await engine.score("heroes", "SELECT nope FROM hero", { gold });
        assert(!failed.pred.ok && failed.gold === null && !failed.goldExecuted && !failed.match);
        const noGold = await engine.score("heroes", "SELECT 1", { gold: null });
        assert(noGold.pred.ok && noGold.gold === null);
      });

      await t.step("score against a cached gold digest", async () => {
        const r = await engine.score("heroes", "SELECT weight FROM hero WHERE id IN (1, 2, 4)", {
          gold: goldDigest!,
        });
        assert(r.match && !r.goldExecuted);
        const r2 = await engine.score("heroes", "SELECT weight FROM hero WHERE id IN (1, 2)", {
          gold: goldDigest!,
        });
        assert(!r2.match && r2.softF1 > 0 && r2.softF1 < 1);
      });

      await t.step("session state does not leak from one question to the next", async () => {
        const a = await engine.execute("heroes", "SELECT @leak := 42");
        assert(a.ok);
        // Same session (one worker would do), reset in between: the variable is gone.
        for (let i = 0; i < 3; i++) {
          const b = await engine.execute("heroes", "SELECT @leak");
          assert(b.ok && b.rows[0][0] === "z", JSON.stringify(b));
        }
      });

      await t.step("catalog from the manifest and information_schema", async () => {
        const cat = await engine.catalog("heroes");
        assertEquals(cat.map((x) => x.name), ["hero", "hero_power", "power"]);
        const hero = cat[0];
        assertEquals(hero.columns.map((c) => [c.name, c.type, c.notNull]), [
          ["id", "int(11)", true],
          ["name", "varchar(64)", true],
          ["height", "double", false],
          ["weight", "decimal(6,2)", false],
          ["born", "date", false],
        ]);
        assertEquals(hero.primaryKey, ["id"]);
        const hp = cat[1];
        assertEquals(hp.primaryKey, ["hero_id", "power_id"]);
        assertEquals(
          hp.foreignKeys.map((f) => [f.columns, f.refTable, f.refColumns]).sort(),
          [[["hero_id"], "hero", ["id"]], [["power_id"], "power", ["id"]]],
        );
        assertEquals((await engine.catalog("shop")).map((x) => x.name), ["item"]);
      });

      await t.step("contentKey from the manifest; null without one", async () => {
        const k = await engine.contentKey("heroes");
        assert(k && /^[0-9a-f]{64}$/.test(k));
        assert(k !== await engine.contentKey("shop"));
        assertEquals(await engine.contentKey("absent"), null);
        await adminRun(adminBird, [
          "UPDATE text2sql_loaded SET status = 'loading' WHERE table_name = 'item'",
        ]);
        assertEquals(await engine.contentKey("shop"), null);
      });

      await t.step("info names the server without the password", async () => {
        const info = await engine.info();
        assertEquals(info.dialect, "mysql");
        assertEquals(info.engine, "mysql");
        assert(/MariaDB/.test(info.version), info.version);
        assert(/flavour=mariadb/.test(info.semantics));
        const pw = new URL(roUrl).password;
        // The server, never a credential (URL user info counts as one).
        const port = new URL(roUrl).port;
        const location = info.location ?? "";
        assert(
          !location.includes(pw) && !location.includes("t2s_ro") && location.includes(`:${port}/`),
          location,
        );
      });

      await t.step("a wrong password fails with a clear error and no secret", async () => {
        const u = new URL(roUrl);
        u.password = "wrong-secret-123";
        const bad = createMysqlEngine({ url: u.toString(), workers: 1 });
        const r = await bad.execute("heroes", "SELECT 1").catch((e) => ({ thrown: String(e) }));
        await bad.close();
        const text = JSON.stringify(r);
        assert(/Access denied/.test(text) && !text.includes("wrong-secret-123"), text);
      });
    } finally {
      await engine.close();
    }
    assertEquals(engine.pids(), []);
    for (const pid of pids) {
      let alive = true;
      try {
        Deno.kill(pid, "SIGCONT");
      } catch {
        alive = false;
      }
      assert(!alive, `worker ${pid} outlived the engine`);
    }
  } finally {
    await server.stop();
  }
});
