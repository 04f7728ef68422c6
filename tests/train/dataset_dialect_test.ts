/**
 * The dataset builders and the dialect: SQLite datasets byte for byte as before (no dialect recorded), built on
 * the engine `openEngine` opens or on one given (left open); GRPO refused for another dialect with its reason; an
 * engine of another dialect than the build's refused.
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSftDataset, GRPO_SQLITE_ONLY } from "../../lib/train/mod.ts";
import { sftCommand } from "../../lib/cli/sft.ts";
import { openEngine } from "../../lib/exec/mod.ts";
import { UsageError } from "../../lib/util/mod.ts";

const root = join(import.meta.dirname!, "..", "..");
const SAMPLE_DEV = join(root, "data", "sample", "dev.json");
const DB_ROOT = join(root, "data", "sample", "dev_databases");

function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of ["train.jsonl", "test.jsonl", "dataset.json"]) out[f] = readFileSync(join(dir, f), "utf8");
  return out;
}

Deno.test("sft on an engine given: same bytes as on the engine the build opens, engine left open, no dialect", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "sft-dialect-"));
  const engine = await openEngine({ workers: 2 });
  try {
    const common = { dataset: SAMPLE_DEV, db: ["superhero"], limit: 30, silent: true, workers: 2 };
    const opened = await buildSftDataset({ ...common, out: join(tmp, "a"), prompt: { sampleRows: 2 } });
    const given = await buildSftDataset({
      ...common,
      out: join(tmp, "b"),
      prompt: { sampleRows: 2 },
      dialect: "sqlite",
      engine,
    });
    assertEquals(files(given.dir), files(opened.dir));
    const doc = JSON.parse(files(given.dir)["dataset.json"]);
    ok(!("dialect" in doc), "a SQLite dataset.json names no dialect");
    assertEquals(Object.keys(doc.prompt.options), ["evidence", "sampleRows", "descriptions", "reasoning"]);
    // The builder did not close the engine it was given.
    const r = await engine.execute(engine.target(DB_ROOT, "superhero"), "SELECT count(*) FROM superhero");
    ok(r.ok && r.rows.length === 1, JSON.stringify(r));
  } finally {
    await engine.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});

Deno.test("sft --format grpo: refused for postgresql and mysql with its reason, in the builder and the command", async () => {
  for (const dialect of ["postgresql", "mysql"] as const) {
    const reason = GRPO_SQLITE_ONLY(dialect);
    ok(reason.includes("SQLite only") && reason.includes(dialect));
    await rejects(
      buildSftDataset({
        dataset: SAMPLE_DEV,
        out: "/nonexistent/never",
        format: "grpo",
        dialect,
        silent: true,
      }),
      (e) => e instanceof UsageError && e.message === reason,
    );
    await rejects(
      sftCommand([
        "--dataset",
        SAMPLE_DEV,
        "--out",
        "/nonexistent/never",
        "--format",
        "grpo",
        "--dialect",
        dialect,
      ]),
      (e) => e instanceof UsageError && e.message === reason,
    );
  }
  // A server URL implies its dialect.
  await rejects(
    sftCommand([
      "--dataset",
      SAMPLE_DEV,
      "--out",
      "/nonexistent/never",
      "--format",
      "grpo",
      "--db-url",
      "mysql://u@h/",
    ]),
    (e) => e instanceof UsageError && e.message === GRPO_SQLITE_ONLY("mysql"),
  );
  await rejects(
    sftCommand(["--dataset", SAMPLE_DEV, "--out", "/nonexistent/never", "--dialect", "oracle"]),
    (e) => e instanceof UsageError && /^--dialect: unknown dialect "oracle"/.test(e.message),
  );
});

Deno.test("sft: an engine of another dialect than the build's is refused before anything is written", async () => {
  const engine = await openEngine({ workers: 1 });
  const tmp = mkdtempSync(join(tmpdir(), "sft-dialect-"));
  try {
    await rejects(
      buildSftDataset({
        dataset: SAMPLE_DEV,
        out: join(tmp, "x"),
        dialect: "postgresql",
        engine,
        silent: true,
      }),
      /the engine given is sqlite, the build's dialect postgresql/,
    );
    assertEquals([...Deno.readDirSync(tmp)], []);
  } finally {
    await engine.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});
