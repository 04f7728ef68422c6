/**
 * What the model is shown: the schema rendered from a database, the evaluation/SFT/CoT/agent prompts, token counts.
 *
 * @module
 */
export * from "./agent_prompt.ts";
export * from "./prompts.ts";
export * from "./schema.ts";
export * from "./tokens.ts";
