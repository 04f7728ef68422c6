/**
 * Archives in the official BIRD layout, built from the bundled sample: `dev.zip` holding `dev_20240627/` with a
 * nested `dev_databases.zip` (macOS litter included, as BIRD ships it). Shared by the download and notebook tests.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Uint8ArrayReader, Uint8ArrayWriter, ZipWriter } from "@zip.js/zip.js";

export const SAMPLE = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "data", "sample");
export const encoder = new TextEncoder();

export interface Question {
  db_id: string;
  question: string;
  difficulty?: string;
}

const allQuestions: Question[] = JSON.parse(await Deno.readTextFile(join(SAMPLE, "dev.json")));
export const superhero = allQuestions.filter((q) => q.db_id === "superhero");
export const tables = JSON.parse(await Deno.readTextFile(join(SAMPLE, "dev_tables.json")))
  .filter((t: { db_id: string }) => t.db_id === "superhero");
export const sqlite = await Deno.readFile(join(SAMPLE, "dev_databases/superhero/superhero.sqlite"));
export const descriptions: [string, Uint8Array][] = [];
for await (const entry of Deno.readDir(join(SAMPLE, "dev_databases/superhero/database_description"))) {
  descriptions.push([
    entry.name,
    await Deno.readFile(join(SAMPLE, "dev_databases/superhero/database_description", entry.name)),
  ]);
}
descriptions.sort(([a], [b]) => a.localeCompare(b));

export type Entries = [name: string, data: Uint8Array | null][];

/** A zip made by zip.js; `null` data makes a directory entry. Level 0 stores, so bytes can be found and flipped. */
export async function zip(entries: Entries, level = 6, zip64 = false): Promise<Uint8Array> {
  const writer = new ZipWriter(new Uint8ArrayWriter(), { level, zip64, useWebWorkers: false });
  for (const [name, data] of entries) {
    if (data === null) await writer.add(name, undefined, { directory: true });
    else await writer.add(name, new Uint8ArrayReader(data));
  }
  return await writer.close();
}

export const json = (value: unknown) => encoder.encode(JSON.stringify(value, null, 2));

/** The databases zip as BIRD ships it: `dev_databases/<db>/…` plus Finder litter. */
export function databaseEntries(root: string): Entries {
  return [
    [`${root}/`, null],
    [`${root}/superhero/superhero.sqlite`, sqlite],
    ...descriptions.map(([name, data]): [string, Uint8Array] => [
      `${root}/superhero/database_description/${name}`,
      data,
    ]),
    [`${root}/.DS_Store`, encoder.encode("finder")],
    [`__MACOSX/${root}/superhero/._superhero.sqlite`, encoder.encode("resource fork")],
  ];
}

/** `dev.zip` in the official layout, with the nested `dev_databases.zip`. */
export async function devArchive(
  options: { questions?: unknown[]; level?: number; nested?: Uint8Array } = {},
) {
  const nested = options.nested ?? await zip(databaseEntries("dev_databases"), options.level ?? 0);
  return await zip([
    ["dev_20240627/", null],
    ["dev_20240627/dev.json", json(options.questions ?? superhero)],
    ["dev_20240627/dev_tables.json", json(tables)],
    ["dev_20240627/dev_databases.zip", nested],
    ["__MACOSX/dev_20240627/._dev.json", encoder.encode("resource fork")],
  ], options.level ?? 6);
}
