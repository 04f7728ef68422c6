/**
 * The one quick token estimate (characters / 3.5, plus a per-message overhead) for checks that must not depend
 * on a model's tokenizer: the evaluation's context-window warning, the trainer's dataset length check.
 *
 * @module
 */
import type { ChatMessage } from "../types.ts";

/** Characters per token of the quick estimate: a rough figure for Llama 3 on English, SQL and schemas. */
export const ESTIMATE_CHARS_PER_TOKEN = 3.5;

/** Tokens the quick estimate adds per message for a chat template's framing (by default). */
export const ESTIMATE_MESSAGE_OVERHEAD = 4;

/**
 * Estimated tokens of a conversation, with no tokenizer: characters / {@linkcode ESTIMATE_CHARS_PER_TOKEN}
 * (rounded up) plus `perMessage` tokens per message. An estimate only, for any model; `chatTokens` in
 * `lib/train/llama_tokens.ts` is the exact Llama 3 count.
 *
 * @param messages the conversation (only `content` is read)
 * @param options `perMessage`: the template overhead per message (default {@linkcode ESTIMATE_MESSAGE_OVERHEAD})
 * @returns the estimate
 */
export function estimateTokens(
  messages: readonly Pick<ChatMessage, "content">[],
  options: { perMessage?: number } = {},
): number {
  const chars = messages.reduce((sum, m) => sum + m.content.length, 0);
  const perMessage = options.perMessage ?? ESTIMATE_MESSAGE_OVERHEAD;
  return Math.ceil(chars / ESTIMATE_CHARS_PER_TOKEN) + perMessage * messages.length;
}
