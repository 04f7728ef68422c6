/**
 * The run lock under contention, with real processes: resumes started together on a folder a killed run left
 * (stale lock file, torn last line), and a resume right after SIGKILL.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { SAMPLE_DIR, SAMPLE_PREDICTIONS } from "../../lib/run/evaluate.ts";
import {
  answersFromDataset,
  goldScript,
  type Script,
  startFakeOpenAI,
} from "../support/fake_openai_server.ts";
import { killAfterLines, runEval, startEval, strictIndices } from "../support/robust_helpers.ts";

const QUESTIONS = 8;
const SCORE_ARGS = ["--db", "superhero", "--limit", String(QUESTIONS), "--workers", "1", "--quiet"];
const REFUSAL =
  /^error: \S+ is being written by another run \(it holds \.lock\); wait for it or use another --out$/;

/** A pid that belonged to a process which has exited (what a killed run leaves in its lock file). */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

Deno.test("4 resumes started at once on a folder with a stale lock, 30 times: exactly one writes, no torn or duplicate line", async () => {
  const base = await Deno.makeTempDir({ prefix: "t2s-lock-" });
  // A finished reference run gives the folder a killed run leaves: run.json, 3 whole lines and a torn one.
  const ref = join(base, "ref");
  const first = await runEval([...SCORE_ARGS, "--predictions", SAMPLE_PREDICTIONS, "--out", ref]);
  assertEquals(first.code, 0, first.stderr);
  const refLines = (await Deno.readTextFile(join(ref, "results.jsonl"))).split("\n").filter(Boolean);
  assertEquals(refLines.length, QUESTIONS);
  const runJson = await Deno.readTextFile(join(ref, "run.json"));
  const stale = refLines.slice(0, 3).join("\n") + "\n" + refLines[3].slice(0, 40);
  const pid = await deadPid();
  let refused = 0;
  for (let trial = 0; trial < 30; trial++) {
    const out = join(base, `t${trial}`);
    await Deno.mkdir(out);
    await Deno.writeTextFile(join(out, "run.json"), runJson);
    await Deno.writeTextFile(join(out, "results.jsonl"), stale);
    await Deno.writeTextFile(join(out, ".lock"), String(pid));
    const runs = await Promise.all(
      Array.from(
        { length: 4 },
        () => runEval([...SCORE_ARGS, "--predictions", SAMPLE_PREDICTIONS, "--out", out]),
      ),
    );
    for (const r of runs) {
      if (r.code === 0) continue;
      // Refused: the one line naming the folder, nothing else.
      assertEquals(r.code, 1, r.stderr);
      assert(REFUSAL.test(r.stderr.trim()) && r.stderr.trim().includes(out), `trial ${trial}: ${r.stderr}`);
      refused++;
    }
    assert(runs.some((r) => r.code === 0), `trial ${trial}: every resume was refused`);
    // Exactly one appended: each question once, the torn line cut, every line whole.
    const indices = await strictIndices(join(out, "results.jsonl"));
    assertEquals(indices.length, QUESTIONS, `trial ${trial}: ${indices.join(",")}`);
    assertEquals(
      indices.slice(0, 3),
      refLines.slice(0, 3).map((l) => JSON.parse(l).index),
      "finished lines kept",
    );
    const summary = JSON.parse(await Deno.readTextFile(join(out, "summary.json")));
    assertEquals(summary.total, QUESTIONS);
  }
  console.log(`${refused} of 120 resumes refused`);
  // The resumes really overlapped (otherwise this test would prove nothing about the race).
  assert(refused > 0, "no resume was ever refused: the runs never overlapped");
});

Deno.test("a resume right after a SIGKILL is never refused", async () => {
  const dev = join(SAMPLE_DIR, "dev.json");
  const answers = await answersFromDataset(dev);
  const gold = goldScript(answers);
  let slow = true;
  const script: Script = (req) => (slow ? { delayMs: 40, then: gold(req) as never } : gold(req));
  const server = await startFakeOpenAI({ script });
  const cache = await Deno.makeTempDir({ prefix: "t2s-lock-cache-" });
  try {
    for (let round = 0; round < 3; round++) {
      slow = true;
      const out = await Deno.makeTempDir({ prefix: "t2s-lock-kill-" });
      const args = [
        "--db",
        "superhero",
        "--limit",
        "20",
        "--model",
        "fake-model",
        "--base-url",
        server.url,
        "--concurrency",
        "1",
        "--no-cache",
        "--quiet",
        "--out",
        out,
      ];
      const env = { XDG_CACHE_HOME: cache };
      const { child, result } = startEval(args, env);
      const results = join(out, "results.jsonl");
      const kept = await killAfterLines(child, results, { lines: 3, timeoutMs: 5_000 });
      await result;
      assert(kept >= 3 && kept < 20, `round ${round}: killed with ${kept} done`);
      slow = false;
      // At once: the kernel dropped the dead run's lock.
      const resumed = await runEval(args, env);
      assertEquals(resumed.code, 0, `round ${round}: ${resumed.stderr}`);
      assertEquals((await strictIndices(results)).length, 20);
    }
  } finally {
    await server.close();
  }
});
