/**
 * The notebooks as files in the repository and the kernel they run on: a committed notebook holds no outputs, no
 * execution counts and none of the metadata Jupyter adds while a person works (JupyterLab autosaves all of that
 * into `notebooks/`), in one fixed layout, so `git diff` shows only what someone meant to change; and the Deno
 * kernel is registered against a `deno` path that survives an upgrade.
 *
 * @module
 */
import { delimiter, join } from "node:path";

/** The keys of a cell in the order the committed notebooks keep them (others follow, in their order). */
const CELL_KEYS = ["cell_type", "execution_count", "metadata", "outputs", "source", "id"];

/** Notebook-level metadata kept: what the kernel and the export need. */
const KEPT_METADATA = ["kernelspec", "language_info"];

/** The one command that strips what Jupyter saved into the committed notebooks. */
export const CLEAN_COMMAND = "deno task notebooks --clean";

/** A notebook's JSON as far as cleaning goes. */
interface NotebookJson {
  cells: Record<string, unknown>[];
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

function ordered(cell: Record<string, unknown>): Record<string, unknown> {
  const keys = [
    ...CELL_KEYS.filter((k) => k in cell),
    ...Object.keys(cell).filter((k) => !CELL_KEYS.includes(k)),
  ];
  return Object.fromEntries(keys.map((k) => [k, cell[k]]));
}

/**
 * A notebook's text as it is committed: code cells without outputs or execution count, cells without metadata,
 * notebook metadata reduced to the kernelspec and language, one-space indentation (nbformat's), a final newline.
 *
 * @param text The `.ipynb` file's text.
 * @returns The clean text (equal to `text` when it was clean).
 * @throws {SyntaxError} When the text is not JSON.
 */
export function cleanNotebookText(text: string): string {
  const nb = JSON.parse(text) as NotebookJson;
  nb.cells = nb.cells.map((cell) => {
    const clean: Record<string, unknown> = { ...cell, metadata: {} };
    if (cell.cell_type === "code") {
      clean.execution_count = null;
      clean.outputs = [];
    } else {
      delete clean.execution_count;
      delete clean.outputs;
      // Markdown attachments are content; other keys Jupyter adds are not.
    }
    return ordered(clean);
  });
  const metadata = nb.metadata ?? {};
  nb.metadata = Object.fromEntries(KEPT_METADATA.filter((k) => k in metadata).map((k) => [k, metadata[k]]));
  return JSON.stringify(nb, null, 1) + "\n";
}

/**
 * Rewrites every notebook in `dir` that is not clean ({@linkcode cleanNotebookText}).
 *
 * @param dir The notebooks folder.
 * @returns The names of the notebooks rewritten.
 */
export async function cleanNotebooks(dir: string): Promise<string[]> {
  const changed: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".ipynb")) continue;
    const path = join(dir, entry.name);
    const text = await Deno.readTextFile(path);
    const clean = cleanNotebookText(text);
    if (clean !== text) {
      await Deno.writeTextFile(path, clean);
      changed.push(entry.name);
    }
  }
  return changed.sort();
}

/**
 * The `deno` to register the kernel with: the first `deno` on `PATH` when it is the Deno running now (a link such
 * as `/usr/bin/deno` or `~/.deno/bin/deno` that an upgrade keeps pointing at the new binary), else this Deno's own
 * path (which may be a versioned cache folder an upgrade removes: then rerun `deno task notebooks`).
 *
 * @param env Where to read `PATH` (default: this process's environment).
 */
export function stableDenoPath(env: Record<string, string> = Deno.env.toObject()): string {
  const own = Deno.execPath();
  let real: string;
  try {
    real = Deno.realPathSync(own);
  } catch {
    return own;
  }
  for (const dir of (env.PATH ?? "").split(delimiter).filter(Boolean)) {
    const candidate = join(dir, "deno");
    try {
      if (Deno.realPathSync(candidate) === real) return candidate;
    } catch {
      // Not there: the next folder.
    }
  }
  return own;
}

/**
 * Points the registered Deno kernelspec (`<data dir>/jupyter/kernels/deno/kernel.json`, as `deno jupyter
 * --install` wrote it) at `deno`.
 *
 * @param deno The path to start the kernel with, e.g. {@linkcode stableDenoPath}.
 * @param env Where to read `XDG_DATA_HOME` and `HOME` (default: this process's environment).
 * @returns The kernelspec file, or null when none was found there.
 */
export async function pointKernelAt(
  deno: string,
  env: Record<string, string> = Deno.env.toObject(),
): Promise<string | null> {
  const data = env.XDG_DATA_HOME || (env.HOME ? join(env.HOME, ".local", "share") : null);
  if (!data) return null;
  const file = join(data, "jupyter", "kernels", "deno", "kernel.json");
  let spec: { argv?: string[] };
  try {
    spec = JSON.parse(await Deno.readTextFile(file));
  } catch {
    return null;
  }
  if (!Array.isArray(spec.argv) || spec.argv.length === 0) return null;
  if (spec.argv[0] !== deno) {
    spec.argv[0] = deno;
    await Deno.writeTextFile(file, JSON.stringify(spec, null, 2) + "\n");
  }
  return file;
}
