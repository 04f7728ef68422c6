/**
 * `deno task bench`: performance measured as ratios against a baseline run in the same script, on this machine.
 *
 * - scoring: a few thousand pred+gold pairs built from the bundled sample (each copy with distinct SQL text, so no
 *   cache can skip work) scored by us, against the official per-pair logic (new connection, execute prediction then
 *   gold, fetch all, compare sets) in Python's `sqlite3`, once in one process and once in a pool of as many
 *   processes as our workers; then a second, different predictions file on the same questions (gold cached).
 * - generation: see `bench_generation.ts`. download: see `bench_download.ts`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { runEvaluation, SAMPLE_DIR, SAMPLE_PREDICTIONS } from "./evaluate.ts";
import { BIRD_SEPARATOR } from "./dataset.ts";

interface Pairs {
  dataset: string;
  predictions: string;
  second: string;
  count: number;
}

/** Write a dataset of `copies` × the superhero questions, with two predictions files of distinct SQL text. */
async function buildPairs(dir: string, copies: number): Promise<Pairs> {
  const dev = JSON.parse(await Deno.readTextFile(join(SAMPLE_DIR, "dev.json"))) as Record<string, unknown>[];
  const preds = JSON.parse(await Deno.readTextFile(SAMPLE_PREDICTIONS)) as Record<string, string>;
  const heroes = dev.map((q, i) => [q, i] as const).filter(([q]) => q.db_id === "superhero");
  const questions: Record<string, unknown>[] = [];
  const first: Record<string, string> = {};
  const second: Record<string, string> = {};
  for (let c = 0; c < copies; c++) {
    for (const [q, i] of heroes) {
      const idx = questions.length;
      questions.push({ ...q, question_id: idx, SQL: `${q.SQL}\n-- copy ${c}` });
      const sql = preds[String(i)].split(BIRD_SEPARATOR)[0];
      first[String(idx)] = `${sql}\n-- first ${c}${BIRD_SEPARATOR}superhero`;
      second[String(idx)] = `${sql}\n-- second ${c}${BIRD_SEPARATOR}superhero`;
    }
  }
  const dataset = join(dir, "dev.json");
  await Deno.writeTextFile(dataset, JSON.stringify(questions));
  await Deno.mkdir(join(dir, "first"));
  await Deno.mkdir(join(dir, "second"));
  await Deno.writeTextFile(join(dir, "first", "predict_dev.json"), JSON.stringify(first));
  await Deno.writeTextFile(join(dir, "second", "predict_dev.json"), JSON.stringify(second));
  return {
    dataset,
    predictions: join(dir, "first", "predict_dev.json"),
    second: join(dir, "second", "predict_dev.json"),
    count: questions.length,
  };
}

async function python(pairs: Pairs, processes: number): Promise<number> {
  const script = new URL("../tests/parity/official_ex.py", import.meta.url).pathname;
  const out = await new Deno.Command("python3", {
    args: [
      script,
      pairs.dataset,
      pairs.predictions,
      join(SAMPLE_DIR, "dev_databases"),
      "--processes",
      String(processes),
      "--time",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`python3 baseline failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return Number(new TextDecoder().decode(out.stdout).trim());
}

/** Scoring throughput against the official per-pair logic in Python. */
export async function benchScoring(options: { copies?: number; workers?: number } = {}): Promise<void> {
  const workers = options.workers ?? navigator.hardwareConcurrency ?? 2;
  const dir = await Deno.makeTempDir({ prefix: "t2s-bench-" });
  try {
    const pairs = await buildPairs(join(dir), options.copies ?? 20);
    const gold = join(dir, "gold-cache");
    const run = async (predictions: string, name: string) => {
      const t0 = performance.now();
      const r = await runEvaluation({
        dataset: pairs.dataset,
        dbRoot: join(SAMPLE_DIR, "dev_databases"),
        predictions,
        workers,
        goldCacheDir: gold,
        out: join(dir, name),
        silent: true,
      });
      return { s: (performance.now() - t0) / 1000, correct: r.summary.correct };
    };
    console.log(
      `scoring ${pairs.count} pred+gold pairs (superhero × ${options.copies ?? 20}, distinct SQL text)`,
    );
    const py1 = await python(pairs, 1);
    const pyN = await python(pairs, workers);
    const first = await run(pairs.predictions, "first");
    const second = await run(pairs.second, "second");
    const rate = (s: number) => `${(pairs.count / s).toFixed(0)} pairs/s`;
    const rows: [string, number, string][] = [
      ["python sqlite3, 1 process (official logic)", py1, "1.00"],
      [`python sqlite3, pool of ${workers} processes`, pyN, (pyN / py1).toFixed(2)],
      [`text2sql, ${workers} workers, cold gold cache`, first.s, (first.s / py1).toFixed(2)],
      [`text2sql, second predictions file (gold cached)`, second.s, (second.s / py1).toFixed(2)],
    ];
    console.log(`${"".padEnd(52)} ${"seconds".padStart(8)}  ${"rate".padStart(14)}  vs 1-process`);
    for (const [name, s, ratio] of rows) {
      console.log(`${name.padEnd(52)} ${s.toFixed(2).padStart(8)}  ${rate(s).padStart(14)}  ${ratio}`);
    }
    console.log(
      `ours / python 1 process: ${(first.s / py1).toFixed(2)} (target < 1)   ` +
        `ours / python pool: ${(first.s / pyN).toFixed(2)} (target ≤ 1)   ` +
        `second file / first: ${(second.s / first.s).toFixed(2)} (target ≤ 0.6)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `deno task bench [--only scoring|generation|download] [--copies N] [--workers N]`. */
export async function benchCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: "string", multiple: true },
      copies: { type: "string" },
      workers: { type: "string" },
    },
  });
  const only = new Set(values.only ?? ["scoring", "generation", "download"]);
  if (only.has("scoring")) {
    await benchScoring({
      copies: values.copies ? Number(values.copies) : undefined,
      workers: values.workers ? Number(values.workers) : undefined,
    });
  }
  if (only.has("generation")) {
    console.log("");
    await (await import("./bench_generation.ts")).benchGeneration();
  }
  if (only.has("download")) {
    console.log("");
    await (await import("./bench_download.ts")).benchDownload();
  }
  return 0;
}
