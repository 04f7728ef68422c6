/**
 * The worker's SQLite behaves as Python's `sqlite3` (the official evaluator's driver) on everything that decides a
 * verdict: double-quoted string literals, math functions, parameters, NUL bytes, undecodable text, read-only
 * PRAGMAs and syntax errors. Expected values come from python3 in the test, on a database built in the test.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { runEvaluation } from "../../lib/run/evaluate.ts";
import type { ExecResult } from "../../lib/exec/pool_types.ts";
import { SqlitePool } from "../../lib/exec/sqlite_pool.ts";
import { MATH_FUNCTIONS } from "../../lib/exec/sqlite_math.ts";

const PARITY_PY = new URL("../parity/official_ex.py", import.meta.url).pathname;

async function python(script: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("python3", {
    args: ["-c", script, ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

/** A small database with the value kinds the probes need, built by Python's sqlite3. */
async function buildDb(): Promise<{ root: string; db: string }> {
  const root = await Deno.makeTempDir({ prefix: "t2s-exec-parity-" });
  const db = join(root, "people", "people.sqlite");
  await Deno.mkdir(join(root, "people"));
  await python(
    `
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.executescript("""
CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT, height REAL, score TEXT, note BLOB);
INSERT INTO person VALUES (1, 'Ada', 1.72, '4', x'00ff'), (2, 'Bob', 1.85, '9.0', NULL),
  (3, 'Cy', NULL, 'abc', x'35'), (4, 'Dee', -2.5, ' 16 ', NULL), (5, 'Eve', 0, '-1', NULL);
CREATE TABLE weird(id INTEGER, t TEXT);
INSERT INTO weird VALUES (1, CAST(x'ff41' AS TEXT)), (2, 'fine'), (3, char(65533));
CREATE INDEX person_name ON person(name);
""")
c.commit()
`,
    db,
  );
  return { root, db };
}

/** Python's result for each query: rows with values as JSON (floats tagged), or the exception's message. */
async function pythonResults(
  db: string,
  queries: string[],
): Promise<({ rows: unknown[][] } | { error: string })[]> {
  const out = await python(
    `
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
def enc(v):
    if isinstance(v, float): return {"real": repr(v)}
    if isinstance(v, bytes): return {"blob": v.hex()}
    return v
res = []
for q in json.loads(sys.stdin.read() if False else sys.argv[2]):
    try: res.append({"rows": [[enc(v) for v in r] for r in c.execute(q).fetchall()]})
    except Exception as e: res.append({"error": str(e)})
print(json.dumps(res))
`,
    db,
    JSON.stringify(queries),
  );
  return JSON.parse(out);
}

/** Our rows in Python's JSON form: canonical keys mapped back to typed values. */
function ours(r: ExecResult): { rows: unknown[][] } | { error: string } {
  if (!r.ok) return { error: r.error };
  return { rows: r.rows.map((row) => row.map(fromKey)) };
}

function fromKey(k: string): unknown {
  if (k === "z") return null;
  if (k[0] === "s") return k.slice(1);
  if (k[0] === "b") return { blob: k.slice(1) };
  return Number(k.slice(1));
}

/** Python's typed values in the same form (a float with an integral value equals the int, as `==` says). */
function normalise(p: { rows: unknown[][] } | { error: string }): { rows: unknown[][] } | { error: string } {
  if ("error" in p) return p;
  const rows = p.rows.map((r) =>
    r.map((v) => (v && typeof v === "object" && "real" in v ? Number(v.real) : v))
  );
  // Python returns duplicates; our rows are distinct in first-seen order.
  const seen = new Set<string>();
  return { rows: rows.filter((r) => !seen.has(JSON.stringify(r)) && !!seen.add(JSON.stringify(r))) };
}

const NUMBERS = [
  "4",
  "2.5",
  "-2.5",
  "0",
  "-1",
  "'16'",
  "' 9 '",
  "'2.25'",
  "'abc'",
  "'4abc'",
  "NULL",
  "x'35'",
  "1e308",
];

function mathProbes(): string[] {
  const one = MATH_FUNCTIONS.filter((f) => !["atan2", "mod", "pow", "power", "pi"].includes(f));
  const qs: string[] = [];
  for (const f of one) {
    qs.push(`SELECT ${NUMBERS.map((n) => `${f}(${n})`).join(", ")}`);
    qs.push(`SELECT ${NUMBERS.map((n) => `typeof(${f}(${n}))`).join(", ")}`);
  }
  for (const f of ["atan2", "mod", "pow", "power", "log"]) {
    qs.push(
      `SELECT ${
        ["4, 2", "2, 8", "-8, 3", "5, 0", "0, -1", "2.5, '2'", "'9', 0.5", "1, 8", "NULL, 2", "2, 'x'"]
          .map((a) => `${f}(${a})`).join(", ")
      }`,
    );
  }
  qs.push("SELECT pi(), typeof(pi())");
  qs.push("SELECT floor(height), ceil(height), trunc(height), sqrt(id), floor(score) FROM person");
  qs.push("SELECT log(1, 2, 3)");
  return qs;
}

const PROBES = [
  `SELECT "Ada"`,
  `SELECT id FROM person WHERE name = "Ada"`,
  `SELECT "name" FROM person WHERE id = 1`,
  `SELECT ?`,
  `SELECT :who, ?2`,
  `SELECT id FROM person WHERE name = ?`,
  "SELECT 1\0",
  `SELECT t FROM weird WHERE id = 1`,
  `SELECT t FROM weird WHERE id = 3`,
  `SELECT t FROM weird`,
  `SELECT length(t), hex(t) FROM weird`,
  `PRAGMA integrity_check`,
  `PRAGMA quick_check`,
  `PRAGMA foreign_key_check`,
  `PRAGMA index_list(person)`,
  `PRAGMA table_info(person)`,
  `PRAGMA integrity_check(person)`,
  `SELEC id FROM person`,
  `SELECT id FROM person WHERE`,
  `SELECT "missing_column_as_text" = 'missing_column_as_text'`,
];

Deno.test("the worker answers as Python's sqlite3: DQS, math functions, parameters, NUL, UTF-8, PRAGMAs, syntax", async () => {
  const { root, db } = await buildDb();
  const pool = new SqlitePool({ workers: 1 });
  try {
    const queries = [...PROBES, ...mathProbes()];
    const expected = await pythonResults(db, queries);
    const mismatches: string[] = [];
    for (let i = 0; i < queries.length; i++) {
      const got = ours(await pool.execute(db, queries[i]));
      const want = normalise(expected[i]);
      const same = "error" in want
        ? "error" in got && got.error === want.error
        : JSON.stringify(got) === JSON.stringify(want);
      if (!same) {
        mismatches.push(
          `${JSON.stringify(queries[i])}: ours ${JSON.stringify(got)} python ${JSON.stringify(want)}`,
        );
      }
    }
    // log10 of glibc and of V8 may differ in the last bit; no probe here depends on it, and none may differ.
    assertEquals(mismatches, []);
    // Read-only PRAGMAs that report build details are allowed (their content depends on the build).
    const opts = await pool.execute(db, "PRAGMA compile_options");
    assert(opts.ok && opts.rows.length > 0);
    const temp = await pool.execute(db, "PRAGMA temp_store");
    assert(temp.ok && temp.rows[0][0] === "n2", "temporary data stays in memory");
    // Anything that writes stays refused (the one deliberate difference).
    for (const sql of ["PRAGMA user_version = 3", "PRAGMA journal_mode = WAL", "VACUUM", "BEGIN"]) {
      const r = await pool.execute(db, sql);
      assert(!r.ok && /not authorized/.test(r.error), `${sql}: ${JSON.stringify(r)}`);
    }
  } finally {
    await pool.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a double-quoted literal and FLOOR/sqrt score through runEvaluation as the official script scores them", async () => {
  const { root, db } = await buildDb();
  try {
    const pairs: [string, string][] = [
      [`SELECT id FROM person WHERE name = "Ada"`, `SELECT id FROM person WHERE name = 'Ada'`],
      [`SELECT FLOOR(height) FROM person WHERE id = 2`, `SELECT 1`],
      [`SELECT sqrt(16)`, `SELECT 4`],
      [`SELECT sqrt(-1)`, `SELECT NULL`],
      [`SELECT ceil(id) FROM person`, `SELECT id FROM person`],
      [`SELECT floor(height) FROM person WHERE id = 4`, `SELECT -3`],
      [`SELECT "Bob"`, `SELECT name FROM person WHERE id = 1`],
      [`SELECT log(2, 8), pow(2, 10), mod(7, 3)`, `SELECT 3, 1024, 1`],
      [`SELECT t FROM weird`, `SELECT 1`],
      [`SELECT ?`, `SELECT NULL`],
    ];
    const dataset = join(root, "dev.json");
    await Deno.writeTextFile(
      dataset,
      JSON.stringify(pairs.map(([, gold], i) => ({
        question_id: i,
        db_id: "people",
        question: `q${i}`,
        evidence: "",
        SQL: gold,
        difficulty: "simple",
      }))),
    );
    const predictions = join(root, "preds", "predict_dev.json");
    await Deno.mkdir(join(root, "preds"));
    await Deno.writeTextFile(
      predictions,
      JSON.stringify(
        Object.fromEntries(pairs.map(([p], i) => [String(i), `${p}\t----- bird -----\tpeople`])),
      ),
    );
    const official = JSON.parse(
      new TextDecoder().decode(
        (await new Deno.Command("python3", { args: [PARITY_PY, dataset, predictions, root], stdout: "piped" })
          .output()).stdout,
      ),
    ) as Record<string, [number, number]>;
    const res = await runEvaluation({
      dataset,
      predictions,
      dbRoot: root,
      out: join(root, "run"),
      silent: true,
      goldCacheDir: join(root, "gold"),
    });
    const got = Object.fromEntries(
      res.records.map((r) => [String(r.index), [r.status === "correct" ? 1 : 0, r.soft_f1]]),
    );
    for (const [i, [ex, f1]] of Object.entries(official)) {
      assertEquals(got[i][0], ex, `question ${i} (${pairs[Number(i)][0]}): EX`);
      assert(Math.abs((got[i][1] as number) - f1) < 1e-9, `question ${i}: Soft-F1 ${got[i][1]} vs ${f1}`);
    }
    assertEquals(res.summary.correct, Object.values(official).filter(([ex]) => ex === 1).length);
    assert(res.summary.correct >= 7, "the DQS and math predictions are correct, as in Python");
    const run = JSON.parse(await Deno.readTextFile(join(root, "run", "run.json")));
    assert(/dqs=on/.test(run.engine) && /^\d+\.\d+\.\d+$/.test(run.sqlite_version));
    // The gold SQL file of the database does not change the verdicts; `db` is used.
    assert(db.endsWith("people.sqlite"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
