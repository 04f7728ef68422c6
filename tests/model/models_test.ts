/**
 * The model client against a real HTTP server (tests/support/fake_openai_server.ts): start-up check, concurrency,
 * retries, timeouts, malformed bodies, key hygiene; plus the limiter and the progress display.
 */

import { deepStrictEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import {
  answersFromDataset,
  type FakeServer,
  type FakeServerOptions,
  goldScript,
  mixedScript,
  type Script,
  startFakeOpenAI,
} from "../support/fake_openai_server.ts";
import {
  GenerationError,
  knownContextWindow,
  ModelClient,
  type ModelClientOptions,
  type ModelConfig,
  parseRetryAfter,
  redact,
  resolveProvider,
  StartupError,
} from "../../lib/model/mod.ts";
import { estimateTokens } from "../../lib/prompt/token_estimate.ts";
import { createLimiter } from "../../lib/model/limiter.ts";
import { createProgress, type ProgressState } from "../../lib/util/progress.ts";
import type { ChatMessage } from "../../lib/types.ts";

/** Awaits `fn`, asserting it rejects with an instance of `type`; returns the error for further checks. */
async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    assert(
      e instanceof type,
      `expected ${type.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : e}`,
    );
    return e;
  }
  throw new Error(`expected ${type.name}, nothing was thrown`);
}

/** Short backoffs so retry tests take milliseconds; no key in the environment unless a test sets one. */
const FAST: ModelClientOptions = { backoffBaseMs: 5, backoffMaxMs: 40, env: () => undefined };

function prompt(question: string): ChatMessage[] {
  return [
    { role: "system", content: "You are a text to SQL query translator." },
    {
      role: "user",
      content: `-- DB Schema: CREATE TABLE t (a INT)\n\n-- External Knowledge: \n\n-- Question: ${question}`,
    },
  ];
}

async function withServer(
  options: FakeServerOptions,
  fn: (server: FakeServer, config: ModelConfig) => Promise<void>,
): Promise<void> {
  const server = await startFakeOpenAI(options);
  try {
    await fn(server, { baseUrl: server.url, model: "fake-model", cache: false, maxTokens: null });
  } finally {
    await server.close();
  }
}

function chatRequests(server: FakeServer) {
  return server.requests.filter((r) => r.path === "/v1/chat/completions");
}

// ---------------------------------------------------------------- limiter

Deno.test("limiter: never exceeds n, starts tasks in FIFO order, releases slots on throw", async () => {
  const limiter = createLimiter(3);
  let active = 0;
  let peak = 0;
  const started: number[] = [];
  const tasks = Array.from({ length: 20 }, (_, i) =>
    limiter.run(async () => {
      started.push(i);
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 2 + (i % 4) * 3));
      active--;
      if (i % 5 === 0) throw new Error(`task ${i}`);
      return i;
    }));
  const results = await Promise.allSettled(tasks);
  assertEquals(peak, 3);
  assertEquals(started, Array.from({ length: 20 }, (_, i) => i));
  assertEquals(results.filter((r) => r.status === "rejected").length, 4);
  assertEquals(limiter.active, 0);
  assertEquals(limiter.pending, 0);
  // Slots freed by throwing tasks are reusable.
  assertEquals(await limiter.run(() => 42), 42);
});

Deno.test("limiter: rejects a non-positive or fractional size", () => {
  for (const bad of [0, -1, 1.5, NaN]) {
    let threw = false;
    try {
      createLimiter(bad);
    } catch (e) {
      threw = e instanceof RangeError;
    }
    assert(threw, `createLimiter(${bad}) should throw`);
  }
});

// ---------------------------------------------------------------- providers and start-up

Deno.test("resolveProvider: defaults, key variable, missing key is a clear error", () => {
  const env = (vars: Record<string, string>) => ({ env: (n: string) => vars[n] });
  const llama = resolveProvider({ provider: "llama-api", model: "m" }, env({ LLAMA_API_KEY: "x" }));
  assertEquals(llama.baseUrl, "https://api.llama.com/compat/v1");
  assertEquals(llama.keyEnv, "LLAMA_API_KEY");
  assertEquals(
    resolveProvider({ provider: "together", model: "m" }, env({ TOGETHER_API_KEY: "x" })).baseUrl,
    "https://api.together.xyz/v1",
  );
  const local = resolveProvider({ baseUrl: "http://127.0.0.1:9/v1/", model: "m" }, env({}));
  assertEquals(local.provider, "openai-compatible");
  assertEquals(local.hasKey, false);
  let message = "";
  try {
    resolveProvider({ provider: "together", model: "m" }, env({}));
  } catch (e) {
    assert(e instanceof StartupError);
    message = e.message;
  }
  assertMatch(message, /TOGETHER_API_KEY/);
  try {
    resolveProvider({ provider: "openai-compatible", model: "m" }, env({}));
    throw new Error("expected a StartupError");
  } catch (e) {
    assert(e instanceof StartupError);
    assertMatch(e.message, /--base-url/);
  }
});

Deno.test("start-up: wrong key fails fast with one clear line naming the variable, never the key", async () => {
  const key = "sk-test-WRONG-9f8e7d6c5b4a";
  await withServer({ apiKey: "sk-right-key" }, async (server, config) => {
    const started = performance.now();
    const error = await assertRejects(
      () => ModelClient.create(config, { ...FAST, env: (n) => (n === "OPENAI_API_KEY" ? key : undefined) }),
      StartupError,
    );
    assert(performance.now() - started < 2000, "start-up failure must be fast");
    assertMatch(error.message, /HTTP 401/);
    assertMatch(error.message, /OPENAI_API_KEY/);
    assert(!error.message.includes(key), `key leaked: ${error.message}`);
    assertMatch(error.message, /Incorrect API key provided: \[redacted\]/);
    assert(!error.message.includes("\n"));
    // The server did echo the key: the scrubbing is what kept it out.
    assertEquals(server.requests.length, 1);
  });
});

Deno.test("start-up: unknown model lists available ones, close matches first", async () => {
  const models = [
    { id: "Llama-3.3-70B-Instruct" },
    { id: "Llama-4-Scout-17B-16E-Instruct-FP8" },
    { id: "gpt-4o-mini" },
  ];
  await withServer({ models }, async (_server, config) => {
    const error = await assertRejects(
      () => ModelClient.create({ ...config, model: "llama-3.3-8b" }, FAST),
      StartupError,
    );
    assertMatch(error.message, /model "llama-3\.3-8b" not found/);
    assertMatch(error.message, /available: Llama-3\.3-70B-Instruct, /);
    assertMatch(error.message, /gpt-4o-mini/);
  });
});

Deno.test("start-up: unreachable URL fails fast", async () => {
  // A port that was free a moment ago: connection refused.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const started = performance.now();
  const error = await assertRejects(
    () => ModelClient.create({ baseUrl: `http://127.0.0.1:${port}/v1`, model: "m", cache: false }, FAST),
    StartupError,
  );
  assertMatch(error.message, /cannot reach http:\/\/127\.0\.0\.1:\d+\/v1/);
  assert(performance.now() - started < 5000);
});

Deno.test("start-up: a server without /models proceeds with unknown identity", async () => {
  await withServer(
    { modelsStatus: 404, script: () => ({ content: "SELECT 2" }) },
    async (_server, config) => {
      const client = await ModelClient.create(config, FAST);
      assertEquals(client.identity, null);
      assertEquals((await client.complete(prompt("q"))).texts, ["SELECT 2"]);
    },
  );
});

Deno.test("start-up: identity and context window from vLLM's listing, else the built-in table", async () => {
  await withServer(
    { models: [{ id: "fake-model", root: "/adapters/sql-v2", max_model_len: 4096 }] },
    async (_s, config) => {
      const client = await ModelClient.create(config, FAST);
      assertEquals(client.identity?.root, "/adapters/sql-v2");
      // vLLM stamps `created` with the listing time: it must not enter the identity.
      assertEquals(client.identity?.created, null);
      assertEquals(client.contextWindow, 4096);
      assertEquals(client.contextWindowSource, "server");
    },
  );
  await withServer(
    { models: [{ id: "Llama-3.3-70B-Instruct", max_model_len: null }] },
    async (_s, config) => {
      const client = await ModelClient.create({ ...config, model: "Llama-3.3-70B-Instruct" }, FAST);
      assertEquals(client.contextWindow, 131072);
      assertEquals(client.contextWindowSource, "table");
    },
  );
  assertEquals(knownContextWindow("meta-llama/Meta-Llama-3-8B-Instruct"), 8192);
  assertEquals(knownContextWindow("gpt-4o-mini"), 128000);
  assertEquals(knownContextWindow("my-own-model"), null);
});

Deno.test("checkContext flags prompts that would overflow before any request", async () => {
  await withServer({ models: [{ id: "fake-model", max_model_len: 1000 }] }, async (server, config) => {
    const client = await ModelClient.create({ ...config, maxTokens: 200 }, FAST);
    const short = prompt("short question");
    const long = prompt("x".repeat(3000));
    assert(estimateTokens(long) > 800);
    const flagged = client.checkContext([short, long, short]);
    assertEquals(flagged.map((f) => f.index), [1]);
    assertEquals(flagged[0].contextWindow, 1000);
    assertEquals(flagged[0].reservedTokens, 200);
    assertEquals(client.checkContext([short], 990).map((f) => f.index), [0]);
    assertEquals(chatRequests(server).length, 0);
  });
});

// ---------------------------------------------------------------- generation

Deno.test("complete: answers, n samples, usage, cost", async () => {
  await withServer({ script: () => ({ content: ["SELECT 1", "SELECT 2"] }) }, async (server, config) => {
    const client = await ModelClient.create(
      {
        ...config,
        n: 2,
        temperature: 0.7,
        maxTokens: 256,
        prices: { prompt_per_mtok: 1, completion_per_mtok: 2 },
      },
      FAST,
    );
    const result = await client.complete(prompt("q"));
    assertEquals(result.texts, ["SELECT 1", "SELECT 2"]);
    assertEquals(result.cached, false);
    assertEquals(result.attempts, 1);
    assert(result.usage.prompt > 0 && result.usage.completion > 0);
    const body = chatRequests(server)[0].body!;
    assertEquals([body.n, body.temperature, body.max_tokens], [2, 0.7, 256]);
    assertEquals(client.costUsd({ prompt: 1_000_000, completion: 500_000 }), 2);
    assertEquals(client.totals.usage, result.usage);
  });
  await withServer({}, async (server, config) => {
    const client = await ModelClient.create(config, FAST);
    assertEquals(client.costUsd({ prompt: 10, completion: 10 }), null);
    // Temperature 0 by default, max_tokens left out when null; top_p and seed only when set.
    await client.complete(prompt("q"));
    const body = chatRequests(server)[0].body!;
    assertEquals([body.temperature, body.n], [0, 1]);
    for (const absent of ["max_tokens", "top_p", "seed"]) assert(!(absent in body), `${absent} was sent`);
  });
});

Deno.test("complete: the concurrency limit holds across all callers", async () => {
  await withServer({ latencyMs: 25 }, async (server, config) => {
    const client = await ModelClient.create({ ...config, concurrency: 4 }, FAST);
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => client.complete(prompt(`q${i}`))));
    assertEquals(results.length, 30);
    assertEquals(server.maxInFlight, 4);
  });
});

Deno.test("complete: 429 with Retry-After is honoured", async () => {
  const script: Script = (
    req,
  ) => (req.attempt === 1 ? { status: 429, retryAfter: 1 } : { content: "SELECT 1" });
  await withServer({ script }, async (server, config) => {
    const client = await ModelClient.create(config, FAST);
    const started = performance.now();
    const result = await client.complete(prompt("q"));
    const elapsed = performance.now() - started;
    assertEquals(result.attempts, 2);
    assert(elapsed >= 950, `Retry-After: 1 must wait ~1 s, waited ${elapsed.toFixed(0)} ms`);
    assert(elapsed < 3000);
    const reqs = chatRequests(server);
    assertEquals(reqs.map((r) => r.status), [429, 200]);
    assert(reqs[1].at - reqs[0].at >= 950);
  });
});

Deno.test("parseRetryAfter: seconds, HTTP date, retry-after-ms, garbage", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assertEquals(parseRetryAfter(new Headers({ "retry-after": "3" }), now), 3000);
  assertEquals(parseRetryAfter(new Headers({ "retry-after": "Thu, 01 Jan 2026 00:00:05 GMT" }), now), 5000);
  assertEquals(parseRetryAfter(new Headers({ "retry-after": "Wed, 31 Dec 2025 00:00:05 GMT" }), now), 0);
  assertEquals(parseRetryAfter(new Headers({ "retry-after-ms": "250", "retry-after": "9" }), now), 250);
  assertEquals(parseRetryAfter(new Headers({ "retry-after": "soon" }), now), null);
  assertEquals(parseRetryAfter(new Headers(), now), null);
});

Deno.test("complete: a Retry-After beyond the cap is capped", async () => {
  const script: Script = (req) => (req.attempt === 1 ? { status: 429, retryAfter: 3600 } : { content: "ok" });
  await withServer({ script }, async (_s, config) => {
    const client = await ModelClient.create(config, { ...FAST, retryAfterCapMs: 100 });
    const started = performance.now();
    await client.complete(prompt("q"));
    assert(performance.now() - started < 2000);
  });
});

Deno.test("complete: 5xx are retried with backoff, then succeed", async () => {
  const statuses = [500, 502, 503] as const;
  const script: Script = (
    req,
  ) => (req.attempt <= 3 ? { status: statuses[req.attempt - 1] } : { content: "SELECT 9" });
  await withServer({ script }, async (server, config) => {
    const client = await ModelClient.create(config, FAST);
    const result = await client.complete(prompt("q"));
    assertEquals(result.texts, ["SELECT 9"]);
    assertEquals(result.attempts, 4);
    assertEquals(chatRequests(server).map((r) => r.status), [500, 502, 503, 200]);
    assertEquals(client.totals.retries, 3);
  });
});

Deno.test("complete: with 30% of requests failing (429/500) every question still gets its gold answer", async () => {
  const answers = new Map(Array.from({ length: 120 }, (_, i) => [`question ${i}?`, `SELECT ${i}`]));
  const script = goldScript(answers, { failureRate: 0.3, seed: 7 });
  await withServer({ script }, async (server, config) => {
    const client = await ModelClient.create({ ...config, concurrency: 16, maxRetries: 10 }, FAST);
    const questions = [...answers.keys()];
    const results = await Promise.all(questions.map((q) => client.complete(prompt(q))));
    results.forEach((r, i) => assertEquals(r.texts[0], answers.get(questions[i])));
    const failed = chatRequests(server).filter((r) => r.status !== 200).length;
    const total = chatRequests(server).length;
    assert(failed / total > 0.2 && failed / total < 0.4, `failure share ${failed}/${total}`);
    assert(chatRequests(server).some((r) => r.status === 429));
    assert(chatRequests(server).some((r) => r.status === 500));
  });
});

Deno.test("complete: a hanging request times out and is retried", async () => {
  const script: Script = (req) => (req.attempt === 1 ? { hang: true } : { content: "SELECT 3" });
  await withServer({ script }, async (server, config) => {
    const client = await ModelClient.create({ ...config, requestTimeoutS: 0.3 }, FAST);
    const started = performance.now();
    const result = await client.complete(prompt("q"));
    assertEquals(result.texts, ["SELECT 3"]);
    assertEquals(result.attempts, 2);
    assert(performance.now() - started >= 290);
    assertEquals(chatRequests(server).length, 2);
  });
});

Deno.test("complete: slow answers within the timeout are not retried", async () => {
  const script: Script = () => ({ delayMs: 150, then: { content: "SELECT 4" } });
  await withServer({ script }, async (server, config) => {
    const client = await ModelClient.create({ ...config, requestTimeoutS: 2 }, FAST);
    const result = await client.complete(prompt("q"));
    assertEquals([result.texts[0], result.attempts], ["SELECT 4", 1]);
    assert(result.ms >= 140);
    assertEquals(chatRequests(server).length, 1);
  });
});

Deno.test("complete: malformed bodies and dropped connections are retried", async () => {
  const script: Script = (req) => {
    switch (req.attempt) {
      case 1:
        return { garbage: "<html>Bad Gateway</html>" };
      case 2:
        return { garbage: '{"unexpected": true}' };
      case 3:
        return { garbage: "plain text", contentType: "text/plain" };
      case 4:
        return { drop: true };
      default:
        return { content: "SELECT 5" };
    }
  };
  await withServer({ script }, async (server, config) => {
    const client = await ModelClient.create(config, FAST);
    const result = await client.complete(prompt("q"));
    assertEquals(result.texts, ["SELECT 5"]);
    assertEquals(result.attempts, 5);
    assertEquals(chatRequests(server).length, 5);
  });
});

Deno.test("send: tool turns share retries, totals and secret scrubbing with complete", async () => {
  const key = "sk-SEND-fake-key-0123456789abcdef";
  const env = (name: string) => (name === "OPENAI_API_KEY" ? key : undefined);
  const script: Script = (req) => {
    switch (req.attempt) {
      case 1:
        return { garbage: '{"unexpected": true}' };
      case 2:
        return { status: 500 };
      default:
        return {
          toolCalls: [{ name: "execute_sql", arguments: { query: `SELECT '${key}'` } }],
          content: `my key is ${key}`,
          usage: { prompt_tokens: 7, completion_tokens: 3 },
        };
    }
  };
  await withServer({ script, apiKey: key }, async (server, config) => {
    const client = await ModelClient.create(config, { ...FAST, env });
    assertEquals(client.baseUrl, server.url);
    const reply = await client.send({
      messages: [{ role: "user", content: "q" }],
      tools: [{ type: "function", function: { name: "execute_sql", description: "d", parameters: {} } }],
    });
    assertEquals(chatRequests(server).length, 3, "a reply without choices and a 500 are retried");
    const body = chatRequests(server)[2].body!;
    assertEquals([body.n, body.tool_choice, Array.isArray(body.tools)], [1, "auto", true]);
    const [turn] = reply.choices;
    assertEquals(turn.content, "my key is [redacted]");
    assertEquals(JSON.parse(turn.tool_calls[0].function.arguments), { query: "SELECT '[redacted]'" });
    assertEquals(reply.usage, { prompt: 7, completion: 3 });
    const totals = client.totals;
    assertEquals([totals.requests, totals.retries, totals.usage.prompt], [3, 2, 7]);
  });
});

Deno.test("complete: persistent failure ends in a GenerationError with the reason", async () => {
  await withServer(
    { script: () => ({ status: 503, message: "model overloaded" }) },
    async (server, config) => {
      const client = await ModelClient.create({ ...config, maxRetries: 2 }, FAST);
      const error = await assertRejects(() => client.complete(prompt("q")), GenerationError);
      assertEquals(error.attempts, 3);
      assertEquals(error.status, 503);
      assertEquals(error.transient, true);
      assertMatch(error.message, /^generation failed after 3 attempts: HTTP 503: model overloaded$/);
      assertEquals(chatRequests(server).length, 3);
      assertEquals(client.totals.failures, 1);
    },
  );
  await withServer({ script: () => ({ hang: true }) }, async (_s, config) => {
    const client = await ModelClient.create({ ...config, maxRetries: 1, requestTimeoutS: 0.1 }, FAST);
    const error = await assertRejects(() => client.complete(prompt("q")), GenerationError);
    assertMatch(error.reason, /timeout after 0\.1 s/);
  });
});

Deno.test("complete: 400/401/403/404 fail at once, without retries", async () => {
  for (const status of [400, 401, 403, 404] as const) {
    await withServer(
      { script: () => ({ status, message: `scripted ${status}` }) },
      async (server, config) => {
        const client = await ModelClient.create(config, FAST);
        const error = await assertRejects(() => client.complete(prompt("q")), GenerationError);
        assertEquals(error.status, status);
        assertEquals(error.transient, false);
        assertEquals(error.attempts, 1);
        assertMatch(error.message, new RegExp(`^generation failed: HTTP ${status}: scripted ${status}$`));
        assertEquals(chatRequests(server).length, 1);
      },
    );
  }
});

Deno.test("keys: a key set in the environment never appears in error messages", async () => {
  const key = "sk-DISTINCTIVE-fake-key-0123456789abcdef";
  const previous = Deno.env.get("OPENAI_API_KEY");
  Deno.env.set("OPENAI_API_KEY", key);
  try {
    // The server rejects one request with a message echoing the key, as some providers do.
    const script: Script = (req) =>
      req.attempt === 1
        ? { status: 400, message: `Invalid request for key ${key}\nsecond line` }
        : { content: "x" };
    await withServer({ apiKey: key, script }, async (server, config) => {
      const client = await ModelClient.create(config, { backoffBaseMs: 5 });
      assert(server.requests.every((r) => r.authorized), "the key from the environment is sent");
      const error = await assertRejects(() => client.complete(prompt("q")), GenerationError);
      assert(!error.message.includes(key) && !error.reason.includes(key), error.message);
      assertMatch(error.message, /\[redacted\]/);
      assert(!error.message.includes("\n"));
    });
    // And on a 401 at start-up, with the server echoing the key it was sent.
    await withServer({ apiKey: "another-key" }, async (_s, config) => {
      const error = await assertRejects(() => ModelClient.create(config, { backoffBaseMs: 5 }), StartupError);
      assert(!error.message.includes(key), error.message);
    });
  } finally {
    if (previous === undefined) Deno.env.delete("OPENAI_API_KEY");
    else Deno.env.set("OPENAI_API_KEY", previous);
  }
});

Deno.test("GenerationError reasons lose bearer tokens and URL credentials too", async () => {
  const message = "upstream said: Authorization: Bearer sk-other-123456 at http://bob:hunter2@10.0.0.1/v1";
  await withServer({ script: () => ({ status: 400, message }) }, async (_s, config) => {
    const client = await ModelClient.create(config, FAST);
    const error = await assertRejects(() => client.complete(prompt("q")), GenerationError);
    assert(!error.message.includes("sk-other-123456") && !error.message.includes("hunter2"), error.message);
    assertMatch(error.message, /Bearer \[redacted\] at http:\/\/\[redacted\]@10\.0\.0\.1/);
  });
});

Deno.test("redact: every whole key-shaped occurrence; word-like secrets only in credential positions", () => {
  assertEquals(redact("a KEY12345 b KEY12345", ["KEY12345"]), "a [redacted] b [redacted]");
  assertEquals(redact("SELECT hero FROM superhero", ["hero"]), "SELECT hero FROM superhero");
  assertEquals(redact("Authorization: Bearer hero", ["hero"]), "Authorization: Bearer [redacted]");
  assertEquals(redact("none", ["no"]), "none");
  assertEquals(redact("text", [null, undefined]), "text");
});

// ---------------------------------------------------------------- progress

function memoryStream(terminal: boolean) {
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  return {
    chunks,
    text: () => chunks.join(""),
    writeSync(data: Uint8Array) {
      chunks.push(decoder.decode(data));
      return data.length;
    },
    isTerminal: () => terminal,
  };
}

Deno.test("progress: log mode writes at most a line per 10% (plus the final one)", () => {
  const stream = memoryStream(false);
  let t = 0;
  const progress = createProgress(200, { label: "gen", stream, now: () => t });
  for (let i = 0; i < 200; i++) {
    t += 10;
    progress.tick({ error: i % 50 === 0 });
  }
  progress.done();
  const lines = stream.text().trim().split("\n");
  assert(lines.length <= 11, `${lines.length} lines`);
  assertMatch(lines.at(-1)!, /^gen: 200\/200 100% 100\/s in 2s errors 4$/);
  assert(!stream.text().includes("\r"));
});

Deno.test("progress: log mode also writes when 10 s pass without a 10% step", () => {
  const stream = memoryStream(false);
  let t = 0;
  const progress = createProgress(1000, { stream, now: () => t });
  t = 11_000;
  progress.tick();
  assertEquals(stream.chunks.length, 1);
  assertMatch(stream.text(), /1\/1000 0% .* ETA /);
});

Deno.test("progress: a terminal gets an in-place bar; onUpdate sees every state", () => {
  const stream = memoryStream(true);
  const states: ProgressState[] = [];
  let t = 0;
  const progress = createProgress(4, { label: "gen", stream, now: () => t, onUpdate: (s) => states.push(s) });
  for (let i = 0; i < 4; i++) {
    t += 500;
    progress.tick({ error: i === 3 });
  }
  progress.done();
  progress.done();
  assertEquals(states.length, 5);
  assertEquals(states.at(-1)!.finished, true);
  assertEquals(states[1].etaS, 1);
  assert(stream.chunks.every((c) => c.startsWith("\r\x1b[2K")));
  assertMatch(stream.text(), /gen \[█+\] 4\/4 100% 2\.0\/s in 2s errors 1\n$/);
});

Deno.test("progress: quiet uses log lines even on a terminal; silent writes nothing", () => {
  const quiet = memoryStream(true);
  const p = createProgress(2, { stream: quiet, quiet: true });
  p.tick();
  p.tick();
  p.done();
  assert(quiet.text().length > 0 && !quiet.text().includes("\r"));
  const silent = memoryStream(true);
  let updates = 0;
  const s = createProgress(2, { stream: silent, silent: true, onUpdate: () => updates++ });
  s.tick();
  s.done();
  assertEquals([silent.chunks.length, updates], [0, 2]);
});

// ---------------------------------------------------------------- the fake server itself

Deno.test("fake server: mixed mode is deterministic and mixes gold, wrong, reasoning and fenced answers", async () => {
  const answers = await answersFromDataset(new URL("../../data/sample/dev.json", import.meta.url).pathname);
  const script = mixedScript(answers);
  const kinds = { gold: 0, wrong: 0, reasoning: 0, fenced: 0 };
  for (const [question, sql] of [...answers].slice(0, 200)) {
    const req = {
      messages: prompt(question),
      model: "m",
      n: 1,
      temperature: 0,
      max_tokens: null,
      attempt: 1,
      body: {},
    };
    const reply = await script(req);
    assertEquals(await script(req), reply);
    const content = "content" in reply ? String(reply.content) : "";
    if (content === sql) kinds.gold++;
    else if (content.startsWith("Let me think")) kinds.reasoning++;
    else if (content.includes("```sql\n" + sql)) kinds.fenced++;
    else kinds.wrong++;
  }
  assert(Object.values(kinds).every((k) => k > 10), JSON.stringify(kinds));
});

Deno.test("fake server: runs standalone and prints its URL", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../support/fake_openai_server.ts", import.meta.url).pathname,
      "--port",
      "0",
      "--dataset",
      new URL("../../data/sample/dev.json", import.meta.url).pathname,
      "--mode",
      "gold",
    ],
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let seen = "";
    while (!/listening on \S+\n/.test(seen)) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    const url = seen.match(/^listening on (http:\/\/127\.0\.0\.1:\d+\/v1)\n/)?.[1];
    assert(url, `unexpected output: ${seen}`);
    const client = await ModelClient.create({ baseUrl: url, model: "fake-model", cache: false }, FAST);
    assertEquals(client.contextWindow, 8192);
    const question = 'How many superheroes have the super power of "Super Strength"?';
    const answers = await answersFromDataset(new URL("../../data/sample/dev.json", import.meta.url).pathname);
    assertEquals((await client.complete(prompt(question))).texts, [answers.get(question)]);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await reader.cancel();
  }
});
