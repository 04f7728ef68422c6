/**
 * Serving a trained adapter with vLLM's OpenAI-compatible server: the rank vLLM must hold, the adapter's config,
 * the `vllm serve` command (container or local, on loopback only), waiting until it answers, and the
 * `deno task eval` line that evaluates it like every other model.
 *
 * @module
 */

import * as path from "node:path";
import { DEFAULT_VLLM_IMAGE, type Runtime, TrainerError, VLLM_LORA_RANKS } from "./config.ts";
import { formatCommand } from "./command.ts";
import { isInt, isObj, type Obj } from "./guards.ts";
import { defaultHfCache, gpuArgs, isLocalModel } from "./host.ts";

/** The smallest `--max-lora-rank` vLLM accepts that holds rank `r`. @throws {TrainerError} above 512. */
export function vllmLoraRank(r: number): number {
  if (!Number.isInteger(r) || r < 1) throw new TrainerError(`invalid LoRA rank ${r}`);
  const rank = VLLM_LORA_RANKS.find((v) => v >= r);
  if (rank === undefined) {
    throw new TrainerError(`LoRA rank ${r} exceeds vLLM's maximum (${VLLM_LORA_RANKS.at(-1)})`);
  }
  return rank;
}

/** The parts of `adapter_config.json` serving needs. */
export interface AdapterInfo {
  /** The default rank `r`. */
  r: number;
  /** The largest rank of any module: `r` or a `rank_pattern` override (what `--max-lora-rank` must hold). */
  maxRank: number;
  baseModel: string | null;
}

/**
 * Reads rank and base model from an adapter folder's `adapter_config.json`; `maxRank` also covers
 * `rank_pattern`, which gives some modules another rank than `r` (`alpha_pattern` does not change shapes).
 *
 * @throws {TrainerError}
 */
export async function readAdapterConfig(dir: string): Promise<AdapterInfo> {
  const file = path.join(dir, "adapter_config.json");
  let obj: unknown;
  try {
    obj = JSON.parse(await Deno.readTextFile(file));
  } catch (e) {
    throw new TrainerError(`${file}: cannot read adapter config (${(e as Error).message})`);
  }
  if (!isObj(obj) || !isInt(obj.r) || obj.r < 1) throw new TrainerError(`${file}: no positive integer "r"`);
  const base = typeof obj.base_model_name_or_path === "string" && obj.base_model_name_or_path
    ? obj.base_model_name_or_path
    : null;
  let maxRank = obj.r;
  if (isObj(obj.rank_pattern)) {
    for (const [key, rank] of Object.entries(obj.rank_pattern)) {
      if (!isInt(rank) || rank < 1) {
        throw new TrainerError(`${file}: rank_pattern["${key}"] is not a positive integer`);
      }
      maxRank = Math.max(maxRank, rank);
    }
  }
  return { r: obj.r, maxRank, baseModel: base };
}

/** What {@link buildServeCommand} needs. */
export interface ServeOptions {
  runtime: Runtime;
  adapterDir: string;
  baseModel: string;
  /** The name the adapter is served under (the `--model` of `deno task eval`). */
  name: string;
  /** The adapter's largest LoRA rank, `rank_pattern` included (rounded up to a rank vLLM accepts). */
  rank: number;
  port: number;
  maxModelLen: number;
  image?: string;
  hfCache?: string;
}

/** A resolved serve command. */
export interface ServePlan {
  command: string[];
  /** OpenAI base URL once it answers, e.g. `http://127.0.0.1:8000/v1`. */
  baseUrl: string;
  name: string;
  maxLoraRank: number;
}

/**
 * Builds the `vllm serve` command (in the vLLM container or local) that serves the base model with the adapter
 * as a LoRA module named `name`, listening on 127.0.0.1 only.
 */
export function buildServeCommand(options: ServeOptions): ServePlan {
  const maxLoraRank = vllmLoraRank(options.rank);
  const adapterDir = path.resolve(options.adapterDir);
  const vllmArgs = (base: string, adapter: string, host: string, port: number) => [
    base,
    "--host",
    host,
    "--port",
    String(port),
    "--enable-lora",
    "--lora-modules",
    `${options.name}=${adapter}`,
    "--max-lora-rank",
    String(maxLoraRank),
    "--max-model-len",
    String(options.maxModelLen),
  ];
  let command: string[];
  if (options.runtime === "local") {
    command = ["vllm", "serve", ...vllmArgs(options.baseModel, adapterDir, "127.0.0.1", options.port)];
  } else {
    const engine = options.runtime;
    const hfCache = path.resolve(options.hfCache ?? defaultHfCache());
    command = [engine, "run", "--rm", ...gpuArgs(engine)];
    // Published on loopback only: the server has no authentication.
    command.push("--shm-size", "16g", "-p", `127.0.0.1:${options.port}:8000`, "-e", "HF_TOKEN");
    command.push("-v", `${hfCache}:/root/.cache/huggingface`, "-v", `${adapterDir}:/adapter:ro`);
    let base = options.baseModel;
    if (isLocalModel(base)) {
      command.push("-v", `${path.resolve(base)}:/base:ro`);
      base = "/base";
    }
    command.push("--entrypoint", "vllm", options.image ?? DEFAULT_VLLM_IMAGE, "serve");
    command.push(...vllmArgs(base, "/adapter", "0.0.0.0", 8000));
  }
  return { command, baseUrl: `http://127.0.0.1:${options.port}/v1`, name: options.name, maxLoraRank };
}

/**
 * Polls `GET <baseUrl>/models` until it answers 200 (and lists `model`, when given), then returns the model ids.
 *
 * @throws {TrainerError} on timeout, or as soon as `isAlive()` turns false (the server process died).
 */
export async function waitForServer(
  baseUrl: string,
  options: { timeoutMs?: number; intervalMs?: number; model?: string; isAlive?: () => boolean } = {},
): Promise<string[]> {
  const deadline = Date.now() + (options.timeoutMs ?? 900_000);
  const interval = options.intervalMs ?? 2000;
  const url = `${baseUrl.replace(/\/$/, "")}/models`;
  let last = "no answer";
  while (true) {
    if (options.isAlive && !options.isAlive()) {
      throw new TrainerError("the server exited before it answered", 1);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(Math.max(1000, interval * 2)) });
      if (res.ok) {
        const body = await res.json();
        const ids: string[] = Array.isArray(body?.data) ? body.data.map((d: Obj) => String(d.id)) : [];
        if (!options.model || ids.includes(options.model)) return ids;
        last = `answers, without ${options.model} (has ${ids.join(", ") || "nothing"})`;
      } else {
        await res.body?.cancel();
        last = `HTTP ${res.status}`;
      }
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() + interval > deadline) {
      throw new TrainerError(
        `${url} not ready after ${Math.round((options.timeoutMs ?? 900_000) / 1000)} s (${last})`,
        1,
      );
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** The `deno task eval` line that evaluates a served model through the same path as every other model. */
export function evalCommandLine(baseUrl: string, model: string, options: { dataset?: string } = {}): string {
  const dataset = options.dataset ?? "data/sample/dev.json";
  return formatCommand([
    "deno",
    "task",
    "eval",
    "--base-url",
    baseUrl,
    "--model",
    model,
    "--dataset",
    dataset,
  ]);
}
