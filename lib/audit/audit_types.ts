/**
 * The audit's vocabulary: the flag kinds and their severities, one `audit.jsonl` line, the summary, the
 * placeholders BIRD data uses for "unknown", and the default set of kinds training leaves out.
 *
 * @module
 */

/** Every kind of flag, in the order the summary and the page show them. */
export const FLAG_KINDS = [
  "error",
  "timeout",
  "slow",
  "empty",
  "all_null",
  "tie",
  "unordered_limit",
  "literal_not_in_data",
  "evidence_mismatch",
  "shape",
  "duplicate",
  "version_sensitive",
] as const;

/** A kind of flag. */
export type FlagKind = typeof FLAG_KINDS[number];

/** `error`: the gold is wrong or not the only right answer; `suspect`: a heuristic a person should look at. */
export type Severity = "error" | "suspect";

/** One finding about a gold query, with its evidence. */
export interface Flag {
  kind: FlagKind;
  severity: Severity;
  /** Why, in one or two sentences a person can check. */
  detail: string;
  /** Rows that show it (the tied rows, the near matches), JSON-safe display values. */
  rows?: unknown[][];
  /** `tie`: the other equally right results, each a list of rows of canonical cell keys (`exec` row keys:
   * `z` NULL, `n…` number, `s…` text, `b…` hex blob), for a reward that accepts any of them. */
  alternatives?: string[][][];
}

/** The gold result as the audit saw it (for the review page and the reward's alternatives). */
export interface GoldSeen {
  ok: boolean;
  columns?: string[];
  rowCount?: number;
  distinctRows?: number;
  /** The first rows as returned (display values). */
  sample?: unknown[][];
  /** The distinct rows as canonical cell keys, when there are at most {@linkcode KEEP_ROWS} of them. */
  rows?: string[][];
  /** A key equal for two results iff EX calls them equal (set of distinct rows). */
  set?: string;
  ms?: number;
  error?: string;
}

/** Distinct gold rows kept in `audit.jsonl` for the page (beyond this only the sample is kept). */
export const KEEP_ROWS = 20;

/** One line of `audit.jsonl`. */
export interface AuditRecord {
  index: number;
  question_id: number | null;
  db_id: string;
  flags: Flag[];
  /** What the audit executed (kept for the page; not part of the contract). */
  gold?: GoldSeen;
}

/** Text values that stand for "unknown" in BIRD data: they count as NULL for `empty` and `all_null`. */
export const PLACEHOLDERS: readonly string[] = ["-", "", "None", "N/A"];

/** The default `slow` threshold, milliseconds: a sixth of the official 30 s limit, and slower than any dev gold
 * query on the bundled superhero database by two orders of magnitude. */
export const DEFAULT_SLOW_MS = 5000;

/**
 * What `sft`, `cot` and `sft --format grpo` leave out by default. A kind alone means any severity; `kind:error`
 * only its severe flags. In: gold that fails or cannot finish (`error`, `timeout`), answers nothing (`empty`,
 * `all_null`), is an arbitrary pick (`unordered_limit`), disagrees with another gold of the same question
 * (`duplicate`), or compares with a value whose right spelling is in the data (`literal_not_in_data:error`).
 * Out: `tie` (the gold SQL is one right answer: a fine SFT target, and the GRPO reward accepts every tied
 * answer), `slow` (right, only slow), and the heuristics (`evidence_mismatch`, `shape`, `version_sensitive`),
 * flagged for a person to read, never dropped silently.
 */
export const DEFAULT_EXCLUDE: readonly string[] = [
  "error",
  "timeout",
  "empty",
  "all_null",
  "unordered_limit",
  "duplicate",
  "literal_not_in_data:error",
];

/** File names of an audit folder. */
export const AUDIT_FILES = {
  info: "audit.json",
  log: "audit.jsonl",
  summary: "summary.json",
  page: "audit.html",
} as const;

/** `audit.json`: what was audited, so a resumed audit and a dataset build can check they read the same. */
export interface AuditInfo {
  dataset: { path: string; sha256: string; count: number };
  db_root: string;
  selection: { db: string[] };
  engine: { dialect: string; version: string; semantics: string };
  timeout_s: number;
  slow_ms: number;
  /** Audit semantics version: bump when a detector changes, and old folders are refused on resume. */
  version: number;
}

/** Bump when a detector's rules change (a folder audited under other rules is not resumed). */
export const AUDIT_VERSION = 1;

/** `summary.json`. */
export interface AuditSummary {
  questions: number;
  clean: number;
  /** Questions with at least one severe flag. */
  severe: number;
  /** Flags by kind and severity. */
  by_kind: Record<string, { error: number; suspect: number }>;
  /** Flagged questions by database. */
  by_db: Record<string, { questions: number; flagged: number; severe: number }>;
  seconds: number;
}

/** True when a flag is left out by an exclude list (`kind` or `kind:error`). */
export function excludedBy(flag: Pick<Flag, "kind" | "severity">, exclude: readonly string[]): boolean {
  return exclude.some((e) => {
    const [kind, sev] = e.split(":");
    return kind === flag.kind && (sev === undefined || sev === flag.severity);
  });
}

/** Parse an `--exclude` value: comma-separated kinds (`kind` or `kind:error|suspect`), `none` or `default`. */
export function parseExclude(text: string | undefined): string[] {
  if (text === undefined || text.trim() === "default") return [...DEFAULT_EXCLUDE];
  if (text.trim() === "none") return [];
  const out: string[] = [];
  for (const raw of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    if (raw === "default") {
      out.push(...DEFAULT_EXCLUDE);
      continue;
    }
    const [kind, sev, more] = raw.split(":");
    if (
      !FLAG_KINDS.includes(kind as FlagKind) || more !== undefined ||
      (sev && sev !== "error" && sev !== "suspect")
    ) {
      throw new Error(
        `--exclude: unknown ${JSON.stringify(raw)}: use kinds of ${
          FLAG_KINDS.join(", ")
        }, optionally :error or :suspect, or none`,
      );
    }
    out.push(raw);
  }
  return [...new Set(out)];
}
