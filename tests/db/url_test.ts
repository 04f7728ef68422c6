/**
 * Database URLs: parsing, defaults, and the public form that never carries a password.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { DbUrlError, formatDbUrl, parseDbUrl, publicDbUrl, targetDatabase } from "../../lib/db/mod.ts";

Deno.test("db url: every part parsed, percent-decoded, defaults filled", () => {
  const u = parseDbUrl(
    "postgresql://ev%40l:p%3Ass%2Fw@db.example.com:6543/bird?sslmode=require&application_name=x",
  );
  assertEquals(u, {
    kind: "postgresql",
    scheme: "postgresql",
    user: "ev@l",
    password: "p:ss/w",
    host: "db.example.com",
    port: 6543,
    database: "bird",
    params: { sslmode: "require", application_name: "x" },
  });
  const m = parseDbUrl("mariadb://root@127.0.0.1/BIRD");
  assertEquals([m.kind, m.port, m.password, m.database], ["mysql", 3306, null, "BIRD"]);
  assertEquals(parseDbUrl("postgres://[::1]/").host, "::1");
  assertEquals(parseDbUrl("postgres://h").port, 5432);
  assertEquals(formatDbUrl(parseDbUrl(formatDbUrl(u))), formatDbUrl(u));
});

Deno.test("db url: the public form drops user, password and secret parameters", () => {
  const text = "postgres://admin:hunter2@h:5432/bird?sslmode=require&password=hunter3&sslkey=k";
  const shown = publicDbUrl(text);
  assertEquals(shown, "postgres://h:5432/bird?sslmode=require");
  assert(!shown.includes("hunter") && !shown.includes("admin"));
  assertEquals(publicDbUrl("mysql://root:pw@127.0.0.1:3307"), "mysql://127.0.0.1:3307");
});

Deno.test("db url: bad URLs are one line that never shows the password", () => {
  for (
    const bad of ["http://u:s3cret@h/db", "s3cret", "postgres://u:s3cret@h:99999/db", "mysql//u:s3cret@h"]
  ) {
    throws(() => parseDbUrl(bad), (e: Error) => e instanceof DbUrlError && !e.message.includes("s3cret"));
  }
});

Deno.test("db url: the target database is the flag, else the URL's, else bird / BIRD", () => {
  assertEquals(targetDatabase(parseDbUrl("postgres://h/"), "postgresql"), "bird");
  assertEquals(targetDatabase(parseDbUrl("postgres://h/postgres"), "postgresql"), "bird");
  assertEquals(targetDatabase(parseDbUrl("mysql://h/"), "mysql"), "BIRD");
  assertEquals(targetDatabase(parseDbUrl("mysql://h/mine"), "mysql"), "mine");
  assertEquals(targetDatabase(parseDbUrl("mysql://h/mine"), "mysql", "other"), "other");
});
