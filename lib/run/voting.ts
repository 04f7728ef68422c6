/**
 * Execution-guided self-consistency (`--n K`): K candidate SQLs per question are executed, grouped by their
 * result as a set of rows (what EX compares), and the largest group's first SQL is the answer. Pure, except
 * {@linkcode executeDistinct}, whose executor is injected.
 *
 * A candidate's result is its set digest, computed inside the engine's worker (`SqlEngine.digest`,
 * `result_digest.ts` `setDigest`): the same equality as EX, and no candidate row ever reaches this process.
 *
 * **The vote never sees gold.** {@linkcode vote} takes candidates whose outcome is an execution error or a
 * result digest: the type has no place for a gold result or a verdict, and the function reads only the
 * fields it declares. Verdicts against gold are attached afterwards ({@linkcode scoreCandidates}), for the
 * analysis figures of {@linkcode votingSummary} only.
 *
 * @module
 */
import type { DigestResult } from "../exec/mod.ts";
import { DIFFICULTIES } from "./run_log.ts";
import type { CandidateRecord, CandidateStatus, VotingFigures, VotingSummary } from "../types.ts";

/**
 * What executing one candidate gave: a result identified by a digest that is equal iff the two results are
 * equal as EX compares them (the same set of rows), or an error (SQL error, time limit, result too large).
 */
export type CandidateOutcome =
  | { ok: true; digest: string; rowCount?: number }
  | { ok: false; error: string; kind?: string };

/** One of a question's K samples, executed. */
export interface Candidate {
  /** The SQL extracted from the sample. */
  sql: string;
  /** Position of the sample among the K (0 = the first, what a single-answer run would score). */
  sampleIndex: number;
  outcome: CandidateOutcome;
}

export type { CandidateRecord, CandidateStatus };

/** Candidates with the same result. */
export interface VoteGroup {
  digest: string;
  /** Sample indices in the group, ascending. */
  samples: number[];
}

/** The outcome of a vote. */
export interface VoteResult {
  /** The SQL to score and write to `predict_dev.json`. */
  sql: string;
  /** Its sample index. */
  sampleIndex: number;
  /** The winning digest, null when every candidate failed. */
  digest: string | null;
  /** Groups ranked as the vote ranks them: size descending, then earliest sample. */
  groups: VoteGroup[];
  /** Every candidate, by sample index. */
  candidates: CandidateRecord[];
}

/**
 * The vote: failed candidates are out; the others are grouped by digest; the largest group wins, a tie going
 * to the group holding the earliest sample; the answer is the winning group's first SQL by sample index. When
 * every candidate failed, the answer is the first candidate.
 *
 * @param candidates the question's candidates (any order; sample indices distinct)
 * @returns the answer and each candidate's group and status
 * @throws {Error} on no candidates or a repeated sample index (a caller bug)
 */
export function vote(candidates: readonly Candidate[]): VoteResult {
  if (candidates.length === 0) throw new Error("vote: a question needs at least one candidate");
  // Copy the declared fields only: whatever else a caller's objects carry cannot reach the decision.
  const sorted = candidates
    .map(({ sql, sampleIndex, outcome }) => ({ sql, sampleIndex, outcome }))
    .sort((a, b) => a.sampleIndex - b.sampleIndex);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].sampleIndex === sorted[i - 1].sampleIndex) {
      throw new Error(`vote: sample index ${sorted[i].sampleIndex} appears twice`);
    }
  }
  const byDigest = new Map<string, number[]>();
  for (const c of sorted) {
    if (!c.outcome.ok) continue;
    const members = byDigest.get(c.outcome.digest);
    if (members) members.push(c.sampleIndex);
    else byDigest.set(c.outcome.digest, [c.sampleIndex]);
  }
  // Samples are visited in ascending order, so each group's first member is its earliest sample.
  const groups: VoteGroup[] = [...byDigest.entries()]
    .map(([digest, samples]) => ({ digest, samples }))
    .sort((a, b) => b.samples.length - a.samples.length || a.samples[0] - b.samples[0]);
  const winner = groups[0] ?? null;
  const answer = winner ? sorted.find((c) => c.sampleIndex === winner.samples[0])! : sorted[0];
  const sizeOf = new Map(groups.map((g) => [g.digest, g.samples.length]));
  const records: CandidateRecord[] = sorted.map((c) => {
    const digest = c.outcome.ok ? c.outcome.digest : null;
    const status: CandidateStatus = c.sampleIndex === answer.sampleIndex
      ? "answer"
      : digest === null
      ? "error"
      : digest === winner?.digest
      ? "agrees"
      : "outvoted";
    return {
      sample_index: c.sampleIndex,
      sql: c.sql,
      digest,
      group_size: digest === null ? 0 : sizeOf.get(digest)!,
      status,
      error: c.outcome.ok ? null : c.outcome.error,
    };
  });
  return {
    sql: answer.sql,
    sampleIndex: answer.sampleIndex,
    digest: winner?.digest ?? null,
    groups,
    candidates: records,
  };
}

/**
 * A candidate's outcome from the engine's digest of it (`SqlEngine.digest`): its set digest, equal iff EX calls
 * two results equal, or its error.
 *
 * @param result the engine's digest of the candidate's SQL
 * @returns the outcome the vote reads
 */
export function outcomeOf(result: DigestResult): CandidateOutcome {
  if (!result.ok) return { ok: false, error: result.error, kind: result.kind };
  return { ok: true, digest: result.set, rowCount: result.rowCount };
}

/**
 * Executes each distinct SQL text of a question's samples once (identical samples are common, the more so at
 * low temperature) and gives every sample its outcome. The executions start together; the pool behind
 * `execute` bounds how many run at once.
 *
 * @param samples the question's extracted SQLs with their sample indices
 * @param execute runs one SQL on the question's database (sandboxed, time-limited)
 * @returns the candidates, in the order of `samples`, and how many executions were made
 */
export async function executeDistinct(
  samples: readonly { sql: string; sampleIndex: number }[],
  execute: (sql: string) => Promise<CandidateOutcome>,
): Promise<{ candidates: Candidate[]; executions: number }> {
  const distinct = [...new Set(samples.map((s) => s.sql))];
  const outcomes = new Map<string, CandidateOutcome>();
  await Promise.all(distinct.map(async (sql) => outcomes.set(sql, await execute(sql))));
  return {
    candidates: samples.map((s) => ({
      sql: s.sql,
      sampleIndex: s.sampleIndex,
      outcome: outcomes.get(s.sql)!,
    })),
    executions: distinct.length,
  };
}

/** A candidate record with its verdict against gold, for analysis only. */
export interface ScoredCandidate extends CandidateRecord {
  /** True when its result equals gold's as EX compares them. */
  correct: boolean;
}

/**
 * Each candidate's verdict against gold, after the vote: correct iff it ran and its set digest is gold's (set
 * digests are equal iff EX calls the results equal). Never feed this back into {@linkcode vote}.
 *
 * @param candidates the vote's candidate records
 * @param goldDigest the gold result's set digest, or null when the gold SQL failed (then nothing is correct)
 * @returns the records with `correct`
 */
export function scoreCandidates(
  candidates: readonly CandidateRecord[],
  goldDigest: string | null,
): ScoredCandidate[] {
  return candidates.map((c) => ({ ...c, correct: goldDigest !== null && c.digest === goldDigest }));
}

/** What {@linkcode votingSummary} needs of one question's record. */
export interface VotingQuestion {
  difficulty: string;
  /** The scored candidates; empty when generation failed (the question then counts as wrong in all three). */
  candidates: readonly Pick<ScoredCandidate, "sample_index" | "status" | "correct">[];
}

export type { VotingFigures, VotingSummary };

const round2 = (x: number): number => Math.round(x * 100) / 100;

function figures(questions: readonly VotingQuestion[]): VotingFigures {
  const pct = (count: number) => questions.length ? round2((count / questions.length) * 100) : null;
  let majority = 0;
  let first = 0;
  let any = 0;
  for (const q of questions) {
    if (q.candidates.some((c) => c.status === "answer" && c.correct)) majority++;
    const earliest = q.candidates.reduce<VotingQuestion["candidates"][number] | null>(
      (best, c) => (best === null || c.sample_index < best.sample_index ? c : best),
      null,
    );
    if (earliest?.correct) first++;
    if (q.candidates.some((c) => c.correct)) any++;
  }
  return { majority: pct(majority), first: pct(first), any: pct(any) };
}

/**
 * `summary.json`'s `voting`: the voted answer's accuracy, the first sample's and the oracle's, overall and
 * per difficulty, as percentages with two decimals like `summarize` (lib/run/run_log.ts); the difficulty buckets
 * are the official three, then any others present, sorted.
 *
 * @param questions every question of the run, scored
 * @param n samples per question (K)
 * @returns the `voting` object
 */
export function votingSummary(questions: readonly VotingQuestion[], n: number): VotingSummary {
  const present = new Set(questions.map((q) => q.difficulty));
  const buckets = [
    ...DIFFICULTIES,
    ...[...present].filter((d) => !(DIFFICULTIES as readonly string[]).includes(d)).sort(),
  ];
  const by_difficulty: VotingSummary["by_difficulty"] = {};
  for (const d of buckets) {
    const qs = questions.filter((q) => q.difficulty === d);
    by_difficulty[d] = { total: qs.length, ...figures(qs) };
  }
  return { n, ...figures(questions), by_difficulty };
}
