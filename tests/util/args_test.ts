import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { joinNegativeNumbers, modelFlagValues, numberFlag, refuseKeyFlags } from "../../lib/util/args.ts";

Deno.test("negative numbers after a flag reach the flag's own check", () => {
  assertEquals(joinNegativeNumbers(["--limit", "-1", "--db", "x", "--seed", "-42"]), [
    "--limit=-1",
    "--db",
    "x",
    "--seed=-42",
  ]);
  assertEquals(joinNegativeNumbers(["--quiet", "-h"]), ["--quiet", "-h"]);
});

Deno.test("numeric flags, key flags and model flags are checked with one-line messages", () => {
  assertEquals(numberFlag("limit", "5", { integer: true, min: 0 }), 5);
  throws(() => numberFlag("limit", "1.5", { integer: true }), /--limit expects an integer, got "1.5"/);
  throws(() => numberFlag("test-ratio", "2", { min: 0, max: 1 }), /≥ 0 and ≤ 1/);
  throws(() => refuseKeyFlags(["--api-key=sk-1"]), /environment only/);
  throws(() => modelFlagValues({ provider: "bogus" }, ["openai", "together"]), /--provider must be one of/);
  assertEquals(modelFlagValues({ "no-cache": true, "max-tokens": "64" }, ["openai"]).cache, false);
});
