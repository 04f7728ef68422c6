/**
 * A database's schema text for the prompt, read from the engine that will run the SQL, once per database: SQLite's
 * from the file itself (`renderSchema`, the original tool's prompt byte for byte), PostgreSQL's and MySQL's from
 * the engine's catalog as that dialect's DDL (`renderCatalogSchema`), with sample rows read through the engine.
 *
 * The prompt room comes before the engines in the data flow, so it names only what it needs of one
 * ({@linkcode SchemaSource}); every `SqlEngine` is one.
 *
 * @module
 */

import { join } from "node:path";
import type { CatalogTable } from "../types.ts";
import { schemaModelFor, type SchemaSource } from "./schema_model.ts";
import { renderSchemaModel } from "./schema_render.ts";
import type { SchemaFormat } from "./prompts.ts";
import { type CatalogDialect, quoteIdentifier, renderCatalogSchema } from "./catalog_schema.ts";
import { renderSchema, SchemaError, type SchemaOptions } from "./schema.ts";
import type { SampleRows } from "./schema_blocks.ts";

/** Which database, and what to add to its CREATE statements. */
export interface SchemaForOptions extends SchemaOptions {
  /** The BIRD database root: SQLite's files, and every dialect's `<db_id>/database_description/` CSVs. */
  dbRoot: string;
  /** The BIRD database id. */
  dbId: string;
  /** How the schema is written (default `ddl`: the CREATE statements; `mschema`: XiYan's M-Schema). */
  schemaFormat?: SchemaFormat;
}

let memo = new WeakMap<SchemaSource, Map<string, Promise<string>>>();

/**
 * The schema text of one database as the prompt shows it, read through `source`.
 *
 * SQLite: exactly `renderSchema(source.target(dbRoot, dbId), {sampleRows, descriptions})`. PostgreSQL and MySQL:
 * the catalog's tables as the dialect's DDL; with `sampleRows` N, each table's `SELECT * FROM t LIMIT N` run
 * through the engine (at most as many rows as the engine keeps for display, 10 by default); with `descriptions`,
 * the CSVs of `<dbRoot>/<dbId>/database_description/`, matched case-insensitively to the catalog's names.
 *
 * With `schemaFormat: "mschema"`: the database as XiYan's M-Schema (`renderSchemaModel`).
 *
 * Memoised per (source, database, options), so a run can call it for every question. A failure is not memoised.
 *
 * @param source the engine (or anything with its dialect, target, catalog and execute)
 * @param options the database and the schema extras
 * @returns the schema text
 * @throws {SchemaError} naming the database when it cannot be read, has no tables (`missing` set), or a sample
 *   query fails
 */
export function schemaFor(source: SchemaSource, options: SchemaForOptions): Promise<string> {
  const sampleRows = Math.max(0, Math.floor(options.sampleRows ?? 0));
  const descriptions = options.descriptions ?? false;
  if ((options.schemaFormat ?? "ddl") !== "ddl") {
    const { dbRoot, dbId } = options;
    return schemaModelFor(source, { dbRoot, dbId, sampleRows, descriptions, examples: true })
      .then((model) => renderSchemaModel(model, { format: options.schemaFormat }));
  }
  const target = source.target(options.dbRoot, options.dbId);
  if (source.dialect === "sqlite") {
    try {
      return Promise.resolve(renderSchema(target, { sampleRows, descriptions }));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  let cache = memo.get(source);
  if (!cache) memo.set(source, cache = new Map());
  const key = JSON.stringify([target, options.dbRoot, options.dbId, sampleRows, descriptions]);
  const hit = cache.get(key);
  if (hit) return hit;
  const dialect = source.dialect;
  const text = catalogSchema(source, { ...options, target, dialect, sampleRows, descriptions });
  cache.set(key, text);
  text.catch(() => cache.delete(key));
  return text;
}

/** Forget the schemas {@link schemaFor} memoised from engines (tests; SQLite's are `clearSchemaCache`'s). */
export function clearSourceSchemaCache(): void {
  memo = new WeakMap();
}

async function catalogSchema(
  source: SchemaSource,
  o: SchemaForOptions & {
    target: string;
    dialect: CatalogDialect;
    sampleRows: number;
    descriptions: boolean;
  },
): Promise<string> {
  const where = `the ${o.dialect} database ${o.dbId}`;
  let tables: CatalogTable[];
  try {
    tables = await source.catalog(o.target);
  } catch (e) {
    throw new SchemaError(`cannot read the catalog of ${where}: ${oneLine(e)}`);
  }
  if (tables.length === 0) {
    throw new SchemaError(`${where} has no tables (is it loaded? see deno task db load)`, { missing: true });
  }
  let samples: { n: number; tables: Map<string, SampleRows> } | undefined;
  if (o.sampleRows > 0) {
    samples = { n: o.sampleRows, tables: new Map() };
    for (const t of tables) {
      const sql = `SELECT * FROM ${quoteIdentifier(t.name, o.dialect)} LIMIT ${o.sampleRows}`;
      const r = await source.execute(o.target, sql);
      if (!r.ok) {
        throw new SchemaError(`cannot read sample rows of ${t.name} in ${where}: ${oneLine(r.error)}`);
      }
      samples.tables.set(t.name, { columns: r.columns, rows: r.sample.slice(0, o.sampleRows) });
    }
  }
  return renderCatalogSchema(tables, {
    dialect: o.dialect,
    samples,
    descriptions: o.descriptions ? join(o.dbRoot, o.dbId, "database_description") : null,
  });
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ").trim();
}
