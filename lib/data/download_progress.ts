/**
 * Progress of a download's phases (download, hash, extract, verify): the reports `downloadDataset` gives its
 * `onProgress` callback, rate-limited with rate and ETA, and the one-line rendering terminals and notebooks show.
 *
 * @module
 */
import { formatDuration } from "../util/mod.ts";

/** One progress report; `done`/`total` are bytes, except in the `verify` phase where they count databases. */
export interface DownloadProgress {
  phase: "download" | "hash" | "extract" | "verify";
  /** What is being worked on (archive or entry name). */
  label: string;
  done: number;
  /** `null` when the server did not say how big the file is. */
  total: number | null;
  /** Units per second over this phase so far (for `download`, bytes fetched in this run only). */
  rate: number;
  /** Seconds left at the current rate, `null` when unknown. */
  etaSeconds: number | null;
}

/** The `onProgress` callback every phase reports to. */
export type OnProgress = (progress: DownloadProgress) => void;

/** Rate-limits progress reports of one phase (about ten a second) and computes rate and ETA. */
export class Meter {
  #phase: DownloadProgress["phase"];
  #label: string;
  #onProgress?: OnProgress;
  #start = performance.now();
  #last = 0;

  /** A meter for `phase` on `label`, reporting to `onProgress` (nothing when absent). */
  constructor(phase: DownloadProgress["phase"], label: string, onProgress?: OnProgress) {
    this.#phase = phase;
    this.#label = label;
    this.#onProgress = onProgress;
  }

  /** `moved` is what counts toward the rate when it differs from `done` (a resumed download). */
  update(done: number, total: number | null, moved = done, force = false): void {
    if (!this.#onProgress) return;
    const now = performance.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const seconds = (now - this.#start) / 1000;
    const rate = seconds > 0 ? moved / seconds : 0;
    const etaSeconds = total !== null && rate > 0 ? Math.max(0, (total - done) / rate) : null;
    this.#onProgress({ phase: this.#phase, label: this.#label, done, total, rate, etaSeconds });
  }

  /** The phase's last report, never skipped by the rate limit. */
  finish(done: number, total: number | null, moved = done): void {
    this.update(done, total, moved, true);
  }
}

/**
 * One line describing a progress report, for terminals and notebooks.
 *
 * @param progress A report from the `onProgress` option.
 */
export function formatProgress(progress: DownloadProgress): string {
  const bytes = progress.phase !== "verify";
  const amount = (n: number) => bytes ? formatBytes(n) : String(n);
  const parts = [`${progress.phase} ${progress.label}`];
  if (progress.total !== null && progress.total > 0) {
    const fraction = Math.min(1, progress.done / progress.total);
    const width = 24;
    const filled = Math.round(fraction * width);
    parts.push(
      `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(fraction * 100).toFixed(1).padStart(5)}%`,
    );
    parts.push(`${amount(progress.done)}/${amount(progress.total)}`);
  } else {
    parts.push(amount(progress.done));
  }
  if (progress.rate > 0) {
    parts.push(bytes ? `${formatBytes(progress.rate)}/s` : `${progress.rate.toFixed(1)}/s`);
  }
  if (progress.etaSeconds !== null && progress.total !== null && progress.done < progress.total) {
    parts.push(`ETA ${formatDuration(progress.etaSeconds)}`);
  }
  return parts.join("  ");
}

/** `512 B`, `1.2 MB`, `2.9 GB` (decimal units, as archive sizes are announced). */
export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}
