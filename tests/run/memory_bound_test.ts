/**
 * The eval process's own memory is bounded in voting and agent modes: candidates and tool calls run and are
 * digested inside the engine's workers, so a million-row candidate or tool call sends its shape, a display sample
 * and a set digest to the eval process, never its rows (issue 19 item 6: 1.6–1.9 GB for one voting question and
 * 685 MB for one tool call before). A 5M-row query, which scores as a final answer, is also fine as a candidate
 * and as a tool call (it died of out-of-memory after 70 s before).
 *
 * The bound: the eval process's peak RSS (`VmHWM` of `/proc/<pid>/status`, sampled while it runs) stays within
 * {@linkcode BOUND_MB} of the same run with one-row queries. The workers are separate processes, with their own
 * kernel memory limit, and are not counted.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import {
  type FakeServer,
  type Reply,
  type Script,
  sqlToolCall,
  startFakeOpenAI,
} from "../support/fake_openai_server.ts";
import { ROOT } from "../support/robust_helpers.ts";
import type { ResultRecord } from "../../lib/types.ts";

/** The stated bound: growth of the eval process's peak RSS over the same run with one-row queries. */
const BOUND_MB = 200;

/** `n` distinct rows of one column (`scale` makes the values, so two texts can give two results). */
const rowsQuery = (n: number, scale = 1) =>
  `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${n}) SELECT x * ${scale} FROM c`;

const M1 = rowsQuery(1_000_000);
const M1_OTHER = rowsQuery(1_000_000, 2);
const M5 = rowsQuery(5_000_000);
/** 1M rows of three columns, one a 24-character text. */
const M1_WIDE = rowsQuery(1_000_000).replace(
  "SELECT x * 1 FROM c",
  "SELECT x, -x, printf('row %020d', x) FROM c",
);
const fenced = (sql: string) => "```sql\n" + sql + "\n```";

/** Voting: K 4, two identical 1M-row samples (the answer), another 1M-row result, and a 5M-row one. */
const votingScript = (big: boolean): Script => (req) => ({
  content: (big ? [M1, M1, M5, M1_OTHER] : ["SELECT 1", "SELECT 1", "SELECT 2", "SELECT 3"])
    .slice(0, req.n).map(fenced),
});

/** Agent: a 1M-row tool call of three columns, then a 5M-row one, then the final answer. */
const agentScript = (big: boolean): Script => (req): Reply => {
  if (req.messages[0]?.content.startsWith("You have one tool")) return sqlToolCall("SELECT 1");
  const tools = req.messages.filter((m) => (m.role as string) === "tool").length;
  if (tools === 0) return sqlToolCall(big ? M1_WIDE : "SELECT 1");
  if (tools === 1) return sqlToolCall(big ? M5 : "SELECT 2");
  return { content: fenced("SELECT COUNT(*) FROM superhero") };
};

/** Peak RSS (MB) of a process, `VmHWM`, or null once it is gone. */
function peakMb(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** `deno task eval` on one superhero question against `server` in a mode; its records and its peak RSS. */
async function evalRun(
  server: FakeServer,
  mode: string[],
): Promise<{ records: ResultRecord[]; peak: number }> {
  const dir = await Deno.makeTempDir({ prefix: "t2s-memory-" });
  try {
    const out = join(dir, "run");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        join(ROOT, "lib", "cli", "cli.ts"),
        "eval",
        "--db",
        "superhero",
        "--limit",
        "1",
        "--model",
        "fake-model",
        "--base-url",
        server.url,
        "--workers",
        "2",
        "--quiet",
        "--out",
        out,
        ...mode,
      ],
      cwd: ROOT,
      env: { XDG_CACHE_HOME: join(dir, "cache") },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let peak = 0;
    const sampler = setInterval(() => peak = Math.max(peak, peakMb(child.pid) ?? 0), 50);
    const result = await child.output();
    clearInterval(sampler);
    assert(result.success, new TextDecoder().decode(result.stderr));
    const records = (await Deno.readTextFile(join(out, "results.jsonl"))).split("\n").filter(Boolean)
      .map((l) => JSON.parse(l) as ResultRecord);
    return { records, peak };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A run of each mode's script, big and small, each against its own scripted server. */
async function withScript<T>(script: Script, body: (server: FakeServer) => Promise<T>): Promise<T> {
  const server = await startFakeOpenAI({ script });
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}

Deno.test(`voting over 1M- and 5M-row candidates: the eval process grows < ${BOUND_MB} MB, the vote is taken`, async () => {
  const voting = ["--n", "4", "--temperature", "0.8"];
  const small = await withScript(votingScript(false), (s) => evalRun(s, voting));
  const big = await withScript(votingScript(true), (s) => evalRun(s, voting));
  console.log(
    `eval process peak RSS: ${small.peak.toFixed(0)} MB (one-row candidates), ${big.peak.toFixed(0)} MB`,
  );
  const rec = big.records[0];
  // Every candidate ran (none too large, none out of memory); the two identical 1M-row samples won.
  assertEquals(rec.candidates!.map((c) => [c.status, c.group_size, c.error]), [
    ["answer", 2, null],
    ["agrees", 2, null],
    ["outvoted", 1, null],
    ["outvoted", 1, null],
  ]);
  assertEquals(rec.sql, M1);
  assertEquals(rec.pred?.rows, 1_000_000);
  assert(big.peak - small.peak < BOUND_MB, `grew ${(big.peak - small.peak).toFixed(0)} MB`);
});

Deno.test(`agent tool calls of 1M and 5M rows: the eval process grows < ${BOUND_MB} MB, the model sees 20 rows`, async () => {
  let told: string[] = [];
  const tool = (server: FakeServer) =>
    server.requests.flatMap((r) =>
      (r.body?.messages as { role: string; content: string }[] | undefined) ?? []
    )
      .filter((m) => m.role === "tool").map((m) => m.content);
  const small = await withScript(agentScript(false), (s) => evalRun(s, ["--agent"]));
  const big = await withScript(agentScript(true), async (s) => {
    const run = await evalRun(s, ["--agent"]);
    told = tool(s);
    return run;
  });
  console.log(
    `eval process peak RSS: ${small.peak.toFixed(0)} MB (one-row calls), ${big.peak.toFixed(0)} MB`,
  );
  const rec = big.records[0];
  assertEquals(rec.trajectory!.map((t) => t.ok ? [t.ok, t.row_count, t.rows.length] : [t.ok, t.error]), [
    [true, 1_000_000, 3],
    [true, 5_000_000, 3],
  ]);
  assertEquals(rec.sql, "SELECT COUNT(*) FROM superhero");
  // The model was told the count and shown the first 20 rows, as before.
  assert(told.some((t) => t.startsWith("5000000 rows;") && t.endsWith("(first 20 of 5000000 rows shown)")));
  assert(big.peak - small.peak < BOUND_MB, `grew ${(big.peak - small.peak).toFixed(0)} MB`);
});
