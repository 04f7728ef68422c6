/**
 * The worker's SQLite connections: opened read-only with Python's `sqlite3` defaults (double-quoted string
 * literals, no foreign keys, a 5 s busy wait), SQLite's math functions, a heap bound, temporary data in memory,
 * and an authorizer that allows only reads, SELECT, functions (not `load_extension`), recursive CTEs and
 * read-only PRAGMAs.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { registerMathFunctions } from "./sqlite_math.ts";

/** SQLite's authorizer codes (sqlite3.h); Deno's bundled node:sqlite typings lag behind its runtime. */
const SQLITE = { OK: 0, DENY: 1, PRAGMA: 19, READ: 20, SELECT: 21, FUNCTION: 31, RECURSIVE: 33 } as const;

/** The parts of node:sqlite's runtime API that its typings in Deno 2.9 do not declare yet. */
export interface StatementExtras {
  setReturnArrays(enabled: boolean): void;
  columns(): { name: string }[];
}
interface DatabaseExtras {
  setAuthorizer(fn: (action: number, a1: string | null, a2: string | null) => number): void;
}

/** PRAGMAs that only report when given no value (`PRAGMA page_count`, `PRAGMA cache_size`). */
const READ_PRAGMAS = new Set([
  "analysis_limit",
  "application_id",
  "auto_vacuum",
  "automatic_index",
  "busy_timeout",
  "cache_size",
  "cache_spill",
  "case_sensitive_like",
  "cell_size_check",
  "checkpoint_fullfsync",
  "collation_list",
  "compile_options",
  "data_version",
  "database_list",
  "defer_foreign_keys",
  "encoding",
  "foreign_key_check",
  "foreign_keys",
  "freelist_count",
  "fullfsync",
  "function_list",
  "hard_heap_limit",
  "ignore_check_constraints",
  "integrity_check",
  "journal_mode",
  "journal_size_limit",
  "legacy_alter_table",
  "locking_mode",
  "max_page_count",
  "mmap_size",
  "module_list",
  "page_count",
  "page_size",
  "pragma_list",
  "query_only",
  "quick_check",
  "read_uncommitted",
  "recursive_triggers",
  "reverse_unordered_selects",
  "schema_version",
  "secure_delete",
  "soft_heap_limit",
  "synchronous",
  "table_list",
  "temp_store",
  "threads",
  "trusted_schema",
  "user_version",
  "wal_autocheckpoint",
]);

/**
 * PRAGMAs whose argument names a table or index to describe or check (`PRAGMA table_info(superhero)`,
 * `PRAGMA integrity_check(superhero)`), not a setting.
 */
const DESCRIBE_PRAGMAS = new Set([
  "table_info",
  "table_xinfo",
  "table_list",
  "index_list",
  "index_info",
  "index_xinfo",
  "foreign_key_list",
  "foreign_key_check",
  "integrity_check",
  "quick_check",
]);

/** The first keyword of a statement that can only read (after comments: `splitFirstStatement` strips leading ones). */
export const READ_STATEMENT = /^(SELECT|WITH|VALUES|EXPLAIN|PRAGMA)\b/i;

const ALLOWED_ACTIONS = new Set<number>([SQLITE.SELECT, SQLITE.READ, SQLITE.RECURSIVE]);

/**
 * The PRAGMAs this SQLite knows (its own `pragma_list`), read once before any untrusted SQL runs. SQLite treats
 * any other name as a no-op returning no rows, whatever its value (`PRAGMA nonexistent_pragma`): Python runs it,
 * and a no-op cannot write.
 */
let knownPragmas: Set<string> | null = null;

function authorize(action: number, a1: string | null, a2: string | null): number {
  if (ALLOWED_ACTIONS.has(action)) return SQLITE.OK;
  if (action === SQLITE.FUNCTION) {
    return a2 !== null && a2.toLowerCase() === "load_extension" ? SQLITE.DENY : SQLITE.OK;
  }
  if (action === SQLITE.PRAGMA && a1 !== null) {
    const name = a1.toLowerCase();
    if (knownPragmas !== null && !knownPragmas.has(name)) return SQLITE.OK;
    // Any other PRAGMA given a value (`= x`) is a setting.
    if (DESCRIBE_PRAGMAS.has(name) || (a2 === null && READ_PRAGMAS.has(name))) return SQLITE.OK;
  }
  return SQLITE.DENY;
}

const encodings = new WeakMap<DatabaseSync, string>();

/** The database's text encoding (`PRAGMA encoding`: `UTF-8`, `UTF-16le`, `UTF-16be`), read when it was opened. */
export const databaseEncoding = (db: DatabaseSync): string => encodings.get(db) ?? "UTF-8";

const connections = new Map<string, DatabaseSync>();

/**
 * The connection to a database, opened once (read-only, as Python's `sqlite3` behaves, bounded, authorizer on)
 * and kept among the last 16 used.
 */
export function open(path: string, heapLimit: number): DatabaseSync {
  let db = connections.get(path);
  if (db) return db;
  // Keep a handful of databases open: BIRD runs hop between ~11 (dev) or ~70 (train) databases.
  if (connections.size >= 16) {
    const [oldest, conn] = connections.entries().next().value!;
    conn.close();
    connections.delete(oldest);
  }
  // The connection defaults of Python's sqlite3, where node:sqlite's differ (`PRAGMA foreign_keys` and
  // `PRAGMA busy_timeout` read as in Python): "text" is a string literal where no such column exists (SQLite's
  // legacy default), foreign keys are not enforced, a locked database is waited for 5 s.
  db = new DatabaseSync(path, {
    readOnly: true,
    allowExtension: false,
    enableDoubleQuotedStringLiterals: true,
    enableForeignKeyConstraints: false,
    timeout: 5000,
  });
  // Before any untrusted SQL runs (the authorizer is not installed yet): bound SQLite's own memory, and keep
  // sorts and temporary tables in memory, so a "read-only" query never writes a spill file.
  db.exec(`PRAGMA hard_heap_limit = ${Math.floor(heapLimit)}`);
  db.exec("PRAGMA temp_store = MEMORY");
  encodings.set(db, String((db.prepare("PRAGMA encoding").get() as { encoding: string }).encoding));
  knownPragmas ??= new Set(
    (db.prepare("SELECT name FROM pragma_pragma_list").all() as { name: string }[]).map((r) => r.name),
  );
  registerMathFunctions(db);
  (db as unknown as DatabaseExtras).setAuthorizer(authorize);
  connections.set(path, db);
  return db;
}
