/**
 * The scoring benchmark's table: the figures of each set and its targets, each marked PASS or MISS.
 *
 * @module
 */
/** Figures of one set: medians of the runs. */
export interface SetFigures {
  name: string;
  pairs: number;
  ours: number;
  official: number;
  /** CPU seconds of each process tree (medians): steadier than wall time on a shared machine. */
  oursCpu: number;
  officialCpu: number;
  floor: number | null;
  oursMb: number;
  officialMb: number;
  correct: { ours: number; official: number };
}

/** Ours/official targets per set (0.70× where not named). */
const TARGETS: Record<string, number> = { trivial: 1.0, superhero: 0.7, scale: 0.7 };

function mark(ok: boolean): string {
  return ok ? "PASS" : "MISS";
}

/** Print the table of `figures` and each set's targets with PASS/MISS. */
export function printFigures(figures: SetFigures[], how: { workers: number; runs: number }): void {
  console.log(
    `\nscoring head to head, ${how.workers} workers / processes, medians of ${how.runs} alternating run(s), ` +
      `wall time from outside (start-up included), CPU time and peak RSS of each process tree`,
  );
  console.log(
    `${"set".padEnd(10)} ${"pairs".padStart(6)} ${"ours s".padStart(8)} ${"official s".padStart(10)} ` +
      `${"floor s".padStart(8)} ${"ours CPU s".padStart(10)} ${"off. CPU s".padStart(10)} ` +
      `${"ours MB".padStart(8)} ${"off. MB".padStart(8)}  EX ours/official`,
  );
  for (const f of figures) {
    console.log(
      `${f.name.padEnd(10)} ${String(f.pairs).padStart(6)} ${f.ours.toFixed(2).padStart(8)} ` +
        `${f.official.toFixed(2).padStart(10)} ${
          (f.floor === null ? "-" : f.floor.toFixed(2)).padStart(8)
        } ` +
        `${f.oursCpu.toFixed(2).padStart(10)} ${f.officialCpu.toFixed(2).padStart(10)} ` +
        `${f.oursMb.toFixed(0).padStart(8)} ${f.officialMb.toFixed(0).padStart(8)}  ` +
        `${f.correct.ours}/${f.correct.official}${f.correct.ours === f.correct.official ? "" : "  (DIFFER)"}`,
    );
  }
  console.log("targets:");
  for (const f of figures) {
    const r = f.ours / f.official;
    // Per-question overhead (`trivial`) has its own target: the official script does nearly nothing per pair.
    const target = TARGETS[f.name] ?? 0.7;
    console.log(
      `  ${f.name}: ours/official ${r.toFixed(2)}× (target ≤ ${target.toFixed(2)}×) ${mark(r <= target)}; ` +
        `CPU ${(f.oursCpu / f.officialCpu).toFixed(2)}×`,
    );
    if (f.floor !== null) {
      const q = f.ours / f.floor;
      console.log(`  ${f.name}: ours/floor ${q.toFixed(2)}× (target ≤ 1.30×) ${mark(q <= 1.3)}`);
    }
    const d = f.oursMb - f.officialMb;
    console.log(
      `  ${f.name}: peak memory ${f.oursMb.toFixed(0)} MB vs ${f.officialMb.toFixed(0)} MB ` +
        `(${d >= 0 ? "+" : ""}${d.toFixed(0)} MB, target ≤ +300 MB) ${mark(d <= 300)}`,
    );
  }
}
