/**
 * The catalog DDL on REAL servers: superhero (converted from the SQLite file by a small loader in this test) plus
 * tables with BIRD's awkward names is loaded into a private PostgreSQL 15 and a private MariaDB; its catalog, read
 * through the server's own catalog views by this test, is rendered by `schemaFor` (sample rows read through the
 * server, descriptions from the real CSVs). Then the rendered schema must be valid DDL: every CREATE TABLE (with
 * its comment blocks) runs in a scratch database, the scratch database's catalog reads back equal to the source's,
 * and every mini-dev gold query of superhero in that dialect runs on it (the prompt's names are the gold's names).
 *
 * The SQL clients here are the servers' own command-line clients (`psql`, `mariadb`): the engines live in
 * `lib/exec`, which the prompt must not depend on.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { tmpdir } from "node:os";
import {
  clearSourceSchemaCache,
  PG_RESERVED_WORDS,
  quoteIdentifier,
  renderSchemaModel,
  schemaFor,
  schemaModelFor,
  type SchemaSource,
} from "../../lib/prompt/mod.ts";
import { clearValueIndexMemo, ensureValueIndex } from "../../lib/values/mod.ts";
import { type LocalServer, startMysql, startPostgres } from "../../lib/util/local_server.ts";
import type { CatalogTable, DisplayValue } from "../../lib/types.ts";

const root = join(import.meta.dirname!, "..", "..");
const SAMPLE_ROOT = join(root, "data", "sample", "dev_databases");
const MINI_DEV = join(root, "data", "sample", "mini_dev");

type Dialect = "postgresql" | "mysql";

// ---------------------------------------------------------------------------------------------------------------
// The servers' command-line clients.

/** Run `sql` (a script) with psql on database `db`; stdout, or throws with psql's message. */
async function psql(server: LocalServer, db: string, sql: string): Promise<string> {
  const url = new URL(server.adminUrl);
  url.pathname = "/" + db;
  return await client(
    "psql",
    [url.href, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"],
    sql,
    {},
  );
}

/** Run `sql` (a script) with the mariadb client on database `db`; tab-separated stdout (with a header unless `noHeader`). */
async function mariadb(server: LocalServer, db: string, sql: string, noHeader = true): Promise<string> {
  const url = new URL(server.adminUrl);
  // Over the server's socket as root@localhost (whose password is the URL's on every MariaDB install).
  const args = ["--no-defaults", `--socket=${server.dir}/mysqld.sock`, "--user=root", "--batch", "--raw"];
  if (noHeader) args.push("--skip-column-names");
  if (db) args.push(db);
  return await client("mariadb", args, sql, { MYSQL_PWD: decodeURIComponent(url.password) });
}

async function client(
  cmd: string,
  args: string[],
  stdin: string,
  env: Record<string, string>,
): Promise<string> {
  const child = new Deno.Command(cmd, { args, env, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  // Written while the output is read: a client that fails early stops reading its input.
  const write = (async () => {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  })().catch(() => {});
  const [out] = await Promise.all([child.output(), write]);
  const err = new TextDecoder().decode(out.stderr).trim();
  if (!out.success) throw new Error(`${cmd}: ${err || `exit ${out.code}`}`);
  return new TextDecoder().decode(out.stdout);
}

// ---------------------------------------------------------------------------------------------------------------
// A small loader: superhero's SQLite tables as PostgreSQL/MySQL tables (names lower-cased for PostgreSQL), then
// tables with the names BIRD has elsewhere (spaces, parentheses, mixed case, reserved words, quotes).

interface SqliteTable {
  name: string;
  columns: { name: string; type: string; notNull: boolean; pk: number }[];
  fks: { id: number; from: string; table: string; to: string | null }[];
  rows: unknown[][];
}

function readSqlite(file: string): SqliteTable[] {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid").all()
      .map((r) => String(r.name));
    return names.map((name) => {
      const q = `"${name}"`;
      const columns = db.prepare(`PRAGMA table_info(${q})`).all().map((c) => ({
        name: String(c.name),
        type: String(c.type).toUpperCase(),
        notNull: Number(c.notnull) === 1,
        pk: Number(c.pk),
      }));
      const fks = db.prepare(`PRAGMA foreign_key_list(${q})`).all().map((f) => ({
        id: Number(f.id),
        from: String(f.from),
        table: String(f.table),
        to: f.to === null ? null : String(f.to),
      }));
      const stmt = db.prepare(`SELECT * FROM ${q}`);
      (stmt as unknown as { setReturnArrays(on: boolean): void }).setReturnArrays(true);
      return { name, columns, fks, rows: stmt.all() as unknown as unknown[][] };
    });
  } finally {
    db.close();
  }
}

function literal(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  return `'${String(v).replaceAll("'", "''")}'`;
}

/** The load script of superhero's tables: CREATE with primary keys, INSERTs, then the foreign keys. */
function loadScript(tables: SqliteTable[], dialect: Dialect): string {
  const id = (n: string) => quoteIdentifier(dialect === "postgresql" ? n.toLowerCase() : n, dialect);
  const type = (t: string, key: boolean) =>
    t === "INTEGER"
      ? (dialect === "postgresql" ? "integer" : "int")
      : t === "REAL"
      ? (dialect === "postgresql" ? "double precision" : "double")
      : key && dialect === "mysql"
      ? "varchar(255)"
      : "text";
  const out: string[] = [];
  for (const t of tables) {
    const pk = t.columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => id(c.name));
    const keyCols = new Set([
      ...t.columns.filter((c) => c.pk > 0).map((c) => c.name),
      ...t.fks.map((f) => f.from),
    ]);
    const cols = t.columns.map((c) =>
      `${id(c.name)} ${type(c.type, keyCols.has(c.name))}${c.notNull || c.pk > 0 ? " NOT NULL" : ""}`
    );
    if (pk.length) cols.push(`PRIMARY KEY (${pk.join(", ")})`);
    out.push(`CREATE TABLE ${id(t.name)} (${cols.join(", ")});`);
    for (let i = 0; i < t.rows.length; i += 500) {
      const values = t.rows.slice(i, i + 500).map((r) => `(${r.map(literal).join(", ")})`).join(",\n");
      out.push(`INSERT INTO ${id(t.name)} VALUES ${values};`);
    }
  }
  for (const t of tables) {
    for (const f of t.fks) {
      const tail = dialect === "postgresql" ? " NOT VALID" : "";
      out.push(
        `ALTER TABLE ${id(t.name)} ADD FOREIGN KEY (${id(f.from)}) REFERENCES ${id(f.table)} (${
          id(f.to!)
        })${tail};`,
      );
    }
  }
  return out.join("\n");
}

/** Tables with BIRD's awkward names, and rows whose text would end a comment early. */
function oddScript(dialect: Dialect): string {
  const q = (n: string) => quoteIdentifier(n, dialect);
  const [text, key, ts, bool] = dialect === "postgresql"
    ? ["text", "varchar(20)", "timestamp", "boolean"]
    : ["text", "varchar(20)", "datetime", "tinyint(1)"];
  return [
    `CREATE TABLE ${q("Odd Table (K-12)")} (${q("CDSCode")} ${key} NOT NULL PRIMARY KEY, ` +
    `${q("Free Meal Count (K-12)")} numeric(10,2), ${q("order")} ${text}, ${q("group")} integer, ` +
    `${q("position")} integer, ${q("time")} ${ts}, ${q("values")} integer, ${q("user")} date, ` +
    `${q('a"b`c')} ${text}, ${q("Virtual")} ${bool});`,
    `CREATE TABLE ${q("order")} (${q("id")} bigint NOT NULL PRIMARY KEY, ${q("Match")} ${key}, ` +
    `${q("a")} integer NOT NULL, ${q("b")} integer NOT NULL, UNIQUE (${q("a")}, ${q("b")}), ` +
    `FOREIGN KEY (${q("Match")}) REFERENCES ${q("Odd Table (K-12)")} (${q("CDSCode")}));`,
    `CREATE TABLE ${q("Match")} (${q("x")} integer NOT NULL, ${q("y")} integer NOT NULL, ` +
    `PRIMARY KEY (${q("x")}, ${q("y")}), FOREIGN KEY (${q("x")}, ${q("y")}) REFERENCES ${q("order")} (${
      q("a")
    }, ${q("b")}));`,
    `INSERT INTO ${
      q("Odd Table (K-12)")
    } VALUES ('01*/', 2.50, 'x /* y', 1, 2, NULL, 3, '2020-01-02', '*/*', NULL);`,
    `INSERT INTO ${q("order")} VALUES (1, '01*/', 1, 2);`,
    `INSERT INTO ${q("Match")} VALUES (1, 2);`,
  ].join("\n");
}

const ODD_TABLES = ["Odd Table (K-12)", "order", "Match"];

// ---------------------------------------------------------------------------------------------------------------
// The catalogs, read through each server's own views (test-only readers; the engines have their own).

const PG_CATALOG = `
SELECT coalesce(json_agg(json_build_object('name', t.relname, 'columns', t.columns, 'primaryKey', t.pk, 'unique', t.uq,
  'foreignKeys', t.fks) ORDER BY t.oid), '[]')
FROM (
  SELECT c.oid, c.relname,
    (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
       'notNull', a.attnotnull) ORDER BY a.attnum)
     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
    coalesce((SELECT json_agg(a.attname ORDER BY k.ord)
     FROM pg_constraint p CROSS JOIN unnest(p.conkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = p.conrelid AND a.attnum = k.attnum
     WHERE p.conrelid = c.oid AND p.contype = 'p'), '[]') AS pk,
    coalesce((SELECT json_agg((SELECT json_agg(a.attname ORDER BY k.ord)
       FROM unnest(u.conkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = u.conrelid AND a.attnum = k.attnum) ORDER BY u.conkey)
     FROM pg_constraint u WHERE u.conrelid = c.oid AND u.contype = 'u'), '[]') AS uq,
    coalesce((SELECT json_agg(json_build_object(
       'columns', (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(f.conkey) WITH ORDINALITY AS k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.attnum),
       'refTable', r.relname,
       'refColumns', (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(f.confkey) WITH ORDINALITY AS k(attnum, ord)
                      JOIN pg_attribute a ON a.attrelid = f.confrelid AND a.attnum = k.attnum)) ORDER BY f.conkey)
     FROM pg_constraint f JOIN pg_class r ON r.oid = f.confrelid
     WHERE f.conrelid = c.oid AND f.contype = 'f'), '[]') AS fks
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND c.relkind = 'r'
) t;`;

function tsv(text: string): string[][] {
  return text.split("\n").filter((l) => l !== "").map((l) => l.split("\t"));
}

async function mysqlCatalog(server: LocalServer, db: string, order: string[]): Promise<CatalogTable[]> {
  const s = `'${db}'`;
  const cols = tsv(
    await mariadb(
      server,
      "",
      `SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE
    FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${s} ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    ),
  );
  const pks = tsv(
    await mariadb(
      server,
      "",
      `SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
    WHERE TABLE_SCHEMA = ${s} AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    ),
  );
  const uqs = tsv(
    await mariadb(
      server,
      "",
      `SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE k
    JOIN information_schema.TABLE_CONSTRAINTS c ON c.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA
      AND c.TABLE_NAME = k.TABLE_NAME AND c.CONSTRAINT_NAME = k.CONSTRAINT_NAME
    WHERE k.TABLE_SCHEMA = ${s} AND c.CONSTRAINT_TYPE = 'UNIQUE'
    ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION`,
    ),
  );
  const fks = tsv(
    await mariadb(
      server,
      "",
      `SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME,
    REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
    WHERE TABLE_SCHEMA = ${s} AND REFERENCED_TABLE_NAME IS NOT NULL
    ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION`,
    ),
  );
  const tables = new Map<string, CatalogTable>();
  for (const [t, c, type, nullable] of cols) {
    if (!tables.has(t)) tables.set(t, { name: t, columns: [], primaryKey: [], unique: [], foreignKeys: [] });
    tables.get(t)!.columns.push({ name: c, type, notNull: nullable === "NO" });
  }
  for (const [t, c] of pks) tables.get(t)!.primaryKey.push(c);
  const uniqueOf = new Map<string, string[]>();
  for (const [t, name, c] of uqs) {
    const key = `${t}\u0000${name}`;
    if (!uniqueOf.has(key)) {
      uniqueOf.set(key, []);
      tables.get(t)!.unique!.push(uniqueOf.get(key)!);
    }
    uniqueOf.get(key)!.push(c);
  }
  const byConstraint = new Map<string, { columns: string[]; refTable: string; refColumns: string[] }>();
  for (const [t, name, c, refTable, refColumn] of fks) {
    const key = `${t}\u0000${name}`;
    if (!byConstraint.has(key)) {
      const fk = { columns: [], refTable, refColumns: [] };
      byConstraint.set(key, fk);
      tables.get(t)!.foreignKeys.push(fk);
    }
    byConstraint.get(key)!.columns.push(c);
    byConstraint.get(key)!.refColumns.push(refColumn);
  }
  // MySQL keeps no creation order: the test's own.
  return order.map((n) => tables.get(n)!).filter(Boolean);
}

/** A SchemaSource over a server's command-line client, addressing a BIRD database as the server database `db_id`. */
function source(
  server: LocalServer,
  dialect: Dialect,
  order: string[],
): SchemaSource & { queries: string[] } {
  const queries: string[] = [];
  return {
    dialect,
    queries,
    target: (_root, dbId) => dbId,
    catalog: async (db) =>
      dialect === "postgresql"
        ? JSON.parse(await psql(server, db, PG_CATALOG)) as CatalogTable[]
        : await mysqlCatalog(server, db, order),
    execute: async (db, sql) => {
      queries.push(sql);
      try {
        if (dialect === "postgresql") {
          const rows = JSON.parse(
            await psql(server, db, `SELECT coalesce(json_agg(row_to_json(q)), '[]') FROM (${sql}) q`),
          ) as Record<string, DisplayValue>[];
          return { ok: true, columns: Object.keys(rows[0] ?? {}), sample: rows.map((r) => Object.values(r)) };
        }
        const [head, ...rows] = tsv(await mariadb(server, db, sql, false));
        return { ok: true, columns: head, sample: rows.map((r) => r.map((v) => v === "NULL" ? null : v)) };
      } catch (e) {
        return { ok: false, error: (e as Error).message };
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------

/** A BIRD-layout root holding superhero's real description CSVs and one for the odd table (named in other case). */
function descriptionRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), "catalog-server-"));
  const desc = join(dir, "superhero", "database_description");
  mkdirSync(desc, { recursive: true });
  const src = join(SAMPLE_ROOT, "superhero", "database_description");
  for (const f of readdirSync(src)) copyFileSync(join(src, f), join(desc, f));
  writeFileSync(
    join(desc, "ODD TABLE (k-12).csv"),
    "original_column_name,column_name,column_description,data_format,value_description\n" +
      "cdscode,CDS code,the school's code */ /*,text,\nFree Meal Count (K-12),,free meals,real,\n",
  );
  return dir;
}

function goldOf(dialect: Dialect): string[] {
  const file = join(MINI_DEV, `mini_dev_${dialect}.json`);
  const all = JSON.parse(readFileSync(file, "utf8")) as { db_id: string; SQL: string }[];
  return all.filter((e) => e.db_id === "superhero").map((e) => e.SQL);
}

async function checkDialect(server: LocalServer, dialect: Dialect): Promise<void> {
  const run = (db: string, sql: string) =>
    dialect === "postgresql" ? psql(server, db, sql) : mariadb(server, db, sql);
  const tables = readSqlite(join(SAMPLE_ROOT, "superhero", "superhero.sqlite"));
  const order = [...tables.map((t) => t.name), ...ODD_TABLES];
  const create = (db: string) =>
    dialect === "postgresql"
      ? psql(server, "postgres", `CREATE DATABASE ${db}`)
      : mariadb(server, "", `CREATE DATABASE ${db}`);
  await create("superhero");
  const prelude = dialect === "mysql" ? "SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES');\n" : "";
  await run("superhero", prelude + loadScript(tables, dialect) + "\n" + oddScript(dialect));

  const src = source(server, dialect, order);
  const dbRoot = descriptionRoot();
  try {
    clearSourceSchemaCache();
    const schema = await schemaFor(src, { dbRoot, dbId: "superhero", sampleRows: 3, descriptions: true });
    const catalog = await src.catalog("superhero");
    assertEquals(catalog.map((t) => t.name), order);
    const parts = schema.split("\n\n");
    assertEquals(parts.length, order.length);
    // Every table has its samples (the query as the dialect writes it) and its descriptions, case-insensitively.
    assertEquals(src.queries, order.map((t) => `SELECT * FROM ${quoteIdentifier(t, dialect)} LIMIT 3`));
    for (const [i, t] of order.entries()) {
      ok(parts[i].startsWith(`CREATE TABLE ${quoteIdentifier(t, dialect)}\n(\n`), parts[i]);
      ok(
        parts[i].includes(
          `\n/* \n 3 example rows: \n SELECT * FROM ${quoteIdentifier(t, dialect)} LIMIT 3; \n`,
        ),
      );
      if (t !== "order" && t !== "Match") {
        ok(parts[i].includes(`\n/* Column descriptions of ${t}:\n`), parts[i]);
      }
    }
    const odd = parts[order.indexOf("Odd Table (K-12)")];
    ok(
      odd.includes(
        `\n ${dialect === "postgresql" ? "CDSCode" : "CDSCode"} (CDS code) [text]: the school's code * / / *`,
      ),
      odd,
    );
    ok(parts[order.indexOf("superhero")].includes("FOREIGN KEY"), "superhero's foreign keys are shown");

    // Valid DDL: each table's part, comments and all, runs in a scratch database, in the catalog's order...
    await create("scratch");
    for (const part of parts) {
      await run("scratch", part + ";");
    }
    // ...and says exactly what the catalog says: the scratch database reads back the same catalog.
    assertEquals(await src.catalog("scratch"), catalog);
    // The prompt's names are the gold's: every mini-dev gold query of superhero runs on the rendered schema.
    const gold = goldOf(dialect);
    assertEquals(gold.length, 52);
    const failed: string[] = [];
    for (const sql of gold) {
      await run("scratch", sql.trim().replace(/;?\s*$/, ";")).catch((e) =>
        failed.push(`${(e as Error).message}: ${sql}`)
      );
    }
    assertEquals(failed, []);
    await checkValues(src, dialect, dbRoot);
  } finally {
    rmSync(dbRoot, { recursive: true, force: true });
  }
}

/**
 * The value index and M-Schema read through the server (its catalog's character columns, GROUP BY and the
 * quoting as the dialect writes them): the same values as the SQLite file's index (MySQL's case-insensitive
 * grouping may keep one spelling of two).
 */
async function checkValues(src: SchemaSource, dialect: Dialect, dbRoot: string): Promise<void> {
  // Rows as the engines return them: canonical cell keys ("s" + text).
  const asEngine = {
    ...src,
    execute: async (db: string, sql: string) => {
      const r = await src.execute(db, sql);
      return r.ok
        ? {
          ok: true as const,
          rows: r.sample.map((row) => row.map((v) => typeof v === "string" ? "s" + v : "n" + v)),
        }
        : r;
    },
    contentKey: () => Promise.resolve(null),
  };
  clearValueIndexMemo();
  const server = await ensureValueIndex(asEngine, { dbRoot, dbId: "superhero", silent: true });
  const file = await ensureValueIndex(
    { ...asEngine, dialect: "sqlite", target: (root: string, id: string) => join(root, id, `${id}.sqlite`) },
    {
      dbRoot: SAMPLE_ROOT,
      dbId: "superhero",
      silent: true,
      cacheDir: mkdtempSync(join(tmpdir(), "values-")),
    },
  );
  const sets = (i: typeof server) =>
    new Map(
      i.columns.filter((c) => c.kind === "values").map((
        c,
      ) => [`${c.table}.${c.column}`.toLowerCase(), new Set(c.values)]),
    );
  const fromServer = sets(server);
  const fromFile = sets(file);
  for (const [key, values] of fromFile) {
    const got = fromServer.get(key);
    ok(got, `${dialect}: ${key} indexed`);
    if (dialect === "postgresql") assertEquals(got, values, key);
    else for (const v of got) ok(values.has(v), `${key}: ${v}`);
  }
  ok(fromServer.get("colour.colour")!.has("Blue"));
  const model = await schemaModelFor(src, { dbRoot, dbId: "superhero", examples: true });
  const mschema = renderSchemaModel(model, { format: "mschema" });
  ok(mschema.startsWith("【DB_ID】 superhero\n【Schema】\n"), mschema);
  ok(mschema.includes("superhero.eye_colour_id=colour.id"), mschema);
  ok(/\(colour:[A-Z ()0-9]+, Examples: \[/.test(mschema), mschema);
}

/** Stop a server, holding the event loop open meanwhile (`stop()` waits on an unref'd watchdog process). */
async function stopServer(server: LocalServer): Promise<void> {
  const hold = setInterval(() => {}, 1000);
  try {
    await server.stop();
  } finally {
    clearInterval(hold);
  }
}

Deno.test("PostgreSQL 15: superhero's catalog rendered as DDL the server runs, reading back the same catalog", async () => {
  const server = await startPostgres();
  try {
    await checkDialect(server, "postgresql");
    // The reserved words quoted by the renderer are the server's own (categories R and T).
    const words = await psql(
      server,
      "postgres",
      "SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T') ORDER BY word",
    );
    assertEquals(words.trim().split("\n"), [...PG_RESERVED_WORDS].sort());
  } finally {
    await stopServer(server);
  }
});

Deno.test("MariaDB: superhero's catalog rendered as DDL the server runs, reading back the same catalog", async () => {
  const server = await startMysql();
  try {
    await checkDialect(server, "mysql");
  } finally {
    await stopServer(server);
  }
});
