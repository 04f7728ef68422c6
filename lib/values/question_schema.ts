/**
 * The schema each question is shown when its prompt carries matched values or is linked: its database's
 * {@linkcode SchemaModel} (read once), its value index (built or loaded once), the question's matches and the
 * linker's columns, written by the one prompt renderer (`renderSchemaModel`). The run and the dataset builders
 * call this; the prompt room itself stays pure.
 *
 * @module
 */

import { join } from "node:path";
import {
  columnKey,
  type PromptOptions,
  renderSchemaModel,
  resolvePromptOptions,
  type SchemaHints,
  type SchemaModel,
  schemaModelFor,
  type SchemaSource,
} from "../prompt/mod.ts";
import type { Example } from "../types.ts";
import { linkSchema } from "./linking.ts";
import { ensureValueIndex, type ValueSource } from "./value_index.ts";
import { ValueMatcher } from "./value_search.ts";

/** What a question's schema was made from, for measuring it. */
export interface QuestionSchema {
  /** The schema text the prompt shows. */
  text: string;
  /** The database's schema as data. */
  model: SchemaModel;
  /** The hints applied: matched values shown, columns kept. */
  hints: SchemaHints;
}

/** Options of {@linkcode QuestionSchemas}. */
export interface QuestionSchemaOptions {
  dbRoot: string;
  prompt: Partial<PromptOptions>;
  /** Where value indexes are cached (default `<cacheRoot()>/values`). */
  cacheDir?: string;
  /** Index progress as lines; none at all with `silent`. */
  quiet?: boolean;
  silent?: boolean;
}

/** Each question's schema, its database's model and matcher made once. */
export class QuestionSchemas {
  readonly #source: SchemaSource & ValueSource;
  readonly #o: QuestionSchemaOptions;
  readonly #prompt: PromptOptions;
  readonly #matchers = new Map<string, Promise<ValueMatcher>>();

  /**
   * @param source the engine that runs the SQL (SQLite is read from its files)
   * @param options the database root, prompt options and index cache
   */
  constructor(source: SchemaSource & ValueSource, options: QuestionSchemaOptions) {
    this.#source = source;
    this.#o = options;
    this.#prompt = resolvePromptOptions(options.prompt);
  }

  /** The value matcher of a database (its index built or loaded on first use). */
  matcher(dbId: string): Promise<ValueMatcher> {
    let m = this.#matchers.get(dbId);
    if (!m) {
      const { dbRoot, cacheDir, quiet, silent } = this.#o;
      m = ensureValueIndex(this.#source, { dbRoot, dbId, cacheDir, quiet, silent }).then((i) =>
        new ValueMatcher(i)
      );
      this.#matchers.set(dbId, m);
      m.catch(() => this.#matchers.delete(dbId));
    }
    return m;
  }

  /**
   * One question's schema.
   *
   * @param example the question
   * @returns the text and what it was made from
   * @throws {SchemaError} or {ValueIndexError} when the database cannot be read
   */
  async of(example: Pick<Example, "db_id" | "question" | "evidence">): Promise<QuestionSchema> {
    const p = this.#prompt;
    const dbId = example.db_id;
    const model = await schemaModelFor(this.#source, {
      dbRoot: this.#o.dbRoot,
      dbId,
      sampleRows: p.sampleRows,
      descriptions: p.descriptions,
      examples: p.schemaFormat === "mschema",
    });
    const hints: SchemaHints = {};
    const k = p.values ?? 0;
    if (k > 0 || p.link) {
      const texts = p.evidence ? [example.question, example.evidence ?? ""] : [example.question];
      const matches = (await this.matcher(dbId)).match(texts, { perColumn: Math.max(k, 3) });
      const values = new Map<string, string[]>();
      for (const m of matches) {
        const key = columnKey(m.table, m.column);
        const list = values.get(key) ?? [];
        if (list.length < k) list.push(m.value);
        values.set(key, list);
      }
      if (k > 0) hints.values = new Map([...values].filter(([, v]) => v.length > 0));
      if (p.link) {
        hints.keep = linkSchema(model, {
          question: example.question,
          evidence: p.evidence ? example.evidence ?? "" : "",
          matched: values.keys(),
          descriptionDir: join(this.#o.dbRoot, dbId, "database_description"),
        });
      }
    }
    return { text: renderSchemaModel(model, { format: p.schemaFormat, hints }), model, hints };
  }
}
