/** `lib/data/download_progress.ts`: the one-line rendering of a download's progress reports. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { formatProgress } from "../../lib/data/mod.ts";

Deno.test("formatProgress: bar, amounts, rate and an ETA in the house duration format", () => {
  assertEquals(
    formatProgress({
      phase: "download",
      label: "dev.zip",
      done: 1.2e9,
      total: 2.9e9,
      rate: 12.3e6,
      etaSeconds: 141,
    }),
    "download dev.zip  [##########..............]  41.4%  1.2 GB/2.9 GB  12.3 MB/s  ETA 2m21s",
  );
  // Databases counted, not bytes; a finished phase shows no ETA; an unknown total shows the amount alone.
  assertEquals(
    formatProgress({ phase: "verify", label: "dev_20240627", done: 11, total: 11, rate: 2, etaSeconds: 0 }),
    "verify dev_20240627  [########################] 100.0%  11/11  2.0/s",
  );
  assertEquals(
    formatProgress({
      phase: "download",
      label: "dev.zip",
      done: 512,
      total: null,
      rate: 0,
      etaSeconds: null,
    }),
    "download dev.zip  512 B",
  );
});
