import { deepStrictEqual as assertEquals, notDeepStrictEqual, ok, rejects } from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  buildSftDataset,
  conversationTokens,
  jsonlLine,
  orderKey,
  type SftOptions,
  splitOf,
} from "../../lib/train/mod.ts";
import { sftCommand } from "../../lib/cli/sft.ts";
import { buildMessages, renderUserPrompt, SYSTEM_PROMPT, templateHash } from "../../lib/prompt/prompts.ts";
import { renderSchema } from "../../lib/prompt/schema.ts";
import { chatTokens, countTokens, lengthStats, messageTokens } from "../../lib/train/llama_tokens.ts";
import { parseDataset } from "../../lib/data/dataset.ts";

const root = join(import.meta.dirname!, "..", "..");
const SAMPLE_DEV = join(root, "data", "sample", "dev.json");
const SUPERHERO = join(root, "data", "sample", "dev_databases", "superhero", "superhero.sqlite");
const dev = JSON.parse(readFileSync(SAMPLE_DEV, "utf8")) as Record<string, unknown>[];
const superhero = dev.filter((e) => e.db_id === "superhero");

/** A temp folder in BIRD train layout: train.json + train_databases/<db>/<db>.sqlite (copies of superhero). */
function birdFolder(entries: Record<string, unknown>[], dbs: string[] = ["superhero"]): string {
  const dir = mkdtempSync(join(tmpdir(), "sft-test-"));
  for (const db of dbs) {
    mkdirSync(join(dir, "train_databases", db), { recursive: true });
    copyFileSync(SUPERHERO, join(dir, "train_databases", db, `${db}.sqlite`));
  }
  // TRAIN has no difficulty field: drop it, as the real file does.
  const clean = entries.map(({ difficulty: _d, ...rest }) => rest);
  writeFileSync(join(dir, "train.json"), JSON.stringify(clean, null, 1));
  return dir;
}

function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of ["train.jsonl", "test.jsonl", "dataset.json"]) out[f] = readFileSync(join(dir, f), "utf8");
  return out;
}

function lines(dir: string, name: string): { messages: { role: string; content: string }[] }[] {
  return readFileSync(join(dir, name), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

const base = (dataset: string, out: string, extra: Partial<SftOptions> = {}): SftOptions => ({
  dataset,
  out,
  silent: true,
  workers: 2,
  ...extra,
});

Deno.test("sft on the bundled sample: byte-identical twice, prompt equals evaluation's, gold as answer", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "sft-"));
  try {
    const a = await buildSftDataset(base(SAMPLE_DEV, join(tmp, "a"), { db: ["superhero"] }));
    const b = await buildSftDataset(base(SAMPLE_DEV, join(tmp, "b"), { db: ["superhero"] }));
    assertEquals(files(a.dir), files(b.dir));
    assertEquals(a.stats.counts, {
      selected: 129,
      kept: 129,
      dropped: 0,
      train: a.stats.counts.train,
      test: 129 - a.stats.counts.train,
    });
    ok(a.stats.counts.test > 20 && a.stats.counts.test < 60, `test ${a.stats.counts.test}`);
    const all = [...lines(a.dir, "train.jsonl"), ...lines(a.dir, "test.jsonl")];
    assertEquals(all.length, 129);
    const schema = renderSchema(SUPERHERO);
    const q = superhero.find((e) => e.question_id === 743)!;
    const conv = all.find((l) => l.messages[1].content.endsWith("-- Question: " + q.question))!;
    const evalMessages = buildMessages(
      { question: q.question as string, evidence: q.evidence as string },
      schema,
    );
    assertEquals(conv.messages, [...evalMessages, { role: "assistant", content: (q.SQL as string).trim() }]);
    assertEquals(conv.messages[0].content, SYSTEM_PROMPT);
    // Key order of every line is fixed: messages → role, content.
    const raw = readFileSync(join(a.dir, "train.jsonl"), "utf8").split("\n")[0];
    ok(raw.startsWith('{"messages":[{"role":"system","content":"You are a text to SQL'));
    const doc = JSON.parse(files(a.dir)["dataset.json"]);
    assertEquals(doc.prompt.template_hash, templateHash());
    assertEquals(doc.tokens.tokenizer.exact, true);
    assertEquals(doc.tokens.total.count, 129);
    ok(doc.tokens.total.p95 >= doc.tokens.total.p50 && doc.tokens.total.max >= doc.tokens.total.p95);
    assertEquals(doc.split, {
      method: "sha256(seed, db_id, question) < test_ratio",
      seed: 42,
      test_ratio: 0.3,
      group_by_db: false,
    });
    ok(!/20\d\d-\d\d-\d\dT/.test(files(a.dir)["dataset.json"]), "no timestamps");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

Deno.test("split stable under reordering and adding questions; reordering leaves files byte-identical", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "sft-"));
  const picked = superhero.slice(0, 60);
  const reversed = [...picked].reverse();
  const more = [
    ...superhero.slice(60, 90),
    ...reversed.slice(0, 30),
    ...superhero.slice(90),
    ...reversed.slice(30),
  ];
  const f1 = birdFolder(picked);
  const f2 = birdFolder(reversed);
  const f3 = birdFolder(more);
  try {
    const r1 = await buildSftDataset(base(f1, join(tmp, "1")));
    const r2 = await buildSftDataset(base(f2, join(tmp, "2")));
    const r3 = await buildSftDataset(base(f3, join(tmp, "3")));
    assertEquals(readFileSync(join(r1.dir, "train.jsonl")), readFileSync(join(r2.dir, "train.jsonl")));
    assertEquals(readFileSync(join(r1.dir, "test.jsonl")), readFileSync(join(r2.dir, "test.jsonl")));
    const side = (dir: string) => {
      const m = new Map<string, string>();
      for (const s of ["train", "test"]) {
        for (const l of lines(dir, `${s}.jsonl`)) m.set(l.messages[1].content, s);
      }
      return m;
    };
    const s1 = side(r1.dir);
    const s3 = side(r3.dir);
    assertEquals(s1.size, 60);
    assertEquals(s3.size, superhero.length);
    for (const [prompt, s] of s1) assertEquals(s3.get(prompt), s);
  } finally {
    for (const d of [tmp, f1, f2, f3]) rmSync(d, { recursive: true, force: true });
  }
});

Deno.test("--group-by-db keeps each database on one side", async () => {
  const dbs = ["hero_a", "hero_b", "hero_c", "hero_d", "hero_e", "hero_f"];
  const entries = dbs.flatMap((db) => superhero.slice(0, 8).map((e) => ({ ...e, db_id: db })));
  const folder = birdFolder(entries, dbs);
  const tmp = mkdtempSync(join(tmpdir(), "sft-"));
  try {
    const r = await buildSftDataset(
      base(folder, join(tmp, "g"), { split: { groupByDb: true, testRatio: 0.5 } }),
    );
    const sides = new Map<string, Set<string>>();
    for (const l of r.lengths) {
      if (!sides.has(l.db_id)) sides.set(l.db_id, new Set());
      sides.get(l.db_id)!.add(l.split);
    }
    assertEquals(sides.size, 6);
    for (const [db, s] of sides) assertEquals(s.size, 1, db);
    for (const db of dbs) {
      assertEquals(
        sides.get(db)!.has(splitOf({ db_id: db, question: "" }, { groupByDb: true, testRatio: 0.5 })),
        true,
      );
    }
    // Per question (no grouping), some database is split across both sides.
    const r2 = await buildSftDataset(base(folder, join(tmp, "q"), { split: { testRatio: 0.5 } }));
    const mixed = dbs.some((db) =>
      new Set(r2.lengths.filter((l) => l.db_id === db).map((l) => l.split)).size === 2
    );
    ok(mixed);
    assertEquals(JSON.parse(readFileSync(join(r.dir, "dataset.json"), "utf8")).split.group_by_db, true);
  } finally {
    rmSync(folder, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
});

Deno.test("missing database: clear error naming the file and database; --skip-missing drops and records", async () => {
  const entries = [...superhero.slice(0, 5), { ...superhero[5], db_id: "no_such_db" }];
  const folder = birdFolder(entries);
  const tmp = mkdtempSync(join(tmpdir(), "sft-"));
  try {
    await rejects(buildSftDataset(base(folder, join(tmp, "x"))), (e: Error) => {
      assertEquals(e.name, "DatasetError");
      ok(e.message.includes(join(folder, "train.json")), e.message);
      ok(e.message.includes("no_such_db"), e.message);
      ok(e.message.includes("--skip-missing"), e.message);
      return true;
    });
    const r = await buildSftDataset(base(folder, join(tmp, "y"), { skipMissing: true }));
    assertEquals(r.stats.counts.kept, 5);
    assertEquals(r.dropped.map((d) => [d.index, d.db_id, d.reason]), [[5, "no_such_db", "missing_database"]]);
    const doc = JSON.parse(readFileSync(join(r.dir, "dataset.json"), "utf8"));
    assertEquals(doc.dropped[0].reason, "missing_database");
    // --db leaves the missing database out without an error.
    const r2 = await buildSftDataset(base(folder, join(tmp, "z"), { db: ["superhero"] }));
    assertEquals(r2.stats.counts.selected, 5);
  } finally {
    rmSync(folder, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
});

Deno.test("gold SQL that fails to execute is dropped with the reason", async () => {
  const entries = [...superhero.slice(0, 4), {
    ...superhero[4],
    SQL: "SELECT no_such_column FROM superhero",
  }];
  const folder = birdFolder(entries);
  const tmp = mkdtempSync(join(tmpdir(), "sft-"));
  try {
    const r = await buildSftDataset(base(folder, join(tmp, "o")));
    assertEquals(r.stats.counts, {
      selected: 5,
      kept: 4,
      dropped: 1,
      train: r.stats.counts.train,
      test: 4 - r.stats.counts.train,
    });
    assertEquals(r.dropped[0].reason, "gold_error");
    ok(r.dropped[0].error!.includes("no_such_column"), r.dropped[0].error!);
    // Without verification it is kept.
    const r2 = await buildSftDataset(base(folder, join(tmp, "n"), { verify: false }));
    assertEquals(r2.stats.counts.kept, 5);
  } finally {
    rmSync(folder, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
});

Deno.test("malformed input: errors name the file and the entry", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "sft-"));
  try {
    const bad = join(tmp, "bad.json");
    writeFileSync(bad, '[{"db_id": "superhero",');
    await rejects(buildSftDataset(base(bad, join(tmp, "o"))), (e: Error) => {
      assertEquals(e.name, "DatasetError");
      ok(e.message.includes(bad) && e.message.includes("malformed JSON"), e.message);
      return true;
    });
    const entry = join(tmp, "entry.json");
    writeFileSync(entry, JSON.stringify([superhero[0], { db_id: "superhero", SQL: "SELECT 1" }]));
    await rejects(buildSftDataset(base(entry, join(tmp, "o"))), (e: Error) => {
      ok(
        e.message.includes(entry) && e.message.includes("entry 1") && e.message.includes("question"),
        e.message,
      );
      return true;
    });
    await rejects(
      buildSftDataset(base(join(tmp, "nope.json"), join(tmp, "o"))),
      /nope\.json: dataset not found/,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

Deno.test("prompt options reach the user prompt (--no-evidence, --sample-rows, --descriptions)", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "sft-"));
  try {
    const opts = { evidence: false, sampleRows: 2, descriptions: true };
    const r = await buildSftDataset(
      base(SAMPLE_DEV, join(tmp, "p"), { db: ["superhero"], limit: 3, prompt: opts }),
    );
    const l = [...lines(r.dir, "train.jsonl"), ...lines(r.dir, "test.jsonl")];
    assertEquals(l.length, 3);
    const q = superhero.find((e) => l[0].messages[1].content.endsWith("-- Question: " + e.question))!;
    assertEquals(l[0].messages[1].content, renderUserPrompt(q as never, renderSchema(SUPERHERO, opts), opts));
    ok(!l[0].messages[1].content.includes("-- External Knowledge:"));
    ok(l[0].messages[1].content.includes("example rows"));
    const doc = JSON.parse(readFileSync(join(r.dir, "dataset.json"), "utf8"));
    assertEquals(doc.prompt.options, { ...opts, reasoning: false });
    assertEquals(doc.prompt.template_hash, templateHash(opts));
    assertEquals(doc.selection, { db: ["superhero"], limit: 3 });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

Deno.test("sftCommand: flags, exit code, usage errors", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "sft-"));
  const log = console.log;
  console.log = () => {};
  try {
    const code = await sftCommand([
      "--dataset",
      SAMPLE_DEV,
      "--db",
      "superhero",
      "--limit",
      "10",
      "--test-ratio",
      "0.5",
      "--seed",
      "7",
      "--quiet",
      "--out",
      join(tmp, "c"),
    ]);
    assertEquals(code, 0);
    const doc = JSON.parse(readFileSync(join(tmp, "c", "dataset.json"), "utf8"));
    assertEquals([doc.split.seed, doc.split.test_ratio, doc.counts.selected], [7, 0.5, 10]);
    await rejects(sftCommand(["--dataset", SAMPLE_DEV]), /--out is required/);
    await rejects(sftCommand(["--dataset", SAMPLE_DEV, "--out", tmp, "--test-ratio", "2"]), /--test-ratio/);
    await rejects(
      sftCommand(["--bogus"]),
      (e: Error & { code?: string }) => e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION",
    );
  } finally {
    console.log = log;
    rmSync(tmp, { recursive: true, force: true });
  }
});

Deno.test("splitOf: deterministic, ratio respected, extremes", () => {
  const qs = Array.from({ length: 2000 }, (_, i) => ({ db_id: `db${i % 7}`, question: `question ${i}` }));
  const test = qs.filter((q) => splitOf(q) === "test").length;
  ok(test > 540 && test < 660, `${test}`);
  assertEquals(qs.every((q) => splitOf(q, { testRatio: 0 }) === "train"), true);
  assertEquals(qs.every((q) => splitOf(q, { testRatio: 1 }) === "test"), true);
  notDeepStrictEqual(qs.map((q) => splitOf(q, { seed: 1 })), qs.map((q) => splitOf(q, { seed: 2 })));
  assertEquals(orderKey({ db_id: "a", question: "b", evidence: "", sql: "s" }, 1).length, 64);
  assertEquals(jsonlLine([{ role: "user", content: "x" }]), '{"messages":[{"role":"user","content":"x"}]}');
});

Deno.test("tokens: Llama 3 counts, chat overhead, stats", () => {
  assertEquals(countTokens("SELECT * FROM superhero"), 4);
  assertEquals(chatTokens([{ role: "user", content: "SELECT * FROM superhero" }]), 1 + 5 + 4);
  assertEquals(messageTokens({ role: "assistant", content: " SELECT * FROM superhero\n" }), 5 + 4);
  // Prompt and answer are counted apart; they must add up to the whole conversation's count.
  const conv = [
    { role: "system", content: SYSTEM_PROMPT },
    { role: "user", content: "-- DB Schema: CREATE TABLE t (a)\n\n-- Question: how many?" },
    { role: "assistant", content: "SELECT COUNT(*) FROM t" },
  ] as const;
  assertEquals(conversationTokens(conv), {
    promptTokens: chatTokens(conv.slice(0, 2)),
    answerTokens: chatTokens(conv) - chatTokens(conv.slice(0, 2)),
    totalTokens: chatTokens(conv),
  });
  assertEquals(lengthStats([5, 1, 3, 2, 4]), { count: 5, min: 1, mean: 3, p50: 3, p95: 5, max: 5 });
  assertEquals(lengthStats([]).max, null);
});

Deno.test("the parser used for TRAIN accepts entries without difficulty (train layout)", () => {
  const ex = parseDataset([{ db_id: "x", question: "q", SQL: "SELECT 1" }], "train.json");
  assertEquals(ex[0].difficulty, "unknown");
});

Deno.test("sft drops blank questions and blank gold SQL instead of training on them", async () => {
  const entries = [
    { ...superhero[0] },
    { ...superhero[1], question: "   " },
    { ...superhero[2], SQL: "  " },
  ];
  const dir = birdFolder(entries);
  try {
    const r = await buildSftDataset(base(join(dir, "train.json"), join(dir, "out")));
    assertEquals(r.dropped.map((d) => d.reason).sort(), ["empty_question", "empty_sql"]);
    assertEquals(
      lines(join(dir, "out"), "train.jsonl").length + lines(join(dir, "out"), "test.jsonl").length,
      1,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("sft --format grpo: prompt-only rows with db_id, gold SQL and the database path relative to the root", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "sft-grpo-"));
  try {
    const out = join(tmp, "g");
    const code = await sftCommand([
      "--dataset",
      SAMPLE_DEV,
      "--db",
      "superhero",
      "--limit",
      "10",
      "--format",
      "grpo",
      "--out",
      out,
      "--quiet",
      "--workers",
      "2",
    ]);
    assertEquals(code, 0);
    const rows = [...lines(out, "train.jsonl"), ...lines(out, "test.jsonl")] as unknown as {
      messages: { role: string; content: string }[];
      db_id: string;
      gold_sql: string;
      db_path: string;
    }[];
    assertEquals(rows.length, 10);
    const schema = renderSchema(SUPERHERO);
    for (const r of rows) {
      assertEquals(r.messages.map((m) => m.role), ["system", "user"]);
      assertEquals(Object.keys(r), ["messages", "db_id", "gold_sql", "db_path"]);
      assertEquals([r.db_id, r.db_path], ["superhero", "superhero/superhero.sqlite"]);
      const q = superhero.find((e) => r.messages[1].content.endsWith("-- Question: " + e.question))!;
      assertEquals(r.gold_sql, (q.SQL as string).trim());
      assertEquals(
        r.messages,
        buildMessages({ question: q.question as string, evidence: q.evidence as string }, schema),
      );
    }
    const doc = JSON.parse(readFileSync(join(out, "dataset.json"), "utf8"));
    assertEquals([doc.format, doc.assistant], ["grpo", null]);
    // Relative to the dataset folder, so the folder names no host path and moves with its databases.
    ok(!doc.db_root.startsWith("/"), doc.db_root);
    assertEquals(join(out, doc.db_root), join(root, "data", "sample", "dev_databases"));
    await rejects(
      () => sftCommand(["--dataset", SAMPLE_DEV, "--out", join(tmp, "x"), "--format", "chat"]),
      /--format/,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
