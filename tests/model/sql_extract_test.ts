import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  chooseBlock,
  cleanSql,
  extractSql,
  findFences,
  looksLikeQuery,
  stripThink,
} from "../../lib/model/sql_extract.ts";

const dir = join(import.meta.dirname!, "..", "fixtures", "completions");

/** Corpus: `NN_name.txt` is a completion, `NN_name.sql` its expected SQL (one trailing newline, dropped). */
function corpus(): { name: string; completion: string; expected: string }[] {
  return readdirSync(dir).filter((f) => f.endsWith(".txt")).sort().map((f) => {
    const name = f.slice(0, -4);
    return {
      name,
      completion: readFileSync(join(dir, f), "utf8"),
      expected: readFileSync(join(dir, name + ".sql"), "utf8").replace(/\n$/, ""),
    };
  });
}

Deno.test("corpus has at least 25 completions, each with its expected SQL", () => {
  const cases = corpus();
  if (cases.length < 25) throw new Error(`only ${cases.length} cases`);
  const sqlFiles = readdirSync(dir).filter((f) => f.endsWith(".sql")).length;
  assertEquals(sqlFiles, cases.length);
});

for (const c of corpus()) {
  Deno.test(`extractSql corpus: ${c.name}`, () => {
    assertEquals(extractSql(c.completion), c.expected);
  });
}

const superhero = JSON.parse(
  readFileSync(join(import.meta.dirname!, "..", "..", "data", "sample", "dev.json"), "utf8"),
)
  .filter((e: { db_id: string }) => e.db_id === "superhero") as { SQL: string }[];

Deno.test("every superhero gold SQL survives the common wrappings unchanged", () => {
  for (const { SQL } of superhero) {
    const sql = SQL.trim().replace(/;+$/, "");
    for (
      const wrapped of [
        sql,
        sql + ";",
        "```sql\n" + sql + "\n```",
        "```\n" + sql + ";\n```",
        "Here is the query:\n\n```sqlite\n" + sql + "\n```\n\nIt joins the tables.",
        "SQL: " + sql,
        "<think>hmm</think>\n```SQL\n" + sql + "\n```",
      ]
    ) {
      assertEquals(extractSql(wrapped), sql, wrapped);
    }
  }
});

Deno.test("original rule kept: first ```sql fence wins when nothing reads as reasoning", () => {
  assertEquals(extractSql("```sql\nSELECT 1\n```\n```sql\nSELECT 2\n```"), "SELECT 1");
});

Deno.test("reasoning: the last fence wins, unless introduced as an alternative", () => {
  const text =
    "Let me think step by step.\n```sql\nSELECT a FROM t\n```\nThen:\n```sql\nSELECT b FROM t\n```\n" +
    "Alternatively:\n```sql\nSELECT c FROM t\n```";
  assertEquals(extractSql(text), "SELECT b FROM t");
});

Deno.test("a block introduced as final wins even without reasoning markers", () => {
  const text = "```sql\nSELECT a FROM t\n```\nThe final query:\n```sql\nSELECT b FROM t\n```";
  assertEquals(extractSql(text), "SELECT b FROM t");
});

Deno.test("findFences: tags, inline fences, unterminated last fence", () => {
  const blocks = findFences(
    "a\n```SQL\nSELECT 1\n```\n``` SELECT 2 ```\n```python\nx\n```\n```sql\nSELECT 3",
  );
  assertEquals(blocks.map((b) => [b.tag, b.content.trim(), b.terminated]), [
    ["SQL", "SELECT 1", true],
    ["", "SELECT 2", true],
    ["python", "x", true],
    ["sql", "SELECT 3", false],
  ]);
});

Deno.test("chooseBlock: no SQL block gives null; non-SQL tag ignored unless it holds a query", () => {
  assertEquals(chooseBlock("x", findFences("```python\nprint(1)\n```")), null);
  assertEquals(
    chooseBlock("", findFences("```text\nSELECT 1 FROM t\n```"))?.content.trim(),
    "SELECT 1 FROM t",
  );
});

Deno.test("stripThink: closed, lone close, lone open, only thinking", () => {
  assertEquals(stripThink("<think>a</think>b"), "b");
  assertEquals(stripThink("a</think>b"), "b");
  assertEquals(stripThink("<think>a SELECT 1"), "a SELECT 1");
  assertEquals(stripThink("<think>SELECT 1</think>").trim(), "SELECT 1");
});

Deno.test("looksLikeQuery and cleanSql", () => {
  assertEquals(looksLikeQuery("-- c\nSELECT 1"), true);
  assertEquals(looksLikeQuery("WITH x AS (SELECT 1) SELECT * FROM x"), true);
  assertEquals(looksLikeQuery("With this in mind, we join"), false);
  assertEquals(looksLikeQuery("CREATE TABLE t (a)"), false);
  assertEquals(cleanSql("  SELECT 1 ; ;\n"), "SELECT 1");
});

Deno.test("unfenced: prose line starting with 'With' is not a query; whole text is returned", () => {
  const text = "With the given schema this cannot be answered.";
  assertEquals(extractSql(text), text);
});

/** Shared with the Python reward's tests (`trainer/tests/test_reward.py`): both ports must agree on every case. */
const shared = JSON.parse(
  readFileSync(join(import.meta.dirname!, "..", "fixtures", "sql_extract_cases.json"), "utf8"),
).cases as { name: string; completion: string; expected: string }[];

Deno.test("shared extraction cases: every case gives its expected SQL", () => {
  const wrong = shared.filter((c) => extractSql(c.completion) !== c.expected).map((c) => c.name);
  assertEquals(wrong, []);
});

Deno.test("shared extraction cases hold the whole completions corpus, unchanged", () => {
  const byName = new Map(shared.map((c) => [c.name, c]));
  for (const c of corpus()) {
    const s = byName.get("corpus/" + c.name);
    assertEquals(s && { completion: s.completion, expected: s.expected }, {
      completion: c.completion,
      expected: c.expected,
    }, c.name);
  }
});
