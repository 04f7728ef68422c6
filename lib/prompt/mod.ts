/**
 * What the model is shown: the schema rendered from a database (SQLite's file, a server's catalog as its dialect's DDL, or M-Schema; per question with matched values and linking), the evaluation/SFT/CoT/agent prompts, the quick token estimate.
 *
 * @module
 */
export * from "./agent_prompt.ts";
export * from "./catalog_schema.ts";
export * from "./prompts.ts";
export * from "./create_split.ts";
export * from "./schema.ts";
export * from "./schema_model.ts";
export * from "./schema_render.ts";
export * from "./schema_source.ts";
export * from "./token_estimate.ts";
