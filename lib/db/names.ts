/**
 * Identifiers in the loaded databases, as the official mini-dev gold SQL expects them.
 *
 * PostgreSQL: a name that needs no quoting (`^[A-Za-z_][A-Za-z0-9_$]*$`) is lower-cased (`CustomerID` →
 * `customerid`, so the gold's unquoted `customerid` and `CustomerID` both find it); any other name keeps its case
 * and is quoted (`"Enrollment (K-12)"`, `"aCL IgA"`, as the gold writes them). This is the rule of the official
 * dump (pgloader's `downcase identifiers`). MySQL: names keep their case; the gold uses backticks.
 *
 * @module
 */

/** The target dialects of the loader. */
export type LoadDialect = "postgresql" | "mysql";

/** A table or column name as it is created in `dialect`. */
export function targetName(original: string, dialect: LoadDialect): string {
  if (dialect === "mysql") return original;
  return /^[A-Za-z_][A-Za-z0-9_$]*$/.test(original) ? original.toLowerCase() : original;
}

/** `name` quoted for `dialect` (`"x"` with `""`, or `` `x` `` with ``` `` ```). */
export function quoteIdent(name: string, dialect: LoadDialect): string {
  return dialect === "mysql" ? `\`${name.replaceAll("`", "``")}\`` : `"${name.replaceAll('"', '""')}"`;
}

/** A string literal: `'…'` with `''` (no backslash escapes in either dialect's use here). */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
