/**
 * The resumable JSON-lines log (lib/util/jsonl_log.ts) that runs and audits append to: a torn last line is
 * skipped on reading and cut by the next appender, a bad line elsewhere is named by file and line, and appends
 * issued together all land, each as one whole line.
 */
import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { join } from "node:path";
import { JsonLinesAppender, parseJsonLines } from "../../lib/util/jsonl_log.ts";

type Rec = { index: number; v: string };

Deno.test("parseJsonLines: later lines replace earlier ones; a torn tail is skipped and its bytes not counted", () => {
  const text = '{"index":1,"v":"a"}\n\n{"index":1,"v":"é"}\n{"index":2,"v":"b';
  const parsed = parseJsonLines<Rec>(text, { file: "log.jsonl" });
  assertEquals([...parsed.records.values()], [{ index: 1, v: "é" }]);
  assertEquals(parsed.torn, true);
  assertEquals(
    parsed.intactBytes,
    new TextEncoder().encode(text.slice(0, text.lastIndexOf("\n") + 1)).length,
  );
  assertEquals(parseJsonLines<Rec>("", { file: "log.jsonl" }).torn, false);
});

Deno.test("parseJsonLines: a corrupt or rejected line is an error naming the file and the line", () => {
  throws(
    () => parseJsonLines<Rec>('{"index":1}\n{oops\n', { file: "log.jsonl" }),
    /^Error: log\.jsonl: line 2 is corrupt/,
  );
  throws(
    () => parseJsonLines<Rec>("null\n", { file: "log.jsonl" }),
    /^Error: log\.jsonl: line 1 is not a record \(no index\)$/,
  );
  const invalid = (v: unknown) => (v as Rec).v === undefined ? "not a test record" : null;
  throws(
    () => parseJsonLines<Rec>('{"index":1,"v":"a"}\n{"index":2}\n', { file: "log.jsonl", invalid }),
    /^Error: log\.jsonl: line 2 is not a test record$/,
  );
});

Deno.test("JsonLinesAppender: cuts a torn tail, and concurrent appends all land as whole lines", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "log.jsonl");
    await Deno.writeTextFile(path, '{"index":0,"v":"kept"}\n{"index":9,"v":"tor');
    const before = parseJsonLines<Rec>(await Deno.readTextFile(path), { file: path });
    const log = await JsonLinesAppender.open<Rec>(path, before.intactBytes);
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append({ index: i + 1, v: "x".repeat(i) })));
    await log.close();
    const after = parseJsonLines<Rec>(await Deno.readTextFile(path), { file: path });
    assertEquals(after.torn, false);
    assertEquals(after.records.size, 51);
    assertEquals(after.records.get(0), { index: 0, v: "kept" });
    assertEquals(after.records.get(50), { index: 50, v: "x".repeat(49) });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
