/**
 * The committed notebooks hold no outputs, execution counts or Jupyter's session metadata (JupyterLab autosaves
 * them into `notebooks/` while a person works); the one command that strips them is `deno task notebooks --clean`.
 * The Deno kernel is registered through a `deno` on PATH that an upgrade keeps valid.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import {
  CLEAN_COMMAND,
  cleanNotebooks,
  cleanNotebookText,
  pointKernelAt,
  REPO_ROOT,
  stableDenoPath,
} from "../../lib/notebook/mod.ts";

const NOTEBOOKS = join(REPO_ROOT, "notebooks");

Deno.test("committed notebooks are clean: no outputs, counts or session metadata (else: deno task notebooks --clean)", async () => {
  const dirty: string[] = [];
  for await (const entry of Deno.readDir(NOTEBOOKS)) {
    if (!entry.name.endsWith(".ipynb")) continue;
    const text = await Deno.readTextFile(join(NOTEBOOKS, entry.name));
    if (cleanNotebookText(text) !== text) dirty.push(entry.name);
  }
  assertEquals(
    dirty,
    [],
    `notebooks/${dirty.join(", ")} holds what Jupyter saved; strip it with: ${CLEAN_COMMAND}`,
  );
});

Deno.test("cleaning strips what JupyterLab saves and keeps what a person wrote, in the committed layout", async () => {
  const committed = await Deno.readTextFile(join(NOTEBOOKS, "02_evaluate.ipynb"));
  const nb = JSON.parse(committed);
  // As JupyterLab saves it after a run: outputs, counts, trust and timing metadata, keys sorted, two-space indent.
  const code = nb.cells.findIndex((c: { cell_type: string }) => c.cell_type === "code");
  nb.cells[code + 1].outputs = [{
    output_type: "stream",
    name: "stdout",
    text: ["selected: 129 questions\n"],
  }];
  nb.cells[code + 1].execution_count = 3;
  nb.cells[code + 1].metadata = { trusted: true, execution: { "iopub.status.idle": "2026-12-07T05:00:00Z" } };
  nb.metadata.widgets = { state: {} };
  const sorted = (value: unknown): unknown =>
    Array.isArray(value) ? value.map(sorted) : value && typeof value === "object"
      ? Object.fromEntries(
        Object.keys(value).sort().map((k) => [k, sorted((value as Record<string, unknown>)[k])]),
      )
      : value;
  const saved = JSON.stringify(sorted(nb), null, 2);
  assert(saved !== committed);
  assertEquals(cleanNotebookText(saved), committed);

  // The command rewrites only the notebooks that need it.
  const dir = await Deno.makeTempDir({ prefix: "t2s-clean-" });
  try {
    await Deno.writeTextFile(join(dir, "a.ipynb"), saved);
    await Deno.writeTextFile(join(dir, "b.ipynb"), committed);
    assertEquals(await cleanNotebooks(dir), ["a.ipynb"]);
    assertEquals(await Deno.readTextFile(join(dir, "a.ipynb")), committed);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the kernel is registered through the deno on PATH when it is this Deno (a link an upgrade keeps)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "t2s-kernel-" });
  try {
    const bin = join(dir, "bin");
    await Deno.mkdir(bin);
    await Deno.symlink(Deno.execPath(), join(bin, "deno"));
    assertEquals(stableDenoPath({ PATH: `${join(dir, "empty")}:${bin}` }), join(bin, "deno"));
    // No deno on PATH, or another one: this Deno's own path.
    assertEquals(stableDenoPath({ PATH: join(dir, "empty") }), Deno.execPath());
    const spec = join(dir, "xdg", "jupyter", "kernels", "deno");
    await Deno.mkdir(spec, { recursive: true });
    await Deno.writeTextFile(
      join(spec, "kernel.json"),
      JSON.stringify({
        argv: ["/root/.cache/deno-2.9.6/deno", "jupyter", "--kernel", "--conn", "{connection_file}"],
      }),
    );
    assertEquals(
      await pointKernelAt(join(bin, "deno"), { XDG_DATA_HOME: join(dir, "xdg") }),
      join(spec, "kernel.json"),
    );
    const written = JSON.parse(await Deno.readTextFile(join(spec, "kernel.json")));
    assertEquals(written.argv, [join(bin, "deno"), "jupyter", "--kernel", "--conn", "{connection_file}"]);
    assertEquals(await pointKernelAt("deno", { XDG_DATA_HOME: join(dir, "none") }), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
