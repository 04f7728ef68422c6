/**
 * SIGKILL of `deno task eval` (the documented entry point): the real eval process it started notices its
 * parent is gone and exits, its SQLite workers die with it, nothing more is requested, and the run's lock is
 * released, so an immediate rerun resumes the folder.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { startFakeOpenAI } from "../support/fake_openai_server.ts";
import { linesSoFar, ROOT, runEval, strictIndices } from "../support/robust_helpers.ts";

/** Pids whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(e.name));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** Whether `pid` is alive and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function waitFor(what: string, holds: () => boolean | Promise<boolean>, limitMs = 60_000) {
  for (const end = Date.now() + limitMs; Date.now() < end;) {
    if (await holds()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never happened: ${what}`);
}

Deno.test({
  name: "SIGKILL of `deno task eval` stops the eval process and its workers and releases the lock",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const server = await startFakeOpenAI({
      script: () => ({ content: "SELECT COUNT(*) FROM superhero" }),
      latencyMs: 400,
    });
    const dir = await Deno.makeTempDir({ prefix: "t2s-parent-" });
    const out = join(dir, "run");
    const env = { XDG_CACHE_HOME: join(dir, "cache") };
    const args = [
      "--db",
      "superhero",
      "--limit",
      "40",
      "--model",
      "fake-model",
      "--base-url",
      server.url,
      "--out",
      out,
    ];
    try {
      const task = new Deno.Command(Deno.execPath(), {
        args: ["task", "--quiet", "eval", ...args, "--concurrency", "1", "--quiet"],
        cwd: ROOT,
        env,
        stdout: "null",
        stderr: "null",
      }).spawn();
      const results = join(out, "results.jsonl");
      await waitFor("two questions done", async () => (await linesSoFar(results)) >= 2);
      const [evalPid] = childrenOf(task.pid);
      assert(evalPid, "no eval process under the deno task process");
      const workers = childrenOf(evalPid);
      assert(workers.length > 0, "no workers");
      task.kill("SIGKILL");
      await task.status;
      await waitFor("the eval process exits", () => !alive(evalPid));
      await waitFor("its workers exit", () => workers.every((w) => !alive(w)));
      // Nothing more is asked of the endpoint once the process is gone.
      const asked = server.requests.length;
      const done = await linesSoFar(results);
      assert(done < 40, `the run finished before the kill (${done})`);
      // An immediate rerun is not refused by the lock: it resumes and finishes.
      const rerun = await runEval([...args, "--quiet"], env);
      assertEquals(rerun.code, 0, rerun.stderr);
      assertEquals((await strictIndices(results)).length, 40);
      assert(server.requests.length - asked <= 40 - done + 2, "the rerun redid finished questions");
    } finally {
      await server.close();
    }
  },
});
