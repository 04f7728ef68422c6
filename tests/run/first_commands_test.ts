/**
 * The README's first command, as a new user runs it in a fresh checkout (no `node_modules/` yet): the official
 * table and nothing before it. `deno task` itself sets up `node_modules/` on a first run and prints a line per npm
 * package (`Initialize …`, `Download …` on an empty cache) plus its `Task eval …` header; the README's `-q` keeps
 * them off the console. The checkout is a copy of what the command reads (config, lock, code, bundled sample).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The README's first command line (after the `npx -y deno@2.9.6` prefix), read from the README itself. */
async function firstCommand(): Promise<string[]> {
  const readme = await Deno.readTextFile(path.join(ROOT, "README.md"));
  const line = readme.split("\n").find((l) => l.startsWith("npx -y deno@2.9.6 task"));
  assert(line, "the README's first command");
  return line.replace(/#.*$/, "").trim().split(/\s+/).slice(3);
}

async function copyCheckout(dest: string): Promise<void> {
  for (const entry of ["deno.json", "deno.lock", "lib", "data/sample", "trainer/fixtures"]) {
    const to = path.join(dest, entry);
    await Deno.mkdir(path.dirname(to), { recursive: true });
    const out = await new Deno.Command("cp", { args: ["-R", path.join(ROOT, entry), to] }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
  }
}

Deno.test("the README's first command prints the official table with no npm set-up lines before it, in a fresh checkout", async () => {
  const args = await firstCommand();
  assertEquals(args.slice(0, 3), ["task", "-q", "eval"], "the README's first command is `task -q eval`");
  const dir = await Deno.makeTempDir({ prefix: "text2sql-first-" });
  try {
    await copyCheckout(dir);
    const out = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert(out.success, stderr);
    assert(
      !/^\s*(Initialize|Download|Task)\s/m.test(stderr + stdout),
      `npm set-up or task lines:\n${stderr}`,
    );
    // The bundled sample's table is the first thing on stdout, no line padded with trailing spaces.
    assert(/^count {16}81 /m.test(stdout), stdout);
    assert(!/ +$/m.test(stdout), "trailing spaces");
    assert(/^accuracy {13}76\.54 +54\.55 +26\.67 +65\.12$/m.test(stdout), stdout);
    // The checkout now has its node_modules: the set-up ran, silently.
    assert(await Deno.stat(path.join(dir, "node_modules")).then(() => true, () => false));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
