/**
 * Command-line helpers shared by every `deno task` command. Kept apart from `cli.ts` because `cli.ts` loads the
 * command modules while its own top-level await is pending: a command importing `cli.ts` would deadlock.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

/** A bad command line; `cli.ts` prints it as one line and exits with 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The `--help` / `-h` flag every command has. */
const HELP = { help: { type: "boolean", short: "h" } } as const;

/** A command's flags and usage text, for {@linkcode parseCommand}. */
export interface CommandSpec<O extends ParseArgsOptionsConfig> {
  /** Printed on stdout for `--help` / `-h`. */
  usage: string;
  /** The flags, in `node:util` `parseArgs` form (`--help` is added). */
  options: O;
  /** Positional arguments the command takes (none when absent); another count is a usage error naming them. */
  positionals?: { count: number; name: string };
  /** Read `--flag -1` as `--flag=-1` (see {@linkcode joinNegativeNumbers}); for commands with numeric flags. */
  negativeNumbers?: boolean;
}

/** What {@linkcode parseCommand} parsed: the flags' values and the positional arguments. */
export interface ParsedCommand<O extends ParseArgsOptionsConfig> {
  values: ReturnType<
    typeof parseArgs<{ options: O & typeof HELP; strict: true; allowPositionals: true }>
  >["values"];
  positionals: string[];
}

/**
 * Parses a command's arguments the one way every command does: strict flags, `--help` printing the usage.
 * A bad flag or a wrong number of positionals throws a {@linkcode UsageError}, which `cli.ts` prints as one
 * line and answers with exit 2 (a command that returns its own exit code passes it to {@linkcode usageExit}).
 *
 * @param argv The arguments after the command name.
 * @param spec Flags, usage text and positionals.
 * @returns The parsed values, or null when `--help` was asked for (the usage is printed: exit 0).
 * @throws {UsageError} naming the bad flag or the positionals expected.
 */
export function parseCommand<O extends ParseArgsOptionsConfig>(
  argv: string[],
  spec: CommandSpec<O>,
): ParsedCommand<O> | null {
  let parsed;
  try {
    parsed = parseArgs({
      args: spec.negativeNumbers ? joinNegativeNumbers(argv) : argv,
      strict: true,
      allowPositionals: spec.positionals !== undefined,
      options: { ...spec.options, ...HELP },
    });
  } catch (error) {
    // node's own message ("Unknown option '--bogus'...") names the flag; only its class changes.
    throw new UsageError((error as Error).message, { cause: error });
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(spec.usage);
    return null;
  }
  const wanted = spec.positionals;
  if (wanted && parsed.positionals.length !== wanted.count) {
    const count = wanted.count === 1 ? "one" : String(wanted.count);
    throw new UsageError(`expected exactly ${count} ${wanted.name}, got ${parsed.positionals.length}`);
  }
  return parsed as ParsedCommand<O>;
}

/**
 * The answer of a command that returns its exit code to a bad command line: `<command>: <message>` and the
 * usage on stderr, exit 2.
 *
 * @param command The command's name, e.g. `download`.
 * @param usage Its usage text.
 * @param error The usage error (its first line is shown).
 * @returns 2.
 */
export function usageExit(command: string, usage: string, error: unknown): 2 {
  const text = error instanceof Error ? error.message : String(error);
  console.error(`${command}: ${text.replace(/\s*\n\s*/g, " ").trim()}\n${usage}`);
  return 2;
}

/**
 * Parse a numeric flag, naming it in the error.
 *
 * @param name flag name without dashes
 * @param value the raw value, or undefined when absent
 * @param options integer and minimum constraints
 * @returns the number, or undefined when absent
 * @throws {UsageError} when not a number in range
 */
export function numberFlag(
  name: string,
  value: string | undefined,
  options: { integer?: boolean; min?: number; max?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (
    value.trim() === "" || !Number.isFinite(n) || (options.integer && !Number.isInteger(n)) ||
    (options.min !== undefined && n < options.min) || (options.max !== undefined && n > options.max)
  ) {
    const range = [
      options.min !== undefined ? `≥ ${options.min}` : "",
      options.max !== undefined ? `≤ ${options.max}` : "",
    ]
      .filter(Boolean).join(" and ");
    throw new UsageError(
      `--${name} expects ${options.integer ? "an integer" : "a number"}${range ? " " + range : ""}, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return n;
}

/** Refuse any flag that looks like it carries a secret: keys come from the environment only. */
export function refuseKeyFlags(argv: string[]): void {
  if (argv.some((a) => /^--?(api[-_]?key|key|token)(=|$)/i.test(a))) {
    throw new UsageError(
      "API keys are read from the environment only (LLAMA_API_KEY, TOGETHER_API_KEY, OPENAI_API_KEY)",
    );
  }
}

/** The model flags shared by `eval` and `cot`, in `node:util` `parseArgs` form. */
export const MODEL_FLAGS = {
  model: { type: "string" },
  provider: { type: "string" },
  "base-url": { type: "string" },
  concurrency: { type: "string" },
  "request-timeout": { type: "string" },
  temperature: { type: "string" },
  "max-tokens": { type: "string" },
  "no-cache": { type: "boolean" },
} as const;

/** Parsed and checked values of {@linkcode MODEL_FLAGS}. */
export interface ModelFlagValues<P extends string> {
  model?: string;
  provider?: P;
  baseUrl?: string;
  concurrency?: number;
  requestTimeoutS?: number;
  temperature?: number;
  maxTokens: number | null;
  cache: boolean;
}

/** Check the model flags; `providers` is the list of known provider names. */
export function modelFlagValues<P extends string>(
  values: Record<string, string | boolean | (string | boolean)[] | undefined>,
  providers: readonly P[],
): ModelFlagValues<P> {
  const str = (k: string) => (typeof values[k] === "string" ? values[k] as string : undefined);
  const provider = str("provider");
  if (provider !== undefined && !providers.includes(provider as P)) {
    throw new UsageError(
      `--provider must be one of ${providers.join(", ")}, got ${JSON.stringify(provider)}`,
    );
  }
  return {
    model: str("model"),
    provider: provider as P | undefined,
    baseUrl: str("base-url"),
    concurrency: numberFlag("concurrency", str("concurrency"), { integer: true, min: 1 }),
    requestTimeoutS: numberFlag("request-timeout", str("request-timeout"), { min: 0.001 }),
    temperature: numberFlag("temperature", str("temperature"), { min: 0 }),
    maxTokens: numberFlag("max-tokens", str("max-tokens"), { integer: true, min: 1 }) ?? null,
    cache: !values["no-cache"],
  };
}

/**
 * `--limit -1` as `--limit=-1`: `node:util` `parseArgs` reads a value starting with `-` as another flag and answers
 * "argument is ambiguous", which hides the real message (`--limit expects an integer ≥ 0`).
 */
export function joinNegativeNumbers(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = argv[i + 1];
    if (/^--[a-z][\w-]*$/.test(a) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}
