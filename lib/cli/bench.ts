/**
 * `deno task bench`: flags that choose the benchmarks and size the scoring one; the benchmarks themselves are
 * `lib/bench/`.
 *
 * @module
 */
import { numberFlag, parseCommand } from "../util/mod.ts";

const USAGE =
  `usage: deno task bench [--only scoring|workflow|voting|audit|postgresql|generation|download|values|reward]... [--sets superhero,trivial,scale] [--runs N]
         [--workers N] [--copies N] [--trivial N] [--quick]`;

const FLAGS = {
  only: { type: "string", multiple: true },
  sets: { type: "string" },
  runs: { type: "string" },
  copies: { type: "string" },
  trivial: { type: "string" },
  workers: { type: "string" },
  quick: { type: "boolean" },
} as const;

/**
 * `deno task bench [--only scoring|workflow|voting|audit|postgresql|generation|download|values|reward]... [--sets superhero,trivial,scale] [--runs N]
 * [--workers N] [--copies N] [--trivial N] [--quick]`.
 *
 * @param argv The arguments after `bench`.
 * @returns 0 once the benchmarks ran; bad flags throw a `UsageError` (exit 2).
 */
export async function benchCommand(argv: string[]): Promise<number> {
  const values = parseCommand(argv, { usage: USAGE, options: FLAGS })?.values;
  if (!values) return 0;
  const int = (name: "runs" | "copies" | "trivial" | "workers") =>
    numberFlag(name, values[name], { integer: true, min: 1 });
  // Checked only when the scoring benchmark runs: its flags mean nothing to the others.
  const scoring = values.only && !values.only.includes("scoring") ? undefined : {
    sets: values.sets?.split(",").map((s) => s.trim()).filter(Boolean),
    runs: int("runs"),
    copies: int("copies"),
    trivial: int("trivial"),
    workers: int("workers"),
    quick: values.quick ?? false,
  };
  // The voting benchmark shares the sizing flags that mean the same there (its sets are its own).
  const voting = values.only && !values.only.includes("voting") ? undefined : {
    runs: int("runs"),
    copies: int("copies"),
    workers: int("workers"),
    quick: values.quick ?? false,
  };
  const { runBenchmarks } = await import("../bench/mod.ts");
  const workflow = { runs: int("runs"), workers: int("workers"), quick: values.quick ?? false };
  const audit = { runs: int("runs"), workers: int("workers"), quick: values.quick ?? false };
  const postgresql = { runs: int("runs"), workers: int("workers"), quick: values.quick ?? false };
  const reward = {
    // The reward bench's sets are its own (superhero, scale); --sets names them when only reward runs.
    sets: values.only?.length === 1 && values.only[0] === "reward"
      ? values.sets?.split(",").map((s) => s.trim())
      : undefined,
    runs: int("runs"),
    workers: int("workers"),
    quick: values.quick ?? false,
  };
  await runBenchmarks({ only: values.only, scoring, workflow, voting, audit, postgresql, reward });
  return 0;
}
