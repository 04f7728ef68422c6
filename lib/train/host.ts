/**
 * Facts about this machine the trainer and server commands are built from: the Hugging Face cache, the user,
 * whether a base model is a local folder, and the engines' GPU flags (internal: not exported by `mod.ts`).
 *
 * @module
 */

import * as path from "node:path";

/** The host Hugging Face cache: `$HF_HOME`, else `~/.cache/huggingface`. */
export function defaultHfCache(): string {
  const hfHome = Deno.env.get("HF_HOME");
  if (hfHome) return path.resolve(hfHome);
  return path.join(Deno.env.get("HOME") ?? ".", ".cache", "huggingface");
}

/** `uid:gid` of this process, or null when unknown. */
export function currentUser(): string | null {
  try {
    const uid = Deno.uid();
    const gid = Deno.gid();
    return uid === null || gid === null ? null : `${uid}:${gid}`;
  } catch {
    return null; // no --allow-sys: run as the image's user
  }
}

/** Whether a base model names an existing local folder (mounted into the container; no token needed). */
export function isLocalModel(base: string): boolean {
  try {
    return Deno.statSync(base).isDirectory;
  } catch {
    return false;
  }
}

/** The container engine's GPU flags: podman reaches NVIDIA GPUs through CDI, docker through `--gpus`. */
export function gpuArgs(engine: "docker" | "podman"): string[] {
  // SELinux labels would block podman's bind mounts on Fedora/RHEL hosts.
  return engine === "podman"
    ? ["--device", "nvidia.com/gpu=all", "--security-opt", "label=disable"]
    : ["--gpus", "all"];
}

/**
 * Whether this machine has RDMA devices (`/dev/infiniband`: InfiniBand or RoCE), which a container needs for
 * NCCL to reach other machines over them instead of falling back to TCP sockets.
 */
export function hasInfiniband(): boolean {
  try {
    return Deno.statSync("/dev/infiniband").isDirectory;
  } catch {
    return false;
  }
}
