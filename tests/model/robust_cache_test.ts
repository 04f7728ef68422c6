/**
 * Damaged completion-cache entries: every malformed shape is a miss with a warning naming the file, and is
 * replaced by the fresh answer; a run over a cache of damaged entries finishes.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { cacheKey, CompletionCache } from "../../lib/model/cache.ts";
import { runEvaluation, SAMPLE_DIR } from "../../lib/run/evaluate.ts";
import { answersFromDataset, goldScript, startFakeOpenAI } from "../support/fake_openai_server.ts";
import { walk } from "../support/robust_helpers.ts";

const PARTS = {
  baseUrl: "http://127.0.0.1:1/v1",
  model: "m",
  identity: null,
  messages: [{ role: "user" as const, content: "q" }],
  params: { temperature: 0 },
};

/** Run `fn` with console.error captured; returns what it printed. */
async function capturingErrors(fn: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const saved = console.error;
  console.error = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  try {
    await fn();
  } finally {
    console.error = saved;
  }
  return lines;
}

const key = cacheKey(PARTS);
const good = {
  version: 1,
  key,
  model: "m",
  texts: ["SELECT 1"],
  usage: { prompt: 1, completion: 2 },
  created_at: "2026-01-01T00:00:00Z",
};

const MALFORMED: Record<string, string> = {
  "empty file": "",
  "truncated JSON": JSON.stringify(good).slice(0, 50),
  "not an object": "[1,2]",
  "null": "null",
  "no usage": JSON.stringify({ ...good, usage: undefined }),
  "usage null": JSON.stringify({ ...good, usage: null }),
  "usage without prompt": JSON.stringify({ ...good, usage: { completion: 2 } }),
  "usage without completion": JSON.stringify({ ...good, usage: { prompt: 1 } }),
  "usage prompt a string": JSON.stringify({ ...good, usage: { prompt: "1", completion: 2 } }),
  "usage negative": JSON.stringify({ ...good, usage: { prompt: -1, completion: 2 } }),
  "texts not an array": JSON.stringify({ ...good, texts: "SELECT 1" }),
  "texts empty": JSON.stringify({ ...good, texts: [] }),
  "texts holding a number": JSON.stringify({ ...good, texts: ["SELECT 1", 2] }),
  "no texts": JSON.stringify({ ...good, texts: undefined }),
  "model a number": JSON.stringify({ ...good, model: 7 }),
  "another key": JSON.stringify({ ...good, key: "0".repeat(64) }),
  "another version": JSON.stringify({ ...good, version: 2 }),
  "no created_at": JSON.stringify({ ...good, created_at: undefined }),
};

Deno.test("CompletionCache: each malformed entry is a miss, warned about by file name, and replaced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "t2s-robust-cache-" });
  const cache = new CompletionCache({ dir });
  const path = cache.pathOf(key);
  await Deno.mkdir(join(dir, key.slice(0, 2)), { recursive: true });
  // The well-formed entry is a hit: the shape check does not refuse what put() writes.
  await Deno.writeTextFile(path, JSON.stringify(good));
  assertEquals((await cache.get(key))?.usage, { prompt: 1, completion: 2 });
  for (const [name, text] of Object.entries(MALFORMED)) {
    await Deno.writeTextFile(path, text);
    let entry: unknown = "unset";
    const printed = await capturingErrors(async () => {
      entry = await cache.get(key);
    });
    assertEquals(entry, null, name);
    assertEquals(printed.length, 1, `${name}: ${printed.join(" | ")}`);
    assert(printed[0].includes(path) && /damaged completion cache entry/.test(printed[0]), printed[0]);
    await cache.put(key, { model: "m", texts: ["SELECT 2"], usage: { prompt: 3, completion: 4 } });
    assertEquals((await cache.get(key))?.texts, ["SELECT 2"], `${name}: replaced`);
  }
});

Deno.test("a run over a cache whose entries lost their usage asks again, replaces them and finishes", async () => {
  const answers = await answersFromDataset(join(SAMPLE_DIR, "dev.json"));
  const server = await startFakeOpenAI({ script: goldScript(answers) });
  try {
    const cacheDir = await Deno.makeTempDir({ prefix: "t2s-robust-cache-run-" });
    const options = {
      db: ["superhero"],
      limit: 6,
      model: "fake-model",
      baseUrl: server.url,
      silent: true,
      cacheDir,
      goldCacheDir: await Deno.makeTempDir(),
      clientOptions: { backoffBaseMs: 5, backoffMaxMs: 20 },
    };
    await runEvaluation({ ...options, out: await Deno.makeTempDir() });
    const files: string[] = [];
    for await (const f of walk(cacheDir)) files.push(f);
    assertEquals(files.length, 6);
    for (const f of files) {
      const entry = JSON.parse(await Deno.readTextFile(f));
      delete entry.usage;
      await Deno.writeTextFile(f, JSON.stringify(entry));
    }
    server.reset();
    let res: Awaited<ReturnType<typeof runEvaluation>> | null = null;
    const printed = await capturingErrors(async () => {
      res = await runEvaluation({ ...options, out: await Deno.makeTempDir() });
    });
    assertEquals(res!.summary.correct, 6);
    assertEquals(server.requests.filter((r) => r.path.endsWith("/chat/completions")).length, 6);
    assertEquals(printed.filter((l) => /damaged completion cache entry/.test(l)).length, 6);
    for (const f of files) assert(printed.some((l) => l.includes(f)), `warning names ${f}`);
    // Replaced: a third run is served from the cache without a warning.
    server.reset();
    const third = await capturingErrors(async () => {
      await runEvaluation({ ...options, out: await Deno.makeTempDir() });
    });
    assertEquals(server.requests.filter((r) => r.path.endsWith("/chat/completions")).length, 0);
    assertEquals(third.filter((l) => /damaged/.test(l)), []);
  } finally {
    await server.close();
  }
});
