/**
 * Three real run folders of one model over the first four `superhero` questions of the bundled sample, made by
 * `runEvaluation` against the scripted OpenAI-compatible server: one answer per question, a vote over three
 * samples, and the agent. The report and `06`'s modes step are tested on them.
 *
 * - single: right on questions 0 and 2, wrong on 1 and 3;
 * - voting (K 3): samples [gold, gold, wrong] on 0–2 (the vote right), [wrong, wrong, gold] on 3 (the vote wrong,
 *   the oracle right);
 * - agent: a failing query, then gold, then a final answer: gold on 0–2, a wrong one on 3 (a failing question
 *   with a trajectory).
 */
import { join } from "node:path";
import { runEvaluation, SAMPLE_DIR } from "../../lib/run/evaluate.ts";
import {
  answersFromDataset,
  questionOf,
  type Reply,
  type Script,
  type ScriptRequest,
  sqlToolCall,
  startFakeOpenAI,
} from "./fake_openai_server.ts";
import { loadDataset, selectExamples } from "../../lib/data/dataset.ts";

/** The model every run names, so the report compares its modes. */
export const MODE_MODEL = "fake-model";

/** The query the agent runs first on every question: it fails (no such column). */
export const FAILING_QUERY = "SELECT nope FROM superhero";

const DEV = join(SAMPLE_DIR, "dev.json");
const WRONG = "SELECT -1";
const fenced = (sql: string) => "```sql\n" + sql + "\n```";

/** The scripts of the three modes, by the question's position among the four. */
function scripts(position: (req: ScriptRequest) => number, gold: (req: ScriptRequest) => string) {
  const single: Script = (req) => ({ content: fenced(position(req) % 2 === 0 ? gold(req) : WRONG) });
  const voting: Script = (req) => {
    const samples = position(req) === 3 ? [WRONG, WRONG, gold(req)] : [gold(req), gold(req), WRONG];
    return { content: samples.slice(0, req.n).map(fenced) };
  };
  const agent: Script = (req): Reply => {
    // The start-up probe that the endpoint supports tools.
    if (req.messages[0]?.content.startsWith("You have one tool")) return sqlToolCall("SELECT 1");
    const tools = req.messages.filter((m) => (m.role as string) === "tool").length;
    if (tools === 0) return sqlToolCall(FAILING_QUERY);
    if (tools === 1) return sqlToolCall(gold(req));
    return { content: "Done.\n" + fenced(position(req) === 3 ? WRONG : gold(req)) };
  };
  return { single, voting, agent };
}

/**
 * Makes the three run folders under `root`.
 *
 * @param root an empty temporary folder
 * @returns the run folders
 */
export async function makeModeRuns(root: string): Promise<{ single: string; voting: string; agent: string }> {
  const answers = await answersFromDataset(DEV);
  const order = selectExamples(await loadDataset(DEV), { db: ["superhero"], limit: 4 }).map((e) =>
    e.question
  );
  const position = (req: ScriptRequest) => order.indexOf(questionOf(req.messages)!);
  const gold = (req: ScriptRequest) => answers.get(questionOf(req.messages)!)!;
  const s = scripts(position, gold);
  const out = { single: join(root, "single"), voting: join(root, "maj3"), agent: join(root, "agent") };
  const modes = [
    [s.single, out.single, {}],
    [s.voting, out.voting, { n: 3, temperature: 0.8 }],
    [s.agent, out.agent, { agent: true }],
  ] as const;
  for (const [script, dir, extra] of modes) {
    const server = await startFakeOpenAI({ script });
    try {
      await runEvaluation({
        db: ["superhero"],
        limit: 4,
        model: MODE_MODEL,
        baseUrl: server.url,
        out: dir,
        cacheDir: join(root, "cache"),
        goldCacheDir: join(root, "gold"),
        silent: true,
        clientOptions: { backoffBaseMs: 5, backoffMaxMs: 20, retryAfterCapMs: 50 },
        ...extra,
      });
    } finally {
      await server.close();
    }
  }
  return out;
}
