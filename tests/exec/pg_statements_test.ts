/**
 * `pg_statements.ts`: a query string's statements split as PostgreSQL's lexer splits them (strings, escape
 * strings, dollar quotes, quoted identifiers, nested comments), and the ones the sandbox refuses by their leading
 * words only. The same strings run on a real server in `pg_sandbox_test.ts`.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { refusedStatement, statementLeads } from "../../lib/exec/pg_statements.ts";
import { ALLOWED, REFUSED } from "../support/pg_statement_cases.ts";

Deno.test("pg_statements: transaction control, role and limit changes refused anywhere in the string", () => {
  for (const sql of REFUSED) {
    const why = refusedStatement(sql);
    assert(why !== null && why.startsWith("refused: ") && !why.includes("\n"), `not refused: ${sql}`);
  }
  for (const sql of ALLOWED) assertEquals(refusedStatement(sql), null, sql);
});

Deno.test("pg_statements: statements split where the server splits them, leading words only", () => {
  const words = (sql: string) => statementLeads(sql).map((l) => l.map((t) => t?.text ?? "·").join(" "));
  assertEquals(words("SELECT 1; commit"), ["select ·", "commit"]);
  assertEquals(words("SELECT 'a;b'; SET x = 1"), ["select ·", "set x · ·"]);
  assertEquals(words("/* a /* b */ ; */ SELECT 1"), ["select ·"]);
  assertEquals(words("SELECT $q$ ; $q$ ; END"), ["select ·", "end"]);
  assertEquals(words('SET "Statement_Timeout" = 0'), ["set statement_timeout · ·"]);
  assertEquals(words(";; ;"), []);
});
