/**
 * Tables and text as HTML or plain text, pure: one renderer for notebook tables and reports, so a number reads
 * the same everywhere (`65.12`, `100.00`) and every value is escaped.
 *
 * @module
 */
import type pl from "nodejs-polars";

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

/**
 * Text (escaped) with a break opportunity after each `/`, `_` and `-` of a path or id, so a long one wraps between
 * its parts, never inside a word or a number (`3.5` stays whole).
 */
export function breakable(text: string): string {
  return escapeHtml(text).replace(/([/_-])(?=[^/_-])/g, "$1<wbr>");
}

/** Rows of a table: a Polars DataFrame or an array of plain objects. */
export type TableInput = pl.DataFrame | Record<string, unknown>[];

/** Options of the table renderers. */
export interface TableOptions {
  /** Rows shown at most (default 50); the rest is summarised in a line under the table. */
  maxRows?: number;
  /** Caption above the table. */
  caption?: string;
}

function toRows(
  data: TableInput,
): { columns: string[]; rows: Record<string, unknown>[]; floats: Set<string> } {
  const { columns, rows } = Array.isArray(data)
    ? { columns: [...new Set(data.flatMap((r) => Object.keys(r)))], rows: data }
    : { columns: [...data.columns], rows: data.toRecords() as Record<string, unknown>[] };
  // A column is fractional when any of its numbers is: then all its numbers get two decimals, so `100.00` sits
  // under `65.12`. (Not Polars' dtype: a frame built from JavaScript numbers is Float64 even for counts.)
  const floats = new Set(
    columns.filter((c) => rows.some((r) => typeof r[c] === "number" && !Number.isInteger(r[c]))),
  );
  return { columns, rows, floats };
}

/**
 * A number as every table shows it: integers as they are; fractional values (or any value of a float column)
 * with two decimals (`65.12`, `100.00`), except small magnitudes, which keep three significant digits so a
 * p-value or a learning rate does not read as `0.00`.
 */
export function formatNumber(v: number, float = !Number.isInteger(v)): string {
  if (!Number.isFinite(v)) return String(v);
  if (!float) return String(v);
  if (v !== 0 && Math.abs(v) < 0.01) return v.toPrecision(3);
  return v.toFixed(2);
}

function cellText(v: unknown, float = false): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return v;
  if (typeof v === "number") return formatNumber(v, float || !Number.isInteger(v));
  if (typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v);
}

/**
 * A column name as a header: a long one (`sql_error:no_such_column`) may wrap after its `:` and `_`, and nowhere
 * else: a part with a hyphen (`Soft-F1`) is kept on one line, since a browser would break after the hyphen.
 */
function headerHtml(name: string): string {
  return name.split(/(?<=[:_])(?=\w)/).map((part) =>
    part.includes("-") ? `<span style="white-space:nowrap">${escapeHtml(part)}</span>` : escapeHtml(part)
  ).join("<wbr>");
}

/** An HTML `<table>` of the rows, every value escaped; text left-aligned, numbers right-aligned and formatted. */
export function tableHtml(data: TableInput, options: TableOptions = {}): string {
  const { columns, rows, floats } = toRows(data);
  const max = options.maxRows ?? 50;
  const shown = rows.slice(0, max);
  const head = columns.map((c) => `<th>${headerHtml(c)}</th>`).join("");
  const body = shown.map((r) =>
    "<tr>" + columns.map((c) => {
      const v = r[c];
      const cls = v === null || v === undefined
        ? ' class="null"'
        : typeof v === "number" || typeof v === "bigint"
        ? ' class="num"'
        : "";
      // An id or path (no space) may wrap between its parts; prose wraps between words.
      const text = cellText(v, floats.has(c));
      return `<td${cls}>${/\s/.test(text) ? escapeHtml(text) : breakable(text)}</td>`;
    }).join("") + "</tr>"
  ).join("\n");
  const caption = options.caption ? `<caption>${escapeHtml(options.caption)}</caption>` : "";
  const more = rows.length > shown.length
    ? `<p class="t2s-more">… ${rows.length - shown.length} more rows</p>`
    : "";
  return `<table class="t2s-table">${caption}<thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>${more}`;
}

/** A plain-text table with aligned columns (cells cut at 40 characters), for terminals and logs. */
export function tableText(data: TableInput, options: TableOptions = {}): string {
  const { columns, rows, floats } = toRows(data);
  const max = options.maxRows ?? 50;
  const cut = (s: string) => {
    const one = s.replace(/\s+/g, " ");
    return one.length > 40 ? one.slice(0, 39) + "…" : one;
  };
  const cells = rows.slice(0, max).map((r) => columns.map((c) => cut(cellText(r[c], floats.has(c)))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd();
  const out = [
    ...(options.caption ? [options.caption] : []),
    line(columns),
    line(widths.map((w) => "-".repeat(w))),
    ...cells.map(line),
  ];
  if (rows.length > max) out.push(`… ${rows.length - max} more rows`);
  return out.join("\n");
}
