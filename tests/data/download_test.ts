/**
 * `lib/data/download.ts` (and `lib/cli/download.ts`) against real archives built here from the bundled sample in the official BIRD layout
 * (`dev_20240627/` with a nested `dev_databases.zip`, macOS junk included), served by `archive_server.ts` on
 * 127.0.0.1: full download, resume after a cut, corrupt and hostile archives, idempotence, retries, the CLI.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { sha256Hex as sha256 } from "../../lib/util/hash.ts";
import {
  downloadDataset,
  DownloadError,
  type DownloadProgress,
  formatSummary,
  VERIFIED_MARKER,
} from "../../lib/data/mod.ts";
import { downloadCommand } from "../../lib/cli/download.ts";
import { ArchiveError, entryTarget, extractZip } from "../../lib/data/zip_stream.ts";
import { startArchiveServer } from "../support/archive_server.ts";
import {
  databaseEntries,
  descriptions,
  devArchive,
  encoder,
  json,
  type Question,
  sqlite,
  superhero,
  tables,
  zip,
} from "../support/sample_archives.ts";

// --- a hand-made zip writer, for what zip.js refuses to write: hostile names, symlinks, overlapping entries ---

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

interface RawEntry {
  name: string;
  data?: Uint8Array;
  /** Unix mode stored in the external attributes (e.g. `0o120777` for a symlink). */
  mode?: number;
  /** Share the local header and data of an earlier entry (an "overlapping" entry). */
  sameDataAs?: number;
}

/**
 * The fields a local header (from offset 4) and a central directory record (from offset 6) share, in the same
 * order: version needed, flags (UTF-8 names), method (stored), time, date, CRC, sizes, name length.
 */
function setSharedFields(view: DataView, at: number, crc: number, size: number, nameLength: number) {
  view.setUint16(at, 20, true);
  view.setUint16(at + 2, 0x0800, true);
  view.setUint16(at + 8, 0x21, true);
  view.setUint32(at + 10, crc, true);
  view.setUint32(at + 14, size, true);
  view.setUint32(at + 18, size, true);
  view.setUint16(at + 22, nameLength, true);
}

/** A stored-only zip written byte by byte. */
function rawZip(entries: RawEntry[]): Uint8Array {
  const locals: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  const offsets: number[] = [];
  const info: { crc: number; size: number }[] = [];
  let offset = 0;
  for (const [index, entry] of entries.entries()) {
    const name = encoder.encode(entry.name);
    let crc: number;
    let size: number;
    let at: number;
    if (entry.sameDataAs !== undefined) {
      ({ crc, size } = info[entry.sameDataAs]);
      at = offsets[entry.sameDataAs];
    } else {
      const data = entry.data ?? new Uint8Array();
      crc = crc32(data);
      size = data.length;
      at = offset;
      const local = new Uint8Array(30 + name.length + size);
      const view = new DataView(local.buffer);
      view.setUint32(0, 0x04034b50, true);
      setSharedFields(view, 4, crc, size, name.length);
      local.set(name, 30);
      local.set(data, 30 + name.length);
      locals.push(local);
      offset += local.length;
    }
    offsets[index] = at;
    info[index] = { crc, size };
    const record = new Uint8Array(46 + name.length);
    const view = new DataView(record.buffer);
    view.setUint32(0, 0x02014b50, true);
    view.setUint16(4, (3 << 8) | 20, true);
    setSharedFields(view, 6, crc, size, name.length);
    view.setUint32(38, ((entry.mode ?? 0o100644) << 16) >>> 0, true);
    view.setUint32(42, at, true);
    record.set(name, 46);
    central.push(record);
  }
  const centralSize = central.reduce((sum, r) => sum + r.length, 0);
  const end = new Uint8Array(22);
  const view = new DataView(end.buffer);
  view.setUint32(0, 0x06054b50, true);
  view.setUint16(8, entries.length, true);
  view.setUint16(10, entries.length, true);
  view.setUint32(12, centralSize, true);
  view.setUint32(16, offset, true);
  const out = new Uint8Array(offset + centralSize + 22);
  let position = 0;
  for (const part of [...locals, ...central, end]) {
    out.set(part, position);
    position += part.length;
  }
  return out;
}

// --- helpers ---

/** Unlike `exists` of lib/util/files.ts, `lstat`: a dangling symlink a hostile archive left behind counts. */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Every path under `dir`, relative, with `/` separators. */
async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    out.push(rel);
    if (entry.isDirectory) out.push(...await listTree(join(dir, entry.name), rel));
  }
  return out.sort();
}

function difficulties(questions: Question[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const q of questions) out[q.difficulty ?? "unknown"] = (out[q.difficulty ?? "unknown"] ?? 0) + 1;
  return out;
}

/** Runs `body` with a fresh temporary folder and a server, removing both afterwards. */
async function withServer(
  files: Record<string, Uint8Array>,
  body: (ctx: { root: string; dest: string; server: ReturnType<typeof startArchiveServer> }) => Promise<void>,
  options: Parameters<typeof startArchiveServer>[1] = {},
) {
  const root = await Deno.makeTempDir({ prefix: "text2sql-download-test-" });
  const server = startArchiveServer(files, options);
  try {
    await body({ root, dest: join(root, "data"), server });
  } finally {
    await server.close();
    await Deno.remove(root, { recursive: true });
  }
}

/** Nothing half-done is left: no dataset folder, no temporary folder. */
async function assertNoDataset(dest: string, folder = "dev_20240627") {
  assert.equal(await exists(join(dest, folder)), false, `${folder} must not exist`);
  const leftovers = (await exists(dest)) ? (await listTree(dest)).filter((p) => p.startsWith(".tmp-")) : [];
  assert.deepEqual(leftovers, [], "no temporary folder may be left");
}

const fast = { retryDelayMs: 5 };

// --- tests ---

Deno.test("full download, extraction of the nested zip and verification; a second run makes no request", async () => {
  const archive = await devArchive();
  await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
    const progress: DownloadProgress[] = [];
    const result = await downloadDataset("dev", {
      dest,
      url: server.url("/dev.zip"),
      onProgress: (p) => progress.push(p),
    });

    const folder = join(dest, "dev_20240627");
    assert.equal(result.folder, folder);
    assert.equal(result.questionsPath, join(folder, "dev.json"));
    assert.equal(result.dbRoot, join(folder, "dev_databases"));
    assert.equal(result.fetched, true);
    assert.equal(result.extracted, true);
    assert.equal(result.bytesFetched, archive.length);
    assert.equal(result.sha256, sha256(archive));
    assert.equal(result.verification.questions, 129);
    assert.equal(result.verification.databases, 1);
    assert.deepEqual(result.verification.byDifficulty, difficulties(superhero));
    assert.deepEqual(result.verification.perDatabase, [{
      db_id: "superhero",
      questions: 129,
      bytes: sqlite.length,
    }]);

    assert.deepEqual(
      await listTree(folder),
      [
        VERIFIED_MARKER,
        "dev.json",
        "dev_databases",
        "dev_databases/superhero",
        "dev_databases/superhero/database_description",
        ...descriptions.map(([name]) => `dev_databases/superhero/database_description/${name}`),
        "dev_databases/superhero/superhero.sqlite",
        "dev_tables.json",
      ].sort(),
      "official layout, nested zip expanded and removed, __MACOSX/._*/.DS_Store skipped",
    );
    assert.deepEqual(await Deno.readFile(join(folder, "dev_databases/superhero/superhero.sqlite")), sqlite);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(join(folder, "dev.json"))), superhero);
    assert.deepEqual(
      await listTree(dest),
      [
        "dev_20240627",
        ...(await listTree(folder)).map((p) => `dev_20240627/${p}`),
        "downloads",
        "downloads/dev.zip",
        "downloads/manifest.json",
      ].sort(),
      "no .part, no temporary folder, no __MACOSX",
    );

    const manifest = JSON.parse(await Deno.readTextFile(join(dest, "downloads/manifest.json")));
    assert.equal(manifest.archives["dev.zip"].sha256, sha256(archive));
    assert.equal(manifest.archives["dev.zip"].bytes, archive.length);
    const marker = JSON.parse(await Deno.readTextFile(join(folder, VERIFIED_MARKER)));
    assert.equal(marker.sha256, sha256(archive));
    // The JSON files' hashes are taken while verification parses them: they must be the files' own.
    assert.equal(marker.files["dev.json"].sha256, sha256(json(superhero)));
    assert.equal(marker.files["dev_tables.json"].sha256, sha256(json(tables)));

    const downloads = progress.filter((p) => p.phase === "download");
    assert.ok(downloads.length > 0);
    assert.deepEqual(downloads.at(-1)!.done, archive.length);
    assert.ok(downloads.every((p) => p.total === archive.length));
    const extracts = progress.filter((p) => p.phase === "extract").map((p) => p.label);
    assert.ok(extracts.includes("dev.zip") && extracts.includes("dev_databases.zip"), extracts.join());
    assert.ok(progress.some((p) => p.phase === "verify" && p.done === 1 && p.total === 1));

    const table = formatSummary(result.verification, "dev_20240627");
    assert.match(table, /129 questions, 1 database \(all pass PRAGMA quick_check\)/);
    assert.match(table, /^superhero\s+129\s+237\.6 KB$/m);

    const requests = server.requests.length;
    assert.equal(requests, 1);
    const again = await downloadDataset("dev", { dest, url: server.url("/dev.zip") });
    assert.equal(server.requests.length, requests, "a verified dataset must not cause a request");
    assert.equal(again.fetched, false);
    assert.equal(again.extracted, false);
    assert.deepEqual(again.verification, result.verification);
  }, { throttleBytesPerSecond: 4_000_000 });
});

Deno.test("resume after a cut: the bytes on disk are not fetched again", async () => {
  const archive = await devArchive();
  const cut = Math.floor(archive.length * 0.4);
  await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
    const url = server.url("/dev.zip");
    // First run gives up at once, as an interrupted session would, leaving the .part behind.
    await assert.rejects(downloadDataset("dev", { dest, url, retries: 0 }), (error: Error) => {
      assert.ok(error instanceof DownloadError);
      assert.match(error.message, new RegExp(`^${url.replace(/[.]/g, "\\.")}: connection lost .*run again`));
      return true;
    });
    const part = join(dest, "downloads/dev.zip.part");
    const partSize = (await Deno.stat(part)).size;
    assert.equal(partSize, cut, "what the server sent is on disk");
    await assertNoDataset(dest);

    const result = await downloadDataset("dev", { dest, url });
    assert.equal(server.requests.length, 2);
    const [first, second] = server.requests;
    assert.equal(first.range, null);
    assert.equal(first.cut, true);
    assert.equal(second.range, `bytes=${partSize}-`);
    assert.equal(second.ifRange, `"v1"`);
    assert.equal(second.status, 206);
    assert.equal(second.bytesSent, archive.length - partSize);
    assert.equal(server.bytesServed(), archive.length, "every byte served exactly once");
    assert.equal(result.bytesFetched, archive.length - partSize);
    assert.equal(result.sha256, sha256(archive), "the hash covers the resumed prefix too");
    assert.equal(result.verification.questions, 129);
    assert.equal(await exists(part), false);
  }, { cutAfter: cut });
});

Deno.test("a cut mid-file is retried within the same run with a range request", async () => {
  const archive = await devArchive({ level: 0 });
  const cut = Math.floor(archive.length / 3);
  await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
    const result = await downloadDataset("dev", { dest, url: server.url("/dev.zip"), ...fast });
    assert.deepEqual(server.requests.map((r) => [r.range, r.cut]), [
      [null, true],
      [`bytes=${cut}-`, true],
      [`bytes=${2 * cut}-`, false],
    ]);
    assert.equal(server.bytesServed(), archive.length);
    assert.equal(result.sha256, sha256(archive));
  }, { cutAfter: cut, cutTimes: 2 });
});

Deno.test("a connection that stalls mid-file is abandoned after the stall timeout and resumed", async () => {
  const archive = await devArchive();
  const cut = Math.floor(archive.length / 2);
  await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
    const lines: string[] = [];
    const result = await downloadDataset("dev", {
      dest,
      url: server.url("/dev.zip"),
      stallTimeoutMs: 300,
      log: (line) => lines.push(line),
      ...fast,
    });
    assert.deepEqual(server.requests.map((r) => r.range), [null, `bytes=${cut}-`]);
    assert.equal(server.bytesServed(), archive.length);
    assert.equal(result.sha256, sha256(archive));
    assert.ok(lines.some((line) => /no data for 0\.3 s; retrying in/.test(line)), lines.join("\n"));
  }, { cutAfter: cut, cutMode: "stall" });
});

Deno.test("a file changed upstream (If-Range mismatch) restarts from zero instead of splicing", async () => {
  const archive = await devArchive();
  await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
    const url = server.url("/dev.zip");
    await assert.rejects(downloadDataset("dev", { dest, url, retries: 0 }), DownloadError);
    server.options.etag = `"v2"`;
    const result = await downloadDataset("dev", { dest, url });
    assert.equal(server.requests[1].status, 200);
    assert.equal(server.requests[1].bytesSent, archive.length);
    assert.equal(result.sha256, sha256(archive));
  }, { cutAfter: 50_000 });
});

Deno.test("a server that ignores Range gets a restart from zero, not a spliced file", async () => {
  const archive = await devArchive();
  const cut = Math.floor(archive.length / 2);
  await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
    const result = await downloadDataset("dev", { dest, url: server.url("/dev.zip"), ...fast });
    assert.deepEqual(server.requests.map((r) => [r.range, r.status]), [[null, 200], [`bytes=${cut}-`, 200]]);
    assert.equal(server.bytesServed(), cut + archive.length);
    assert.equal(result.sha256, sha256(archive));
  }, { cutAfter: cut, ranges: false });
});

Deno.test("503s are retried with backoff; a 404 fails at once with one line naming the URL", async () => {
  const archive = await devArchive();
  await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
    const result = await downloadDataset("dev", { dest, url: server.url("/dev.zip"), ...fast });
    assert.deepEqual(server.requests.map((r) => r.status), [503, 503, 200]);
    assert.equal(result.verification.databases, 1);

    const missing = server.url("/nope.zip");
    await assert.rejects(
      downloadDataset("train", { dest, url: missing, ...fast }),
      (error: Error) => error instanceof DownloadError && error.message === `${missing}: HTTP 404 Not Found`,
    );
    assert.equal(server.requests.filter((r) => r.path === "/nope.zip").length, 1);
    await assertNoDataset(dest, "train");
  }, { failTimes: 2 });
});

Deno.test("a corrupt archive gives a clear error, leaves no dataset folder and is deleted", async () => {
  const archive = await devArchive({ level: 0 });
  // Stored entries keep dev.json verbatim: change the case of a letter of the first question, which leaves
  // valid JSON, so only the CRC can tell.
  archive[findBytes(archive, encoder.encode(`"question": "`)) + 13] ^= 0x20;
  await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
    await assert.rejects(
      downloadDataset("dev", { dest, url: server.url("/dev.zip") }),
      (error: Error) => {
        assert.ok(error instanceof ArchiveError, String(error));
        assert.equal(error.entry, "dev_20240627/dev.json");
        assert.match(
          error.message,
          /dev\.zip: entry "dev_20240627\/dev\.json" is corrupt \(.*\); the archive was deleted/,
        );
        assert.ok(!error.message.includes("\n"));
        return true;
      },
    );
    await assertNoDataset(dest);
    assert.equal(await exists(join(dest, "downloads/dev.zip")), false);
    assert.equal(
      await exists(join(dest, "downloads/manifest.json")),
      false,
      "a corrupt archive is not recorded",
    );
  });
});

function findBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error("needle not found");
}

Deno.test("path traversal and absolute entries are refused and nothing is written outside dest", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "text2sql-download-test-" });
  const outside = join(root, "outside");
  await Deno.mkdir(outside);
  const cases: [label: string, outer: RawEntry[], needle: string][] = [
    ["../ in the outer archive", [
      { name: "dev_20240627/dev.json", data: json(superhero) },
      { name: "../evil.txt", data: encoder.encode("evil") },
    ], "../evil.txt"],
    ["../ deeper in the outer archive", [
      { name: "dev_20240627/../../outside/evil.txt", data: encoder.encode("evil") },
    ], "dev_20240627/../../outside/evil.txt"],
    ["absolute path", [{ name: `${outside}/abs.txt`, data: encoder.encode("evil") }], `${outside}/abs.txt`],
    ["backslash traversal", [{ name: "..\\evil.txt", data: encoder.encode("evil") }], "..\\evil.txt"],
    ["drive letter", [{ name: "C:/evil.txt", data: encoder.encode("evil") }], "C:/evil.txt"],
    [
      "symlink",
      [{ name: "dev_20240627/link", data: encoder.encode("/etc/passwd"), mode: 0o120777 }],
      "dev_20240627/link",
    ],
    ["absolute path in the nested databases zip", [
      { name: "dev_20240627/dev.json", data: json(superhero) },
      { name: "dev_20240627/dev_tables.json", data: json(tables) },
      {
        name: "dev_20240627/dev_databases.zip",
        data: rawZip([{ name: `${outside}/nested.txt`, data: encoder.encode("evil") }]),
      },
    ], `${outside}/nested.txt`],
  ];
  try {
    for (const [label, entries, needle] of cases) {
      await t.step(label, async () => {
        await withServer({ "/dev.zip": rawZip(entries) }, async ({ dest, server }) => {
          await assert.rejects(
            downloadDataset("dev", { dest, url: server.url("/dev.zip") }),
            (error: Error) => {
              assert.ok(error instanceof ArchiveError, String(error));
              assert.equal(error.kind, "unsafe");
              assert.equal(error.entry, needle);
              assert.ok(error.message.includes(`refused entry "${needle}"`), error.message);
              assert.ok(!error.message.includes(".tmp-"), `names the downloaded archive: ${error.message}`);
              return true;
            },
          );
          await assertNoDataset(dest);
          assert.deepEqual(await listTree(outside), [], "nothing written outside dest");
          assert.equal(await exists(join(dest, "..", "evil.txt")), false);
          assert.equal(await exists(join(dest, "evil.txt")), false);
          // The archive is intact, only hostile: it is kept (fetching it again would not help).
          assert.equal(await exists(join(dest, "downloads/dev.zip")), true);
        });
      });
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("entry names: what is skipped, what is refused", () => {
  assert.deepEqual(entryTarget("dev_20240627/dev.json"), { segments: ["dev_20240627", "dev.json"] });
  assert.deepEqual(entryTarget("./a//b/"), { segments: ["a", "b"] });
  for (const skipped of ["__MACOSX/dev/._x", "dev/._dev.json", "dev/.DS_Store", "./", ""]) {
    assert.equal(entryTarget(skipped), null, skipped);
  }
  for (const refused of ["../x", "a/../../x", "/etc/passwd", "\\x", "C:x", "a\\..\\x", "a\0b"]) {
    assert.throws(() => entryTarget(refused), Error, refused);
  }
});

Deno.test("TRAIN layout, Zip64: overlapping entries (unzip's zip-bomb false alarm) do not stop extraction", async () => {
  // Two names sharing one local header and data, the pattern Info-ZIP reports as a possible zip bomb.
  const nested = rawZip([
    { name: "train_databases/superhero/superhero.sqlite", data: sqlite },
    { name: "train_databases/superhero/database_description/superhero.csv", data: descriptions[0][1] },
    { name: "train_databases/superhero/database_description/copy.csv", sameDataAs: 1 },
  ]);
  const questions = superhero.slice(0, 7).map(({ difficulty: _, ...q }) => q);
  const archive = await zip(
    [
      ["train/train.json", json(questions)],
      ["train/train_tables.json", json(tables)],
      ["train/train_databases.zip", nested],
    ],
    6,
    true,
  ); // Zip64 records, as a multi-GB train archive needs.
  await withServer({ "/train.zip": archive }, async ({ dest, server }) => {
    const result = await downloadDataset("train", { dest, url: server.url("/train.zip") });
    assert.deepEqual(result.verification.byDifficulty, { unknown: 7 });
    assert.equal(result.dbRoot, join(dest, "train/train_databases"));
    const description = join(result.dbRoot, "superhero/database_description");
    assert.deepEqual(await Deno.readFile(join(description, "copy.csv")), descriptions[0][1]);
    assert.deepEqual(await Deno.readFile(join(description, "superhero.csv")), descriptions[0][1]);
  });
});

Deno.test("extractZip reports what it skipped and checks every CRC", async () => {
  const root = await Deno.makeTempDir({ prefix: "text2sql-download-test-" });
  try {
    const good = join(root, "good.zip");
    await Deno.writeFile(good, await zip(databaseEntries("dev_databases")));
    const result = await extractZip(good, join(root, "out"));
    assert.deepEqual(result.skipped, [
      "dev_databases/.DS_Store",
      "__MACOSX/dev_databases/superhero/._superhero.sqlite",
    ]);
    assert.equal(result.bytes, result.declaredBytes);
    assert.equal(await exists(join(root, "out/__MACOSX")), false);

    const bad = rawZip([{ name: "a.txt", data: encoder.encode("hello world") }]);
    bad[30 + "a.txt".length] ^= 1; // first data byte
    await Deno.writeFile(join(root, "bad.zip"), bad);
    await assert.rejects(extractZip(join(root, "bad.zip"), join(root, "bad")), (error: Error) => {
      return error instanceof ArchiveError && error.kind === "corrupt" && error.entry === "a.txt";
    });

    await Deno.writeFile(join(root, "junk.zip"), encoder.encode("not a zip at all"));
    await assert.rejects(extractZip(join(root, "junk.zip"), join(root, "junk")), (error: Error) => {
      return error instanceof ArchiveError && error.kind === "unreadable" &&
        error.message.includes("junk.zip");
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("verification: a database missing from the archive fails and leaves no dataset folder", async () => {
  const archive = await devArchive({ questions: [...superhero, { ...superhero[0], db_id: "ghost" }] });
  await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
    await assert.rejects(
      downloadDataset("dev", { dest, url: server.url("/dev.zip") }),
      /dev_databases: missing database ghost\/ghost\.sqlite$/,
    );
    await assertNoDataset(dest);
  });
});

Deno.test("a kept archive is re-extracted without a request and checked against the manifest", async () => {
  const archive = await devArchive();
  await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
    const url = server.url("/dev.zip");
    await downloadDataset("dev", { dest, url });
    await Deno.remove(join(dest, "dev_20240627"), { recursive: true });
    const again = await downloadDataset("dev", { dest, url });
    assert.equal(server.requests.length, 1);
    assert.equal(again.fetched, false);
    assert.equal(again.extracted, true);

    await Deno.remove(join(dest, "dev_20240627"), { recursive: true });
    const manifestPath = join(dest, "downloads/manifest.json");
    const manifest = JSON.parse(await Deno.readTextFile(manifestPath));
    manifest.archives["dev.zip"].sha256 = "0".repeat(64);
    await Deno.writeTextFile(manifestPath, JSON.stringify(manifest));
    await assert.rejects(
      downloadDataset("dev", { dest, url }),
      /dev\.zip: sha256 [0-9a-f]{64} differs from 0{64}/,
    );
    await assertNoDataset(dest);
  });
});

Deno.test("a folder unpacked by hand is verified and adopted, or refused when incomplete", async () => {
  const root = await Deno.makeTempDir({ prefix: "text2sql-download-test-" });
  try {
    const folder = join(root, "dev_20240627");
    await Deno.mkdir(join(folder, "dev_databases/superhero"), { recursive: true });
    await Deno.writeFile(join(folder, "dev.json"), json(superhero));
    await Deno.writeFile(join(folder, "dev_tables.json"), json(tables));
    // No server at all: neither outcome may touch the network.
    const url = "http://127.0.0.1:9/unused.zip";
    await assert.rejects(
      downloadDataset("dev", { dest: root, url }),
      /dev_20240627 exists but is not a complete dataset \(.*missing database superhero\/superhero\.sqlite\)/,
    );
    await Deno.writeFile(join(folder, "dev_databases/superhero/superhero.sqlite"), sqlite);
    const result = await downloadDataset("dev", { dest: root, url });
    assert.equal(result.fetched, false);
    assert.equal(result.verification.questions, 129);
    const marker = JSON.parse(await Deno.readTextFile(join(folder, VERIFIED_MARKER)));
    assert.deepEqual(marker.files["dev_databases/superhero/superhero.sqlite"], { bytes: sqlite.length });

    // Damaged after adoption, with no archive to extract again: a download is tried, never "verified".
    await Deno.remove(join(folder, "dev_databases/superhero/superhero.sqlite"));
    await assert.rejects(
      downloadDataset("dev", { dest: root, url, retries: 0 }),
      /127\.0\.0\.1:9\/unused\.zip: /,
    );
    assert.equal(await exists(join(folder, VERIFIED_MARKER)), true, "the damaged folder is left as it was");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a damaged database fails PRAGMA quick_check", async () => {
  const damaged = sqlite.slice();
  // Scribble over the middle of the file, past the header, where the b-tree pages are.
  damaged.fill(0x5a, 40_000, 60_000);
  const nested = await zip([["dev_databases/superhero/superhero.sqlite", damaged]]);
  const archive = await devArchive({ nested });
  await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
    await assert.rejects(
      downloadDataset("dev", { dest, url: server.url("/dev.zip") }),
      /superhero\.sqlite: (PRAGMA quick_check failed|cannot be opened as SQLite)/,
    );
    await assertNoDataset(dest);
  });
});

Deno.test("CLI: env var URL, --quiet, exit codes", async () => {
  const archive = await devArchive();
  await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
    const log = console.log;
    const error = console.error;
    const out: string[] = [];
    const err: string[] = [];
    console.log = (...args: unknown[]) => out.push(args.join(" "));
    console.error = (...args: unknown[]) => err.push(args.join(" "));
    Deno.env.set("TEXT2SQL_BIRD_URL_DEV", server.url("/dev.zip"));
    try {
      assert.equal(await downloadCommand(["dev", "--dest", dest, "--quiet"]), 0);
      assert.equal(server.requests.length, 1);
      assert.match(out.join("\n"), /129 questions, 1 database /);
      assert.deepEqual(err, [], "--quiet prints nothing on stderr");
      assert.equal(
        await downloadCommand(["mini-dev", "--dest", dest, "--url", server.url("/missing.zip")]),
        1,
      );
      assert.match(
        err.at(-1)!,
        /^download mini-dev: http:\/\/127\.0\.0\.1:\d+\/missing\.zip: HTTP 404 Not Found$/,
      );
      assert.equal(await downloadCommand(["nope"]), 2);
      assert.equal(await downloadCommand(["dev", "--bogus"]), 2);
      assert.equal(await downloadCommand([]), 2);
    } finally {
      console.log = log;
      console.error = error;
      Deno.env.delete("TEXT2SQL_BIRD_URL_DEV");
    }
  });
});

Deno.test("mini-dev layout: minidev/MINIDEV/ with the databases unpacked, no nested zip", async () => {
  const archive = await zip([
    ["minidev/MINIDEV/mini_dev_sqlite.json", json(superhero.slice(0, 20))],
    ["minidev/MINIDEV/dev_tables.json", json(tables)],
    ["minidev/MINIDEV/mini_dev_mysql.json", json([])],
    ...databaseEntries("minidev/MINIDEV/dev_databases"),
  ]);
  await withServer({ "/minidev.zip": archive }, async ({ dest, server }) => {
    const result = await downloadDataset("minidev", { dest, url: server.url("/minidev.zip") });
    assert.equal(result.dataset, "mini-dev");
    assert.equal(result.questionsPath, join(dest, "minidev/MINIDEV/mini_dev_sqlite.json"));
    assert.equal(result.dbRoot, join(dest, "minidev/MINIDEV/dev_databases"));
    assert.equal(result.verification.questions, 20);
    assert.deepEqual(await Deno.readFile(join(result.dbRoot, "superhero/superhero.sqlite")), sqlite);
    assert.equal(await exists(join(dest, "downloads/minidev.zip")), true);
  });
});

// --- a verified dataset damaged afterwards ---

const DB = "dev_databases/superhero/superhero.sqlite";

/** Ways a verified folder gets damaged, and the one line a rerun must report. */
const damages: [label: string, damage: (folder: string) => Promise<void>, reported: string][] = [
  ["a deleted database", (folder) => Deno.remove(join(folder, DB)), `${DB} is missing`],
  [
    "a truncated database",
    (folder) => Deno.truncate(join(folder, DB), 100_000),
    `${DB} is 100000 bytes, not ${sqlite.length}`,
  ],
  ["a deleted dev.json", (folder) => Deno.remove(join(folder, "dev.json")), "dev.json is missing"],
  [
    "dev.json changed in place, same size",
    async (folder) => {
      const text = await Deno.readTextFile(join(folder, "dev.json"));
      await Deno.writeTextFile(join(folder, "dev.json"), text.replace(`"question": "W`, `"question": "w`));
    },
    "dev.json has changed (sha256)",
  ],
];

/** The folder is back as extracted: every file of the archive, byte for byte, and nothing half-done left. */
async function assertWhole(dest: string) {
  const folder = join(dest, "dev_20240627");
  assert.deepEqual(await Deno.readFile(join(folder, DB)), sqlite);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(join(folder, "dev.json"))), superhero);
  assert.deepEqual(
    (await listTree(dest)).filter((p) => p.startsWith(".tmp-")),
    [],
    "no temporary folder left",
  );
}

Deno.test("a verified dataset damaged since is extracted again from the kept archive, without a request", async (t) => {
  for (const [label, damage, reported] of damages) {
    await t.step(label, async () => {
      const archive = await devArchive();
      await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
        const url = server.url("/dev.zip");
        const first = await downloadDataset("dev", { dest, url });
        const folder = join(dest, "dev_20240627");
        await damage(folder);

        const lines: string[] = [];
        const again = await downloadDataset("dev", { dest, url, log: (line) => lines.push(line) });
        assert.equal(server.requests.length, 1, "the kept archive is used: no request");
        assert.equal(again.fetched, false);
        assert.equal(again.extracted, true, "a damaged dataset must not pass as verified");
        assert.equal(again.repaired, reported);
        assert.deepEqual(again.verification, first.verification);
        assert.equal(
          lines[0],
          `${folder} has changed since it was verified (${reported}); extracting it again`,
        );
        assert.ok(!lines.some((line) => line.includes("already downloaded")), lines.join("\n"));
        assert.ok(
          lines.includes(`using ${join(dest, "downloads/dev.zip")}, downloaded before`),
          lines.join("\n"),
        );
        await assertWhole(dest);

        const third = await downloadDataset("dev", { dest, url });
        assert.equal(third.extracted, false, "repaired, it is verified again");
        assert.equal(third.repaired, null);
        assert.equal(server.requests.length, 1);
      });
    });
  }
});

Deno.test("a verified dataset damaged since is downloaded again when --remove-archive removed the archive", async (t) => {
  for (const [label, damage, reported] of damages) {
    await t.step(label, async () => {
      const archive = await devArchive();
      await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
        const url = server.url("/dev.zip");
        await downloadDataset("dev", { dest, url, keepArchive: false });
        assert.equal(await exists(join(dest, "downloads/dev.zip")), false);
        await damage(join(dest, "dev_20240627"));

        const lines: string[] = [];
        const again = await downloadDataset("dev", {
          dest,
          url,
          keepArchive: false,
          log: (line) => lines.push(line),
        });
        assert.equal(server.requests.length, 2, "the archive is fetched again");
        assert.equal(again.fetched, true);
        assert.equal(again.extracted, true);
        assert.equal(again.repaired, reported);
        assert.equal(again.sha256, sha256(archive), "checked against the manifest");
        assert.ok(
          lines.includes(`downloading ${url} to ${join(dest, "downloads/dev.zip")}`),
          lines.join("\n"),
        );
        await assertWhole(dest);
        assert.equal(await exists(join(dest, "downloads/dev.zip")), false);
      });
    });
  }
});

Deno.test("CLI: a database deleted after `download dev --remove-archive` makes the rerun download and verify again", async () => {
  const archive = await devArchive();
  await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
    const log = console.log;
    const out: string[] = [];
    console.log = (...args: unknown[]) => out.push(args.join(" "));
    try {
      const url = server.url("/dev.zip");
      assert.equal(
        await downloadCommand(["dev", "--dest", dest, "--url", url, "--quiet", "--remove-archive"]),
        0,
      );
      await Deno.remove(join(dest, "dev_20240627", DB));
      assert.equal(await downloadCommand(["dev", "--dest", dest, "--url", url, "--quiet"]), 0);
      assert.equal(server.requests.length, 2);
      assert.match(out.at(-1)!, /129 questions, 1 database \(all pass PRAGMA quick_check\)/);
      await assertWhole(dest);
    } finally {
      console.log = log;
    }
  });
});

Deno.test("a marker written before files were recorded is checked against its summary, then completed", async () => {
  const archive = await devArchive();
  await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
    const url = server.url("/dev.zip");
    await downloadDataset("dev", { dest, url });
    const markerPath = join(dest, "dev_20240627", VERIFIED_MARKER);
    const { files, ...legacy } = JSON.parse(await Deno.readTextFile(markerPath));
    assert.deepEqual(files[DB], { bytes: sqlite.length });
    assert.deepEqual(files["dev.json"].bytes, json(superhero).length);
    assert.match(files["dev.json"].sha256, /^[0-9a-f]{64}$/);

    // Intact: nothing to do, and the files are recorded from now on.
    await Deno.writeTextFile(markerPath, JSON.stringify(legacy));
    const whole = await downloadDataset("dev", { dest, url });
    assert.equal(whole.extracted, false);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(markerPath)).files, files);

    // Damaged: the database sizes and the question counts of the summary still tell.
    for (
      const [damage, reported] of [
        [
          () => Deno.truncate(join(dest, "dev_20240627", DB), 4096),
          `${DB} is 4096 bytes, not ${sqlite.length}`,
        ],
        [() => Deno.remove(join(dest, "dev_20240627/dev.json")), "dev.json: missing"],
        [
          () => Deno.writeTextFile(join(dest, "dev_20240627/dev.json"), JSON.stringify(superhero.slice(1))),
          "dev.json has changed (its questions differ from the summary)",
        ],
      ] as const
    ) {
      await Deno.writeTextFile(markerPath, JSON.stringify(legacy));
      await damage();
      const again = await downloadDataset("dev", { dest, url });
      assert.equal(again.extracted, true);
      assert.equal(again.repaired, reported);
      await assertWhole(dest);
    }
    assert.equal(server.requests.length, 1);
  });
});

Deno.test("a damaged dataset whose kept archive no longer matches the manifest is refused, never verified", async () => {
  const archive = await devArchive();
  await withServer({ "/dev.zip": archive }, async ({ dest, server }) => {
    const url = server.url("/dev.zip");
    await downloadDataset("dev", { dest, url });
    const archivePath = join(dest, "downloads/dev.zip");
    const changed = archive.slice();
    changed[changed.length - 1] ^= 1; // one byte flipped: no longer the archive the manifest recorded
    await Deno.writeFile(archivePath, changed);
    await Deno.remove(join(dest, "dev_20240627", DB));
    for (let run = 0; run < 2; run++) {
      await assert.rejects(
        downloadDataset("dev", { dest, url }),
        /dev\.zip: sha256 [0-9a-f]{64} differs from/,
      );
      // The damaged folder stays, marker included, so the next run finds the damage again.
      assert.equal(await exists(join(dest, "dev_20240627", VERIFIED_MARKER)), true);
    }
    assert.equal(server.requests.length, 1);
    await Deno.remove(archivePath);
    const fixed = await downloadDataset("dev", { dest, url });
    assert.equal(fixed.fetched, true);
    assert.equal(fixed.repaired, `${DB} is missing`);
    await assertWhole(dest);
  });
});
