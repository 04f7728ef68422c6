/**
 * What of a database a question touches, found without a model: the value index (every text column's distinct
 * values, cached by the database's hash), fuzzy value lookup by the question's words, schema linking, the
 * per-question schemas the prompt renderer writes from them, and the gold SQL's literals and columns that
 * measure it.
 *
 * @module
 */
export * from "./normalize.ts";
export * from "./value_index.ts";
export * from "./value_search.ts";
export * from "./linking.ts";
export * from "./question_schema.ts";
export * from "./gold_usage.ts";
