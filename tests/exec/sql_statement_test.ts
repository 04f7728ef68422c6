import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { countParameters, splitFirstStatement } from "../../lib/exec/sql_statement.ts";

// Each case was checked against Python 3.11's sqlite3 (cursor.execute): "multi" means it raised
// "You can only execute one statement at a time.", "empty" means it returned no rows.
const CASES: [string, string | null, boolean][] = [
  ["SELECT 1", "SELECT 1", false],
  ["SELECT 1;", "SELECT 1;", false],
  ["SELECT 1;;", "SELECT 1;", true],
  ["SELECT 1; -- hi\n", "SELECT 1;", false],
  ["SELECT 1; /* x */", "SELECT 1;", false],
  ["SELECT 1; SELECT 2", "SELECT 1;", true],
  ["", null, false],
  ["   ", null, false],
  [";", null, false],
  ["-- only", null, false],
  ["; SELECT 1", "SELECT 1", false],
  ["SELECT 1 /* unterminated", "SELECT 1 /* unterminated", false],
  ["SELECT 1; /* unterminated", "SELECT 1;", false],
  ["SELECT 1;\n;", "SELECT 1;", true],
  ["/*a*/ SELECT 1", "SELECT 1", false],
  ["SELECT 'a;b'; ", "SELECT 'a;b';", false],
  ['SELECT "x;" FROM t', 'SELECT "x;" FROM t', false],
  ["SELECT `a;` , [b;c] FROM t; DROP TABLE t", "SELECT `a;` , [b;c] FROM t;", true],
  ["SELECT 'it''s;' ;", "SELECT 'it''s;' ;", false],
  ["SELECT 1 -- ; not a split\n, 2", "SELECT 1 -- ; not a split\n, 2", false],
];

Deno.test("splitFirstStatement matches Python sqlite3's statement rules", () => {
  for (const [sql, statement, multiple] of CASES) {
    assertEquals(splitFirstStatement(sql), { statement, multiple }, JSON.stringify(sql));
  }
});

/** Counts measured with Python 3.11's sqlite3 on SQLite 3.40 ("The current statement uses N"; 0 when it ran). */
const PARAMETER_COUNTS: [string, number][] = [
  ["SELECT ?", 1],
  ["SELECT ?3", 3],
  ["SELECT :a, :a", 1],
  ["SELECT $x", 1],
  ["SELECT :a, ?", 2],
  ["SELECT ?, ?1", 1],
  ["SELECT ?2, ?", 3],
  ["SELECT :a, $a, @a", 3],
  ["SELECT #a", 1],
  ["SELECT 1 WHERE 0 AND ?", 1],
  ["EXPLAIN SELECT ?", 1],
  ["SELECT $a::b", 1],
  ["SELECT 1 AS a$b", 0],
  [`SELECT '?:a', "?", [?] FROM people -- ?`, 0],
  ["SELECT name FROM people WHERE name = :n OR 1", 1],
  ["SELECT ? /* ? */", 1],
  ["SELECT ?2, ?2", 2],
  ["SELECT :é, :é", 1],
  ["SELECT ?1, :a, ?1, :A", 3],
  ["SELECT 'it''s ?'", 0],
  ["SELECT ?10, :a", 11],
  ["SELECT 1 -- ?\n, ?", 1],
];

Deno.test("countParameters counts as sqlite3_bind_parameter_count (measured with Python's sqlite3)", () => {
  for (const [sql, n] of PARAMETER_COUNTS) assertEquals(countParameters(sql), n, JSON.stringify(sql));
});

Deno.test("a CREATE TRIGGER body is one statement (SQLite ends it at END;), as Python's sqlite3 sees it", () => {
  const body = "CREATE TRIGGER t AFTER INSERT ON colour BEGIN SELECT 1; SELECT 2; END";
  assertEquals(splitFirstStatement(body), { statement: body, multiple: false });
  assertEquals(splitFirstStatement(`${body};`), { statement: `${body};`, multiple: false });
  assertEquals(
    splitFirstStatement(`create temp trigger t after insert on c begin select ';'; end; select 3`),
    {
      statement: "create temp trigger t after insert on c begin select ';'; end;",
      multiple: true,
    },
  );
  // Outside a trigger, END is just a word: the first `;` ends the statement.
  assertEquals(splitFirstStatement("SELECT 1 AS end; SELECT 2").multiple, true);
});
