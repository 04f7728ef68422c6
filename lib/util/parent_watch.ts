/**
 * The parent watch: a command started by `deno task` (the documented entry point) runs as the task process's
 * child; when that process is SIGKILLed, nothing tells the child, which would keep its lock, its workers and
 * its requests going. {@linkcode watchTaskParent} notices the parent's death (the process is re-parented, so
 * `Deno.ppid` changes) and exits. Only a process started by `deno task` watches (`deno task` marks its
 * children with `npm_config_user_agent=deno/…`; `/proc/PID/cmdline` needs `--allow-all` in Deno): a run
 * started from a shell under `nohup` keeps running when that shell goes.
 *
 * @module
 */

/** Whether this process runs under `deno task` (its environment says so). */
export function underDenoTask(): boolean {
  try {
    return /^deno\//.test(Deno.env.get("npm_config_user_agent") ?? "");
  } catch {
    return false;
  }
}

/** Options of {@linkcode watchTaskParent}. */
export interface ParentWatchOptions {
  /** Poll interval in ms (default 500). */
  intervalMs?: number;
  /** Watch whatever started this process, under `deno task` or not (tests). */
  anyParent?: boolean;
  /** What to do when the parent is gone (default: one line on stderr, then exit 1; workers die with us). */
  onGone?: (parent: number) => void;
}

/**
 * Exits this process when the `deno task` process that started it dies. The timer is unref'd: it never keeps
 * the process alive. Returns a function that stops watching; a no-op (returning a no-op) when this process
 * was not started by `deno task`.
 */
export function watchTaskParent(options: ParentWatchOptions = {}): () => void {
  if (!options.anyParent && !underDenoTask()) return () => {};
  const parent = Deno.ppid;
  const onGone = options.onGone ?? ((pid: number) => {
    console.error(`error: the deno task process (pid ${pid}) that started this run is gone: stopping`);
    Deno.exit(1);
  });
  const timer = setInterval(() => {
    if (Deno.ppid !== parent) {
      clearInterval(timer);
      onGone(parent);
    }
  }, options.intervalMs ?? 500);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
