/**
 * The embedded PostgreSQL default: the PGlite data folder built from superhero (same loader as a server, cached
 * by source sha256), opened again from its tarball and queried; and `minidev.zip` downloaded resumably from the
 * local archive server with its PostgreSQL dump, which the loader finds and loads (into PGlite: no server).
 *
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  ensurePgliteData,
  findDump,
  loadDump,
  openPglite,
  openPgliteData,
  readManifest,
} from "../../lib/db/mod.ts";
import { downloadDataset } from "../../lib/data/mod.ts";
import { startArchiveServer } from "../support/archive_server.ts";
import { databaseEntries, json, superhero, tables, zip } from "../support/sample_archives.ts";

const SAMPLE = join(import.meta.dirname!, "..", "..", "data", "sample", "dev_databases");

Deno.test("pglite data: built once from superhero, cached, reopened from its tarball, read-only role inside", async () => {
  const cacheDir = await Deno.makeTempDir({ prefix: "t2s-pglite-" });
  try {
    const built = await ensurePgliteData({ dbRoot: SAMPLE, dbIds: ["superhero"], cacheDir });
    assert(built.built);
    assertEquals(built.report!.tables.length, 10);
    console.log(`superhero → PGlite data: ${built.seconds.toFixed(1)} s`);
    const cached = await ensurePgliteData({ dbRoot: SAMPLE, dbIds: ["superhero"], cacheDir });
    assertEquals([cached.built, cached.path, cached.key], [false, built.path, built.key]);
    const db = await openPgliteData(built.path);
    try {
      const m = await readManifest(db, "postgresql");
      assertEquals(m.map((x) => [x.dbId, x.status]).filter(([, s]) => s === "done").length, 10);
      assertEquals(
        m.map((x) => x.checksum).sort(),
        built.report!.tables.map((t) => m.find((x) => x.tableName === t.tableName)!.checksum).sort(),
      );
      // a mini-dev PostgreSQL gold query on the embedded database
      const gold =
        "SELECT COUNT(T1.id) FROM superhero AS T1 INNER JOIN colour AS T2 ON T1.eye_colour_id = T2.id " +
        "WHERE T2.colour = 'Blue'";
      const lite = new DatabaseSync(join(SAMPLE, "superhero", "superhero.sqlite"), { readOnly: true });
      const want = Object.values(lite.prepare(gold).get()!)[0];
      lite.close();
      assertEquals((await db.query(gold)).rows, [[String(want)]]);
      await db.exec("SET ROLE text2sql_ro");
      let refused = false;
      await db.exec("DELETE FROM hero_power").catch(() => (refused = true));
      assert(refused, "the read-only role deleted rows");
    } finally {
      await db.close();
    }
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

/** A small pg_dump-format file: COPY blocks with escapes and NULLs, as pg_dump writes them. */
const PG_DUMP = `--
-- PostgreSQL database dump
--

SET statement_timeout = 0;
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);

CREATE TABLE public.alignment (
    id bigint NOT NULL,
    alignment text
);

ALTER TABLE public.alignment OWNER TO bird_author;

CREATE TABLE public."Odd Name" (
    "Enrollment (K-12)" double precision,
    note text
);

COPY public.alignment (id, alignment) FROM stdin;
1\tGood
2\tBad
3\tNeutral
4\t\\N
\\.

COPY public."Odd Name" ("Enrollment (K-12)", note) FROM stdin;
0.1\ttab\\there\\nnewline \\\\ back
-0\tcaf\\303\\251
\\.

ALTER TABLE ONLY public.alignment
    ADD CONSTRAINT alignment_pkey PRIMARY KEY (id);

GRANT SELECT ON TABLE public.alignment TO someone_else;
`;

Deno.test("minidev.zip: downloaded resumably, its PostgreSQL dump found and loaded (PGlite)", async () => {
  const archive = await zip([
    ["minidev/MINIDEV/mini_dev_sqlite.json", json(superhero.slice(0, 5))],
    ["minidev/MINIDEV/dev_tables.json", json(tables)],
    ...databaseEntries("minidev/MINIDEV/dev_databases"),
    ["minidev/MINIDEV_postgresql/BIRD_dev.sql", new TextEncoder().encode(PG_DUMP)],
    ["minidev/MINIDEV_mysql/BIRD_dev.sql", new TextEncoder().encode("-- MySQL dump\n")],
  ]);
  const dest = await Deno.makeTempDir({ prefix: "t2s-minidev-dl-" });
  const server = startArchiveServer({ "/minidev.zip": archive }, {
    cutAfter: Math.floor(archive.length / 2),
  });
  try {
    const url = server.url("/minidev.zip");
    await downloadDataset("minidev", { dest, url }).catch(() => {}); // cut half-way
    const result = await downloadDataset("minidev", { dest, url });
    assert(server.requests.some((r) => r.range !== null), "the second download resumed with a Range request");
    const dump = findDump(result.dbRoot, "postgresql");
    assertEquals(dump, join(dest, "minidev", "MINIDEV_postgresql", "BIRD_dev.sql"));
    assertEquals(findDump(result.dbRoot, "mysql"), join(dest, "minidev", "MINIDEV_mysql", "BIRD_dev.sql"));
    const db = await openPglite();
    try {
      const report = await loadDump(db, { dialect: "postgresql", file: dump!, dbRoot: result.dbRoot });
      assertEquals(report.tables.map((t) => [t.tableName, t.dbId, t.rows]), [
        ["alignment", "superhero", 4],
        ["Odd Name", "", 2],
      ]);
      assertEquals((await db.query(`SELECT * FROM "Odd Name" ORDER BY 1`)).rows, [
        ["-0", "café"],
        ["0.1", "tab\there\nnewline \\ back"],
      ]);
      const again = await loadDump(db, { dialect: "postgresql", file: dump!, dbRoot: result.dbRoot });
      assert(again.tables.every((t) => t.action === "kept"));
    } finally {
      await db.close();
    }
  } finally {
    await server.close();
    await Deno.remove(dest, { recursive: true });
  }
});
