/**
 * The two inference modes end to end through `runEvaluation` and `deno task eval`, against the scripted
 * OpenAI-compatible server: self-consistency over K samples (the vote, its figures, gold-independence) and the
 * agent (trajectories, the turn limit, replay from cache, hostile SQL, a SIGKILL mid-trajectory).
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { join } from "node:path";
import { main } from "../../lib/cli/cli.ts";
import { loadDataset, selectExamples } from "../../lib/data/dataset.ts";
import { type EvalOptions, runEvaluation, RunMismatchError, SAMPLE_DIR } from "../../lib/run/evaluate.ts";
import { sha256Hex } from "../../lib/util/hash.ts";
import type { ChatMessage, ResultRecord } from "../../lib/types.ts";
import {
  answersFromDataset,
  type FakeServer,
  questionOf,
  type Reply,
  type Script,
  type ScriptRequest,
  sqlToolCall,
  startFakeOpenAI,
} from "../support/fake_openai_server.ts";
import { killAfterLines } from "../support/robust_helpers.ts";

const DEV = join(SAMPLE_DIR, "dev.json");
const DB = join(SAMPLE_DIR, "dev_databases", "superhero", "superhero.sqlite");
const FAST = { backoffBaseMs: 5, backoffMaxMs: 20, retryAfterCapMs: 50 };
const chats = (s: FakeServer) => s.requests.filter((r) => r.path.endsWith("/chat/completions")).length;

async function withServer(script: Script, fn: (s: FakeServer) => Promise<void>, latencyMs = 0) {
  const server = await startFakeOpenAI({ script, latencyMs });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

async function dirs() {
  return {
    out: await Deno.makeTempDir({ prefix: "t2s-modes-run-" }),
    cacheDir: await Deno.makeTempDir({ prefix: "t2s-modes-cache-" }),
    goldCacheDir: await Deno.makeTempDir({ prefix: "t2s-modes-gold-" }),
  };
}

function run(url: string, d: Awaited<ReturnType<typeof dirs>>, extra: Partial<EvalOptions>): EvalOptions {
  return {
    ...d,
    db: ["superhero"],
    model: "fake-model",
    baseUrl: url,
    silent: true,
    clientOptions: FAST,
    ...extra,
  };
}

const strip = (sql: string) => sql.trim().replace(/;\s*$/, "");
const sub = (sql: string) => `SELECT * FROM (${strip(sql)})`;
const withCte = (sql: string) => `WITH t AS (${strip(sql)}) SELECT * FROM t`;
const W1 = "SELECT -1";
const W1b = "SELECT -1 AS w";
const W2 = "SELECT -2";
const ERR = (i: number) => `SELECT no_such_column_${i} FROM superhero`;

/**
 * The K = 5 samples of the first four superhero questions (by dataset order: 717 simple, 718 simple,
 * 719 moderate, 720 simple):
 * - 717: two wrong, three differently written correct ones → the vote is correct, the first sample wrong;
 * - 718: correct first, then two wrong agreeing ones → the vote is wrong, the first sample right;
 * - 719: a 2–2 tie, the correct group holding sample 0 → correct;
 * - 720: all five erroring → the first candidate, a `pred_error`.
 */
function votingSamples(index: number, gold: string): string[] {
  switch (index) {
    case 0:
      return [W1, gold, W2, sub(gold), withCte(gold)];
    case 1:
      return [gold, W1, W1b, W2, ERR(1)];
    case 2:
      return [gold, W1, sub(gold), W1b, ERR(2)];
    default:
      return [ERR(1), ERR(2), ERR(3), ERR(4), ERR(5)];
  }
}

async function votingScript(): Promise<Script> {
  const answers = await answersFromDataset(DEV);
  const dataset = await loadDataset(DEV);
  const order = selectExamples(dataset, { db: ["superhero"], limit: 4 }).map((e) => e.question);
  assertEquals(selectExamples(dataset, { db: ["superhero"], limit: 4 }).map((e) => e.index), [
    717,
    718,
    719,
    720,
  ]);
  return (req: ScriptRequest): Reply => {
    const q = questionOf(req.messages)!;
    const texts = votingSamples(order.indexOf(q), answers.get(q)!);
    // Fenced, as a model answers: the SQL is extracted exactly as in single-answer mode.
    return { content: texts.slice(0, req.n).map((t) => "```sql\n" + t + "\n```") };
  };
}

Deno.test("voting K 5: the vote, first and oracle figures exact, a tie, all erroring; a rerun is free", async () => {
  await withServer(await votingScript(), async (server) => {
    const d = await dirs();
    const res = await runEvaluation(run(server.url, d, { limit: 4, n: 5, temperature: 0.8 }));
    assertEquals(chats(server), 4, "one request with n: 5 per question");
    assert(server.requests.filter((r) => r.body?.messages).every((r) => r.body!.n === 5));
    const byIndex = new Map(res.records.map((r) => [r.index, r]));
    const [q0, q1, q2, q3] = [717, 718, 719, 720].map((i) => byIndex.get(i)!);
    // Three correct texts, written three ways, beat two wrong ones.
    assertEquals(q0.status, "correct");
    assertEquals(q0.answer_sample, 1);
    assertEquals(q0.candidates!.map((c) => c.status), ["outvoted", "answer", "outvoted", "agrees", "agrees"]);
    assertEquals(q0.candidates!.map((c) => c.group_size), [1, 3, 1, 3, 3]);
    assertEquals(q0.candidates!.map((c) => c.correct), [false, true, false, true, true]);
    assertEquals(q0.executions, 5);
    // Two agreeing wrong answers outvote one right one.
    assertEquals(q1.status, "wrong");
    assertEquals(q1.sql, W1);
    assertEquals(q1.candidates!.map((c) => c.status), ["outvoted", "answer", "agrees", "outvoted", "error"]);
    // The tie goes to the group holding the earliest sample.
    assertEquals(q2.status, "correct");
    assertEquals(q2.answer_sample, 0);
    assertEquals(q2.candidates!.map((c) => c.group_size), [2, 2, 2, 2, 0]);
    // Every candidate fails: the first is the answer.
    assertEquals(q3.status, "pred_error");
    assertEquals(q3.sql, ERR(1));
    assertEquals(q3.candidates!.map((c) => c.status), ["answer", "error", "error", "error", "error"]);
    assert(q3.candidates!.every((c) => c.correct === false && /no_such_column/.test(c.error!)));

    const s = res.summary;
    assertEquals(s.accuracy, 50);
    assertEquals(
      { n: s.voting!.n, majority: s.voting!.majority, first: s.voting!.first, any: s.voting!.any },
      { n: 5, majority: 50, first: 50, any: 75 },
    );
    assertEquals(s.voting!.by_difficulty.simple, { total: 3, majority: 33.33, first: 33.33, any: 66.67 });
    assertEquals(s.voting!.by_difficulty.moderate, { total: 1, majority: 100, first: 100, any: 100 });
    assertEquals(s.voting!.by_difficulty.challenging, { total: 0, majority: null, first: null, any: null });
    const written = JSON.parse(await Deno.readTextFile(join(d.out, "summary.json")));
    assertEquals(written.voting, s.voting);
    const preds = JSON.parse(await Deno.readTextFile(join(d.out, "predict_dev.json")));
    assertEquals(preds["717"].split("\t----- bird -----\t")[0], q0.sql, "the voted answer is written");
    const info = JSON.parse(await Deno.readTextFile(join(d.out, "run.json")));
    assertEquals(info.mode, { name: "voting", n: 5 });
    assertEquals(info.sampling.n, 5);

    server.reset();
    const again = await runEvaluation(run(server.url, { ...d, out: d.out + "-again" }, {
      limit: 4,
      n: 5,
      temperature: 0.8,
    }));
    assertEquals(chats(server), 0, "a rerun reads the K samples from the cache");
    assertEquals(again.records.map((r) => r.sql), res.records.map((r) => r.sql));
    assert(again.records.every((r) => r.cached));
  });
});

Deno.test("voting: the vote never sees gold (gold changed, the same voted SQL); modes never share a folder", async () => {
  await withServer(await votingScript(), async (server) => {
    const d = await dirs();
    const opts = { limit: 4, n: 5, temperature: 0.8 };
    const res = await runEvaluation(run(server.url, d, opts));
    const changed = join(await Deno.makeTempDir({ prefix: "t2s-modes-ds-" }), "dev.json");
    const rows = JSON.parse(await Deno.readTextFile(DEV)) as Record<string, unknown>[];
    await Deno.writeTextFile(changed, JSON.stringify(rows.map((r) => ({ ...r, SQL: W1 }))));
    const other = await runEvaluation(run(server.url, { ...d, out: d.out + "-gold" }, {
      ...opts,
      dataset: changed,
      dbRoot: join(SAMPLE_DIR, "dev_databases"),
    }));
    assertEquals(other.records.map((r) => r.sql), res.records.map((r) => r.sql));
    assertEquals(
      other.records.map((r) => r.candidates!.map((c) => c.status)),
      res.records.map((r) => r.candidates!.map((c) => c.status)),
    );
    // The verdicts did follow the new gold: W1 is now right.
    assertEquals(other.records.find((r) => r.index === 718)!.status, "correct");
    assertEquals(res.records.find((r) => r.index === 718)!.status, "wrong");

    await rejects(
      runEvaluation(run(server.url, d, { limit: 4, agent: true })),
      (e: Error) => e instanceof RunMismatchError && /mode voting over 5 samples/.test(e.message),
    );
    await rejects(
      runEvaluation(run(server.url, d, { limit: 4, temperature: 0.8 })),
      (e: Error) => e instanceof RunMismatchError && /this run is single answer/.test(e.message),
    );
  });
});

Deno.test("voting on an endpoint that ignores n: K requests per question; sample 0 is the single answer", async () => {
  const answers = await answersFromDataset(DEV);
  const dataset = await loadDataset(DEV);
  const order = selectExamples(dataset, { db: ["superhero"], limit: 2 }).map((e) => e.question);
  const script: Script = (req) => {
    const q = questionOf(req.messages)!;
    const texts = votingSamples(order.indexOf(q), answers.get(q)!);
    // One choice per request whatever `n` says; the attempt counter walks through the samples.
    return { content: [texts[(req.attempt - 1) % texts.length]], exact: true };
  };
  await withServer(script, async (server) => {
    const d = await dirs();
    const res = await runEvaluation(run(server.url, d, { limit: 2, n: 5, temperature: 0.8 }));
    assertEquals(chats(server), 10, "five one-sample requests per question");
    // Which later sample got which text depends on arrival order; the verdicts do not.
    const status = new Map(res.records.map((r) => [r.index, r.status]));
    assertEquals([status.get(717), status.get(718)], ["correct", "wrong"]);
    assert(res.records.every((r) => r.completions!.length === 5 && r.candidates!.length === 5));
    server.reset();
    const single = await runEvaluation(run(server.url, { ...d, out: d.out + "-single" }, {
      limit: 2,
      temperature: 0.8,
    }));
    assertEquals(chats(server), 0, "the single-answer run finds sample 0 in the cache");
    assertEquals(
      single.records.map((r) => r.completion),
      res.records.map((r) => r.completions![0]),
    );
  });
});

/** Agent scripts: each question's gold is known to the script (never to the loop); `tools` counts results. */
type AgentPlan = (gold: string, toolResults: number) => Reply;

async function agentScript(plan: AgentPlan): Promise<Script> {
  const answers = await answersFromDataset(DEV);
  return (req: ScriptRequest): Reply => {
    if (req.messages[0]?.content.startsWith("You have one tool")) return sqlToolCall("SELECT 1");
    const gold = answers.get(questionOf(req.messages)!)!;
    return plan(gold, req.messages.filter((m) => (m.role as string) === "tool").length);
  };
}

/** A failing query, a corrected one, then the final answer. */
const correcting: AgentPlan = (gold, t) =>
  t === 0
    ? sqlToolCall("SELECT nope FROM superhero")
    : t === 1
    ? sqlToolCall(gold)
    : { content: "The query works.\n```sql\n" + gold + "\n```" };

/** What must be identical between two runs of one question (times and cache flags aside). */
function essence(r: ResultRecord) {
  return {
    index: r.index,
    sql: r.sql,
    status: r.status,
    turns: r.turns,
    stop: r.stop,
    completion: r.completion,
    trajectory: r.trajectory!.map(({ ms: _, ...step }) => step),
  };
}

Deno.test("agent: failing query, corrected, final answer; a rerun replays from cache with zero requests", async () => {
  await withServer(await agentScript(correcting), async (server) => {
    const d = await dirs();
    const res = await runEvaluation(run(server.url, d, { limit: 3, agent: true }));
    assertEquals(res.summary.correct, 3);
    for (const r of res.records) {
      assertEquals(r.turns, 3);
      assertEquals(r.stop, "answer");
      assertEquals(r.trajectory!.length, 2);
      const [bad, good] = r.trajectory!;
      assert(!bad.ok && /nope/.test(bad.error), JSON.stringify(bad));
      assert(good.ok && good.turn === 2 && good.row_count === r.pred!.rows, JSON.stringify(good));
      assert(r.tokens!.prompt > 0 && r.tokens!.completion > 0);
    }
    // 1 probe + 3 turns × 3 questions; the model was sent the error text, then the rows.
    assertEquals(chats(server), 10);
    const third = server.requests.find((q) => (q.body?.messages as unknown[] | undefined)?.length === 6)!;
    const tools = (third.body!.messages as { role: string; content: string }[]).filter((m) =>
      m.role === "tool"
    );
    assert(
      tools[0].content.startsWith("error:") && /rows?; columns:/.test(tools[1].content),
      tools[1].content,
    );
    assert(Array.isArray(third.body!.tools));
    const info = JSON.parse(await Deno.readTextFile(join(d.out, "run.json")));
    assertEquals(info.mode, { name: "agent", max_turns: 8, tool_rows: 20 });

    server.reset();
    const again = await runEvaluation(
      run(server.url, { ...d, out: d.out + "-again" }, { limit: 3, agent: true }),
    );
    assertEquals(chats(server), 0, "probe and every turn come from the cache");
    assertEquals(again.records.map(essence), res.records.map(essence));
    assert(again.records.every((r) => r.cached));
    assertEquals(again.summary.tokens, res.summary.tokens);
  });
});

Deno.test("agent: the max-turns cut answers with the last query executed, and says so", async () => {
  const endless: AgentPlan = (gold, t) => sqlToolCall(t === 0 ? "SELECT nope FROM superhero" : gold);
  await withServer(await agentScript(endless), async (server) => {
    const d = await dirs();
    const res = await runEvaluation(run(server.url, d, { limit: 2, agent: true, maxTurns: 2 }));
    const answers = await answersFromDataset(DEV);
    for (const r of res.records) {
      assertEquals(r.stop, "max_turns");
      assertEquals(r.turns, 2);
      assertEquals(r.completion, null);
      assertEquals(r.sql, answers.get(r.question));
      assertEquals(r.status, "correct");
    }
    assertEquals(chats(server), 1 + 2 * 2);
  });
});

Deno.test("agent: hostile SQL through the tool is refused and the database stays byte-identical", async () => {
  const before = sha256Hex(await Deno.readFile(DB));
  const hostile = [
    "DROP TABLE superhero",
    "DELETE FROM superhero",
    "UPDATE superhero SET height_cm = 0",
    "ATTACH DATABASE 'file:/tmp/t2s-agent-hostile.db' AS x",
    "PRAGMA writable_schema = 1",
    "SELECT 1; DELETE FROM superhero",
  ];
  const plan: AgentPlan = (gold, t) =>
    t < hostile.length ? sqlToolCall(hostile[t]) : { content: "```sql\n" + gold + "\n```" };
  await withServer(await agentScript(plan), async (server) => {
    const d = await dirs();
    const res = await runEvaluation(
      run(server.url, d, { limit: 1, agent: true, maxTurns: hostile.length + 1 }),
    );
    const [r] = res.records;
    assertEquals(r.trajectory!.map((s) => s.sql), hostile);
    for (const step of r.trajectory!) assert(!step.ok, `refused: ${JSON.stringify(step)}`);
    assertEquals(r.status, "correct");
  });
  assertEquals(sha256Hex(await Deno.readFile(DB)), before);
  await rejects(Deno.stat("/tmp/t2s-agent-hostile.db"));
});

Deno.test("agent: a CLI run SIGKILLed mid-trajectory resumes at the question, nothing lost, as a clean run", async () => {
  await withServer(await agentScript(correcting), async (server) => {
    const d = await dirs();
    const env = { XDG_CACHE_HOME: d.cacheDir };
    const limit = 10;
    const args = [
      "run",
      "-A",
      "lib/cli/cli.ts",
      "eval",
      "--db",
      "superhero",
      "--limit",
      String(limit),
      "--model",
      "fake-model",
      "--base-url",
      server.url,
      "--agent",
      "--concurrency",
      "2",
      "--quiet",
      "--out",
      d.out,
    ];
    const child = new Deno.Command(Deno.execPath(), { args, env, stdout: "null", stderr: "null" }).spawn();
    const results = join(d.out, "results.jsonl");
    await killAfterLines(child, results, { lines: 2, timeoutMs: 30_000 });
    const keptText = await Deno.readTextFile(results);
    const kept = keptText.split("\n").filter((l) => l.trim()).length;
    assert(kept >= 2 && kept < limit, `killed mid-run with ${kept} done`);
    const done = new Set(keptText.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l).question));
    const midway = server.requests.filter((q) => {
      const question = q.body?.messages ? questionOf(q.body.messages as ChatMessage[]) : null;
      return question !== null && !done.has(question);
    }).length;
    assert(midway > 0, "the kill came while unfinished questions were mid-trajectory");
    server.reset();
    const out = await new Deno.Command(Deno.execPath(), { args, env, stdout: "piped", stderr: "piped" })
      .output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    // Finished questions are not asked again; turns of interrupted ones may replay from the cache.
    assert(chats(server) <= 3 * (limit - kept), `${chats(server)} requests for ${limit - kept} questions`);
    const after = await Deno.readTextFile(results);
    assert(after.startsWith(keptText.slice(0, keptText.lastIndexOf("\n") + 1)), "finished records are kept");
    const resumed = after.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as ResultRecord);
    assertEquals(resumed.length, limit);
    assertEquals(new Set(resumed.map((r) => r.index)).size, limit);

    const clean = await runEvaluation(run(server.url, await dirs(), { limit, agent: true }));
    const order = (rs: ResultRecord[]) => [...rs].sort((a, b) => a.index - b.index).map(essence);
    assertEquals(order(resumed), order(clean.records));
  }, 40);
});

Deno.test("CLI: mode flags that contradict or lack a model exit 2; --agent --max-turns land in run.json", async () => {
  const base = ["eval", "--db", "superhero", "--limit", "1"];
  assertEquals(
    await main([...base, "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--agent", "--n", "3"]),
    2,
  );
  assertEquals(
    await main([...base, "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--max-turns", "3"]),
    2,
  );
  assertEquals(await main([...base, "--agent"]), 2);
  assertEquals(await main([...base, "--n", "4"]), 2);
  await withServer(await agentScript(correcting), async (server) => {
    const d = await dirs();
    const saved = Deno.env.get("XDG_CACHE_HOME");
    Deno.env.set("XDG_CACHE_HOME", d.cacheDir);
    try {
      const code = await main([
        ...base,
        "--model",
        "fake-model",
        "--base-url",
        server.url,
        "--agent",
        "--max-turns",
        "3",
        "--quiet",
        "--out",
        d.out,
      ]);
      assertEquals(code, 0);
    } finally {
      if (saved === undefined) Deno.env.delete("XDG_CACHE_HOME");
      else Deno.env.set("XDG_CACHE_HOME", saved);
    }
    const info = JSON.parse(await Deno.readTextFile(join(d.out, "run.json")));
    assertEquals(info.mode, { name: "agent", max_turns: 3, tool_rows: 20 });
    const [rec] = (await Deno.readTextFile(join(d.out, "results.jsonl"))).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assertEquals([rec.turns, rec.stop, rec.status], [3, "answer", "correct"]);
  });
});

Deno.test("agent: an endpoint without tool calls fails fast at start-up, one line saying what to enable", async () => {
  const refusing: Script = (req) =>
    Array.isArray(req.body.tools)
      ? {
        status: 400,
        message: '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser',
      }
      : { content: "SELECT 1" };
  await withServer(refusing, async (server) => {
    const d = await dirs();
    await rejects(runEvaluation(run(server.url, d, { limit: 2, agent: true })), (e: Error) => {
      assert(/--enable-auto-tool-choice --tool-call-parser llama3_json/.test(e.message), e.message);
      assert(!e.message.includes("\n"));
      return true;
    });
    assertEquals(chats(server), 1, "no retries of a refusal, no question asked");
    await rejects(Deno.stat(join(d.out, "run.json")));
  });
});

Deno.test("voting at temperature 0 warns that the samples are identical, and still runs", async () => {
  await withServer(await votingScript(), async (server) => {
    const d = await dirs();
    const said: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => said.push(args.join(" "));
    try {
      const res = await runEvaluation(run(server.url, d, { limit: 1, n: 3 }));
      assertEquals(res.records[0].candidates!.length, 3);
    } finally {
      console.error = original;
    }
    assert(said.some((l) => /--n 3 with temperature 0 gives 3 identical samples/.test(l)), said.join("\n"));
  });
});
