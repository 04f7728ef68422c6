/**
 * PostgreSQL values compare as psycopg2 builds them and Python compares them: every probe runs through our session
 * (`pg_session.ts` → `pg_wire.ts` → `pg_values.ts`) and through Debian's `python3-psycopg2` on the same real
 * PostgreSQL 15 server the test starts. Asserted: the same probes fail (a value psycopg2 cannot build, an
 * unhashable list or dict, an empty query, no results to fetch, COPY); over every cell of every probe, two cells
 * are equal for Python (`==`, as `set()` uses it) exactly when their comparable values have the same key.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { PgSession } from "../../lib/exec/pg_session.ts";
import { cellKey } from "../../lib/exec/result_digest.ts";
import { startPostgres } from "../../lib/util/local_server.ts";

const PROBES: string[] = [
  "SELECT 1::int2, 2::int4, 3::int8, 4::oid, 9223372036854775807::int8, (-9223372036854775808)::int8, 2::int4",
  "SELECT 1.50::numeric, 1.5::float8, 1.5::float4, 2.5::numeric, 0.1::numeric, 0.1::float8, 0.1::float4, " +
  "1::numeric, 1.0::float8, 1::int, 1.000::numeric, 0::numeric, '-0'::float8, 0.0::numeric",
  "SELECT 'NaN'::numeric, 'NaN'::float8, 'Infinity'::numeric, 'Infinity'::float8, '-Infinity'::float4, " +
  "'-Infinity'::numeric",
  "SELECT 123456789012345678901234567890::numeric, 1e-30::numeric, 9007199254740993::numeric, " +
  "9007199254740993::int8, 9007199254740992::float8, 2::numeric ^ 70, 2::float8 ^ 70, 1e300::float8 * 10, " +
  "1::numeric / 3, 1::float8 / 3, 0.30000000000000004::float8, 0.1::float8 * 3",
  "SELECT true, false, 1, 0, 1.0::numeric, 't'::text",
  "SELECT 'ab'::char(4), 'ab'::varchar, 'ab'::text, 'ab'::name, 'a'::\"char\", 'ab  '::text, 'a'::text",
  "SELECT '\\x00ff'::bytea, '\\x00ff'::bytea, ''::bytea, 'a'::bytea, ''::text",
  "SELECT '2020-01-02'::date, 'infinity'::date, '-infinity'::date, '9999-12-31'::date, '0001-01-01'::date, " +
  "'2020-01-02'::text",
  "SELECT '2020-01-02 03:04:05.123456'::timestamp, '2020-01-02'::timestamp, 'infinity'::timestamp, " +
  "'-infinity'::timestamp, '9999-12-31 23:59:59.999999'::timestamp, '0001-01-01'::timestamp",
  "SELECT '2020-01-02 03:04:05+02'::timestamptz, '2020-01-02 01:04:05+00'::timestamptz, " +
  "'infinity'::timestamptz, '-infinity'::timestamptz, '9999-12-31 23:59:59.999999+00'::timestamptz, " +
  "'2020-01-02 01:04:05'::timestamp, '0001-01-01 00:00+00'::timestamptz",
  "SET TIME ZONE 'Asia/Kolkata'; SELECT '2020-01-02 03:04:05+02'::timestamptz, '2020-01-02 06:34:05'::timestamp",
  "SET TIME ZONE 'Europe/Amsterdam'; SELECT '1900-01-01 00:00'::timestamptz, '1900-01-01 00:00+00:19:32'::timetz",
  "SELECT '03:04:05.5'::time, '03:04:05.5'::time, '24:00:00'::time, '00:00:00'::time, '03:04:05+05:30'::timetz, " +
  "'21:34:05-00'::timetz, '03:04:05.000001'::time, '03:04:05'::timetz, '03:04:05'::time",
  "SELECT '1 year 2 mons 3 days 04:05:06.7'::interval, '-1 day'::interval, '1 mon'::interval, " +
  "'30 days'::interval, '-1 days -02:03:04'::interval, '1 day -00:00:01'::interval, '00:00:00'::interval, " +
  "'0.000001 sec'::interval, '86400 sec'::interval, '1 day'::interval, '-1 year -2 mons +3 days'::interval, " +
  "'1 year'::interval, '365 days'::interval, '2000000 days'::interval",
  "SELECT '12345678 years'::interval",
  "SELECT '2739726 years'::interval",
  "SELECT '0044-03-15 BC'::date",
  "SELECT '10000-01-01'::date",
  "SELECT '0044-03-15 BC'::timestamp",
  "SELECT array[1, 2]",
  "SELECT '{}'::int[]",
  "SELECT array['a']",
  "SELECT NULL::int[], NULL::json, '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'::uuid[], '1 2'::int2vector",
  "SELECT '{\"a\":1}'::json",
  "SELECT '[1]'::jsonb",
  "SELECT '\"s\"'::json, '1.5'::jsonb, '1'::json, 'null'::json, 'true'::jsonb, 'false'::json, " +
  "'12345678901234567890'::json, '1e400'::json, '\"\\u00e9\"'::json, ' \"x\" '::json, '1.0'::json, 's'::text, " +
  "'-0'::json, '1E2'::jsonb",
  "SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '1.5'::money, '10.0.0.1'::inet, '10.0.0.0/8'::cidr, " +
  "point(1, 2)::text, 'x'::xml, row(1, 2), '1/1'::pg_lsn, 'pg_class'::regclass, '{[1,2)}'::int4multirange, " +
  "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::text",
  "SELECT int4range(1, 5), int8range(1, 5), numrange(1.5, 2.50), numrange(1.5, 2.5), " +
  "daterange('2020-01-01', 'infinity'), tsrange('2020-01-01', '2020-01-02 03:00'), " +
  "tstzrange('2020-01-01 00:00+02', NULL), 'empty'::int4range, numrange(NULL, NULL), int4range(NULL, NULL), " +
  "'empty'::daterange, numrange(1, 5), int4range(1, 5, '[]')",
  "SELECT NULL, NULL::int, NULL::date, pg_sleep(0)",
  "SELECT 1; SELECT 2",
  "SELECT 1; SELECT 1 / 0",
  "",
  " ",
  "SET x.y = 1",
  "SELECT 1; SET x.y = 1",
  "COPY (SELECT 1) TO STDOUT",
  "COPY (SELECT 1 WHERE false) TO STDOUT; SELECT 1",
  "SET bytea_output = escape; SELECT '\\x00ff5c'::bytea, 'abc'::bytea, '\\x00ff'::bytea",
  "SET IntervalStyle = sql_standard; SELECT '1 year 2 mons 3 days 04:05:06'::interval, '-1 day'::interval",
  "SET IntervalStyle = iso_8601; SELECT '1 day'::interval",
  "SET DateStyle = 'SQL, DMY'; SELECT '2020-01-02'::date",
  "SET extra_float_digits = 0; SELECT 0.1::float8 * 3, 1::float8 / 3",
  "SELECT x FROM generate_series(1, 3) x, generate_series(1, 2) y",
];

const PYTHON = `
import json, sys, psycopg2
url = sys.argv[1]
probes = json.loads(sys.stdin.read())
out, cells = [], []
for q in probes:
    c = psycopg2.connect(url)
    try:
        cur = c.cursor()
        cur.execute(q)
        rows = cur.fetchall()
    except Exception as e:
        out.append({"error": type(e).__name__ + ": " + str(e).strip()})
        c.close()
        continue
    c.close()
    try:
        set(rows)
    except TypeError as e:
        out.append({"error": "TypeError: " + str(e)})
        continue
    out.append({"n": sum(len(r) for r in rows), "types": [type(v).__name__ for r in rows for v in r]})
    cells.extend(v for r in rows for v in r)
reps, classes = [], []
for v in cells:
    for i, r in enumerate(reps):
        if r == v:
            classes.append(i)
            break
    else:
        reps.append(v)
        classes.append(len(reps) - 1)
print(json.dumps({"probes": out, "classes": classes}))
`;

async function psycopg2(
  url: string,
): Promise<{ probes: ({ error: string } | { n: number })[]; classes: number[] }> {
  const child = new Deno.Command("/usr/bin/python3", {
    args: ["-c", PYTHON, url],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(PROBES)));
  await w.close();
  const out = await child.output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("pg values: psycopg2 on a real PostgreSQL 15 server fails the same probes and equates the same cells", async () => {
  const server = await startPostgres();
  const session = new PgSession({ kind: "server", url: server.adminUrl });
  try {
    const python = await psycopg2(server.adminUrl);
    const keys: string[] = [];
    const mismatches: string[] = [];
    for (let i = 0; i < PROBES.length; i++) {
      assertEquals(await session.begin(30), null);
      const ours = await session.run(PROBES[i], { maxBytes: 1 << 20, sampleRows: 5 });
      await session.end();
      const theirs = python.probes[i];
      if ("error" in theirs) {
        if (ours.ok) mismatches.push(`${PROBES[i]}: python raised ${theirs.error}, ours returned rows`);
        continue;
      }
      if (!ours.ok) {
        mismatches.push(`${PROBES[i]}: python returned rows, ours failed: ${ours.error}`);
        continue;
      }
      const cells = ours.rows.flat();
      if (cells.length !== theirs.n) {
        mismatches.push(`${PROBES[i]}: ${cells.length} cells, python ${theirs.n}`);
      }
      keys.push(...cells.map(cellKey));
    }
    assertEquals(mismatches, []);
    // Same partition: cells i and j are Python-equal iff their keys are equal.
    assertEquals(keys.length, python.classes.length);
    const wrong: string[] = [];
    const keyOfClass = new Map<number, string>();
    const classOfKey = new Map<string, number>();
    python.classes.forEach((c, i) => {
      const k = keys[i];
      if ((keyOfClass.get(c) ?? k) !== k || (classOfKey.get(k) ?? c) !== c) {
        wrong.push(
          `cell ${i}: key ${k} class ${c} (class had ${keyOfClass.get(c)}, key had ${classOfKey.get(k)})`,
        );
      }
      keyOfClass.set(c, k);
      classOfKey.set(k, c);
    });
    assertEquals(wrong, []);
    assert(keys.length > 150, `${keys.length} cells compared`);
  } finally {
    await session.drop();
    await server.stop();
  }
});
