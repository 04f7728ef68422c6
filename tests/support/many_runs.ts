/**
 * Many real run folders, for the tests that look at a report the way a person comparing models does (1, 10, 25
 * runs): each made by `runEvaluation` against the scripted OpenAI-compatible server over the first
 * {@linkcode MANY_QUESTIONS} `superhero` questions of the bundled sample, plus the bundled official baseline
 * predictions scored over the same questions.
 *
 * Each scripted model answers the gold SQL on a share of the questions picked by a hash of (model, question), and
 * on the others one of the wrong answers models give (a wrong value, a column that does not exist, a syntax error,
 * an extra column); the share rises along the list so the runs spread over the leaderboard. Every number a report
 * shows about them is the evaluator's verdict on those answers, with the server's token counts. One run votes over
 * three samples (its own folder and mode). Model names are long, as real ones are: hub ids with an organisation,
 * fine-tuned adapters named by their training run.
 *
 * @module
 */
import { join } from "node:path";
import { runEvaluation, SAMPLE_DIR, SAMPLE_PREDICTIONS } from "../../lib/run/evaluate.ts";
import { answersFromDataset, fnv1a, questionOf, type Script, startFakeOpenAI } from "./fake_openai_server.ts";

/** Questions each run answers: the first of the sample's `superhero` questions (every difficulty occurs). */
export const MANY_QUESTIONS = 24;

/** The models, in the order the runs are made (the baseline predictions come first, as run 0). */
export const MANY_MODELS: readonly string[] = [
  "meta-llama/Llama-3.2-1B-Instruct",
  "meta-llama/Llama-3.2-3B-Instruct",
  "meta-llama/Llama-3.1-8B-Instruct",
  "text2sql-sft/llama31-8b-qlora-r256-epoch3-checkpoint-1200",
  "text2sql-cot/llama31-8b-qlora-r256-cot-verified-epoch2",
  "meta-llama/Llama-3.3-70B-Instruct-Turbo",
  "text2sql-sft/llama33-70b-qlora-r256-epoch1-checkpoint-400",
  "meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo",
  "meta-llama/Llama-4-Scout-17B-16E-Instruct",
  "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
  "Qwen/Qwen2.5-Coder-7B-Instruct",
  "Qwen/Qwen2.5-Coder-32B-Instruct",
  "deepseek-ai/DeepSeek-V3",
  "mistralai/Mixtral-8x22B-Instruct-v0.1",
  "google/gemma-2-27b-it",
  "microsoft/Phi-3-medium-128k-instruct",
  "gpt-4o-mini-2024-07-18",
  "gpt-4o-2024-08-06",
  "o3-mini-2025-01-31",
  "claude-3-5-sonnet-20241022",
  "ibm-granite/granite-3.1-8b-instruct",
  "NousResearch/Hermes-3-Llama-3.1-70B",
  "text2sql-sft/qwen25-coder-7b-lora-r64-spider-bird-mix",
  "defog/sqlcoder-7b-2",
  "snowflake/arctic-text2sql-r1-7b",
];

/** The run that votes (K = 3) rather than answering once. */
const VOTING_MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo";

/** Wrong answers, one picked per wrong question by the hash. */
const WRONG = [
  "SELECT -1",
  "SELECT nope FROM superhero",
  "SELEC superhero_name FROM superhero",
  "SELECT id, superhero_name FROM superhero LIMIT 3",
];

/** The server's answers: gold on a share of questions that grows with the model's place in the list. */
function script(answers: Map<string, string>): Script {
  return (req) => {
    const question = questionOf(req.messages) ?? "";
    const gold = answers.get(question) ?? "SELECT NULL";
    const place = Math.max(0, MANY_MODELS.indexOf(req.model));
    const share = 25 + Math.round(70 * place / MANY_MODELS.length);
    const answer = (salt: number) => {
      const h = fnv1a(`${req.model}\u0000${salt}\u0000${question}`);
      return h % 100 < share ? gold : WRONG[h % WRONG.length];
    };
    const n = Math.max(1, req.n);
    const content = Array.from({ length: n }, (_, i) => "```sql\n" + answer(i) + "\n```");
    return { content: n === 1 ? content[0] : content };
  };
}

/**
 * Makes `count` real run folders under `root` (at most `MANY_MODELS.length + 1`): the baseline predictions first,
 * then the models in order.
 *
 * @param root An empty temporary folder.
 * @param count How many runs.
 * @returns The run folders, in order.
 */
export async function makeManyRuns(root: string, count: number): Promise<string[]> {
  const dataset = join(SAMPLE_DIR, "dev.json");
  const common = {
    db: ["superhero"],
    limit: MANY_QUESTIONS,
    workers: 2,
    goldCacheDir: join(root, "gold"),
    silent: true,
  };
  const dirs = [join(root, "gpt-3.5-turbo-evidence")];
  await runEvaluation({ ...common, dataset, predictions: SAMPLE_PREDICTIONS, out: dirs[0] });
  const server = await startFakeOpenAI({
    models: MANY_MODELS.map((id) => ({ id, max_model_len: 8192 })),
    script: script(await answersFromDataset(dataset)),
  });
  try {
    for (const model of MANY_MODELS.slice(0, Math.max(0, count - 1))) {
      const voting = model === VOTING_MODEL;
      const out = join(root, model.replace(/[^A-Za-z0-9._-]+/g, "-") + (voting ? "-maj3" : ""));
      await runEvaluation({
        ...common,
        dataset,
        model,
        baseUrl: server.url,
        out,
        cacheDir: join(root, "cache"),
        clientOptions: { backoffBaseMs: 5, backoffMaxMs: 20, retryAfterCapMs: 50 },
        ...(voting ? { n: 3, temperature: 0.8 } : {}),
      });
      dirs.push(out);
    }
  } finally {
    await server.close();
  }
  return dirs;
}
