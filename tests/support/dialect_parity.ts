/**
 * The per-dialect parity suites' shared steps (tests/exec/pg_parity_test.ts, tests/exec/mysql_parity_test.ts):
 * the probe database loaded into a real server, the official verdicts computed live by
 * tests/parity/official_ex_dialects.py (mini-dev's execute_sql with psycopg2 / pymysql, one Python process per
 * batch), the project's verdicts from an engine's `score()`, and the comparison with its summary line.
 *
 * @module
 */
import { ok as assert } from "node:assert/strict";
import { join } from "node:path";
import {
  ensureReadOnlyRole,
  loadSqliteDatabases,
  openPglite,
  openTargetDatabase,
  randomPassword,
} from "../../lib/db/mod.ts";
import { openEngine, type ScoreOutcome, type SqlEngine } from "../../lib/exec/mod.ts";
import type { ResultRecord } from "../../lib/types.ts";

/** The parity material: probe files, probe databases, the Python mirror. */
export const PARITY_DIR: string = join(import.meta.dirname!, "..", "parity");
/** Debian's Python, which has python3-psycopg2 and python3-pymysql (another python3 may be first on PATH). */
export const PYTHON = "/usr/bin/python3";
const MIRROR = join(PARITY_DIR, "official_ex_dialects.py");

/** A server dialect of the suites. */
export type ServerDialect = "postgresql" | "mysql";

/** One verdict: EX, Soft-F1 and, when the pair failed, why. */
export interface Verdict {
  ex: number;
  soft_f1: number;
  error: string | null;
}

/** One probe of tests/parity/{pg,mysql}_probes.json. */
export interface DialectProbe {
  id: string;
  topic: string;
  db: string;
  pred: string;
  gold: string;
  /** Not held to agreement, by design (writes refused, a gold that depends on the prediction's session). */
  deliberate?: string;
  /** PGlite (a newer PostgreSQL) gives another verdict than PostgreSQL 15, and why. */
  pglite?: string;
  /** What official_ex_dialects.py stored (`probes --write`) on Debian's PostgreSQL 15 / MariaDB 10.11. */
  expected: Verdict;
}

/** The probes of a dialect, checked for unique ids and the minimum count. */
export async function readProbes(dialect: ServerDialect): Promise<DialectProbe[]> {
  const file = join(PARITY_DIR, dialect === "postgresql" ? "pg_probes.json" : "mysql_probes.json");
  const probes: DialectProbe[] = JSON.parse(await Deno.readTextFile(file));
  assert(probes.length >= 150, `${file}: ${probes.length} probes`);
  const ids = new Set(probes.map((p) => p.id));
  assert(ids.size === probes.length, `${file}: probe ids are unique`);
  return probes;
}

/** Run the mirror; its stdout. */
export async function mirror(args: string[]): Promise<string> {
  const out = await new Deno.Command(PYTHON, { args: [MIRROR, ...args], stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder();
  assert(out.success, `official_ex_dialects.py ${args[0]}: ${text.decode(out.stderr).trim().slice(-2000)}`);
  return text.decode(out.stdout);
}

/** A URL with another database path. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A URL with other credentials. */
export function withUser(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
}

/**
 * Load the dialect's probe database (`bird` / `BIRD`, dropped first) as the admin, with a SELECT-only login for
 * the engine. Returns the admin's and the read-only URL of that database.
 */
export async function loadProbeDatabase(
  dialect: ServerDialect,
  adminUrl: string,
): Promise<{ adminDbUrl: string; readonlyUrl: string }> {
  const database = dialect === "postgresql" ? "bird" : "BIRD";
  const sql = join(PARITY_DIR, dialect === "postgresql" ? "pg_probe_dbs.sql" : "mysql_probe_dbs.sql");
  const user = "t2s_parity_ro";
  const password = crypto.randomUUID().replaceAll("-", "");
  await mirror([
    "load",
    "--dialect",
    dialect,
    "--url",
    adminUrl,
    "--sql",
    sql,
    "--database",
    database,
    "--readonly-user",
    user,
    "--readonly-password",
    password,
  ]);
  const adminDbUrl = withDatabase(adminUrl, database);
  return { adminDbUrl, readonlyUrl: withUser(adminDbUrl, user, password) };
}

/** The official verdict of every probe, live, from one Python process; and the server it ran on. */
export async function officialProbeVerdicts(
  dialect: ServerDialect,
  url: string,
): Promise<{ server: string; verdicts: Map<string, Verdict> }> {
  const probesFile = join(PARITY_DIR, dialect === "postgresql" ? "pg_probes.json" : "mysql_probes.json");
  const lines = (await mirror(["probes", "--dialect", dialect, "--url", url, "--probes", probesFile]))
    .split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  const verdicts = new Map<string, Verdict>();
  for (const l of lines.slice(1)) verdicts.set(l.id, { ex: l.ex, soft_f1: l.soft_f1, error: l.error });
  return { server: lines[0].server, verdicts };
}

/** The official verdicts of an official-format predictions file: `{index: [ex, soft_f1]}`. */
export async function officialPairs(
  dialect: ServerDialect,
  url: string,
  files: { dataset: string; predictions: string; db?: string },
): Promise<Record<string, [number, number]>> {
  const args = ["pairs", "--dialect", dialect, "--url", url, files.dataset, files.predictions];
  if (files.db) args.push("--db", files.db);
  return JSON.parse(await mirror(args));
}

/** Our verdict from an engine's score outcome. */
export function verdictOf(o: ScoreOutcome): Verdict {
  const error = !o.pred.ok ? o.pred.error : o.gold && !o.gold.ok ? o.gold.error : null;
  return { ex: o.match ? 1 : 0, soft_f1: o.softF1, error };
}

/** Score every probe through `engine.score()` (concurrently, or one after another in file order). */
export async function scoreProbes(
  engine: SqlEngine,
  target: string,
  probes: DialectProbe[],
  options: { sequential?: boolean } = {},
): Promise<Map<string, Verdict>> {
  const out = new Map<string, Verdict>();
  const one = async (p: DialectProbe) => {
    out.set(p.id, verdictOf(await engine.score(target, p.pred, { gold: p.gold })));
  };
  if (options.sequential) { for (const p of probes) await one(p); }
  else await Promise.all(probes.map(one));
  return out;
}

const same = (a: Verdict, b: Verdict) => a.ex === b.ex && Math.abs(a.soft_f1 - b.soft_f1) < 1e-9;

function clip(s: string): string {
  return JSON.stringify(s.length > 90 ? `${s.slice(0, 90)}…` : s);
}

function describe(v: Verdict): string {
  return `ex ${v.ex} f1 ${Number(v.soft_f1.toFixed(6))}${v.error ? ` (${v.error})` : ""}`;
}

/** How a server states a syntax error, as the official script's exception shows it (ours should carry it: printed when not). */
const SYNTAX = [/^SyntaxError: (.*)$/s, /^ProgrammingError: (You have an error in your SQL syntax.*)$/s];

/** The outcome of {@linkcode compareProbes}. */
export interface Comparison {
  agree: number;
  /** Asserted probes whose verdicts differ, one line each. */
  disagree: string[];
  /** Stored verdicts (probes.json) that differ from the live official ones. */
  stale: string[];
  /** Deliberate probes, reported with both verdicts. */
  deliberate: string[];
  /** Agreeing probes where the server reported a syntax error and our error does not carry its text. */
  errorText: string[];
}

/** Compare our verdicts with the official ones, probe by probe. */
export function compareProbes(
  probes: DialectProbe[],
  official: Map<string, Verdict>,
  ours: Map<string, Verdict>,
): Comparison {
  const c: Comparison = { agree: 0, disagree: [], stale: [], deliberate: [], errorText: [] };
  for (const p of probes) {
    const live = official.get(p.id);
    const mine = ours.get(p.id);
    assert(live && mine, `${p.id}: a verdict is missing (official ${!!live}, project ${!!mine})`);
    if (!same(live, p.expected)) {
      c.stale.push(`${p.id}: stored ${describe(p.expected)}, live ${describe(live)}`);
    }
    const line = `${p.id} [${p.topic}] ${clip(p.pred)} vs ${clip(p.gold)}: official ${describe(live)}, ` +
      `project ${describe(mine)}`;
    if (p.deliberate) {
      c.deliberate.push(`${same(live, mine) ? "same" : "differs"} ${line} — ${p.deliberate}`);
      continue;
    }
    if (!same(live, mine)) {
      c.disagree.push(line);
      continue;
    }
    c.agree++;
    const syntax = SYNTAX.map((re) => re.exec(live.error ?? "")).find((m) => m);
    if (syntax && !(mine.error ?? "").includes(syntax[1])) {
      c.errorText.push(`${line} — the server said ${JSON.stringify(syntax[1])}`);
    }
  }
  return c;
}

/** Print the suite's summary line (and the deliberate probes); throw listing every disagreement. */
export function assertParity(
  label: string,
  probes: DialectProbe[],
  official: Map<string, Verdict>,
  ours: Map<string, Verdict>,
): void {
  const c = compareProbes(probes, official, ours);
  console.log(
    `${label}: ${probes.length} probes, ${c.agree} agree, ${c.deliberate.length} deliberate, ` +
      `${c.disagree.length} disagree`,
  );
  for (const l of c.deliberate) console.log(`  deliberate ${l}`);
  for (const l of c.errorText) console.log(`  syntax error reported otherwise ${l}`);
  const problems = [
    ...c.stale.map((l) => `stale (rerun official_ex_dialects.py probes --write): ${l}`),
    ...c.disagree.map((l) => `disagrees: ${l}`),
  ];
  assert(
    problems.length === 0,
    `${label}: ${c.disagree.length} probes disagree, ${c.stale.length} stale:\n${problems.join("\n")}`,
  );
}

/** The project's engine for a server URL, as a run opens it. */
export function openServerEngine(
  dialect: ServerDialect,
  url: string,
  options: { workers?: number } = {},
): Promise<SqlEngine> {
  return openEngine({ dialect, dbUrl: url, workers: options.workers ?? 2, timeoutS: 30 });
}

/**
 * Every probe scored by the project's engine on a server, as a run scores it: the `session` probes in file order
 * on one connection (what a prediction sets must not reach the next one), the others in parallel.
 */
export async function scoreServerProbes(
  probes: DialectProbe[],
  server: { dialect: ServerDialect; url: string },
): Promise<Map<string, Verdict>> {
  const engine = await openServerEngine(server.dialect, server.url);
  let ours: Map<string, Verdict>;
  try {
    ours = await scoreProbes(
      engine,
      engine.target("", "probes"),
      probes.filter((p) => p.topic !== "session"),
    );
  } finally {
    await engine.close();
  }
  const one = await openServerEngine(server.dialect, server.url, { workers: 1 });
  try {
    const session = probes.filter((p) => p.topic === "session");
    for (const [id, v] of await scoreProbes(one, one.target("", "probes"), session, { sequential: true })) {
      ours.set(id, v);
    }
  } finally {
    await one.close();
  }
  return ours;
}

/** The repository root (the CLI and the bundled sample live there). */
export const REPO_ROOT: string = join(import.meta.dirname!, "..", "..");
/** The bundled BIRD sample. */
export const SAMPLE: string = join(REPO_ROOT, "data", "sample");

/** The models whose official mini-dev predictions are bundled, in both dialects. */
export const MINI_DEV_MODELS = ["gpt-35-turbo", "phi-3-medium-128k-instruct-1"] as const;

/** The bundled mini-dev question file and a model's official predictions file of a dialect. */
export function miniDevFiles(
  dialect: ServerDialect,
  model: (typeof MINI_DEV_MODELS)[number],
): { dataset: string; predictions: string } {
  return {
    dataset: join(SAMPLE, "mini_dev", `mini_dev_${dialect}.json`),
    predictions: join(SAMPLE, "predictions", "mini_dev", `predict_mini_dev_${model}_${dialect}.json`),
  };
}

/**
 * `deno task eval --dialect D --predictions P --dataset Q --db superhero` as a user runs it, the server URL in
 * `TEXT2SQL_DB_URL`; returns the records of its `results.jsonl` and the printed output.
 */
export async function evalCli(
  dialect: ServerDialect,
  url: string,
  files: { dataset: string; predictions: string; db: string; out: string },
): Promise<{ records: ResultRecord[]; stdout: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(REPO_ROOT, "lib", "cli", "cli.ts"),
      "eval",
      "--dialect",
      dialect,
      "--dataset",
      files.dataset,
      "--db",
      files.db,
      "--predictions",
      files.predictions,
      "--workers",
      "2",
      "--out",
      files.out,
    ],
    env: { TEXT2SQL_DB_URL: url },
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  const stdout = text.decode(out.stdout);
  assert(
    out.success,
    `deno task eval --dialect ${dialect}: ${text.decode(out.stderr).slice(-2000)}\n${stdout}`,
  );
  assert(!stdout.includes(new URL(url).password || "\u0000"), "the server password is never printed");
  const lines = (await Deno.readTextFile(join(files.out, "results.jsonl"))).split("\n").filter((l) =>
    l.trim()
  );
  return { records: lines.map((l) => JSON.parse(l)), stdout };
}

/**
 * Compare a run's records with the official verdicts of the same predictions (`{index: [ex, f1]}`): the lines
 * that differ, and both EX figures (percent).
 */
export function compareRecords(
  records: ResultRecord[],
  official: Record<string, [number, number]>,
): { disagree: string[]; ex: number; officialEx: number; count: number } {
  const disagree: string[] = [];
  let ours = 0, theirs = 0;
  assert(
    records.length === Object.keys(official).length,
    `${records.length} records, ${Object.keys(official).length} official verdicts`,
  );
  for (const r of records) {
    const o = official[String(r.index)];
    assert(o, `question ${r.index}: no official verdict`);
    const ex = r.status === "correct" ? 1 : 0;
    ours += ex;
    theirs += o[0];
    if (ex !== o[0] || Math.abs(r.soft_f1 - o[1]) > 1e-9) {
      disagree.push(
        `question ${r.index}: official ex ${o[0]} f1 ${o[1]}, project ex ${ex} f1 ${r.soft_f1} (${r.status}${
          r.error ? `: ${r.error}` : ""
        }) — ${clip(r.sql ?? "")} vs ${clip(r.gold_sql)}`,
      );
    }
  }
  const pct = (n: number) => Math.round((10000 * n) / records.length) / 100;
  return { disagree, ex: pct(ours), officialEx: pct(theirs), count: records.length };
}

/**
 * Load the bundled `superhero` into the server with `deno task db load`'s loader (into `bird` / `BIRD`, beside the
 * probe tables) and give it the loader's read-only role; returns that role's URL.
 */
export async function loadSuperhero(dialect: ServerDialect, adminUrl: string): Promise<string> {
  const database = dialect === "postgresql" ? "bird" : "BIRD";
  const conn = await openTargetDatabase(adminUrl, { dialect, database });
  const name = "t2s_minidev_ro";
  const password = randomPassword();
  try {
    const report = await loadSqliteDatabases(conn, {
      dialect,
      dbRoot: join(SAMPLE, "dev_databases"),
      dbIds: ["superhero"],
    });
    await ensureReadOnlyRole(conn, dialect, {
      name,
      database,
      tables: report.tables.map((t) => t.tableName),
      password,
      statementTimeoutS: 30,
    });
  } finally {
    await conn.close();
  }
  return withUser(withDatabase(adminUrl, database), name, password);
}

/**
 * PGlite (a newer PostgreSQL, embedded) against PostgreSQL 15's official verdicts: print the summary and every
 * version case (a probe with `pglite` naming why it differs); throw on a difference no probe names, and on a
 * version case that no longer differs (the reason is stale).
 */
export function assertPgliteCases(
  label: string,
  probes: DialectProbe[],
  pg15: Map<string, Verdict>,
  pglite: Map<string, Verdict>,
): void {
  let agree = 0;
  const cases: string[] = [];
  const problems: string[] = [];
  for (const p of probes) {
    if (p.deliberate) continue;
    const a = pg15.get(p.id), b = pglite.get(p.id);
    assert(a && b, `${p.id}: a verdict is missing`);
    const line =
      `${p.id} [${p.topic}] ${clip(p.pred)} vs ${clip(p.gold)}: PostgreSQL 15 official ${describe(a)}, ` +
      `PGlite project ${describe(b)}`;
    if (same(a, b)) {
      agree++;
      if (p.pglite) problems.push(`no longer a version case (drop its "pglite" note): ${line}`);
    } else if (p.pglite) cases.push(`${line} — ${p.pglite}`);
    else problems.push(`differs, and is not a named version case: ${line}`);
  }
  const asserted = probes.filter((p) => !p.deliberate).length;
  console.log(`${label}: ${asserted} probes, ${agree} same verdicts, ${cases.length} version cases`);
  for (const l of cases) console.log(`  version case ${l}`);
  assert(problems.length === 0, `${label}:\n${problems.join("\n")}`);
}

/**
 * The PostgreSQL probe database and the bundled `superhero` (by `deno task db load`'s loader) in one PGlite
 * database, as the data tarball (`dumpDataDir`) the embedded engine loads; one PGlite initdb (~13 s) for both.
 * Returns the tarball's path under `dir`.
 */
export async function pgliteParityData(dir: string): Promise<string> {
  const conn = await openPglite();
  try {
    await conn.exec(await Deno.readTextFile(join(PARITY_DIR, "pg_probe_dbs.sql")));
    await loadSqliteDatabases(conn, {
      dialect: "postgresql",
      dbRoot: join(SAMPLE, "dev_databases"),
      dbIds: ["superhero"],
    });
    const tarball = await conn.db.dumpDataDir("gzip");
    const path = join(dir, "parity.tar.gz");
    await Deno.writeFile(path, new Uint8Array(await tarball.arrayBuffer()));
    return path;
  } finally {
    await conn.close();
  }
}

/** The SQL of each question of a predictions file as mini-dev's package_sqls reads it, for one database. */
export async function miniDevPairs(
  files: { dataset: string; predictions: string },
  db: string,
): Promise<{ index: number; pred: string; gold: string }[]> {
  const questions: { db_id: string; SQL: string }[] = JSON.parse(await Deno.readTextFile(files.dataset));
  const preds: Record<string, unknown> = JSON.parse(await Deno.readTextFile(files.predictions));
  const sep = "\t----- bird -----\t";
  return questions.flatMap((q, index) => {
    if (q.db_id !== db) return [];
    const raw = preds[String(index)];
    const pred = typeof raw !== "string" ? " " : raw.includes(sep) ? raw.split(sep)[0] : raw.trim();
    return [{ index, pred, gold: q.SQL }];
  });
}

/** A model's mini-dev pairs scored by an engine against official verdicts: the differing lines and the EX. */
export async function scorePairs(
  engine: SqlEngine,
  pairs: { index: number; pred: string; gold: string }[],
  official: Record<string, [number, number]>,
): Promise<{ differ: { index: number; line: string; sameEx: boolean }[]; ex: number }> {
  const differ: { index: number; line: string; sameEx: boolean }[] = [];
  let ex = 0;
  const target = engine.target("", "superhero");
  const verdicts = await Promise.all(pairs.map((q) => engine.score(target, q.pred, { gold: q.gold })));
  pairs.forEach((q, i) => {
    const v = verdictOf(verdicts[i]);
    const o = official[String(q.index)];
    assert(o, `question ${q.index}: no official verdict`);
    ex += v.ex;
    if (v.ex === o[0] && Math.abs(v.soft_f1 - o[1]) < 1e-9) return;
    differ.push({
      index: q.index,
      sameEx: v.ex === o[0],
      line: `question ${q.index}: official ex ${o[0]} f1 ${o[1]}, project ex ${v.ex} f1 ${v.soft_f1}` +
        `${v.error ? ` (${v.error})` : ""} — ${clip(q.pred)} vs ${clip(q.gold)}`,
    });
  });
  return { differ, ex: Math.round((10000 * ex) / pairs.length) / 100 };
}

/**
 * mini-dev's official baseline predictions on `superhero`, loaded into the server by lib/db's loader: the first
 * model through `deno task eval --dialect D` (the user's path, end to end), the others through the engine's
 * `score()`; every verdict must equal the Python mirror's on the same server. Returns the official verdicts
 * per model.
 */
export async function assertMiniDevOnServer(
  dialect: ServerDialect,
  server: { adminUrl: string; version: string },
  adminDbUrl: string,
): Promise<Map<string, Record<string, [number, number]>>> {
  const url = await loadSuperhero(dialect, server.adminUrl);
  const official = new Map<string, Record<string, [number, number]>>();
  const problems: string[] = [];
  const out = await Deno.makeTempDir({ prefix: `t2s-minidev-${dialect}-` });
  const engine = await openServerEngine(dialect, url);
  try {
    for (const [i, model] of MINI_DEV_MODELS.entries()) {
      const files = miniDevFiles(dialect, model);
      const theirs = await officialPairs(dialect, adminDbUrl, { ...files, db: "superhero" });
      official.set(model, theirs);
      let ex: number, differ: string[], via: string;
      if (i === 0) {
        const run = await evalCli(dialect, url, { ...files, db: "superhero", out: join(out, model) });
        const c = compareRecords(run.records, theirs);
        [ex, differ, via] = [c.ex, c.disagree, `deno task eval --dialect ${dialect}`];
      } else {
        const c = await scorePairs(engine, await miniDevPairs(files, "superhero"), theirs);
        [ex, differ, via] = [c.ex, c.differ.map((d) => d.line), "score()"];
      }
      const n = Object.keys(theirs).length;
      const officialEx = Math.round((10000 * Object.values(theirs).reduce((s, v) => s + v[0], 0)) / n) / 100;
      console.log(
        `mini-dev (${dialect} ${server.version}) ${model} via ${via}: ${n} questions on superhero, EX ${ex} ` +
          `(official ${officialEx}), ${n - differ.length} agree`,
      );
      problems.push(...differ.map((l) => `${model} ${l}`));
    }
  } finally {
    await engine.close();
    await Deno.remove(out, { recursive: true });
  }
  assert(problems.length === 0, `${problems.length} mini-dev verdicts disagree:\n${problems.join("\n")}`);
  return official;
}
