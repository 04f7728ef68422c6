import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildCotDataset, type CotOptions, readProgress, teacherAnswer } from "../../lib/train/mod.ts";
import { cotCommand } from "../../lib/cli/cot.ts";
import {
  buildMessages,
  REASONING_SYSTEM_PROMPT,
  renderUserPrompt,
  templateHash,
} from "../../lib/prompt/prompts.ts";
import { renderSchema } from "../../lib/prompt/schema.ts";
import { extractSql } from "../../lib/model/sql_extract.ts";
import { splitOf } from "../../lib/train/sft_split.ts";
import { type Reply, type ScriptRequest, startFakeOpenAI } from "../support/fake_openai_server.ts";

const root = join(import.meta.dirname!, "..", "..");
const SUPERHERO = join(root, "data", "sample", "dev_databases", "superhero", "superhero.sqlite");
const dev = JSON.parse(readFileSync(join(root, "data", "sample", "dev.json"), "utf8")) as Record<
  string,
  unknown
>[];
const byId = (id: number) => dev.find((e) => e.question_id === id)!;

const EQUIVALENT = 717; // different SQL, same result: kept
const WRONG = 718; // wrong SQL: rejected, different_result
const FLAKY = 721; // 500 first, then the gold SQL: kept
const NO_SQL = 722; // prose only: rejected, no_sql
const BAD_SQL = 725; // SQL error: rejected, sql_error
const INLINE = 745; // the original teacher format (inline fence) plus trailing prose: kept, normalised
const IDS = [EQUIVALENT, WRONG, FLAKY, NO_SQL, BAD_SQL, INLINE];

const EQUIVALENT_SQL = "SELECT sp.power_name FROM superpower AS sp WHERE sp.id IN (SELECT hp.power_id FROM " +
  "hero_power AS hp WHERE hp.hero_id IN (SELECT id FROM superhero WHERE superhero_name = '3-D Man'))";

function reasoning(sql: string): string {
  return "Let me think through this step by step:\n\n1. First, I need to consider which tables hold the data.\n" +
    "2. Then, I join them on their keys.\n3. Next, I apply the filters from the question.\n\n" +
    "Finally, the SQL statement for the text question is:\n```sql\n" + sql + "\n```";
}

/** The fake teacher: answers by which question the prompt holds. */
function teacher(req: ScriptRequest): Reply {
  const content = req.messages[req.messages.length - 1].content;
  const id = IDS.find((i) => content.includes("-- Question: " + byId(i).question + "\n"));
  const gold = id === undefined ? "SELECT 1" : byId(id).SQL as string;
  switch (id) {
    case EQUIVALENT:
      return { content: reasoning(EQUIVALENT_SQL) };
    case WRONG:
      return { content: reasoning("SELECT COUNT(*) FROM hero_power") };
    case FLAKY:
      return req.attempt === 1
        ? { status: 500, message: "upstream overloaded" }
        : { content: reasoning(gold) };
    case NO_SQL:
      return { content: "I am not sure how to answer this question with the given schema." };
    case BAD_SQL:
      return { content: reasoning("SELECT COUNT(*) FROM heroes") };
    case INLINE:
      return {
        content:
          "<think>ok</think>Let me think through this step by step:\n\n1. First, the publisher table.\n\n" +
          "Finally, the SQL statement for the text question is:\n```sql " + gold + " ```\n\nHope this helps!",
      };
    default:
      return { content: reasoning(gold) };
  }
}

function birdFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), "cot-data-"));
  mkdirSync(join(dir, "dev_databases", "superhero"), { recursive: true });
  copyFileSync(SUPERHERO, join(dir, "dev_databases", "superhero", "superhero.sqlite"));
  writeFileSync(join(dir, "dev.json"), JSON.stringify(IDS.map(byId)));
  return dir;
}

function lines(dir: string, name: string): { messages: { role: string; content: string }[] }[] {
  return readFileSync(join(dir, name), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

async function setup() {
  const server = await startFakeOpenAI({
    script: teacher,
    models: [{ id: "teacher", owned_by: "test", created: 1_700_000_000 }],
  });
  const data = birdFolder();
  const tmp = mkdtempSync(join(tmpdir(), "cot-"));
  const options = (out: string, extra: Partial<CotOptions> = {}): CotOptions => ({
    dataset: data,
    out: join(tmp, out),
    model: "teacher",
    baseUrl: server.url,
    cacheDir: join(tmp, "cache"),
    silent: true,
    workers: 2,
    concurrency: 4,
    clientOptions: { env: () => undefined, backoffBaseMs: 1, backoffMaxMs: 5 },
    ...extra,
  });
  const cleanup = async () => {
    await server.close();
    rmSync(data, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  };
  return { server, data, tmp, options, cleanup };
}

Deno.test("cot: equivalent SQL kept, wrong/no/bad SQL rejected with reasons, 500 retried", async () => {
  const { server, options, cleanup } = await setup();
  try {
    const r = await buildCotDataset(options("a"));
    assertEquals(r.rejected.map((x) => [x.question_id, x.reason]), [
      [WRONG, "different_result"],
      [NO_SQL, "no_sql"],
      [BAD_SQL, "sql_error"],
    ]);
    ok(r.rejected.find((x) => x.reason === "sql_error")!.error!.includes("heroes"));
    assertEquals(r.stats.counts.kept, 3);
    const doc = JSON.parse(readFileSync(join(r.dir, "dataset.json"), "utf8"));
    assertEquals(doc.counts.rejected, 3);
    assertEquals(doc.rejected_by_reason, { different_result: 1, no_sql: 1, sql_error: 1 });
    assertEquals(doc.prompt.template_hash, templateHash({ reasoning: true }));
    assertEquals(doc.teacher.model, "teacher");
    // The 500 was retried: the flaky question's prompt was sent twice.
    const flakyPrompts = server.requests.filter((q) =>
      q.path.endsWith("/chat/completions") &&
      JSON.stringify(q.body).includes(JSON.stringify(byId(FLAKY).question as string).slice(1, -1))
    );
    assertEquals(flakyPrompts.length, 2);

    const kept = [...lines(r.dir, "train.jsonl"), ...lines(r.dir, "test.jsonl")];
    assertEquals(kept.length, 3);
    const schema = renderSchema(SUPERHERO);
    for (const conv of kept) {
      const q = dev.find((e) => conv.messages[1].content.endsWith("-- Question: " + e.question))!;
      const evalMsgs = buildMessages(q as never, schema, { reasoning: true });
      assertEquals(conv.messages.slice(0, 2), evalMsgs);
      assertEquals(conv.messages[0].content, REASONING_SYSTEM_PROMPT);
      const answer = conv.messages[2].content;
      ok(/```sql\n[\s\S]+\n```$/.test(answer), answer);
      ok(!answer.includes("<think>") && !answer.includes("Hope this helps"));
      const expectedSql = q.question_id === EQUIVALENT ? EQUIVALENT_SQL : (q.SQL as string).trim();
      assertEquals(extractSql(answer), expectedSql);
    }
    // Same split as sft.
    for (const l of lines(r.dir, "test.jsonl")) {
      const q = dev.find((e) => l.messages[1].content.endsWith("-- Question: " + e.question))!;
      assertEquals(splitOf(q as never), "test");
    }
    // The teacher saw the evaluation user prompt and the gold SQL, never "-- Text Question".
    const teacherBody = server.requests.find((q) => q.path.endsWith("/chat/completions"))!.body!;
    const content = (teacherBody.messages as { content: string }[])[0].content;
    ok(content.includes("-- Gold SQL: "));
    ok(!content.includes("Text Question"));
    const q0 = IDS.map(byId).find((e) => content.includes("-- Question: " + e.question + "\n"))!;
    ok(content.includes(renderUserPrompt(q0 as never, schema)));
  } finally {
    await cleanup();
  }
});

Deno.test("cot: byte-identical output for identical input; rerun skips finished questions", async () => {
  const { server, options, cleanup } = await setup();
  try {
    const a = await buildCotDataset(options("same"));
    const before = server.requests.length;
    const snapshot = ["train.jsonl", "test.jsonl", "dataset.json", "progress.jsonl"].map((f) =>
      readFileSync(join(a.dir, f), "utf8")
    );
    // Same folder, cache bypassed: the progress file alone must prevent any new chat request.
    const b = await buildCotDataset(options("same", { cache: false }));
    assertEquals(b.requests, 0);
    assertEquals(server.requests.slice(before).filter((q) => q.path.endsWith("/chat/completions")).length, 0);
    assertEquals(
      ["train.jsonl", "test.jsonl", "dataset.json", "progress.jsonl"].map((f) =>
        readFileSync(join(b.dir, f), "utf8")
      ),
      snapshot,
    );
    // A fresh folder served from the cache gives the same bytes.
    const c = await buildCotDataset(options("other"));
    assertEquals(c.requests, 0);
    for (const f of ["train.jsonl", "test.jsonl", "dataset.json"]) {
      assertEquals(readFileSync(join(c.dir, f), "utf8"), readFileSync(join(a.dir, f), "utf8"));
    }
  } finally {
    await cleanup();
  }
});

Deno.test("cot: a generation error is recorded, and retried (only it) on the next run", async () => {
  const { server, options, cleanup } = await setup();
  try {
    let broken = true;
    server.setScript((req) => {
      const content = req.messages[0].content;
      if (broken && content.includes(byId(EQUIVALENT).question as string)) return { status: 500 };
      return teacher(req);
    });
    const a = await buildCotDataset(options("g", { maxRetries: 1, cache: false }));
    const gen = a.rejected.find((x) => x.reason === "generation_error")!;
    assertEquals(gen.question_id, EQUIVALENT);
    ok(gen.error!.includes("500"), gen.error!);
    const progress = await readProgress(join(a.dir, "progress.jsonl"));
    assertEquals(progress.size, IDS.length);
    broken = false;
    server.reset();
    const b = await buildCotDataset(options("g", { maxRetries: 1, cache: false }));
    const chats = server.requests.filter((q) => q.path.endsWith("/chat/completions"));
    assertEquals(chats.length, 1);
    assertEquals(b.stats.counts.kept, 3);
    assertEquals(b.rejected.some((x) => x.reason === "generation_error"), false);
  } finally {
    await cleanup();
  }
});

Deno.test("cot: a torn last line of progress.jsonl is tolerated", async () => {
  const { server, options, cleanup } = await setup();
  try {
    const a = await buildCotDataset(options("t"));
    const path = join(a.dir, "progress.jsonl");
    const whole = readFileSync(path, "utf8");
    writeFileSync(path, whole + '{"key":"abc","index":');
    // Every intact line still reads, so the rerun asks the teacher nothing (no cache to hide a redo).
    assertEquals((await readProgress(path)).size, IDS.length);
    server.reset();
    const b = await buildCotDataset(options("t", { cache: false }));
    assertEquals(b.stats.counts, a.stats.counts);
    assertEquals(server.requests.filter((q) => q.path.endsWith("/chat/completions")).length, 0);
    // Compaction drops the torn fragment.
    assertEquals(readFileSync(path, "utf8"), whole);
  } finally {
    await cleanup();
  }
});

Deno.test("cot: wrong model fails fast; missing database is a clear error", async () => {
  const { options, data, cleanup } = await setup();
  try {
    await rejects(buildCotDataset(options("m", { model: "nope" })), (e: Error) => e.name === "StartupError");
    writeFileSync(join(data, "dev.json"), JSON.stringify([{ ...byId(717), db_id: "gone" }]));
    await rejects(
      buildCotDataset(options("m")),
      (e: Error) => e.name === "DatasetError" && e.message.includes("gone"),
    );
  } finally {
    await cleanup();
  }
});

Deno.test("teacherAnswer: normalises the final fence, rejects missing SQL or reasoning", () => {
  const ok1 = teacherAnswer(reasoning("SELECT 1;") + "\n\nThat is all.");
  assertEquals(ok1.ok && ok1.sql, "SELECT 1");
  ok(ok1.ok && ok1.answer.endsWith("is:\n```sql\nSELECT 1\n```"));
  assertEquals(teacherAnswer("no sql here"), {
    ok: false,
    reason: "no_sql",
    error: "no fenced SQL query in the answer",
  });
  assertEquals(teacherAnswer("SELECT 1").ok, false);
  assertEquals(teacherAnswer("```sql\nSELECT 1\n```"), {
    ok: false,
    reason: "no_reasoning",
    error: "no reasoning before the SQL",
  });
});

Deno.test("cotCommand: end to end through the flags", async () => {
  const { options, tmp, cleanup } = await setup();
  const saved = { xdg: Deno.env.get("XDG_CACHE_HOME"), key: Deno.env.get("OPENAI_API_KEY") };
  Deno.env.set("XDG_CACHE_HOME", join(tmp, "xdg"));
  Deno.env.delete("OPENAI_API_KEY");
  const log = console.log;
  const printed: string[] = [];
  console.log = (...a: unknown[]) => void printed.push(a.join(" "));
  try {
    const o = options("cli");
    const code = await cotCommand([
      "--dataset",
      o.dataset,
      "--model",
      "teacher",
      "--base-url",
      o.baseUrl!,
      "--concurrency",
      "2",
      "--limit",
      "4",
      "--quiet",
      "--out",
      o.out,
    ]);
    assertEquals(code, 0);
    const doc = JSON.parse(readFileSync(join(o.out, "dataset.json"), "utf8"));
    assertEquals([doc.counts.selected, doc.counts.kept, doc.counts.rejected], [4, 2, 2]);
    ok(printed.some((l) => l.startsWith("cot: 2 kept")), printed.join("\n"));
    await rejects(cotCommand(["--dataset", o.dataset, "--out", o.out]), /--model is required/);
    await rejects(cotCommand(["--api-key", "x"]), /environment only/);
  } finally {
    console.log = log;
    if (saved.xdg === undefined) Deno.env.delete("XDG_CACHE_HOME");
    else Deno.env.set("XDG_CACHE_HOME", saved.xdg);
    if (saved.key !== undefined) Deno.env.set("OPENAI_API_KEY", saved.key);
    await cleanup();
  }
});

Deno.test("reasoning that cites the gold SQL is rejected; an empty gold result keeps only the gold SQL itself", async () => {
  // Pure check of the teacher answer.
  const cites = teacherAnswer(
    "Looking at the gold SQL we were given, it selects the name of the hero, so I will follow it.\n" +
      "```sql\nSELECT superhero_name FROM superhero\n```",
  );
  ok(!cites.ok && cites.reason === "mentions_gold");
  // End to end: a gold query with no rows cannot tell `WHERE 0` from the right answer.
  const dir = mkdtempSync(join(tmpdir(), "cot-empty-"));
  mkdirSync(join(dir, "dev_databases", "superhero"), { recursive: true });
  copyFileSync(SUPERHERO, join(dir, "dev_databases", "superhero", "superhero.sqlite"));
  const empty = "SELECT superhero_name FROM superhero WHERE height_cm = 1000";
  writeFileSync(
    join(dir, "dev.json"),
    JSON.stringify([
      {
        question_id: 1,
        db_id: "superhero",
        question: "Which heroes are 1000 cm tall?",
        evidence: "",
        SQL: empty,
      },
      {
        question_id: 2,
        db_id: "superhero",
        question: "Heroes exactly 1000 cm tall?",
        evidence: "",
        SQL: empty,
      },
    ]),
  );
  const server = await startFakeOpenAI({
    script: (req) => {
      const content = req.messages[req.messages.length - 1].content;
      return {
        content: reasoning(content.includes("Which heroes") ? "SELECT * FROM superhero WHERE 0" : empty),
      };
    },
  });
  try {
    const out = join(dir, "out");
    const result = await buildCotDataset({
      dataset: join(dir, "dev.json"),
      out,
      model: "fake-model",
      baseUrl: server.url,
      cache: false,
      quiet: true,
    } as CotOptions);
    assertEquals(result.rejected.map((r) => [r.question_id, r.reason]), [[1, "unverifiable"]]);
    assertEquals(lines(out, "train.jsonl").length + lines(out, "test.jsonl").length, 1);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
