/**
 * A database's schema as data, for the prompts that change per question: each table's CREATE text exactly as
 * the default prompt shows it (SQLite's stored statement, a server's catalog DDL), its columns with types and
 * keys, its foreign keys, and the optional sample rows and M-Schema examples. `renderSchemaModel` in
 * `schema_render.ts` writes it back as DDL (byte for byte the default prompt's when nothing is asked) or as
 * M-Schema, with a question's matched values and schema linking applied.
 *
 * SQLite's model is read from the file itself (read-only, as `renderSchema` does); a server's through the engine
 * ({@linkcode SchemaSource}: its catalog and read-only queries).
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { dirname, join } from "node:path";
import { existsSync } from "../util/mod.ts";
import type { CatalogTable, Dialect, DisplayValue } from "../types.ts";
import { createTableSql, quoteIdentifier } from "./catalog_schema.ts";
import { SchemaError, sqliteIdentifier, sqliteSampleRows } from "./schema.ts";
import { sampleCellText, type SampleRows } from "./schema_blocks.ts";

/** What the schema needs of an engine: its dialect, how it names a database, its catalog, one query. */
export interface SchemaSource {
  readonly dialect: Dialect;
  /** How the engine addresses a question's database (a file path for SQLite, the `db_id` on a server). */
  target(dbRoot: string, dbId: string): string;
  /** The database's tables, in the order the prompt lists them. */
  catalog(target: string): Promise<CatalogTable[]>;
  /** One read-only query: its column names and first rows as shown, or its error. */
  execute(
    target: string,
    sql: string,
  ): Promise<{ ok: true; columns: string[]; sample: DisplayValue[][] } | { ok: false; error: string }>;
}

/** One column of a {@linkcode ModelTable}. */
export interface ModelColumn {
  name: string;
  /** The declared type as the database names it ("" when none). */
  type: string;
  /** Part of the table's primary key. */
  primaryKey: boolean;
}

/** A foreign key of a {@linkcode ModelTable}. */
export interface ModelForeignKey {
  columns: string[];
  refTable: string;
  /** The referenced columns (the referenced table's primary key when the statement names none). */
  refColumns: string[];
}

/** One table of a {@linkcode SchemaModel}. */
export interface ModelTable {
  name: string;
  /** The CREATE statement exactly as the default prompt shows it. */
  create: string;
  columns: ModelColumn[];
  foreignKeys: ModelForeignKey[];
  /** The first rows, when sample rows were asked for. */
  sample: SampleRows | null;
  /** M-Schema's examples: up to 5 distinct non-null values per column (by column name), when asked for. */
  examples: Record<string, string[]> | null;
}

/** A database's schema as data. */
export interface SchemaModel {
  dbId: string;
  dialect: Dialect;
  /** The `database_description` folder, when descriptions were asked for. */
  descriptionDir: string | null;
  /** The LIMIT of the sample rows (0: none). */
  sampleRows: number;
  tables: ModelTable[];
}

/** What {@linkcode schemaModelFor} reads. */
export interface SchemaModelOptions {
  dbRoot: string;
  dbId: string;
  /** Sample rows per table (default 0). */
  sampleRows?: number;
  /** Point the model at the database's description CSVs (default false). */
  descriptions?: boolean;
  /** Read M-Schema's examples (default false). */
  examples?: boolean;
}

/** Distinct values read per column for M-Schema's examples (XiYan reads 5 and shows 3). */
export const MSCHEMA_EXAMPLES_READ = 5;

let memo = new Map<string, Promise<SchemaModel>>();
let sources = new WeakMap<SchemaSource, number>();
let nextSource = 0;

/**
 * The schema of one database as data, read through `source` (SQLite: from the file). Memoised per (source,
 * database, options); a failure is not memoised.
 *
 * @param source the engine (or anything with its dialect, target, catalog and execute)
 * @param options the database and what to read besides the tables
 * @returns the model
 * @throws {SchemaError} naming the database when it cannot be read or has no tables
 */
export function schemaModelFor(source: SchemaSource, options: SchemaModelOptions): Promise<SchemaModel> {
  const sampleRows = Math.max(0, Math.floor(options.sampleRows ?? 0));
  const o = {
    ...options,
    sampleRows,
    descriptions: options.descriptions ?? false,
    examples: options.examples ?? false,
  };
  const target = source.target(o.dbRoot, o.dbId);
  let id = sources.get(source);
  if (id === undefined) sources.set(source, id = nextSource++);
  const key = JSON.stringify([
    source.dialect === "sqlite" ? -1 : id,
    target,
    o.dbRoot,
    o.dbId,
    sampleRows,
    o.descriptions,
    o.examples,
  ]);
  const hit = memo.get(key);
  if (hit) return hit;
  const model = source.dialect === "sqlite"
    ? Promise.resolve().then(() => sqliteModel(target, o))
    : catalogModel(source, target, o);
  memo.set(key, model);
  model.catch(() => memo.delete(key));
  return model;
}

/** Forget the memoised models (tests, or after a database changed). */
export function clearSchemaModelCache(): void {
  memo = new Map();
  sources = new WeakMap();
}

type Resolved = Required<SchemaModelOptions>;

function sqliteModel(path: string, o: Resolved): SchemaModel {
  if (!existsSync(path)) throw new SchemaError(`database not found: ${path}`, { missing: true });
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: true });
  } catch (e) {
    throw new SchemaError(`cannot open database ${path}: ${message(e)}`);
  }
  try {
    let rows: { name: string; sql: string | null }[];
    try {
      rows = db.prepare(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence' ORDER BY rowid",
      ).all() as { name: string; sql: string | null }[];
    } catch (e) {
      throw new SchemaError(`cannot read schema of ${path}: ${message(e)}`);
    }
    const tables = rows.map((r): ModelTable => {
      const q = sqliteIdentifier(r.name);
      const columns = pragma(db, `PRAGMA table_info(${q})`).map((c) => ({
        name: String(c.name),
        type: String(c.type ?? ""),
        primaryKey: Number(c.pk) > 0,
      }));
      const byId = new Map<number, ModelForeignKey>();
      for (const f of pragma(db, `PRAGMA foreign_key_list(${q})`)) {
        const id = Number(f.id);
        let fk = byId.get(id);
        if (!fk) byId.set(id, fk = { columns: [], refTable: String(f.table), refColumns: [] });
        fk.columns.push(String(f.from));
        if (f.to !== null && f.to !== undefined) fk.refColumns.push(String(f.to));
      }
      let examples: Record<string, string[]> | null = null;
      if (o.examples) {
        examples = {};
        for (const c of columns) {
          const col = sqliteIdentifier(c.name);
          try {
            const values = db.prepare(
              `SELECT DISTINCT ${col} AS v FROM ${q} WHERE ${col} IS NOT NULL LIMIT ${MSCHEMA_EXAMPLES_READ}`,
            ).all() as { v: unknown }[];
            examples[c.name] = values.map((v) => exampleText(v.v)).filter((v): v is string => v !== null);
          } catch {
            examples[c.name] = [];
          }
        }
      }
      return {
        name: r.name,
        create: r.sql ?? "",
        columns,
        foreignKeys: [...byId.values()],
        sample: o.sampleRows > 0 ? sqliteSampleRows(db, r.name, o.sampleRows) : null,
        examples,
      };
    });
    fillRefColumns(tables);
    return {
      dbId: o.dbId,
      dialect: "sqlite",
      descriptionDir: o.descriptions ? join(dirname(path), "database_description") : null,
      sampleRows: o.sampleRows,
      tables,
    };
  } finally {
    db.close();
  }
}

function pragma(db: DatabaseSync, sql: string): Record<string, unknown>[] {
  try {
    return db.prepare(sql).all() as Record<string, unknown>[];
  } catch {
    return [];
  }
}

/** A foreign key naming no columns references its table's primary key. */
function fillRefColumns(tables: ModelTable[]): void {
  const byName = new Map(tables.map((t) => [t.name.toLowerCase(), t]));
  for (const t of tables) {
    for (const fk of t.foreignKeys) {
      if (fk.refColumns.length > 0) continue;
      const ref = byName.get(fk.refTable.toLowerCase());
      fk.refColumns = ref ? ref.columns.filter((c) => c.primaryKey).map((c) => c.name) : [];
    }
  }
}

async function catalogModel(source: SchemaSource, target: string, o: Resolved): Promise<SchemaModel> {
  const dialect = source.dialect as Exclude<Dialect, "sqlite">;
  const where = `the ${dialect} database ${o.dbId}`;
  let catalog;
  try {
    catalog = await source.catalog(target);
  } catch (e) {
    throw new SchemaError(`cannot read the catalog of ${where}: ${message(e)}`);
  }
  if (catalog.length === 0) {
    throw new SchemaError(`${where} has no tables (is it loaded? see deno task db load)`, { missing: true });
  }
  const tables: ModelTable[] = [];
  for (const t of catalog) {
    const q = quoteIdentifier(t.name, dialect);
    let sample: SampleRows | null = null;
    if (o.sampleRows > 0) {
      const r = await source.execute(target, `SELECT * FROM ${q} LIMIT ${o.sampleRows}`);
      if (!r.ok) {
        throw new SchemaError(`cannot read sample rows of ${t.name} in ${where}: ${oneLine(r.error)}`);
      }
      sample = { columns: r.columns, rows: r.sample.slice(0, o.sampleRows) };
    }
    let examples: Record<string, string[]> | null = null;
    if (o.examples) {
      examples = {};
      for (const c of t.columns) {
        const col = quoteIdentifier(c.name, dialect);
        const r = await source.execute(
          target,
          `SELECT DISTINCT ${col} FROM ${q} WHERE ${col} IS NOT NULL LIMIT ${MSCHEMA_EXAMPLES_READ}`,
        );
        examples[c.name] = r.ok
          ? r.sample.map((row) => exampleText(row[0])).filter((v): v is string => v !== null)
          : [];
      }
    }
    const pk = new Set(t.primaryKey);
    tables.push({
      name: t.name,
      create: createTableSql(t, dialect),
      columns: t.columns.map((c) => ({ name: c.name, type: c.type, primaryKey: pk.has(c.name) })),
      foreignKeys: t.foreignKeys.map((f) => ({
        ...f,
        columns: [...f.columns],
        refColumns: [...f.refColumns],
      })),
      sample,
      examples,
    });
  }
  fillRefColumns(tables);
  return {
    dbId: o.dbId,
    dialect,
    descriptionDir: o.descriptions ? join(o.dbRoot, o.dbId, "database_description") : null,
    sampleRows: o.sampleRows,
    tables,
  };
}

/** An example value's text (blobs have none). */
function exampleText(v: unknown): string | null {
  if (v === null || v === undefined || v instanceof Uint8Array) return null;
  if (typeof v === "object" && "blob" in v) return null;
  return sampleCellText(v);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function oneLine(e: unknown): string {
  return message(e).replace(/\s+/g, " ").trim();
}
