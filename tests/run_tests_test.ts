import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { denoTotals, unittestTotals } from "./run_tests.ts";

Deno.test("the suite's totals are read from Deno's and unittest's closing lines", () => {
  assertEquals(denoTotals("...\n\x1b[32mok\x1b[0m | 232 passed (13 steps) | 0 failed (1m51s)\n"), {
    passed: 232,
    failed: 0,
  });
  assertEquals(denoTotals("FAILED | 10 passed | 2 failed (3s)"), { passed: 10, failed: 2 });
  assertEquals(denoTotals("no summary"), null);
  assertEquals(unittestTotals("Ran 28 tests in 0.035s\n\nOK\n"), { passed: 28, failed: 0, skipped: 0 });
  assertEquals(unittestTotals("Ran 28 tests in 0.1s\n\nFAILED (failures=2, errors=1)\n"), {
    passed: 25,
    failed: 3,
    skipped: 0,
  });
  // A skipped test is not a passed one.
  assertEquals(unittestTotals("Ran 28 tests in 0.1s\n\nOK (skipped=1)\n"), {
    passed: 27,
    failed: 0,
    skipped: 1,
  });
  assertEquals(
    unittestTotals("Ran 5 tests in 0.1s\n\nFAILED (failures=1, skipped=2, expected failures=1)\n"),
    {
      passed: 1,
      failed: 1,
      skipped: 3,
    },
  );
  assertEquals(unittestTotals("ImportError"), null);
});
