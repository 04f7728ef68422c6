/**
 * A command run as its own process tree, timed from the outside, its memory sampled through `/proc` (RSS
 * summed over the tree, every 50 ms), and the CPU time the whole tree used.
 *
 * @module
 */

/** Wall time (seconds, from the outside) and peak memory (MB, RSS summed over the process tree) of a command. */
export interface TreeRun {
  seconds: number;
  /**
   * CPU seconds (user + system) of the whole tree, every process in it that was waited for (all of them, for the
   * commands benchmarked here): steadier than the wall time on a machine shared with other work. Read from this
   * process's own `cutime` + `cstime`, so it is right only while one command at a time runs through here (as the
   * benches run them).
   */
  cpuSeconds: number;
  peakMb: number;
  /** Peak RSS of the root process alone, and of the largest single descendant (MB). */
  rootMb: number;
  childMb: number;
  stdout: string;
}

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    // A process gone between listing and reading is normal; a refused read would silently measure 0 MB.
    if (e instanceof Deno.errors.NotCapable) {
      throw new Error(`reading ${path} needs --allow-all (deno run -A)`);
    }
    return null;
  }
}

/**
 * The pids of `root` and all its descendants, through each thread's `children` list. Deno reads another
 * process's `/proc` entries only with `--allow-all`: the `bench` task runs with `-A` for this.
 */
function processTree(root: number): number[] {
  const seen: number[] = [];
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop()!;
    seen.push(pid);
    let tasks: string[] = [];
    try {
      tasks = [...Deno.readDirSync(`/proc/${pid}/task`)].map((e) => e.name);
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) {
        throw new Error(`reading /proc/${pid} needs --allow-all (deno run -A)`);
      }
      continue;
    }
    for (const tid of tasks) {
      const kids = readText(`/proc/${pid}/task/${tid}/children`);
      if (kids) todo.push(...kids.trim().split(/\s+/).filter(Boolean).map(Number));
    }
  }
  return seen;
}

/**
 * The CPU time this process's waited-for children used so far (s): `/proc/self/stat`'s `cutime` + `cstime`, in
 * the kernel's clock ticks (100 a second on Linux).
 */
function childCpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  // The fields after the command name (which may hold spaces), from field 3 (state) on: cutime is field 16.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[16 - 3]) + Number(f[17 - 3])) / 100;
}

function rssKb(pid: number): number {
  const status = readText(`/proc/${pid}/status`);
  const m = status?.match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) : 0;
}

/** Run a command as its own process tree, sampling its memory every 50 ms. */
export async function runTree(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string> } = {},
): Promise<TreeRun> {
  const started = performance.now();
  const cpuBefore = childCpuSeconds();
  const child = new Deno.Command(cmd, { args, env: options.env, stdout: "piped", stderr: "piped" }).spawn();
  let peak = 0;
  let root = 0;
  let kid = 0;
  const sample = () => {
    let kb = 0;
    for (const pid of processTree(child.pid)) {
      const one = rssKb(pid);
      kb += one;
      if (pid === child.pid) root = Math.max(root, one);
      else kid = Math.max(kid, one);
    }
    if (kb > peak) peak = kb;
  };
  const timer = setInterval(sample, 50);
  sample();
  const out = await child.output();
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = childCpuSeconds() - cpuBefore;
  clearInterval(timer);
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${cmd} ${args.slice(0, 3).join(" ")} … failed (${out.code}): ${err}`);
  }
  return {
    seconds,
    cpuSeconds,
    peakMb: peak / 1024,
    rootMb: root / 1024,
    childMb: kid / 1024,
    stdout: new TextDecoder().decode(out.stdout),
  };
}
