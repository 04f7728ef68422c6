/**
 * A {@linkcode SchemaModel} written for the prompt, with what one question adds to it: its matched database
 * values beside their columns, and schema linking (only the tables and columns it touches). Two formats:
 *
 * - `ddl`: each table's CREATE statement as the default prompt shows it, then its description and sample
 *   blocks. With no hints this is byte for byte `schemaFor`'s text. Matched values are a `-- values: 'Blue',
 *   'Blue-Green'` comment at the end of their column's line (as OmniSQL's prompts put `-- example:`); linking
 *   drops the column definitions and constraints of what is not kept, the rest of the statement untouched.
 * - `mschema`: XiYan-SQL's M-Schema (`【DB_ID】`, `【Schema】`, `# Table: t`, `[ (column:TYPE, comment,
 *   Primary Key, Examples: [a, b, c]), … ]`, `【Foreign keys】` with `t.c=r.c` lines), following the
 *   `to_mschema` of XiYan's M-Schema code: 3 examples, a date/time column's first only, the first only when one
 *   is over 20 characters and none when one is over 50; the comment is BIRD's column description (with
 *   `--descriptions`). A column with matched values shows them as its examples instead (none cut). Sample rows do
 *   not apply (M-Schema shows examples instead).
 *
 * Pure: the model and the hints are data.
 *
 * @module
 */

import type { Dialect } from "../types.ts";
import { quoteIdentifier } from "./catalog_schema.ts";
import { type CreateItem, joinCreate, splitCreate } from "./create_split.ts";
import type { SchemaFormat } from "./prompts.ts";
import { sqliteIdentifier } from "./schema.ts";
import { descriptionComment, type DescriptionRow, descriptionRows, sampleComment } from "./schema_blocks.ts";
import type { ModelTable, SchemaModel } from "./schema_model.ts";

/** What a question adds to its database's schema. Keys are {@linkcode columnKey}s. */
export interface SchemaHints {
  /** Matched values per column, best first, each exactly as the database holds it. */
  values?: ReadonlyMap<string, readonly string[]>;
  /** The columns to show (schema linking); absent: all. A table with none of its columns kept is left out. */
  keep?: ReadonlySet<string>;
}

/**
 * The key of a column in {@linkcode SchemaHints}: `table.column`, lower-cased (SQL names are case-insensitive).
 *
 * @param table the table's name
 * @param column the column's name
 * @returns the key
 */
export function columnKey(table: string, column: string): string {
  return `${table}.${column}`.toLowerCase();
}

/**
 * The schema text of a model, for one question's hints.
 *
 * @param model the database's schema
 * @param options `format` (default `ddl`); `hints`: matched values and the columns kept (default none: the
 * whole schema, as `schemaFor` writes it)
 * @returns the schema text
 * @throws {RangeError} for M-Schema with sample rows
 */
export function renderSchemaModel(
  model: SchemaModel,
  options: { format?: SchemaFormat; hints?: SchemaHints } = {},
): string {
  const { format = "ddl", hints = {} } = options;
  if (format === "mschema") return renderMSchema(model, hints);
  return model.tables.filter((t) => tableKept(t, hints)).map((t) => ddlTable(model, t, hints)).join("\n\n");
}

function tableKept(t: ModelTable, hints: SchemaHints): boolean {
  return !hints.keep || t.columns.some((c) => hints.keep!.has(columnKey(t.name, c.name)));
}

function columnKept(table: string, column: string, hints: SchemaHints): boolean {
  return !hints.keep || hints.keep.has(columnKey(table, column));
}

/** A value as an SQL string literal. */
function sqlString(v: string): string {
  return "'" + v.replaceAll("'", "''") + "'";
}

function ddlTable(model: SchemaModel, t: ModelTable, hints: SchemaHints): string {
  const dialect = model.dialect;
  let part = ddlCreate(t, hints);
  const include = hints.keep ? (shown: string) => columnKept(t.name, shown, hints) : undefined;
  if (model.descriptionDir) {
    const byLower = new Map(t.columns.map((c) => [c.name.toLowerCase(), c.name]));
    const block = dialect === "sqlite"
      ? descriptionComment(model.descriptionDir, t.name, { include })
      : descriptionComment(model.descriptionDir, t.name, {
        dialect,
        columnName: (original) => byLower.get(original.toLowerCase()) ?? original,
        include,
      });
    if (block) part += "\n" + block;
  }
  if (t.sample && model.sampleRows > 0) {
    const keepIdx = t.sample.columns.map((c, i) => columnKept(t.name, c, hints) ? i : -1).filter((i) =>
      i >= 0
    );
    const sample = hints.keep
      ? {
        columns: keepIdx.map((i) => t.sample!.columns[i]),
        rows: t.sample.rows.map((r) => keepIdx.map((i) => r[i])),
      }
      : t.sample;
    part += "\n" + sampleComment(sample, { n: model.sampleRows, ref: tableRef(t.name, dialect), dialect });
  }
  return part;
}

function tableRef(name: string, dialect: Dialect): string {
  return dialect === "sqlite" ? sqliteIdentifier(name) : quoteIdentifier(name, dialect);
}

/** The CREATE statement with the hints applied (unchanged when none touch it). */
function ddlCreate(t: ModelTable, hints: SchemaHints): string {
  const valuesOf = (column: string) => hints.values?.get(columnKey(t.name, column));
  const touched = hints.keep !== undefined || t.columns.some((c) => (valuesOf(c.name)?.length ?? 0) > 0);
  if (!touched) return t.create;
  const parts = splitCreate(t.create);
  if (!parts) return t.create;
  const known = new Set(t.columns.map((c) => c.name.toLowerCase()));
  const kept = (item: CreateItem): boolean => {
    if (item.column !== null) {
      return !known.has(item.column.toLowerCase()) || columnKept(t.name, item.column, hints);
    }
    if (!item.constraintColumns.every((c) => columnKept(t.name, c, hints))) return false;
    if (item.references === null || !hints.keep) return true;
    const ref = item.references.toLowerCase();
    return [...hints.keep].some((k) => k.startsWith(ref + "."));
  };
  const items = parts.items.filter(kept).map((item) => {
    const values = item.column !== null ? valuesOf(item.column) : undefined;
    return {
      item,
      comment: values && values.length > 0 ? "values: " + values.map(sqlString).join(", ") : null,
    };
  });
  return joinCreate(parts, items);
}

/** XiYan's date and time types: M-Schema shows one example of them. */
const MSCHEMA_DATE_TYPES = new Set(["DATE", "TIME", "DATETIME", "TIMESTAMP"]);

function renderMSchema(model: SchemaModel, hints: SchemaHints): string {
  if (model.sampleRows > 0) {
    throw new RangeError("sample rows do not apply to M-Schema (it shows example values per column)");
  }
  const out = [`【DB_ID】 ${model.dbId}`, "【Schema】"];
  const kept = model.tables.filter((t) => tableKept(t, hints));
  for (const t of kept) {
    out.push(`# Table: ${t.name}`);
    const described = model.descriptionDir ? descriptionRows(model.descriptionDir, t.name) : null;
    const lines = t.columns.filter((c) => columnKept(t.name, c.name, hints)).map((c) => {
      const type = c.type.trim().toUpperCase();
      let line = `(${c.name}:${type}`;
      const comment = described ? mschemaComment(described, c.name) : "";
      if (comment) line += `, ${comment}`;
      if (c.primaryKey) line += ", Primary Key";
      const matched = hints.values?.get(columnKey(t.name, c.name)) ?? [];
      const examples = matched.length > 0 ? [...matched] : mschemaExamples(t.examples?.[c.name] ?? [], type);
      if (examples.length > 0) line += `, Examples: [${examples.join(", ")}]`;
      return line + ")";
    });
    out.push("[", lines.join(",\n"), "]");
  }
  const fks: string[] = [];
  const keptNames = new Set(kept.map((t) => t.name.toLowerCase()));
  for (const t of kept) {
    for (const fk of t.foreignKeys) {
      if (!keptNames.has(fk.refTable.toLowerCase())) continue;
      fk.columns.forEach((c, i) => {
        const r = fk.refColumns[i];
        if (r === undefined || !columnKept(t.name, c, hints) || !columnKept(fk.refTable, r, hints)) return;
        fks.push(`${t.name}.${c}=${fk.refTable}.${r}`);
      });
    }
  }
  if (fks.length > 0) out.push("【Foreign keys】", ...fks);
  return out.join("\n");
}

/** M-Schema's example rules (XiYan's `to_mschema`, `example_num` 3). */
function mschemaExamples(values: readonly string[], type: string): string[] {
  let examples = values.slice(0, 3);
  if (examples.length === 0) return [];
  if (MSCHEMA_DATE_TYPES.has(type)) return [examples[0]];
  const longest = Math.max(...examples.map((e) => e.length));
  if (longest > 50) examples = [];
  else if (longest > 20) examples = [examples[0]];
  return examples;
}

/** A column's M-Schema comment from BIRD's description: its description, and its value description. */
function mschemaComment(rows: readonly DescriptionRow[], column: string): string {
  const r = rows.find((d) => d.original.toLowerCase() === column.toLowerCase());
  if (!r) return "";
  const text = r.description || r.name;
  return r.values ? `${text}; values: ${r.values}` : text;
}
