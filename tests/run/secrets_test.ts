/**
 * A model (or gateway) echoing a secret back inside its completions: the API key and the base URL's
 * credentials never reach results.jsonl, predict_dev.json, the completion cache, or the command's output.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { redact, secretValues } from "../../lib/model/mod.ts";
import { startFakeOpenAI } from "../support/fake_openai_server.ts";
import { runEval, walk } from "../support/robust_helpers.ts";

const KEY = "sk-echo-DO-NOT-LEAK-7777777777";
const USER = "gatewayuser";
const PASSWORD = "hunter2-pw-XYZ";
const TOKEN = "tok-in-query-998877";

Deno.test("secretValues: the key, user, password and query values, longest first; redact removes each", () => {
  const secrets = secretValues(KEY, `http://${USER}:${PASSWORD}@127.0.0.1:1/v1?token=${TOKEN}`);
  for (const s of [KEY, USER, PASSWORD, TOKEN, `${USER}:${PASSWORD}`, btoa(`${USER}:${PASSWORD}`)]) {
    assert(secrets.includes(s), s);
  }
  assert(secrets.every((s, i) => i === 0 || secrets[i - 1].length >= s.length));
  const text = `a ${KEY} b ${PASSWORD} c ${TOKEN} d ${USER}`;
  // A word-like user name is no credential outside a credential position: it could be a table's name.
  assertEquals(redact(text, secrets), `a [redacted] b [redacted] c [redacted] d ${USER}`);
  assertEquals(redact(`http://${USER}@h/v1`, secrets), "http://[redacted]@h/v1");
  // Percent-encoded credentials are caught in both spellings.
  assert(secretValues(null, "http://u:p%40ss-word@h/v1").includes("p@ss-word"));
});

Deno.test("a key and URL credentials echoed in completions are in no file and no output", async () => {
  let n = 0;
  // The server checks no key: with credentials in the URL, fetch sends them as Basic auth in place of the
  // bearer token. The key is still the one in use (OPENAI_API_KEY), which the client must scrub.
  const server = await startFakeOpenAI({
    script: () => {
      n++;
      // Every few questions an error that quotes the secrets too.
      if (n % 4 === 0) return { status: 400, message: `bad request from ${USER}:${PASSWORD} key ${KEY}` };
      return {
        content: `Using key ${KEY} (password ${PASSWORD}, token ${TOKEN}):\n` +
          "```sql\nSELECT '" + KEY + "' AS k, '" + TOKEN + "' AS t\n```",
      };
    },
  });
  try {
    const out = await Deno.makeTempDir({ prefix: "t2s-echo-" });
    const cache = await Deno.makeTempDir({ prefix: "t2s-echo-cache-" });
    const url = server.url.replace("http://", `http://${USER}:${PASSWORD}@`) + `?token=${TOKEN}`;
    const args = [
      "--db",
      "superhero",
      "--limit",
      "8",
      "--model",
      "fake-model",
      "--base-url",
      url,
      "--out",
      out,
    ];
    const env = { OPENAI_API_KEY: KEY, XDG_CACHE_HOME: cache };
    const first = await runEval([...args, "--quiet"], env);
    // Twice: the second run serves the completions from the cache.
    const second = await runEval([...args, "--quiet", "--retry-failed"], env);
    for (
      const [name, text] of [
        ["stdout", first.stdout + second.stdout],
        ["stderr", first.stderr + second.stderr],
      ]
    ) {
      for (const secret of [KEY, PASSWORD, TOKEN]) assert(!text.includes(secret), `${name} holds ${secret}`);
    }
    assertEquals(first.code, 0, first.stderr);
    const files: string[] = [];
    for await (const f of walk(out)) files.push(f);
    for await (const f of walk(cache)) files.push(f);
    assert(files.some((f) => f.endsWith("predict_dev.json")) && files.some((f) => f.includes("completions")));
    for (const f of files) {
      const text = await Deno.readTextFile(f);
      for (const secret of [KEY, USER, PASSWORD, TOKEN]) {
        assert(!text.includes(secret), `${f} holds ${secret}`);
      }
    }
    // The completions did arrive, scrubbed (not dropped): the SQL names the redaction.
    const records = (await Deno.readTextFile(join(out, "results.jsonl"))).split("\n").filter(Boolean)
      .map((l) => JSON.parse(l));
    assert(records.some((r) => r.sql === "SELECT '[redacted]' AS k, '[redacted]' AS t"), records[0].sql);
    assert(records.some((r) => r.status === "generation_error" && /\[redacted\]/.test(r.error)));
  } finally {
    await server.close();
  }
});
