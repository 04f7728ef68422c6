/**
 * Talking to models: OpenAI-compatible providers, retries and rate limits, the completion cache, tool turns, SQL extraction.
 *
 * @module
 */
export * from "./model_turns.ts";
export * from "./models.ts";
export * from "./sql_extract.ts";
