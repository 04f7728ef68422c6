/**
 * The prompt stage: each question's messages, built once per run (the context check and the requests use the
 * same ones), and the warning for prompts that may overflow the model's context window.
 *
 * @module
 */
import { dbPath } from "../data/mod.ts";
import type { ModelClient } from "../model/mod.ts";
import { buildAgentMessages, buildMessages, type PromptOptions, renderSchema } from "../prompt/mod.ts";
import type { ChatMessage, Example, RunMode } from "../types.ts";

/** What the prompt stage reads: where the databases are, the prompt options and the mode. */
export interface PromptContext {
  dbRoot: string;
  promptOptions: PromptOptions;
  mode: RunMode;
}

/** The messages of one question in the run's mode. */
export function messagesFor(ex: Example, ctx: PromptContext): ChatMessage[] {
  const schema = renderSchema(dbPath(ctx.dbRoot, ex.db_id), {
    sampleRows: ctx.promptOptions.sampleRows,
    descriptions: ctx.promptOptions.descriptions,
  });
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
