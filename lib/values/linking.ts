/**
 * Schema linking without a model: the tables and columns a question and its evidence touch, recall first (a
 * column the SQL needs must never be dropped; a few extra cost only tokens).
 *
 * A column is touched when the evidence names it (`colour = 'Blue'`, `T1.height_cm`, `superhero.id`), when one
 * of the words of its name (or of its readable name in BIRD's description CSV) matches a word of the question
 * or evidence (folded, singular, a close spelling: `eyes` ↔ `eye_colour_id`, `color` ↔ `colour`), or when one of
 * its values matched. A table is touched when its name matches a word or one of its columns is touched. Then
 * the touched tables are joined: the shortest foreign-key paths between them add the tables in between (a
 * bridge like `hero_power`). Every kept table keeps its primary key and its foreign-key columns to other kept
 * tables (and what they reference). A question that touches nothing keeps the whole schema.
 *
 * @module
 */

import { columnKey, descriptionRows, identifiers, type SchemaModel } from "../prompt/mod.ts";
import { foldText, STOPWORDS, words } from "./normalize.ts";

/** Words of a column name that say nothing of what it holds. */
const GENERIC = new Set([
  "id",
  "ids",
  "no",
  "num",
  "code",
  "key",
  "type",
  "value",
  "name",
  "the",
  "of",
  "and",
  "to",
]);

/** A word in the form names are compared in: folded, a plural's `s`/`es`/`ies` dropped. */
export function stem(word: string): string {
  let w = foldText(word).replace(/[^\p{L}\p{N}]/gu, "");
  if (w.length > 4 && w.endsWith("ies")) w = w.slice(0, -3) + "y";
  else if (w.length > 4 && /(ses|xes|zes|ches|shes)$/.test(w)) w = w.slice(0, -2);
  else if (w.length > 3 && w.endsWith("s") && !w.endsWith("ss")) w = w.slice(0, -1);
  return w;
}

/** The words of an identifier: split at `_`, spaces, digits and camelCase (`eye_colour_id`, `HeightCm`). */
export function nameWords(name: string): string[] {
  return name.replace(/([a-z])([A-Z])/g, "$1 $2").split(
    /[^A-Za-z0-9\u00C0-\uFFFF]+|(?<=\D)(?=\d)|(?<=\d)(?=\D)/,
  )
    .filter(Boolean).map(stem).filter((w) => w.length > 0);
}

/** Whether two stems are the same word, allowing a close spelling (one edit in a word of 5+ letters). */
export function similarWord(a: string, b: string): boolean {
  if (a === b) return true;
  if (a.length >= 4 && b.length >= 4 && (a.startsWith(b) || b.startsWith(a))) {
    return Math.min(a.length, b.length) / Math.max(a.length, b.length) >= 0.6;
  }
  if (a.length >= 5 && b.length >= 5 && Math.abs(a.length - b.length) <= 1) {
    return editDistanceAtMostOne(a, b);
  }
  return false;
}

function editDistanceAtMostOne(a: string, b: string): boolean {
  if (a.length > b.length) [a, b] = [b, a];
  let i = 0;
  let j = 0;
  let edits = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      i++;
      j++;
      continue;
    }
    if (++edits > 1) return false;
    if (a.length === b.length) i++;
    j++;
  }
  return edits + (b.length - j) + (a.length - i) <= 1;
}

/** What the linker reads of a question. */
export interface LinkInput {
  question: string;
  evidence: string;
  /** Columns with matched values (`columnKey`s). */
  matched: Iterable<string>;
  /** The database's `database_description` folder: its readable column names are matched too. */
  descriptionDir?: string | null;
}

const readableMemo = new Map<string, Map<string, string>>();

/** A table's readable column names from its description CSV (lower-cased original → readable), memoised. */
function readableNames(dir: string, table: string): Map<string, string> {
  const key = `${dir}\0${table}`;
  let hit = readableMemo.get(key);
  if (!hit) {
    hit = new Map((descriptionRows(dir, table) ?? []).map((d) => [d.original.toLowerCase(), d.name]));
    readableMemo.set(key, hit);
  }
  return hit;
}

/**
 * The columns to show for a question (as {@linkcode columnKey}s).
 *
 * @param model the database's schema
 * @param input the question, its evidence, and the columns whose values matched
 * @returns the kept columns (every column when nothing is touched)
 */
export function linkSchema(model: SchemaModel, input: LinkInput): Set<string> {
  const text = `${input.question}\n${input.evidence}`;
  const textStems = new Set(words(text).map(stem).filter((w) => w.length > 1 && !STOPWORDS.has(w)));
  const stems = [...textStems];
  const touchesWord = (w: string) => w.length > 1 && stems.some((s) => similarWord(s, w));
  const evidenceIds = new Set(
    identifiers(input.evidence.replace(/'(?:[^']|'')*'/g, " ")).map((i) => i.toLowerCase()),
  );
  const matched = new Set(input.matched);

  const tables = model.tables;
  const byName = new Map(tables.map((t) => [t.name.toLowerCase(), t]));
  const touchedTables = new Set<string>();
  const touchedColumns = new Set<string>();
  for (const t of tables) {
    const tname = t.name.toLowerCase();
    const dir = input.descriptionDir ?? model.descriptionDir;
    const readable = dir ? readableNames(dir, t.name) : new Map<string, string>();
    if (evidenceIds.has(tname) || nameWords(t.name).some((w) => !GENERIC.has(w) && touchesWord(w))) {
      touchedTables.add(tname);
    }
    for (const c of t.columns) {
      const key = columnKey(t.name, c.name);
      const cname = c.name.toLowerCase();
      const ws = [...nameWords(c.name), ...nameWords(readable.get(cname) ?? "")].filter((w) =>
        !GENERIC.has(w)
      );
      if (
        matched.has(key) || evidenceIds.has(cname) || evidenceIds.has(`${tname}.${cname}`) ||
        ws.some(touchesWord)
      ) {
        touchedColumns.add(key);
        touchedTables.add(tname);
      }
    }
  }
  if (touchedTables.size === 0) {
    return new Set(tables.flatMap((t) => t.columns.map((c) => columnKey(t.name, c.name))));
  }

  // Join the touched tables along the shortest foreign-key paths.
  const edges = new Map<string, Set<string>>();
  const link = (a: string, b: string) => {
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a)!.add(b);
  };
  for (const t of tables) {
    for (const fk of t.foreignKeys) {
      const a = t.name.toLowerCase();
      const b = fk.refTable.toLowerCase();
      if (!byName.has(b)) continue;
      link(a, b);
      link(b, a);
    }
  }
  const kept = new Set(touchedTables);
  const list = [...touchedTables];
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      for (const t of shortestPath(edges, list[i], list[j])) kept.add(t);
    }
  }

  const keep = new Set(touchedColumns);
  for (const t of tables) {
    const tname = t.name.toLowerCase();
    if (!kept.has(tname)) continue;
    for (const c of t.columns) if (c.primaryKey) keep.add(columnKey(t.name, c.name));
    for (const fk of t.foreignKeys) {
      if (!kept.has(fk.refTable.toLowerCase())) continue;
      for (const c of fk.columns) keep.add(columnKey(t.name, c));
      for (const c of fk.refColumns) keep.add(columnKey(fk.refTable, c));
    }
    // A kept table with no key and nothing touched would show nothing: keep it whole.
    if (!t.columns.some((c) => keep.has(columnKey(t.name, c.name)))) {
      for (const c of t.columns) keep.add(columnKey(t.name, c.name));
    }
  }
  return keep;
}

/** The tables on a shortest path from `a` to `b` (both included), or none when they are not connected. */
function shortestPath(edges: Map<string, Set<string>>, a: string, b: string): string[] {
  const prev = new Map<string, string | null>([[a, null]]);
  const queue = [a];
  while (queue.length > 0) {
    const x = queue.shift()!;
    if (x === b) break;
    for (const y of edges.get(x) ?? []) {
      if (prev.has(y)) continue;
      prev.set(y, x);
      queue.push(y);
    }
  }
  if (!prev.has(b)) return [];
  const path: string[] = [];
  for (let x: string | null = b; x !== null; x = prev.get(x) ?? null) path.push(x);
  return path;
}
