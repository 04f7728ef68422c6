/**
 * The parity suite: every probe of tests/parity/probes.json scored by the project's real path (`runEvaluation` on a
 * BIRD-layout dataset and an official-format predictions file) and, live, by the official per-pair logic with
 * Python's sqlite3 (tests/parity/official_ex.py), question by question: EX and Soft-F1 must agree.
 *
 * Three kinds of probe are reported but not held to agreement: `version_dependent` ones (Deno bundles a newer SQLite
 * than the Python here links), `driver_limit` ones (a limit of node:sqlite that the worker cannot see past: TEXT
 * stored with a NUL byte is cut there) and `deliberate` ones (writing statements, which the project refuses by
 * design; the test checks it does refuse them and that no database file changes).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { BIRD_SEPARATOR } from "../../lib/data/dataset.ts";
import { runEvaluation } from "../../lib/run/evaluate.ts";
import { sha256Hex } from "../../lib/util/hash.ts";
import type { ResultRecord } from "../../lib/types.ts";

const PARITY_DIR = join(import.meta.dirname!, "..", "parity");

/** One probe of the corpus; `expected` is what probe_verdicts.py stored from the official logic. */
interface Probe {
  id: string;
  topic: string;
  db: string;
  pred: string;
  gold: string;
  version_dependent?: string;
  driver_limit?: string;
  deliberate?: string;
  expected: { ex: number; soft_f1: number; error: string | null };
}

/** Python's report of a syntax error; group 1 is SQLite's message. */
const SYNTAX_ERROR =
  /^OperationalError: ((?:near ".*": syntax error|incomplete input|unrecognized token: .*))$/s;

type Verdicts = Record<string, [number, number]>;

async function python(args: string[]): Promise<string> {
  const out = await new Deno.Command("python3", { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder();
  assert(out.success, `python3 ${args.join(" ")}: ${text.decode(out.stderr)}`);
  return text.decode(out.stdout);
}

async function hashDbs(dbRoot: string, names: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of names) out[n] = sha256Hex(await Deno.readFile(join(dbRoot, n, `${n}.sqlite`)));
  return out;
}

function projectVerdict(r: ResultRecord): string {
  return `ex ${r.status === "correct" ? 1 : 0} f1 ${r.soft_f1} (${r.status}${r.error ? `: ${r.error}` : ""})`;
}

function officialVerdict(v: [number, number], p: Probe): string {
  return `ex ${v[0]} f1 ${v[1]}${p.expected.error ? ` (${p.expected.error})` : ""}`;
}

function oneLine(s: string): string {
  return JSON.stringify(s.length > 90 ? `${s.slice(0, 90)}…` : s);
}

Deno.test("parity: every probe scores as the official evaluator with Python's sqlite3 (EX and Soft-F1)", async () => {
  const probes: Probe[] = JSON.parse(await Deno.readTextFile(join(PARITY_DIR, "probes.json")));
  assert(probes.length >= 200, `${probes.length} probes`);
  assertEquals(new Set(probes.map((p) => p.id)).size, probes.length, "probe ids are unique");
  const root = await Deno.makeTempDir({ prefix: "t2s-parity-" });
  try {
    const dbRoot = join(root, "dbs");
    await python([join(PARITY_DIR, "probe_verdicts.py"), "--build", dbRoot]);
    const dataset = join(root, "dev.json");
    const predictions = join(root, "predict_dev.json");
    await Deno.writeTextFile(
      dataset,
      JSON.stringify(probes.map((p, i) => ({
        question_id: i,
        db_id: p.db,
        question: `probe ${p.id}`,
        evidence: "",
        SQL: p.gold,
        difficulty: p.topic,
      }))),
    );
    await Deno.writeTextFile(
      predictions,
      JSON.stringify(
        Object.fromEntries(probes.map((p, i) => [String(i), `${p.pred}${BIRD_SEPARATOR}${p.db}`])),
      ),
    );
    const dbNames = [...new Set(probes.map((p) => p.db))];
    const before = await hashDbs(dbRoot, dbNames);

    const res = await runEvaluation({
      dataset,
      dbRoot,
      predictions,
      out: join(root, "run"),
      silent: true,
      goldCacheDir: join(root, "gold"),
    });
    assertEquals(res.records.length, probes.length);
    assertEquals(await hashDbs(dbRoot, dbNames), before, "no probe changed a database file");

    // Live, after the project (Python's sqlite3 does commit some writes, e.g. DDL and PRAGMA assignments).
    const official: Verdicts = JSON.parse(
      await python([join(PARITY_DIR, "official_ex.py"), dataset, predictions, dbRoot]),
    );

    const drift: string[] = [];
    const disagree: string[] = [];
    const versionLines: string[] = [];
    const limitLines: string[] = [];
    const writeLines: string[] = [];
    let agree = 0;
    for (const r of res.records) {
      const p = probes[r.index];
      const live = official[String(r.index)];
      if (live[0] !== p.expected.ex || Math.abs(live[1] - p.expected.soft_f1) > 1e-12) {
        const line = `${p.id}: stored ex ${p.expected.ex} f1 ${p.expected.soft_f1}, live ex ${live[0]} f1 ${
          live[1]
        }`;
        (p.version_dependent ? versionLines : drift).push(`${line} (stored verdict)`);
      }
      const same = (r.status === "correct" ? 1 : 0) === live[0] && Math.abs(r.soft_f1 - live[1]) < 1e-9;
      if (same) agree++;
      const line = `${p.id} [${p.topic}] ${oneLine(p.pred)} vs ${oneLine(p.gold)}: official ${
        officialVerdict(live, p)
      }, project ${projectVerdict(r)}`;
      if (p.deliberate) {
        writeLines.push(`${same ? "same" : "differs"} ${line}`);
        assert(r.status !== "correct", `${p.id}: a writing statement must be refused`);
        assert(
          /not authorized|read-?only/i.test(r.error ?? ""),
          `${p.id}: refused with a clear reason: ${r.error}`,
        );
      } else if (p.version_dependent) {
        versionLines.push(`${same ? "same" : "differs"} ${line} — ${p.version_dependent}`);
      } else if (p.driver_limit) {
        limitLines.push(`${same ? "same" : "differs"} ${line} — ${p.driver_limit}`);
      } else if (!same) {
        disagree.push(line);
      } else {
        // A syntax error must read as SQLite's own message (the error taxonomy sorts on it), as Python shows it.
        const syntax = SYNTAX_ERROR.exec(p.expected.error ?? "");
        if (syntax && !(r.error ?? "").includes(syntax[1])) {
          disagree.push(`${line} — the error should read ${JSON.stringify(syntax[1])}`);
        }
      }
    }
    const versionCount = probes.filter((p) => p.version_dependent).length;
    const limitCount = probes.filter((p) => p.driver_limit).length;
    const writeCount = probes.filter((p) => p.deliberate).length;
    console.log(
      `parity: ${probes.length} probes, ${agree} agree, ${versionCount} version-dependent, ${limitCount} driver ` +
        `limits, ${writeCount} refused writes`,
    );
    for (const l of versionLines) console.log(`  version-dependent ${l}`);
    for (const l of limitLines) console.log(`  driver limit ${l}`);
    for (const l of writeLines) console.log(`  refused write ${l}`);
    const problems = [
      ...drift.map((l) => `stale in probes.json (rerun tests/parity/probe_verdicts.py --write): ${l}`),
      ...disagree.map((l) => `disagrees: ${l}`),
    ];
    assert(
      problems.length === 0,
      `${disagree.length} probes disagree, ${drift.length} stale:\n${problems.join("\n")}`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
