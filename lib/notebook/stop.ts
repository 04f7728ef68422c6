/**
 * How a notebook stops on an error a person can fix: one readable line that names the Parameters-cell fix, no
 * stack trace, and the cells below left silent.
 *
 * JupyterLab's and Notebook's "Run All" send every cell at once and count on the kernel to drop the queue after an
 * error; Deno's kernel does not (ARCHITECTURE.md, "Notebooks, measured facts"), so the cells below a failing one
 * still run. Two parts make Run All halt at the failing cell all the same:
 *
 * - the failing step throws a {@linkcode NotebookStop}: its stack is its one line, so the kernel's error output is
 *   that line (no frames), and a cell-by-cell executor (nbconvert, nbclient) stops there;
 * - the stop is remembered ({@linkcode stopped}) until the notebook's setup cell runs again
 *   ({@linkcode notebookParams} clears it), and every cell below the setup cell is written
 *   `if (!stopped()) { … }`, sharing its values through `var` (declared even when the cell that sets them
 *   stopped), so the queued cells run and print nothing.
 *
 * Every line a notebook stops with passes the secret model's scrubber (`redact`, with the credentials the
 * process registered: a server URL's from `TEXT2SQL_DB_URL`), and so does an unexpected error's message and stack.
 *
 * @module
 */
import { redact } from "../util/mod.ts";

/** An error a notebook user can fix: its message is one line naming the fix; it carries no stack trace. */
export class NotebookStop extends Error {
  override name = "NotebookStop";
  /**
   * @param message One line: what is wrong and which parameter to change.
   * @param options The original error, kept as `cause` for debugging.
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super(redact(oneLine(message), []), options);
    // The kernel prints `stack` as the error's traceback: the line alone, not the frames of the library.
    this.stack = `Stopped: ${this.message}`;
  }
}

let current: NotebookStop | null = null;

/** True after a notebook step stopped, until the setup cell runs again: the guard of every later cell. */
export function stopped(): boolean {
  return current !== null;
}

/** The stop in effect, if any (for tests and messages). */
export function currentStop(): NotebookStop | null {
  return current;
}

/** Clears the stop: the setup cell runs first on every pass through a notebook. */
export function clearStop(): void {
  current = null;
}

/** Records `stop` as the notebook's stop and returns it, for `throw recordStop(...)`. */
export function recordStop(stop: NotebookStop): NotebookStop {
  current = stop;
  return stop;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/** The names of the fields a {@linkcode RunMismatchError} lists (`selection: … (in folder) vs … (now); …`). */
function mismatchFields(message: string): string[] {
  const list = message.split("not resuming: ")[1] ?? "";
  return [...list.matchAll(/(?:^|; )([a-zA-Z][a-zA-Z0-9 -]*): /g)].map((m) => m[1].trim());
}

/**
 * A known error of the run, data or model rooms as one line that names the Parameters-cell fix, or null for an
 * unexpected error (a bug keeps its stack).
 *
 * @param error What a notebook step threw.
 * @returns The line, or null.
 */
export function explainForNotebook(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const msg = oneLine(error.message);
  switch (error.name) {
    case "NotebookStop":
    case "NotebookParamError":
      return msg;
    case "DatasetError":
      return datasetFix(msg);
    case "RunMismatchError": {
      const folder = msg.match(/^(.*?) holds a different run/)?.[1] ?? "the run folder";
      const fields = mismatchFields(msg);
      return `${folder} holds a run made with other settings (${
        fields.join(", ") || "see below"
      }): set the ` +
        "Parameters cell back to them, or set RUNS_DIR to another folder, or delete that run folder to start " +
        `it again. Differences: ${msg.split("not resuming: ")[1] ?? msg}`;
    }
    case "RunLockedError":
      return `${msg}: another notebook or command is writing that run; wait for it, or stop it, then rerun this cell`;
    case "StartupError":
      return startupFix(msg);
    case "EndpointError":
      return `${
        msg.replace(/rerun the same command to resume$/, "")
      }rerun this cell to resume once the endpoint ` +
        "answers, or fix BASE_URL / PROVIDER in the Parameters cell";
    case "ModeError":
      return `${msg} (set MODE in the Parameters cell)`;
    case "TrainerError":
      return `${msg} (check TRAIN_CONFIG and METRICS in the Parameters cell, and that 03 wrote its dataset)`;
    case "SchemaError":
      return `${msg} (check DATASET and DB_ROOT in the Parameters cell)`;
    case "ToolsUnsupportedError":
      return `${msg}: set MODE = "single" or "voting K" in the Parameters cell, or use a server with tool calls`;
    default:
      return null;
  }
}

/** A dataset error with the notebook's parameter instead of the CLI flag. */
function datasetFix(msg: string): string {
  if (/missing databases? under/.test(msg)) {
    return msg.replace(
      /\s*\(download them with `deno task download`, or leave them out with --db\)/,
      "",
    ) + ": run 01_download.ipynb to fetch them, or leave them out with DB in the Parameters cell " +
      '(e.g. DB = ["superhero"])';
  }
  if (/dataset not found$/.test(msg)) {
    return `${msg}: set DATASET in the Parameters cell to a dataset file or folder ("" is the default)`;
  }
  if (/no question uses database/.test(msg)) return `${msg}: set DB in the Parameters cell`;
  return `${msg.replace(/--db\b/g, "DB").replace(/--limit\b/g, "LIMIT").replace(/--dataset\b/g, "DATASET")}` +
    " (check DATASET, DB and LIMIT in the Parameters cell)";
}

/** A model start-up failure with the parameter or variable that fixes it. */
function startupFix(msg: string): string {
  const key = msg.match(/set the environment variable (\w+)/)?.[1] ??
    msg.match(/(?:check|set) (\w+_API_KEY)/)?.[1];
  if (key) {
    return `${
      msg.replace(/: set the environment variable \w+$/, "")
    }: set ${key} in the environment Jupyter was ` +
      "started from and restart the kernel, or point BASE_URL in the Parameters cell at a server that needs no key";
  }
  if (/cannot reach|did not answer|GET .*\/models failed|no model list/.test(msg)) {
    return `${msg}: start that server, or set BASE_URL in the Parameters cell to one that answers`;
  }
  if (/no provider/.test(msg)) {
    return "no provider for MODELS: set PROVIDER (llama-api, together, openai) or BASE_URL in the Parameters cell";
  }
  if (/model/i.test(msg)) return `${msg} (set MODELS in the Parameters cell to a model the server lists)`;
  return `${msg} (check MODELS, PROVIDER and BASE_URL in the Parameters cell)`;
}

/**
 * Runs a notebook step; a known error becomes a recorded {@linkcode NotebookStop} (one line, no stack), anything
 * else is rethrown as it is.
 *
 * @param step The step's work.
 * @returns What the step returns.
 * @throws {NotebookStop} For an error a user can fix.
 */
export async function notebookStep<T>(step: () => Promise<T> | T): Promise<T> {
  try {
    return await step();
  } catch (error) {
    const line = explainForNotebook(error);
    if (line === null) {
      // A bug keeps its stack, but not a credential its message may quote.
      if (error instanceof Error) {
        error.message = redact(error.message, []);
        if (error.stack) error.stack = redact(error.stack, []);
      }
      throw error;
    }
    throw recordStop(error instanceof NotebookStop ? error : new NotebookStop(line, { cause: error }));
  }
}
