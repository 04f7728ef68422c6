/**
 * `deno task notebook:html NOTEBOOK [--out FILE] [--saved] [--timeout S]`: export a notebook, executed, to one
 * HTML file with `jupyter nbconvert --to html`.
 *
 * The notebook is executed first — headlessly, in its own folder, with `tests/support/nb_execute.py` (which keeps
 * every output the Deno kernel sends late) — so the export shows what the notebook does now, not whatever outputs a
 * Jupyter session last saved into the file. `--saved` exports the outputs saved in the file instead, as they are.
 * The executed copy goes to a temporary file: the user's notebook is never rewritten.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { basename, dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { cleanNotebooks, pointKernelAt, stableDenoPath } from "./notebook_files.ts";

/** Installs Jupyter's client and nbconvert on Debian (nbclient comes with them). */
export const JUPYTER_APT_COMMAND =
  "apt-get install -y --no-install-recommends jupyter-client jupyter-nbconvert";

/** The headless executor (see its docstring for why plain `nbconvert --execute` is not enough). */
export const NB_EXECUTE_SCRIPT: string = fileURLToPath(
  new URL("../../tests/support/nb_execute.py", import.meta.url),
);

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");

/**
 * Python interpreters to try. Debian's first: apt installs nbclient for `/usr/bin/python3`, while `python3` on PATH
 * may be a pyenv or venv interpreter without it.
 */
const PYTHON_CANDIDATES = ["/usr/bin/python3", "python3"];

async function probe(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null", stdin: "null" }).output();
    return out.success;
  } catch {
    return false; // not installed
  }
}

/**
 * Finds a python3 that can import nbclient, nbformat and nbconvert.
 *
 * @returns Its path or name, or null when none can.
 */
export async function findNotebookPython(): Promise<string | null> {
  for (const python of PYTHON_CANDIDATES) {
    if (await probe(python, ["-c", "import nbclient, nbformat, nbconvert"])) return python;
  }
  return null;
}

/**
 * Whether a notebook file has at least one code cell with outputs.
 *
 * @param path The `.ipynb` file.
 * @returns True when some code cell has a non-empty `outputs` array.
 */
export async function hasOutputs(path: string): Promise<boolean> {
  const nb = JSON.parse(await Deno.readTextFile(path)) as {
    cells?: { cell_type: string; outputs?: unknown[] }[];
  };
  return (nb.cells ?? []).some((c) => c.cell_type === "code" && (c.outputs?.length ?? 0) > 0);
}

/** Options of {@linkcode exportNotebookHtml}. */
export interface ExportOptions {
  /** The HTML file to write (default `reports/<notebook name>.html` under the repository). */
  out?: string;
  /** Export the outputs saved in the file as they are, without executing it (default: execute first). */
  saved?: boolean;
  /** Seconds per cell when executing (default 300). */
  timeoutS?: number;
}

/**
 * Exports a notebook to HTML, executed first unless `saved` (then its saved outputs, as they are).
 *
 * @param notebook The `.ipynb` file.
 * @param options Output file, execution and per-cell timeout.
 * @returns The HTML file written (absolute) and whether the notebook was executed.
 * @throws {Error} One line naming what failed (missing nbconvert with its install command, a failing cell).
 */
export async function exportNotebookHtml(
  notebook: string,
  options: ExportOptions = {},
): Promise<{ html: string; executed: boolean }> {
  const source = resolve(notebook);
  await Deno.stat(source); // NotFound surfaces with the path
  if (!await probe("jupyter", ["nbconvert", "--version"])) {
    throw new Error(`jupyter nbconvert is not installed; install with: ${JUPYTER_APT_COMMAND}`);
  }
  const name = basename(source, extname(source));
  const html = resolve(options.out ?? join(REPO_ROOT, "reports", `${name}.html`));
  await Deno.mkdir(dirname(html), { recursive: true });
  const execute = options.saved !== true;
  if (!execute && !await hasOutputs(source)) {
    throw new Error(`${notebook} has no saved outputs to export: leave out --saved to execute it first`);
  }
  const tmp = await Deno.makeTempDir({ prefix: "notebook-html-" });
  try {
    let input = source;
    if (execute) {
      const python = await findNotebookPython();
      if (python === null) {
        throw new Error(`Jupyter's nbclient is not installed; install with: ${JUPYTER_APT_COMMAND}`);
      }
      input = join(tmp, `${name}.ipynb`);
      const args = [NB_EXECUTE_SCRIPT, source, "--out", input, "--timeout", String(options.timeoutS ?? 300)];
      const run = await new Deno.Command(python, { args, stdout: "inherit", stderr: "piped" }).output();
      const stderr = new TextDecoder().decode(run.stderr);
      if (!run.success) {
        const hint = /No such kernel|NoSuchKernel/.test(stderr)
          ? " (install the kernel with: deno jupyter --install --force)"
          : "";
        throw new Error(`executing ${notebook} failed${hint}:\n${stderr.trim()}`);
      }
    }
    // nbconvert takes an output folder and a base name; it appends `.html` itself.
    const outName = basename(html).replace(/\.html?$/i, "");
    const convert = await new Deno.Command("jupyter", {
      args: ["nbconvert", "--to", "html", "--output-dir", dirname(html), "--output", outName, input],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!convert.success) {
      throw new Error(`jupyter nbconvert failed: ${new TextDecoder().decode(convert.stderr).trim()}`);
    }
    const written = join(dirname(html), `${outName}.html`);
    if (written !== html) await Deno.rename(written, html);
    return { html, executed: execute };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * The `notebook:html` command.
 *
 * @param argv Arguments after the command name.
 * @returns Exit status: 0 done, 1 failed, 2 usage error.
 */
export async function notebookHtmlCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        out: { type: "string" },
        saved: { type: "boolean", default: false },
        // The default since the export always executes; kept so older commands still work.
        execute: { type: "boolean", default: false },
        timeout: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    console.error(`notebook:html: ${error instanceof Error ? error.message : error}`);
    return 2;
  }
  const usage =
    "usage: deno task notebook:html NOTEBOOK.ipynb [--out FILE.html] [--saved] [--timeout SECONDS]\n" +
    "Executes the notebook (in a temporary copy) and exports it; --saved exports its saved outputs instead.";
  if (parsed.values.help) {
    console.log(usage);
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    console.error(usage);
    return 2;
  }
  const timeoutS = parsed.values.timeout === undefined ? undefined : Number(parsed.values.timeout);
  if (timeoutS !== undefined && !(Number.isFinite(timeoutS) && timeoutS > 0)) {
    console.error(
      `notebook:html: --timeout must be a positive number of seconds, got ${parsed.values.timeout}`,
    );
    return 2;
  }
  try {
    const { html, executed } = await exportNotebookHtml(parsed.positionals[0], {
      out: parsed.values.out,
      saved: parsed.values.saved && !parsed.values.execute,
      timeoutS,
    });
    console.log(`${executed ? "executed and exported" : "exported"}: ${html}`);
    return 0;
  } catch (error) {
    console.error(`notebook:html: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await notebookHtmlCommand(Deno.args));
}

/**
 * How to install JupyterLab when it is missing. Debian ships Notebook 6 but no JupyterLab package, so it comes
 * from PyPI through pipx (which Debian does ship), into `~/.local/bin`.
 */
export const JUPYTERLAB_INSTALL_COMMAND = "apt-get install -y pipx && pipx install jupyterlab";

const NOTEBOOKS_USAGE = `usage: deno task notebooks [--check] [--clean] [-- JUPYTER_LAB_FLAGS...]
Checks for JupyterLab (printing the line that installs it when missing), registers the Deno Jupyter kernel for the
Deno running this command (through the deno on PATH when that is the same program, so an upgrade keeps it working;
rerun this command after an upgrade otherwise), and opens notebooks/ in JupyterLab (with --allow-root when run as
root). --check does all but the last step and prints the command it would run. --clean strips the outputs and
metadata Jupyter saved into notebooks/*.ipynb and exits. Flags after -- go to jupyter lab (e.g. -- --no-browser
--port 8889).`;

/**
 * Finds the `jupyter-lab` program: on PATH, else where pipx puts it.
 *
 * @returns Its path or name, or null when JupyterLab is not installed.
 */
export async function findJupyterLab(): Promise<string | null> {
  const home = Deno.env.get("HOME");
  const candidates = ["jupyter-lab", ...(home ? [join(home, ".local", "bin", "jupyter-lab")] : [])];
  for (const candidate of candidates) {
    if (await probe(candidate, ["--version"])) return candidate;
  }
  return null;
}

/**
 * `deno task notebooks`: check for JupyterLab, register the Deno kernel for this Deno (`deno jupyter --install`
 * stores the absolute path of the deno that runs it), open `notebooks/` in JupyterLab.
 *
 * @param argv Command-line flags.
 * @returns The exit code (JupyterLab's, once it stops).
 */
export async function notebooksCommand(argv: string[]): Promise<number> {
  const dashes = argv.indexOf("--");
  const own = dashes < 0 ? argv : argv.slice(0, dashes);
  const forwarded = dashes < 0 ? [] : argv.slice(dashes + 1);
  const parsed = parseArgs({
    args: own,
    strict: true,
    allowPositionals: false,
    options: {
      check: { type: "boolean" },
      clean: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (parsed.values.help) {
    console.log(NOTEBOOKS_USAGE);
    return 0;
  }
  if (parsed.values.clean) {
    const changed = await cleanNotebooks(join(REPO_ROOT, "notebooks"));
    console.log(changed.length ? `cleaned: ${changed.join(", ")}` : "every notebook is clean");
    return 0;
  }
  const lab = await findJupyterLab();
  if (lab === null) {
    console.error(`JupyterLab is not installed; install it with: ${JUPYTERLAB_INSTALL_COMMAND}`);
    return 1;
  }
  const deno = Deno.execPath();
  const install = await new Deno.Command(deno, {
    args: ["jupyter", "--install", "--force"],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  if (!install.success) {
    const why = new TextDecoder().decode(install.stderr).trim().split("\n").at(-1);
    console.error(`cannot register the Deno kernel (${deno} jupyter --install --force): ${why}`);
    return 1;
  }
  const stable = stableDenoPath();
  await pointKernelAt(stable);
  console.log(`registered the Deno kernel for ${stable}`);
  const args = [`--notebook-dir=${join(REPO_ROOT, "notebooks")}`, ...forwarded];
  // JupyterLab refuses to start as root unless told.
  if (Deno.uid() === 0 && !forwarded.includes("--allow-root")) {
    args.push("--allow-root");
    console.log("running as root: passing --allow-root to JupyterLab");
  }
  if (parsed.values.check) {
    console.log(`would run: ${lab} ${args.join(" ")}`);
    return 0;
  }
  console.log(`starting: ${lab} ${args.join(" ")}`);
  const status = await new Deno.Command(lab, { args, cwd: REPO_ROOT }).spawn().status;
  return status.code;
}
