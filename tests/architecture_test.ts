/**
 * The house rules of `lib/`, checked on the source text: no import cycles; code outside a room imports only the
 * room's `mod.ts`; and imports run with the data flow (a room may import only rooms before it in `ROOMS`).
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";

const LIB = normalize(join(import.meta.dirname!, "..", "lib"));

/** The rooms in data-flow order: a room may import itself and rooms listed before it, never after. */
export const ROOMS = [
  "util",
  "data",
  "db",
  "prompt",
  "values",
  "model",
  "exec",
  "run",
  "audit",
  "train",
  "look",
  "notebook",
  "bench",
  "cli",
] as const;

/** Every `.ts` file under `dir`, as paths relative to `lib/`. */
function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...walk(p));
    else if (e.name.endsWith(".ts")) out.push(relative(LIB, p));
  }
  return out.sort();
}

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g;

/** The lib-relative files a file imports (static, re-export and dynamic imports of relative paths). */
function importsOf(file: string): string[] {
  const text = Deno.readTextFileSync(join(LIB, file));
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    const target = relative(LIB, normalize(join(LIB, dirname(file), spec)));
    if (!target.startsWith("..")) out.push(target);
  }
  return out;
}

const roomOf = (file: string): string => (file.includes("/") ? file.split("/")[0] : "");

const files = walk(LIB);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

Deno.test("lib/: every room listed, each with a mod.ts face", () => {
  const rooms = [...new Set(files.map(roomOf).filter(Boolean))].sort();
  assertEquals(rooms, [...ROOMS].sort());
  for (const r of ROOMS) assert(files.includes(`${r}/mod.ts`), `lib/${r}/ has no mod.ts`);
});

Deno.test("lib/: no import cycles", () => {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (f: string) => {
    if (state.get(f) === "done") return;
    if (state.get(f) === "open") {
      throw new Error(`import cycle: ${[...stack.slice(stack.indexOf(f)), f].join(" → ")}`);
    }
    state.set(f, "open");
    stack.push(f);
    for (const g of graph.get(f) ?? []) visit(g);
    stack.pop();
    state.set(f, "done");
  };
  for (const f of files) visit(f);
});

Deno.test("lib/: outside a room, code imports only its mod.ts", () => {
  const bad: string[] = [];
  for (const [f, deps] of graph) {
    for (const d of deps) {
      const room = roomOf(d);
      if (room && room !== roomOf(f) && d !== `${room}/mod.ts`) bad.push(`${f} → ${d}`);
    }
  }
  assertEquals(bad, []);
});

Deno.test("lib/: imports run with the data flow", () => {
  const rank = (f: string) => {
    const r = roomOf(f);
    return r === "" ? -1 : ROOMS.indexOf(r as typeof ROOMS[number]);
  };
  const bad: string[] = [];
  for (const [f, deps] of graph) {
    // Top-level files (types.ts) are shared vocabulary: they import nothing from the rooms.
    for (const d of deps) {
      if (rank(d) > rank(f) || (rank(f) === -1 && rank(d) !== -1)) bad.push(`${f} → ${d}`);
    }
  }
  assertEquals(bad, []);
});
