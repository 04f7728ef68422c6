/**
 * MySQL values as pymysql returns them: every probe runs through `MysqlSession` (mysql2, raw text converted by
 * `mysql_values.ts`) and through Debian's `pymysql` (`/usr/bin/python3`) against the same private MariaDB, and
 * each cell must be the value Python built (same Python type domain, equal as Python compares) with the same
 * column names. A few verdicts (`set(pred) == set(gold)`) are checked against Python's too.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { type LocalServer, startMysql } from "../../lib/util/local_server.ts";
import { MysqlSession } from "../../lib/exec/mysql_session.ts";
import { FIELD_TYPE, mysqlConverter, PyDecodeError } from "../../lib/exec/mysql_values.ts";
import { cellKey } from "../../lib/exec/result_digest.ts";
import { exMatch } from "../../lib/exec/compare.ts";
import { pyDate, pyDateTime, pyDecimal, pyFloat, pyInt, pyTimedelta } from "../../lib/exec/python_values.ts";

const PY = "/usr/bin/python3";

/** A Python value as the probe script prints it: its type name and a lossless text. */
type PyCell = [string, string] | null;
type PyResult = { columns: string[]; rows: PyCell[][] } | { error: string };

const PROBE_PY = `
import json, sys, pymysql, decimal, datetime
host, port, user, password, db = sys.argv[1:6]
queries = json.loads(sys.stdin.read())
def enc(v):
    if v is None: return None
    t = type(v).__name__
    if isinstance(v, bool): return ["int", str(int(v))]
    if isinstance(v, float): return [t, repr(v)]
    if isinstance(v, bytes): return [t, v.hex()]
    if isinstance(v, datetime.datetime): return [t, "%d %d %d %d %d %d %d" % (v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond)]
    if isinstance(v, datetime.date): return [t, "%d %d %d" % (v.year, v.month, v.day)]
    if isinstance(v, datetime.timedelta): return [t, str((v.days * 86400 + v.seconds) * 10**6 + v.microseconds)]
    return [t, str(v)]
out = []
for q in queries:
    conn = pymysql.connect(host=host, port=int(port), user=user, password=password, database=db)
    try:
        cur = conn.cursor()
        cur.execute(q)
        rows = cur.fetchall()
        out.append({"columns": [d[0] for d in cur.description or []], "rows": [[enc(v) for v in r] for r in rows]})
    except Exception as e:
        out.append({"error": type(e).__name__ + ": " + str(e)})
    finally:
        conn.close()
print(json.dumps(out))
`;

/** Whether a set of pairs score 1 under the official `set(pred) == set(gold)`. */
const VERDICT_PY = `
import json, sys, pymysql
host, port, user, password, db = sys.argv[1:6]
out = []
for pred, gold in json.loads(sys.stdin.read()):
    conn = pymysql.connect(host=host, port=int(port), user=user, password=password, database=db)
    try:
        cur = conn.cursor()
        cur.execute(pred); p = cur.fetchall()
        cur.execute(gold); g = cur.fetchall()
        out.append(1 if set(p) == set(g) else 0)
    except Exception:
        out.append(0)
    finally:
        conn.close()
print(json.dumps(out))
`;

async function python(script: string, server: LocalServer, input: unknown): Promise<unknown> {
  const u = new URL(server.adminUrl);
  const child = new Deno.Command(PY, {
    args: [
      "-c",
      script,
      u.hostname,
      u.port,
      decodeURIComponent(u.username),
      decodeURIComponent(u.password),
      "t",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(input)));
  await w.close();
  const out = await child.output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** The comparable value of the cell Python printed. */
function expected(cell: PyCell): unknown {
  if (cell === null) return null;
  const [type, text] = cell;
  switch (type) {
    case "int":
      return pyInt(text);
    case "float":
      return pyFloat(text === "inf" ? "Infinity" : text === "-inf" ? "-Infinity" : text);
    case "Decimal":
      return pyDecimal(text);
    case "str":
      return text;
    case "bytes":
      return new Uint8Array((text.match(/../g) ?? []).map((h) => parseInt(h, 16)));
    case "date": {
      const [y, m, d] = text.split(" ").map(Number);
      return pyDate(y, m, d);
    }
    case "datetime": {
      const [year, month, day, hour, minute, second, micro] = text.split(" ").map(Number);
      return pyDateTime({ year, month, day, hour, minute, second, micro });
    }
    case "timedelta":
      return pyTimedelta(BigInt(text));
    default:
      throw new Error(`unexpected Python type ${type}`);
  }
}

const SETUP = [
  "CREATE DATABASE t",
  "USE t",
  `CREATE TABLE v (
    id INT PRIMARY KEY, ti TINYINT, si SMALLINT, mi MEDIUMINT, i INT, bi BIGINT, ub BIGINT UNSIGNED, y YEAR,
    d DECIMAL(12,3), f FLOAT, db DOUBLE, dt DATE, dtm DATETIME(6), ts TIMESTAMP NULL, tm TIME(6), bt BIT(5),
    bn BINARY(3), vb VARBINARY(10), bl BLOB, tx TEXT, ch CHAR(4), vc VARCHAR(20), en ENUM('a','é'),
    st SET('x','y'), js JSON, g GEOMETRY, lt LONGTEXT CHARACTER SET latin1)`,
  "SET SESSION sql_mode = ''",
  `INSERT INTO v VALUES
    (1, -128, 32767, -8388608, 2147483647, -9223372036854775808, 18446744073709551615, 2024, 12.5, 3.14,
     0.1, '2020-02-29', '2020-01-02 03:04:05.123456', '2001-02-03 04:05:06', '-838:59:59', b'10101',
     'ab', X'00ff', X'e9', 'héllo', 'ab', 'Üñï', 'é', 'x,y', '{"a": [1, 2.5]}', POINT(1, 2), 'caf\\xe9'),
    (2, 0, 0, 0, 0, 0, 0, 0, 0.000, -0, -1e-300, '0000-00-00', '0000-00-00 00:00:00', NULL, '00:00:00', b'0',
     '', '', '', '', '', '', 'a', '', 'null', NULL, ''),
    (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2020-00-10', '2020-01-00 10:00:00', NULL,
     '838:59:59.999999', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
];

const PROBES = [
  "SELECT * FROM v ORDER BY id",
  "SELECT 1=1, 1<>1, 1/3, 10/4, 2/1, 1 DIV 3, 7 % 3, -7 MOD 3",
  "SELECT SUM(i), AVG(i), SUM(f), AVG(db), COUNT(*), MIN(d), MAX(dt), SUM(d), AVG(d), STD(i) FROM v",
  "SELECT CAST(1.5 AS FLOAT), CAST(1.1 AS FLOAT), CAST(0.1 AS DOUBLE), CAST('2.50' AS DECIMAL(5,2)), CAST(7 AS CHAR)",
  "SELECT CAST(-1 AS UNSIGNED), CAST(18446744073709551615 AS SIGNED), 9223372036854775807 + 1, 1e308 * 10",
  "SELECT 0.1 + 0.2, 0.1e0 + 0.2e0, 1e0/3, ROUND(2.5), ROUND(2.5e0), ROUND(1.005, 2), TRUNCATE(1.999, 1)",
  "SELECT DATE '2020-01-02', TIME '-01:02:03.5', TIMESTAMP '2020-01-02 03:04:05', CAST('0000-00-00' AS DATE)",
  "SELECT CAST('2020-02-30' AS DATE), DATE_ADD('2020-01-31', INTERVAL 1 MONTH), DATEDIFF('2020-03-01', '2020-02-01')",
  "SELECT TIMEDIFF('2020-01-01 00:00:00', '2020-01-02 01:00:00.5'), SEC_TO_TIME(90061), MAKETIME(-1, 2, 3)",
  "SELECT YEAR('2020-05-01'), STR_TO_DATE('01/02/2020', '%m/%d/%Y'), DATE_FORMAT('2020-01-02', '%Y'), NOW() > 0",
  "SELECT b'101', X'00ff', _binary 'abc', CONVERT('abc' USING binary), 'é', CONVERT(X'EFBBBF61' USING utf8mb4)",
  "SELECT JSON_OBJECT('a', 1), JSON_EXTRACT('[1, 2]', '$[1]'), ST_AsText(POINT(1, 2)), POINT(1, 2)",
  "SELECT NULL, NULL + 1, CONCAT('a', NULL), COALESCE(NULL, 2.50), IFNULL(NULL, 'x'), IF(1, 2, 'a')",
  "SELECT en, st, tx, ch, lt, HEX(bt), bt + 0 FROM v ORDER BY id",
  "SELECT dt, dtm, tm, y, ub FROM v WHERE id IN (2, 3) ORDER BY id",
  "SELECT id, i AS same, bi AS same FROM v ORDER BY id",
  "SELECT 'a' = 'A', 'a' = 'a ', 'ß' = 's', BINARY 'a' = 'A', 'é' LIKE 'e'",
  "SELECT GROUP_CONCAT(id ORDER BY id), GROUP_CONCAT(DISTINCT en) FROM v",
  "SELECT ROW_NUMBER() OVER (ORDER BY id), RANK() OVER (ORDER BY ti), PERCENT_RANK() OVER (ORDER BY id) FROM v",
  "SELECT COUNT (*) FROM v",
  "SELECT 1; SELECT 2",
  "",
  "SELECT id FROM v WHERE id = 1;",
  "SELECT 1e0 / 0, 1 / 0, 0 / 0, SQRT(-1), LN(0)",
];

const VERDICTS: [string, string][] = [
  ["SELECT 2.50", "SELECT 2.5e0"],
  ["SELECT 0.1", "SELECT 0.1e0"],
  ["SELECT 1", "SELECT 1=1"],
  ["SELECT DATE '2020-01-01'", "SELECT '2020-01-01'"],
  ["SELECT DATE '2020-01-01'", "SELECT TIMESTAMP '2020-01-01 00:00:00'"],
  ["SELECT 1/3", "SELECT 0.3333"],
  ["SELECT SUM(i) FROM v", "SELECT SUM(i) * 1.0 FROM v"],
  ["SELECT _binary 'a'", "SELECT 'a'"],
  ["SELECT CAST(1.1 AS FLOAT)", "SELECT 1.1e0"],
  ["SELECT f FROM v WHERE id = 1", "SELECT 3.14e0"],
  ["SELECT id FROM v", "SELECT id FROM v ORDER BY id DESC"],
  ["SELECT id, id FROM v", "SELECT id FROM v"],
  ["SELECT NULL", "SELECT NULL"],
  ["SELECT dt FROM v WHERE id = 2", "SELECT '0000-00-00'"],
  ["SELECT tm FROM v WHERE id = 2", "SELECT TIME '00:00:00'"],
];

let server: LocalServer | null = null;

Deno.test("mysql values: every type as pymysql returns it, on a real MariaDB", async (t) => {
  server = await startMysql();
  try {
    const admin = await MysqlSession.open(server.adminUrl, { limits: { timeoutS: 30 } });
    // Set-up through the raw connection: the session itself only runs queries.
    // deno-lint-ignore no-explicit-any
    const conn = (admin as any).conn;
    for (const sql of SETUP) {
      await new Promise<void>((res, rej) => conn.query(sql, (e: Error | null) => (e ? rej(e) : res())));
    }
    await admin.close();
    const url = new URL(server.adminUrl);
    url.pathname = "/t";
    const session = await MysqlSession.open(url.toString(), { limits: { timeoutS: 30 } });
    const py = await python(PROBE_PY, server, PROBES) as PyResult[];

    await t.step("cells equal Python's, probe by probe", async () => {
      for (const [i, sql] of PROBES.entries()) {
        await session.begin();
        const ours = await session.run(sql, { maxBytes: 1e8, timeoutS: 30 });
        const theirs = py[i];
        if ("error" in theirs) {
          assert(!ours.ok, `${sql}: Python raised ${theirs.error}, ours ran`);
          continue;
        }
        assert(ours.ok, `${sql}: ours failed (${!ours.ok && ours.error}), Python ran`);
        assertEquals(ours.columns, theirs.columns, sql);
        assertEquals(ours.rows.length, theirs.rows.length, sql);
        for (const [r, row] of theirs.rows.entries()) {
          const want = row.map((c) => cellKey(expected(c)));
          const got: string[] = ours.rows[r].map((v) => cellKey(v));
          assertEquals(got, want, `${sql} row ${r}: ${JSON.stringify(row)}`);
        }
      }
    });

    await t.step("verdicts equal set(pred) == set(gold) in Python", async () => {
      const want = await python(VERDICT_PY, server!, VERDICTS) as number[];
      for (const [i, [pred, gold]] of VERDICTS.entries()) {
        await session.begin();
        const p = await session.run(pred, { maxBytes: 1e8, timeoutS: 30 });
        const g = p.ok ? await session.run(gold, { maxBytes: 1e8, timeoutS: 30 }) : p;
        const ours = p.ok && g.ok
          ? exMatch({ rows: p.rows.map((r) => r.map(cellKey)) }, { rows: g.rows.map((r) => r.map(cellKey)) })
          : false;
        assertEquals(ours ? 1 : 0, want[i], `${pred} vs ${gold}`);
      }
      // The checks can fail: both verdicts occur.
      assert(want.includes(0) && want.includes(1));
    });
    await session.close();
  } finally {
    await server.stop();
  }
});

Deno.test("mysql values: pymysql's converters on edge texts", () => {
  const conv = (type: number, text: string | null, charset = 45) =>
    mysqlConverter({ type, charset })(text === null ? null : new TextEncoder().encode(text));
  // DATETIME that Python cannot build falls back to convert_date, then to the text.
  assertEquals(conv(FIELD_TYPE.DATETIME, "0000-00-00 00:00:00"), "0000-00-00 00:00:00");
  assertEquals(cellKey(conv(FIELD_TYPE.DATETIME, "2020-01-02")), cellKey(pyDate(2020, 1, 2)));
  assertEquals(cellKey(conv(FIELD_TYPE.DATETIME, "2020-01-02T03:04:05.5")), "pdt:2020-01-02 03:04:05.500000");
  assertEquals(conv(FIELD_TYPE.DATE, "2021-02-29"), "2021-02-29");
  assertEquals(cellKey(conv(FIELD_TYPE.DATE, "2024-02-29")), cellKey(pyDate(2024, 2, 29)));
  assertEquals(cellKey(conv(FIELD_TYPE.TIME, "-00:00:01.000001")), "ptd:-1000001");
  assertEquals(conv(FIELD_TYPE.TIME, "garbage"), "garbage");
  assertEquals(conv(FIELD_TYPE.LONGLONG, "18446744073709551615"), 18446744073709551615n);
  // Non-ASCII text in a non-text field type: pymysql's ascii decode raises.
  let raised = false;
  try {
    conv(FIELD_TYPE.ENUM, "é");
  } catch (e) {
    raised = e instanceof PyDecodeError;
  }
  assert(raised);
  // A DATE of fewer than three parts is a TypeError in Python, which convert_date does not catch.
  raised = false;
  try {
    conv(FIELD_TYPE.DATE, "2020");
  } catch (e) {
    raised = e instanceof PyDecodeError;
  }
  assert(raised);
  // Invalid UTF-8 in a text column raises; a BOM is kept.
  raised = false;
  try {
    mysqlConverter({ type: FIELD_TYPE.VAR_STRING, charset: 45 })(new Uint8Array([0xff]));
  } catch (e) {
    raised = e instanceof PyDecodeError;
  }
  assert(raised);
  assertEquals(
    mysqlConverter({ type: FIELD_TYPE.VAR_STRING, charset: 45 })(new Uint8Array([0xef, 0xbb, 0xbf])),
    "\ufeff",
  );
  // Binary charset: bytes, never equal to text.
  assert(mysqlConverter({ type: FIELD_TYPE.BLOB, charset: 63 })(new Uint8Array([97])) instanceof Uint8Array);
  assertEquals(cellKey(conv(FIELD_TYPE.NEWDECIMAL, "2.50")), cellKey(2.5));
  assert(cellKey(conv(FIELD_TYPE.NEWDECIMAL, "0.1")) !== cellKey(0.1));
});
