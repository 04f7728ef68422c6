/**
 * Looking a question's words up in a {@linkcode ValueIndex}: every phrase of the question and its evidence (runs
 * of 1–4 words not starting or ending with a stop word, and every quoted string) is compared with the indexed
 * values in their compact form (case, accents, spacing and punctuation folded away):
 *
 * - exact: the compact forms are equal (`blue` ↔ `Blue`, `spider man` ↔ `Spider-Man`, `Jose` ↔ `José `);
 * - fuzzy: character-trigram Jaccard similarity at least {@linkcode MATCH_DEFAULTS} `fuzzy` (misspellings,
 *   plural forms, `color` ↔ `colour`), found through an inverted trigram index (the most common trigrams'
 *   lists skipped when choosing candidates, every candidate then scored exactly);
 * - word: the phrase is one whole word of a longer value (`Marvel` ↔ `Marvel Comics`), scored by how much of
 *   the value it covers.
 *
 * Only values that are in the index are returned, each exactly as the database holds it: nothing is invented,
 * and a phrase like nothing in the database matches nothing.
 *
 * @module
 */

import { compactText, foldText, jaccard, phrases, trigrams, words } from "./normalize.ts";
import type { ValueIndex } from "./value_index.ts";

/** Thresholds of a match (measured on BIRD's superhero questions, see the README's table). */
export const MATCH_DEFAULTS = Object.freeze({
  /** Trigram Jaccard similarity a fuzzy match needs. */
  fuzzy: 0.55,
  /** Share of a value's compact length a whole-word match must cover. */
  wordCover: 0.3,
  /** Shortest phrase (compact characters) matched fuzzily or as a word of a value. */
  minFuzzyChars: 4,
  /** Trigram lists longer than this are not used to choose candidates (they are still scored). */
  commonTrigram: 20_000,
  /** Candidates scored per phrase. */
  candidates: 200,
});

/** One matched value. */
export interface ValueMatch {
  table: string;
  column: string;
  /** The value exactly as the database holds it. */
  value: string;
  /** 1 for an exact match, less for fuzzy and word matches. */
  score: number;
  /** The phrase of the question or evidence it matched. */
  phrase: string;
}

/** A searchable form of a {@linkcode ValueIndex}, built once per database. */
export class ValueMatcher {
  readonly #values: string[] = [];
  readonly #column: number[] = [];
  readonly #compact: string[] = [];
  readonly #columns: { table: string; column: string }[] = [];
  readonly #exact = new Map<string, number[]>();
  readonly #byWord = new Map<string, number[]>();
  readonly #postings = new Map<string, Int32Array>();

  /**
   * @param index the database's value index
   */
  constructor(index: ValueIndex) {
    for (const c of index.columns) {
      if (c.kind !== "values") continue;
      const ci = this.#columns.push({ table: c.table, column: c.column }) - 1;
      for (const v of c.values) {
        const compact = compactText(v);
        if (compact === "") continue;
        const id = this.#values.push(v) - 1;
        this.#column.push(ci);
        this.#compact.push(compact);
        push(this.#exact, compact, id);
        const ws = words(foldText(v));
        if (ws.length > 1 && ws.length <= 8) {
          for (const w of new Set(ws.map(compactText))) if (w.length >= 3) push(this.#byWord, w, id);
        }
      }
    }
    const counts = new Map<string, number>();
    const grams = this.#compact.map((c) => trigrams(c));
    for (const g of grams) for (const t of g) counts.set(t, (counts.get(t) ?? 0) + 1);
    const fill = new Map<string, number>();
    for (const [t, n] of counts) {
      this.#postings.set(t, new Int32Array(n));
      fill.set(t, 0);
    }
    grams.forEach((g, id) => {
      for (const t of g) {
        const at = fill.get(t)!;
        this.#postings.get(t)![at] = id;
        fill.set(t, at + 1);
      }
    });
  }

  /** Values indexed. */
  get size(): number {
    return this.#values.length;
  }

  /**
   * The values matching the phrases of `texts`, best first: at most `perColumn` per column, each value once
   * (its best match).
   *
   * @param texts the question and its evidence
   * @param options `perColumn` (default 3) and thresholds (default {@linkcode MATCH_DEFAULTS})
   * @returns the matches
   */
  match(
    texts: readonly string[],
    options: { perColumn?: number } & Partial<typeof MATCH_DEFAULTS> = {},
  ): ValueMatch[] {
    const o = { ...MATCH_DEFAULTS, ...options };
    const perColumn = options.perColumn ?? 3;
    const best = new Map<number, { score: number; phrase: string }>();
    const note = (id: number, score: number, phrase: string) => {
      const had = best.get(id);
      if (!had || score > had.score) best.set(id, { score, phrase });
    };
    const seen = new Set<string>();
    for (const text of texts) {
      for (const phrase of phrases(text)) {
        const compact = compactText(phrase);
        if (compact === "" || seen.has(compact)) continue;
        seen.add(compact);
        for (const id of this.#exact.get(compact) ?? []) note(id, 1, phrase);
        if (compact.length < o.minFuzzyChars || /^\p{N}+$/u.test(compact)) continue;
        this.#fuzzy(compact, o, (id, s) => note(id, s, phrase));
        for (const id of this.#byWord.get(compact) ?? []) {
          const cover = compact.length / this.#compact[id].length;
          if (cover >= o.wordCover) note(id, 0.5 * cover + 0.3, phrase);
        }
      }
    }
    const byColumn = new Map<number, { id: number; score: number; phrase: string }[]>();
    for (const [id, m] of best) push(byColumn, this.#column[id], { id, ...m });
    const out: ValueMatch[] = [];
    for (const [ci, list] of byColumn) {
      list.sort((a, b) => b.score - a.score || a.id - b.id);
      for (const m of list.slice(0, perColumn)) {
        out.push({
          ...this.#columns[ci],
          value: this.#values[m.id],
          score: round3(m.score),
          phrase: m.phrase,
        });
      }
    }
    return out.sort((a, b) =>
      b.score - a.score || a.table.localeCompare(b.table) || a.column.localeCompare(b.column)
    );
  }

  #fuzzy(compact: string, o: typeof MATCH_DEFAULTS, found: (id: number, score: number) => void): void {
    const grams = trigrams(compact);
    const hits = new Map<number, number>();
    let used = 0;
    for (const t of grams) {
      const list = this.#postings.get(t);
      if (list && list.length > o.commonTrigram) continue;
      used++;
      if (!list) continue;
      for (const id of list) hits.set(id, (hits.get(id) ?? 0) + 1);
    }
    // Jaccard >= f needs at least f·|grams| shared trigrams; of the lists used, at least f·used (a value may
    // share the skipped common ones too).
    const need = Math.max(1, Math.floor(o.fuzzy * used) - (grams.length - used));
    const candidates = [...hits].filter(([, n]) => n >= need).sort((a, b) => b[1] - a[1])
      .slice(0, o.candidates);
    for (const [id] of candidates) {
      const s = jaccard(grams, trigrams(this.#compact[id]));
      if (s >= o.fuzzy && s < 1) found(id, 0.9 * s);
    }
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
