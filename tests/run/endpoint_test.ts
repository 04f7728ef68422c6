/**
 * A failing endpoint must not read as a bad model: a server dying mid-run, or answering 500 to everything,
 * stops the run after a few questions in a row fail (one line naming the endpoint, exit ≠ 0, finished work
 * kept, resumable); a finished run with generation errors says so.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { join } from "node:path";
import { EndpointError, runEvaluation, SAMPLE_DIR } from "../../lib/run/evaluate.ts";
import {
  answersFromDataset,
  failingScript,
  goldScript,
  questionOf,
  type Script,
  startFakeOpenAI,
} from "../support/fake_openai_server.ts";
import { runEval, strictIndices } from "../support/robust_helpers.ts";

const DEV = join(SAMPLE_DIR, "dev.json");
const FAST = { backoffBaseMs: 5, backoffMaxMs: 20, retryAfterCapMs: 50 };
const chats = (s: { requests: { path: string }[] }) =>
  s.requests.filter((r) => r.path.endsWith("/chat/completions")).length;

Deno.test("a server dying 3 s into a run (after its first request): exit ≠ 0, one line naming it, summary flagged; a rerun finishes", async () => {
  const answers = await answersFromDataset(DEV);
  const gold = goldScript(answers);
  const slow: Script = (req) => ({ delayMs: 50, then: gold(req) as never });
  const server = await startFakeOpenAI({ script: slow, dieAfterMs: 3000 });
  const out = await Deno.makeTempDir({ prefix: "t2s-dying-" });
  const cache = await Deno.makeTempDir({ prefix: "t2s-dying-cache-" });
  const args = [
    "--db",
    "superhero",
    "--model",
    "fake-model",
    "--base-url",
    server.url,
    "--concurrency",
    "2",
    "--max-retries",
    "1",
    "--quiet",
    "--out",
    out,
  ];
  const env = { XDG_CACHE_HOME: cache };
  let revived: Awaited<ReturnType<typeof startFakeOpenAI>> | null = null;
  try {
    const dying = await runEval(args, env);
    await server.died;
    assertEquals(dying.code, 1, dying.stderr);
    const lines = dying.stderr.trim().split("\n");
    // --quiet progress lines are "label: n/total…"; the error is the one line starting with "error:".
    const errors = lines.filter((l) => l.startsWith("error:"));
    assertEquals(errors.length, 1, dying.stderr);
    assert(lines.at(-1)!.startsWith("error:"), "the error is the last line");
    assert(errors[0].includes(server.url), errors[0]);
    assert(
      /5 questions in a row failed/.test(errors[0]) && /connection|refused|503/i.test(errors[0]),
      errors[0],
    );
    assert(!/^\s+at /m.test(dying.stderr), "no stack trace");
    const kept = await strictIndices(join(out, "results.jsonl"));
    assert(kept.length > 5 && kept.length < 129, `${kept.length} kept`);
    const records = (await Deno.readTextFile(join(out, "results.jsonl"))).split("\n").filter(Boolean)
      .map((l) => JSON.parse(l));
    assert(records.every((r) => r.status !== "generation_error"), "unfinished questions are not failures");
    const summary = JSON.parse(await Deno.readTextFile(join(out, "summary.json")));
    assertEquals(summary.incomplete, { generation_error: 0, unfinished: 129 - kept.length });
    const info = JSON.parse(await Deno.readTextFile(join(out, "run.json")));
    assertEquals(info.finished_at, null);
    // The server is back (same port): the rerun asks only what is left, and finishes clean.
    revived = await startFakeOpenAI({ script: gold, port: server.port });
    const rerun = await runEval(args, env);
    assertEquals(rerun.code, 0, rerun.stderr);
    assertEquals(chats(revived), 129 - kept.length);
    assertEquals((await strictIndices(join(out, "results.jsonl"))).length, 129);
    const done = JSON.parse(await Deno.readTextFile(join(out, "summary.json")));
    assertEquals(done.total, 129);
    assertEquals(done.incomplete, undefined);
  } finally {
    await server.close();
    await revived?.close();
  }
});

Deno.test("a server answering 500 to everything is given up on after a bounded number of requests", async () => {
  const server = await startFakeOpenAI({ script: failingScript("upstream exploded") });
  try {
    const out = await Deno.makeTempDir({ prefix: "t2s-500-" });
    const concurrency = 4;
    const workers = 2;
    const options = {
      db: ["superhero"],
      model: "fake-model",
      baseUrl: server.url,
      concurrency,
      workers,
      silent: true,
      out,
      cacheDir: await Deno.makeTempDir(),
      goldCacheDir: await Deno.makeTempDir(),
      clientOptions: FAST,
    };
    await rejects(runEvaluation(options), (e: Error) => {
      assert(e instanceof EndpointError, String(e));
      assert(!e.message.includes("\n"), e.message);
      assert(e.message.startsWith(server.url) && /HTTP 500: upstream exploded/.test(e.message), e.message);
      return true;
    });
    // Questions started before the stop: the 5 that failed plus at most one in flight per other lane; each makes
    // at most 1 + 6 retries requests. Without the stop it would be 129 × 7 = 903.
    const lanes = concurrency + workers;
    const bound = (5 + lanes - 1) * 7;
    assert(chats(server) <= bound, `${chats(server)} requests > ${bound}`);
    assertEquals(await strictIndices(join(out, "results.jsonl")), []);
    const summary = JSON.parse(await Deno.readTextFile(join(out, "summary.json")));
    assertEquals(summary.incomplete, { generation_error: 0, unfinished: 129 });
    // 0 never stops: every question is asked and recorded as generation_error.
    server.reset();
    const all = await runEvaluation({
      ...options,
      out: await Deno.makeTempDir(),
      maxConsecutiveFailures: 0,
      maxRetries: 0,
      limit: 12,
    });
    assertEquals(chats(server), 12);
    assertEquals(all.summary.statuses.generation_error, 12);
    assertEquals(all.summary.incomplete, { generation_error: 12, unfinished: 0 });
  } finally {
    await server.close();
  }
});

Deno.test("a finished run with some generation_error says so in summary.json and in its last printed line", async () => {
  const answers = await answersFromDataset(DEV);
  const dev = JSON.parse(await Deno.readTextFile(DEV)) as { db_id: string; question: string }[];
  const heroes = dev.filter((q) => q.db_id === "superhero").slice(0, 10);
  // Two refusals (400: not retried) apart from each other: never a streak.
  const refused = new Set([heroes[2].question.trim(), heroes[6].question.trim()]);
  const gold = goldScript(answers);
  const script: Script = (req) =>
    refused.has(questionOf(req.messages) ?? "") ? { status: 400, message: "content policy" } : gold(req);
  const server = await startFakeOpenAI({ script });
  try {
    const out = await Deno.makeTempDir({ prefix: "t2s-some-errors-" });
    const res = await runEval([
      "--db",
      "superhero",
      "--limit",
      "10",
      "--model",
      "fake-model",
      "--base-url",
      server.url,
      "--concurrency",
      "1",
      "--no-cache",
      "--quiet",
      "--out",
      out,
    ]);
    assertEquals(res.code, 0, res.stderr);
    const last = res.stdout.trim().split("\n").at(-1)!;
    assert(
      /^incomplete: 2 of 10 questions got no answer .*generation_error.*--retry-failed/.test(last),
      last,
    );
    const summary = JSON.parse(await Deno.readTextFile(join(out, "summary.json")));
    assertEquals(summary.incomplete, { generation_error: 2, unfinished: 0 });
    assertEquals(summary.statuses.generation_error, 2);
  } finally {
    await server.close();
  }
});

Deno.test("ModelClient.stop: a request in flight and a retry wait end at once; later calls fail without a request", async () => {
  const { ModelClient } = await import("../../lib/model/mod.ts");
  let n = 0;
  // The first prompt hangs; the second fails and would wait 10 s before its retry.
  const server = await startFakeOpenAI({
    script: (req) => (req.messages[0].content === "hang" ? { hang: true } : (n++, { status: 503 })),
  });
  try {
    const client = await ModelClient.create(
      { baseUrl: server.url, model: "fake-model", cache: false, requestTimeoutS: 60 },
      { backoffBaseMs: 10_000, backoffMaxMs: 10_000, random: () => 1 },
    );
    const hung = client.complete([{ role: "user", content: "hang" }]);
    const waiting = client.complete([{ role: "user", content: "fail" }]);
    // Handled now: one may reject while the other is awaited.
    hung.catch(() => {});
    waiting.catch(() => {});
    while (n === 0 || server.inFlight === 0) await new Promise((r) => setTimeout(r, 10));
    const t0 = performance.now();
    client.stop();
    for (const r of await Promise.allSettled([hung, waiting])) {
      assert(
        r.status === "rejected" && r.reason.name === "GenerationError" && /stopped/.test(r.reason.message),
      );
    }
    const before = chats(server);
    await rejects(client.complete([{ role: "user", content: "later" }]), /stopped/);
    assertEquals(chats(server), before, "no request after stop");
    // Not a timed assertion of speed: only that nobody waited out the 10 s backoff or the 60 s timeout.
    assert(performance.now() - t0 < 9_000);
  } finally {
    await server.close();
  }
});
