/**
 * Token lengths of training conversations: exact counts with a real Llama 3 tokenizer (`npm:llama3-tokenizer-js`, the Llama 3
 * BPE vocabulary shipped inside the package, so it works offline), and summary statistics.
 *
 * Chat overhead follows the Llama 3 chat template: `<|begin_of_text|>` once, then per message
 * `<|start_header_id|>role<|end_header_id|>\n\n` + content (trimmed, as the template does) + `<|eot_id|>`, i.e.
 * content + 5 tokens. The Llama 3.1 template's optional date header in the system turn is not counted.
 *
 * Loading the vocabulary takes about a second, so this lives with the datasets that need it, not with the prompts
 * every run loads; the quick estimate for any model is `estimateTokens` in `lib/prompt/token_estimate.ts`.
 *
 * @module
 */

import llama3Tokenizer from "llama3-tokenizer-js";
import type { ChatMessage } from "../types.ts";

/** Which tokenizer produced the numbers (recorded in dataset.json). */
export const TOKENIZER = Object.freeze({
  name: "llama3-tokenizer-js@1.2.0",
  description:
    "Llama 3 BPE tokenizer (exact token counts); chat template overhead 5 tokens per message + 1 BOS",
  exact: true,
});

/** Tokens the Llama 3 chat template adds around one message's content. */
const PER_MESSAGE = 5;
/** `<|begin_of_text|>`. */
const BOS = 1;

/**
 * Long chunks (a database's schema, repeated in every prompt of that database) are memoised: tokenizing is
 * ~1.3 ms per 1000 characters, which over a TRAIN-sized set would take minutes.
 */
const memo = new Map<string, number>();
const MEMO_MIN_CHARS = 512;
const MEMO_MAX_ENTRIES = 2000;

function encodeLength(chunk: string): number {
  if (chunk === "") return 0;
  if (chunk.length < MEMO_MIN_CHARS) return llama3Tokenizer.encode(chunk, { bos: false, eos: false }).length;
  const hit = memo.get(chunk);
  if (hit !== undefined) return hit;
  const n = llama3Tokenizer.encode(chunk, { bos: false, eos: false }).length;
  if (memo.size >= MEMO_MAX_ENTRIES) memo.clear();
  memo.set(chunk, n);
  return n;
}

/**
 * Number of Llama 3 tokens of a text (no BOS/EOS).
 *
 * The text is cut just before each `-- ` that follows a blank line (where the prompt's sections start). Llama 3's
 * pre-tokenizer always ends a pre-token after a run of newlines followed by `-`, and BPE never merges across
 * pre-tokens, so the sum over the pieces equals the count of the whole; the schema piece is then memoised.
 *
 * @param text any text
 * @returns token count
 */
export function countTokens(text: string): number {
  let total = 0;
  for (const piece of text.split(/(?<=\n\n)(?=-- )/)) total += encodeLength(piece);
  return total;
}

/**
 * Tokens of a conversation under the Llama 3 chat template (see the module doc).
 *
 * @param messages the conversation
 * @returns token count, BOS included
 */
export function chatTokens(messages: readonly ChatMessage[]): number {
  let total = BOS;
  for (const m of messages) total += messageTokens(m);
  return total;
}

/**
 * Tokens of one message under the Llama 3 chat template: its content plus the template's per-message overhead
 * (no BOS; chatTokens adds it once per conversation).
 *
 * @param message the message
 * @returns token count
 */
export function messageTokens(message: ChatMessage): number {
  return PER_MESSAGE + countTokens(message.content.trim());
}

/** Summary of a list of lengths. Null fields when the list is empty. */
export interface LengthStats {
  count: number;
  min: number | null;
  /** Rounded to two decimals. */
  mean: number | null;
  /** Median, nearest-rank. */
  p50: number | null;
  /** 95th percentile, nearest-rank. */
  p95: number | null;
  max: number | null;
}

/**
 * min / mean / p50 / p95 / max of a list (nearest-rank percentiles: always a value from the list).
 *
 * @param values lengths
 * @returns the statistics
 */
export function lengthStats(values: readonly number[]): LengthStats {
  if (values.length === 0) return { count: 0, min: null, mean: null, p50: null, p95: null, max: null };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return {
    count: sorted.length,
    min: sorted[0],
    mean: Math.round(mean * 100) / 100,
    p50: rank(50),
    p95: rank(95),
    max: sorted[sorted.length - 1],
  };
}
