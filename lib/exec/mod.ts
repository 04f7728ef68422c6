/**
 * Running SQL as the official evaluator does: the sandboxed worker pool, statement rules, result digests, comparison, the gold cache.
 *
 * @module
 */
export * from "./compare.ts";
export * from "./engine.ts";
export * from "./engines.ts";
export * from "./gold_cache.ts";
export * from "./pg_engine.ts";
export * from "./pool_types.ts";
export * from "./sqlite_pool.ts";
export * from "./worker_pool.ts";
export * from "./worker_process.ts";
export { createMysqlEngine, MYSQL_SEMANTICS, MysqlEngine, type MysqlEngineOptions } from "./mysql_engine.ts";
export { setDigest, setDigestOf } from "./result_digest.ts";
