/**
 * Helpers of the robustness tests: `deno task eval` as a child process, and strict reading of a run's
 * `results.jsonl` (every line whole, no index twice).
 */
import { ok as assert } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (the CLI runs from there, as `deno task eval` does). */
export const ROOT: string = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** What a finished child reported. */
export interface ChildResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Start `lib/cli/cli.ts ARGS` (the command first; not awaited: several can run at once); `env` is added to this
 * environment.
 */
export function startCli(
  args: string[],
  env: Record<string, string> = {},
): { child: Deno.ChildProcess; result: Promise<ChildResult> } {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", join(ROOT, "lib", "cli", "cli.ts"), ...args],
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const result = child.output().then((o) => ({
    code: o.code,
    stdout: new TextDecoder().decode(o.stdout),
    stderr: new TextDecoder().decode(o.stderr),
  }));
  return { child, result };
}

/** Start `lib/cli/cli.ts eval ARGS` (see {@linkcode startCli}). */
export function startEval(
  args: string[],
  env: Record<string, string> = {},
): { child: Deno.ChildProcess; result: Promise<ChildResult> } {
  return startCli(["eval", ...args], env);
}

/** Run `lib/cli/cli.ts eval ARGS` to the end. */
export function runEval(args: string[], env: Record<string, string> = {}): Promise<ChildResult> {
  return startEval(args, env).result;
}

/**
 * The indices of `results.jsonl`, asserting the file is made of whole JSON lines ending in a newline and holds
 * no index twice.
 */
export async function strictIndices(file: string): Promise<number[]> {
  const text = await Deno.readTextFile(file);
  assert(
    text === "" || text.endsWith("\n"),
    `${file} ends in a torn line: ${JSON.stringify(text.slice(-80))}`,
  );
  const indices = text.split("\n").filter((l) => l !== "").map((line, i) => {
    try {
      return (JSON.parse(line) as { index: number }).index;
    } catch {
      throw new Error(`${file}: line ${i + 1} is torn: ${JSON.stringify(line.slice(0, 80))}`);
    }
  });
  assert(new Set(indices).size === indices.length, `${file} holds a duplicate line: ${indices.join(",")}`);
  return indices;
}

/** Lines of a run's `results.jsonl` so far (0 when absent). */
export async function linesSoFar(file: string): Promise<number> {
  return await Deno.readTextFile(file).then((t) => t.split("\n").length - 1, () => 0);
}

/**
 * Wait until `file` holds at least `lines` lines or `timeoutMs` has passed (polling every 20 ms), then SIGKILL
 * `child` without warning: a run killed mid-way. Returns the lines written by then.
 */
export async function killAfterLines(
  child: Deno.ChildProcess,
  file: string,
  options: { lines: number; timeoutMs: number },
): Promise<number> {
  for (const end = Date.now() + options.timeoutMs; Date.now() < end;) {
    if ((await linesSoFar(file)) >= options.lines) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill("SIGKILL");
  await child.status;
  return await linesSoFar(file);
}

/** Every file under `dir`, recursively. */
export async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) yield* walk(p);
    else if (e.isFile) yield p;
  }
}
