/**
 * The lock of a run folder: one writer at a time, or two runs appending to one `results.jsonl` would interleave
 * and tear its lines for good.
 *
 * It is an advisory `flock` (Deno's `FsFile.tryLock`) on `<dir>/.lock`, which the kernel releases when its
 * holder exits however it dies (SIGKILL included). So a dead holder never blocks, and no pid is ever guessed at:
 * a pid written by a killed run and since reused by an unrelated process cannot block a folder forever. A run
 * that ends removes the file while it still holds the lock, and a run that locked a file no longer at that path
 * tries again, so the removal never lets two runs hold it at once; a killed run leaves the file, harmlessly.
 *
 * @module
 */
import { join } from "node:path";

/** Name of the lock file inside a run folder. */
export const LOCK_FILE = ".lock";

/** The run folder is held by a live run; the message is one line naming the folder. */
export class RunLockedError extends Error {
  override name = "RunLockedError";
}

/** A held run lock; release it once the folder's writers are closed. */
export interface RunLock {
  /** The lock file. */
  readonly path: string;
  /** Unlock and close (idempotent). */
  release(): void;
}

/**
 * Take the lock of run folder `dir` without waiting.
 *
 * @throws {RunLockedError} when a live process holds it.
 */
export async function lockRun(dir: string): Promise<RunLock> {
  const path = join(dir, LOCK_FILE);
  // A holder removes the file before it lets go, so a lock taken on a file that is no longer at `path` (opened
  // just before that removal) protects nothing: drop it and open again. Two rounds suffice unless something
  // keeps replacing the file; a few more cost nothing.
  for (let round = 0; round < 5; round++) {
    // No truncate on open: a holder's pid stays readable until this process has the lock.
    const file = await Deno.open(path, { read: true, write: true, create: true });
    let held: boolean;
    let same = false;
    try {
      held = await file.tryLock(true);
      if (held) {
        const [mine, there] = await Promise.all([file.stat(), Deno.stat(path).catch(() => null)]);
        same = there !== null && there.ino === mine.ino && there.dev === mine.dev;
      }
    } catch (e) {
      file.close();
      throw new Error(`${path}: cannot lock the run folder (${(e as Error).message})`);
    }
    if (!held) {
      file.close();
      throw new RunLockedError(
        `${dir} is being written by another run (it holds ${LOCK_FILE}); wait for it or use another --out`,
      );
    }
    if (!same) {
      file.close();
      continue;
    }
    // For a human looking at the folder only: the lock is the flock, never this number.
    await file.truncate(0).then(() => file.write(new TextEncoder().encode(`${Deno.pid}\n`))).catch(() => {});
    let open = true;
    return {
      path,
      release() {
        if (!open) return;
        open = false;
        // Removed while still held (see above), then closing the descriptor drops the flock.
        try {
          Deno.removeSync(path);
        } catch {
          // Already gone (a user tidying the folder): nothing to release but the descriptor.
        }
        file.close();
      },
    };
  }
  throw new RunLockedError(`${dir}: the lock file ${path} keeps being replaced; is another run starting?`);
}
