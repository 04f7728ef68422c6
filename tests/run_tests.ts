/**
 * `deno task test`: the whole suite — Deno tests (including headless notebooks and the real-browser checks) and the
 * trainer's Python unit tests — ending with the totals alone on a line: `N passed, N failed`.
 *
 * The notebook and browser tests need Jupyter (Debian's nbconvert) and Chromium. Where they are missing the suite
 * FAILS at once with the one command that installs them; it never skips them silently.
 *
 * @module
 */

const INSTALL =
  "apt-get update && apt-get install -y --no-install-recommends jupyter-client jupyter-nbconvert jupyter-notebook " +
  "chromium python3 python3-venv postgresql mariadb-server python3-psycopg2 python3-pymysql && " +
  "bash trainer/install_cpu.sh";

async function has(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** What is missing for the suite to run, by name. */
export async function missingPrerequisites(): Promise<string[]> {
  const missing: string[] = [];
  if (!(await has("python3", ["--version"]))) missing.push("python3");
  if (
    !(await has("jupyter-nbconvert", ["--version"])) && !(await has("jupyter", ["nbconvert", "--version"]))
  ) {
    missing.push("jupyter nbconvert");
  }
  if (!(await exists("/usr/bin/chromium"))) missing.push("chromium (/usr/bin/chromium)");
  if (!(await has("jupyter-notebook", ["--version"]))) {
    missing.push("jupyter-notebook (the classic Notebook 6)");
  }
  // The PostgreSQL and MySQL tests start private servers, and check verdicts against the official drivers.
  if (!(await has("/bin/sh", ["-c", "ls /usr/lib/postgresql/*/bin/postgres"]))) missing.push("postgresql");
  if (!(await exists("/usr/sbin/mariadbd"))) missing.push("mariadb-server (/usr/sbin/mariadbd)");
  for (const mod of ["psycopg2", "pymysql"]) {
    if (!(await has("/usr/bin/python3", ["-c", `import ${mod}`]))) missing.push(`python3-${mod}`);
  }
  // The trainer trains for real on CPU in the suite: its venv (torch CPU + the image's pins) must exist.
  if (!(await has(trainerPython(), ["-c", "import torch, transformers, peft, trl, datasets, accelerate"]))) {
    missing.push(`the trainer's CPU stack (${trainerPython()}): run bash trainer/install_cpu.sh`);
  }
  return missing;
}

/**
 * The Python that runs the trainer's tests: `TEXT2SQL_TRAINER_PYTHON`, else the venv `trainer/install_cpu.sh`
 * makes (torch CPU and the image's pins: the CPU smoke test, the GRPO check and the mutation test need it).
 */
export function trainerPython(env: { get(key: string): string | undefined } = Deno.env): string {
  const explicit = env.get("TEXT2SQL_TRAINER_PYTHON");
  if (explicit) return explicit;
  const venv = env.get("TEXT2SQL_TRAINER_VENV") ?? `${env.get("HOME") ?? ""}/.cache/text2sql/trainer-venv`;
  return `${venv}/bin/python`;
}

/** Run a command, echo its output, and return it for counting. */
async function runEcho(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; text: string }> {
  const child = new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).spawn();
  const chunks: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      chunks.push(decoder.decode(chunk, { stream: true }));
      await sink.write(chunk);
    }
  };
  await Promise.all([pump(child.stdout, Deno.stdout), pump(child.stderr, Deno.stderr)]);
  const status = await child.status;
  return { code: status.code, text: chunks.join("") };
}

// deno-lint-ignore no-control-regex
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

/** Totals from Deno's closing line: `ok | 12 passed (3 steps) | 0 failed`. */
export function denoTotals(output: string): { passed: number; failed: number } | null {
  const line = stripAnsi(output).split("\n").reverse().find((l) => /\d+ passed.*\| \d+ failed/.test(l));
  if (!line) return null;
  return {
    passed: Number(/(\d+) passed/.exec(line)![1]),
    failed: Number(/(\d+) failed/.exec(line)![1]),
  };
}

/**
 * Totals from unittest's closing lines: `Ran 12 tests` then `OK`, `OK (skipped=1)` or `FAILED (failures=1,
 * errors=2, skipped=1)`. A skipped test is neither passed nor failed (nor is an expected failure a pass): it is
 * counted apart, so the totals never claim a check that did not run.
 */
export function unittestTotals(output: string): { passed: number; failed: number; skipped: number } | null {
  const ran = /Ran (\d+) tests?/.exec(output);
  if (!ran) return null;
  const total = Number(ran[1]);
  const count = (what: string) => Number(new RegExp(`\\b${what}=(\\d+)`).exec(output)?.[1] ?? 0);
  const failed = count("failures") + count("errors") + count("unexpected successes");
  const skipped = count("skipped") + count("expected failures");
  return { passed: total - failed - skipped, failed, skipped };
}

if (import.meta.main) {
  const missing = await missingPrerequisites();
  if (missing.length) {
    console.error(`missing ${missing.join(", ")}: install with: ${INSTALL}`);
    Deno.exit(1);
  }
  // No kernel registration here: the notebook tests register theirs in a private folder
  // (tests/support/notebook_setup.ts), so the user's own `deno` kernelspec is never re-pointed at this Deno.
  const filter = Deno.args;
  // Every temporary folder a test makes (run folders, caches, browser profiles) goes under one of the suite's
  // own, removed at the end: a test that forgets its clean-up, or is killed, leaves nothing in /tmp.
  const tmp = await Deno.makeTempDir({ prefix: "text2sql-suite-" });
  // As /tmp is: the private PostgreSQL and MariaDB servers run as their own users and keep their folders here.
  await Deno.chmod(tmp, 0o1777);
  const env = { TMPDIR: tmp };
  let deno, py;
  try {
    deno = await runEcho(Deno.execPath(), [
      "test",
      "-A",
      "--no-prompt",
      ...(filter.length ? filter : ["tests/"]),
    ], env);
    py = filter.length
      ? { code: 0, text: "Ran 0 tests\n" }
      : await runEcho(trainerPython(), ["-m", "unittest", "discover", "-s", "trainer/tests", "-v"], env);
  } finally {
    const left = [...Deno.readDirSync(tmp)].length;
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    if (left) {
      console.log(`removed ${left} temporary folder${left === 1 ? "" : "s"} the tests left in ${tmp}`);
    }
  }
  const d = denoTotals(deno.text) ?? { passed: 0, failed: deno.code === 0 ? 0 : 1 };
  const p = unittestTotals(py.text) ?? { passed: 0, failed: py.code === 0 ? 0 : 1, skipped: 0 };
  const passed = d.passed + p.passed;
  const failed = d.failed + p.failed + (deno.code !== 0 && d.failed === 0 ? 1 : 0) +
    (py.code !== 0 && p.failed === 0 ? 1 : 0);
  console.log(
    `deno: ${d.passed} passed, ${d.failed} failed; python unittest: ${p.passed} passed, ${p.failed} failed` +
      (p.skipped ? `, ${p.skipped} skipped (not counted as passed)` : ""),
  );
  console.log(`${passed} passed, ${failed} failed`);
  Deno.exit(failed === 0 && passed > 0 ? 0 : 1);
}
