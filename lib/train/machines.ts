/**
 * Runs over several machines (`distributed.num_machines` > 1): where one machine stands in the run (its rank,
 * and the address and port of machine 0, which runs the main process), checked against the config.
 *
 * The rank and the address are given at launch (`deno task train --machine-rank R --main-process-ip HOST`), not
 * in the config: they belong to the cluster and change from one allocation to the next, while the config (how
 * many machines, how many processes, FSDP) is the recipe, and it fixes the sharding, the memory per GPU and the
 * batch, so it is the same file on every machine.
 *
 * @module
 */

import { type TrainConfig, TrainerError } from "./config.ts";

/** The rendezvous port of machine 0 when none is given: accelerate's and torchrun's default. */
export const DEFAULT_MAIN_PROCESS_PORT = 29500;
/** What a dry run prints for machine 0's address when `--main-process-ip` is not given: a word to replace. */
export const MAIN_PROCESS_IP_PLACEHOLDER = "MAIN_PROCESS_IP";

const ONE_MACHINE =
  "--machine-rank, --main-process-ip and --main-process-port are for a config with distributed.num_machines above 1 (it is 1)";

/** One machine's part of a run over several: the launcher's `--machine_rank`, `--main_process_ip`/`_port`. */
export interface MachineLaunch {
  /** 0 … count − 1; machine 0 runs the main process (metric lines, checkpoints, the saved model). */
  rank: number;
  /** Machines in the run: the config's `distributed.num_machines`. */
  count: number;
  /** Machine 0's address (host name or IP), reachable from every machine. */
  mainProcessIp: string;
  /** The port machine 0 listens on for the rendezvous. */
  mainProcessPort: number;
}

/** The launch flags of `deno task train` for several machines (undefined: not given). */
export interface MachineFlags {
  /** `--machine-rank`; NaN when given but not a whole number. */
  machineRank?: number;
  /** `--main-process-ip`. */
  mainProcessIp?: string;
  /** `--main-process-port`; NaN when given but not a whole number. */
  mainProcessPort?: number;
  /** `--out`: several machines must name the one shared run folder. */
  out?: string;
}

/** The machines of a config: `distributed.num_machines`, 1 without a `distributed` section. */
export function machineCount(config: TrainConfig): number {
  return config.distributed?.num_machines ?? 1;
}

/**
 * The problem of one machine's launch settings under `config`, one line, or null when they are sound: several
 * machines need them, one machine takes none, and the rank, the port and the address must be valid.
 */
export function machineError(config: TrainConfig, machine: MachineLaunch | null): string | null {
  const count = machineCount(config);
  if (count === 1) return machine ? ONE_MACHINE : null;
  if (!machine) {
    return `distributed.num_machines is ${count}: each machine's command needs its rank and machine 0's address`;
  }
  if (machine.count !== count) {
    return `the launch is for ${machine.count} machines but distributed.num_machines is ${count}`;
  }
  if (!Number.isInteger(machine.rank) || machine.rank < 0 || machine.rank >= count) {
    return `--machine-rank: must be an integer from 0 to ${count - 1} (distributed.num_machines is ${count})`;
  }
  const port = machine.mainProcessPort;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return "--main-process-port: must be an integer from 1 to 65535";
  }
  if (!/^[A-Za-z0-9_.:][A-Za-z0-9_.:-]*$/.test(machine.mainProcessIp)) {
    return "--main-process-ip: must be machine 0's host name or IP address";
  }
  return null;
}

/**
 * The machines whose commands to build: `[null]` for a config on one machine; for several, the one named by
 * `--machine-rank`, or every machine in a dry run without it (machine 0's address then the placeholder when
 * `--main-process-ip` is not given).
 *
 * @throws {TrainerError} (exit 2) for launch flags that do not fit the config, in one line; a real run over
 *   several machines without its rank, machine 0's address or the shared `--out` names what is missing.
 */
export function machineLaunches(
  config: TrainConfig,
  flags: MachineFlags,
  dryRun: boolean,
): (MachineLaunch | null)[] {
  const count = machineCount(config);
  const given = flags.machineRank !== undefined || flags.mainProcessIp !== undefined ||
    flags.mainProcessPort !== undefined;
  if (count === 1) {
    if (given) throw new TrainerError(ONE_MACHINE);
    return [null];
  }
  if (!dryRun) {
    const missing = [
      flags.machineRank === undefined && `--machine-rank R (0 to ${count - 1}; 0 runs the main process)`,
      flags.mainProcessIp === undefined &&
      "--main-process-ip HOST (machine 0's address, reachable from every machine)",
      flags.out === undefined &&
      "--out DIR (the one run folder, on storage every machine mounts at that path)",
    ].filter((m): m is string => typeof m === "string");
    if (missing.length) {
      throw new TrainerError(
        `distributed.num_machines is ${count}: on each machine pass ${missing.join(", ")}`,
      );
    }
  }
  const ranks = flags.machineRank === undefined
    ? Array.from({ length: count }, (_, i) => i)
    : [flags.machineRank];
  return ranks.map((rank) => {
    const machine: MachineLaunch = {
      rank,
      count,
      mainProcessIp: flags.mainProcessIp ?? MAIN_PROCESS_IP_PLACEHOLDER,
      mainProcessPort: flags.mainProcessPort ?? DEFAULT_MAIN_PROCESS_PORT,
    };
    const problem = machineError(config, machine);
    if (problem) throw new TrainerError(problem);
    return machine;
  });
}
