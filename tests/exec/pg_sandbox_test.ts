/**
 * The PostgreSQL sandbox's deeper holes, on a real PostgreSQL 15 server (superhero loaded by `lib/db`, evaluated as
 * the read-only role) and on PGlite where they apply:
 * 1. a query string cannot leave the read-only transaction to alter the evaluation role itself (its password, its
 *    settings: no table privilege is needed for that): the transaction's first snapshot is taken before the query
 *    (`SET TRANSACTION READ WRITE` fails even unrefused) and transaction control, role and limit changes are refused
 *    by a lexer pass that splits strings as the server does (checked here against the server's own split);
 * 2. a query that turns off `statement_timeout` and `client_connection_check_interval` (through `set_config`, which
 *    no statement check sees) and sleeps: its backend is terminated once its worker is killed;
 * 3. `temp_file_limit` on the role (set by the loader, not changeable by the role, not even through
 *    `query_to_xml`): a sort spilling past it fails with the temporary-file error, and the server's temporary
 *    files never grow past the bound.
 * One server for the file.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import {
  connectPostgres,
  type DbConnection,
  ensurePgliteData,
  openTargetDatabase,
} from "../../lib/db/mod.ts";
import { loadSuperheroReadOnly } from "../support/pg_superhero.ts";
import { createPgEngine, type PgEngine } from "../../lib/exec/pg_engine.ts";
import { PgSession } from "../../lib/exec/pg_session.ts";
import { type LocalServer, startPostgres } from "../../lib/util/local_server.ts";
import { ALLOWED, REFUSED } from "../support/pg_statement_cases.ts";

const DB_ROOT = new URL("../../data/sample/dev_databases", import.meta.url).pathname;
const RO = "text2sql_ro";
const PASSWORD = "ro-sandbox-pw";
const TEMP_LIMIT_KB = 8 * 1024;

/** Strings that would alter the evaluation role from inside the evaluation, had they left the read-only transaction. */
const ESCAPES = [
  `SET TRANSACTION READ WRITE; ALTER ROLE ${RO} PASSWORD 'x'; SELECT 1`,
  `SET TRANSACTION READ WRITE; ALTER ROLE ${RO} SET statement_timeout = 0; SELECT 1`,
  `COMMIT; SET default_transaction_read_only = off; ALTER ROLE ${RO} PASSWORD 'x'; SELECT 1`,
  `COMMIT; BEGIN READ WRITE; ALTER ROLE ${RO} PASSWORD 'x'; COMMIT; SELECT 1`,
  `ROLLBACK; SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; ALTER ROLE ${RO} PASSWORD 'x'; SELECT 1`,
  `END; START TRANSACTION READ WRITE; ALTER ROLE ${RO} SET default_transaction_read_only = off; SELECT 1`,
  `ABORT; SET SESSION default_transaction_read_only = off; ALTER ROLE ${RO} PASSWORD 'x'; SELECT 1`,
  `SELECT 1 /* ; */; commit; set default_transaction_read_only = off; alter role ${RO} password 'x'; select 1`,
  `SELECT set_config('transaction_read_only', 'off', true); ALTER ROLE ${RO} PASSWORD 'x'; SELECT 1`,
  `DO $$BEGIN SET TRANSACTION READ WRITE; END$$; ALTER ROLE ${RO} PASSWORD 'x'; SELECT 1`,
];

/** The role's password still works and its settings are as loaded. */
async function roleIntact(server: LocalServer, admin: DbConnection): Promise<string> {
  const conn = await connectPostgres(`postgres://${RO}:${PASSWORD}@${server.host}:${server.port}/bird`);
  await conn.close();
  const r = await admin.query("SELECT rolconfig::text FROM pg_roles WHERE rolname = $1", [RO]);
  return String(r.rows[0][0]);
}

/** Backends of the evaluation role (an admin connection sees them all). */
async function roleBackends(admin: DbConnection, where = "true"): Promise<number> {
  const r = await admin.query(`SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND ${where}`, [RO]);
  return Number(r.rows[0][0]);
}

/** Poll until `f` gives 0 (at most ~5 s); returns its last value. */
async function settles(f: () => Promise<number>): Promise<number> {
  let n = await f();
  for (let i = 0; i < 50 && n > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    n = await f();
  }
  return n;
}

/** Bytes under a folder (files only). */
function du(dir: string): number {
  let total = 0;
  try {
    for (const e of Deno.readDirSync(dir)) {
      const p = join(dir, e.name);
      try {
        if (e.isDirectory) total += du(p);
        else if (e.isFile) total += Deno.statSync(p).size;
      } catch { /* removed meanwhile */ }
    }
  } catch { /* not there (yet) */ }
  return total;
}

Deno.test("PostgreSQL sandbox: no escape from the read-only transaction, no orphan backend, bounded temp files", async (t) => {
  let server: LocalServer | null = null;
  let admin: DbConnection | null = null;
  const tmp = await Deno.makeTempDir({ prefix: "t2s-pg-sandbox-" });
  const engines: PgEngine[] = [];
  try {
    server = await startPostgres();
    admin = await openTargetDatabase(server.adminUrl, { dialect: "postgresql", database: "bird" });
    const role = await loadSuperheroReadOnly(admin, {
      name: RO,
      password: PASSWORD,
      tempFileLimit: `${TEMP_LIMIT_KB}kB`,
    });
    assertEquals(role.tempFileLimit, { ok: true, value: `${TEMP_LIMIT_KB}kB` });
    const roUrl = `postgres://${RO}:${PASSWORD}@${server.host}:${server.port}/bird`;
    const before = await roleIntact(server, admin);
    const onServer = createPgEngine({ url: roUrl, workers: 2, timeoutS: 10 });
    engines.push(onServer);

    await t.step(
      "escapes: each fails its own question; the role's password and settings are unchanged",
      async () => {
        for (const sql of ESCAPES) {
          const r = await onServer.score("superhero", sql, { gold: "SELECT 1" });
          assert(!r.pred.ok && r.pred.error.trim() !== "", `not refused: ${sql}`);
          assertEquals(await roleIntact(server!, admin!), before, `the role changed after: ${sql}`);
          const next = await onServer.execute("superhero", "SELECT count(*) FROM superhero");
          assert(next.ok, `the next question failed after ${sql}`);
        }
        const refused = await onServer.execute("superhero", ESCAPES[2]);
        assert(!refused.ok && /^refused: COMMIT would leave/.test(refused.error), JSON.stringify(refused));
      },
    );

    await t.step(
      "the snapshot is taken before the query: SET TRANSACTION READ WRITE fails even unrefused",
      async () => {
        // The session below the worker's check, as the worker drives it for a question.
        const session = new PgSession({ kind: "server", url: roUrl });
        try {
          assertEquals(await session.begin(10), null);
          const r = await session.run(`SET TRANSACTION READ WRITE; ALTER ROLE ${RO} PASSWORD 'x'; SELECT 1`, {
            maxBytes: 1 << 20,
            sampleRows: 0,
          });
          assert(!r.ok && /must be set before any query/.test(r.error), JSON.stringify(r));
          await session.end();
        } finally {
          await session.drop();
        }
        assertEquals(await roleIntact(server!, admin!), before);
      },
    );

    await t.step("the server splits the quoting cases where pg_statements.ts splits them", async () => {
      // A hidden COMMIT replaced by a marker: the last result is the marker exactly when the server saw a
      // statement there (the engine returns the last result, as psycopg2 does).
      const marked = [...REFUSED, ...ALLOWED].filter((s) =>
        /COMMIT/.test(s) && /['"$\/-]/.test(s) && !/^(COMMIT|PREPARE)/.test(s)
      );
      assert(marked.length >= 15, String(marked.length));
      for (const sql of marked) {
        const probe = sql.replace(/COMMIT/g, "SELECT 424242");
        const r = await onServer.execute("superhero", probe);
        const seen = r.ok && r.rows.length === 1 && r.rows[0][0].slice(1) === "424242";
        assertEquals(seen, REFUSED.includes(sql), `the server and pg_statements.ts disagree on: ${sql}`);
      }
    });

    await t.step("PGlite: the same escapes fail, the next question works", async () => {
      const data = await ensurePgliteData({ dbRoot: DB_ROOT, dbIds: ["superhero"], cacheDir: tmp });
      const onPglite = createPgEngine({ pgliteData: data.path, workers: 1, timeoutS: 30 });
      engines.push(onPglite);
      for (const sql of ESCAPES) {
        const r = await onPglite.score("superhero", sql, { gold: "SELECT 1" });
        assert(!r.pred.ok && r.pred.error.trim() !== "", `not refused on PGlite: ${sql}`);
      }
      // Below the worker's check: PGlite's write detector sees a write in a transaction that is still open.
      const { PGlite } = await import("@electric-sql/pglite");
      const session = new PgSession({
        kind: "pglite",
        open: async () => await PGlite.create({ loadDataDir: new Blob([await Deno.readFile(data.path)]) }),
      });
      try {
        assertEquals(await session.begin(30), null);
        const w = await session.run(
          `END; START TRANSACTION READ WRITE; ALTER ROLE ${RO} SET work_mem = '1MB'; SELECT 1`,
          { maxBytes: 1 << 20, sampleRows: 0 },
        );
        assert(!w.ok && /wrote to the database/.test(w.error), JSON.stringify(w));
        await session.end();
      } finally {
        await session.drop();
      }
      const cfg = await onPglite.execute(
        "superhero",
        `SELECT rolconfig::text FROM pg_roles WHERE rolname = '${RO}'`,
      );
      assert(
        cfg.ok && !/statement_timeout=0|read_only=off/.test(JSON.stringify(cfg.rows)),
        JSON.stringify(cfg),
      );
    });

    await t.step(
      "a killed worker's backend is terminated, whatever limits the query turned off",
      async () => {
        const engine = createPgEngine({ url: roUrl, workers: 2, timeoutS: 1 });
        engines.push(engine);
        // Refused outright when written as SET …
        const set = await engine.execute("superhero", "SET statement_timeout = 0; SELECT pg_sleep(1e6)");
        assert(
          !set.ok && set.kind === "error" && /^refused: SET statement_timeout/.test(set.error),
          JSON.stringify(set),
        );
        // … but set_config is a function call: the worker is killed at the limit, its backend sleeps on …
        const r = await engine.score(
          "superhero",
          "SELECT set_config('statement_timeout', '0', false), " +
            "set_config('client_connection_check_interval', '0', false); SELECT pg_sleep(1e6)",
          { gold: "SELECT 1" },
        );
        assert(!r.pred.ok && r.pred.kind === "timeout", JSON.stringify(r.pred));
        // … until the engine terminates it.
        const sleeping = () => roleBackends(admin!, "query LIKE '%pg_sleep(1e6)%'");
        assertEquals(await settles(sleeping), 0, "the killed worker's backend still runs its query");
        await engine.close();
        assertEquals(engine.pids(), []);
        // Once the engine is closed, no backend of the role is left (the first engine's are idle and still open).
        await onServer.close();
        assertEquals(
          await settles(() => roleBackends(admin!)),
          0,
          "a backend of the role outlived the engines",
        );
      },
    );

    await t.step(
      "temp_file_limit: set on the role, not liftable by the role; a spilling sort fails within it",
      async () => {
        const engine = createPgEngine({ url: roUrl, workers: 1, timeoutS: 120 });
        engines.push(engine);
        const shown = await engine.execute("superhero", "SELECT current_setting('temp_file_limit')");
        assert(shown.ok && shown.rows[0][0] === `s${TEMP_LIMIT_KB / 1024}MB`, JSON.stringify(shown));
        for (
          const lift of [
            "SET temp_file_limit = -1",
            "SELECT set_config('temp_file_limit', '-1', false)",
            "SELECT query_to_xml('SELECT set_config(''temp_file_limit'', ''-1'', false)', true, true, '')",
          ]
        ) {
          const r = await engine.execute("superhero", lift);
          assert(!r.ok, `lifted: ${lift}`);
        }
        const tmpDir = join(server!.dir, "data", "base", "pgsql_tmp");
        const dataBefore = du(join(server!.dir, "data"));
        let peak = 0;
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            peak = Math.max(peak, du(tmpDir));
            await new Promise((r) => setTimeout(r, 5));
          }
        })();
        // About 100 MB of rows to sort in 4 MB of work_mem: it spills.
        const r = await engine.execute(
          "superhero",
          "SELECT count(*) FROM (SELECT md5(g::text) || md5((g * 7)::text) AS m " +
            "FROM generate_series(1, 1500000) g ORDER BY 1) s",
        );
        sampling = false;
        await sampler;
        assert(
          !r.ok && /temporary file size exceeds temp_file_limit \(8192kB\)/.test(r.error),
          JSON.stringify(r),
        );
        assert(peak <= (TEMP_LIMIT_KB + 1024) * 1024, `temporary files reached ${peak} bytes`);
        const grown = du(join(server!.dir, "data")) - dataBefore;
        assert(grown <= (TEMP_LIMIT_KB + 1024) * 1024, `the data folder grew by ${grown} bytes`);
        console.log(`temp files peaked at ${(peak / 1024).toFixed(0)} kB (bound ${TEMP_LIMIT_KB} kB)`);
      },
    );
  } finally {
    for (const e of engines) await e.close();
    for (const e of engines) assertEquals(e.pids(), []);
    await admin?.close();
    await server?.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});
