/**
 * The PostgreSQL engine on a real PostgreSQL 15 server (superhero loaded by `lib/db`, evaluated as the read-only
 * role) and on embedded PGlite (the data `ensurePgliteData` builds): every superhero mini-dev gold query matches
 * itself; the verdicts of both baselines' superhero predictions equal mini-dev's official logic run with Debian's
 * psycopg2 against the same server (EX and Soft-F1 on the server; EX on PGlite, whose PostgreSQL 18 may order an
 * unordered result differently, which Soft-F1's row pairing sees); the catalog, content key and identity; no worker outlives
 * the engine. One server for the file.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { ensurePgliteData, openTargetDatabase } from "../../lib/db/mod.ts";
import { loadSuperheroReadOnly } from "../support/pg_superhero.ts";
import { createPgEngine, type PgEngine } from "../../lib/exec/pg_engine.ts";
import { type LocalServer, startPostgres } from "../../lib/util/local_server.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DB_ROOT = join(ROOT, "data/sample/dev_databases");
const MINI_DEV = join(ROOT, "data/sample/mini_dev/mini_dev_postgresql.json");
const PREDICTIONS = ["gpt-35-turbo", "phi-3-medium-128k-instruct-1"].map((m) =>
  join(ROOT, `data/sample/predictions/mini_dev/predict_mini_dev_${m}_postgresql.json`)
);

interface Pair {
  pred: string;
  gold: string;
}

/** Superhero's questions: gold SQL, and each baseline's predictions paired with it (the official file layout). */
function pairs(): { gold: string[]; predictions: Pair[][] } {
  const questions = JSON.parse(Deno.readTextFileSync(MINI_DEV)) as { db_id: string; SQL: string }[];
  const idx = questions.map((q, i) => [q, i] as const).filter(([q]) => q.db_id === "superhero");
  const predictions = PREDICTIONS.map((file) => {
    const p = JSON.parse(Deno.readTextFileSync(file)) as Record<string, string>;
    return idx.map(([q, i]) => ({ pred: p[String(i)].split("\t----- bird -----\t")[0], gold: q.SQL }));
  });
  return { gold: idx.map(([q]) => q.SQL), predictions };
}

/** mini-dev's `execute_sql` + `calculate_ex` / `calculate_f1_score`, verbatim in logic, with psycopg2. */
const OFFICIAL = `
import json, sys, psycopg2
def f1(predicted, ground_truth):
    if not predicted and not ground_truth:
        return 1.0
    set(predicted); set(ground_truth)
    predicted = list(dict.fromkeys(predicted)); ground_truth = list(dict.fromkeys(ground_truth))
    m, po, to = [], [], []
    for i, g in enumerate(ground_truth):
        if i >= len(predicted):
            m.append(0); to.append(1); continue
        p = predicted[i]; w = len(g)
        m.append(sum(1 for v in p if v in g) / w); po.append(sum(1 for v in p if v not in g) / w)
        to.append(sum(1 for v in g if v not in p) / w)
    for i in range(len(predicted) - len(ground_truth)):
        m.append(0); po.append(1); to.append(0)
    tp, fp, fn = sum(m), sum(po), sum(to)
    pr = tp / (tp + fp) if tp + fp > 0 else 0; rc = tp / (tp + fn) if tp + fn > 0 else 0
    return 2 * pr * rc / (pr + rc) if pr + rc > 0 else 0
out = []
for pair in json.loads(sys.stdin.read()):
    try:
        conn = psycopg2.connect(sys.argv[1]); cur = conn.cursor()
        cur.execute(pair["pred"]); p = cur.fetchall(); cur.execute(pair["gold"]); g = cur.fetchall(); conn.close()
        out.append([1 if set(p) == set(g) else 0, f1(p, g)])
    except Exception:
        out.append([0, 0])
print(json.dumps(out))
`;

async function official(url: string, list: Pair[]): Promise<[number, number][]> {
  const child = new Deno.Command("/usr/bin/python3", {
    args: ["-c", OFFICIAL, url],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(list)));
  await w.close();
  const out = await child.output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

async function verdicts(engine: PgEngine, list: Pair[]): Promise<[number, number][]> {
  return await Promise.all(list.map(async ({ pred, gold }) => {
    const r = await engine.score("superhero", pred, { gold });
    return [r.match ? 1 : 0, r.softF1] as [number, number];
  }));
}

Deno.test("PgEngine on a PostgreSQL 15 server and on PGlite scores superhero as mini-dev's official psycopg2 logic", async (t) => {
  let server: LocalServer | null = null;
  const tmp = await Deno.makeTempDir({ prefix: "t2s-pg-engine-" });
  const engines: PgEngine[] = [];
  try {
    server = await startPostgres();
    const admin = await openTargetDatabase(server.adminUrl, { dialect: "postgresql", database: "bird" });
    try {
      await loadSuperheroReadOnly(admin, { password: "ro-secret-pw" });
    } finally {
      await admin.close();
    }
    const adminBird = server.adminUrl.replace(/\/postgres$/, "/bird");
    const roUrl = `postgres://text2sql_ro:ro-secret-pw@${server.host}:${server.port}/bird`;
    const t0 = performance.now();
    const data = await ensurePgliteData({ dbRoot: DB_ROOT, dbIds: ["superhero"], cacheDir: tmp });
    console.log(`PGlite data built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const onServer = createPgEngine({ url: roUrl, workers: 2, timeoutS: 30 });
    const onPglite = createPgEngine({ pgliteData: data.path, workers: 2, timeoutS: 30 });
    engines.push(onServer, onPglite);
    const { gold, predictions } = pairs();
    assertEquals(gold.length, 52);

    await t.step("identity: dialect, engine, version, location without the password", async () => {
      const a = await onServer.info();
      assertEquals([a.dialect, a.engine], ["postgresql", "postgresql"]);
      assert(a.version.startsWith("15."), a.version);
      assert(
        a.location && !a.location.includes("ro-secret-pw") && a.location.includes(`:${server!.port}/bird`),
      );
      const b = await onPglite.info();
      assertEquals([b.dialect, b.engine], ["postgresql", "pglite"]);
      assert(/PGlite/.test(b.version), b.version);
    });

    await t.step("every superhero gold query matches itself (server and PGlite)", async () => {
      for (const engine of engines) {
        const t1 = performance.now();
        const out = await verdicts(engine, gold.map((g) => ({ pred: g, gold: g })));
        const info = await engine.info();
        console.log(`${info.engine}: 52 gold pairs in ${(performance.now() - t1).toFixed(0)} ms`);
        assertEquals(out.filter(([ex]) => ex !== 1).length, 0, `${info.engine}: ${JSON.stringify(out)}`);
      }
    });

    await t.step(
      "verdicts of both baselines equal the official psycopg2 logic on the same server",
      async () => {
        for (const list of predictions) {
          const want = await official(adminBird, list);
          for (const engine of engines) {
            const got = await verdicts(engine, list);
            // PGlite is PostgreSQL 18: a query without ORDER BY may return its rows in another order than the
            // 15 server, and Soft-F1 pairs rows by position (a version case); EX is a set comparison.
            const f1 = engine === onServer;
            const diff = got.map((g, i) => [i, g, want[i]] as const)
              .filter(([, g, w]) => g[0] !== w[0] || (f1 && Math.abs(g[1] - w[1]) > 1e-12))
              .map(([i, g, w]) => `#${i} ours ${g} official ${w}: ${list[i].pred.slice(0, 120)}`);
            assertEquals(diff, [], (await engine.info()).engine);
          }
          assert(want.some(([ex]) => ex === 1) && want.some(([ex]) => ex === 0));
        }
      },
    );

    await t.step("catalog: superhero's tables, columns in order with PostgreSQL types, keys", async () => {
      for (const engine of engines) {
        const cat = await engine.catalog("superhero");
        const names = cat.map((c) => c.name).sort();
        assert(names.includes("superhero") && names.includes("hero_power"), names.join(","));
        const hero = cat.find((c) => c.name === "superhero")!;
        assertEquals(hero.columns[0].name, "id");
        assertEquals(hero.primaryKey, ["id"]);
        assert(hero.columns.every((c) => c.type.length > 0));
        assert(hero.foreignKeys.some((f) => f.refTable === "publisher"), JSON.stringify(hero.foreignKeys));
        assertEquals(await engine.catalog("no_such_db"), []);
      }
    });

    await t.step("content key: from the manifest, stable, distinct per database", async () => {
      const a = await onServer.contentKey("superhero");
      assert(a && /^[0-9a-f]{64}$/.test(a));
      assertEquals(await onServer.contentKey("superhero"), a);
      assertEquals(await onServer.contentKey("no_such_db"), null);
      assertEquals(await onPglite.contentKey("superhero"), a, "same source, same loader: same content");
    });

    await t.step("statement semantics: last result, empty query, no results, duplicate columns", async () => {
      for (const engine of engines) {
        const two = await engine.execute("superhero", "SELECT 1 AS a; SELECT 2 AS a, 3 AS a");
        assert(two.ok && two.columns.join() === "a,a" && two.rows[0].join() === "n2,n3", JSON.stringify(two));
        const empty = await engine.execute("superhero", " ");
        assert(!empty.ok && /empty query/.test(empty.error));
        const set = await engine.execute("superhero", "SET enable_seqscan = off");
        assert(!set.ok && /no results to fetch/.test(set.error));
        // The prediction's session changes are seen by the gold query (one connection, one transaction).
        const tz = await engine.score("superhero", "SET TIME ZONE 'Asia/Kolkata'; SELECT 1", {
          gold: "SELECT current_setting('TimeZone')",
        });
        assertEquals(tz.gold && tz.gold.ok && tz.gold.sample, [["Asia/Kolkata"]]);
        // ... and never by the next request.
        const after = await engine.execute(
          "superhero",
          "SELECT current_setting('TimeZone') = 'Asia/Kolkata'",
        );
        assert(after.ok && after.rows[0][0] === "n0", JSON.stringify(after));
      }
    });
  } finally {
    for (const e of engines) await e.close();
    for (const e of engines) assertEquals(e.pids(), []);
    await server?.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});
