/**
 * A database's value index: the distinct values of every text column, read once and cached by the database's
 * content hash under `<cacheRoot()>/values/`, so every later question (and run) of that database looks values
 * up without touching it.
 *
 * Per text column (SQLite: declared with text affinity or no type, dates and times left out; a server: a
 * character type), the distinct text values, most frequent first, at most {@linkcode VALUE_LIMITS}
 * `perColumn` of them (the column is then marked `truncated`); values longer than `maxChars` or holding a line
 * break are not indexed. A free-text column (its first 1000 values average more than `freeTextChars`
 * characters: posts, comments, descriptions) is not scanned at all: it is summarised (average length, three
 * short examples), since no question names such a value whole.
 *
 * SQLite files are read directly (`node:sqlite`, read-only); a server's database through its engine's
 * `execute` (every row comes back as a canonical cell key). The build is resumable: each finished column is
 * appended to a `.partial.jsonl` file beside the index, and a build that stopped half-way starts again after
 * the last finished column. Progress is one line per column (or an in-place bar on a terminal).
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import {
  cacheRoot,
  canonicalJson,
  createProgress,
  existsSync,
  fileSha256,
  sha256Hex,
  writeJsonAtomic,
} from "../util/mod.ts";
import type { CatalogTable, Dialect } from "../types.ts";
import { quoteIdentifier, type SchemaSource, sqliteIdentifier } from "../prompt/mod.ts";

/** Index format version: bump when what is indexed or how changes (old caches are then rebuilt). */
export const VALUE_INDEX_VERSION = "1";

/** The bounds of an index (recorded in it, part of its cache key). */
export const VALUE_LIMITS = Object.freeze({
  /** Distinct values kept per column, most frequent first. */
  perColumn: 50_000,
  /** Longest value indexed, characters. */
  maxChars: 120,
  /** A column whose first 1000 text values average more characters than this is free text. */
  freeTextChars: 60,
});

/** One text column of the index. */
export interface IndexedColumn {
  table: string;
  column: string;
  /** `values`: its distinct values are indexed; `free_text`: summarised only. */
  kind: "values" | "free_text";
  /** The distinct values kept (most frequent first); empty for free text. */
  values: string[];
  /** More distinct values than `perColumn` were there (the rarest were left out). */
  truncated: boolean;
  /** Values left out for their length or a line break. */
  skipped: number;
  /** Average length in characters (of the values read; of the first 1000 for free text). */
  avgChars: number;
  /** Free text: three of its values, cut at 80 characters. */
  examples?: string[];
}

/** A database's value index. */
export interface ValueIndex {
  version: string;
  dbId: string;
  dialect: Dialect;
  /** The database's content identity (SQLite: the file's sha256), or null when the engine cannot say. */
  contentKey: string | null;
  limits: typeof VALUE_LIMITS;
  columns: IndexedColumn[];
  /** Seconds the build took (summed over resumed parts). */
  buildSeconds: number;
}

/**
 * What the index needs of a server's engine (every `SqlEngine` is one): the schema's dialect, target and
 * catalog, a query's rows as text, and the database's content identity.
 */
export interface ValueSource extends Omit<SchemaSource, "execute"> {
  execute(
    target: string,
    sql: string,
    options?: { timeoutS?: number },
  ): Promise<{ ok: true; rows: string[][] } | { ok: false; error: string }>;
  contentKey(target: string): Promise<string | null>;
}

/** Options of {@linkcode ensureValueIndex}. */
export interface ValueIndexOptions {
  dbRoot: string;
  dbId: string;
  /** Where indexes are cached (default `<cacheRoot()>/values`). */
  cacheDir?: string;
  /** Progress as lines even on a terminal. */
  quiet?: boolean;
  /** No progress output at all. */
  silent?: boolean;
  /** Stop after this many columns (tests of resumption); the partial file keeps them. */
  stopAfter?: number;
}

/** Thrown when a database cannot be read for its index; the message names it. */
export class ValueIndexError extends Error {
  /**
   * @param message one line naming the database
   */
  constructor(message: string) {
    super(message);
    this.name = "ValueIndexError";
  }
}

const memo = new Map<string, Promise<ValueIndex>>();
const fileKeys = new Map<string, string>();

/**
 * The value index of one database: loaded from the cache when built before for the same content, else built
 * (resuming a stopped build) and cached. With no content key (a server not loaded by `deno task db load`) it
 * is built in memory each time and not cached. Memoised per process.
 *
 * @param source the engine (SQLite is read from its file directly)
 * @param options the database, cache folder and progress
 * @returns the index
 * @throws {ValueIndexError} when the database cannot be read
 */
export function ensureValueIndex(source: ValueSource, options: ValueIndexOptions): Promise<ValueIndex> {
  const target = source.target(options.dbRoot, options.dbId);
  const key = JSON.stringify([source.dialect, target, options.dbId, options.cacheDir ?? null]);
  const hit = options.stopAfter === undefined ? memo.get(key) : undefined;
  if (hit) return hit;
  const built = buildOrLoad(source, target, options);
  if (options.stopAfter === undefined) {
    memo.set(key, built);
    built.catch(() => memo.delete(key));
  }
  return built;
}

/** Forget the indexes memoised in this process (tests). */
export function clearValueIndexMemo(): void {
  memo.clear();
  fileKeys.clear();
}

async function contentKeyOf(source: ValueSource, target: string): Promise<string | null> {
  if (source.dialect !== "sqlite") return await source.contentKey(target);
  if (!existsSync(target)) throw new ValueIndexError(`database not found: ${target}`);
  const st = Deno.statSync(target);
  const stamp = [target, st.size, st.mtime?.getTime(), st.ctime?.getTime(), st.ino].join("\0");
  let k = fileKeys.get(stamp);
  if (!k) fileKeys.set(stamp, k = await fileSha256(target));
  return k;
}

/**
 * Where a database's index is cached: `<cacheDir>/<hash>.json`, the hash covering its content key, the index
 * version and limits.
 *
 * @param contentKey the database's content key
 * @param options the database and cache folder
 * @returns the file path
 */
export function valueIndexPath(contentKey: string, options: { dbId: string; cacheDir?: string }): string {
  const dir = options.cacheDir ?? join(cacheRoot(), "values");
  const hash = sha256Hex(canonicalJson({ v: VALUE_INDEX_VERSION, limits: VALUE_LIMITS, contentKey }));
  return join(dir, `${options.dbId.replace(/[^\w.-]/g, "_")}-${hash.slice(0, 24)}.json`);
}

async function buildOrLoad(source: ValueSource, target: string, o: ValueIndexOptions): Promise<ValueIndex> {
  const contentKey = await contentKeyOf(source, target);
  const path = contentKey ? valueIndexPath(contentKey, o) : null;
  if (path && existsSync(path)) {
    try {
      const index = JSON.parse(await Deno.readTextFile(path)) as ValueIndex;
      if (index.version === VALUE_INDEX_VERSION && index.contentKey === contentKey) return index;
    } catch {
      // A damaged cache file is rebuilt.
    }
  }
  const partial = path ? path.replace(/\.json$/, ".partial.jsonl") : null;
  const done = partial ? await readPartial(partial, contentKey!) : { columns: [], seconds: 0 };
  const reader = source.dialect === "sqlite" ? sqliteReader(target) : serverReader(source, target, o.dbId);
  const started = performance.now();
  try {
    const plan = await reader.plan();
    const finished = new Set(done.columns.map((c) => `${c.table}\0${c.column}`));
    const todo = plan.filter((p) => !finished.has(`${p.table}\0${p.column}`));
    const progress = createProgress(plan.length, {
      label: `value index ${o.dbId}`,
      quiet: o.quiet,
      silent: o.silent ?? false,
    });
    for (let i = 0; i < done.columns.length && i < plan.length; i++) progress.tick();
    if (partial && done.columns.length === 0) {
      await Deno.mkdir(join(partial, ".."), { recursive: true });
      await Deno.writeTextFile(partial, JSON.stringify({ header: true, contentKey }) + "\n");
    }
    let count = 0;
    for (const p of todo) {
      if (o.stopAfter !== undefined && count >= o.stopAfter) {
        progress.done();
        throw new ValueIndexError(`value index of ${o.dbId}: stopped after ${count} columns (as asked)`);
      }
      const column = await reader.read(p);
      done.columns.push(column);
      if (partial) await Deno.writeTextFile(partial, JSON.stringify(column) + "\n", { append: true });
      progress.tick();
      count++;
    }
    progress.done();
    const order = new Map(plan.map((p, i) => [`${p.table}\0${p.column}`, i]));
    const columns = done.columns.filter((c) => order.has(`${c.table}\0${c.column}`))
      .sort((a, b) => order.get(`${a.table}\0${a.column}`)! - order.get(`${b.table}\0${b.column}`)!);
    const index: ValueIndex = {
      version: VALUE_INDEX_VERSION,
      dbId: o.dbId,
      dialect: source.dialect,
      contentKey,
      limits: VALUE_LIMITS,
      columns,
      buildSeconds: round3(done.seconds + (performance.now() - started) / 1000),
    };
    if (path) {
      await writeJsonAtomic(path, index);
      await Deno.remove(partial!).catch(() => {});
    }
    return index;
  } finally {
    reader.close();
  }
}

async function readPartial(
  path: string,
  contentKey: string,
): Promise<{ columns: IndexedColumn[]; seconds: number }> {
  if (!existsSync(path)) return { columns: [], seconds: 0 };
  const lines = (await Deno.readTextFile(path)).split("\n").filter((l) => l.trim());
  try {
    const header = JSON.parse(lines[0]);
    if (!header.header || header.contentKey !== contentKey) return { columns: [], seconds: 0 };
  } catch {
    return { columns: [], seconds: 0 };
  }
  const columns: IndexedColumn[] = [];
  for (const line of lines.slice(1)) {
    try {
      columns.push(JSON.parse(line));
    } catch {
      break; // a line cut by a kill: that column is read again
    }
  }
  if (columns.length === 0) await Deno.remove(path).catch(() => {});
  return { columns, seconds: 0 };
}

interface PlannedColumn {
  table: string;
  column: string;
}

interface ColumnReader {
  plan(): Promise<PlannedColumn[]>;
  read(p: PlannedColumn): Promise<IndexedColumn>;
  close(): void;
}

/** SQLite's type affinity rules: which declared types hold text (or anything), dates and times left out. */
export function sqliteTextColumn(declared: string): boolean {
  const t = declared.toUpperCase();
  if (/DATE|TIME/.test(t)) return false;
  if (/INT|REAL|FLOA|DOUB|NUM|DEC|BOOL|BLOB/.test(t)) return false;
  return true;
}

/** A server catalog's character types. */
export function serverTextColumn(type: string): boolean {
  return /char|text|enum|string|clob/i.test(type) && !/date|time/i.test(type);
}

/** One column's distinct values as read, folded into the index's column record. */
function columnRecord(
  p: PlannedColumn,
  read: { values: string[]; truncated: boolean },
): IndexedColumn {
  const values: string[] = [];
  let skipped = 0;
  let chars = 0;
  for (const v of read.values) {
    chars += v.length;
    if (v.length > VALUE_LIMITS.maxChars || /[\r\n]/.test(v) || v.trim() === "") skipped++;
    else values.push(v);
  }
  const avgChars = read.values.length ? round3(chars / read.values.length) : 0;
  return { ...p, kind: "values", values, truncated: read.truncated, skipped, avgChars };
}

function freeText(p: PlannedColumn, probe: string[]): IndexedColumn | null {
  if (probe.length === 0) return null;
  const avg = probe.reduce((s, v) => s + v.length, 0) / probe.length;
  if (avg <= VALUE_LIMITS.freeTextChars) return null;
  const examples = probe.slice(0, 3).map((v) => {
    const s = v.replace(/\s+/g, " ").trim();
    return s.length > 80 ? s.slice(0, 77) + "..." : s;
  });
  return {
    ...p,
    kind: "free_text",
    values: [],
    truncated: false,
    skipped: 0,
    avgChars: round3(avg),
    examples,
  };
}

function sqliteReader(path: string): ColumnReader {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: true });
  } catch (e) {
    throw new ValueIndexError(`cannot open database ${path}: ${message(e)}`);
  }
  return {
    plan() {
      try {
        const tables = db.prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence' ORDER BY rowid",
        ).all() as { name: string }[];
        const out: PlannedColumn[] = [];
        for (const t of tables) {
          const cols = db.prepare(`PRAGMA table_info(${sqliteIdentifier(t.name)})`).all() as {
            name: string;
            type: string | null;
          }[];
          for (const c of cols) {
            if (sqliteTextColumn(c.type ?? "")) out.push({ table: t.name, column: c.name });
          }
        }
        return Promise.resolve(out);
      } catch (e) {
        return Promise.reject(new ValueIndexError(`cannot read the schema of ${path}: ${message(e)}`));
      }
    },
    read(p) {
      const t = sqliteIdentifier(p.table);
      const c = sqliteIdentifier(p.column);
      try {
        const probe = (db.prepare(
          `SELECT ${c} AS v FROM ${t} WHERE typeof(${c}) = 'text' LIMIT 1000`,
        ).all() as { v: string }[]).map((r) => r.v);
        const summary = freeText(p, probe);
        if (summary) return Promise.resolve(summary);
        const rows = db.prepare(
          `SELECT ${c} AS v FROM ${t} WHERE typeof(${c}) = 'text' GROUP BY ${c} ORDER BY COUNT(*) DESC, ${c} ` +
            `LIMIT ${VALUE_LIMITS.perColumn + 1}`,
        ).all() as { v: string }[];
        const truncated = rows.length > VALUE_LIMITS.perColumn;
        return Promise.resolve(
          columnRecord(p, { values: rows.slice(0, VALUE_LIMITS.perColumn).map((r) => r.v), truncated }),
        );
      } catch (e) {
        return Promise.reject(
          new ValueIndexError(`cannot read ${p.table}.${p.column} of ${path}: ${message(e)}`),
        );
      }
    },
    close() {
      db.close();
    },
  };
}

function serverReader(source: ValueSource, target: string, dbId: string): ColumnReader {
  const dialect = source.dialect as Exclude<Dialect, "sqlite">;
  const where = `the ${dialect} database ${dbId}`;
  const texts = (rows: string[][]) =>
    rows.map((r) => r[0]).filter((k) => k?.startsWith("s")).map((k) => k.slice(1));
  return {
    async plan() {
      let catalog: CatalogTable[];
      try {
        catalog = await source.catalog(target);
      } catch (e) {
        throw new ValueIndexError(`cannot read the catalog of ${where}: ${message(e)}`);
      }
      return catalog.flatMap((t) =>
        t.columns.filter((c) => serverTextColumn(c.type)).map((c) => ({ table: t.name, column: c.name }))
      );
    },
    async read(p) {
      const t = quoteIdentifier(p.table, dialect);
      const c = quoteIdentifier(p.column, dialect);
      const run = async (sql: string) => {
        const r = await source.execute(target, sql, { timeoutS: 600 });
        if (!r.ok) {
          throw new ValueIndexError(`cannot read ${p.table}.${p.column} of ${where}: ${oneLine(r.error)}`);
        }
        return r.rows;
      };
      // `rows` are the DISTINCT rows: the probe keeps its row order, fine for an average.
      const probe = texts(await run(`SELECT ${c} FROM ${t} WHERE ${c} IS NOT NULL LIMIT 1000`));
      const summary = freeText(p, probe);
      if (summary) return summary;
      const rows = texts(
        await run(
          `SELECT ${c} FROM ${t} WHERE ${c} IS NOT NULL GROUP BY ${c} ORDER BY COUNT(*) DESC, ${c} ` +
            `LIMIT ${VALUE_LIMITS.perColumn + 1}`,
        ),
      );
      const truncated = rows.length > VALUE_LIMITS.perColumn;
      return columnRecord(p, { values: rows.slice(0, VALUE_LIMITS.perColumn), truncated });
    },
    close() {},
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function oneLine(e: unknown): string {
  return message(e).replace(/\s+/g, " ").trim();
}
