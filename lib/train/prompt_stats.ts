/**
 * `deno task prompt-stats`: how good a prompt option set is for values and columns, measured with no model.
 * For each question of a dataset, the evaluation prompt is built exactly as a run builds it (the one renderer,
 * the same per-question schemas), and compared with what its gold SQL needs (`goldLiterals`, `goldColumns`):
 *
 * - value recall: the share of gold literals present in the prompt (case-sensitive, whole tokens);
 * - column recall: the share of gold columns the prompt's schema keeps (1 without linking);
 * - tokens: the prompt's Llama 3 tokens under its chat template (`chatTokens`).
 *
 * Every miss is listed, never hidden.
 *
 * @module
 */

import { loadDataset, selectExamples } from "../data/mod.ts";
import { openEngine } from "../exec/mod.ts";
import {
  buildMessages,
  perQuestionSchema,
  type PromptOptions,
  resolvePromptOptions,
  schemaFor,
  schemaModelFor,
} from "../prompt/mod.ts";
import type { Dialect } from "../types.ts";
import { goldColumns, goldLiterals, literalInPrompt, QuestionSchemas } from "../values/mod.ts";
import { chatTokens, TOKENIZER } from "./llama_tokens.ts";

/** Options of {@linkcode promptStats}. */
export interface PromptStatsOptions {
  dataset: string;
  dbRoot?: string;
  db?: string[];
  limit?: number;
  dialect?: Dialect;
  dbUrl?: string;
  prompt?: Partial<PromptOptions>;
  /** Where value indexes are cached (default `<cacheRoot()>/values`). */
  cacheDir?: string;
  quiet?: boolean;
}

/** One question's figures. */
export interface QuestionStats {
  index: number;
  question_id: number | null;
  db_id: string;
  tokens: number;
  literals: { kind: "string" | "number"; text: string; found: boolean }[];
  columns: { column: string; kept: boolean }[];
}

/** A dataset's figures for one prompt option set. */
export interface PromptStats {
  /** Share of all gold literals present in their prompt (null when the gold needs none). */
  value_recall: number | null;
  /** The same over string literals only, and over number literals only. */
  string_recall: number | null;
  number_recall: number | null;
  /** Share of all gold columns kept in their prompt's schema (null when none were found). */
  column_recall: number | null;
  /** Median Llama 3 tokens of a prompt (system and user turns, chat template included). */
  median_tokens: number;
  questions: number;
  literals: number;
  columns: number;
  options: PromptOptions;
  tokenizer: string;
  /** Every literal not found and every column dropped. */
  misses: { question_id: number | null; index: number; kind: "string" | "number" | "column"; text: string }[];
  details: QuestionStats[];
}

/**
 * The figures of a dataset's prompts for one option set.
 *
 * @param options the dataset, selection, dialect and prompt options
 * @returns the figures
 * @throws for a dataset or database that cannot be read (the message names it)
 */
export async function promptStats(options: PromptStatsOptions): Promise<PromptStats> {
  const dialect = options.dialect ?? "sqlite";
  const prompt = resolvePromptOptions({ ...options.prompt, dialect });
  const dataset = await loadDataset(options.dataset, { dbRoot: options.dbRoot });
  let examples = selectExamples(dataset, { db: options.db });
  if (options.limit !== undefined && options.limit > 0) examples = examples.slice(0, options.limit);
  const dbIds = [...new Set(examples.map((e) => e.db_id))];
  const engine = await openEngine({
    dialect,
    dbUrl: options.dbUrl,
    dbRoot: dataset.dbRoot,
    dbIds,
    workers: 1,
  });
  try {
    const perQuestion = perQuestionSchema(prompt);
    const schemas = new QuestionSchemas(engine, {
      dbRoot: dataset.dbRoot,
      prompt,
      cacheDir: options.cacheDir,
      quiet: options.quiet,
    });
    const details: QuestionStats[] = [];
    for (const ex of examples) {
      const model = await schemaModelFor(engine, { dbRoot: dataset.dbRoot, dbId: ex.db_id });
      let schema: string;
      let keep: ReadonlySet<string> | undefined;
      if (perQuestion) {
        const q = await schemas.of(ex);
        schema = q.text;
        keep = q.hints.keep;
      } else {
        schema = await schemaFor(engine, {
          dbRoot: dataset.dbRoot,
          dbId: ex.db_id,
          sampleRows: prompt.sampleRows,
          descriptions: prompt.descriptions,
          schemaFormat: prompt.schemaFormat,
        });
      }
      const messages = buildMessages(ex, schema, prompt);
      const text = messages.map((m) => m.content).join("\n");
      const literals = goldLiterals(ex.sql, { dialect, model }).map((l) => ({
        ...l,
        found: literalInPrompt(l, text),
      }));
      const columns = [...goldColumns(ex.sql, model, dialect)].map((c) => ({
        column: c,
        kept: keep === undefined || keep.has(c),
      }));
      details.push({
        index: ex.index,
        question_id: ex.question_id,
        db_id: ex.db_id,
        tokens: chatTokens(messages),
        literals,
        columns,
      });
    }
    return summarise(details, prompt);
  } finally {
    await engine.close();
  }
}

function share(found: number, total: number): number | null {
  return total === 0 ? null : Math.round((found / total) * 10000) / 10000;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function summarise(details: QuestionStats[], options: PromptOptions): PromptStats {
  const lits = details.flatMap((d) => d.literals);
  const strings = lits.filter((l) => l.kind === "string");
  const numbers = lits.filter((l) => l.kind === "number");
  const cols = details.flatMap((d) => d.columns);
  const misses: PromptStats["misses"] = [];
  for (const d of details) {
    for (const l of d.literals) {
      if (!l.found) misses.push({ question_id: d.question_id, index: d.index, kind: l.kind, text: l.text });
    }
    for (const c of d.columns) {
      if (!c.kept) {
        misses.push({ question_id: d.question_id, index: d.index, kind: "column", text: c.column });
      }
    }
  }
  return {
    value_recall: share(lits.filter((l) => l.found).length, lits.length),
    string_recall: share(strings.filter((l) => l.found).length, strings.length),
    number_recall: share(numbers.filter((l) => l.found).length, numbers.length),
    column_recall: share(cols.filter((c) => c.kept).length, cols.length),
    median_tokens: median(details.map((d) => d.tokens)),
    questions: details.length,
    literals: lits.length,
    columns: cols.length,
    options,
    tokenizer: TOKENIZER.name,
    misses,
    details,
  };
}
