/**
 * One dataset row: the evaluation prompt with the gold answer (`messages`) or without it plus what the GRPO
 * reward needs (`--format grpo`), its JSONL line, and its token lengths and their summary.
 *
 * @module
 */

import { relative, resolve } from "node:path";
import { dbPath } from "../data/mod.ts";
import { buildMessages, type PromptOptions } from "../prompt/mod.ts";
import type { ChatMessage, Example } from "../types.ts";
import { chatTokens, type LengthStats, lengthStats, messageTokens, TOKENIZER } from "./llama_tokens.ts";
import { splitOf, type SplitOptions } from "./sft_split.ts";

/** Conversations longer than this many tokens are counted in dataset.json: the trainer's default max length. */
export const MAX_TRAIN_TOKENS = 4096;

/** One kept conversation with what the statistics need. */
export interface Conversation {
  example: Example;
  split: "train" | "test";
  messages: ChatMessage[];
  /** Tokens of system + user under the Llama 3 chat template. */
  promptTokens: number;
  /** Tokens of the assistant turn (content + end of turn). */
  answerTokens: number;
  /** Tokens of the whole conversation. */
  totalTokens: number;
  /** Fields written after `messages` on the JSONL line (`--format grpo`: db_id, gold_sql, db_path). */
  fields?: Record<string, unknown>;
}

/**
 * One JSONL line: `{"messages":[{"role":…,"content":…},…]}` with keys in that fixed order.
 *
 * @param messages the conversation
 * @returns the line, without newline
 */
export function jsonlLine(messages: readonly ChatMessage[], fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ messages: messages.map((m) => ({ role: m.role, content: m.content })), ...fields });
}

/**
 * One GRPO prompt (`--format grpo`): the evaluation prompt without an answer, plus what the execution reward
 * needs: `db_id`, the gold SQL and the database's path relative to the database root (the trainer mounts the
 * root read-only and resolves the path inside it, so the file never names a host path).
 *
 * @param example the question
 * @param schema its database's rendered schema
 * @param options prompt and split options, and the database root
 * @returns the conversation, with its fields
 */
export function grpoPromptOf(
  example: Example,
  schema: string,
  options: { prompt: PromptOptions; split: SplitOptions; dbRoot: string },
): Conversation {
  const messages = buildMessages(example, schema, options.prompt);
  const dbFile = relative(resolve(options.dbRoot), resolve(dbPath(options.dbRoot, example.db_id)));
  return {
    example,
    split: splitOf(example, options.split),
    messages,
    ...conversationTokens(messages),
    fields: { db_id: example.db_id, gold_sql: example.sql.trim(), db_path: dbFile.split("\\").join("/") },
  };
}

/**
 * The token lengths of a conversation (prompt = system + user, answer = assistant, total = all).
 *
 * @param messages `[system, user, assistant]`
 * @returns token counts
 */
export function conversationTokens(
  messages: readonly ChatMessage[],
): { promptTokens: number; answerTokens: number; totalTokens: number } {
  // Prompt and answer counted apart and summed: tokenising the whole conversation again would redo the prompt.
  const promptTokens = chatTokens(messages.filter((m) => m.role !== "assistant"));
  let answerTokens = 0;
  for (const m of messages) if (m.role === "assistant") answerTokens += messageTokens(m);
  return { promptTokens, answerTokens, totalTokens: promptTokens + answerTokens };
}

/**
 * One kept conversation: the evaluation prompt (`[system, user]`) for the question, then `answer` as the
 * assistant turn, with its split side and token lengths.
 *
 * @param example the question
 * @param schema its database's rendered schema
 * @param prompt prompt options
 * @param split split options
 * @param answer the assistant turn's text
 * @returns the conversation
 */
export function conversationOf(
  example: Example,
  schema: string,
  prompt: PromptOptions,
  split: SplitOptions,
  answer: string,
): Conversation {
  const messages: ChatMessage[] = [
    ...buildMessages(example, schema, prompt),
    { role: "assistant", content: answer },
  ];
  return { example, split: splitOf(example, split), messages, ...conversationTokens(messages) };
}

/** Token statistics as written in dataset.json. */
export interface TokenSummary {
  tokenizer: { name: string; description: string; exact: boolean };
  prompt: LengthStats;
  answer: LengthStats;
  total: LengthStats;
  train_total: LengthStats;
  test_total: LengthStats;
  /** Conversations longer than {@link MAX_TRAIN_TOKENS} tokens (truncated by the trainer). */
  over_max_length: { max_length: number; count: number };
}

/**
 * Token statistics over kept conversations.
 *
 * @param conversations kept conversations
 * @returns the summary
 */
export function tokenSummary(conversations: readonly Conversation[]): TokenSummary {
  const total = conversations.map((c) => c.totalTokens);
  return {
    tokenizer: { ...TOKENIZER },
    prompt: lengthStats(conversations.map((c) => c.promptTokens)),
    answer: lengthStats(conversations.map((c) => c.answerTokens)),
    total: lengthStats(total),
    train_total: lengthStats(conversations.filter((c) => c.split === "train").map((c) => c.totalTokens)),
    test_total: lengthStats(conversations.filter((c) => c.split === "test").map((c) => c.totalTokens)),
    over_max_length: {
      max_length: MAX_TRAIN_TOKENS,
      count: total.filter((n) => n > MAX_TRAIN_TOKENS).length,
    },
  };
}
