/**
 * One secret model, end to end: credentials in the base URL reach the server one way (HTTP Basic), and no form
 * of them (raw, `user:password`, base64, the Basic header a gateway echoes) nor the API key is written or
 * printed; yet redaction never touches SQL, so a run with `http://hero:pw@…?deployment=name` gives exactly the
 * verdicts of a run without credentials (`hero` is inside `superhero`, `name` is a column). The key also never
 * survives in tool-call names and ids, nor in the `/models` identity (`root`, `owned_by`).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { type EvalOptions, runEvaluation, SAMPLE_DIR } from "../../lib/run/evaluate.ts";
import type { ResultRecord } from "../../lib/types.ts";
import {
  answersFromDataset,
  type FakeServer,
  goldScript,
  type Script,
  startFakeOpenAI,
} from "../support/fake_openai_server.ts";
import { walk } from "../support/robust_helpers.ts";

const DEV = join(SAMPLE_DIR, "dev.json");
const KEY = "sk-live-K3yOfTheRun-0123456789";
const BASIC = btoa("hero:pw");
const FAST = { backoffBaseMs: 5, backoffMaxMs: 20, retryAfterCapMs: 50 };
/** The key of the run's environment, as `OPENAI_API_KEY`. */
const env = (name: string) => (name === "OPENAI_API_KEY" ? KEY : undefined);
/** A listing whose identity fields carry the key, as a careless gateway's can. */
const MODELS = [{
  id: "fake-model",
  root: `/srv/models/${KEY}`,
  owned_by: `team ${KEY}`,
  max_model_len: 8192,
}];

async function dirs() {
  return {
    out: await Deno.makeTempDir({ prefix: "t2s-secret-run-" }),
    cacheDir: await Deno.makeTempDir({ prefix: "t2s-secret-cache-" }),
    goldCacheDir: await Deno.makeTempDir({ prefix: "t2s-secret-gold-" }),
  };
}

/** Console output of `fn`, captured (warnings and errors included). */
async function capture<T>(fn: () => Promise<T>): Promise<{ value: T; printed: string }> {
  const printed: string[] = [];
  const saved = { log: console.log, error: console.error, warn: console.warn };
  const keep = (...args: unknown[]) => printed.push(args.map(String).join(" "));
  console.log = console.error = console.warn = keep;
  try {
    return { value: await fn(), printed: printed.join("\n") };
  } finally {
    Object.assign(console, saved);
  }
}

/** Every file under the folders, with its text. */
async function filesOf(...folders: string[]): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for (const dir of folders) for await (const f of walk(dir)) out.push([f, await Deno.readTextFile(f)]);
  return out;
}

function assertClean(where: string, text: string, secrets: string[]) {
  for (const s of secrets) assert(!text.includes(s), `${where} holds ${JSON.stringify(s)}`);
}

async function withServer(script: Script, fn: (s: FakeServer) => Promise<void>) {
  const server = await startFakeOpenAI({ script, models: MODELS });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

Deno.test("credentials in the URL change no verdict; no form of them or of the key is written or printed", async () => {
  const gold = goldScript(await answersFromDataset(DEV));
  const seen = new Set<string>();
  // A gateway that echoes the Authorization header it got before the answer, as the server did.
  const script: Script = async (req) => {
    seen.add(req.authorization ?? "");
    const answer = await gold(req);
    const sql = "content" in answer ? String(answer.content) : "SELECT NULL";
    return { content: `Gateway saw Authorization: ${req.authorization}\n\`\`\`sql\n${sql}\n\`\`\`` };
  };
  await withServer(script, async (server) => {
    const base = { db: ["superhero"], limit: 30, model: "fake-model", silent: true } as EvalOptions;
    const plain = await dirs();
    const a = await capture(() =>
      runEvaluation({ ...base, ...plain, baseUrl: server.url, clientOptions: { ...FAST, env } })
    );
    assertEquals([...seen], [`Bearer ${KEY}`]);
    seen.clear();
    const withCreds = await dirs();
    const url = server.url.replace("http://", "http://hero:pw@") + "?deployment=name";
    const b = await capture(() =>
      runEvaluation({ ...base, ...withCreds, baseUrl: url, clientOptions: { ...FAST, env } })
    );
    // Keys reach the server one way: the URL's user and password as Basic, the key variable not sent.
    assertEquals([...seen], [`Basic ${BASIC}`]);
    assert(/not sent|one way/.test(b.printed), b.printed);
    const verdicts = (records: ResultRecord[]) => records.map((r) => [r.index, r.status, r.sql]);
    assertEquals(verdicts(b.value.records), verdicts(a.value.records));
    assertEquals(b.value.summary.accuracy, a.value.summary.accuracy);
    assert((a.value.summary.accuracy ?? 0) > 90, `accuracy ${a.value.summary.accuracy}`);
    // The SQL kept the words that are also credentials; the echoed header did not survive.
    assert(b.value.records.some((r) => /\bsuperhero\b/.test(r.sql ?? "")));
    const forms = [KEY, BASIC, btoa(KEY), "hero:pw@"];
    for (const [file, text] of await filesOf(plain.out, plain.cacheDir, withCreds.out, withCreds.cacheDir)) {
      assertClean(file, text, forms);
    }
    assertClean("console", a.printed + b.printed, forms);
    const info = JSON.parse(await Deno.readTextFile(join(withCreds.out, "run.json")));
    assert(info.model_identity.includes("[redacted]"), info.model_identity);
    assert(!info.base_url.includes("hero"), info.base_url);
  });
});

Deno.test("agent: the key in tool-call names and ids is in no trajectory, cache entry or record", async () => {
  const script: Script = (req) => {
    const last = req.messages.at(-1) as { role: string };
    if (last.role === "tool") return { content: "```sql\nSELECT COUNT(*) FROM superhero\n```" };
    return {
      toolCalls: [
        { name: "execute_sql", arguments: { query: "SELECT COUNT(*) FROM superhero" }, id: `call-${KEY}` },
        { name: `tool_${KEY}`, arguments: {}, id: `id_${KEY}_2` },
      ],
    };
  };
  await withServer(script, async (server) => {
    const d = await dirs();
    const { value, printed } = await capture(() =>
      runEvaluation({
        ...d,
        db: ["superhero"],
        limit: 3,
        agent: true,
        model: "fake-model",
        baseUrl: server.url,
        silent: true,
        clientOptions: { ...FAST, env },
      })
    );
    assertEquals(value.records.length, 3);
    assert(value.records.every((r) => (r.trajectory ?? []).length === 2), JSON.stringify(value.records[0]));
    const unknown = value.records[0].trajectory![1];
    assert(!unknown.ok && /unknown tool/.test(unknown.error ?? ""), JSON.stringify(unknown));
    // The next request echoed the (scrubbed) ids back, so the pairing held.
    const sent = server.requests.filter((r) => r.body?.messages).map((r) => JSON.stringify(r.body));
    assert(sent.some((b) => b.includes("call-[redacted]")), "the scrubbed id was not sent back");
    for (const [file, text] of await filesOf(d.out, d.cacheDir)) assertClean(file, text, [KEY]);
    assertClean("console", printed, [KEY]);
  });
});
