/**
 * Prerequisites of the headless notebook tests and of `deno task notebook:html`: Debian's Jupyter client and
 * nbconvert (which bring nbclient) and the Deno kernelspec. When something is missing, the error is one line
 * with the command that installs it, so a test fails with the fix in its message instead of skipping.
 *
 * The tests register the Deno kernel in a private folder ({@linkcode privateKernel}) and point Jupyter at it, so
 * running them never re-points the user's own `deno` kernelspec at whatever Deno ran the tests.
 *
 * @module
 */
import { findNotebookPython, JUPYTER_APT_COMMAND } from "../../lib/notebook/notebook_html.ts";

/** The one-line install command for everything the notebook tests need (Debian; run as root). */
export const NOTEBOOK_INSTALL_COMMAND = `${JUPYTER_APT_COMMAND} && deno jupyter --install --force`;

/** The command that (re)installs only the Deno kernelspec; it stores deno's absolute path, so rerun per machine. */
export const KERNEL_INSTALL_COMMAND = "deno jupyter --install --force";

/** What was found: the interpreters and tools to call. */
export interface NotebookSetup {
  /** A python3 that can import nbclient, nbformat and nbconvert (Debian's, not a pyenv shim without them). */
  python: string;
  /** The deno binary the `deno` kernelspec starts. */
  kernelDeno: string;
  /** The `deno` kernelspec's folder. */
  kernelDir: string;
}

/** Missing prerequisites: `message` is one line ending with the install command. */
export class NotebookSetupError extends Error {
  override name = "NotebookSetupError";
}

async function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  try {
    const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped", stdin: "null" })
      .output();
    const dec = new TextDecoder();
    return { ok: out.success, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (error) {
    // NotFound: the program is not installed at all.
    return { ok: false, stdout: "", stderr: String(error) };
  }
}

/** A Deno kernelspec registered in a private folder, and the variables that make Jupyter use it. */
export interface PrivateKernel {
  /** `JUPYTER_PATH` and `JUPYTER_DATA_DIR` pointing at the private folder: add them to the executor's env. */
  env: Record<string, string>;
  /** Removes the private folder. */
  remove(): Promise<void>;
}

/**
 * Registers the Deno kernel for the Deno running this process in a temporary folder (Deno's installer writes
 * under `$XDG_DATA_HOME/jupyter`), leaving the user's own registration in `~/.local/share/jupyter` untouched.
 *
 * @returns The variables to run Jupyter with, and a clean-up.
 * @throws {NotebookSetupError} When `deno jupyter --install` fails.
 */
export async function privateKernel(): Promise<PrivateKernel> {
  const dir = await Deno.makeTempDir({ prefix: "text2sql-kernel-" });
  const install = await run(Deno.execPath(), ["jupyter", "--install", "--force"], { XDG_DATA_HOME: dir });
  const jupyterDir = `${dir}/jupyter`;
  const spec = await Deno.stat(`${jupyterDir}/kernels/deno/kernel.json`).then(() => true, () => false);
  if (!install.ok || !spec) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new NotebookSetupError(
      `cannot register the Deno kernel in a private folder: ${install.stderr.trim().split("\n").at(-1)}`,
    );
  }
  return {
    env: { JUPYTER_PATH: jupyterDir, JUPYTER_DATA_DIR: jupyterDir },
    remove: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

/**
 * Checks that headless notebook execution can work here: Jupyter client + nbconvert for some python3, and a `deno`
 * kernelspec whose deno binary exists.
 *
 * @param options `env` to list kernelspecs with (e.g. {@linkcode privateKernel}'s).
 * @returns The interpreter and kernel found.
 * @throws {NotebookSetupError} One line naming what is missing and the command that installs it.
 */
export async function checkNotebookSetup(
  options: { env?: Record<string, string> } = {},
): Promise<NotebookSetup> {
  const python = await findNotebookPython();
  if (python === null) {
    throw new NotebookSetupError(
      `Jupyter (nbclient/nbconvert) is not installed; install with: ${NOTEBOOK_INSTALL_COMMAND}`,
    );
  }
  // Ask jupyter_client itself, so every kernelspec location (user, system, env) is searched as the executor would.
  const listing = await run(python, [
    "-c",
    "import json; from jupyter_client.kernelspec import KernelSpecManager as K; " +
    "print(json.dumps(K().get_all_specs()))",
  ], options.env);
  if (!listing.ok) {
    throw new NotebookSetupError(
      `cannot list Jupyter kernelspecs (${
        listing.stderr.trim().split("\n").at(-1)
      }); install with: ${NOTEBOOK_INSTALL_COMMAND}`,
    );
  }
  const specs = JSON.parse(listing.stdout) as Record<
    string,
    { resource_dir: string; spec: { argv: string[] } }
  >;
  const deno = specs.deno;
  if (!deno) {
    throw new NotebookSetupError(
      `the Deno Jupyter kernel is not installed; install with: ${KERNEL_INSTALL_COMMAND}`,
    );
  }
  const kernelDeno = deno.spec.argv[0];
  try {
    const info = await Deno.stat(kernelDeno);
    if (!info.isFile) throw new Error("not a file");
  } catch {
    throw new NotebookSetupError(
      `the Deno kernelspec at ${deno.resource_dir} points to ${kernelDeno}, which does not exist (installed on another machine?); reinstall with: ${KERNEL_INSTALL_COMMAND}`,
    );
  }
  return { python, kernelDeno, kernelDir: deno.resource_dir };
}

/**
 * Checks that `jupyter nbconvert` (the HTML exporter) runs.
 *
 * @throws {NotebookSetupError} One line with the install command when it does not.
 */
export async function checkNbconvert(): Promise<void> {
  const probe = await run("jupyter", ["nbconvert", "--version"]);
  if (!probe.ok) {
    throw new NotebookSetupError(
      `jupyter nbconvert is not installed; install with: ${JUPYTER_APT_COMMAND}`,
    );
  }
}

if (import.meta.main) {
  // `deno run -A tests/support/notebook_setup.ts [--install]`: print what was found, or the install command; with
  // `--install`, run that command (apt-get needs root) and check again.
  const check = async () => {
    const setup = await checkNotebookSetup();
    await checkNbconvert();
    return `ok: python ${setup.python}, deno kernel ${setup.kernelDeno} (${setup.kernelDir})`;
  };
  try {
    console.log(await check());
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (!Deno.args.includes("--install")) {
      console.error(message);
      Deno.exit(1);
    }
    const command = message.includes(NOTEBOOK_INSTALL_COMMAND) || !message.includes(KERNEL_INSTALL_COMMAND)
      ? NOTEBOOK_INSTALL_COMMAND
      : KERNEL_INSTALL_COMMAND;
    console.error(`${message}\nrunning: ${command}`);
    const status = await new Deno.Command("sh", { args: ["-c", command] }).spawn().status;
    if (!status.success) Deno.exit(status.code || 1);
    try {
      console.log(await check());
    } catch (again) {
      console.error(again instanceof Error ? again.message : String(again));
      Deno.exit(1);
    }
  }
}

/**
 * Deno's cache folder as this process sees it. Tests that give a kernel a private `XDG_CACHE_HOME` (for a private
 * completion cache) pass this as `DENO_DIR`, or the kernel starts on an empty Deno cache (half a minute).
 */
export function denoDir(): string {
  const env = Deno.env.toObject();
  return env.DENO_DIR ?? `${env.XDG_CACHE_HOME ?? `${env.HOME ?? "/root"}/.cache`}/deno`;
}
