/**
 * Run fingerprints: what the checkpoints in a run folder depend on, and the refusal to resume a folder whose
 * previous run differs (another dataset, base model, method, LoRA shape, max length or optimizer).
 *
 * @module
 */

import * as path from "node:path";
import { fileSha256 } from "../util/mod.ts";
import { type TrainConfig, TrainerError } from "./config.ts";
import { isObj, type Obj } from "./guards.ts";
import { isLocalModel } from "./host.ts";

/** The file in a run folder that records what its checkpoints depend on (written by train.py). */
export const FINGERPRINT_FILE = "run_fingerprint.json";

/**
 * What the checkpoints of a run depend on: the adapter's and the optimizer state's shapes, and the data. Same
 * keys and values as `run_fingerprint` in `trainer/text2sql_trainer/run.py`. Step counts, epochs, learning rate
 * and batch size are left out on purpose: changing them and resuming is how a run is extended.
 */
export interface RunFingerprint {
  /** The original base model: an absolute host folder or a hub id (never the container's `/base`). */
  base_model: string | null;
  method: string;
  "lora.r": number;
  "lora.alpha": number;
  "lora.target_modules": "all-linear" | string[];
  "training.max_length": number;
  "training.optim": string;
  "distributed.fsdp": boolean;
  /** Hex SHA-256 of `train.jsonl` and `test.jsonl` (null for a missing file); null when not recorded. */
  dataset: { train: string | null; test: string | null } | null;
}

/** The streamed SHA-256 of a file (a multi-GB train.jsonl never sits in memory), null when it is missing. */
async function fileSha256OrNull(file: string): Promise<string | null> {
  try {
    return await fileSha256(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** SHA-256 of a dataset folder's `train.jsonl` and `test.jsonl` bytes: its content, not its path. */
export async function datasetHash(dir: string): Promise<{ train: string | null; test: string | null }> {
  return {
    train: await fileSha256OrNull(path.join(dir, "train.jsonl")),
    test: await fileSha256OrNull(path.join(dir, "test.jsonl")),
  };
}

/** The base model as recorded: an existing local folder as an absolute path, a hub id as given. */
export function baseModelSource(base: string): string {
  return isLocalModel(base) ? path.resolve(base) : base;
}

/** The config's part of a fingerprint; one mapping for a new run and for an old folder's `train_config.json`. */
function fingerprintOf(
  config: Pick<TrainConfig, "method" | "lora" | "training" | "distributed">,
  baseModel: string | null,
  dataset: RunFingerprint["dataset"],
): RunFingerprint {
  const d = config.distributed;
  return {
    base_model: baseModel,
    method: config.method,
    "lora.r": config.lora.r,
    "lora.alpha": config.lora.alpha,
    "lora.target_modules": config.lora.target_modules,
    "training.max_length": config.training.max_length,
    "training.optim": config.training.optim,
    // FSDP checkpoints store sharded optimizer state; a plain run cannot load them, nor the reverse.
    "distributed.fsdp": Boolean(d && d.fsdp && (d.num_processes ?? 1) > 1),
    dataset,
  };
}

/** The fingerprint of a run of `config` on the dataset in `datasetDir`. */
export async function runFingerprint(config: TrainConfig, datasetDir: string): Promise<RunFingerprint> {
  return fingerprintOf(config, baseModelSource(config.base_model), await datasetHash(datasetDir));
}

/**
 * The fingerprint a previous run left in `outDir`, or null for a new folder. Folders written before the
 * fingerprint existed fall back to their `train_config.json`: dataset unknown, and a recorded `/base` (the
 * container path older versions wrote) is not compared.
 */
export async function readPreviousFingerprint(outDir: string): Promise<Partial<RunFingerprint> | null> {
  const read = async (file: string): Promise<unknown> => {
    try {
      return JSON.parse(await Deno.readTextFile(path.join(outDir, file)));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return undefined;
      throw new TrainerError(`${path.join(outDir, file)}: cannot read (${(e as Error).message})`);
    }
  };
  const fp = await read(FINGERPRINT_FILE);
  if (isObj(fp)) return fp as Partial<RunFingerprint>;
  const cfg = await read("train_config.json");
  if (!isObj(cfg) || !isObj(cfg.lora) || !isObj(cfg.training)) return null;
  const base = typeof cfg.base_model === "string" && cfg.base_model !== "/base" ? cfg.base_model : null;
  // Written by train.py from a validated config, so it has the shape; only the sections are checked above.
  return fingerprintOf(
    { ...cfg, distributed: isObj(cfg.distributed) ? cfg.distributed : null } as unknown as TrainConfig,
    base,
    null,
  );
}

/** `key (old → new)` for each difference; a value the previous run did not record (null) is not compared. */
export function fingerprintDifferences(previous: Partial<RunFingerprint>, current: RunFingerprint): string[] {
  const diffs: string[] = [];
  for (const [key, now] of Object.entries(current)) {
    const old = (previous as Obj)[key];
    if (old === null || old === undefined || JSON.stringify(old) === JSON.stringify(now)) continue;
    if (key === "dataset") {
      const o = old as Obj;
      const n = (now ?? {}) as Obj;
      const changed = (["train", "test"] as const).filter((s) => o[s] !== n[s]).map((s) => `${s}.jsonl`);
      diffs.push(`dataset (${changed.join(", ")} content differs)`);
    } else diffs.push(`${key} (${JSON.stringify(old)} → ${JSON.stringify(now)})`);
  }
  return diffs;
}

/**
 * Refuses a run folder that holds a previous run whose checkpoints this run must not resume (another dataset,
 * base model, method, LoRA shape, max length or optimizer). Only reads files, so a dry run checks it too.
 *
 * @throws {TrainerError} one line listing the differences.
 */
export async function checkRunFolder(outDir: string, config: TrainConfig, datasetDir: string): Promise<void> {
  const previous = await readPreviousFingerprint(outDir);
  if (!previous) return;
  const diffs = fingerprintDifferences(previous, await runFingerprint(config, datasetDir));
  if (diffs.length) {
    throw new TrainerError(
      `${outDir} holds a previous run that differs in ${
        diffs.join("; ")
      }: resuming would mix the two; use another --out, or delete it to start over`,
    );
  }
}
