/**
 * What the model is shown: the schema rendered from a database, the evaluation/SFT/CoT/agent prompts, the quick token estimate.
 *
 * @module
 */
export * from "./agent_prompt.ts";
export * from "./prompts.ts";
export * from "./schema.ts";
export * from "./token_estimate.ts";
