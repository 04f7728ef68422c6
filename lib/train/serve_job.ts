/**
 * The work of `deno task serve` once its flags are checked: read the adapter, pick the base model and the
 * runtime, then print the command (a dry run) or start vLLM, wait until it lists the adapter, print the eval
 * line, and keep serving until interrupted.
 *
 * @module
 */

import { type Runtime, TrainerError } from "./config.ts";
import { formatCommand } from "./command.ts";
import { chooseRuntime, systemProbe } from "./preflight.ts";
import {
  buildServeCommand,
  evalCommandLine,
  readAdapterConfig,
  type ServePlan,
  waitForServer,
} from "./serve.ts";
import { isLocalModel } from "./host.ts";

/** What `deno task serve` was asked to do (flags already checked). */
export interface ServeJobOptions {
  adapter: string;
  baseModel?: string;
  name: string;
  port: number;
  maxModelLen: number;
  runtime?: Runtime;
  image?: string;
  timeoutS: number;
  /** The dataset named in the printed eval line. */
  dataset: string;
  dryRun: boolean;
}

/**
 * Runs `deno task serve`'s work.
 *
 * @param options the checked flags
 * @returns the exit code: 0 served and stopped, 1 the server failed
 * @throws {TrainerError} for a bad adapter or base model (exit 2) or a missing GPU, engine or vllm (exit 1)
 */
export async function serveJob(options: ServeJobOptions): Promise<number> {
  const adapter = await readAdapterConfig(options.adapter);
  const baseModel = hostBaseModel(options.baseModel ?? adapter.baseModel);
  const runtime = await chooseRuntime(options.runtime, options.dryRun, "pass --runtime local");
  const plan = buildServeCommand({
    runtime,
    adapterDir: options.adapter,
    baseModel,
    name: options.name,
    rank: adapter.maxRank,
    port: options.port,
    maxModelLen: options.maxModelLen,
    image: options.image,
  });
  const evalLine = evalCommandLine(plan.baseUrl, plan.name, { dataset: options.dataset });
  if (options.dryRun) {
    const pattern = adapter.maxRank > adapter.r ? `, ${adapter.maxRank} in rank_pattern` : "";
    console.log(`# adapter rank ${adapter.r}${pattern} -> --max-lora-rank ${plan.maxLoraRank}`);
    console.log(formatCommand(plan.command));
    console.log(`# once it answers: ${evalLine}`);
    return 0;
  }
  await checkServeMachine(runtime);
  return await serveUntilStopped(plan, evalLine, options.timeoutS);
}

/** The base model, refused when it is a path that is not a folder here. @throws {TrainerError} */
function hostBaseModel(baseModel: string | null): string {
  if (!baseModel) throw new TrainerError("the adapter names no base model: pass --base-model");
  // A path (not a hub id) must exist here: an adapter trained in a container may record its mount, `/base`.
  if (/^(\/|\.\.?\/|~)/.test(baseModel) && !isLocalModel(baseModel)) {
    throw new TrainerError(
      `base model ${baseModel} is not a folder on this machine (a path recorded inside the training container?): pass --base-model with the host folder or the hub id`,
    );
  }
  return baseModel;
}

/** A container needs a GPU; a local run needs vllm. @throws {TrainerError} (exit code 1) */
async function checkServeMachine(runtime: Runtime): Promise<void> {
  if (runtime !== "local" && !(await systemProbe("nvidia-smi", ["-L"])).ok) {
    throw new TrainerError("no NVIDIA GPU: nvidia-smi is missing or failed; vLLM needs a CUDA GPU", 1);
  }
  if (runtime === "local" && !(await systemProbe("vllm", ["--version"])).ok) {
    throw new TrainerError("vllm not found: pip install vllm, or use --runtime docker|podman", 1);
  }
}

/** Starts the server, waits until it lists the adapter, prints the eval line, and serves until Ctrl-C. */
async function serveUntilStopped(plan: ServePlan, evalLine: string, timeoutS: number): Promise<number> {
  console.error(formatCommand(plan.command));
  const child = new Deno.Command(plan.command[0], { args: plan.command.slice(1), stdin: "null" }).spawn();
  let alive = true;
  const exited = child.status.then((s) => {
    alive = false;
    return s;
  });
  const stop = () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  };
  Deno.addSignalListener("SIGINT", stop);
  try {
    try {
      await waitForServer(plan.baseUrl, {
        timeoutMs: timeoutS * 1000,
        model: plan.name,
        isAlive: () => alive,
      });
    } catch (e) {
      stop();
      await exited;
      throw e;
    }
    console.log(`serving ${plan.name} at ${plan.baseUrl} (Ctrl-C stops it)`);
    console.log(evalLine);
    const status = await exited;
    return status.success || status.signal === "SIGTERM" ? 0 : 1;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
  }
}
