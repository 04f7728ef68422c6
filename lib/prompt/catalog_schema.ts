/**
 * A server database's schema for a prompt, rendered from its engine's catalog as that dialect's own DDL: one
 * `CREATE TABLE` per table in the catalog's order, columns in order with their types and NOT NULL, then the
 * PRIMARY KEY, each UNIQUE and each FOREIGN KEY … REFERENCES, tables joined by a blank line like the SQLite renderer's. Sample
 * rows and BIRD's column descriptions follow a table as the same comment blocks SQLite's prompt has.
 *
 * Identifiers are written as the dialect's gold SQL writes them: PostgreSQL's bare when they are lower-case simple
 * names and not reserved words (`customerid`, as mini-dev's PostgreSQL gold), double-quoted otherwise
 * (`"Free Meal Count (K-12)"`, `"order"`); MySQL's always in backticks, as mini-dev's MySQL gold.
 *
 * (mini-dev's own `table_schema.py` shows columns and types only, wraps PostgreSQL names in backticks that
 * PostgreSQL rejects, and has neither keys nor sample rows; this renderer gives the model valid DDL instead.)
 *
 * @module
 */

import type { CatalogColumn, CatalogTable, Dialect } from "../types.ts";
import { descriptionComment, sampleComment, type SampleRows } from "./schema_blocks.ts";

export type { SampleRows } from "./schema_blocks.ts";

/** A dialect whose schema comes from an engine's catalog (SQLite's comes from the file: `renderSchema`). */
export type CatalogDialect = Exclude<Dialect, "sqlite">;

/**
 * PostgreSQL's reserved key words (`pg_get_keywords()` categories R and T of PostgreSQL 15): these cannot name a
 * table or column unquoted. (Category C words, `position` or `time`, can.) The server test checks this list
 * against the server's own.
 */
export const PG_RESERVED_WORDS: ReadonlySet<string> = new Set(
  ("all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate " +
    "collation column concurrently constraint create cross current_catalog current_date current_role " +
    "current_schema current_time current_timestamp current_user default deferrable desc distinct do else end " +
    "except false fetch for foreign freeze from full grant group having ilike in initially inner intersect into " +
    "is isnull join lateral leading left like limit localtime localtimestamp natural not notnull null offset on " +
    "only or order outer overlaps placing primary references returning right select session_user similar some " +
    "symmetric table tablesample then to trailing true union unique user using variadic verbose when where " +
    "window with").split(" "),
);

/**
 * An identifier as the dialect's SQL writes it: PostgreSQL bare when it is a lower-case simple name that is not
 * reserved, else in double quotes (`"` doubled); MySQL always in backticks (`` ` `` doubled).
 *
 * @param name the identifier as the catalog holds it
 * @param dialect `postgresql` or `mysql`
 * @returns the identifier ready for SQL text
 */
export function quoteIdentifier(name: string, dialect: CatalogDialect): string {
  if (dialect === "mysql") return "`" + name.replaceAll("`", "``") + "`";
  if (/^[a-z_][a-z0-9_$]*$/.test(name) && !PG_RESERVED_WORDS.has(name)) return name;
  return `"${name.replaceAll('"', '""')}"`;
}

/** What {@link renderCatalogSchema} adds to the plain CREATE statements (both off by default). */
export interface CatalogSchemaOptions {
  /** The dialect whose DDL is written. */
  dialect: CatalogDialect;
  /** Sample rows per table (`n`: the LIMIT they were read with); a table not in `tables` gets no block. */
  samples?: { n: number; tables: ReadonlyMap<string, SampleRows> };
  /** The database's `database_description` folder: each table's CSV found case-insensitively. */
  descriptions?: string | null;
}

/** A type as the catalog names it, in capitals like BIRD's SQLite DDL (unless it quotes a name or a value). */
function typeText(type: string): string {
  const t = type.trim();
  return /['"`]/.test(t) ? t : t.toUpperCase();
}

/** The column list of a key, quoted. */
function columnList(columns: readonly string[], dialect: CatalogDialect): string {
  return columns.map((c) => quoteIdentifier(c, dialect)).join(", ");
}

/**
 * One table's CREATE TABLE statement in the dialect (no trailing semicolon, as SQLite's stored statements).
 *
 * @param table the catalog's table
 * @param dialect `postgresql` or `mysql`
 * @returns the statement
 */
export function createTableSql(table: CatalogTable, dialect: CatalogDialect): string {
  const q = (name: string) => quoteIdentifier(name, dialect);
  const lines = table.columns.map((c: CatalogColumn) =>
    `    ${q(c.name)}${c.type.trim() ? " " + typeText(c.type) : ""}${c.notNull ? " NOT NULL" : ""}`
  );
  if (table.primaryKey.length > 0) lines.push(`    PRIMARY KEY (${columnList(table.primaryKey, dialect)})`);
  for (const u of table.unique ?? []) lines.push(`    UNIQUE (${columnList(u, dialect)})`);
  for (const fk of table.foreignKeys) {
    const ref = fk.refColumns.length > 0 ? ` (${columnList(fk.refColumns, dialect)})` : "";
    lines.push(`    FOREIGN KEY (${columnList(fk.columns, dialect)}) REFERENCES ${q(fk.refTable)}${ref}`);
  }
  return `CREATE TABLE ${q(table.name)}\n(\n${lines.join(",\n")}\n)`;
}

/**
 * The schema text of a server database from its catalog: each table's {@link createTableSql}, then its
 * description block (when `descriptions` names a folder holding its CSV), then its sample block (when `samples`
 * has it), tables joined by `\n\n`. A description's column is shown by its catalog name (a PostgreSQL load
 * lower-cases `CDSCode` to `cdscode`) when the catalog has it under any case.
 *
 * @param tables the catalog, in the order the prompt lists them
 * @param options dialect, sample rows, descriptions folder
 * @returns the schema text
 */
export function renderCatalogSchema(tables: readonly CatalogTable[], options: CatalogSchemaOptions): string {
  const { dialect } = options;
  if (dialect !== "postgresql" && dialect !== "mysql") {
    throw new RangeError(`renderCatalogSchema renders postgresql or mysql, not ${JSON.stringify(dialect)}`);
  }
  return tables.map((t) => {
    let part = createTableSql(t, dialect);
    if (options.descriptions) {
      const byLower = new Map(t.columns.map((c) => [c.name.toLowerCase(), c.name]));
      const block = descriptionComment(options.descriptions, t.name, {
        dialect,
        columnName: (original) => byLower.get(original.toLowerCase()) ?? original,
      });
      if (block) part += "\n" + block;
    }
    const sample = options.samples?.tables.get(t.name);
    if (options.samples && sample) {
      part += "\n" +
        sampleComment(sample, { n: options.samples.n, ref: quoteIdentifier(t.name, dialect), dialect });
    }
    return part;
  }).join("\n\n");
}
