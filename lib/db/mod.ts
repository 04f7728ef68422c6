/**
 * Databases other than SQLite files: server URLs and driver connections (`npm:pg`, `npm:mysql2`, embedded
 * `npm:@electric-sql/pglite`), and the loader that converts BIRD SQLite databases (or the official mini-dev
 * dumps) into one PostgreSQL or MySQL database, verified value by value, with a manifest and a read-only role.
 *
 * @module
 */
export * from "./url.ts";
export * from "./connect.ts";
export * from "./names.ts";
export * from "./type_map.ts";
export * from "./manifest.ts";
export * from "./roles.ts";
export * from "./target.ts";
export { listDbIds, readSource, type SourceDb, type SourceTable, sqlitePath } from "./sqlite_source.ts";
export {
  LoadError,
  type LoadOptions,
  type LoadReport,
  loadSqliteDatabases,
  type TableReport,
} from "./load.ts";
export { targetChecksum, VerifyError } from "./load_table.ts";
export {
  ensurePgliteData,
  openPgliteData,
  PGLITE_VERSION,
  type PgliteData,
  pgliteDataKey,
  type PgliteDataOptions,
} from "./pglite_data.ts";
export { DUMP_PATHS, type DumpLoadOptions, findDump, loadDump } from "./dump.ts";
