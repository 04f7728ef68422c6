import { deepStrictEqual as assertEquals, notStrictEqual, ok, throws } from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Buffer } from "node:buffer";
import {
  buildMessages,
  buildTeacherMessages,
  promptHash,
  REASONING_SYSTEM_PROMPT,
  renderUserPrompt,
  resolvePromptOptions,
  SYSTEM_PROMPT,
  teacherTemplateHash,
  templateHash,
} from "../../lib/prompt/prompts.ts";
import { canonicalJson, sha256Hex } from "../../lib/util/hash.ts";
import {
  clearSchemaCache,
  decodeText,
  parseCsv,
  renderSchema,
  SchemaError,
} from "../../lib/prompt/schema.ts";
import { extractSql } from "../../lib/model/sql_extract.ts";
import type { Example } from "../../lib/types.ts";

const root = join(import.meta.dirname!, "..", "..");
const DB = join(root, "data", "sample", "dev_databases", "superhero", "superhero.sqlite");
const dev = JSON.parse(readFileSync(join(root, "data", "sample", "dev.json"), "utf8")) as Record<
  string,
  unknown
>[];

function example(questionId: number): Example {
  const e = dev.find((x) => x.question_id === questionId)!;
  return {
    index: dev.indexOf(e),
    question_id: questionId,
    db_id: e.db_id as string,
    question: e.question as string,
    evidence: (e.evidence as string) ?? "",
    sql: e.SQL as string,
    difficulty: e.difficulty as string,
  };
}

const TABLE_ORDER = [
  "alignment",
  "attribute",
  "colour",
  "gender",
  "publisher",
  "race",
  "superhero",
  "hero_attribute",
  "superpower",
  "hero_power",
];

Deno.test("schema: CREATE statements as stored, sqlite_master order, blank-line joined (pinned hash)", () => {
  const schema = renderSchema(DB);
  assertEquals([...schema.matchAll(/CREATE TABLE (\w+)/g)].map((m) => m[1]), TABLE_ORDER);
  // sha256 of Python sqlite3's "\n\n".join(sql FROM sqlite_master WHERE type='table'), computed outside Deno.
  assertEquals(sha256Hex(schema), "a6c16a4899964e4bb2bb26fbeac9d68c9addbafe332c7c040dca3b531c92f51b");
  assertEquals(schema.length, 2264);
  ok(!schema.includes("sqlite_sequence"));
});

Deno.test("user prompt equals the original tool's format for a real superhero question", () => {
  const e = example(743);
  const user = renderUserPrompt(e, renderSchema(DB));
  const start =
    "-- DB Schema: CREATE TABLE alignment\n(\n    id        INTEGER not null\n            primary key,\n" +
    "    alignment TEXT default NULL\n)\n\nCREATE TABLE attribute\n(\n";
  assertEquals(user.slice(0, start.length), start);
  const end =
    "    foreign key (power_id) references superpower(id)\n)\n\n-- External Knowledge: published by Marvel " +
    "Comics refers to publisher_name = 'Marvel Comics'; superheroes who act in their own self-interest or make " +
    "decisions based on their own moral code refers to alignment = 'Bad'; calculation = MULTIPLY(DIVIDE(SUM(" +
    "alignment = 'Bad); count(id)), 100)\n\n-- Question: What is the percentage of superheroes who act in their " +
    "own self-interest or make decisions based on their own moral code? Indicate how many of the said superheroes " +
    "were published by Marvel Comics.";
  assertEquals(user.slice(-end.length), end);
  // The whole string, as the original Python code builds it (hash computed with Python).
  assertEquals(sha256Hex(user), "58ad0099123355b0a9ad1ac10bb0eb9c26edb05bd2b2caf65cb2b20a88e7d972");
  const messages = buildMessages(e, renderSchema(DB));
  assertEquals(messages, [{ role: "system", content: SYSTEM_PROMPT }, { role: "user", content: user }]);
  assertEquals(
    SYSTEM_PROMPT,
    "You are a text to SQL query translator. Using the SQLite DB Schema and the External Knowledge, translate the following text question into a SQLite SQL select statement.",
  );
});

Deno.test("--no-evidence omits the knowledge section; empty evidence keeps the original empty slot", () => {
  const e = example(717);
  const none = renderUserPrompt(e, "S", { evidence: false });
  assertEquals(none, "-- DB Schema: S\n\n-- Question: " + e.question);
  assertEquals(
    renderUserPrompt({ ...e, evidence: "" }, "S"),
    "-- DB Schema: S\n\n-- External Knowledge: \n\n-- Question: " + e.question,
  );
});

Deno.test("reasoning variant: same user prompt, reasoning system prompt", () => {
  const e = example(717);
  const [sys, user] = buildMessages(e, "S", { reasoning: true });
  assertEquals(sys.content, REASONING_SYSTEM_PROMPT);
  assertEquals(user.content, renderUserPrompt(e, "S"));
  ok(REASONING_SYSTEM_PROMPT.includes("```sql"));
});

Deno.test("hashes: prompt hash is of canonical messages; template hash follows template and options only", () => {
  const e = example(717);
  const m = buildMessages(e, "S");
  assertEquals(
    promptHash(m),
    sha256Hex(JSON.stringify(m.map((x) => ({ content: x.content, role: x.role })))),
  );
  assertEquals(promptHash(m), promptHash(buildMessages(e, "S")));
  notStrictEqual(promptHash(m), promptHash(buildMessages(e, "S2")));
  assertEquals(templateHash(), templateHash({ evidence: true, sampleRows: 0 }));
  const hashes = new Set([
    templateHash(),
    templateHash({ evidence: false }),
    templateHash({ sampleRows: 3 }),
    templateHash({ descriptions: true }),
    templateHash({ reasoning: true }),
    teacherTemplateHash(),
  ]);
  assertEquals(hashes.size, 6);
  // Pinned: a template hash that changes without a PROMPT_VERSION bump means a template changed by accident
  // (evaluation resume keys and dataset.json records would silently stop matching earlier runs).
  assertEquals(templateHash(), "faf1265e9210d0a2ff44fca6a196d8cef3a27bafedaf64f047a2be1c7e142e37");
  assertEquals(teacherTemplateHash(), "3ee85ecb250c0a95cbb3106ecf1d8a109db216592b312615edfa8d4df05f53e9");
  assertEquals(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] }), '{"a":[{"c":2,"d":1}],"b":1}');
  assertEquals(resolvePromptOptions({ sampleRows: 2.7 }), {
    evidence: true,
    sampleRows: 2,
    descriptions: false,
    reasoning: false,
  });
});

Deno.test("teacher prompt: same user prompt renderer, gold SQL, answer ends in a ```sql fence", () => {
  const e = example(742);
  const schema = renderSchema(DB);
  const [msg] = buildTeacherMessages(e, schema);
  assertEquals(msg.role, "user");
  ok(msg.content.includes(renderUserPrompt(e, schema)));
  ok(msg.content.includes("-- Gold SQL: " + e.sql));
  ok(!msg.content.includes("Text Question"));
  ok(msg.content.trimEnd().endsWith("```sql\n...\n```"));
  const noEv = buildTeacherMessages(e, schema, { evidence: false })[0].content;
  ok(!noEv.includes("-- External Knowledge:"));
  // What the teacher is asked to produce is what the extractor reads back.
  const answer =
    "Let me think through this step by step:\n\n1. First, ...\n\nFinally, the SQL statement for the " +
    "text question is:\n```sql\n" + e.sql + "\n```";
  assertEquals(extractSql(answer), e.sql);
});

Deno.test("schema options: sample rows and descriptions as comment blocks after each CREATE; memoised", () => {
  const plain = renderSchema(DB);
  const rich = renderSchema(DB, { sampleRows: 2, descriptions: true });
  ok(rich.startsWith("CREATE TABLE alignment"));
  ok(rich.includes("/* \n 2 example rows: \n SELECT * FROM superhero LIMIT 2; \n"));
  ok(
    rich.includes(
      "/* Column descriptions of superhero:\n id [integer]: the unique identifier of the superhero",
    ),
  );
  ok(rich.includes(" superhero_name (superhero name) [text]: the name of the superhero"));
  // Every CREATE statement is still there, in order, verbatim.
  for (const stmt of plain.split("\n\n")) ok(rich.includes(stmt));
  assertEquals([...rich.matchAll(/CREATE TABLE (\w+)/g)].map((m) => m[1]), TABLE_ORDER);
  assertEquals(renderSchema(DB, { sampleRows: 2, descriptions: true }), rich);
  const descOnly = renderSchema(DB, { descriptions: true });
  ok(!descOnly.includes("example rows"));
  // Memoised: a repeat call does not reopen the file (it answers after the file is gone) until the cache is cleared.
  const tmp = mkdtempSync(join(tmpdir(), "schema-"));
  try {
    const copy = join(tmp, "superhero.sqlite");
    copyFileSync(DB, copy);
    const first = renderSchema(copy, { sampleRows: 1 });
    rmSync(copy);
    assertEquals(renderSchema(copy, { sampleRows: 1 }), first);
    clearSchemaCache();
    throws(() => renderSchema(copy, { sampleRows: 1 }), SchemaError);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

Deno.test("schema: missing database is a SchemaError naming the file", () => {
  throws(() => renderSchema("/nonexistent/dir/x.sqlite"), (e: unknown) => {
    ok(e instanceof SchemaError);
    ok((e as Error).message.includes("/nonexistent/dir/x.sqlite"));
    return true;
  });
  const tmp = mkdtempSync(join(tmpdir(), "schema-"));
  try {
    const bad = join(tmp, "bad.sqlite");
    writeFileSync(bad, "this is not a database, just text that is long enough to have a header ".repeat(10));
    throws(
      () => renderSchema(bad),
      (e: unknown) => e instanceof SchemaError && (e as Error).message.includes(bad),
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

Deno.test("descriptions: BOM, latin1 files and case-mismatched file names are tolerated", () => {
  const tmp = mkdtempSync(join(tmpdir(), "schema-"));
  try {
    const db = join(tmp, "superhero.sqlite");
    copyFileSync(DB, db);
    const dd = join(tmp, "database_description");
    mkdirSync(dd);
    const header = "original_column_name,column_name,column_description,data_format,value_description\r\n";
    writeFileSync(
      dd + "/Gender.csv",
      "\uFEFF" + header + 'gender,,"the gender, ""as stated""\r\nby the source",text,\r\n',
    );
    // latin1 (not valid UTF-8): "Ã©" would appear if decoded wrongly.
    writeFileSync(dd + "/race.csv", Buffer.from(header + "race,,race of the h\xe9ro,text,\r\n", "latin1"));
    clearSchemaCache();
    const text = renderSchema(db, { descriptions: true });
    ok(text.includes(' gender [text]: the gender, "as stated" by the source'), text);
    ok(text.includes(" race [text]: race of the h\u00e9ro"));
    ok(!text.includes("Column descriptions of colour"));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    clearSchemaCache();
  }
});

Deno.test("parseCsv and decodeText", () => {
  assertEquals(parseCsv('a,b\r\n"x, ""y""\nz",\n\n'), [["a", "b"], ['x, "y"\nz', ""]]);
  assertEquals(decodeText(new Uint8Array([0xef, 0xbb, 0xbf, 0x61])), "a");
  assertEquals(decodeText(new Uint8Array([0x63, 0x61, 0x66, 0xe9])), "caf\u00e9");
});
