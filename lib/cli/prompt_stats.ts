/**
 * `deno task prompt-stats --dataset F [--db-root D] [--db N]... [prompt options] [--json]`: value recall,
 * column recall and prompt tokens of a dataset's prompts, measured with no model (`promptStats` in
 * `lib/train/prompt_stats.ts`). Every miss is printed (with `--json`, listed in the object's `misses`).
 *
 * @module
 */
import { numberFlag, parseCommand, UsageError } from "../util/mod.ts";
import { DIALECT_FLAGS, dialectFlags } from "./dialect_flags.ts";
import { VALUE_FLAGS, VALUE_USAGE, valueFlags } from "./prompt_flags.ts";

const USAGE = `usage: deno task prompt-stats --dataset FILE|DIR [--db-root DIR] [--db ID]... [--limit N]
         [--dialect sqlite|postgresql|mysql] [--db-url URL (or TEXT2SQL_DB_URL)]
         [--no-evidence] [--sample-rows N] [--descriptions] ${VALUE_USAGE} [--json] [--quiet]
Prints value recall (gold literals present in the prompt), column recall (gold columns kept in its schema) and
the median prompt tokens (Llama 3 tokenizer), with every miss.`;

const FLAGS = {
  dataset: { type: "string" },
  "db-root": { type: "string" },
  db: { type: "string", multiple: true },
  limit: { type: "string" },
  ...DIALECT_FLAGS,
  "no-evidence": { type: "boolean" },
  "sample-rows": { type: "string" },
  descriptions: { type: "boolean" },
  ...VALUE_FLAGS,
  json: { type: "boolean" },
  quiet: { type: "boolean" },
} as const;

/**
 * `deno task prompt-stats`.
 *
 * @param argv the arguments after `prompt-stats`
 * @returns 0 once measured; bad flags throw a `UsageError` (exit 2)
 */
export async function promptStatsCommand(argv: string[]): Promise<number> {
  const values = parseCommand(argv, { usage: USAGE, options: FLAGS, negativeNumbers: true })?.values;
  if (!values) return 0;
  if (!values.dataset) throw new UsageError(`--dataset is required\n${USAGE}`);
  const { promptStats } = await import("../train/mod.ts");
  const stats = await promptStats({
    dataset: values.dataset,
    dbRoot: values["db-root"],
    db: values.db,
    limit: numberFlag("limit", values.limit, { integer: true, min: 0 }),
    ...dialectFlags(values),
    prompt: {
      evidence: !values["no-evidence"],
      sampleRows: numberFlag("sample-rows", values["sample-rows"], { integer: true, min: 0 }) ?? 0,
      descriptions: values.descriptions ?? false,
      ...valueFlags(values),
    },
    quiet: values.quiet ?? !Deno.stderr.isTerminal(),
  });
  if (values.json) {
    const { details: _details, ...rest } = stats;
    console.log(JSON.stringify(rest));
    return 0;
  }
  const pct = (x: number | null) => x === null ? "n/a" : `${(x * 100).toFixed(1)}%`;
  console.log(`prompt options: ${JSON.stringify(stats.options)}`);
  console.log(
    `${stats.questions} questions; value recall ${pct(stats.value_recall)} of ${stats.literals} literals ` +
      `(strings ${pct(stats.string_recall)}, numbers ${pct(stats.number_recall)}); column recall ` +
      `${
        pct(stats.column_recall)
      } of ${stats.columns} columns; median ${stats.median_tokens} tokens (${stats.tokenizer})`,
  );
  for (const m of stats.misses) {
    console.log(`miss: question ${m.question_id ?? `#${m.index}`} ${m.kind} ${JSON.stringify(m.text)}`);
  }
  return 0;
}
