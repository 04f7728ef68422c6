/**
 * A run says what it reused: the questions read back from its run log, those answered from the completion cache,
 * those that asked the model (or were scored from a predictions file), in `EvalResult.reuse` and on the CLI's last
 * line; a finished run resumed prints that line, not an empty progress bar ("0/0 100% 0.0/s in 0s").
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { runEvaluation, SAMPLE_DIR, SAMPLE_PREDICTIONS } from "../../lib/run/evaluate.ts";
import { answersFromDataset, goldScript, startFakeOpenAI } from "../support/fake_openai_server.ts";

Deno.test("reuse counts: run log, completion cache, new requests; the CLI says them for a finished run too", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "t2s-reuse-" });
  const server = await startFakeOpenAI({
    models: [{ id: "m", max_model_len: 8192 }],
    script: goldScript(await answersFromDataset(join(SAMPLE_DIR, "dev.json"))),
  });
  try {
    const common = {
      db: ["superhero"],
      model: "m",
      baseUrl: server.url,
      cacheDir: join(tmp, "cache"),
      goldCacheDir: join(tmp, "gold"),
      silent: true,
    };
    const first = await runEvaluation({ ...common, limit: 4, out: join(tmp, "a") });
    assertEquals(first.reuse, { fromLog: 0, fromCache: 0, fresh: 4 });
    const again = await runEvaluation({ ...common, limit: 4, out: join(tmp, "a") });
    assertEquals(again.reuse, { fromLog: 4, fromCache: 0, fresh: 0 });
    // Another folder, six questions: four answers are in the completion cache, two ask the model.
    const more = await runEvaluation({ ...common, limit: 6, out: join(tmp, "b") });
    assertEquals(more.reuse, { fromLog: 0, fromCache: 4, fresh: 2 });

    const cli = async (...args: string[]) => {
      const o = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", "lib/cli/cli.ts", "eval", ...args],
        env: { XDG_CACHE_HOME: join(tmp, "xdg") },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(o.code, 0, new TextDecoder().decode(o.stderr));
      return { out: new TextDecoder().decode(o.stdout), err: new TextDecoder().decode(o.stderr) };
    };
    const args = [
      "--predictions",
      SAMPLE_PREDICTIONS,
      "--db",
      "superhero",
      "--limit",
      "5",
      "--out",
      join(tmp, "c"),
    ];
    const fresh = await cli(...args, "--quiet");
    assert(
      fresh.out.trimEnd().endsWith(
        "questions: 0 from the run log, 0 from the completion cache, 5 scored from the predictions file",
      ),
      fresh.out,
    );
    const resumed = await cli(...args, "--quiet");
    assert(
      resumed.out.trimEnd().endsWith(
        "questions: 5 from the run log, 0 from the completion cache, 0 scored from the predictions file",
      ),
      resumed.out,
    );
    assert(!/0\/0/.test(resumed.err), `an empty progress line: ${resumed.err}`);
    // The official table, without the padding after its last column.
    assert(!/ +$/m.test(resumed.out), "trailing spaces");
    assert(/^count {16}/m.test(resumed.out) && /^accuracy {13}/m.test(resumed.out));
  } finally {
    await server.close();
    await Deno.remove(tmp, { recursive: true });
  }
});
