/**
 * The completion cache: key contents, files on disk, and the model client's use of it against the fake server.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { cacheKey, type CacheKeyParts, CompletionCache, defaultCacheDir } from "../../lib/model/cache.ts";
import { canonicalJson } from "../../lib/util/hash.ts";
import { ModelClient, type ModelClientOptions, type ModelConfig } from "../../lib/model/mod.ts";
import { _internal } from "../../lib/model/listing.ts";
import type { ChatMessage } from "../../lib/types.ts";
import { type FakeServer, type FakeServerOptions, startFakeOpenAI } from "../support/fake_openai_server.ts";

const FAST: ModelClientOptions = { backoffBaseMs: 5, backoffMaxMs: 40, env: () => undefined };

function prompt(question: string): ChatMessage[] {
  return [
    { role: "system", content: "You are a text to SQL query translator." },
    { role: "user", content: `-- DB Schema: CREATE TABLE t (a INT)\n\n-- Question: ${question}` },
  ];
}

async function withCacheServer(
  options: FakeServerOptions,
  fn: (server: FakeServer, config: ModelConfig, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "text2sql-cache-test-" });
  const server = await startFakeOpenAI(options);
  try {
    await fn(server, { baseUrl: server.url, model: "fake-model", cache: true, cacheDir: dir }, dir);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function chatCount(server: FakeServer): number {
  return server.requests.filter((r) => r.path === "/v1/chat/completions").length;
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...await listFiles(path));
    else out.push(path);
  }
  return out.sort();
}

const BASE: CacheKeyParts = {
  baseUrl: "http://127.0.0.1:8000/v1",
  model: "m",
  identity: { id: "m", root: "/weights/a", owned_by: "vllm", created: null, parent: null },
  messages: prompt("q"),
  params: { temperature: 0, max_tokens: null, n: 1, top_p: null, seed: null },
};

// ---------------------------------------------------------------- key

Deno.test("canonicalJson sorts keys at every level and drops undefined", () => {
  assertEquals(
    canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } }),
    '{"a":{"d":[1,{"y":2,"z":1}]},"b":1}',
  );
});

Deno.test("cacheKey: stable, and changed by every part of the contract", () => {
  const key = cacheKey(BASE);
  assert(/^[0-9a-f]{64}$/.test(key));
  assertEquals(
    cacheKey({ ...BASE, params: { seed: null, top_p: null, n: 1, max_tokens: null, temperature: 0 } }),
    key,
  );
  // A trailing slash or credentials in the URL do not make a different server.
  assertEquals(cacheKey({ ...BASE, baseUrl: "http://user:pw@127.0.0.1:8000/v1/" }), key);
  const variants: CacheKeyParts[] = [
    { ...BASE, baseUrl: "http://127.0.0.1:8001/v1" },
    { ...BASE, model: "m2" },
    { ...BASE, identity: { ...BASE.identity, root: "/weights/b" } },
    { ...BASE, identity: null },
    { ...BASE, messages: prompt("q2") },
    { ...BASE, messages: [{ role: "user", content: BASE.messages[1].content }] },
    { ...BASE, params: { ...BASE.params, temperature: 0.2 } },
    { ...BASE, params: { ...BASE.params, max_tokens: 512 } },
    { ...BASE, params: { ...BASE.params, n: 2 } },
    { ...BASE, params: { ...BASE.params, top_p: 0.9 } },
    { ...BASE, params: { ...BASE.params, seed: 1 } },
  ];
  const keys = new Set([key, ...variants.map(cacheKey)]);
  assertEquals(keys.size, variants.length + 1);
});

Deno.test("defaultCacheDir follows XDG_CACHE_HOME, else ~/.cache", () => {
  const saved = { xdg: Deno.env.get("XDG_CACHE_HOME"), home: Deno.env.get("HOME") };
  try {
    Deno.env.set("XDG_CACHE_HOME", "/tmp/xdg-test");
    assertEquals(defaultCacheDir(), "/tmp/xdg-test/text2sql/completions");
    Deno.env.delete("XDG_CACHE_HOME");
    Deno.env.set("HOME", "/home/someone");
    assertEquals(defaultCacheDir(), "/home/someone/.cache/text2sql/completions");
  } finally {
    if (saved.xdg === undefined) Deno.env.delete("XDG_CACHE_HOME");
    else Deno.env.set("XDG_CACHE_HOME", saved.xdg);
    if (saved.home === undefined) Deno.env.delete("HOME");
    else Deno.env.set("HOME", saved.home);
  }
});

// ---------------------------------------------------------------- files

/** A fresh cache in a temporary folder and the key of {@linkcode BASE}; the folder is removed afterwards. */
async function withCache(
  fn: (cache: CompletionCache, key: string, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(new CompletionCache({ dir }), cacheKey(BASE), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("CompletionCache: round trip, sharded path, no temp files left, only the whitelisted fields", async () => {
  await withCache(async (cache, key, dir) => {
    assertEquals(await cache.get(key), null);
    const extra = {
      model: "m",
      texts: ["SELECT 1"],
      usage: { prompt: 3, completion: 4 },
      headers: { a: "b" },
    };
    await cache.put(key, extra);
    const entry = await cache.get(key);
    assertEquals(entry?.texts, ["SELECT 1"]);
    assertEquals(entry?.usage, { prompt: 3, completion: 4 });
    assertEquals(await listFiles(dir), [`${dir}/${key.slice(0, 2)}/${key}.json`]);
    const stored = JSON.parse(await Deno.readTextFile(cache.pathOf(key)));
    assertEquals(Object.keys(stored).sort(), ["created_at", "key", "model", "texts", "usage", "version"]);
  });
});

Deno.test("CompletionCache: a shard folder removed mid-run (cache cleared) is recreated", async () => {
  await withCache(async (cache, key, dir) => {
    const entry = { model: "m", texts: ["SELECT 1"], usage: { prompt: 1, completion: 1 } };
    await cache.put(key, entry);
    // The cache remembers the shard folder as made; a user wipes it between two writes.
    await Deno.remove(`${dir}/${key.slice(0, 2)}`, { recursive: true });
    await cache.put(key, { ...entry, texts: ["SELECT 2"] });
    assertEquals((await cache.get(key))?.texts, ["SELECT 2"]);
    assertEquals(await listFiles(dir), [`${dir}/${key.slice(0, 2)}/${key}.json`]);
  });
});

Deno.test("CompletionCache: a torn or foreign entry is a miss; a non-hash key is refused", async () => {
  await withCache(async (cache, key, dir) => {
    await Deno.mkdir(`${dir}/${key.slice(0, 2)}`, { recursive: true });
    await Deno.writeTextFile(cache.pathOf(key), '{"version":1,"key":"' + key + '","texts":["SEL');
    assertEquals(await cache.get(key), null);
    await Deno.writeTextFile(
      cache.pathOf(key),
      JSON.stringify({ version: 1, key: "0".repeat(64), texts: ["x"] }),
    );
    assertEquals(await cache.get(key), null);
    for (const bad of ["../../etc/passwd", "ab", key.toUpperCase(), `${key}/../x`]) {
      let threw = false;
      try {
        cache.pathOf(bad);
      } catch {
        threw = true;
      }
      assert(threw, bad);
    }
  });
});

Deno.test("CompletionCache: concurrent writers of one key leave one whole entry", async () => {
  await withCache(async (cache, key, dir) => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        cache.put(key, {
          model: "m",
          texts: [`SELECT ${i} -- ${"x".repeat(10_000)}`],
          usage: { prompt: 1, completion: 1 },
        })),
    );
    const entry = await cache.get(key);
    assert(entry && entry.texts[0].startsWith("SELECT "));
    assertEquals((await listFiles(dir)).length, 1);
  });
});

// ---------------------------------------------------------------- the client and the cache

Deno.test("client: a cache hit makes zero requests, across clients and a server restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "text2sql-cache-test-" });
  // vLLM reports `created` as the time of the listing: a restart must not change the key.
  let server = await startFakeOpenAI({ models: [{ id: "fake-model", created: 1_000 }] });
  const port = server.port;
  try {
    const config: ModelConfig = { baseUrl: server.url, model: "fake-model", cache: true, cacheDir: dir };
    const first = await ModelClient.create(config, FAST);
    const a = await first.complete(prompt("q1"));
    assertEquals([a.cached, a.attempts], [false, 1]);
    assertEquals(chatCount(server), 1);

    // A new client (a rerun, a notebook cell) hits the cache: no chat request at all.
    const second = await ModelClient.create(config, FAST);
    const b = await second.complete(prompt("q1"));
    assertEquals([b.cached, b.attempts, b.texts, b.usage], [true, 0, a.texts, a.usage]);
    assertEquals(chatCount(server), 1);
    assertEquals(second.totals.cacheHits, 1);
    assertEquals(second.totals.requests, 0);

    await server.close();
    server = await startFakeOpenAI({ port, models: [{ id: "fake-model", created: 2_000 }] });
    const third = await ModelClient.create(config, FAST);
    assertEquals((await third.complete(prompt("q1"))).cached, true);
    assertEquals(chatCount(server), 0);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client: vLLM's per-listing `created` does not defeat the cache", () => {
  const entry = { id: "m", object: "model", owned_by: "vllm", root: "m", max_model_len: 8192 };
  const early = _internal.identityOf({ ...entry, created: 1_700_000_000 });
  const late = _internal.identityOf({ ...entry, created: 1_800_000_000 });
  assertEquals(early, late);
  // A provider with a real creation date keeps it: a re-created model under the same name misses.
  const hosted = { id: "ft:gpt-4o-mini:org::abc", object: "model", owned_by: "org", created: 1_700_000_000 };
  assertEquals(_internal.identityOf(hosted).created, 1_700_000_000);
});

Deno.test("client: cache:false bypasses the cache (no reads, no writes)", async () => {
  await withCacheServer({}, async (server, config, dir) => {
    const cached = await ModelClient.create(config, FAST);
    await cached.complete(prompt("q1"));
    const uncached = await ModelClient.create({ ...config, cache: false }, FAST);
    const r = await uncached.complete(prompt("q1"));
    await uncached.complete(prompt("q2"));
    assertEquals(r.cached, false);
    assertEquals(chatCount(server), 3);
    assertEquals((await listFiles(dir)).length, 1);
  });
});

Deno.test("client: a changed identity (retrained adapter, same name) or sampling misses", async () => {
  await withCacheServer({ models: [{ id: "fake-model", root: "/adapters/v1" }] }, async (server, config) => {
    await (await ModelClient.create(config, FAST)).complete(prompt("q"));
    server.setModels([{ id: "fake-model", root: "/adapters/v2" }]);
    const retrained = await ModelClient.create(config, FAST);
    assertEquals((await retrained.complete(prompt("q"))).cached, false);
    assertEquals(chatCount(server), 2);
    const hotter = await ModelClient.create({ ...config, temperature: 0.5 }, FAST);
    assertEquals((await hotter.complete(prompt("q"))).cached, false);
    // But concurrency, timeouts and retries are not part of the key.
    const tuned = await ModelClient.create(
      { ...config, concurrency: 2, requestTimeoutS: 5, maxRetries: 1 },
      FAST,
    );
    assertEquals((await tuned.complete(prompt("q"))).cached, true);
    assertEquals(chatCount(server), 3);
  });
});

Deno.test("client: identical prompts in flight at once share one request", async () => {
  await withCacheServer({ latencyMs: 50 }, async (server, config) => {
    const client = await ModelClient.create(config, FAST);
    const results = await Promise.all([1, 2, 3].map(() => client.complete(prompt("same"))));
    assertEquals(chatCount(server), 1);
    assertEquals(results.filter((r) => !r.cached).length, 1);
  });
});

Deno.test("client: failures are not cached", async () => {
  let fail = true;
  await withCacheServer(
    { script: () => (fail ? { status: 400 } : { content: "SELECT 1" }) },
    async (server, config) => {
      const client = await ModelClient.create(config, FAST);
      await client.complete(prompt("q")).catch(() => {});
      fail = false;
      assertEquals((await client.complete(prompt("q"))).cached, false);
      assertEquals(chatCount(server), 2);
    },
  );
});

Deno.test("client: the API key appears in no cache file; a hostile model name stays inside the cache dir", async () => {
  const key = "sk-DISTINCTIVE-cache-key-5f4e3d2c1b0a";
  const hostile = "../../../../tmp/escaped-model";
  const previous = Deno.env.get("OPENAI_API_KEY");
  Deno.env.set("OPENAI_API_KEY", key);
  const parent = await Deno.makeTempDir({ prefix: "text2sql-cache-parent-" });
  const dir = `${parent}/inner/cache`;
  const server = await startFakeOpenAI({
    apiKey: key,
    models: [{ id: hostile }],
    script: () => ({ content: "SELECT 1" }),
  });
  try {
    const client = await ModelClient.create(
      { baseUrl: server.url, model: hostile, cache: true, cacheDir: dir },
      { backoffBaseMs: 5 },
    );
    await client.complete(prompt("q1"));
    await client.complete(prompt("q2"));
    const files = await listFiles(parent);
    assertEquals(files.length, 2);
    for (const file of files) {
      assert(file.startsWith(`${dir}/`), `${file} escaped ${dir}`);
      assert(/\/[0-9a-f]{2}\/[0-9a-f]{64}\.json$/.test(file), file);
      const text = await Deno.readTextFile(file);
      assert(!text.includes(key), `key found in ${file}`);
      assert(!/authorization|bearer/i.test(text), `header found in ${file}`);
    }
    // Nothing was written where the name points.
    assertEquals(await Deno.stat(`${dir}/${hostile}`).catch(() => null), null);
    assertEquals(await Deno.stat(`${dir}/${hostile}.json`).catch(() => null), null);
  } finally {
    await server.close();
    await Deno.remove(parent, { recursive: true });
    if (previous === undefined) Deno.env.delete("OPENAI_API_KEY");
    else Deno.env.set("OPENAI_API_KEY", previous);
  }
});
