/**
 * Every file the toolkit reads is opened one safe way (lib/util/files.ts): a FIFO, a device, a folder, a
 * symlink loop or an oversized file is refused by name at once (never a hang, never an unbounded read), and
 * each reader turns that into its own outcome: a cache entry is a miss with one warning, a gold cache file is a
 * miss, a predictions file or a dataset is one clear line naming what the path is.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { join } from "node:path";
import { readFileSafe, UnsafeFileError } from "../../lib/util/files.ts";
import { CompletionCache } from "../../lib/model/cache.ts";
import { loadDataset, loadPredictions } from "../../lib/data/dataset.ts";
import { runEvaluation } from "../../lib/run/evaluate.ts";
import { startFakeOpenAI } from "../support/fake_openai_server.ts";
import { walk } from "../support/robust_helpers.ts";

async function mkfifo(path: string): Promise<void> {
  const { code } = await new Deno.Command("mkfifo", { args: [path] }).output();
  assertEquals(code, 0);
}

/** The bad kinds of file, made at `path`, with what the refusal must say. */
const BAD: Array<[string, (path: string) => Promise<void>, RegExp]> = [
  ["fifo", mkfifo, /FIFO/],
  ["dev-zero", (p) => Deno.symlink("/dev/zero", p), /character device/],
  ["folder", (p) => Deno.mkdir(p), /folder/],
  ["loop", (p) => Deno.symlink(p, p), /symlink loop/],
  // Sparse: 200 MB on paper, nothing on disk; refused by its size before any byte is read.
  ["garbage", async (p) => {
    await Deno.writeTextFile(p, "garbage");
    await Deno.truncate(p, 200 * 1024 ** 2);
  }, /200 MB, over/],
];

/** console.error lines printed while `fn` runs. */
async function warnings<T>(fn: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const lines: string[] = [];
  const saved = console.error;
  console.error = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  try {
    return { value: await fn(), lines };
  } finally {
    console.error = saved;
  }
}

Deno.test("readFileSafe refuses FIFOs, devices, folders, loops and oversized files by name, without blocking", async () => {
  const dir = await Deno.makeTempDir({ prefix: "t2s-safe-" });
  for (const [name, make, said] of BAD) {
    const path = join(dir, name);
    await make(path);
    await readFileSafe(path, { maxBytes: 32 * 1024 ** 2, what: "cache entry" }).then(
      () => assert(false, `${name} was read`),
      (e) => {
        assert(e instanceof UnsafeFileError, `${name}: ${e}`);
        assert(e.message.startsWith(path) && said.test(e.message), e.message);
      },
    );
  }
  const missing = await readFileSafe(join(dir, "absent"), { maxBytes: 10, what: "x" }).catch((e) => e);
  assertEquals((missing as UnsafeFileError).kind, "missing");
  await Deno.writeTextFile(join(dir, "ok"), "hello");
  assertEquals(
    new TextDecoder().decode(await readFileSafe(join(dir, "ok"), { maxBytes: 10, what: "x" })),
    "hello",
  );
  await rejects(() => readFileSafe(join(dir, "ok"), { maxBytes: 4, what: "x" }), /over/);
});

Deno.test("a bad completion cache entry is a miss with one warning naming it, and is replaced where it can be", async () => {
  const dir = await Deno.makeTempDir({ prefix: "t2s-safe-cache-" });
  const cache = new CompletionCache({ dir });
  for (const [name, make] of BAD) {
    const key = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(name));
    const hex = [...new Uint8Array(key)].map((b) => b.toString(16).padStart(2, "0")).join("");
    const path = cache.pathOf(hex);
    await Deno.mkdir(join(dir, hex.slice(0, 2)), { recursive: true });
    await make(path);
    const { value, lines } = await warnings(async () => [await cache.get(hex), await cache.get(hex)]);
    assertEquals(value, [null, null]);
    assertEquals(lines.length, 1, `${name}: ${lines.join(" | ")}`);
    assert(lines[0].includes(path), lines[0]);
    await cache.put(hex, { model: "m", texts: ["SELECT 1"], usage: { prompt: 1, completion: 1 } });
    const after = await warnings(() => cache.get(hex));
    if (name === "folder") assertEquals(after.value, null);
    else assertEquals(after.value?.texts, ["SELECT 1"]);
  }
});

Deno.test("a model run over a cache of FIFOs, /dev/zero links, folders, loops and garbage finishes, every bad entry a miss", async () => {
  const server = await startFakeOpenAI({ script: () => ({ content: "SELECT COUNT(*) FROM superhero" }) });
  try {
    const cacheDir = await Deno.makeTempDir({ prefix: "t2s-safe-run-cache-" });
    const base = {
      db: ["superhero"],
      limit: 10,
      model: "fake-model",
      baseUrl: server.url,
      silent: true,
      cacheDir,
      goldCacheDir: await Deno.makeTempDir({ prefix: "t2s-safe-run-gold-" }),
    };
    await runEvaluation({ ...base, out: await Deno.makeTempDir({ prefix: "t2s-safe-run-a-" }) });
    const entries: string[] = [];
    for await (const f of walk(cacheDir)) entries.push(f);
    assert(entries.length >= BAD.length, `${entries.length} entries`);
    for (const [i, [, make]] of BAD.entries()) {
      await Deno.remove(entries[i]);
      await make(entries[i]);
    }
    const { value, lines } = await warnings(() =>
      runEvaluation({ ...base, out: join(Deno.makeTempDirSync({ prefix: "t2s-safe-run-b-" }), "run") })
    );
    assertEquals(value.records.length, 10);
    for (const [i] of BAD.entries()) {
      assertEquals(lines.filter((l) => l.includes(entries[i])).length, 1, lines.join("\n"));
    }
  } finally {
    await server.close();
  }
});

Deno.test("a gold cache file that is a FIFO is a miss with one warning (a predictions-only run does not hang)", async () => {
  const goldCacheDir = await Deno.makeTempDir({ prefix: "t2s-safe-gold-" });
  const run = async () =>
    await runEvaluation({
      limit: 6,
      silent: true,
      goldCacheDir,
      out: join(await Deno.makeTempDir({ prefix: "t2s-safe-gold-run-" }), "run"),
    });
  const first = await run();
  const shards = (await Array.fromAsync(Deno.readDir(goldCacheDir))).filter((e) => e.name.endsWith(".jsonl"));
  assertEquals(shards.length, 1);
  const shard = join(goldCacheDir, shards[0].name);
  await Deno.remove(shard);
  await mkfifo(shard);
  const { value, lines } = await warnings(run);
  assertEquals(value.summary.accuracy, first.summary.accuracy);
  assertEquals(value.gold.hits, 0);
  assertEquals(lines.filter((l) => l.includes(shard)).length, 1, lines.join("\n"));
  assert((await Deno.lstat(shard)).isFifo, "the FIFO was written to or replaced");
});

Deno.test("predictions or a dataset that is a FIFO or /dev/zero: one clear line naming what it is, at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "t2s-safe-inputs-" });
  const fifo = join(dir, "predict_dev.json");
  await mkfifo(fifo);
  await rejects(
    () => loadPredictions(fifo),
    (e: Error) => e.message === `${fifo}: predictions file is a FIFO, not a regular file`,
  );
  await rejects(
    () => loadPredictions("/dev/zero"),
    /\/dev\/zero: predictions file is a character device/,
  );
  await rejects(
    () => runEvaluation({ predictions: "/dev/zero", silent: true, out: join(dir, "run") }),
    /\/dev\/zero: predictions file is a character device, not a regular file/,
  );
  // A dataset given as such a file, or a folder whose dev.json is one.
  const dsDir = join(dir, "bird");
  await Deno.mkdir(dsDir);
  await mkfifo(join(dsDir, "dev.json"));
  await rejects(
    () => loadDataset(join(dsDir, "dev.json")),
    /dev\.json: dataset is a FIFO, not a JSON file or a folder/,
  );
  await rejects(() => loadDataset("/dev/zero"), /\/dev\/zero: dataset is a character device/);
  await rejects(() => loadDataset(dsDir), /dev\.json: dataset is a FIFO, not a regular file/);
});
