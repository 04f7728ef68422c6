/**
 * The prompt stage: each question's messages, built once per run (the context check and the requests use the
 * same ones), and the warning for prompts that may overflow the model's context window.
 *
 * @module
 */
import type { SqlEngine } from "../exec/mod.ts";
import type { ModelClient } from "../model/mod.ts";
import {
  buildAgentMessages,
  buildMessages,
  perQuestionSchema,
  type PromptOptions,
  schemaFor,
} from "../prompt/mod.ts";
import { QuestionSchemas } from "../values/mod.ts";
import type { ChatMessage, Example, RunMode } from "../types.ts";

/** What the prompt stage reads: each database's schema text, the prompt options and the mode. */
export interface PromptContext {
  schemas: Map<string, string>;
  /** Each question's own schema by dataset index, when the prompt carries matched values or is linked. */
  questionSchemas?: Map<number, string>;
  promptOptions: PromptOptions;
  mode: RunMode;
}

/**
 * Each database's schema as the prompt shows it, read once per run from the engine that will run the SQL: for
 * SQLite the file's own CREATE statements (the original tool's prompt, byte for byte).
 */
export async function prepareSchemas(
  dbIds: Iterable<string>,
  engine: SqlEngine,
  ctx: { dbRoot: string; promptOptions: PromptOptions },
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const dbId of new Set(dbIds)) {
    const { sampleRows, descriptions, schemaFormat } = ctx.promptOptions;
    out.set(
      dbId,
      await schemaFor(engine, { dbRoot: ctx.dbRoot, dbId, sampleRows, descriptions, schemaFormat }),
    );
  }
  return out;
}

/**
 * Each question's own schema (its matched values, its linked tables and columns), when the prompt options ask
 * for them (`--values`, `--link`); undefined otherwise. Each database's value index is built (or loaded from
 * the cache) once.
 */
export async function prepareQuestionSchemas(
  todo: readonly Example[],
  engine: SqlEngine,
  ctx: { dbRoot: string; promptOptions: PromptOptions; quiet?: boolean; silent?: boolean },
): Promise<Map<number, string> | undefined> {
  if (!perQuestionSchema(ctx.promptOptions)) return undefined;
  const schemas = new QuestionSchemas(engine, {
    dbRoot: ctx.dbRoot,
    prompt: ctx.promptOptions,
    quiet: ctx.quiet,
    silent: ctx.silent,
  });
  const out = new Map<number, string>();
  for (const ex of todo) out.set(ex.index, (await schemas.of(ex)).text);
  return out;
}

/** The messages of one question in the run's mode. */
export function messagesFor(ex: Example, ctx: PromptContext): ChatMessage[] {
  const schema = ctx.questionSchemas?.get(ex.index) ?? ctx.schemas.get(ex.db_id);
  if (schema === undefined) throw new Error(`no schema prepared for ${ex.db_id}`);
  // The agent's user turn is the same renderer's; only its system prompt adds the tool.
  return ctx.mode.name === "agent"
    ? buildAgentMessages(ex, schema, ctx.promptOptions)
    : buildMessages(ex, schema, ctx.promptOptions);
}

/** The messages of every question to ask, by dataset index, with the context-window warning printed. */
export function buildPrompts(
  todo: Example[],
  client: ModelClient,
  ctx: PromptContext,
): Map<number, ChatMessage[]> {
  const prompts = new Map(todo.map((ex) => [ex.index, messagesFor(ex, ctx)]));
  warnTooLong(client, todo, prompts);
  return prompts;
}

/**
 * Flag, before any paid request, the questions whose prompt (estimated) would overflow the model's context
 * window. They are still sent: the estimate is a heuristic, and a server that refuses a prompt answers 400,
 * which is recorded as that question's `generation_error` without retries.
 */
function warnTooLong(client: ModelClient, todo: Example[], prompts: Map<number, ChatMessage[]>): void {
  const over = client.checkContext(todo.map((ex) => prompts.get(ex.index)!));
  if (!over.length) return;
  const list = over.slice(0, 10).map((o) => `#${todo[o.index].index} (~${o.estimatedPromptTokens} tokens)`);
  console.error(
    `warning: ${over.length} prompt(s) may exceed ${client.model}'s context window of ${
      over[0].contextWindow
    } tokens ` +
      `(estimate, ${over[0].reservedTokens} reserved for the answer): ${list.join(", ")}${
        over.length > 10 ? ", …" : ""
      }`,
  );
}
