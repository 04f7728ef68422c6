import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { splitFirstStatement } from "../lib/sql_statement.ts";

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
