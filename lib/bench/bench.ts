/**
 * `deno task bench`: performance measured as ratios against baselines run in the same script, on this machine.
 *
 * - scoring, head to head: `deno task eval --predictions` (a fresh gold cache each run, so nothing is skipped)
 *   against the official per-pair logic (`tests/parity/official_ex.py`: new connection, execute prediction then
 *   gold, fetch all, compare sets) with its own pool at the same worker count, each as its own process tree timed
 *   from the outside (start-up included: what a user waits for) with its peak memory (RSS summed over the tree,
 *   sampled every 50 ms). Sets: `superhero` (the 2,580 pairs of the bundled sample × 20, distinct SQL text),
 *   `trivial` (3,000 `SELECT n` pairs: per-question overhead), `scale` (the BIRD-scale questions of
 *   `bench_scale.ts`, plus the floor: the same prediction and gold statements in the `sqlite3` CLI, as many in
 *   parallel as workers). Medians of `--runs` alternating runs.
 * - generation: see `bench_generation.ts`. download: see `bench_download.ts`.
 *
 * @module
 */
import { join } from "node:path";
import { SAMPLE_DIR, SAMPLE_PREDICTIONS } from "../run/mod.ts";
import { BIRD_SEPARATOR } from "../data/mod.ts";

interface Pairs {
  dataset: string;
  predictions: string;
  dbRoot: string;
  count: number;
}

/** Write a dataset of `copies` × the superhero questions, with a predictions file of distinct SQL text. */
async function buildPairs(dir: string, copies: number): Promise<Pairs> {
  const dev = JSON.parse(await Deno.readTextFile(join(SAMPLE_DIR, "dev.json"))) as Record<string, unknown>[];
  const preds = JSON.parse(await Deno.readTextFile(SAMPLE_PREDICTIONS)) as Record<string, string>;
  const heroes = dev.map((q, i) => [q, i] as const).filter(([q]) => q.db_id === "superhero");
  const questions: Record<string, unknown>[] = [];
  const first: Record<string, string> = {};
  for (let c = 0; c < copies; c++) {
    for (const [q, i] of heroes) {
      const idx = questions.length;
      questions.push({ ...q, question_id: idx, SQL: `${q.SQL}\n-- copy ${c}` });
      const sql = preds[String(i)].split(BIRD_SEPARATOR)[0];
      first[String(idx)] = `${sql}\n-- first ${c}${BIRD_SEPARATOR}superhero`;
    }
  }
  const dataset = join(dir, "dev.json");
  await Deno.writeTextFile(dataset, JSON.stringify(questions));
  await Deno.writeTextFile(join(dir, "predict_dev.json"), JSON.stringify(first));
  return {
    dataset,
    predictions: join(dir, "predict_dev.json"),
    dbRoot: join(SAMPLE_DIR, "dev_databases"),
    count: questions.length,
  };
}

/** Write `count` trivial pairs (`SELECT n` against `SELECT n AS v`) on superhero: the per-question overhead. */
async function buildTrivial(dir: string, count: number): Promise<Pairs> {
  const questions = [];
  const preds: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    questions.push({ question_id: i, db_id: "superhero", question: `number ${i}?`, SQL: `SELECT ${i}` });
    // One in ten wrong, so the verdicts are not all alike.
    preds[String(i)] = `SELECT ${i % 10 === 9 ? i + 1 : i} AS v${BIRD_SEPARATOR}superhero`;
  }
  await Deno.writeTextFile(join(dir, "dev.json"), JSON.stringify(questions));
  await Deno.writeTextFile(join(dir, "predict_dev.json"), JSON.stringify(preds));
  return {
    dataset: join(dir, "dev.json"),
    predictions: join(dir, "predict_dev.json"),
    dbRoot: join(SAMPLE_DIR, "dev_databases"),
    count,
  };
}

/** Wall time (seconds, from the outside) and peak memory (MB, RSS summed over the process tree) of a command. */
export interface TreeRun {
  seconds: number;
  peakMb: number;
  /** Peak RSS of the root process alone, and of the largest single descendant (MB). */
  rootMb: number;
  childMb: number;
  stdout: string;
}

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    // A process gone between listing and reading is normal; a refused read would silently measure 0 MB.
    if (e instanceof Deno.errors.NotCapable) {
      throw new Error(`reading ${path} needs --allow-all (deno run -A)`);
    }
    return null;
  }
}

/**
 * The pids of `root` and all its descendants, through each thread's `children` list. Deno reads another
 * process's `/proc` entries only with `--allow-all`: the `bench` task runs with `-A` for this.
 */
function processTree(root: number): number[] {
  const seen: number[] = [];
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop()!;
    seen.push(pid);
    let tasks: string[] = [];
    try {
      tasks = [...Deno.readDirSync(`/proc/${pid}/task`)].map((e) => e.name);
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) {
        throw new Error(`reading /proc/${pid} needs --allow-all (deno run -A)`);
      }
      continue;
    }
    for (const tid of tasks) {
      const kids = readText(`/proc/${pid}/task/${tid}/children`);
      if (kids) todo.push(...kids.trim().split(/\s+/).filter(Boolean).map(Number));
    }
  }
  return seen;
}

function rssKb(pid: number): number {
  const status = readText(`/proc/${pid}/status`);
  const m = status?.match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) : 0;
}

/** Run a command as its own process tree, sampling its memory every 50 ms. */
export async function runTree(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string> } = {},
): Promise<TreeRun> {
  const started = performance.now();
  const child = new Deno.Command(cmd, { args, env: options.env, stdout: "piped", stderr: "piped" }).spawn();
  let peak = 0;
  let root = 0;
  let kid = 0;
  const sample = () => {
    let kb = 0;
    for (const pid of processTree(child.pid)) {
      const one = rssKb(pid);
      kb += one;
      if (pid === child.pid) root = Math.max(root, one);
      else kid = Math.max(kid, one);
    }
    if (kb > peak) peak = kb;
  };
  const timer = setInterval(sample, 50);
  sample();
  const out = await child.output();
  const seconds = (performance.now() - started) / 1000;
  clearInterval(timer);
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${cmd} ${args.slice(0, 3).join(" ")} … failed (${out.code}): ${err}`);
  }
  return {
    seconds,
    peakMb: peak / 1024,
    rootMb: root / 1024,
    childMb: kid / 1024,
    stdout: new TextDecoder().decode(out.stdout),
  };
}

const ROOT = new URL("../..", import.meta.url).pathname;

/** Deno's own cache folder: kept when a run gets a fresh `XDG_CACHE_HOME` (which Deno would otherwise use). */
async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

/** `deno task eval --predictions` as a user runs it, with a fresh gold cache; returns the tree and its EX count. */
async function runOurs(pairs: Pairs, workers: number, tmp: string, denoCache: string) {
  const fresh = await Deno.makeTempDir({ dir: tmp, prefix: "ours-" });
  const run = await runTree(Deno.execPath(), [
    "run",
    "-A",
    join(ROOT, "lib", "cli.ts"),
    "eval",
    "--dataset",
    pairs.dataset,
    "--db-root",
    pairs.dbRoot,
    "--predictions",
    pairs.predictions,
    "--workers",
    String(workers),
    "--out",
    join(fresh, "run"),
    "--quiet",
  ], { env: { XDG_CACHE_HOME: join(fresh, "cache"), DENO_DIR: denoCache } });
  const records = (await Deno.readTextFile(join(fresh, "run", "results.jsonl"))).split("\n").filter(Boolean)
    .map((line) => JSON.parse(line) as { index: number; status: string; error?: string | null });
  await Deno.remove(fresh, { recursive: true });
  const verdicts = new Map(records.map((r) => [r.index, r]));
  return { ...run, verdicts, correct: records.filter((r) => r.status === "correct").length };
}

/** The official logic with its own pool of `workers` processes. */
async function runOfficial(pairs: Pairs, workers: number) {
  const run = await runTree("python3", [
    join(ROOT, "tests", "parity", "official_ex.py"),
    pairs.dataset,
    pairs.predictions,
    pairs.dbRoot,
    "--processes",
    String(workers),
  ]);
  const verdicts = JSON.parse(run.stdout) as Record<string, [number, number]>;
  return {
    ...run,
    verdicts: new Map(Object.entries(verdicts).map(([i, [ex]]) => [Number(i), ex])),
    correct: Object.values(verdicts).filter(([ex]) => ex === 1).length,
  };
}

/** The floor: each question's prediction then gold in the `sqlite3` CLI, `lanes` questions at a time. */
async function runFloor(pairs: Pairs, lanes: number): Promise<number> {
  const questions = JSON.parse(await Deno.readTextFile(pairs.dataset)) as { db_id: string; SQL: string }[];
  const preds = JSON.parse(await Deno.readTextFile(pairs.predictions)) as Record<string, string>;
  const jobs: [string, string][] = [];
  questions.forEach((q, i) => {
    const db = join(pairs.dbRoot, q.db_id, `${q.db_id}.sqlite`);
    const pred = preds[String(i)]?.split(BIRD_SEPARATOR)[0];
    jobs.push([db, `${pred ?? ""}`], [db, q.SQL]);
  });
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < jobs.length) {
      const j = next;
      next += 2;
      for (const [db, sql] of jobs.slice(j, j + 2)) {
        // Output to /dev/null as the issue measured it; an erroring prediction fails here as it does there.
        await new Deno.Command("sqlite3", { args: ["-readonly", db, sql], stdout: "null", stderr: "null" })
          .output();
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return (performance.now() - started) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Figures of one set: medians of the runs. */
export interface SetFigures {
  name: string;
  pairs: number;
  ours: number;
  official: number;
  floor: number | null;
  oursMb: number;
  officialMb: number;
  correct: { ours: number; official: number };
}

/** Options of {@linkcode benchScoring}. */
export interface ScoringBenchOptions {
  /** Which sets: `superhero`, `trivial`, `scale` (default all three). */
  sets?: string[];
  /** Alternating runs per contestant (default 3). */
  runs?: number;
  /** Workers of ours = processes of the official pool = lanes of the floor (default: the CPU count). */
  workers?: number;
  /** Copies of the superhero questions (default 20: 2,580 pairs). */
  copies?: number;
  /** Trivial pairs (default 3,000). */
  trivial?: number;
  /** Small sizes everywhere, one run: for development. */
  quick?: boolean;
}

/** The head-to-head scoring benchmark; prints a table and the targets with PASS/MISS, returns the figures. */
export async function benchScoring(options: ScoringBenchOptions = {}): Promise<SetFigures[]> {
  const quick = options.quick ?? false;
  const workers = options.workers ?? navigator.hardwareConcurrency ?? 2;
  const runs = options.runs ?? (quick ? 1 : 3);
  const sets = options.sets ?? ["superhero", "trivial", "scale"];
  const tmp = await Deno.makeTempDir({ prefix: "t2s-bench-" });
  const denoCache = await denoDir();
  const figures: SetFigures[] = [];
  try {
    for (const name of sets) {
      const dir = join(tmp, name);
      await Deno.mkdir(dir);
      let pairs: Pairs;
      if (name === "superhero") pairs = await buildPairs(dir, options.copies ?? (quick ? 2 : 20));
      else if (name === "trivial") pairs = await buildTrivial(dir, options.trivial ?? (quick ? 300 : 3000));
      else if (name === "scale") {
        const { ensureScaleDatabase } = await import("./scale.ts");
        const scale = await ensureScaleDatabase({
          params: quick ? { transactions: 300_000, accounts: 20_000, posts: 30_000, users: 10_000 } : {},
          onStep: (line) => console.log(line),
        });
        if (scale.built) console.log(`built in ${scale.buildSeconds.toFixed(1)} s`);
        pairs = {
          dataset: scale.dataset,
          predictions: scale.predictions,
          dbRoot: scale.dbRoot,
          count: scale.questions.length,
        };
      } else throw new Error(`unknown set ${name} (superhero, trivial, scale)`);
      const t = { ours: [] as number[], official: [] as number[], floor: [] as number[] };
      const mb = { ours: [] as number[], official: [] as number[] };
      const correct = { ours: 0, official: 0 };
      const differ = new Set<string>();
      const where: string[] = [];
      const last: {
        ours?: Map<number, { status: string; error?: string | null }>;
        official?: Map<number, number>;
      } = {};
      for (let r = 0; r < runs; r++) {
        // Alternating order, so neither side always runs on a warmer page cache.
        const order = r % 2 ? ["official", "ours", "floor"] : ["ours", "official", "floor"];
        for (const who of order) {
          if (who === "ours") {
            const o = await runOurs(pairs, workers, tmp, denoCache);
            t.ours.push(o.seconds);
            where.push(`ours: parent ${o.rootMb.toFixed(0)} MB, largest worker ${o.childMb.toFixed(0)} MB`);
            mb.ours.push(o.peakMb);
            correct.ours = o.correct;
            last.ours = o.verdicts;
          } else if (who === "official") {
            const o = await runOfficial(pairs, workers);
            t.official.push(o.seconds);
            where.push(
              `official: parent ${o.rootMb.toFixed(0)} MB, largest pool process ${o.childMb.toFixed(0)} MB`,
            );
            mb.official.push(o.peakMb);
            correct.official = o.correct;
            last.official = o.verdicts;
          } else if (name === "scale") t.floor.push(await runFloor(pairs, workers));
        }
        // A verdict that differs is named (an official timeout under load shows here as ours 1, official 0).
        for (const [i, ex] of last.official ?? []) {
          const ours = last.ours?.get(i);
          if ((ours?.status === "correct" ? 1 : 0) !== ex) {
            differ.add(`question ${i}: ours ${ours?.status} ${ours?.error ?? ""}, official ${ex}`.trim());
          }
        }
        console.log(
          `  ${name} run ${r + 1}/${runs}: ours ${t.ours.at(-1)!.toFixed(2)} s, official ` +
            `${t.official.at(-1)!.toFixed(2)} s${
              name === "scale" ? `, floor ${t.floor.at(-1)!.toFixed(2)} s` : ""
            }`,
        );
      }
      for (const line of differ) console.log(`  ${name}: verdicts differ on ${line}`);
      console.log(`  ${name}: peak RSS per process: ${[...new Set(where)].join("; ")}`);
      figures.push({
        name,
        pairs: pairs.count,
        ours: median(t.ours),
        official: median(t.official),
        floor: t.floor.length ? median(t.floor) : null,
        oursMb: Math.max(...mb.ours),
        officialMb: Math.max(...mb.official),
        correct,
      });
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  printFigures(figures, { workers, runs });
  return figures;
}

function mark(ok: boolean): string {
  return ok ? "PASS" : "MISS";
}

function printFigures(figures: SetFigures[], how: { workers: number; runs: number }): void {
  console.log(
    `\nscoring head to head, ${how.workers} workers / processes, medians of ${how.runs} alternating run(s), ` +
      `wall time from outside (start-up included), peak RSS of each process tree`,
  );
  console.log(
    `${"set".padEnd(10)} ${"pairs".padStart(6)} ${"ours s".padStart(8)} ${"official s".padStart(10)} ` +
      `${"floor s".padStart(8)} ${"ours MB".padStart(8)} ${"off. MB".padStart(8)}  EX ours/official`,
  );
  for (const f of figures) {
    console.log(
      `${f.name.padEnd(10)} ${String(f.pairs).padStart(6)} ${f.ours.toFixed(2).padStart(8)} ` +
        `${f.official.toFixed(2).padStart(10)} ${
          (f.floor === null ? "-" : f.floor.toFixed(2)).padStart(8)
        } ` +
        `${f.oursMb.toFixed(0).padStart(8)} ${f.officialMb.toFixed(0).padStart(8)}  ` +
        `${f.correct.ours}/${f.correct.official}${f.correct.ours === f.correct.official ? "" : "  (DIFFER)"}`,
    );
  }
  console.log("targets:");
  for (const f of figures) {
    const r = f.ours / f.official;
    console.log(`  ${f.name}: ours/official ${r.toFixed(2)}× (target ≤ 0.70×) ${mark(r <= 0.7)}`);
    if (f.floor !== null) {
      const q = f.ours / f.floor;
      console.log(`  ${f.name}: ours/floor ${q.toFixed(2)}× (target ≤ 1.30×) ${mark(q <= 1.3)}`);
    }
    const d = f.oursMb - f.officialMb;
    console.log(
      `  ${f.name}: peak memory ${f.oursMb.toFixed(0)} MB vs ${f.officialMb.toFixed(0)} MB ` +
        `(${d >= 0 ? "+" : ""}${d.toFixed(0)} MB, target ≤ +300 MB) ${mark(d <= 300)}`,
    );
  }
}

/** Which benchmarks {@linkcode runBenchmarks} runs, and the scoring benchmark's options. */
export interface BenchmarkSelection {
  /** `scoring`, `generation`, `download` (default: all three). */
  only?: string[];
  scoring?: ScoringBenchOptions;
}

/**
 * Runs the benchmarks asked for, in order (scoring, generation, download), each printing its figures.
 * The generation and download benchmarks load only when asked for (they build their fixtures on load).
 *
 * @param selection Which benchmarks, and the scoring benchmark's options.
 */
export async function runBenchmarks(selection: BenchmarkSelection = {}): Promise<void> {
  const only = new Set(selection.only ?? ["scoring", "generation", "download"]);
  if (only.has("scoring")) await benchScoring(selection.scoring);
  if (only.has("generation")) {
    console.log("");
    await (await import("./bench_generation.ts")).benchGeneration();
  }
  if (only.has("download")) {
    console.log("");
    await (await import("./bench_download.ts")).benchDownload();
  }
}
