/**
 * One plain completion on the wire: the request body of a prompt at the client's sampling, and the texts and
 * usage read back from the answer.
 *
 * @module
 */

import { MalformedResponse } from "./errors.ts";
import type { ChatMessage, Usage } from "../types.ts";

/** The answer to one prompt. */
export interface Completion {
  /** The n sampled texts, in choice order (the first is scored). */
  texts: string[];
  /** Tokens reported by the API for the successful request (the original request's when cached). */
  usage: Usage;
  /** True when served from the cache (or from an identical request in flight): no request was made. */
  cached: boolean;
  /** API calls made for this completion (0 when cached). */
  attempts: number;
  /** Milliseconds from getting a concurrency slot to the answer, retries included (cache lookup when cached). */
  ms: number;
}

/**
 * The chat-completions body of a prompt: the model, role-and-content messages, temperature and `n`, and the
 * optional parameters only when set.
 *
 * @param messages the prompt
 * @param settings the model and the client's sampling parameters
 */
export function completionBody(
  messages: ChatMessage[],
  settings: { model: string; sampling: Readonly<Record<string, number | null>> },
): Record<string, unknown> {
  const { sampling } = settings;
  const body: Record<string, unknown> = {
    model: settings.model,
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    temperature: sampling.temperature,
    n: sampling.n,
  };
  if (sampling.max_tokens !== null) body.max_tokens = sampling.max_tokens;
  if (sampling.top_p !== null) body.top_p = sampling.top_p;
  if (sampling.seed !== null) body.seed = sampling.seed;
  return body;
}

/** The text of one choice; a null content is a real (empty) answer, e.g. a refusal: score it, do not retry it. */
function choiceText(choice: { message?: unknown } | null | undefined): string {
  const message = choice?.message;
  if (!message || typeof message !== "object") throw new MalformedResponse("a choice has no message");
  const content = (message as { content?: unknown }).content;
  if (content === null || content === undefined) return "";
  if (typeof content !== "string") throw new MalformedResponse("message content is not a string");
  return content;
}

/**
 * The texts (in choice order) and usage of a chat-completion body.
 *
 * @throws {MalformedResponse} when the body is not an object, has no choices, or a choice has no text message
 */
export function parseCompletionBody(body: unknown): { texts: string[]; usage: Usage } {
  if (body === null || typeof body !== "object") {
    const shown = typeof body === "string" ? `${JSON.stringify(body.slice(0, 60))}` : String(body);
    throw new MalformedResponse(`expected a JSON object, got ${shown}`);
  }
  const choices = (body as { choices?: unknown }).choices;
  if (!Array.isArray(choices) || choices.length === 0) {
    throw new MalformedResponse("no choices in the response");
  }
  const sorted = [...choices].sort((a, b) => (Number(a?.index) || 0) - (Number(b?.index) || 0));
  const usage = (body as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } }).usage;
  return {
    texts: sorted.map(choiceText),
    usage: { prompt: Number(usage?.prompt_tokens) || 0, completion: Number(usage?.completion_tokens) || 0 },
  };
}
