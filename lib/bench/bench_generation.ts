/**
 * Generation benchmark (`deno task bench`): N prompts at concurrency C through {@linkcode ModelClient} against
 * the fake OpenAI server answering with a fixed latency, compared with the ideal `ceil(N/C) × latency`; then the
 * same prompts again from the cache, compared with the first run.
 *
 * Targets: the first run within 1.2× of ideal (start-up reported apart), the cached rerun under 10% of it.
 *
 * @module
 */

import { ModelClient } from "../model/mod.ts";
import type { ChatMessage } from "../types.ts";
import { startFakeOpenAI } from "../../tests/support/fake_openai_server.ts";

/** Options for {@linkcode benchGeneration}. */
export interface GenerationBenchOptions {
  /** Prompts (default 200). */
  n?: number;
  /** Concurrency (default 16). */
  concurrency?: number;
  /** Server latency per request in ms (default 100). */
  latencyMs?: number;
  /** Where to print (default `console.log`). */
  log?: (line: string) => void;
  /**
   * Run the fake server in its own process (default true), as a real server would be: in-process, its CPU
   * time shares our event loop and inflates the client's numbers by ~15%. False needs no `--allow-run`.
   */
  serverProcess?: boolean;
}

/** Measured times of one benchmark run, in ms. */
export interface GenerationBenchResult {
  n: number;
  concurrency: number;
  latencyMs: number;
  startupMs: number;
  firstMs: number;
  idealMs: number;
  /** firstMs / idealMs. */
  ratioToIdeal: number;
  cachedMs: number;
  /** cachedMs / firstMs. */
  cachedRatio: number;
  /** Both targets met. */
  ok: boolean;
}

/** The N benchmark prompts, each distinct so none is served from another's cache entry. */
function benchPrompts(n: number): ChatMessage[][] {
  return Array.from({ length: n }, (_, i) => [
    { role: "system", content: "You are a text to SQL query translator." },
    {
      role: "user",
      content: `-- DB Schema: CREATE TABLE t (a INT)\n\n-- Question: benchmark question ${i}`,
    },
  ]);
}

/** Milliseconds `run` takes. */
async function timed(run: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await run();
  return performance.now() - t;
}

/** Start-up, first run and cached rerun of `prompts` through a client on `url`, in ms. */
async function timeRuns(
  prompts: ChatMessage[][],
  setup: { url: string; concurrency: number; cacheDir: string },
): Promise<{ startupMs: number; firstMs: number; cachedMs: number }> {
  const { concurrency } = setup;
  const config = {
    baseUrl: setup.url,
    model: "fake-model",
    concurrency,
    cache: true,
    cacheDir: setup.cacheDir,
  };
  // The bench must not depend on (or send) whatever key the user has set.
  const env = () => undefined;

  let client!: ModelClient;
  const startupMs = await timed(async () => {
    client = await ModelClient.create(config, { env });
    // One wave of C distinct warm-up prompts opens the C connections and compiles the request path, so the
    // timed run measures steady-state throughput; it is reported as part of start-up.
    const warmup = Array.from({ length: concurrency }, (_, i): ChatMessage[] => [
      { role: "user", content: `warm-up ${i}` },
    ]);
    await Promise.all(warmup.map((p) => client.complete(p)));
  });
  const firstMs = await timed(() => Promise.all(prompts.map((p) => client.complete(p))));

  const rerun = await ModelClient.create(config, { env });
  let cached: { cached: boolean }[] = [];
  const cachedMs = await timed(async () => {
    cached = await Promise.all(prompts.map((p) => rerun.complete(p)));
  });
  if (cached.some((c) => !c.cached)) throw new Error("bench: the rerun was not served from the cache");
  return { startupMs, firstMs, cachedMs };
}

/** The result of the measured times, against the ideal `ceil(N/C) × latency` and the targets. */
function resultOf(
  size: { n: number; concurrency: number; latencyMs: number },
  times: { startupMs: number; firstMs: number; cachedMs: number },
): GenerationBenchResult {
  const { n, concurrency, latencyMs } = size;
  const { startupMs, firstMs, cachedMs } = times;
  const idealMs = Math.ceil(n / concurrency) * latencyMs;
  const ratioToIdeal = firstMs / idealMs;
  const cachedRatio = cachedMs / firstMs;
  const ok = ratioToIdeal <= 1.2 && cachedRatio < 0.1;
  return {
    n,
    concurrency,
    latencyMs,
    startupMs,
    firstMs,
    idealMs,
    ratioToIdeal,
    cachedMs,
    cachedRatio,
    ok,
  };
}

/** Print the lines of a result. */
function printResult(r: GenerationBenchResult, log: (line: string) => void): void {
  const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
  log(
    `generation: ${r.n} prompts, concurrency ${r.concurrency}, ${r.latencyMs} ms per request (fake server, loopback)`,
  );
  log(
    `  start-up                ${
      fmt(r.startupMs)
    }  (GET /models + one warm-up wave of ${r.concurrency} requests)`,
  );
  log(
    `  first run               ${fmt(r.firstMs)}  ideal ceil(N/C)×latency = ${fmt(r.idealMs)}  ratio ` +
      `${r.ratioToIdeal.toFixed(2)}× (target ≤ 1.20×) ${r.ratioToIdeal <= 1.2 ? "ok" : "MISSED"}`,
  );
  log(
    `  rerun from cache        ${fmt(r.cachedMs)}  ${(r.cachedRatio * 100).toFixed(1)}% of the first run ` +
      `(target < 10%) ${r.cachedRatio < 0.1 ? "ok" : "MISSED"}`,
  );
}

/**
 * Runs the generation benchmark and prints its lines.
 *
 * @param options Sizes and latency; defaults N=200, C=16, 100 ms.
 */
export async function benchGeneration(options: GenerationBenchOptions = {}): Promise<GenerationBenchResult> {
  const n = options.n ?? 200;
  const concurrency = options.concurrency ?? 16;
  const latencyMs = options.latencyMs ?? 100;
  const log = options.log ?? ((line: string) => console.log(line));
  const cacheDir = await Deno.makeTempDir({ prefix: "text2sql-bench-cache-" });
  const server = options.serverProcess === false
    ? await startFakeOpenAI({ latencyMs, script: () => ({ content: "SELECT 1" }) })
    : await spawnFakeServer(latencyMs);
  try {
    const times = await timeRuns(benchPrompts(n), { url: server.url, concurrency, cacheDir });
    const result = resultOf({ n, concurrency, latencyMs }, times);
    printResult(result, log);
    return result;
  } finally {
    await server.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
}

/** Starts `tests/support/fake_openai_server.ts` as a subprocess and waits for its `listening on URL` line. */
async function spawnFakeServer(latencyMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const script = new URL("../../tests/support/fake_openai_server.ts", import.meta.url);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-read",
      "--allow-env",
      script.href,
      "--latency-ms",
      String(latencyMs),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let url: string | null = null;
  while (url === null) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
    url = seen.match(/listening on (http:\/\/\S+)/)?.[1] ?? null;
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  const drained = (async () => {
    while (!(await reader.read()).done);
  })();
  if (url === null) {
    await child.status;
    throw new Error(`bench: the fake server did not start (${seen.trim() || "no output"})`);
  }
  return {
    url,
    async close() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.status;
      await drained;
    },
  };
}

if (import.meta.main) {
  const result = await benchGeneration();
  if (!result.ok) Deno.exitCode = 1;
}
