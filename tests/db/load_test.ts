/**
 * `lib/db/` against real servers (one private PostgreSQL 15 and one MariaDB per file): superhero and a database
 * of odd values round-trip (the loader verifies every value; the tests read some back), the 52 superhero gold
 * queries of mini-dev compared with their SQLite gold as BIRD compares (Python, psycopg2/pymysql), the read-only
 * user, reruns (a load killed half-way, a second load, foreign tables), and the dump path on dumps made here by
 * `pg_dump` and `mariadb-dump` in minidev.zip's layout.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import {
  connectAdmin,
  connectMysql,
  connectPostgres,
  type DbConnection,
  formatDbUrl,
  type LoadDialect,
  loadSqliteDatabases,
  openTargetDatabase,
  parseDbUrl,
  readManifest,
} from "../../lib/db/mod.ts";
import { type LocalServer, postgresBinDir, startMysql, startPostgres } from "../../lib/util/mod.ts";

const ROOT = join(import.meta.dirname!, "..", "..");
const SAMPLE = join(ROOT, "data", "sample", "dev_databases");
const MINI = join(ROOT, "data", "sample", "mini_dev");
/** The bundled mini-dev questions in a dialect (their gold SQL). */
const miniDev = (d: string) => join(MINI, `mini_dev_${d}.json`);
/** The odd database's "Big Int" column read back as text, in either dialect (past 2^53, both 64-bit ends). */
const BIG_INTS = ["9223372036854775807", "-9223372036854775808", "2147483648", null, "0"];

let servers: Promise<{ pg: LocalServer; my: LocalServer }> | null = null;
const started = () =>
  servers ??= Promise.all([startPostgres(), startMysql()]).then(([pg, my]) => ({ pg, my }));
const adminUrl = async (d: LoadDialect) => (await started())[d === "postgresql" ? "pg" : "my"].adminUrl;
const withDb = (url: string, database: string) => formatDbUrl(parseDbUrl(url), { database });

async function cli(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "lib/cli/cli.ts"), "db", "load", ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function python(args: string[]): Promise<string> {
  const out = await new Deno.Command("/usr/bin/python3", { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`python ${args[0]} failed: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** A BIRD-shaped database of values that are hard to move between engines. */
function buildOddDb(root: string): void {
  Deno.mkdirSync(join(root, "odd"), { recursive: true });
  const db = new DatabaseSync(join(root, "odd", "odd.sqlite"));
  db.exec("PRAGMA foreign_keys = OFF"); // BIRD's files hold violating rows too
  db.exec(`CREATE TABLE "Odd Table" (
    id INTEGER NOT NULL PRIMARY KEY, "Big Int" INTEGER, dbl, "Txt" TEXT, "blob" BLOB, mixed INTEGER,
    "order" TEXT, "When" DATE, "Enrollment (K-12)" REAL, ts DATETIME, inf REAL, nul TEXT);
  CREATE TABLE "select" (k INTEGER, "Odd Id" INTEGER, FOREIGN KEY ("Odd Id") REFERENCES "Odd Table"(id));`);
  const ins = db.prepare(`INSERT INTO "Odd Table" VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`);
  ins.run(
    1,
    9223372036854775807n,
    0.1,
    "",
    new Uint8Array([0, 255]),
    1,
    "a",
    "2012-01-31",
    12.5,
    "2012-01-31 10:00:00",
    1e999,
    "a\u0000b",
  );
  ins.run(
    2,
    -9223372036854775808n,
    1e308,
    "😀 ünïcödé ∑",
    new Uint8Array([]),
    "text",
    "b",
    "2000-02-29",
    -0.0,
    null,
    -1e999,
    "plain",
  );
  ins.run(
    3,
    2147483648n,
    -0.0,
    'it\'s "quoted"\n\ttab\\ and $1 and \u00a0',
    null,
    2.5,
    null,
    null,
    5e-324,
    "1999-12-31 23:59:59",
    1.5,
    null,
  );
  ins.run(4, null, 5e-324, null, new TextEncoder().encode("\u0000\u0001"), null, "", null, null, null, 0, "");
  ins.run(
    5,
    0,
    0.30000000000000004,
    "x",
    null,
    9007199254740993n,
    " trailing ",
    "1970-01-01",
    1e-300,
    null,
    null,
    "\u0000",
  );
  db.exec(`INSERT INTO "select" VALUES (1, 1), (2, 99)`); // 99: violates the foreign key
  db.close();
}

const both: LoadDialect[] = ["postgresql", "mysql"];
const targetOf = { postgresql: "bird", mysql: "BIRD" } as const;

Deno.test("db load: superhero round-trips into PostgreSQL and MariaDB, keys and manifest included", async () => {
  for (const dialect of both) {
    const conn = await openTargetDatabase(await adminUrl(dialect), { dialect, database: targetOf[dialect] });
    try {
      const r = await loadSqliteDatabases(conn, { dialect, dbRoot: SAMPLE, dbIds: ["superhero"] });
      assertEquals(r.tables.length, 10);
      assertEquals(r.tables.reduce((s, t) => s + t.rows, 0), 10614);
      assertEquals(r.foreignKeys, { added: 11, skipped: [] });
      const m = await readManifest(conn, dialect);
      assertEquals(m.filter((x) => x.status === "done" && x.dbId === "superhero").length, 10);
      const col = dialect === "postgresql"
        ? await conn.query("SELECT full_name FROM superhero WHERE id = 1")
        : await conn.query("SELECT `full_name` FROM `superhero` WHERE `id` = 1");
      assertEquals(col.rows, [["Charles Chandler"]]);
      // a second load of the same sources keeps every table
      const again = await loadSqliteDatabases(conn, { dialect, dbRoot: SAMPLE, dbIds: ["superhero"] });
      assert(again.tables.every((t) => t.action === "kept"));
    } finally {
      await conn.close();
    }
  }
});

Deno.test("db load: the 52 superhero gold queries equal their SQLite gold as BIRD compares (PostgreSQL, MySQL)", async () => {
  // Loaded by the previous test (same servers). The differences left are the official gold's own (README).
  const expected: Record<LoadDialect, number[]> = { postgresql: [750, 788], mysql: [750] };
  for (const dialect of both) {
    const out = JSON.parse(
      await python([
        join(ROOT, "tests/db/gold_compare.py"),
        dialect,
        withDb(await adminUrl(dialect), targetOf[dialect]),
        join(SAMPLE, "superhero", "superhero.sqlite"),
        "superhero",
        miniDev(dialect),
        miniDev("sqlite"),
      ]),
    );
    assertEquals(out.total, 52);
    assertEquals(out.differ.map((d: { question_id: number }) => d.question_id), expected[dialect]);
    assert(out.differ.every((d: { error: string | null }) => d.error === null), JSON.stringify(out.differ));
  }
});

Deno.test("db load: odd values, names and mixed-type columns round-trip; notes say what changed", async () => {
  const root = await Deno.makeTempDir({ prefix: "t2s-odd-" });
  try {
    buildOddDb(root);
    for (const dialect of both) {
      const conn = await openTargetDatabase(await adminUrl(dialect), { dialect, database: "odd" });
      try {
        const r = await loadSqliteDatabases(conn, { dialect, dbRoot: root });
        const odd = r.tables.find((t) => t.sourceTable === "Odd Table")!;
        assertEquals(odd.tableName, "Odd Table");
        assertEquals(odd.rows, 5);
        const type = (c: string) => odd.columns.find((x) => x.source === c)!.type;
        assert(
          odd.notes.some((n) => n.startsWith("mixed: holds 2 integer, 1 real, 1 text")),
          odd.notes.join("|"),
        );
        assertEquals(type("mixed"), dialect === "postgresql" ? "text" : "TEXT");
        assertEquals(type("When"), dialect === "postgresql" ? "date" : "DATE");
        assertEquals(type("ts"), dialect === "postgresql" ? "timestamp" : "DATETIME");
        assertEquals(type("Big Int"), dialect === "postgresql" ? "bigint" : "BIGINT");
        if (dialect === "postgresql") {
          assertEquals(type("nul"), "bytea");
          assertEquals(odd.columns.find((c) => c.source === "Txt")!.target, "txt");
          const v = await conn.query(
            `SELECT "Big Int", dbl, mixed, "Enrollment (K-12)", inf FROM "Odd Table" ORDER BY id`,
          );
          assertEquals(v.rows.map((x) => x[0]), BIG_INTS);
          assertEquals(v.rows.map((x) => x[1]), ["0.1", "1e+308", "-0", "5e-324", "0.30000000000000004"]);
          assertEquals(v.rows.map((x) => x[2]), ["1", "text", "2.5", null, "9007199254740993"]);
          assertEquals(v.rows.map((x) => x[4]), ["Infinity", "-Infinity", "1.5", "0", null]);
        } else {
          assertEquals(type("inf"), "TEXT");
          assert(odd.notes.some((n) => n.startsWith("inf: holds 2 infinite reals")));
          const v = await conn.query(
            "SELECT `Big Int`, `dbl`, `nul`, HEX(`blob`) FROM `Odd Table` ORDER BY id",
          );
          assertEquals(v.rows.map((x) => x[0]), BIG_INTS);
          assertEquals(v.rows.map((x) => x[2]), ["a\u0000b", "plain", null, "", "\u0000"]);
          assertEquals(v.rows.map((x) => x[3]), ["00FF", "", null, "0001", null]);
        }
        assertEquals(r.foreignKeys.added, 0);
        assertEquals(r.foreignKeys.skipped.length, 1);
      } finally {
        await conn.close();
      }
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("db load: the read-only user can SELECT and cannot write or create (PostgreSQL, MariaDB)", async () => {
  for (const dialect of both) {
    const admin = withDb(await adminUrl(dialect), targetOf[dialect]);
    const r = await cli(["--dialect", dialect, "--db-url", admin, "--db-root", SAMPLE, "--db", "superhero"], {
      TEXT2SQL_RO_PASSWORD: "ro-pass word",
    });
    assertEquals(r.code, 0, r.stderr);
    assert(r.stdout.includes("already loaded: 10 tables of superhero"), r.stdout);
    assert(!(r.stdout + r.stderr).includes(parseDbUrl(admin).password ?? "\u0000never"));
    assert(!(r.stdout + r.stderr).includes("ro-pass word"));
    const ro = formatDbUrl({ ...parseDbUrl(admin), user: "text2sql_ro", password: "ro-pass word" });
    const conn: DbConnection = dialect === "postgresql" ? await connectPostgres(ro) : await connectMysql(ro);
    try {
      assertEquals((await conn.query("SELECT count(*) FROM superhero")).rows, [["750"]]);
      const refused = async (sql: string) => {
        let failed = false;
        await conn.exec(sql).catch(() => (failed = true));
        assert(failed, `${dialect} read-only user ran: ${sql}`);
      };
      await refused("INSERT INTO superhero (id) VALUES (100000)");
      await refused("CREATE TABLE evil (x int)");
      await refused("DELETE FROM hero_power");
      if (dialect === "postgresql") {
        await refused("CREATE TEMP TABLE evil (x int)");
        await refused("SET ROLE postgres");
        assertEquals((await conn.query("SHOW default_transaction_read_only")).rows, [["on"]]);
      } else {
        await refused("CREATE TEMPORARY TABLE evil (x int)");
        await refused("CREATE DATABASE evil");
      }
    } finally {
      await conn.close();
    }
  }
});

Deno.test("db load: a load killed half-way is resumed; foreign tables are refused without --replace", async () => {
  const root = await Deno.makeTempDir({ prefix: "t2s-bulk-" });
  try {
    Deno.mkdirSync(join(root, "bulk"));
    const db = new DatabaseSync(join(root, "bulk", "bulk.sqlite"));
    db.exec("CREATE TABLE t1 (a INTEGER, b TEXT, c REAL); CREATE TABLE t2 (a INTEGER, b TEXT, c REAL);");
    db.exec(`WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 60000)
      INSERT INTO t1 SELECT n, 'row ' || n, n / 7.0 FROM g; INSERT INTO t2 SELECT * FROM t1;`);
    db.close();
    for (const dialect of both) {
      const url = withDb(await adminUrl(dialect), "bulk");
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          join(ROOT, "lib/cli/cli.ts"),
          "db",
          "load",
          "--dialect",
          dialect,
          "--db-url",
          url,
          "--db-root",
          root,
        ],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      let seen = "";
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        seen += chunk;
        if (seen.includes("[2/2]")) {
          child.kill("SIGKILL");
          break;
        }
      }
      await child.status;
      const conn = await connectAdmin(url);
      const mid = await readManifest(conn, dialect);
      await conn.close();
      assertEquals(mid.map((m) => [m.tableName, m.status]), [["t1", "done"], ["t2", "loading"]]);
      const rerun = await cli(["--dialect", dialect, "--db-url", url, "--db-root", root]);
      assertEquals(rerun.code, 0, rerun.stderr);
      assert(
        rerun.stdout.includes("loaded 1 tables") && rerun.stdout.includes("1 kept from an earlier load"),
        rerun.stdout,
      );
      // a table nobody loaded, with a name the load wants: refused, then replaced on request
      const c2 = await connectAdmin(url);
      await c2.exec("DROP TABLE t1");
      await c2.exec(dialect === "postgresql" ? "CREATE TABLE t1 (x int)" : "CREATE TABLE t1 (x int)");
      await c2.exec(
        `DELETE FROM ${
          dialect === "postgresql" ? "text2sql.loaded" : "text2sql_loaded"
        } WHERE table_name = 't1'`,
      );
      await c2.close();
      const refused = await cli(["--dialect", dialect, "--db-url", url, "--db-root", root]);
      assertEquals(refused.code, 1);
      assert(
        refused.stderr.trim().split("\n").at(-1)!.includes("already holds 1 of these tables (t1)"),
        refused.stderr,
      );
      const replaced = await cli(["--dialect", dialect, "--db-url", url, "--db-root", root, "--replace"]);
      assertEquals(replaced.code, 0, replaced.stderr);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("db load: official-dump layout (pg_dump, mariadb-dump) loads into a fresh database with equal values", async () => {
  const root = await Deno.makeTempDir({ prefix: "t2s-minidev-" });
  try {
    const dbRoot = join(root, "minidev", "MINIDEV", "dev_databases");
    Deno.mkdirSync(join(dbRoot, "superhero"), { recursive: true });
    Deno.copyFileSync(
      join(SAMPLE, "superhero", "superhero.sqlite"),
      join(dbRoot, "superhero", "superhero.sqlite"),
    );
    const { pg, my } = await started();
    Deno.mkdirSync(join(root, "minidev", "MINIDEV_postgresql"));
    Deno.mkdirSync(join(root, "minidev", "MINIDEV_mysql"));
    const dump = async (cmd: string, args: string[], file: string) => {
      const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
      if (!out.success) throw new Error(`${cmd}: ${new TextDecoder().decode(out.stderr)}`);
      Deno.writeFileSync(file, out.stdout);
    };
    await dump(`${postgresBinDir()}/pg_dump`, [
      "-h",
      "127.0.0.1",
      "-p",
      String(pg.port),
      "-U",
      "postgres",
      "--no-owner",
      "--no-privileges",
      "-n",
      "public",
      "bird",
    ], join(root, "minidev", "MINIDEV_postgresql", "BIRD_dev.sql"));
    const myUrl = parseDbUrl(my.adminUrl);
    await dump("/usr/bin/mariadb-dump", [
      "--no-defaults",
      "-h",
      "127.0.0.1",
      "-P",
      String(my.port),
      "-u",
      "root",
      `-p${myUrl.password}`,
      "--ignore-table=BIRD.text2sql_loaded",
      "BIRD",
    ], join(root, "minidev", "MINIDEV_mysql", "BIRD_dev.sql"));
    assert(
      Deno.readTextFileSync(join(root, "minidev", "MINIDEV_postgresql", "BIRD_dev.sql")).includes(
        "FROM stdin;",
      ),
    );
    for (const dialect of both) {
      const url = withDb(await adminUrl(dialect), "from_dump");
      const r = await cli(["--dialect", dialect, "--db-url", url, "--db-root", dbRoot]);
      assertEquals(r.code, 0, r.stderr);
      assert(r.stderr.includes("found the official dump"), r.stderr);
      const a = await connectAdmin(withDb(await adminUrl(dialect), targetOf[dialect]));
      const b = await connectAdmin(url);
      const sums = async (c: DbConnection) =>
        (await readManifest(c, dialect)).filter((m) => m.dbId === "superhero")
          .map((m) => [m.tableName, m.rows, m.checksum]).sort();
      const [orig, fromDump] = [await sums(a), await sums(b)];
      await a.close();
      await b.close();
      assertEquals(fromDump.length, 10);
      assertEquals(fromDump, orig);
      const again = await cli(["--dialect", dialect, "--db-url", url, "--db-root", dbRoot]);
      assert(again.stdout.includes("already loaded"), again.stdout);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("db load: servers stop", async () => {
  if (!servers) return;
  const { pg, my } = await servers;
  // stop() waits on an unref'd watchdog process: hold the event loop open meanwhile.
  const hold = setInterval(() => {}, 1000);
  try {
    await Promise.all([pg.stop(), my.stop()]);
  } finally {
    clearInterval(hold);
  }
});
