/**
 * One question's audit: its gold query executed through the sandboxed engine, then only what its text calls
 * for (the rows at a `LIMIT` cut, a literal's column, a `ROUND` nudged), each run through the same engine and
 * limits. Returns the flags with their evidence and the gold result as seen; `duplicate` needs every question
 * and is decided afterwards (`audit.ts`).
 *
 * @module
 */
import type { CatalogTable, ExecOk, ExecResult, SqlEngine } from "../exec/mod.ts";
import { sha256Hex } from "../util/mod.ts";
import type { Example } from "../types.ts";
import { type Flag, type GoldSeen, KEEP_ROWS, PLACEHOLDERS } from "./audit_types.ts";
import { evidenceFlags, shapeFlags } from "./question_rules.ts";
import {
  type LimitSite,
  limitSites,
  literalComparisons,
  roundNudged,
  tableRefs,
  versionConstructs,
} from "./sql_analysis.ts";
import { quoteName, quoteString } from "./sql_tokens.ts";

/** Rows the engine must return as its positional sample (`PoolOptions.sampleRows`) for the tie check. */
export const AUDIT_SAMPLE_ROWS = 128;
/** Rows fetched past a `LIMIT` cut to find the rows tied with the last one kept. */
const TIE_WINDOW = 64;
/** Most alternative results enumerated for a tie (beyond, the flag says how many tied rows there are). */
const MAX_ALTERNATIVES = 128;

/** What one question's audit needs. */
export interface QuestionContext {
  engine: SqlEngine;
  /** The question's database as the engine addresses it. */
  target: string;
  /** Its tables, from the engine's catalog. */
  catalog: readonly CatalogTable[];
  timeoutS: number;
  slowMs: number;
}

/** A question's flags (without `duplicate`) and its gold result as seen. */
export interface QuestionAudit {
  flags: Flag[];
  gold: GoldSeen;
}

const PLACEHOLDER_KEYS = new Set(["z", ...PLACEHOLDERS.map((p) => "s" + p)]);

/** The set key of distinct rows: equal iff EX calls two results equal (two empty results are equal). */
export function setKeyOf(rows: readonly string[][]): string {
  if (!rows.length) return "empty";
  return sha256Hex(rows.map((r) => JSON.stringify(r)).sort().join("\n")).slice(0, 32);
}

/** A display value (the worker's sample) as a canonical cell key, or null when it was cut for display. */
export function keyOfDisplay(v: unknown): string | null {
  if (v === null) return "z";
  if (typeof v === "number") return Number.isInteger(v) ? "n" + BigInt(v).toString() : "n" + v.toString();
  if (typeof v === "string") return v.endsWith("…") && v.length > 2000 ? null : "s" + v;
  if (typeof v === "object") {
    const o = v as Record<string, string>;
    if ("int" in o) return "n" + o.int;
    if ("real" in o) return "n" + o.real;
    if ("py" in o) return "p" + o.py;
  }
  return null;
}

const sameKeys = (a: readonly unknown[], b: readonly unknown[]) => JSON.stringify(a) === JSON.stringify(b);

/** k-combinations of `items`, at most `max` of them (null when there would be more). */
function combinations<T>(items: readonly T[], k: number, max: number): T[][] | null {
  const out: T[][] = [];
  const pick: T[] = [];
  let over = false;
  const rec = (start: number) => {
    if (over) return;
    if (pick.length === k) {
      out.push([...pick]);
      if (out.length > max) over = true;
      return;
    }
    for (let i = start; i < items.length; i++) {
      pick.push(items[i]);
      rec(i + 1);
      pick.pop();
    }
  };
  rec(0);
  return over ? null : out;
}

const failed = (r: ExecResult): r is Exclude<ExecResult, ExecOk> => !r.ok;

/** The tie check of an ordered `LIMIT` site: a flag when another equally ranked choice gives another result. */
async function tieFlag(ctx: QuestionContext, site: LimitSite, gold: GoldRun): Promise<Flag | null> {
  if (!site.tieQuery || site.offset + site.k + TIE_WINDOW > AUDIT_SAMPLE_ROWS) return null;
  const r = await ctx.engine.execute(ctx.target, site.tieQuery(TIE_WINDOW), { timeoutS: ctx.timeoutS });
  if (failed(r)) return null; // a correlated subquery cannot run alone: not checked
  const width = r.columns.length - site.keys;
  let rows = r.sample.map((row) => ({ proj: row.slice(0, width), key: row.slice(width) }));
  if (site.distinct) {
    const seen = new Set<string>();
    rows = rows.filter((x) =>
      !seen.has(JSON.stringify(x.proj)) && seen.add(JSON.stringify(x.proj)) !== undefined
    );
  }
  const cut = site.offset + site.k - 1;
  if (rows.length <= cut + 1 || !sameKeys(rows[cut].key, rows[cut + 1].key)) return null;
  const group: number[] = [];
  rows.forEach((x, i) => sameKeys(x.key, rows[cut].key) && group.push(i));
  const window = new Set(Array.from({ length: site.k }, (_, i) => site.offset + i));
  const fixed = [...window].filter((i) => i < rows.length && !group.includes(i));
  const need = group.filter((i) => window.has(i)).length;
  const truncated = group[group.length - 1] === rows.length - 1 &&
    r.rowCount >= site.offset + site.k + TIE_WINDOW;
  const tied = group.map((i) => [...rows[i].proj, ...rows[i].key]);
  const countText = `${truncated ? "at least " : ""}${group.length} rows tie`;
  const where = site.top ? "the gold's" : "a subquery's";
  // The distinct results another tie order could give (projected rows only).
  const combos = combinations(group, need, MAX_ALTERNATIVES);
  if (site.top) {
    if (!combos) {
      return {
        kind: "tie",
        severity: "error",
        detail: `${countText} on the sort key at ${where} LIMIT ${site.k} cut; too many choices to list`,
        rows: tied.slice(0, 10),
      };
    }
    const results = new Map<string, string[][]>();
    for (const c of combos) {
      const keyed = [...fixed, ...c].map((i) => rows[i].proj.map(keyOfDisplay));
      if (keyed.some((row) => row.some((k) => k === null))) return null; // a cut display value: cannot tell
      const distinct = [...new Map(keyed.map((row) => [JSON.stringify(row), row as string[]])).values()];
      results.set(setKeyOf(distinct), distinct);
    }
    if (results.size < 2) return null; // tied rows that read the same: one answer
    return {
      kind: "tie",
      severity: "error",
      detail:
        `${countText} on the sort key at ${where} LIMIT ${site.k} cut: ${results.size} different results ` +
        `are equally right`,
      rows: tied.slice(0, 10),
      alternatives: [...results.values()],
    };
  }
  // A subquery: the whole gold with that subquery taking each tied row in turn (LIMIT 1 only).
  if (site.k !== 1 || group.length > 10) {
    return {
      kind: "tie",
      severity: "suspect",
      detail: `${countText} at ${where} LIMIT ${site.k} cut (${
        site.text.slice(0, 120)
      }); the outer answer may change`,
      rows: tied.slice(0, 10),
    };
  }
  const goldRows = await rowsOf(ctx, gold);
  if (!goldRows) return null;
  const results = new Map<string, string[][]>([[setKeyOf(goldRows), goldRows]]);
  for (const j of group) {
    const alt = await ctx.engine.execute(ctx.target, site.withOffset(j), { timeoutS: ctx.timeoutS });
    if (alt.ok && alt.rows.length <= 1000) results.set(setKeyOf(alt.rows), alt.rows);
  }
  if (results.size < 2) return null;
  return {
    kind: "tie",
    severity: "error",
    detail: `${countText} at ${where} LIMIT 1 (${site.text.slice(0, 120)}): taking another of them gives ` +
      `${results.size - 1} other result(s)`,
    rows: tied.slice(0, 10),
    alternatives: [...results.values()],
  };
}

/** The unordered `LIMIT` check: a flag when rows past the cut differ from the rows kept. */
async function unorderedFlag(ctx: QuestionContext, site: LimitSite): Promise<Flag | null> {
  if (site.k + site.offset + 1 > AUDIT_SAMPLE_ROWS) return null;
  const r = await ctx.engine.execute(ctx.target, site.plusOne, { timeoutS: ctx.timeoutS });
  if (failed(r) || r.rowCount <= site.k) return null;
  const keyOf = (row: unknown[]) => JSON.stringify(row);
  const kept = new Set(r.sample.slice(0, site.k).map(keyOf));
  const past = r.sample.slice(site.k).filter((row) => !kept.has(keyOf(row)));
  if (!past.length) return null;
  return {
    kind: "unordered_limit",
    severity: "error",
    detail:
      `${site.top ? "the gold's" : "a subquery's"} LIMIT ${site.k} has no ORDER BY and more rows qualify: ` +
      `which are kept depends on row order (${site.text.slice(0, 120)})`,
    rows: r.sample.slice(0, site.k + 1),
  };
}

/** The literal check: values compared with a column that the column never holds. */
async function literalFlags(ctx: QuestionContext, sql: string): Promise<Flag[]> {
  const comparisons = literalComparisons(sql);
  if (!comparisons.length) return [];
  const { tables, aliases } = tableRefs(sql);
  const byName = new Map(ctx.catalog.map((t) => [t.name.toLowerCase(), t]));
  const checks: {
    table: string;
    column: string;
    op: string;
    literal: string;
    value: string;
    text: string;
  }[] = [];
  for (const c of comparisons) {
    let table: string | null | undefined;
    if (c.qualifier) table = aliases.get(c.qualifier.toLowerCase());
    else {
      const having = tables.filter((t) =>
        byName.get(t.toLowerCase())?.columns.some((x) => x.name.toLowerCase() === c.column.toLowerCase())
      );
      table = having.length === 1 ? having[0] : null;
    }
    const t = table ? byName.get(table.toLowerCase()) : undefined;
    const col = t?.columns.find((x) => x.name.toLowerCase() === c.column.toLowerCase());
    if (!t || !col) continue;
    c.literals.forEach((literal, i) =>
      checks.push({
        table: t.name,
        column: col.name,
        op: c.op === "IN" ? "=" : c.op,
        literal,
        value: c.values[i],
        text: c.text,
      })
    );
  }
  if (!checks.length) return [];
  const exists = checks.map((c) =>
    `EXISTS (SELECT 1 FROM ${quoteName(c.table)} WHERE ${quoteName(c.column)} ${c.op} ${c.literal})`
  );
  const r = await ctx.engine.execute(ctx.target, `SELECT ${exists.join(", ")}`, { timeoutS: ctx.timeoutS });
  if (failed(r)) return [];
  const found = r.sample[0] ?? [];
  const missing = checks.filter((_, i) => found[i] === 0);
  if (!missing.length) return [];
  // Near matches: the same value up to case and surrounding spaces (what `gender = 'male'` vs `Male` needs).
  const near = missing.map((c) => {
    const col = quoteName(c.column);
    const cond = c.op === "LIKE"
      ? `trim(CAST(${col} AS TEXT)) LIKE trim(CAST(${c.literal} AS TEXT))`
      : `lower(trim(CAST(${col} AS TEXT))) = lower(trim(CAST(${c.literal} AS TEXT)))`;
    return `(SELECT ${col} FROM ${quoteName(c.table)} WHERE ${cond} LIMIT 1)`;
  });
  const n = await ctx.engine.execute(ctx.target, `SELECT ${near.join(", ")}`, { timeoutS: ctx.timeoutS });
  const nearRow = n.ok ? n.sample[0] ?? [] : [];
  return missing.map((c, i) => {
    const hit = nearRow[i];
    const has = hit !== null && hit !== undefined;
    return {
      kind: "literal_not_in_data" as const,
      severity: has ? "error" as const : "suspect" as const,
      detail:
        `${c.table}.${c.column} holds no value ${
          c.op === "LIKE" ? "LIKE" : "="
        } ${c.literal} (in ${c.text})` +
        (has ? `; it holds ${quoteString(String(hit))}` : ""),
      ...(has ? { rows: [[hit]] } : {}),
    };
  });
}

/** Text cells that read as a non-integer number: what a REAL written as TEXT looks like. */
const textNumber = (rows: readonly string[][]) =>
  rows.some((r) =>
    r.some((k) => k.startsWith("s") && /^-?\d*\.\d+(e[+-]?\d+)?$|^-?\d+(\.\d+)?e[+-]?\d+$/i.test(k.slice(1)))
  );

/** The gold as first run: digested in the worker like an evaluation's gold pass, so no big result crosses the
 * pipe; its distinct rows are known when the positional sample holds the whole result. */
interface GoldRun {
  sql: string;
  columns: string[];
  rowCount: number;
  distinctRows: number;
  sample: unknown[][];
  execMs: number;
  /** Distinct rows as canonical cell keys, or null when the sample does not hold them all (read on demand). */
  rows: string[][] | null;
}

/** Distinct rows from a positional sample that holds the whole result, or null. */
function rowsFromSample(sample: readonly unknown[][], rowCount: number): string[][] | null {
  if (sample.length < rowCount) return null;
  const out = new Map<string, string[]>();
  for (const row of sample) {
    const keys = row.map(keyOfDisplay);
    if (keys.some((k) => k === null)) return null;
    out.set(JSON.stringify(keys), keys as string[]);
  }
  return [...out.values()];
}

/** The gold's distinct rows: from the sample when it holds them, else executed again (rare: big results only). */
async function rowsOf(ctx: QuestionContext, gold: GoldRun): Promise<string[][] | null> {
  if (gold.rows) return gold.rows;
  const r = await ctx.engine.execute(ctx.target, gold.sql, { timeoutS: ctx.timeoutS });
  return r.ok ? (gold.rows = r.rows) : null;
}

/** The set key of a gold result when the audit record lacks it (a big result, read only for `duplicate`). */
export async function setKeyByExecution(
  ctx: Pick<QuestionContext, "engine" | "target" | "timeoutS">,
  sql: string,
) {
  const r = await ctx.engine.execute(ctx.target, sql, { timeoutS: ctx.timeoutS });
  return r.ok ? setKeyOf(r.rows) : `failed:${r.kind}: ${r.error}`;
}

/** Audit one question (everything but `duplicate`). Never throws for bad SQL. */
export async function auditQuestion(ctx: QuestionContext, example: Example): Promise<QuestionAudit> {
  const sql = example.sql;
  const flags: Flag[] = [];
  const run = (await ctx.engine.score(ctx.target, sql, { gold: null, timeoutS: ctx.timeoutS })).pred;
  if (!run.ok) {
    const r = run;
    if (r.kind === "timeout") {
      flags.push({ kind: "timeout", severity: "error", detail: `the gold runs past ${ctx.timeoutS} s` });
    } else if (r.kind === "error") {
      flags.push({ kind: "error", severity: "error", detail: r.error });
    }
    // too_large: the gold is not at fault, only too big to read back; its shape comes from a scoring run.
    flags.push(...evidenceFlags(example.evidence, { sql, catalog: ctx.catalog }));
    flags.push(...versionConstructs(sql).filter((v) => v.when === "static").map(versionFlag));
    return { flags, gold: { ok: false, error: `${r.kind}: ${r.error}`, ms: Math.round(r.execMs ?? r.ms) } };
  }
  const r: GoldRun = {
    sql,
    columns: run.columns,
    rowCount: run.rowCount,
    distinctRows: run.distinctRows,
    sample: run.sample,
    execMs: run.execMs,
    rows: rowsFromSample(run.sample, run.rowCount),
  };
  const set = r.rows ? setKeyOf(r.rows) : undefined;
  const gold: GoldSeen = {
    ok: true,
    columns: r.columns,
    rowCount: r.rowCount,
    distinctRows: r.distinctRows,
    sample: r.sample.slice(0, 10),
    ...(r.rows && r.rows.length <= KEEP_ROWS ? { rows: r.rows } : {}),
    ...(set ? { set } : {}),
    ms: Math.round(r.execMs),
  };
  // Distinct rows as far as the sample shows them (all of them when `rows` is known).
  const seenRows = r.rows ?? [...new Map(r.sample.map((row) => {
    const k = row.map((v) => keyOfDisplay(v) ?? "?");
    return [JSON.stringify(k), k];
  })).values()];
  if (r.execMs > ctx.slowMs) {
    flags.push({
      kind: "slow",
      severity: "suspect",
      detail: `the gold takes ${(r.execMs / 1000).toFixed(1)} s (threshold ${
        (ctx.slowMs / 1000).toFixed(1)
      } s)`,
    });
  }
  if (r.rowCount === 0) flags.push({ kind: "empty", severity: "error", detail: "the gold returns no row" });
  else if (
    seenRows.length === r.distinctRows && seenRows.every((row) => row.every((k) => PLACEHOLDER_KEYS.has(k)))
  ) {
    flags.push({
      kind: "all_null",
      severity: "error",
      detail: `the gold returns ${r.rowCount} row(s) of only NULL or placeholder values (${
        [...new Set(seenRows.flat())].map((k) => (k === "z" ? "NULL" : quoteString(k.slice(1)))).join(", ")
      })`,
    });
  }
  const sites = limitSites(sql);
  const follow: Promise<Flag | Flag[] | null>[] = [];
  for (const site of sites) follow.push(site.ordered ? tieFlag(ctx, site, r) : unorderedFlag(ctx, site));
  follow.push(literalFlags(ctx, sql));
  const nudged = roundNudged(sql);
  if (nudged) {
    follow.push(
      ctx.engine.execute(ctx.target, nudged, { timeoutS: ctx.timeoutS }).then(async (n) =>
        n.ok && (await rowsOf(ctx, r)) !== null && setKeyOf(n.rows) !== setKeyOf(r.rows!)
          ? {
            kind: "version_sensitive" as const,
            severity: "suspect" as const,
            detail:
              "ROUND of a value a hair below a halfway point: SQLite 3.40 and 3.43+ round it differently " +
              "(ROUND(1.005, 2): 1.01 vs 1.0); the result changes when the value is nudged by 1e-12",
          }
          : null
      ),
    );
  }
  for (const f of await Promise.all(follow)) if (f) flags.push(...(Array.isArray(f) ? f : [f]));
  for (const v of versionConstructs(sql)) {
    if (v.when === "static" || textNumber(seenRows)) flags.push(versionFlag(v));
  }
  flags.push(...evidenceFlags(example.evidence, { sql, catalog: ctx.catalog }));
  flags.push(
    ...shapeFlags(example.question, { columns: r.columns, distinctRows: r.distinctRows, sample: r.sample }),
  );
  return { flags, gold };
}

const versionFlag = (v: { what: string }): Flag => ({
  kind: "version_sensitive",
  severity: "suspect",
  detail: v.what,
});
