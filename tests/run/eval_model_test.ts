/**
 * `deno task eval --model …` end to end against a real HTTP server speaking the OpenAI protocol: scoring,
 * concurrency, retries, cache, resume after SIGKILL, `--retry-failed`, and keys never written anywhere.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { type EvalOptions, runEvaluation, SAMPLE_DIR } from "../../lib/run/evaluate.ts";
import {
  answersFromDataset,
  type FakeServer,
  goldScript,
  questionOf,
  type Script,
  startFakeOpenAI,
} from "../support/fake_openai_server.ts";
import { killAfterLines } from "../support/robust_helpers.ts";

const DEV = join(SAMPLE_DIR, "dev.json");
const FAST = { backoffBaseMs: 5, backoffMaxMs: 20, retryAfterCapMs: 50 };

async function withServer(
  script: Script,
  fn: (s: FakeServer) => Promise<void>,
  latencyMs = 0,
): Promise<void> {
  const server = await startFakeOpenAI({ script, latencyMs });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

const chats = (s: FakeServer) => s.requests.filter((r) => r.path.endsWith("/chat/completions")).length;

type Dirs = Awaited<ReturnType<typeof dirs>>;

async function dirs() {
  return {
    out: await Deno.makeTempDir({ prefix: "t2s-model-run-" }),
    cacheDir: await Deno.makeTempDir({ prefix: "t2s-model-cache-" }),
    goldCacheDir: await Deno.makeTempDir({ prefix: "t2s-model-gold-" }),
  };
}

/** A model run on the superhero questions against `baseUrl`, into the folders `d`, with short retry backoffs. */
function superheroRun(baseUrl: string, d: Dirs, extra: Partial<EvalOptions> = {}): EvalOptions {
  return {
    ...d,
    db: ["superhero"],
    model: "fake-model",
    baseUrl,
    silent: true,
    clientOptions: FAST,
    ...extra,
  };
}

Deno.test("a server answering gold SQL in every style scores 100%, under the concurrency limit; a rerun is free", async () => {
  const answers = await answersFromDataset(DEV);
  const styles = ["plain", "fenced", "bare-fence", "prose", "reasoning"] as const;
  const script = goldScript(answers, { style: (q) => styles[q.length % styles.length] });
  await withServer(script, async (server) => {
    const d = await dirs();
    const opts = superheroRun(server.url, d, { limit: 40, concurrency: 4 });
    const res = await runEvaluation(opts);
    assertEquals(res.summary.total, 40);
    // Questions whose text appears twice in dev with different gold SQL are the only allowed misses.
    assertEquals(
      res.summary.correct,
      40,
      JSON.stringify(res.records.filter((r) => r.status !== "correct")[0]),
    );
    assert(server.maxInFlight <= 4 && server.maxInFlight >= 2, `max in flight ${server.maxInFlight}`);
    assertEquals(chats(server), 40);
    const run = JSON.parse(await Deno.readTextFile(join(d.out, "run.json")));
    assertEquals(run.provider, "openai-compatible");
    assertEquals(run.model, "fake-model");
    assert(/^[0-9a-f]{64}$/.test(run.prompt.hash));
    assert(res.records.every((r) => /^[0-9a-f]{64}$/.test(r.prompt_hash!)));
    assert(res.summary.tokens.prompt > 0);
    // Same evaluation into a new folder: every completion comes from the cache.
    server.reset();
    const again = await runEvaluation({ ...opts, out: await Deno.makeTempDir() });
    assertEquals(chats(server), 0);
    assertEquals(again.summary.correct, 40);
  }, 30);
});

Deno.test("30% of requests failing with 429/500 still finishes with every question scored", async () => {
  const answers = await answersFromDataset(DEV);
  await withServer(goldScript(answers, { failureRate: 0.3, seed: 7, retryAfter: 0 }), async (server) => {
    const res = await runEvaluation(superheroRun(server.url, await dirs(), { concurrency: 8 }));
    assertEquals(res.summary.total, 129);
    assertEquals(res.summary.statuses.generation_error, 0);
    const failed = server.requests.filter((r) =>
      r.path.endsWith("/chat/completions") && r.status !== 200
    ).length;
    assert(failed > 10, `the server really failed requests (${failed})`);
    const wrongByServer = res.records.filter((r) => r.status !== "correct");
    // Duplicated question texts with different gold SQL are answered with the first one's SQL.
    assert(wrongByServer.length <= 2, JSON.stringify(wrongByServer.map((r) => [r.index, r.status])));
  });
});

Deno.test("generation that finally fails is generation_error with its reason; --retry-failed reruns only those", async () => {
  const answers = await answersFromDataset(DEV);
  const dev = JSON.parse(await Deno.readTextFile(DEV)) as { db_id: string; question: string }[];
  const heroes = dev.filter((q) => q.db_id === "superhero").slice(0, 12);
  const broken = new Set(heroes.slice(0, 3).map((q) => q.question.trim()));
  let healed = false;
  const gold = goldScript(answers);
  const script: Script = (req) => {
    const q = questionOf(req.messages) ?? "";
    if (!healed && broken.has(q)) return { status: 500, message: "upstream exploded" };
    return gold(req);
  };
  await withServer(script, async (server) => {
    const d = await dirs();
    const opts = superheroRun(server.url, d, { limit: 12 });
    const first = await runEvaluation(opts);
    const failed = first.records.filter((r) => r.status === "generation_error");
    assertEquals(failed.length, 3);
    assert(failed.every((r) => /500/.test(r.error!)), failed[0].error!);
    assertEquals(first.summary.statuses.generation_error, 3);
    assertEquals(first.summary.incomplete, { generation_error: 3, unfinished: 0 }, "flagged in summary.json");
    healed = true;
    server.reset();
    const second = await runEvaluation({ ...opts, retryFailed: true });
    assertEquals(chats(server), 3, "only the failed questions are asked again");
    assertEquals(second.summary.correct, 12);
    assertEquals(second.summary.incomplete, undefined, "no longer flagged");
    // Resuming without --retry-failed asks nothing.
    server.reset();
    await runEvaluation(opts);
    assertEquals(chats(server), 0);
  });
});

Deno.test("a run killed with SIGKILL resumes with --out, redoing nothing finished and losing nothing", async () => {
  const answers = await answersFromDataset(DEV);
  await withServer(goldScript(answers), async (server) => {
    const d = await dirs();
    const env = { XDG_CACHE_HOME: d.cacheDir };
    const args = [
      "run",
      "-A",
      "lib/cli/cli.ts",
      "eval",
      "--db",
      "superhero",
      "--model",
      "fake-model",
      "--base-url",
      server.url,
      "--concurrency",
      "2",
      "--no-cache",
      "--quiet",
      "--out",
      d.out,
    ];
    const child = new Deno.Command(Deno.execPath(), { args, env, stdout: "null", stderr: "null" }).spawn();
    const results = join(d.out, "results.jsonl");
    // Wait until some questions are finished, then kill without warning.
    await killAfterLines(child, results, { lines: 20, timeoutMs: 12_000 });
    const kept = (await Deno.readTextFile(results)).split("\n").filter((l) => {
      try {
        JSON.parse(l);
        return true;
      } catch {
        return false;
      }
    }).length;
    assert(kept >= 20 && kept < 129, `killed mid-run with ${kept} done`);
    server.reset();
    const out = await new Deno.Command(Deno.execPath(), { args, env, stdout: "piped", stderr: "piped" })
      .output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    assertEquals(chats(server), 129 - kept, "finished questions are not asked again");
    const summary = JSON.parse(await Deno.readTextFile(join(d.out, "summary.json")));
    assertEquals(summary.total, 129);
  }, 15);
});

Deno.test("the API key never lands in run files, caches or messages; a wrong key fails fast", async () => {
  const key = "sk-test-DO-NOT-LEAK-4242424242";
  const answers = await answersFromDataset(DEV);
  const server = await startFakeOpenAI({ script: goldScript(answers), apiKey: key });
  const saved = Deno.env.get("OPENAI_API_KEY");
  try {
    const d = await dirs();
    Deno.env.set("OPENAI_API_KEY", key);
    const res = await runEvaluation(superheroRun(server.url, d, { limit: 5 }));
    assertEquals(res.summary.correct, 5);
    for (const dir of [d.out, d.cacheDir]) {
      for await (const f of walk(dir)) {
        assert(!(await Deno.readTextFile(f)).includes(key), `${f} holds the key`);
      }
    }
    Deno.env.set("OPENAI_API_KEY", "sk-wrong-key-123456");
    let message = "";
    try {
      await runEvaluation(superheroRun(server.url, await dirs(), { limit: 1 }));
    } catch (e) {
      message = (e as Error).message;
    }
    assert(/401|key/i.test(message), message);
    assert(!message.includes("sk-wrong-key-123456") && !message.includes("\n"), message);
  } finally {
    if (saved === undefined) Deno.env.delete("OPENAI_API_KEY");
    else Deno.env.set("OPENAI_API_KEY", saved);
    await server.close();
  }
});

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) yield* walk(p);
    else if (e.isFile) yield p;
  }
}

Deno.test("tokens and cost: usage from the API, priced per million tokens; a cached rerun costs nothing", async () => {
  const answers = await answersFromDataset(DEV);
  await withServer(goldScript(answers), async (server) => {
    const d = await dirs();
    const prices = { prompt_per_mtok: 1, completion_per_mtok: 2 };
    const opts = superheroRun(server.url, d, { limit: 5, prices });
    const first = await runEvaluation(opts);
    const { prompt, completion } = first.summary.tokens;
    assert(prompt > 0 && completion > 0);
    const expected = (prompt * 1 + completion * 2) / 1e6;
    assert(Math.abs(first.summary.cost_usd! - expected) < 1e-9, `${first.summary.cost_usd} vs ${expected}`);
    assert(first.records.every((r) => r.cached === false));
    const again = await runEvaluation({ ...opts, out: await Deno.makeTempDir() });
    assertEquals(again.summary.tokens, first.summary.tokens, "the answers' tokens are the same");
    assertEquals(again.summary.cost_usd, 0, "nothing was spent");
    assert(again.records.every((r) => r.cached === true));
  });
});

Deno.test("credentials in --base-url never reach run.json", async () => {
  const answers = await answersFromDataset(DEV);
  await withServer(goldScript(answers), async (server) => {
    const d = await dirs();
    const url = server.url.replace("http://", "http://alice:s3cretpw@");
    const res = await runEvaluation(superheroRun(url, d, { limit: 2 }));
    assertEquals(res.summary.total, 2);
    const run = await Deno.readTextFile(join(d.out, "run.json"));
    assert(!run.includes("s3cretpw") && !run.includes("alice"), run);
    assert(run.includes(server.url.replace(/\/+$/, "")));
  });
});
