/**
 * A FIFO concurrency limiter: at most `n` tasks run at once, the rest start in the order they were submitted.
 *
 * We keep our own rather than pulling in a dependency because the model client, the SQLite pool and the
 * benchmarks all need the same tiny, predictable behaviour (strict FIFO, slot released on throw).
 *
 * @module
 */

/** Runs async tasks with bounded concurrency. */
export interface Limiter {
  /** Runs `fn` once a slot is free (FIFO); resolves or rejects with its result. The slot is released either way. */
  run<T>(fn: () => Promise<T> | T): Promise<T>;
  /** Tasks running now. */
  readonly active: number;
  /** Tasks waiting for a slot. */
  readonly pending: number;
  /** The maximum number of tasks run at once. */
  readonly concurrency: number;
}

/**
 * Creates a FIFO limiter allowing `n` concurrent tasks.
 *
 * @param n Maximum number of tasks in flight; a positive integer.
 * @throws {RangeError} when `n` is not a positive integer.
 */
export function createLimiter(n: number): Limiter {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`concurrency must be a positive integer, got ${n}`);
  }
  let active = 0;
  // A head index instead of Array.shift() keeps dequeueing O(1) when thousands of questions queue up.
  const queue: Array<() => void> = [];
  let head = 0;

  const release = () => {
    if (head < queue.length) {
      const next = queue[head];
      queue[head] = undefined as unknown as () => void;
      head++;
      if (head > 1024 && head * 2 > queue.length) {
        queue.splice(0, head);
        head = 0;
      }
      // The slot passes straight to the next waiter, so a newcomer can never jump the queue.
      next();
    } else {
      active--;
    }
  };

  const acquire = (): Promise<void> => {
    if (active < n && head >= queue.length) {
      active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => queue.push(resolve));
  };

  return {
    async run<T>(fn: () => Promise<T> | T): Promise<T> {
      await acquire();
      try {
        return await fn();
      } finally {
        release();
      }
    },
    get active() {
      return active;
    },
    get pending() {
      return queue.length - head;
    },
    get concurrency() {
      return n;
    },
  };
}
