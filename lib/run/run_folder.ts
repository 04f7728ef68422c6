/**
 * The run folder before the first question: the run's description (`run.json`), the folder created and locked,
 * the resume check that refuses to mix two configurations, and the questions still to do.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { DatasetError } from "../data/mod.ts";
import { sha256Hex } from "../util/mod.ts";
import { ENGINE_OPTIONS, EVALUATOR, type SqlEngine, sqliteVersion } from "../exec/mod.ts";
import { agentTemplateHash, PROMPT_VERSION, type PromptOptions, templateHash } from "../prompt/mod.ts";
import type { Example, ResultRecord, RunInfo, RunMode } from "../types.ts";
import { modeMismatch } from "./modes.ts";
import { type EvalOptions, RunMismatchError } from "./options.ts";
import { lockRun, type RunLock } from "./run_lock.ts";
import { readResults, readRunInfo } from "./run_log.ts";
import { type OpenModel, samplingOf, type Selection } from "./setup.ts";

function timestamp(): string {
  return new Date().toISOString().replace(/[:]/g, "").replace(/\.\d+Z$/, "Z");
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "").slice(0, 80) || "run";
}

async function codeVersion(): Promise<string> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      cwd: dirname(new URL(import.meta.url).pathname),
      stdout: "piped",
      stderr: "null",
    }).output();
    if (out.success) return new TextDecoder().decode(out.stdout).trim();
  } catch {
    // No git: a tarball install.
  }
  return "unknown";
}

/** What `run.json` is built from besides the selection and the model. */
export interface RunSetup {
  mode: RunMode;
  promptOptions: PromptOptions;
  pool: SqlEngine;
  options: EvalOptions;
}

/** The run's description, as `run.json` holds it (unfinished). */
export async function describeRun(
  selection: Selection,
  model: OpenModel | null,
  { mode, promptOptions, pool, options }: RunSetup,
): Promise<RunInfo> {
  const { dataset, examples, predsFile, predictions, symlinks } = selection;
  const client = model?.client ?? null;
  return {
    dataset: {
      path: dataset.path,
      sha256: dataset.sha256,
      count: dataset.examples.length,
      questions_sha256: questionsSha256(dataset.examples),
    },
    selection: {
      db: selection.db ?? [],
      limit: options.limit ?? null,
      indices: examples.map((e) => e.index),
    },
    db_root: dataset.dbRoot,
    predictions: predictions ? resolve(predictions) : null,
    predictions_sha256: predsFile?.sha256 ?? null,
    model: options.model ?? null,
    provider: client ? client.provider.provider : null,
    base_url: model?.publicUrl ?? null,
    model_identity: client ? client.identityLabel : null,
    prompt: {
      version: PROMPT_VERSION,
      hash: client
        ? (mode.name === "agent"
          ? agentTemplateHash(promptOptions, mode.tool_rows)
          : templateHash(promptOptions))
        : null,
      options: client ? { ...promptOptions } : {},
    },
    sampling: client ? samplingOf(options) : { temperature: 0, max_tokens: null, n: 1 },
    evaluator: EVALUATOR,
    timeout_s: options.timeoutS ?? 30,
    ves: options.ves ?? null,
    sqlite_version: sqliteVersion(),
    engine: ENGINE_OPTIONS,
    dialect: pool.dialect,
    engine_info: await pool.info(),
    code_version: await codeVersion(),
    started_at: new Date().toISOString(),
    finished_at: null,
    mode,
    ...(symlinks.length ? { db_symlinks: symlinks } : {}),
  };
}

/** sha256 of a dataset's question identities (see `RunInfo.dataset.questions_sha256`). */
export function questionsSha256(examples: readonly Example[]): string {
  return sha256Hex(JSON.stringify(examples.map((e) => [e.question_id, e.db_id])));
}

/** The run folder: `--out`, or a new one under `runs/` named by time and model (or predictions folder). */
export function runDir(selection: Selection, options: EvalOptions): string {
  const name = options.model ?? basename(dirname(resolve(selection.predictions!)));
  return resolve(options.out ?? join("runs", `${timestamp()}-${safeName(name)}`));
}

/**
 * Create the folder and take its lock, held from before `results.jsonl` is read until its writer is closed:
 * never two appenders.
 */
export async function claimFolder(dir: string): Promise<RunLock> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new DatasetError(`--out ${dir}: cannot create the run folder (${(e as Error).message})`);
  }
  return await lockRun(dir);
}

/** The fields that must match for `--out` to resume a run (dataset, selection, model, prompt, sampling). */
function fingerprint(info: RunInfo): Record<string, unknown> {
  return {
    "dataset sha256": info.dataset.sha256,
    "selection": { db: info.selection.db, limit: info.selection.limit },
    "predictions sha256": info.predictions_sha256 ?? null,
    "model": info.model,
    "provider": info.provider,
    "base URL": info.base_url,
    "prompt hash": info.prompt.hash,
    "sampling": info.sampling,
    "timeout": info.timeout_s,
    "R-VES repetitions": info.ves,
    // Folders from before dialects were SQLite runs; the server or embedded engine is part of the identity too.
    "dialect": info.dialect ?? "sqlite",
    "engine": info.engine_info
      ? `${info.engine_info.engine} ${info.engine_info.location ?? ""}`.trim()
      : "sqlite",
  };
}

function differences(a: RunInfo, b: RunInfo): string[] {
  const fa = fingerprint(a);
  const fb = fingerprint(b);
  return Object.keys(fa)
    .filter((k) => JSON.stringify(fa[k]) !== JSON.stringify(fb[k]))
    .map((k) => `${k}: ${JSON.stringify(fa[k])} (in folder) vs ${JSON.stringify(fb[k])} (now)`);
}

/**
 * Refuse a folder that holds a different run ({@linkcode RunMismatchError} listing the differences); a resumed
 * run keeps its first start time.
 */
export async function checkResume(dir: string, info: RunInfo): Promise<void> {
  const previous = await readRunInfo(dir);
  if (!previous) return;
  const diff = differences(previous, info);
  const other = modeMismatch(previous.mode, info.mode!);
  if (other) diff.unshift(other);
  if (diff.length) {
    throw new RunMismatchError(`${dir} holds a different run; not resuming: ${diff.join("; ")}`);
  }
  info.started_at = previous.started_at;
}

/** The folder's records so far, and the selected questions still to do (failed generations too, when asked). */
export interface Pending {
  records: Map<number, ResultRecord>;
  /** Bytes of `results.jsonl` that hold whole lines (a torn last line is cut). */
  intactBytes: number;
  todo: Example[];
}

/** Read the folder's records and work out which questions remain. */
export async function pendingWork(
  dir: string,
  examples: Example[],
  { retryFailed }: { retryFailed?: boolean } = {},
): Promise<Pending> {
  const { records, intactBytes } = await readResults(dir);
  const todo = examples.filter((e) => {
    const r = records.get(e.index);
    return !r || (retryFailed && r.status === "generation_error");
  });
  return { records, intactBytes, todo };
}
