/**
 * `pyDisplayText`: a server engine's `{"py": key}` value reads as Python's `str()` of the value psycopg2/pymysql
 * return, checked against Python itself (Debian's python3) on decimals, dates, datetimes (naive and aware), times
 * and timedeltas, including the zero-microsecond, negative and far-from-epoch cases.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { pyDisplayText } from "../../lib/util/mod.ts";
import {
  pyDate,
  pyDateTime,
  pyDateTimeTz,
  pyDecimal,
  pyNaN,
  pyTime,
  pyTimedelta,
} from "../../lib/exec/python_values.ts";
import { PyKey } from "../../lib/exec/result_digest.ts";

const keyOf = (v: unknown): string => {
  if (!(v instanceof PyKey)) throw new Error(`not a PyKey: ${String(v)}`);
  return v.key;
};

// [our key, the Python expression whose str() it must read as]
const CASES: [string, string][] = [
  [keyOf(pyDecimal("2.1")), "Decimal('2.1')"],
  [keyOf(pyDecimal("-0.0001")), "Decimal('-0.0001')"],
  [keyOf(pyDecimal("123456789012345678901234567890.1")), "Decimal('123456789012345678901234567890.1')"],
  [keyOf(pyDecimal("0.1")), "Decimal('0.1')"],
  [keyOf(pyDate(2020, 2, 29)), "datetime.date(2020, 2, 29)"],
  [keyOf(pyDate(1, 1, 1)), "datetime.date(1, 1, 1)"],
  [
    keyOf(pyDateTime({ year: 2021, month: 12, day: 31, hour: 0, minute: 0, second: 0, micro: 0 })),
    "datetime.datetime(2021, 12, 31, 0, 0, 0)",
  ],
  [
    keyOf(pyDateTime({ year: 1999, month: 1, day: 2, hour: 3, minute: 4, second: 5, micro: 60 })),
    "datetime.datetime(1999, 1, 2, 3, 4, 5, 60)",
  ],
  [
    keyOf(pyDateTimeTz({ year: 2021, month: 6, day: 1, hour: 12, minute: 30, second: 0, micro: 5 }, 3600)),
    "datetime.datetime(2021, 6, 1, 12, 30, 0, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))" +
    ".astimezone(datetime.timezone.utc)",
  ],
  [
    keyOf(pyDateTimeTz({ year: 1960, month: 1, day: 1, hour: 0, minute: 0, second: 0, micro: 1 }, 0)),
    "datetime.datetime(1960, 1, 1, 0, 0, 0, 1, tzinfo=datetime.timezone.utc)",
  ],
  [keyOf(pyTime({ hour: 23, minute: 59, second: 58, micro: 0 })), "datetime.time(23, 59, 58)"],
  [keyOf(pyTime({ hour: 1, minute: 2, second: 3, micro: 400 })), "datetime.time(1, 2, 3, 400)"],
  [keyOf(pyTimedelta(0n)), "datetime.timedelta(0)"],
  [keyOf(pyTimedelta(86_400_000_000n)), "datetime.timedelta(days=1)"],
  [keyOf(pyTimedelta(-1n)), "datetime.timedelta(microseconds=-1)"],
  [keyOf(pyTimedelta(-86_400_000_000n * 3n + 5_000_000n)), "datetime.timedelta(days=-3, seconds=5)"],
  [
    keyOf(pyTimedelta(90061_000_001n)),
    "datetime.timedelta(days=1, hours=1, minutes=1, seconds=1, microseconds=1)",
  ],
  [keyOf(pyNaN()), "float('nan')"],
];

Deno.test("a {py} display value reads as Python's str() of the value", async () => {
  const script = "import datetime, sys\nfrom decimal import Decimal\n" +
    CASES.map(([, expr]) => `print(str(${expr}))`).join("\n");
  const out = await new Deno.Command("/usr/bin/python3", { args: ["-c", script], stdout: "piped" }).output();
  const python = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
  assertEquals(CASES.map(([key]) => pyDisplayText(key)), python);
});

Deno.test("a decimal reads by its value, not its scale (the key is what Python's == compares)", () => {
  assertEquals(pyDisplayText(keyOf(pyDecimal("2.10"))), "2.1");
});

Deno.test("an unknown or malformed key reads as itself", () => {
  assertEquals(pyDisplayText('range:["n1","n5","[)"]'), 'range:["n1","n5","[)"]');
  assertEquals(pyDisplayText("td:abc"), "td:abc");
  assertEquals(pyDisplayText("dec:x"), "x");
});

Deno.test("prompt sample rows and the agent's tool results show a {py} value as its text", async () => {
  const { sampleComment } = await import("../../lib/prompt/schema_blocks.ts");
  const { cellText } = await import("../../lib/prompt/mod.ts");
  const day = { py: keyOf(pyDate(2014, 3, 9)) };
  const amount = { py: keyOf(pyDecimal("0.1")) };
  const block = sampleComment({ columns: ["d", "amount"], rows: [[day, amount]] }, { n: 1, ref: "t" });
  assertEquals(
    /2014-03-09/.test(block) && /0\.1/.test(block) && !/object|date:|dec:/.test(block),
    true,
    block,
  );
  assertEquals([cellText(day), cellText(amount)], ["2014-03-09", "0.1"]);
});
