/**
 * Self-consistency: the vote over real executions on the bundled superhero database, its tie-break, the
 * all-failing fallback, its independence from gold, the figures of `summary.json`'s `voting`, and that a
 * digest equality is exactly EX's.
 */
import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { exMatch } from "../../lib/exec/compare.ts";
import { join } from "node:path";
import { SqlitePool } from "../../lib/exec/sqlite_pool.ts";
import { runEvaluation } from "../../lib/run/evaluate.ts";
import { executeAndCompare, judgeCandidates } from "../../lib/run/score.ts";
import { newRecord, type RunContext } from "../../lib/run/context.ts";
import { GoldCache } from "../../lib/exec/gold_cache.ts";
import { questionOf, type Script, startFakeOpenAI } from "../support/fake_openai_server.ts";
import type { CandidateRecord, Example, ResultRecord } from "../../lib/types.ts";
import {
  type Candidate,
  type CandidateOutcome,
  executeDistinct,
  outcomeOf,
  scoreCandidates,
  vote,
  votingSummary,
} from "../../lib/run/voting.ts";

const DB = "data/sample/dev_databases/superhero/superhero.sqlite";

/** One question: its samples' SQL in sample order, its gold SQL and difficulty. */
interface Question {
  difficulty: string;
  gold: string;
  samples: string[];
}

const TALL_GOLD = "SELECT superhero_name FROM superhero WHERE height_cm > 200";

/** Sample 0 is wrong (198 cm heroes too), samples 1, 3, 4 are three different texts of the gold result, sample 2 is another wrong. */
const TALL: Question = {
  difficulty: "simple",
  gold: TALL_GOLD,
  samples: [
    "SELECT superhero_name FROM superhero WHERE height_cm >= 198",
    "SELECT superhero_name FROM superhero WHERE height_cm > 200 ORDER BY superhero_name",
    "SELECT full_name FROM superhero WHERE height_cm > 200",
    "SELECT DISTINCT s.superhero_name FROM superhero AS s WHERE 200 < s.height_cm",
    "SELECT superhero_name FROM superhero WHERE NOT height_cm <= 200 AND height_cm IS NOT NULL",
  ],
};

/** A 2–2 tie between a wrong result (holding the earliest sample, 1) and the right one; sample 0 errors. */
const TIE: Question = {
  difficulty: "moderate",
  gold: "SELECT COUNT(*) FROM superhero WHERE publisher_id = 4",
  samples: [
    "SELECT COUNT(*) FROM superheroes",
    "SELECT COUNT(*) FROM superhero WHERE publisher_id = 13",
    "SELECT COUNT(id) FROM superhero WHERE publisher_id = 4",
    "SELECT COUNT(*) FROM superhero WHERE publisher_id = 13",
    "SELECT COUNT(*) FROM superhero AS T1 JOIN publisher AS T2 ON T1.publisher_id = T2.id " +
    "WHERE T2.publisher_name = 'DC Comics'",
  ],
};

/** Every candidate fails. */
const BROKEN: Question = {
  difficulty: "challenging",
  gold: "SELECT colour FROM colour WHERE id = 1",
  samples: [
    "SELECT colour FROM colours",
    "SELECT nope FROM colour",
    "DROP TABLE colour",
    "SELECT colour FROM colour WHERE",
    "SELECT colour FROM colours",
  ],
};

/** Unanimous and right from the first sample. */
const EASY: Question = {
  difficulty: "simple",
  gold: "SELECT COUNT(*) FROM superhero",
  samples: [
    "SELECT COUNT(*) FROM superhero",
    "SELECT COUNT(id) FROM superhero",
    "SELECT COUNT(*) FROM superhero",
    "SELECT COUNT(*) FROM superhero",
    "SELECT COUNT(1) FROM superhero",
  ],
};

async function candidatesOf(
  pool: SqlitePool,
  q: Question,
): Promise<{ candidates: Candidate[]; executions: number }> {
  return await executeDistinct(
    q.samples.map((sql, sampleIndex) => ({ sql, sampleIndex })),
    async (sql) => outcomeOf(await pool.digest(DB, sql)),
  );
}

async function goldDigest(pool: SqlitePool, sql: string): Promise<string | null> {
  const r = outcomeOf(await pool.digest(DB, sql));
  return r.ok ? r.digest : null;
}

Deno.test("K 5: three differently written correct SQLs outvote two wrong ones; first and oracle figures exact", async () => {
  const pool = new SqlitePool({ workers: 2, timeoutS: 10 });
  try {
    const { candidates } = await candidatesOf(pool, TALL);
    const result = vote(candidates);
    // The earliest sample of the winning group, not sample 0 (wrong) nor a later correct one.
    assertEquals(result.sampleIndex, 1);
    assertEquals(result.sql, TALL.samples[1]);
    assertEquals(result.groups.map((g) => g.samples), [[1, 3, 4], [0], [2]]);
    assertEquals(result.candidates.map((c) => [c.sample_index, c.status, c.group_size]), [
      [0, "outvoted", 1],
      [1, "answer", 3],
      [2, "outvoted", 1],
      [3, "agrees", 3],
      [4, "agrees", 3],
    ]);
    const scored = scoreCandidates(result.candidates, await goldDigest(pool, TALL.gold));
    assertEquals(scored.map((c) => c.correct), [false, true, false, true, true]);
    assertEquals(votingSummary([{ difficulty: "simple", candidates: scored }], 5), {
      n: 5,
      majority: 100,
      first: 0,
      any: 100,
      by_difficulty: {
        simple: { total: 1, majority: 100, first: 0, any: 100 },
        moderate: { total: 0, majority: null, first: null, any: null },
        challenging: { total: 0, majority: null, first: null, any: null },
      },
    });
  } finally {
    await pool.close();
  }
});

Deno.test("a tie goes to the group holding the earliest sample; all failing gives the first candidate", async () => {
  const pool = new SqlitePool({ workers: 2, timeoutS: 10 });
  try {
    const tie = vote((await candidatesOf(pool, TIE)).candidates);
    assertEquals(tie.groups.map((g) => g.samples), [[1, 3], [2, 4]]);
    assertEquals(tie.sampleIndex, 1);
    assertEquals(tie.candidates[0].status, "error");
    assertEquals(tie.candidates[0].group_size, 0);
    assert(tie.candidates[0].error?.includes("no such table"), tie.candidates[0].error ?? "");

    const broken = vote((await candidatesOf(pool, BROKEN)).candidates);
    assertEquals(broken.digest, null);
    assertEquals(broken.groups, []);
    assertEquals(broken.sampleIndex, 0);
    assertEquals(broken.sql, BROKEN.samples[0]);
    assertEquals(broken.candidates.map((c) => c.status), ["answer", "error", "error", "error", "error"]);
  } finally {
    await pool.close();
  }
});

Deno.test("summary figures over questions and difficulties: majority, first sample, oracle", async () => {
  const pool = new SqlitePool({ workers: 2, timeoutS: 10 });
  try {
    const questions = [];
    for (const q of [TALL, TIE, BROKEN, EASY]) {
      const v = vote((await candidatesOf(pool, q)).candidates);
      questions.push({
        difficulty: q.difficulty,
        candidates: scoreCandidates(v.candidates, await goldDigest(pool, q.gold)),
      });
    }
    // A question whose generation failed has no candidates and counts as wrong in all three.
    questions.push({ difficulty: "simple", candidates: [] });
    // TALL: majority yes, first no, any yes. TIE: no, no, yes. BROKEN: no, no, no. EASY: yes, yes, yes.
    assertEquals(votingSummary(questions, 5), {
      n: 5,
      majority: 40,
      first: 20,
      any: 60,
      by_difficulty: {
        simple: { total: 3, majority: 66.67, first: 33.33, any: 66.67 },
        moderate: { total: 1, majority: 0, first: 0, any: 100 },
        challenging: { total: 1, majority: 0, first: 0, any: 0 },
      },
    });
  } finally {
    await pool.close();
  }
});

Deno.test("the vote is independent of gold: a changed gold changes the verdicts, never the voted SQL", async () => {
  const pool = new SqlitePool({ workers: 2, timeoutS: 10 });
  try {
    const { candidates } = await candidatesOf(pool, TALL);
    const golds = [TALL_GOLD, TALL.samples[0], "SELECT 42", "SELECT nothing FROM nowhere"];
    const seen = new Set<string>();
    for (const gold of golds) {
      // Whatever a caller's objects carry besides the declared fields (here a verdict against this gold) is
      // ignored: vote() copies sql, sampleIndex and outcome only.
      const digest = await goldDigest(pool, gold);
      const tainted = candidates.map((c) => ({
        ...c,
        correct: c.outcome.ok && c.outcome.digest === digest,
        gold,
      }));
      const v = vote(tainted);
      assertEquals(v, vote(candidates));
      seen.add(JSON.stringify(scoreCandidates(v.candidates, digest).map((c) => c.correct)));
    }
    // The verdicts did change with gold (so this test would notice a vote that followed them).
    assertEquals(seen.size, 3);
    assertEquals(vote(candidates).sql, TALL.samples[1]);
  } finally {
    await pool.close();
  }
});

Deno.test("each distinct SQL text executes once; outcomes are shared by identical samples", async () => {
  const calls: string[] = [];
  const execute = (sql: string): Promise<CandidateOutcome> => {
    calls.push(sql);
    return Promise.resolve(
      sql === "bad" ? { ok: false, error: "syntax error" } : { ok: true, digest: `d:${sql}` },
    );
  };
  const { candidates, executions } = await executeDistinct(
    ["a", "b", "a", "bad", "a"].map((sql, sampleIndex) => ({ sql, sampleIndex })),
    execute,
  );
  assertEquals(executions, 3);
  assertEquals(calls.sort(), ["a", "b", "bad"]);
  assertEquals(candidates.map((c) => c.outcome.ok ? c.outcome.digest : c.outcome.error), [
    "d:a",
    "d:b",
    "d:a",
    "syntax error",
    "d:a",
  ]);
  assertEquals(vote(candidates).candidates.map((c) => c.status), [
    "answer",
    "outvoted",
    "agrees",
    "error",
    "agrees",
  ]);
});

Deno.test("equal set digests are exactly EX equality (set of rows, Python ==, column order kept)", async () => {
  const pool = new SqlitePool({ workers: 2, timeoutS: 10 });
  try {
    const sqls = [
      "SELECT 1",
      "SELECT 1.0",
      "SELECT '1'",
      "SELECT 1 UNION ALL SELECT 1",
      "SELECT 1, 2",
      "SELECT 2, 1",
      "SELECT id FROM colour WHERE id < 3",
      "SELECT id FROM colour WHERE id < 3 ORDER BY id DESC",
      "SELECT id FROM colour WHERE id < 0",
      "SELECT NULL",
      "SELECT 1 WHERE 0",
    ];
    const results = [];
    for (const sql of sqls) {
      // The rows (for the pure reference, `compare.ts` exMatch) and the worker's set digest of the same query.
      const r = await pool.execute(DB, sql);
      const d = await pool.digest(DB, sql);
      assert(r.ok && d.ok, sql);
      results.push({ ...r, set: d.set });
    }
    let equalPairs = 0;
    for (const a of results) {
      for (const b of results) {
        const same = a.set === b.set;
        assertEquals(same, exMatch(a, b));
        if (same && a !== b) equalPairs++;
      }
    }
    // 1 ~ 1.0 ~ 1 UNION ALL 1, the two colour orders, the two empty results: 3·2 + 2 + 2 ordered pairs.
    assertEquals(equalPairs, 10);
  } finally {
    await pool.close();
  }
});

Deno.test("vote refuses no candidates and repeated sample indices", () => {
  assertThrows(() => vote([]), /at least one candidate/);
  const c: Candidate = { sql: "SELECT 1", sampleIndex: 0, outcome: { ok: true, digest: "x" } };
  assertThrows(() => vote([c, { ...c }]), /sample index 0 appears twice/);
});

/** Questions whose candidates probe EX's equality: order, duplicates, `1` vs `1.0`, `'1'` vs `1`, width, empty. */
const EX_PROBES: { gold: string; samples: string[] }[] = [
  {
    gold: "SELECT 1",
    samples: [
      "SELECT '1'",
      "SELECT 1.0",
      "SELECT 1 UNION ALL SELECT 1",
      "SELECT 1, 1",
      "SELECT 2",
      "SELECT '1'",
      "SELECT 1",
    ],
  },
  {
    gold: "SELECT id FROM colour WHERE id < 5",
    samples: [
      "SELECT id FROM colour WHERE id < 4",
      "SELECT id FROM colour WHERE id < 5 ORDER BY id DESC",
      "SELECT id FROM colour WHERE id < 5 UNION ALL SELECT id FROM colour WHERE id < 3",
      "SELECT id * 1.0 FROM colour WHERE id < 5",
      "SELECT CAST(id AS TEXT) FROM colour WHERE id < 5",
      "SELECT id, id FROM colour WHERE id < 5",
      "SELECT id FROM colour WHERE id < 4",
    ],
  },
  {
    gold: "SELECT id FROM colour WHERE id < 0",
    samples: [
      "SELECT NULL",
      "SELECT 1 WHERE 0",
      "SELECT id, colour FROM colour WHERE 0",
      "SELECT NULL",
      "SELECT id FROM colour WHERE id < 0 ORDER BY id",
      "SELECT NULL",
      "SELECT 1 WHERE 0",
    ],
  },
];

Deno.test("a voting run's groups, candidate verdicts and answer verdict are exactly what EX says", async () => {
  const dir = await Deno.makeTempDir({ prefix: "t2s-vote-ex-" });
  const dataset = join(dir, "dev.json");
  await Deno.writeTextFile(
    dataset,
    JSON.stringify(EX_PROBES.map((p, i) => ({
      question_id: i,
      db_id: "superhero",
      question: `probe ${i}?`,
      evidence: "",
      SQL: p.gold,
      difficulty: "simple",
    }))),
  );
  const script: Script = (req) => {
    const probe = EX_PROBES[Number(/probe (\d+)\?/.exec(questionOf(req.messages) ?? "")![1])];
    return { content: probe.samples.slice(0, req.n).map((s) => "```sql\n" + s + "\n```") };
  };
  const server = await startFakeOpenAI({ script });
  const pool = new SqlitePool({ workers: 2, timeoutS: 10 });
  try {
    const k = EX_PROBES[0].samples.length;
    const { records } = await runEvaluation({
      dataset,
      dbRoot: "data/sample/dev_databases",
      model: "fake-model",
      baseUrl: server.url,
      n: k,
      temperature: 0.8,
      out: join(dir, "run"),
      cacheDir: join(dir, "cache"),
      goldCacheDir: join(dir, "gold"),
      silent: true,
    });
    // The pure reference: the rows of each query, compared as `compare.ts` (the official semantics) does.
    const rows = async (sql: string) => {
      const r = await pool.execute(DB, sql);
      assert(r.ok, sql);
      return r;
    };
    const together = new Set<string>();
    for (const rec of records) {
      const probe = EX_PROBES[rec.index];
      const gold = await rows(probe.gold);
      const cands = rec.candidates as (CandidateRecord & { correct: boolean })[];
      assertEquals(cands.length, probe.samples.length);
      for (const a of cands) {
        const ra = await rows(a.sql);
        assertEquals(a.correct, exMatch(ra, gold), `${a.sql} against ${probe.gold}`);
        for (const b of cands) {
          const same = a.digest === b.digest;
          assertEquals(same, exMatch(ra, await rows(b.sql)), `${a.sql} vs ${b.sql}`);
          if (same && a.sql !== b.sql) together.add(`${rec.index}: ${a.sql} ~ ${b.sql}`);
        }
      }
      const answer = await rows(rec.sql!);
      assertEquals(rec.status, exMatch(answer, gold) ? "correct" : "wrong");
    }
    // Grouped together despite different texts (ordered pairs): 1 ~ 1.0 ~ 1 UNION ALL 1; gold's rows reordered,
    // duplicated and as REALs; the three empty results whatever their columns.
    assertEquals(together.size, 6 + 6 + 6);
    // '1' is text: its own group of two (1 and 1.0 win with three), and wrong; NULL is not empty.
    const probe0 = records.find((r) => r.index === 0)!;
    assertEquals(probe0.candidates!.find((c) => c.sql === "SELECT '1'")!.group_size, 2);
    assertEquals([probe0.status, probe0.sql], ["correct", "SELECT 1.0"]);
    assertEquals(records.map((r) => r.status), ["correct", "correct", "correct"]);
  } finally {
    await pool.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("candidate verdicts when the answer's scoring saw no gold: its set digest from the gold cache, else digested once", async () => {
  const pool = new SqlitePool({ workers: 2, timeoutS: 10 });
  const gold = new GoldCache({ memoryOnly: true });
  try {
    const records = vote((await candidatesOf(pool, TALL)).candidates).candidates;
    const ex = { index: 0, db_id: "superhero", sql: TALL_GOLD } as Example;
    let digests = 0;
    const engine = {
      target: (root: string, id: string) => pool.target(root, id),
      digest: (...args: Parameters<SqlitePool["digest"]>) => {
        digests++;
        return pool.digest(...args);
      },
    };
    const ctx = { pool: engine, gold, dbRoot: "data/sample/dev_databases" } as unknown as RunContext;
    const judged = async () =>
      ((await judgeCandidates({ candidates: records } as ResultRecord, ex, ctx)).candidates as {
        correct: boolean;
      }[]).map((c) => c.correct);
    // Nothing known of gold: the gold query is digested in a worker, once.
    assertEquals(await judged(), [false, true, false, true, true]);
    assertEquals(digests, 1);
    // A cached gold result: its set digest derived here from the cached row digests, nothing executed.
    const db = pool.target("data/sample/dev_databases", "superhero");
    const scored = await pool.score(db, TALL_GOLD, { gold: TALL_GOLD });
    await gold.dbHash(db);
    gold.record(db, TALL_GOLD, scored.gold!);
    await gold.flush();
    assert((await gold.peek(db, TALL_GOLD))?.ok);
    assertEquals(await judged(), [false, true, false, true, true]);
    assertEquals(digests, 1);
  } finally {
    await pool.close();
  }
});

Deno.test("a gold result too large for the gold cache runs once: the answer's scoring gives the candidates their verdicts", async () => {
  // No gold digest comes back for the cache, as with a gold result over 2 MiB of digest.
  const pool = new SqlitePool({ workers: 2, timeoutS: 10, goldDigestChars: 0 });
  const gold = new GoldCache({ memoryOnly: true });
  try {
    const executed: string[] = [];
    const engine = {
      target: (root: string, id: string) => pool.target(root, id),
      digest: (...args: Parameters<SqlitePool["digest"]>) => {
        executed.push(`digest ${args[1]}`);
        return pool.digest(...args);
      },
      score: (...args: Parameters<SqlitePool["score"]>) => {
        executed.push(`score ${args[1]} against ${args[2].gold}`);
        return pool.score(...args);
      },
    };
    const ctx = {
      pool: engine,
      gold,
      dbRoot: "data/sample/dev_databases",
      mode: { name: "voting", n: TALL.samples.length },
      ves: null,
    } as unknown as RunContext;
    const db = pool.target(ctx.dbRoot, "superhero");
    // The vote as the generate stage takes it: each candidate digested and kept in its worker.
    const voted = vote(
      (await executeDistinct(
        TALL.samples.map((sql, sampleIndex) => ({ sql, sampleIndex })),
        async (sql) => outcomeOf(await engine.digest(db, sql, { keep: true })),
      )).candidates,
    );
    const ex = { index: 0, question_id: 0, db_id: "superhero", sql: TALL_GOLD } as Example;
    const rec = { ...newRecord(ex, ctx), sql: voted.sql, candidates: voted.candidates };
    executed.length = 0;
    const judged = await judgeCandidates(await executeAndCompare(rec, ex, ctx), ex, ctx);
    assertEquals(judged.status, "correct");
    assertEquals((judged.candidates as { correct: boolean }[]).map((c) => c.correct), [
      false,
      true,
      false,
      true,
      true,
    ]);
    // Gold ran once, in the answer's scoring (the answer compared from its kept digest); nothing after it.
    assertEquals(executed, [`score ${voted.sql} against ${TALL_GOLD}`]);
    const entry = await gold.peek(db, TALL_GOLD);
    assert(!(entry && "digest" in entry && entry.digest), "the gold result's digest is not cached");
  } finally {
    await pool.close();
  }
});
