/**
 * The text forms values and questions are compared in: case, accents and spacing folded away, and the compact
 * form that also drops punctuation (`Spider-Man`, `spider man` and `SPIDERMAN` are one), its character trigrams,
 * and the question's words and phrases.
 *
 * @module
 */

/**
 * Lower-case, accents stripped (NFKD, combining marks dropped), whitespace runs made one space, trimmed.
 *
 * @param text any text
 * @returns its folded form
 */
export function foldText(text: string): string {
  return text.normalize("NFKD").replace(/\p{M}+/gu, "").toLowerCase().replace(/\s+/g, " ").trim();
}

/**
 * {@link foldText} without anything but letters and digits: the form exact matches are made in.
 *
 * @param text any text
 * @returns its compact form ("" when it has no letter or digit)
 */
export function compactText(text: string): string {
  return foldText(text).replace(/[^\p{L}\p{N}]+/gu, "");
}

/**
 * The distinct character trigrams of a compact text, padded with a boundary mark at each end so short texts
 * still have some (`ab` → `^ab`, `ab$`).
 *
 * @param compact a {@link compactText}
 * @returns its trigrams
 */
export function trigrams(compact: string): string[] {
  const s = "^" + compact + "$";
  const out = new Set<string>();
  for (let i = 0; i + 3 <= s.length; i++) out.add(s.slice(i, i + 3));
  return [...out];
}

/**
 * Jaccard similarity of two trigram sets.
 *
 * @param a one set's trigrams
 * @param b the other's
 * @returns |a ∩ b| / |a ∪ b| (0 for two empty sets)
 */
export function jaccard(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 && b.length === 0) return 0;
  const set = new Set(a);
  let both = 0;
  for (const t of b) if (set.has(t)) both++;
  return both / (a.length + b.length - both);
}

/**
 * The words of a text as written (letters, digits, and inner apostrophes, hyphens or dots: `O'Brien`, `3-D`,
 * `U.S.`), in order.
 *
 * @param text any text
 * @returns its words
 */
export function words(text: string): string[] {
  return text.match(/[\p{L}\p{N}]+(?:['’.\-][\p{L}\p{N}]+)*/gu) ?? [];
}

/** Words that never make a phrase start or end: the question's grammar, not its values. */
export const STOPWORDS: ReadonlySet<string> = new Set(
  ("a an the of in on at to for from by with and or not no is are was were be been being has have had do does " +
    "did what which who whom whose when where why how many much list give show name names tell find please " +
    "among all any each every this that these those their its his her they them it as than then there refers " +
    "refer refered referred mean means equal equals count number numbers amount total percentage ratio average " +
    "between more most less least than over under above below about into per calculate indicate state identify " +
    "also only value values id ids").split(" "),
);

/**
 * The phrases of a text to look values up by: every run of 1 to `maxWords` consecutive words that neither
 * starts nor ends with a {@link STOPWORDS} word, as written (folding is the caller's), plus every quoted
 * string (`'Blue'`, `"Blue"`) whole.
 *
 * @param text a question or its evidence
 * @param maxWords longest phrase in words (default 4)
 * @returns the phrases, deduplicated, in order of first appearance
 */
export function phrases(text: string, maxWords = 4): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/'((?:[^']|'')+)'|"([^"]+)"|`([^`]+)`/g)) {
    const q = (m[1] ?? m[2] ?? m[3]).replaceAll("''", "'");
    if (q.trim()) out.add(q);
  }
  const ws = words(text);
  const stop = ws.map((w) => STOPWORDS.has(w.toLowerCase()));
  for (let i = 0; i < ws.length; i++) {
    if (stop[i]) continue;
    for (let n = 1; n <= maxWords && i + n <= ws.length; n++) {
      if (stop[i + n - 1]) continue;
      out.add(ws.slice(i, i + n).join(" "));
    }
  }
  return [...out];
}
