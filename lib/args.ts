/**
 * Command-line helpers shared by every `deno task` command. Kept apart from `cli.ts` because `cli.ts` loads the
 * command modules while its own top-level await is pending: a command importing `cli.ts` would deadlock.
 *
 * @module
 */

/** A bad command line; `cli.ts` prints it as one line and exits with 2. */
export class UsageError extends Error {
  override name = "UsageError";
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
