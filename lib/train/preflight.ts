/**
 * What a real run checks before it starts (never a dry run): the container engine, the GPUs, the token; and
 * choosing the runtime when none is given.
 *
 * @module
 */

import { type Runtime, type TrainConfig, TrainerError } from "./config.ts";
import { isLocalModel } from "./host.ts";

/** Runs a probe command; injectable so tests can fake a machine without docker or a GPU. */
export type Probe = (cmd: string, args: string[]) => Promise<{ ok: boolean; stdout: string }>;

/** The real probe: runs the command, false when it is missing or fails. */
export const systemProbe: Probe = async (cmd, args) => {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null", stdin: "null" })
      .output();
    return { ok: out.success, stdout: new TextDecoder().decode(out.stdout) };
  } catch {
    return { ok: false, stdout: "" };
  }
};

/** The first container engine that answers (`docker`, then `podman`), or null. */
export async function detectRuntime(probe: Probe = systemProbe): Promise<"docker" | "podman" | null> {
  for (const engine of ["docker", "podman"] as const) {
    if ((await probe(engine, ["--version"])).ok) return engine;
  }
  return null;
}

/**
 * Checks what a real run needs, failing with a one-line message: the container engine, an NVIDIA GPU
 * (`nvidia-smi`; enough of them for this machine's share of `distributed.num_processes`), and `HF_TOKEN`
 * unless the base model is a local folder. Never called by a dry run.
 *
 * @throws {TrainerError} (exit code 1).
 */
export async function preflight(
  config: TrainConfig,
  runtime: Runtime,
  options: { probe?: Probe; env?: (name: string) => string | undefined; python?: string } = {},
): Promise<void> {
  const probe = options.probe ?? systemProbe;
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  if (runtime !== "local" && !(await probe(runtime, ["--version"])).ok) {
    throw new TrainerError(`${runtime} not found: install it, or pass --runtime local on a GPU machine`, 1);
  }
  const python = options.python ?? "python3";
  if (runtime === "local" && !(await probe(python, ["-c", "import torch, transformers, peft"])).ok) {
    throw new TrainerError(
      `${python} cannot import torch, transformers and peft: pip install -r trainer/requirements.txt (and torch)`,
      1,
    );
  }
  const gpus = await probe("nvidia-smi", ["-L"]);
  const count = gpus.stdout.split("\n").filter((l) => l.startsWith("GPU ")).length;
  if (!gpus.ok || count === 0) {
    throw new TrainerError("no NVIDIA GPU: nvidia-smi is missing or failed; training needs a CUDA GPU", 1);
  }
  const d = config.distributed;
  // Each machine of a run over several starts its share of the processes, one a GPU.
  const wanted = d ? d.num_processes / d.num_machines : 1;
  if (count < wanted) {
    const over = d && d.num_machines > 1 ? ` over ${d.num_machines} machines (${wanted} on each)` : "";
    throw new TrainerError(
      `distributed.num_processes is ${d?.num_processes ?? 1}${over} but nvidia-smi lists ${count} GPU(s)`,
      1,
    );
  }
  if (!env("HF_TOKEN") && !isLocalModel(config.base_model)) {
    throw new TrainerError(
      `HF_TOKEN is not set: export a Hugging Face token with access to ${config.base_model} (passed by name, never written)`,
      1,
    );
  }
}

/**
 * The runtime a subcommand uses: the one given, else (real runs only) the first container engine that answers.
 * A dry run names docker when no engine is given: it must not probe for one (the contract).
 *
 * @param given the `--runtime` value, if any (already checked against the runtimes)
 * @param dryRun whether this is a dry run
 * @param hint how the message ends when a real run finds no engine
 * @returns the runtime
 * @throws {TrainerError} (exit code 1) when a real run finds no engine.
 */
export async function chooseRuntime(
  given: string | undefined,
  dryRun: boolean,
  hint: string,
): Promise<Runtime> {
  if (given || dryRun) return (given as Runtime | undefined) ?? "docker";
  const found = await detectRuntime();
  if (!found) throw new TrainerError(`no container engine: install docker or podman, or ${hint}`, 1);
  return found;
}
