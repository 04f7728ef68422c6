/**
 * The prompts in each dialect: SQLite's byte for byte as before dialects (texts and hashes pinned), PostgreSQL's
 * and MySQL's naming their dialect everywhere SQLite's names SQLite; the catalog DDL renderer on catalogs with
 * BIRD's odd names; `schemaFor` on SQLite equal to `renderSchema`.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import {
  AGENT_INSTRUCTIONS,
  agentSystemPrompt,
  agentTemplateHash,
  buildAgentMessages,
  buildMessages,
  buildTeacherMessages,
  clearSchemaCache,
  clearSourceSchemaCache,
  createTableSql,
  dialectName,
  EXECUTE_SQL_TOOL,
  executeSqlTool,
  quoteIdentifier,
  REASONING_SYSTEM_PROMPT,
  renderCatalogSchema,
  renderSchema,
  renderUserPrompt,
  resolvePromptOptions,
  SchemaError,
  schemaFor,
  type SchemaSource,
  SYSTEM_PROMPT,
  systemPromptFor,
  TEACHER_INSTRUCTION,
  teacherTemplateHash,
  templateHash,
} from "../../lib/prompt/mod.ts";
import { sha256Hex } from "../../lib/util/hash.ts";
import type { CatalogTable, DisplayValue } from "../../lib/types.ts";

const root = join(import.meta.dirname!, "..", "..");
const DB_ROOT = join(root, "data", "sample", "dev_databases");
const DB = join(DB_ROOT, "superhero", "superhero.sqlite");

const PLAIN_SQLITE =
  "You are a text to SQL query translator. Using the SQLite DB Schema and the External Knowledge, translate the following text question into a SQLite SQL select statement.";
const REASONING_SQLITE =
  "You are a text to SQL query translator. Using the SQLite DB Schema and the External Knowledge, generate the step-by-step reasoning and the final SQLite SQL select statement from the text question. Reason step by step first, then end your answer with the final SQL statement in a ```sql code block.";
const AGENT_SQLITE =
  "You may call the execute_sql tool to run read-only SQLite queries on the database and look at their results, for example to check values, joins or your query's answer, as often as you need. When you are sure, reply without a tool call and give the final SQLite SQL select statement in a ```sql code block.";
const TOOL_SQLITE =
  '{"type":"function","function":{"name":"execute_sql","description":"Run one read-only SQLite query on the question\'s database and see its column names, its row count and its first rows, or the error message. Only SELECT (and WITH) queries run.","parameters":{"type":"object","properties":{"query":{"type":"string","description":"One SQLite SELECT statement."}},"required":["query"]}}}';

const Q = { question: "How many heroes?", evidence: "hero refers to superhero" };

Deno.test("sqlite: every text and hash exactly as before dialects, with or without dialect: sqlite", () => {
  for (const dialect of [undefined, "sqlite" as const]) {
    assertEquals(systemPromptFor({ dialect }), PLAIN_SQLITE);
    assertEquals(systemPromptFor({ dialect, reasoning: true }), REASONING_SQLITE);
    assertEquals(agentSystemPrompt({ dialect }), PLAIN_SQLITE + " " + AGENT_SQLITE);
    assertEquals(JSON.stringify(executeSqlTool(dialect)), TOOL_SQLITE);
    // Resolved options (recorded in run.json and dataset.json, hashed) do not mention the default dialect.
    assertEquals(Object.keys(resolvePromptOptions({ dialect })), [
      "evidence",
      "sampleRows",
      "descriptions",
      "reasoning",
    ]);
    // Pinned before dialects existed (main at 8aa0e7c).
    assertEquals(
      templateHash({ dialect }),
      "faf1265e9210d0a2ff44fca6a196d8cef3a27bafedaf64f047a2be1c7e142e37",
    );
    assertEquals(
      templateHash({ dialect, reasoning: true }),
      "fa053fe058f77d76ff8ca5cb7e4d0eab356254cf64ec2339d82bac02fb1bdee4",
    );
    assertEquals(
      teacherTemplateHash({ dialect }),
      "3ee85ecb250c0a95cbb3106ecf1d8a109db216592b312615edfa8d4df05f53e9",
    );
    assertEquals(
      agentTemplateHash({ dialect }),
      "b4c265a93dd081e65af6c7811ea9b1a00541bd0ec2c3d0decbbd813ab988cc70",
    );
    assertEquals(
      agentTemplateHash({ dialect, reasoning: true }),
      "549dc7d90aef570720b6892465eb85bdfc0a7c7bf8341484d54f5abe15cfa667",
    );
    assertEquals(
      agentTemplateHash({ dialect }, 10),
      "1efb09e29db01050cb3ed0ca63ed7f38a034625a29aa8bc66c1f44836d54e883",
    );
    const schema = renderSchema(DB);
    assertEquals(
      sha256Hex(buildMessages(Q, schema, { dialect })[1].content),
      sha256Hex(renderUserPrompt(Q, schema)),
    );
    assertEquals(
      buildTeacherMessages({ ...Q, sql: "SELECT 1" }, "S", { dialect })[0].content.split("\n")[0],
      TEACHER_INSTRUCTION,
    );
  }
  assertEquals(SYSTEM_PROMPT, PLAIN_SQLITE);
  assertEquals(REASONING_SYSTEM_PROMPT, REASONING_SQLITE);
  assertEquals(AGENT_INSTRUCTIONS, AGENT_SQLITE);
  assertEquals(JSON.stringify(EXECUTE_SQL_TOOL), TOOL_SQLITE);
});

Deno.test("postgresql and mysql: the dialect named wherever SQLite's prompt names SQLite; own hashes", () => {
  const seen = new Set([templateHash(), teacherTemplateHash(), agentTemplateHash()]);
  for (const [dialect, name] of [["postgresql", "PostgreSQL"], ["mysql", "MySQL"]] as const) {
    assertEquals(dialectName(dialect), name);
    assertEquals(systemPromptFor({ dialect }), PLAIN_SQLITE.replaceAll("SQLite", name));
    assertEquals(systemPromptFor({ dialect, reasoning: true }), REASONING_SQLITE.replaceAll("SQLite", name));
    assertEquals(
      agentSystemPrompt({ dialect }),
      (PLAIN_SQLITE + " " + AGENT_SQLITE).replaceAll("SQLite", name),
    );
    assertEquals(JSON.stringify(executeSqlTool(dialect)), TOOL_SQLITE.replaceAll("SQLite", name));
    const [system, user] = buildAgentMessages(Q, "S", { dialect, reasoning: true });
    ok(!system.content.includes("SQLite") && system.content.includes(name));
    assertEquals(user.content, renderUserPrompt(Q, "S"));
    const teacher = buildTeacherMessages({ ...Q, sql: "SELECT 1" }, "S", { dialect })[0].content;
    ok(teacher.startsWith(`You are a text to SQL query translator. Based on the ${name} DB Schema`), teacher);
    ok(teacher.includes(`its Gold ${name} SQL below`));
    assertEquals(resolvePromptOptions({ dialect }).dialect, dialect);
    for (
      const h of [templateHash({ dialect }), teacherTemplateHash({ dialect }), agentTemplateHash({ dialect })]
    ) {
      ok(!seen.has(h), `${dialect}: hash ${h} collides`);
      seen.add(h);
    }
  }
  throws(() => resolvePromptOptions({ dialect: "oracle" as "mysql" }), /unknown dialect "oracle"/);
  throws(() => executeSqlTool("toString" as "mysql"), /unknown dialect/);
});

/** A BIRD-like catalog with the names that need care: spaces, parentheses, mixed case, reserved words, quotes. */
const ODD: CatalogTable[] = [
  {
    name: "schools",
    columns: [
      { name: "cdscode", type: "text", notNull: true },
      { name: "Free Meal Count (K-12)", type: "double precision", notNull: false },
      { name: "Virtual", type: "character varying(255)", notNull: false },
      { name: "position", type: "integer", notNull: false },
    ],
    primaryKey: ["cdscode"],
    foreignKeys: [],
  },
  {
    name: "order",
    columns: [
      { name: "order_id", type: "bigint", notNull: true },
      { name: "group", type: "integer", notNull: true },
      { name: "cds", type: "text", notNull: false },
      { name: 'say "hi"', type: "numeric(10,2)", notNull: false },
      { name: "user", type: "date", notNull: false },
    ],
    primaryKey: ["order_id", "group"],
    unique: [["cds", "user"]],
    foreignKeys: [
      { columns: ["cds"], refTable: "schools", refColumns: ["cdscode"] },
      { columns: ["order_id"], refTable: "Match", refColumns: [] },
    ],
  },
];

Deno.test("catalog DDL, PostgreSQL: bare lower-case names, quotes where needed, keys, types in capitals", () => {
  assertEquals(
    renderCatalogSchema(ODD, { dialect: "postgresql" }),
    [
      "CREATE TABLE schools\n(",
      "    cdscode TEXT NOT NULL,",
      '    "Free Meal Count (K-12)" DOUBLE PRECISION,',
      '    "Virtual" CHARACTER VARYING(255),',
      "    position INTEGER,",
      "    PRIMARY KEY (cdscode)\n)",
      "",
      'CREATE TABLE "order"\n(',
      "    order_id BIGINT NOT NULL,",
      '    "group" INTEGER NOT NULL,',
      "    cds TEXT,",
      '    "say ""hi""" NUMERIC(10,2),',
      '    "user" DATE,',
      '    PRIMARY KEY (order_id, "group"),',
      '    UNIQUE (cds, "user"),',
      "    FOREIGN KEY (cds) REFERENCES schools (cdscode),",
      '    FOREIGN KEY (order_id) REFERENCES "Match"\n)',
    ].join("\n"),
  );
  assertEquals(quoteIdentifier("customerid", "postgresql"), "customerid");
  assertEquals(quoteIdentifier("CustomerID", "postgresql"), '"CustomerID"');
  assertEquals(quoteIdentifier("1st", "postgresql"), '"1st"');
  assertEquals(quoteIdentifier("time", "postgresql"), "time");
  assertEquals(quoteIdentifier("select", "postgresql"), '"select"');
});

Deno.test("catalog DDL, MySQL: every name in backticks, as mini-dev's MySQL gold", () => {
  assertEquals(
    createTableSql(ODD[1], "mysql"),
    [
      "CREATE TABLE `order`\n(",
      "    `order_id` BIGINT NOT NULL,",
      "    `group` INTEGER NOT NULL,",
      "    `cds` TEXT,",
      '    `say "hi"` NUMERIC(10,2),',
      "    `user` DATE,",
      "    PRIMARY KEY (`order_id`, `group`),",
      "    UNIQUE (`cds`, `user`),",
      "    FOREIGN KEY (`cds`) REFERENCES `schools` (`cdscode`),",
      "    FOREIGN KEY (`order_id`) REFERENCES `Match`\n)",
    ].join("\n"),
  );
  assertEquals(quoteIdentifier("a`b", "mysql"), "`a``b`");
  // An enum's values keep their case.
  assertEquals(
    createTableSql({
      name: "t",
      columns: [{ name: "e", type: "enum('a','B')", notNull: false }],
      primaryKey: [],
      foreignKeys: [],
    }, "mysql"),
    "CREATE TABLE `t`\n(\n    `e` enum('a','B')\n)",
  );
  throws(() => renderCatalogSchema(ODD, { dialect: "sqlite" as "mysql" }), /postgresql or mysql/);
});

Deno.test("catalog DDL: sample rows and descriptions as SQLite's comment blocks; comments cannot end early", () => {
  const dir = mkdtempSync(join(tmpdir(), "catalog-desc-"));
  try {
    // BIRD's file names and column names keep SQLite's case; the server's catalog lower-cased them.
    writeFileSync(
      join(dir, "Schools.csv"),
      "original_column_name,column_name,column_description,data_format,value_description\n" +
        "CDSCode,CDS code,the school's code,text,\n" +
        "Free Meal Count (K-12),,free meals /* or */ not,real,\n",
    );
    const samples = {
      n: 2,
      tables: new Map([["schools", {
        columns: ["cdscode", "Free Meal Count (K-12)", "Virtual", "position"],
        rows: [["01", 2.5, null, { int: "9007199254740993" }], [
          "x*/y/*z",
          { real: "inf" },
          { blob: "00ff" },
          3,
        ]] as DisplayValue[][],
      }]]),
    };
    const text = renderCatalogSchema(ODD.slice(0, 1), { dialect: "postgresql", samples, descriptions: dir });
    const expected = createTableSql(ODD[0], "postgresql") +
      "\n/* Column descriptions of schools:\n" +
      " cdscode (CDS code) [text]: the school's code\n" +
      " Free Meal Count (K-12) [real]: free meals / * or * / not\n */\n" +
      "/* \n 2 example rows: \n SELECT * FROM schools LIMIT 2; \n " +
      // Right-aligned to the widest cell (7, 22, 14 and 16 characters), each followed by a space.
      "cdscode Free Meal Count (K-12) " + " ".repeat(7) + "Virtual " + " ".repeat(8) + "position \n" +
      " ".repeat(5) + "01 " + " ".repeat(19) + "2.5 " + " ".repeat(10) + "NULL 9007199254740993 \n" +
      // The cell's `*\/` and `/*` are broken after the widths were taken (as SQLite's renderer does).
      "x* /y/ *z " + " ".repeat(19) + "inf <blob 2 bytes> " + " ".repeat(15) + "3  \n */";
    assertEquals(text, expected);
    // Descriptions of a table with no CSV, and samples missing for a table: no block, no error.
    assertEquals(
      renderCatalogSchema(ODD.slice(1), { dialect: "mysql", samples, descriptions: join(dir, "none") }),
      createTableSql(ODD[1], "mysql"),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A SchemaSource over a fixed catalog, counting its calls (a unit test of schemaFor's own logic). */
function catalogSource(tables: CatalogTable[], dialect: "postgresql" | "mysql") {
  const calls = { catalog: 0, execute: [] as string[] };
  const source: SchemaSource = {
    dialect,
    target: (_root, id) => id,
    catalog: (target) => {
      calls.catalog++;
      return Promise.resolve(target === "superhero" ? tables : []);
    },
    execute: (_target, sql) => {
      calls.execute.push(sql);
      return Promise.resolve(
        sql.includes("broken")
          ? { ok: false, error: "no such\ntable" }
          : { ok: true, columns: ["a"], sample: [[1], [2], [3]] },
      );
    },
  };
  return { source, calls };
}

Deno.test("schemaFor: SQLite is renderSchema exactly; a server's catalog rendered once per database and options", async () => {
  clearSchemaCache();
  const sqlite: SchemaSource = {
    dialect: "sqlite",
    target: (root, id) => join(root, id, `${id}.sqlite`),
    catalog: () => Promise.reject(new Error("SQLite renders from the file")),
    execute: () => Promise.reject(new Error("SQLite renders from the file")),
  };
  for (
    const options of [{}, { sampleRows: 3 }, { descriptions: true }, { sampleRows: 2, descriptions: true }]
  ) {
    assertEquals(
      await schemaFor(sqlite, { dbRoot: DB_ROOT, dbId: "superhero", ...options }),
      renderSchema(DB, options),
    );
  }
  await rejects(
    schemaFor(sqlite, { dbRoot: DB_ROOT, dbId: "nope" }),
    (e) => e instanceof SchemaError && e.missing,
  );

  clearSourceSchemaCache();
  const tables = [{
    name: "t",
    columns: [{ name: "a", type: "integer", notNull: true }],
    primaryKey: ["a"],
    foreignKeys: [],
  }];
  const { source, calls } = catalogSource(tables, "postgresql");
  const a = await schemaFor(source, { dbRoot: DB_ROOT, dbId: "superhero", sampleRows: 2 });
  assertEquals(await schemaFor(source, { dbRoot: DB_ROOT, dbId: "superhero", sampleRows: 2 }), a);
  assertEquals(calls.catalog, 1);
  assertEquals(calls.execute, ["SELECT * FROM t LIMIT 2"]);
  ok(a.endsWith("/* \n 2 example rows: \n SELECT * FROM t LIMIT 2; \n a \n1 \n2  \n */"), a);
  await schemaFor(source, { dbRoot: DB_ROOT, dbId: "superhero" });
  assertEquals(calls.catalog, 2);
  // No tables: the database is missing (a failure is not memoised).
  for (let i = 0; i < 2; i++) {
    await rejects(
      schemaFor(source, { dbRoot: DB_ROOT, dbId: "formula_1" }),
      (e) =>
        e instanceof SchemaError && e.missing &&
        /postgresql database formula_1 has no tables/.test(e.message),
    );
  }
  assertEquals(calls.catalog, 4);
  const broken = catalogSource([{ ...tables[0], name: "broken" }], "mysql");
  await rejects(
    schemaFor(broken.source, { dbRoot: DB_ROOT, dbId: "superhero", sampleRows: 1 }),
    (e) =>
      e instanceof SchemaError && !e.missing &&
      e.message.endsWith("broken in the mysql database superhero: no such table"),
  );
});

Deno.test("schemaFor: descriptions read from <db-root>/<db_id>/database_description for a server's tables", async () => {
  clearSourceSchemaCache();
  const root = mkdtempSync(join(tmpdir(), "catalog-root-"));
  try {
    mkdirSync(join(root, "superhero", "database_description"), { recursive: true });
    writeFileSync(
      join(root, "superhero", "database_description", "T.csv"),
      "original_column_name,column_name,column_description\nA,,the a\n",
    );
    const tables = [{
      name: "t",
      columns: [{ name: "a", type: "integer", notNull: true }],
      primaryKey: [],
      foreignKeys: [],
    }];
    const { source } = catalogSource(tables, "mysql");
    assertEquals(
      await schemaFor(source, { dbRoot: root, dbId: "superhero", descriptions: true }),
      "CREATE TABLE `t`\n(\n    `a` INTEGER NOT NULL\n)\n/* Column descriptions of t:\n a: the a\n */",
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
