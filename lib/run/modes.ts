/**
 * The evaluation modes as values: single answer, self-consistency over K samples (`--n K`), and the agent
 * (`--agent [--max-turns T]`). Which mode the flags ask for, the `mode` a run folder records (so a run never
 * resumes a folder of another mode), and the generate-stage steps of the two new modes with their
 * dependencies injected: what a question's record gains in each.
 *
 * @module
 */
import type { AgentRun, AgentStop, TrajectoryStep } from "./agent.ts";
import { DEFAULT_MAX_TURNS } from "./agent.ts";
import { DEFAULT_TOOL_ROWS } from "../prompt/mod.ts";
import { samplingWarning } from "../model/mod.ts";
import { extractSql } from "../model/mod.ts";
import type { RunMode } from "../types.ts";
import { type CandidateOutcome, type CandidateRecord, executeDistinct, vote } from "./voting.ts";

export type { RunMode };

/** Flags that choose a mode contradict each other or are out of range. One line. */
export class ModeError extends Error {
  override name = "ModeError";
}

/** The mode flags of `deno task eval` (and notebook 02's Parameters). */
export interface ModeFlags {
  /** Samples per question; K > 1 is self-consistency. */
  n?: number;
  agent?: boolean;
  maxTurns?: number;
  temperature?: number;
}

/**
 * The mode the flags ask for, and warnings worth printing (K samples at temperature 0 are identical).
 *
 * @param flags `--n`, `--agent`, `--max-turns`, `--temperature`
 * @throws {ModeError} on `--agent` with `--n` > 1, `--max-turns` without `--agent`, or a bad number
 */
export function resolveMode(flags: ModeFlags): { mode: RunMode; warnings: string[] } {
  const n = flags.n ?? 1;
  if (!Number.isInteger(n) || n < 1) throw new ModeError(`--n must be a positive integer, got ${flags.n}`);
  if (flags.maxTurns !== undefined && !flags.agent) throw new ModeError("--max-turns needs --agent");
  if (flags.agent) {
    if (n > 1) throw new ModeError("--agent and --n > 1 are separate modes: choose one");
    const maxTurns = flags.maxTurns ?? DEFAULT_MAX_TURNS;
    if (!Number.isInteger(maxTurns) || maxTurns < 1) {
      throw new ModeError(`--max-turns must be a positive integer, got ${flags.maxTurns}`);
    }
    return { mode: { name: "agent", max_turns: maxTurns, tool_rows: DEFAULT_TOOL_ROWS }, warnings: [] };
  }
  if (n === 1) return { mode: { name: "single" }, warnings: [] };
  const warning = samplingWarning(n, flags.temperature ?? 0);
  return { mode: { name: "voting", n }, warnings: warning ? [warning] : [] };
}

/** A mode in words, for messages: `single answer`, `voting over 8 samples`, `agent (at most 8 turns)`. */
export function describeMode(mode: RunMode): string {
  switch (mode.name) {
    case "single":
      return "single answer";
    case "voting":
      return `voting over ${mode.n} samples`;
    case "agent":
      return `agent (at most ${mode.max_turns} turns, ${mode.tool_rows} rows per result)`;
  }
}

/**
 * Why a folder cannot be resumed in this mode, or null when it can. A folder from before modes existed (no
 * `mode` in its run.json) holds a single-answer run.
 *
 * @param inFolder the folder's recorded mode, if any
 * @param now the mode asked for
 */
export function modeMismatch(inFolder: RunMode | undefined | null, now: RunMode): string | null {
  const was = inFolder ?? { name: "single" };
  if (JSON.stringify(was) === JSON.stringify(now)) return null;
  return `the folder holds a run in mode ${describeMode(was)}, this run is ${describeMode(now)}: ` +
    "give another --out (modes are compared side by side, never mixed in one folder)";
}

/** What a voting question's record gains (beside `completion`, the answer's text, and `sql`, the answer). */
export interface VotingFields {
  /** The K raw samples, by sample index. */
  completions: string[];
  /** Every candidate with its digest, group size and status; `correct` is added when scored. */
  candidates: CandidateRecord[];
  /** The sample whose SQL is the answer. */
  answer_sample: number;
  /** Executions made for the vote (distinct SQL texts). */
  executions: number;
}

/**
 * The voting step of one question: the SQL of each sample extracted as in single-answer mode, each distinct
 * text executed once, the vote taken. Gold is not among the inputs.
 *
 * @param completions the question's K samples, by sample index
 * @param execute runs one SQL on the question's database and gives its outcome (digest or error)
 * @returns the answer SQL, its sample's text, and the record's voting fields
 */
export async function voteOnCompletions(
  completions: readonly string[],
  execute: (sql: string) => Promise<CandidateOutcome>,
): Promise<{ sql: string; completion: string; fields: VotingFields }> {
  const samples = completions.map((text, sampleIndex) => ({ sql: extractSql(text), sampleIndex }));
  const { candidates, executions } = await executeDistinct(samples, execute);
  const result = vote(candidates);
  return {
    sql: result.sql,
    completion: completions[result.sampleIndex],
    fields: {
      completions: [...completions],
      candidates: result.candidates,
      answer_sample: result.sampleIndex,
      executions,
    },
  };
}

/** What an agent question's record gains. */
export interface AgentFields {
  trajectory: TrajectoryStep[];
  /** Model calls made. */
  turns: number;
  stop: AgentStop;
  /** The budget that cut the question (`stop: "question_timeout"` only), seconds. */
  question_timeout_s?: number;
}

/**
 * The record fields of a finished agent conversation: the answer, the final message (null when cut at the
 * turn limit), tokens summed, generation time summed over turns, and the trajectory.
 *
 * @param run what `runAgent` returned
 */
export function agentRecord(run: AgentRun): {
  sql: string;
  completion: string | null;
  tokens: { prompt: number; completion: number };
  generation_ms: number;
  cached: boolean;
  fields: AgentFields;
} {
  return {
    sql: run.sql,
    completion: run.completion,
    tokens: { ...run.tokens },
    generation_ms: run.timings.turn_ms.reduce((a, b) => a + b, 0),
    cached: run.cached,
    fields: {
      trajectory: run.trajectory,
      turns: run.turns,
      stop: run.stop,
      ...(run.stop === "question_timeout" ? { question_timeout_s: run.questionTimeoutS ?? undefined } : {}),
    },
  };
}
