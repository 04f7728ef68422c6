import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import {
  joinNegativeNumbers,
  modelFlagValues,
  numberFlag,
  parseCommand,
  refuseKeyFlags,
  UsageError,
  usageExit,
} from "../../lib/util/args.ts";
import { formatDuration } from "../../lib/util/progress.ts";

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

Deno.test("parseCommand: strict flags, --help prints the usage, positionals counted, bad lines are UsageErrors", () => {
  const spec = {
    usage: "usage: deno task x DATASET [--dest DIR] [--limit N]",
    options: { dest: { type: "string", default: "data" }, limit: { type: "string" } },
    positionals: { count: 1, name: "dataset" },
  } as const;
  const parsed = parseCommand(["dev", "--limit", "3"], spec);
  assertEquals(parsed?.positionals, ["dev"]);
  assertEquals(parsed?.values.dest, "data");
  assertEquals(parsed?.values.limit, "3");
  const printed: unknown[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => printed.push(...args);
  try {
    assertEquals(parseCommand(["-h"], spec), null);
  } finally {
    console.log = log;
  }
  assertEquals(printed, [spec.usage]);
  throws(
    () => parseCommand(["dev", "--bogus"], spec),
    (e: Error) => e instanceof UsageError && /--bogus/.test(e.message),
  );
  throws(() => parseCommand([], spec), /expected exactly one dataset, got 0/);
  throws(() => parseCommand(["dev", "train"], spec), /expected exactly one dataset, got 2/);
  // Without positionals in the spec, any positional is refused; negative numbers reach numberFlag when asked.
  throws(() => parseCommand(["dev"], { usage: "", options: {} }), UsageError);
  throws(() => parseCommand(["--limit", "-1"], { usage: "", options: spec.options }), UsageError);
  assertEquals(
    parseCommand(["--limit", "-1"], { usage: "", options: spec.options, negativeNumbers: true })?.values
      .limit,
    "-1",
  );
});

Deno.test("usageExit: one line naming the command, then the usage, on stderr; exit 2", () => {
  const printed: unknown[] = [];
  const error = console.error;
  console.error = (...args: unknown[]) => printed.push(...args);
  try {
    assertEquals(usageExit("download", "usage: deno task download", new UsageError("bad\n  flag")), 2);
  } finally {
    console.error = error;
  }
  assertEquals(printed, ["download: bad flag\nusage: deno task download"]);
});

Deno.test("formatDuration: the one duration format of progress lines and download ETAs", () => {
  assertEquals(formatDuration(42), "42s");
  assertEquals(formatDuration(141), "2m21s");
  assertEquals(formatDuration(3725), "1h02m");
});
