/**
 * The driver measurement behind `lib/db/`'s choice (README "Loading PostgreSQL and MySQL"): fetch a 300K-row,
 * four-column result as raw text with type OIDs, and insert 100K rows in parameterised batches, with `npm:pg` and
 * `npm:postgres` against one private PostgreSQL server, and with `npm:mysql2` against a MariaDB server.
 * Run: `deno run -A tests/db/measure_drivers.ts` (prints milliseconds, best of three).
 *
 * @module
 */
import pg from "pg";
// deno-lint-ignore no-import-prefix -- the loser of the measurement, kept out of deno.json; only this script uses it
import postgres from "npm:postgres@4.2.0";
import mysql from "mysql2/promise";
import { startMysql, startPostgres } from "../../lib/util/mod.ts";

const ROWS = 300_000;
const SELECT = `SELECT g::int8 AS i, g / 7.0::float8 AS f, 'text ' || g AS t, (g / 3.0)::numeric AS n
  FROM generate_series(1, ${ROWS}) g`;

async function best(label: string, fn: () => Promise<number>): Promise<void> {
  const times: number[] = [];
  let n = 0;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    n = await fn();
    times.push(performance.now() - t0);
  }
  console.log(`${label.padEnd(52)} ${Math.min(...times).toFixed(0).padStart(6)} ms  (${n} rows)`);
}

const rows = Array.from({ length: 100_000 }, (_, i) => [String(i), String(i / 7), `row ${i}`]);

await using pgServer = await startPostgres();
{
  const client = new pg.Client({
    connectionString: pgServer.adminUrl,
    types: { getTypeParser: () => (v: string) => v },
  });
  await client.connect();
  await best("pg: select, simple protocol, raw text, rowMode array", async () => {
    const r = await client.query({ text: SELECT, rowMode: "array" });
    if (typeof r.rows[0][1] !== "string" || r.fields[1].dataTypeID !== 701) throw new Error("not raw text");
    return r.rows.length;
  });
  await client.query("CREATE TABLE t_pg (i int8, f float8, t text)");
  await best("pg: insert 100K rows, 1000-row parameterised INSERTs", async () => {
    await client.query("TRUNCATE t_pg");
    for (let s = 0; s < rows.length; s += 1000) {
      const chunk = rows.slice(s, s + 1000);
      const ph = chunk.map((_, r) => `($${r * 3 + 1},$${r * 3 + 2},$${r * 3 + 3})`).join(",");
      await client.query(`INSERT INTO t_pg VALUES ${ph}`, chunk.flat());
    }
    return rows.length;
  });
  await client.end();
}
{
  const sql = postgres(pgServer.adminUrl, { max: 1, onnotice: () => {} });
  await best("postgres: select, unsafe().raw() buffers decoded", async () => {
    const r = await sql.unsafe(SELECT).raw();
    const dec = new TextDecoder();
    let n = 0;
    for (const row of r) {
      for (const v of row) if (v) n += dec.decode(v as Uint8Array).length;
    }
    return r.length;
  });
  await best("postgres: select, simple, raw text (parsers → null), values()", async () => {
    const r = await sql.unsafe(SELECT, [], { simple: true } as never).parsers(() => null).values();
    if (typeof r[0][1] !== "string" || r.columns[1].type !== 701) throw new Error("not raw text");
    return r.length;
  });
  await best("postgres: select, unsafe().values() (parsed)", async () => {
    const r = await sql.unsafe(SELECT).values();
    return r.length;
  });
  await sql.unsafe("CREATE TABLE t_js (i int8, f float8, t text)");
  await best("postgres: insert 100K rows, 1000-row parameterised INSERTs", async () => {
    await sql.unsafe("TRUNCATE t_js");
    for (let s = 0; s < rows.length; s += 1000) {
      const chunk = rows.slice(s, s + 1000);
      const ph = chunk.map((_, r) => `($${r * 3 + 1},$${r * 3 + 2},$${r * 3 + 3})`).join(",");
      await sql.unsafe(`INSERT INTO t_js VALUES ${ph}`, chunk.flat());
    }
    return rows.length;
  });
  await sql.end();
}

await using myServer = await startMysql();
{
  const url = new URL(myServer.adminUrl);
  const conn = await mysql.createConnection({
    host: url.hostname,
    port: Number(url.port),
    user: "root",
    password: decodeURIComponent(url.password),
    typeCast: (field, next) => (field.type === "BLOB" ? next() : field.string()),
    rowsAsArray: true,
  });
  const MY_SELECT = `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ${ROWS})
    SELECT n, n / 7e0, CONCAT('text ', n), n / 3 FROM g`;
  await conn.query("SET SESSION cte_max_recursion_depth = 1000000").catch(() => {});
  await conn.query("SET SESSION max_recursive_iterations = 1000000").catch(() => {});
  await best("mysql2: select, text protocol, typeCast to string", async () => {
    const [r] = await conn.query(MY_SELECT);
    return (r as unknown[]).length;
  });
  await conn.query("CREATE DATABASE IF NOT EXISTS m");
  await conn.query("USE m");
  await conn.query("CREATE TABLE t (i bigint, f double, t text)");
  await best("mysql2: insert 100K rows, 1000-row INSERT … VALUES ?", async () => {
    await conn.query("TRUNCATE t");
    for (let s = 0; s < rows.length; s += 1000) {
      await conn.query("INSERT INTO t VALUES ?", [rows.slice(s, s + 1000)]);
    }
    return rows.length;
  });
  await conn.end();
}
