/**
 * The voting benchmark (`deno task bench --only voting`): self-consistency at K = 8 and 16 over the superhero
 * questions and the BIRD-scale questions, `deno task eval --n K` as a user runs it (its own process, start-up
 * included, a fresh completion and gold cache, the samples served by the scripted OpenAI-compatible server),
 * against the floor: each question's distinct candidate statements once plus its gold statement once, in
 * Python's `sqlite3` with a pool of as many processes as workers (`voting_floor.py`), also timed from outside.
 * Target: ours ≤ 1.30× the floor.
 *
 * The samples of a question are made as the scale set makes its predictions: the gold rewritten (wrapped in a
 * subquery, the hand-written rewrite, the same text with a comment), a wrong variant (the scale set's
 * realistic mistake, or the bundled baseline's prediction on superhero, else the gold cut to one row) and one
 * that fails; K = 8 holds 4 distinct texts, K = 16 holds 5.
 *
 * @module
 */
import { join } from "node:path";
import { SAMPLE_DIR, SAMPLE_PREDICTIONS } from "../run/mod.ts";
import { BIRD_SEPARATOR } from "../data/mod.ts";
import { questionOf, startFakeOpenAI } from "../../tests/support/fake_openai_server.ts";
import { BANK_QUESTIONS } from "./scale_bank_questions.ts";
import { FORUM_QUESTIONS } from "./scale_forum_questions.ts";
import { ensureScaleDatabase } from "./scale.ts";
import { denoDir } from "./scoring_runs.ts";
import { runTree } from "./tree_run.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const FLOOR_PY = new URL("./voting_floor.py", import.meta.url).pathname;

/** Options of {@linkcode benchVoting}. */
export interface VotingBenchOptions {
  /** Samples per question (default 8 and 16). */
  ks?: number[];
  /** `superhero`, `scale` (default both). */
  sets?: string[];
  /** Workers of ours = processes of the floor (default: the CPU count). */
  workers?: number;
  /** Alternating runs per contestant (default 3, quick 1). */
  runs?: number;
  /** Copies of the superhero questions, each with its own SQL text (default 5, quick 1). */
  copies?: number;
  /** Small sizes, one run. */
  quick?: boolean;
  /** Where to print (default `console.log`). */
  log?: (line: string) => void;
}

/** One question of a voting set: its dataset entry and its distinct sample texts. */
interface VoteQuestion {
  db_id: string;
  question: string;
  SQL: string;
  difficulty: string;
  /** The texts a question's samples are drawn from, by role. */
  texts: { wrap: string; alt: string; again: string; wrong: string; error: string };
}

/** A voting set written to disk. */
interface VoteSet {
  name: string;
  dataset: string;
  dbRoot: string;
  questions: VoteQuestion[];
}

/** Figures of one (set, K). */
export interface VotingFigures {
  set: string;
  k: number;
  questions: number;
  /** Statements executed by the floor: distinct candidates plus gold, per question. */
  executions: number;
  ours: number;
  floor: number;
  /** CPU seconds of each side's process tree (medians; null where `/proc` has none). */
  oursCpu: number | null;
  floorCpu: number | null;
  oursMb: number;
  /** `summary.json`'s voted accuracy. */
  majority: number | null;
}

/** The order of a question's samples by role: 8 → 4 distinct texts, 16 → 5 (cycled beyond). */
const PATTERN = [
  "wrap",
  "wrap",
  "wrong",
  "alt",
  "wrap",
  "error",
  "alt",
  "wrap",
  "wrap",
  "wrong",
  "alt",
  "again",
  "wrong",
  "wrap",
  "alt",
  "error",
] as const;

/** The K samples of a question, in sample order. */
export function samplesOf(q: VoteQuestion, k: number): string[] {
  return Array.from({ length: k }, (_, i) => q.texts[PATTERN[i % PATTERN.length]]);
}

const bare = (sql: string) => sql.trim().replace(/;\s*$/, "");

/** The sample texts of a gold statement, with the question's own rewrite, mistake or failure where it has one. */
function textsOf(
  gold: string,
  own: { alt?: string; wrong?: string; error?: string },
  tag: string,
): VoteQuestion["texts"] {
  const g = bare(gold);
  return {
    wrap: `SELECT * FROM (\n${g}\n) AS wrapped${tag}`,
    alt: `${own.alt ?? g}\n-- rewritten${tag}`,
    again: `${g}\n-- again${tag}`,
    wrong: `${own.wrong ?? `SELECT * FROM (\n${g}\n) AS cut LIMIT 1`}${tag}`,
    error: own.error ? `${own.error}${tag}` : `SELECT no_such_column FROM (\n${g}\n) AS failing${tag}`,
  };
}

/** The superhero questions × `copies`, each copy with its own question and SQL text. */
async function superheroSet(dir: string, copies: number): Promise<VoteSet> {
  const dev = JSON.parse(await Deno.readTextFile(join(SAMPLE_DIR, "dev.json"))) as Record<string, string>[];
  const preds = JSON.parse(await Deno.readTextFile(SAMPLE_PREDICTIONS)) as Record<string, string>;
  const questions: VoteQuestion[] = [];
  for (let c = 0; c < copies; c++) {
    dev.forEach((q, i) => {
      if (q.db_id !== "superhero") return;
      const tag = `\n-- copy ${c}`;
      const baseline = preds[String(i)]?.split(BIRD_SEPARATOR)[0];
      questions.push({
        db_id: q.db_id,
        question: `${q.question} [copy ${c}]`,
        SQL: `${q.SQL}${tag}`,
        difficulty: q.difficulty ?? "unknown",
        texts: textsOf(q.SQL, { wrong: baseline }, tag),
      });
    });
  }
  return await writeSet("superhero", dir, questions, join(SAMPLE_DIR, "dev_databases"));
}

/** The BIRD-scale questions (quick: a small build), with their own rewrites, mistakes and failures. */
async function scaleSet(dir: string, quick: boolean, log: (line: string) => void): Promise<VoteSet> {
  const scale = await ensureScaleDatabase({
    params: quick ? { transactions: 300_000, accounts: 20_000, posts: 30_000, users: 10_000 } : {},
    onStep: log,
  });
  const specs = [
    ...BANK_QUESTIONS.map((s) => ["bank_scale", s] as const),
    ...FORUM_QUESTIONS.map((s) => ["forum_scale", s] as const),
  ];
  const questions = specs.map(([db_id, s]) => ({
    db_id,
    question: s.q,
    SQL: s.sql,
    difficulty: s.d,
    texts: textsOf(s.sql, s, ""),
  }));
  return await writeSet("scale", dir, questions, scale.dbRoot);
}

async function writeSet(name: string, dir: string, questions: VoteQuestion[], dbRoot: string) {
  const dataset = join(dir, `${name}.json`);
  await Deno.writeTextFile(
    dataset,
    JSON.stringify(questions.map((q, i) => ({
      question_id: i,
      db_id: q.db_id,
      question: q.question,
      evidence: "",
      SQL: q.SQL,
      difficulty: q.difficulty,
    }))),
  );
  return { name, dataset, dbRoot, questions };
}

/** `deno task eval --n K` on the set against a scripted server; wall time, peak memory, voted accuracy. */
async function runOurs(set: VoteSet, k: number, ctx: { workers: number; tmp: string; denoCache: string }) {
  const byQuestion = new Map(set.questions.map((q) => [q.question, q]));
  const server = await startFakeOpenAI({
    script: (req) => {
      const q = byQuestion.get(questionOf(req.messages) ?? "");
      if (!q) return { status: 400, message: "unknown question" };
      return { content: samplesOf(q, k).slice(0, req.n).map((s) => "```sql\n" + s + "\n```") };
    },
  });
  const fresh = await Deno.makeTempDir({ dir: ctx.tmp, prefix: "ours-" });
  try {
    const run = await runTree(Deno.execPath(), [
      "run",
      "-A",
      join(ROOT, "lib", "cli", "cli.ts"),
      "eval",
      "--dataset",
      set.dataset,
      "--db-root",
      set.dbRoot,
      "--model",
      "fake-model",
      "--base-url",
      server.url,
      "--n",
      String(k),
      "--temperature",
      "0.8",
      "--workers",
      String(ctx.workers),
      "--out",
      join(fresh, "run"),
      "--quiet",
    ], { env: { XDG_CACHE_HOME: join(fresh, "cache"), DENO_DIR: ctx.denoCache } });
    const summary = JSON.parse(await Deno.readTextFile(join(fresh, "run", "summary.json")));
    if (summary.total !== set.questions.length) {
      throw new Error(`voting bench: ${summary.total} of ${set.questions.length} questions scored`);
    }
    return {
      seconds: run.seconds,
      cpuSeconds: run.cpuSeconds,
      rootMb: run.rootMb,
      majority: summary.voting?.majority ?? null,
    };
  } finally {
    await server.close();
    await Deno.remove(fresh, { recursive: true });
  }
}

/** The floor: distinct candidates then gold, per question, in Python's sqlite3 with `workers` processes. */
async function runFloor(set: VoteSet, k: number, ctx: { workers: number; tmp: string }) {
  const jobs = set.questions.map((q) => [
    join(set.dbRoot, q.db_id, `${q.db_id}.sqlite`),
    [...new Set(samplesOf(q, k)), q.SQL],
  ]);
  const file = join(ctx.tmp, `floor-${set.name}-${k}.json`);
  await Deno.writeTextFile(file, JSON.stringify(jobs));
  const run = await runTree("python3", [FLOOR_PY, file, "--processes", String(ctx.workers)]);
  return { seconds: run.seconds, cpuSeconds: run.cpuSeconds, executions: Number(run.stdout.trim()) };
}

/** Seconds with two decimals, `-` for unknown. */
const seconds = (x: number | null): string => x === null ? "-" : `${x.toFixed(2)} s`;

/** The median, or null when any run has no figure. */
const medianOrNull = (xs: (number | null)[]): number | null =>
  xs.every((x) => x !== null) ? median(xs as number[]) : null;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The voting benchmark: prints each (set, K) with its ratio to the floor, PASS/MISS; returns the figures. */
export async function benchVoting(options: VotingBenchOptions = {}): Promise<VotingFigures[]> {
  const log = options.log ?? console.log;
  const quick = options.quick ?? false;
  const workers = options.workers ?? navigator.hardwareConcurrency ?? 2;
  const runs = options.runs ?? (quick ? 1 : 3);
  const ks = options.ks ?? [8, 16];
  const tmp = await Deno.makeTempDir({ prefix: "t2s-bench-voting-" });
  const ctx = { workers, tmp, denoCache: await denoDir() };
  const figures: VotingFigures[] = [];
  try {
    for (const name of options.sets ?? ["superhero", "scale"]) {
      const set = name === "superhero"
        ? await superheroSet(tmp, options.copies ?? (quick ? 1 : 5))
        : name === "scale"
        ? await scaleSet(tmp, quick, log)
        : null;
      if (!set) throw new Error(`unknown voting set ${name} (superhero, scale)`);
      for (const k of ks) {
        const t = { ours: [] as number[], floor: [] as number[] };
        const cpu = { ours: [] as (number | null)[], floor: [] as (number | null)[] };
        let last = { rootMb: 0, majority: null as number | null, executions: 0 };
        for (let r = 0; r < runs; r++) {
          // Alternating order, so neither side always runs on a warmer page cache.
          for (const who of r % 2 ? ["floor", "ours"] : ["ours", "floor"]) {
            if (who === "ours") {
              const o = await runOurs(set, k, ctx);
              t.ours.push(o.seconds);
              cpu.ours.push(o.cpuSeconds);
              last = { ...last, rootMb: Math.max(last.rootMb, o.rootMb), majority: o.majority };
            } else {
              const f = await runFloor(set, k, ctx);
              t.floor.push(f.seconds);
              cpu.floor.push(f.cpuSeconds);
              last.executions = f.executions;
            }
          }
          log(
            `  voting ${name} K ${k} run ${r + 1}/${runs}: ours ${t.ours.at(-1)!.toFixed(2)} s ` +
              `(CPU ${seconds(cpu.ours.at(-1)!)}), floor ${t.floor.at(-1)!.toFixed(2)} s (CPU ${
                seconds(cpu.floor.at(-1)!)
              })`,
          );
        }
        figures.push({
          set: name,
          k,
          questions: set.questions.length,
          executions: last.executions,
          ours: median(t.ours),
          floor: median(t.floor),
          oursCpu: medianOrNull(cpu.ours),
          floorCpu: medianOrNull(cpu.floor),
          oursMb: last.rootMb,
          majority: last.majority,
        });
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  printVoting(figures, { workers, runs }, log);
  return figures;
}

/** The table of the voting benchmark and its target per line. */
function printVoting(
  figures: VotingFigures[],
  how: { workers: number; runs: number },
  log: (s: string) => void,
) {
  log(
    `\nvoting (self-consistency), ${how.workers} workers vs a floor of ${how.workers} Python sqlite3 processes, ` +
      `medians of ${how.runs} alternating run(s), wall time from outside (start-up included); CPU: user + ` +
      "system seconds of each side's process tree, steadier than wall time on a shared machine",
  );
  log(
    `${"set".padEnd(10)} ${"K".padStart(3)} ${"questions".padStart(9)} ${"executions".padStart(10)} ` +
      `${"ours s".padStart(8)} ${"floor s".padStart(8)} ${"ours/floor".padStart(10)}  target ≤ 1.30×  ` +
      `${"CPU s ours / floor".padStart(18)} ${"CPU ratio".padStart(9)}  eval process MB  voted EX`,
  );
  for (const f of figures) {
    const r = f.ours / f.floor;
    const cpu = f.oursCpu === null || f.floorCpu === null ? { both: "-", ratio: "-" } : {
      both: `${f.oursCpu.toFixed(1)} / ${f.floorCpu.toFixed(1)}`,
      ratio: `${(f.oursCpu / f.floorCpu).toFixed(2)}×`,
    };
    log(
      `${f.set.padEnd(10)} ${String(f.k).padStart(3)} ${String(f.questions).padStart(9)} ` +
        `${String(f.executions).padStart(10)} ${f.ours.toFixed(2).padStart(8)} ${
          f.floor.toFixed(2).padStart(8)
        } ` +
        `${(r.toFixed(2) + "×").padStart(10)}  ${(r <= 1.3 ? "PASS" : "MISS").padEnd(14)}  ` +
        `${cpu.both.padStart(18)} ${cpu.ratio.padStart(9)}  ` +
        `${f.oursMb.toFixed(0).padStart(15)}  ${f.majority ?? "-"}`,
    );
  }
}
