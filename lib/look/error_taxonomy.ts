/**
 * The error taxonomy: each question's verdict refined by why it failed (SQLite's message for an error, how the
 * predicted result differs from gold for a wrong one). Pure, no Polars.
 *
 * @module
 */
import type { ResultRecord } from "../types.ts";

/** The verdict kinds of {@link errorTaxonomy}, in display order (best first). */
export const ERROR_KINDS = [
  "correct",
  "wrong:values",
  "wrong:row_count",
  "wrong:column_count",
  "wrong:empty_result",
  "sql_error:no_such_column",
  "sql_error:no_such_table",
  "sql_error:syntax",
  "sql_error:other",
  "timeout",
  "generation_error",
  "gold_error",
] as const;

/** A question's verdict refined by why it failed. */
export type ErrorKind = typeof ERROR_KINDS[number];

/**
 * Classifies a record's verdict. Pure. SQL errors by their SQLite message; wrong results by how the predicted
 * result differs from the gold one: empty, column count, distinct row count (EX compares sets), else values.
 */
export function errorTaxonomy(record: Pick<ResultRecord, "status" | "error" | "pred" | "gold">): ErrorKind {
  switch (record.status) {
    case "correct":
    case "timeout":
    case "gold_error":
    case "generation_error":
      return record.status;
    case "pred_error": {
      const msg = record.error ?? "";
      // An engine may report a killed query as a pred_error with the reason rather than as `timeout`.
      if (/timed? ?out|interrupted/i.test(msg)) return "timeout";
      if (/no such column/i.test(msg)) return "sql_error:no_such_column";
      if (/no such table/i.test(msg)) return "sql_error:no_such_table";
      if (/syntax error|incomplete input|unrecognized token|unterminated/i.test(msg)) {
        return "sql_error:syntax";
      }
      return "sql_error:other";
    }
    case "wrong": {
      const { pred, gold } = record;
      if (!pred || !gold) return "wrong:values";
      if (pred.rows === 0 && gold.rows > 0) return "wrong:empty_result";
      if (pred.columns.length !== gold.columns.length) return "wrong:column_count";
      if (pred.distinct_rows !== gold.distinct_rows) return "wrong:row_count";
      return "wrong:values";
    }
    default:
      return "sql_error:other";
  }
}
