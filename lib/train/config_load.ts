/**
 * Reading and validating a trainer config: unknown keys refused, the defaults filled in, then every field rule
 * of `config_rules.ts`; a config file's relative paths resolved against its folder.
 *
 * @module
 */

import * as path from "node:path";
import { READ_LIMITS, readTextSafe, UnsafeFileError } from "../util/mod.ts";
import {
  DISTRIBUTED_DEFAULTS,
  type DistributedConfig,
  SECTIONS,
  TRAIN_DEFAULTS,
  type TrainConfig,
  TrainerError,
} from "./config.ts";
import { fieldErrors, grpoBatchErrors } from "./config_rules.ts";
import { isObj, type Obj } from "./guards.ts";

/** Unknown keys at the top level, in a section, or in `distributed`: a typo must not train with the default. */
function unknownKeyErrors(user: Obj): string[] {
  const errors: string[] = [];
  for (const key of Object.keys(user)) {
    if (!(key in TRAIN_DEFAULTS)) errors.push(`config: unknown key '${key}'`);
  }
  for (const section of SECTIONS) {
    const value = user[section];
    if (value === undefined || value === null) continue;
    if (!isObj(value)) {
      errors.push(`${section}: must be an object`);
      continue;
    }
    for (const key of Object.keys(value)) {
      if (!(key in TRAIN_DEFAULTS[section])) errors.push(`${section}: unknown key '${key}'`);
    }
  }
  const dist = user.distributed;
  if (dist !== undefined && dist !== null && !isObj(dist)) {
    errors.push("distributed: must be an object or null");
  } else if (isObj(dist)) {
    for (const key of Object.keys(dist)) {
      if (!(key in DISTRIBUTED_DEFAULTS)) errors.push(`distributed: unknown key '${key}'`);
    }
  }
  return errors;
}

/** The user's config laid over the defaults: sections key by key, a null section meaning the defaults. */
function withDefaults(user: Obj): TrainConfig {
  const cfg = structuredClone(TRAIN_DEFAULTS) as TrainConfig & Obj;
  for (const [key, value] of Object.entries(user)) {
    const section = (SECTIONS as readonly string[]).includes(key);
    if (section && value === null) continue;
    if (section && isObj(value)) Object.assign(cfg[key as typeof SECTIONS[number]], value);
    else if (key === "distributed" && isObj(value)) {
      cfg.distributed = { ...DISTRIBUTED_DEFAULTS, ...value } as DistributedConfig;
    } else (cfg as Obj)[key] = value;
  }
  return cfg;
}

/**
 * Validates a parsed config and returns it merged with {@link TRAIN_DEFAULTS}.
 *
 * Same rules as the Python validator that runs again inside the container. Unknown keys are errors: a typo
 * (`learning_rte`) would otherwise train silently with the default.
 *
 * @throws {TrainerError} listing every problem, one per line.
 */
export function validateTrainConfig(user: unknown): TrainConfig {
  if (!isObj(user)) throw new TrainerError("config: must be a JSON object");
  const unknown = unknownKeyErrors(user);
  if (unknown.length) throw new TrainerError(unknown.join("\n"));
  const cfg = withDefaults(user);
  const errors = fieldErrors(cfg);
  // The batch arithmetic only means something once every field is valid.
  if (errors.length === 0) errors.push(...grpoBatchErrors(cfg));
  if (errors.length) throw new TrainerError(errors.join("\n"));
  return cfg;
}

/**
 * Reads and validates a config file; `dataset_dir` comes back absolute (resolved against the config's folder).
 *
 * @throws {TrainerError} when the file is missing, not JSON, or invalid.
 */
export async function loadTrainConfig(file: string): Promise<TrainConfig> {
  let text: string;
  try {
    text = await readTextSafe(file, { maxBytes: READ_LIMITS.smallJson, what: "config" });
  } catch (e) {
    if (e instanceof UnsafeFileError && e.kind !== "missing") throw new TrainerError(e.message);
    throw new TrainerError(`${file}: cannot read config (${(e as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new TrainerError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  let cfg: TrainConfig;
  try {
    cfg = validateTrainConfig(parsed);
  } catch (e) {
    if (e instanceof TrainerError) {
      throw new TrainerError(e.message.split("\n").map((line) => `${file}: ${line}`).join("\n"));
    }
    throw e;
  }
  if (cfg.dataset_dir) cfg.dataset_dir = path.resolve(path.dirname(path.resolve(file)), cfg.dataset_dir);
  if (cfg.grpo.db_root) cfg.grpo.db_root = path.resolve(path.dirname(path.resolve(file)), cfg.grpo.db_root);
  return cfg;
}
