/**
 * The context-length check: which prompts would overflow a model's context window, by the one quick token
 * estimate (`estimateTokens` in lib/prompt/token_estimate.ts), before any paid request.
 *
 * @module
 */

import { estimateTokens } from "../prompt/mod.ts";
import type { ChatMessage } from "../types.ts";

/** A prompt the context-length check flags. */
export interface ContextOverflow {
  /** Position of the prompt in the list given to `checkContext`. */
  index: number;
  /** Estimated prompt tokens (chars / 3.5 plus per-message overhead): an estimate, not a tokenizer count. */
  estimatedPromptTokens: number;
  /** Tokens reserved for the answer (`maxTokens`, 0 when unset). */
  reservedTokens: number;
  contextWindow: number;
}

/**
 * The prompts whose estimated tokens plus the tokens reserved for the answer exceed the window.
 *
 * @param prompts one message list per question
 * @param limits the model's context window and the tokens reserved for the answer
 */
export function contextOverflows(
  prompts: readonly ChatMessage[][],
  limits: { window: number; reserved: number },
): ContextOverflow[] {
  const { window, reserved } = limits;
  return prompts
    .map((messages, index) => ({ index, estimatedPromptTokens: estimateTokens(messages) }))
    .filter((p) => p.estimatedPromptTokens + reserved > window)
    .map((p) => ({ ...p, reservedTokens: reserved, contextWindow: window }));
}
