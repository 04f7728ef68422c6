/**
 * Progress of a long loop (generation, execution): an in-place bar on a terminal, sparse lines in CI logs, and
 * an `onUpdate` hook so a notebook can draw its own in-place display.
 *
 * @module
 */

/** A snapshot of progress, as given to `onUpdate`. */
export interface ProgressState {
  label: string;
  total: number;
  done: number;
  errors: number;
  /** What `errors` counts, as shown (`errors`, or e.g. `flagged`). */
  errorsLabel?: string;
  /** Seconds since the progress was created. */
  elapsedS: number;
  /** Items per second so far (0 before the first). */
  ratePerS: number;
  /** Estimated seconds left, null before the first item. */
  etaS: number | null;
  /** True once `done()` was called. */
  finished: boolean;
}

/** Where progress is written: `Deno.stderr` by default. */
export interface ProgressStream {
  writeSync(data: Uint8Array): number;
  isTerminal?(): boolean;
}

/** Options for {@linkcode createProgress}. */
export interface ProgressOptions {
  /** Shown before the counts (default `progress`). */
  label?: string;
  /** Line mode even on a terminal (CI logs); lines at most every ~10% or 10 s. */
  quiet?: boolean;
  /** Where to write (default `Deno.stderr`). */
  stream?: ProgressStream;
  /** Write nothing to the stream; only call `onUpdate` (notebooks). */
  silent?: boolean;
  /** Called on every tick and at the end with the current state. */
  onUpdate?: (state: ProgressState) => void;
  /** Clock in ms (default `performance.now`), for tests. */
  now?: () => number;
  /** What the items counted by `tick({ error: true })` are called on the line (default `errors`). */
  errorsLabel?: string;
}

/** A progress display. */
export interface Progress {
  /** Counts one finished item; `error: true` counts it as failed too. */
  tick(options?: { error?: boolean }): void;
  /** Writes the final state (and ends the bar's line). Idempotent. */
  done(): void;
  /** The current state. */
  state(): ProgressState;
}

const BAR_WIDTH = 24;
/** Redraws of the terminal bar are limited to this interval so a fast loop does not flood the terminal. */
const REDRAW_MS = 100;
const LINE_INTERVAL_MS = 10_000;

/**
 * Creates a progress display for `total` items.
 *
 * @param total Number of items expected.
 * @param options Label, quiet/silent modes, stream and hook.
 */
export function createProgress(total: number, options: ProgressOptions = {}): Progress {
  const label = options.label ?? "progress";
  const stream = options.stream ?? Deno.stderr;
  const now = options.now ?? (() => performance.now());
  const tty = !options.quiet && !options.silent && (stream.isTerminal?.() ?? false);
  const encoder = new TextEncoder();
  const start = now();
  let done = 0;
  let errors = 0;
  let finished = false;
  let lastDraw = -Infinity;
  let lastLineAt = start;
  let lastLineDecile = 0;

  const stateAt = (t: number): ProgressState => {
    const elapsedS = (t - start) / 1000;
    const ratePerS = elapsedS > 0 ? done / elapsedS : 0;
    return {
      label,
      total,
      done,
      errors,
      errorsLabel: options.errorsLabel ?? "errors",
      elapsedS,
      ratePerS,
      etaS: done > 0 && ratePerS > 0 ? Math.max(0, total - done) / ratePerS : null,
      finished,
    };
  };

  const write = (text: string) => {
    stream.writeSync(encoder.encode(text));
  };

  const update = (force: boolean) => {
    // One clock read per tick, and the snapshot is built only when someone looks at it: a silent progress
    // without a hook, or a bar between redraws, costs a counter increment on a hot loop.
    const t = now();
    let snapshot: ProgressState | undefined;
    const s = () => (snapshot ??= stateAt(t));
    options.onUpdate?.(s());
    if (options.silent) return;
    if (tty) {
      if (!force && t - lastDraw < REDRAW_MS) return;
      lastDraw = t;
      // \r + erase-line keeps the bar in place; the final draw ends the line.
      write(`\r\x1b[2K${formatBar(s())}${finished ? "\n" : ""}`);
      return;
    }
    const decile = total > 0 ? Math.floor((done / total) * 10) : 10;
    // The 100% line is left to done(), which says how long it all took.
    if (!force && done >= total) return;
    if (force || decile > lastLineDecile || t - lastLineAt >= LINE_INTERVAL_MS) {
      lastLineDecile = decile;
      lastLineAt = t;
      write(formatLine(s()) + "\n");
    }
  };

  return {
    tick(tickOptions = {}) {
      if (finished) return;
      done++;
      if (tickOptions.error) errors++;
      update(false);
    },
    done() {
      if (finished) return;
      finished = true;
      update(true);
    },
    state: () => stateAt(now()),
  };
}

/** `label [████░░░░] 40/100 40% 12.3/s ETA 5s errors 2`. */
export function formatBar(s: ProgressState): string {
  const fraction = s.total > 0 ? Math.min(1, s.done / s.total) : 1;
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = "█".repeat(filled) + "░".repeat(BAR_WIDTH - filled);
  return `${s.label} [${bar}] ${formatCounts(s)}`;
}

/** `label: 40/100 (40%) 12.3/s ETA 5s errors 2` — for logs. */
export function formatLine(s: ProgressState): string {
  return `${s.label}: ${formatCounts(s)}`;
}

function formatCounts(s: ProgressState): string {
  const pct = s.total > 0 ? Math.floor((s.done / s.total) * 100) : 100;
  const rate = s.ratePerS >= 10 ? s.ratePerS.toFixed(0) : s.ratePerS.toFixed(1);
  const tail = s.finished
    ? `in ${formatDuration(s.elapsedS)}`
    : `ETA ${s.etaS === null ? "?" : formatDuration(s.etaS)}`;
  const errs = s.errors > 0 ? ` ${s.errorsLabel ?? "errors"} ${s.errors}` : "";
  return `${s.done}/${s.total} ${pct}% ${rate}/s ${tail}${errs}`;
}

/** `42s`, `3m05s`, `1h02m`. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
