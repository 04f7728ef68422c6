/**
 * The value index, fuzzy lookup, schema linking and the per-question schemas, on a database this test builds
 * with dirty values (case, accents, doubled and trailing spaces, punctuation, codes, long free text), including
 * questions whose literal is not in the data: nothing may be invented.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  clearSchemaModelCache,
  joinCreate,
  renderSchemaModel,
  resolvePromptOptions,
  schemaFor,
  schemaModelFor,
  splitCreate,
  templateHash,
} from "../../lib/prompt/mod.ts";
import {
  clearValueIndexMemo,
  compactText,
  ensureValueIndex,
  goldColumns,
  goldLiterals,
  linkSchema,
  literalInPrompt,
  QuestionSchemas,
  ValueMatcher,
} from "../../lib/values/mod.ts";

const ROOT = Deno.makeTempDirSync({ prefix: "t2s-values-" });
const DB_ROOT = join(ROOT, "dbs");
const CACHE = join(ROOT, "cache");

const LONG =
  "This is a long biography written as free text, far longer than any value a question would name. ";

function buildDb(): string {
  const dir = join(DB_ROOT, "dirty");
  mkdirSync(join(dir, "database_description"), { recursive: true });
  const path = join(dir, "dirty.sqlite");
  const db = new DatabaseSync(path);
  db.exec(`
    CREATE TABLE country (code TEXT PRIMARY KEY, name TEXT);
    CREATE TABLE person
    (
        id           INTEGER not null
            primary key,
        name         TEXT,
        eye          TEXT default NULL,
        gender       TEXT,
        country_code TEXT,
        bio          TEXT,
        height       INTEGER,
        foreign key (country_code) references country(code)
    );
    CREATE TABLE "unrelated stuff" ("weird col" TEXT, n REAL);
    INSERT INTO country VALUES ('FRA', 'France'), ('CIV', 'Côte d''Ivoire'), ('USA', 'United States');
    INSERT INTO person VALUES
      (1, 'José Álvarez', 'Blue', 'M', 'FRA', '${LONG}1', 180),
      (2, 'Spider-Man', 'blue ', 'M', 'USA', '${LONG}2', 178),
      (3, 'ANNA  SMITH', 'BROWN', 'F', 'CIV', '${LONG}3', 165),
      (4, 'O''Brien', 'Hazel', 'F', 'USA', '${LONG}4', 170);
    INSERT INTO "unrelated stuff" VALUES ('zzz', 1.5);
  `);
  db.close();
  writeFileSync(
    join(dir, "database_description", "person.csv"),
    "original_column_name,column_name,column_description,data_format,value_description\n" +
      "eye,eye colour,the colour of the eyes,text,\ngender,,sex,text,M: male; F: female\n",
  );
  return path;
}

const DB_PATH = buildDb();

/** A SQLite source as the engines give one (only SQLite is read here: from the file). */
const SOURCE = {
  dialect: "sqlite" as const,
  target: (dbRoot: string, dbId: string) => join(dbRoot, dbId, `${dbId}.sqlite`),
  catalog: () => Promise.reject(new Error("not used for SQLite")),
  execute: () => Promise.reject(new Error("not used for SQLite")),
  contentKey: () => Promise.resolve(null),
};

const indexOpts = { dbRoot: DB_ROOT, dbId: "dirty", cacheDir: CACHE, silent: true };

/** Every distinct text value of the test database, by `table.column`. */
function dbValues(): Map<string, Set<string>> {
  const db = new DatabaseSync(DB_PATH, { readOnly: true });
  const out = new Map<string, Set<string>>();
  for (
    const [t, cols] of [["country", ["code", "name"]], ["person", ["name", "eye", "gender", "country_code"]]]
  ) {
    for (const c of cols as string[]) {
      const rows = db.prepare(`SELECT DISTINCT ${c} AS v FROM ${t}`).all() as { v: string }[];
      out.set(`${t}.${c}`, new Set(rows.map((r) => r.v)));
    }
  }
  db.close();
  return out;
}

Deno.test("the index holds every text column's distinct values verbatim; free text is summarised, numbers left out", async () => {
  clearValueIndexMemo();
  const index = await ensureValueIndex(SOURCE, indexOpts);
  const byName = new Map(index.columns.map((c) => [`${c.table}.${c.column}`, c]));
  assertEquals([...byName.keys()], [
    "country.code",
    "country.name",
    "person.name",
    "person.eye",
    "person.gender",
    "person.country_code",
    "person.bio",
    "unrelated stuff.weird col",
  ]);
  assertEquals(new Set(byName.get("person.eye")!.values), new Set(["Blue", "blue ", "BROWN", "Hazel"]));
  assertEquals(byName.get("person.name")!.values.includes("ANNA  SMITH"), true);
  const bio = byName.get("person.bio")!;
  assertEquals(bio.kind, "free_text");
  assertEquals(bio.values, []);
  assert(bio.avgChars > 60 && bio.examples!.length === 3 && bio.examples!.every((e) => e.length <= 80));
  assert(index.contentKey !== null && /^[0-9a-f]{64}$/.test(index.contentKey));
});

Deno.test("lookup finds values across case, accents, spacing and punctuation, exactly as stored", async () => {
  clearValueIndexMemo();
  const m = new ValueMatcher(await ensureValueIndex(SOURCE, indexOpts));
  const find = (q: string) => m.match([q]).map((x) => `${x.table}.${x.column}=${x.value}`);
  assert(find("Which people are named jose alvarez?").includes("person.name=José Álvarez"));
  assert(find("How tall is spider man?").includes("person.name=Spider-Man"));
  assert(find("the height of Anna Smith").includes("person.name=ANNA  SMITH"));
  assert(find("people from cote d'ivoire").includes("country.name=Côte d'Ivoire"));
  assert(find("people whose country code is fra").includes("country.code=FRA"));
  assert(find("people whose country code is fra").includes("person.country_code=FRA"));
  // Both spellings of blue are shown, the trailing space kept: the model can then write either.
  const blue = find("How many people have blue eyes?");
  assert(blue.includes("person.eye=Blue") && blue.includes("person.eye=blue "), blue.join(", "));
  // A misspelling still finds it (fuzzy), quoted evidence finds it exactly.
  assert(find("people with hazell eyes").includes("person.eye=Hazel"));
  assert(
    m.match(["x", "brown eyes refers to eye = 'BROWN'"]).some((x) => x.value === "BROWN" && x.score === 1),
  );
});

Deno.test("nothing is invented: absent literals match nothing, and every match is a stored value", async () => {
  clearValueIndexMemo();
  const m = new ValueMatcher(await ensureValueIndex(SOURCE, indexOpts));
  assertEquals(m.match(["How many people with purple eyes live in Atlantis?"]), []);
  assertEquals(m.match(["Who was born in Germany?", "Germany refers to country_code = 'DEU'"]), []);
  const stored = dbValues();
  const questions = [
    "blue eyes",
    "jose from france",
    "spider man or o'brien",
    "brown hazel green eyes of women in the united states",
    "ANNA SMITH code usa civ",
  ];
  for (const q of questions) {
    for (const x of m.match([q], { perColumn: 10 })) {
      assert(
        stored.get(`${x.table}.${x.column}`)?.has(x.value),
        `${q}: ${x.table}.${x.column}=${x.value} invented`,
      );
    }
  }
});

Deno.test("the index is cached by content, and a stopped build resumes after its last finished column", async () => {
  const cacheDir = join(ROOT, "resume-cache");
  clearValueIndexMemo();
  await rejects(
    ensureValueIndex(SOURCE, { ...indexOpts, cacheDir, stopAfter: 3 }),
    /stopped after 3 columns/,
  );
  const partial = readdirSync(cacheDir).filter((f) => f.endsWith(".partial.jsonl"));
  assertEquals(partial.length, 1);
  const lines = Deno.readTextFileSync(join(cacheDir, partial[0])).trim().split("\n");
  assertEquals(lines.length, 1 + 3);
  // Resumed: the 3 finished columns are not read again (a marked one proves it), the rest are.
  const marked = JSON.parse(lines[1]);
  marked.values = [...marked.values, "RESUMED-MARK"];
  lines[1] = JSON.stringify(marked);
  Deno.writeTextFileSync(join(cacheDir, partial[0]), lines.join("\n") + "\n");
  const resumed = await ensureValueIndex(SOURCE, { ...indexOpts, cacheDir });
  assert(resumed.columns[0].values.includes("RESUMED-MARK"));
  assertEquals(resumed.columns.length, 8);
  assert(!existsSync(join(cacheDir, partial[0])));
  const files = readdirSync(cacheDir).filter((f) => f.endsWith(".json"));
  assertEquals(files.length, 1);
  // Loaded from the cache file (not rebuilt) by a fresh process' memo.
  clearValueIndexMemo();
  const loaded = await ensureValueIndex(SOURCE, { ...indexOpts, cacheDir });
  assert(loaded.columns[0].values.includes("RESUMED-MARK"));
});

Deno.test("per-question schemas: values beside their columns, linking keeps keys and joins, M-Schema", async () => {
  clearValueIndexMemo();
  clearSchemaModelCache();
  const q = {
    db_id: "dirty",
    question: "How many people from France have blue eyes?",
    evidence: "France refers to name = 'France'",
  };
  const values = new QuestionSchemas(SOURCE, {
    dbRoot: DB_ROOT,
    prompt: { values: 3 },
    cacheDir: CACHE,
    silent: true,
  });
  const withValues = (await values.of(q)).text;
  assert(withValues.includes("    eye          TEXT default NULL, -- values: 'Blue', 'blue '\n"), withValues);
  assert(withValues.includes("name TEXT -- values: 'France'"), withValues);
  assert(withValues.includes('CREATE TABLE "unrelated stuff"'));

  const linked = new QuestionSchemas(SOURCE, {
    dbRoot: DB_ROOT,
    prompt: { values: 3, link: true },
    cacheDir: CACHE,
    silent: true,
  });
  const l = await linked.of(q);
  assert(!l.text.includes("unrelated stuff"), l.text);
  assert(!l.text.includes("height") && !l.text.includes("bio"), l.text);
  for (const key of ["person.id", "person.eye", "person.country_code", "country.code", "country.name"]) {
    assert(l.hints.keep!.has(key), key);
  }
  assert(l.text.includes("foreign key (country_code) references country(code)"));

  const m = new QuestionSchemas(SOURCE, {
    dbRoot: DB_ROOT,
    prompt: { values: 2, schemaFormat: "mschema" },
    cacheDir: CACHE,
    silent: true,
  });
  const ms = (await m.of(q)).text;
  assert(
    ms.startsWith("【DB_ID】 dirty\n【Schema】\n# Table: country\n[\n(code:TEXT, Primary Key, Examples: ["),
    ms,
  );
  assert(ms.includes("(eye:TEXT, Examples: [Blue, blue ])"), ms);
  assert(ms.includes("【Foreign keys】\nperson.country_code=country.code"), ms);
  // Free text: M-Schema's rule shows no example over 50 characters.
  assert(/\(bio:TEXT\)/.test(ms), ms);
});

Deno.test("with no hints the model renders exactly the default schema; options change the hash only when set", async () => {
  clearSchemaModelCache();
  for (const [sampleRows, descriptions] of [[0, false], [2, false], [0, true], [3, true]] as const) {
    const text = await schemaFor(SOURCE, { dbRoot: DB_ROOT, dbId: "dirty", sampleRows, descriptions });
    const model = await schemaModelFor(SOURCE, { dbRoot: DB_ROOT, dbId: "dirty", sampleRows, descriptions });
    assertEquals(renderSchemaModel(model), text);
  }
  assertEquals(resolvePromptOptions({ values: 0, link: false, schemaFormat: "ddl" }), resolvePromptOptions());
  assertEquals(templateHash({ values: 0, link: false, schemaFormat: "ddl" }), templateHash());
  const hashes = new Set([
    templateHash(),
    templateHash({ values: 3 }),
    templateHash({ values: 5 }),
    templateHash({ link: true }),
    templateHash({ schemaFormat: "mschema" }),
  ]);
  assertEquals(hashes.size, 5);
  assertEquals(resolvePromptOptions({ values: 3, link: true, schemaFormat: "mschema" }), {
    evidence: true,
    sampleRows: 0,
    descriptions: false,
    reasoning: false,
    values: 3,
    schemaFormat: "mschema",
    link: true,
  });
});

Deno.test("CREATE statements split and join back byte for byte, quoted names and constraints included", () => {
  const cases = [
    "CREATE TABLE t (a TEXT, b INTEGER)",
    'CREATE TABLE "order" ("a b" TEXT NOT NULL DEFAULT \'x,y\', [c] REAL, CHECK (c > 0), PRIMARY KEY ("a b"))',
    "CREATE TABLE x\n(\n    id INTEGER not null\n        primary key,\n    y TEXT default NULL\n)",
    "CREATE TABLE t -- (old, names)\n (a /* (x, y) */ TEXT, b INTEGER)",
  ];
  for (const sql of cases) {
    const parts = splitCreate(sql)!;
    assertEquals(joinCreate(parts, parts.items.map((item) => ({ item, comment: null }))), sql);
  }
  const p = splitCreate(cases[1])!;
  assertEquals(p.items.map((i) => i.column), ["a b", "c", null, null]);
  assertEquals(p.items[3].constraintColumns, ["a b"]);
  // A parenthesis in a comment (before the body or inside it) is not the statement's.
  assertEquals(splitCreate(cases[3])!.items.map((i) => i.column), ["a", "b"]);
  // A comment on a one-line statement gets its own line so it cannot swallow the rest.
  const one = splitCreate(cases[0])!;
  assertEquals(
    joinCreate(one, [{ item: one.items[0], comment: "values: 'x'" }, { item: one.items[1], comment: null }]),
    "CREATE TABLE t (a TEXT, -- values: 'x'\n b INTEGER)",
  );
});

Deno.test("gold literals and columns, per dialect", async () => {
  clearSchemaModelCache();
  const model = await schemaModelFor(SOURCE, { dbRoot: DB_ROOT, dbId: "dirty" });
  const lits = (sql: string, dialect: "sqlite" | "postgresql" | "mysql" = "sqlite") =>
    goldLiterals(sql, { dialect, model }).map((l) => `${l.kind}:${l.text}`);
  assertEquals(
    lits(
      "SELECT T1.name FROM person AS T1 INNER JOIN country AS T2 ON T1.country_code = T2.code " +
        "WHERE T2.name = 'France' AND T1.height BETWEEN 150 AND 190 AND STRFTIME('%Y', x) = '2012' " +
        "AND T1.name LIKE '%Brien%' AND T1.id IN (1, 2) ORDER BY T1.height * 100 LIMIT 5",
    ),
    ["string:France", "number:150", "number:190", "string:2012", "string:Brien", "number:1", "number:2"],
  );
  // SQLite's double-quoted string (no such column) is a literal; MySQL's always; PostgreSQL's an identifier.
  assertEquals(lits('SELECT name FROM person WHERE eye = "Blue"'), ["string:Blue"]);
  assertEquals(lits("SELECT \"name\" FROM person WHERE eye = 'Blue'"), ["string:Blue"]);
  assertEquals(lits('SELECT name FROM person WHERE eye = "O\\\'B"', "mysql"), ["string:O'B"]);
  assertEquals(lits("SELECT \"name\" FROM person WHERE eye = 'Blue'", "postgresql"), ["string:Blue"]);
  assertEquals(lits("SELECT TO_CHAR(d, 'YYYY') FROM person WHERE x >= -3", "postgresql"), ["number:3"]);

  const cols = goldColumns(
    "SELECT T1.name, COUNT(id) FROM person AS T1 INNER JOIN country T2 ON T1.country_code = T2.code " +
      "WHERE T2.name = 'France' GROUP BY T1.name",
    model,
  );
  assertEquals([...cols].sort(), [
    "country.code",
    "country.name",
    "person.country_code",
    "person.id",
    "person.name",
  ]);
  // Whole tokens, case-sensitive: 'Male' is not in 'Female', 'blue' is not 'Blue', 12 is not in 120.
  assert(!literalInPrompt({ kind: "string", text: "Male" }, "-- Female"));
  assert(!literalInPrompt({ kind: "string", text: "blue" }, "'Blue'"));
  assert(literalInPrompt({ kind: "string", text: "blue " }, "'blue '"));
  assert(!literalInPrompt({ kind: "number", text: "12" }, "height > 120"));
  assert(literalInPrompt({ kind: "number", text: "1.0" }, "= 1 "));
});

Deno.test("a gold literal not in the data stays missing with --values; linking keeps what the gold needs", async () => {
  clearValueIndexMemo();
  clearSchemaModelCache();
  const qs = new QuestionSchemas(SOURCE, {
    dbRoot: DB_ROOT,
    prompt: { values: 5, link: true },
    cacheDir: CACHE,
    silent: true,
  });
  const ex = { db_id: "dirty", question: "How many people have green eyes?", evidence: "" };
  const s = await qs.of(ex);
  const literal = goldLiterals("SELECT COUNT(id) FROM person WHERE eye = 'Green'", { model: s.model })[0];
  assert(!literalInPrompt(literal, s.text), s.text);
  assert(!/green/i.test(s.text), s.text);
  const gold = goldColumns("SELECT COUNT(id) FROM person WHERE eye = 'Green'", s.model);
  for (const c of gold) assert(s.hints.keep!.has(c), c);
  // A question touching nothing keeps the whole schema.
  const all = linkSchema(s.model, { question: "zzzz qqqq?", evidence: "", matched: [] });
  assertEquals(all.size, s.model.tables.reduce((n, t) => n + t.columns.length, 0));
  assert(compactText(" Côte  d'Ivoire ") === "cotedivoire");
});
