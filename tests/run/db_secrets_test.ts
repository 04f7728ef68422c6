/**
 * A database server URL's credentials are known to the one secret model (`lib/util/secrets.ts`), on real
 * servers: PostgreSQL with password authentication (scram) and MariaDB, each evaluated as a role whose password
 * needs percent-encoding (`/`, `@`, `:`, `%`).
 *
 * Neither the password nor its percent-encoded or base64 forms (nor `user:password` and its base64) reach
 * `results.jsonl`, `run.json` (`engine_info`), `summary.json`, `predict_dev.json`, the HTML report, the caches,
 * stdout or stderr, through:
 * - hostile predictions that try to surface connection information (`current_setting('application_name')`,
 *   `inet_server_addr()`, `pg_stat_activity`, `pg_authid`, `USER()`, `PROCESSLIST`, `LOAD_FILE`, the password as
 *   a literal) and, on PostgreSQL with a role allowed to read server files (as a privileged login would be), every
 *   process's `/proc/*\/cmdline`, where `--db-url` on the command line puts the URL: the scrubber removes what the
 *   query surfaced;
 * - the driver's errors: a wrong password, a port nothing listens on, the server stopped mid-run;
 * - an agent's tool results, which are sent back to the model (the scripted endpoint records what it got);
 * - `deno task db load` (its progress, summary and errors) with the loader's URL and `TEXT2SQL_RO_PASSWORD`;
 * - `deno task eval` itself: with the URL in `TEXT2SQL_DB_URL` (the README's way) nothing shows it, while
 *   `--db-url` gets a warning, since deno's own "Task" line echoes the command line (`deno task --quiet` does not).
 *
 * Scrubbing changes no verdict: the same predictions scored as the same role without a password (trust on another
 * loopback address, a MariaDB account without password) give the same statuses, question by question.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import {
  type DbConnection,
  ensureReadOnlyRole,
  loadSqliteDatabases,
  openTargetDatabase,
} from "../../lib/db/mod.ts";
import { type LocalServer, startMysql, startPostgres } from "../../lib/util/local_server.ts";
import { type FakeServer, type Script, startFakeOpenAI } from "../support/fake_openai_server.ts";
import { type ChildResult, ROOT, startCli, walk } from "../support/robust_helpers.ts";

const SAMPLE = join(ROOT, "data/sample");
const DB_ROOT = join(SAMPLE, "dev_databases");
const TAG = crypto.randomUUID().slice(0, 8);
/** The evaluation role's password: every URL-special character, so its percent-encoded form differs. */
const PASSWORD = `Ro/p@ss:w%rd-${TAG}-Z9`;
/** The loader's password (`deno task db load`) and the read-only password it sets. */
const LOADER_PASSWORD = `Ld/p@ss:w%rd-${TAG}-Q7`;
const RO_PASSWORD = `Rw-${TAG}-pw-K5x`;
const enc = encodeURIComponent;

/** Every form of a credential that must never be written or printed. */
function forms(user: string, password: string): string[] {
  const b64 = (s: string) => {
    const padded = btoa(String.fromCharCode(...new TextEncoder().encode(s)));
    return [padded, padded.replace(/=+$/, "")];
  };
  return [
    password,
    enc(password),
    ...b64(password),
    ...b64(enc(password)),
    `${user}:${password}`,
    ...b64(`${user}:${password}`),
    `${user}:${enc(password)}`,
    ...b64(`${user}:${enc(password)}`),
  ];
}

const SECRETS = [
  ...forms("t2s_reader", PASSWORD),
  ...forms("t2s_loader", LOADER_PASSWORD),
  ...forms("text2sql_ro", RO_PASSWORD),
];

/** The forms found in a text. */
function leaks(text: string): string[] {
  return SECRETS.filter((s) => text.includes(s));
}

function assertClean(where: string, text: string): void {
  const found = leaks(text);
  assert(
    found.length === 0,
    `${where} holds ${JSON.stringify(found)}: ${JSON.stringify(text.slice(0, 400))}`,
  );
}

/** Every file under the folders, as text, checked. */
async function assertFilesClean(...dirs: string[]): Promise<number> {
  let n = 0;
  for (const dir of dirs) {
    for await (const file of walk(dir)) {
      assertClean(file, new TextDecoder().decode(await Deno.readFile(file)));
      n++;
    }
  }
  return n;
}

function assertOutputClean(what: string, r: ChildResult): void {
  assertClean(`${what} stdout`, r.stdout);
  assertClean(`${what} stderr`, r.stderr);
}

/** `deno run cli.ts ARGS` with the environment added (the caches in `cache`). */
function cli(args: string[], env: Record<string, string>, cache: string): Promise<ChildResult> {
  return startCli(args, { XDG_CACHE_HOME: cache, ...env }).result;
}

/** `deno task ARGS` in the repository, as a user types it. */
async function denoTask(args: string[], env: Record<string, string>): Promise<ChildResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** The statuses of a run, by question index. */
async function verdicts(dir: string): Promise<Record<number, string>> {
  const out: Record<number, string> = {};
  const text = await Deno.readTextFile(join(dir, "results.jsonl"));
  for (const line of text.split("\n").filter(Boolean)) {
    const r = JSON.parse(line) as { index: number; status: string };
    out[r.index] = r.status;
  }
  return out;
}

/** A record of a run by index. */
async function recordOf(dir: string, index: number): Promise<Record<string, unknown>> {
  const text = await Deno.readTextFile(join(dir, "results.jsonl"));
  const line = text.split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.index === index);
  assert(line, `no record ${index} in ${dir}`);
  return line;
}

/**
 * A predictions file for the superhero questions of a mini-dev dialect file: the official gpt-3.5 baseline's
 * answers, the first ones replaced by hostile queries. Returns its path and the hostile indices.
 */
async function predictionsWith(
  dialect: "postgresql" | "mysql",
  hostile: string[],
  dir: string,
): Promise<{ file: string; indices: number[] }> {
  const questions = JSON.parse(
    await Deno.readTextFile(join(SAMPLE, `mini_dev/mini_dev_${dialect}.json`)),
  ) as {
    db_id: string;
  }[];
  const baseline = JSON.parse(
    await Deno.readTextFile(
      join(SAMPLE, `predictions/mini_dev/predict_mini_dev_gpt-35-turbo_${dialect}.json`),
    ),
  ) as Record<string, string>;
  const ids = questions.map((q, i) => [q, i] as const).filter(([q]) => q.db_id === "superhero").map(([, i]) =>
    i
  );
  const out: Record<string, string> = {};
  for (const i of ids) out[String(i)] = baseline[String(i)];
  const indices = ids.slice(0, hostile.length);
  hostile.forEach((sql, k) => (out[String(indices[k])] = `${sql}\t----- bird -----\tsuperhero`));
  await Deno.mkdir(dir, { recursive: true });
  const file = join(dir, `predictions_${dialect}.json`);
  await Deno.writeTextFile(file, JSON.stringify(out));
  return { file, indices };
}

/** Poll until the run folder's results.jsonl has at least `n` lines (or the child ended). */
async function untilLines(dir: string, n: number, done: Promise<unknown>): Promise<void> {
  let finished = false;
  done.then(() => (finished = true), () => (finished = true));
  while (!finished) {
    const lines = await Deno.readTextFile(join(dir, "results.jsonl")).then(
      (t) => t.split("\n").length - 1,
      () => 0,
    );
    if (lines >= n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What each dialect's case needs: its servers' URLs and its hostile queries. */
interface Case {
  dialect: "postgresql" | "mysql";
  server: LocalServer;
  /** The evaluation role with its password (percent-encoded in the URL). */
  withPassword: string;
  /** The same data read by an account without password. */
  withoutPassword: string;
  /** The evaluation role with a wrong password. */
  wrongPassword: string;
  /** The loader's URL (a privileged account with a password). */
  loader: string;
  hostile: string[];
  /** A query whose error message quotes the password (a value or a name the server echoes). */
  echoError: string;
  /** A prediction that runs ~2 s, for the server to be stopped under. */
  slow: string;
}

async function scenario(c: Case, t: Deno.TestContext): Promise<void> {
  // Inputs (the predictions hold the password as a literal) apart from what the toolkit writes, all checked.
  const inputs = await Deno.makeTempDir({ prefix: `t2s-dbsecrets-in-${c.dialect}-` });
  const work = await Deno.makeTempDir({ prefix: `t2s-dbsecrets-${c.dialect}-` });
  const cache = join(work, "cache");
  const dataset = join(SAMPLE, `mini_dev/mini_dev_${c.dialect}.json`);
  const { file: predictions, indices } = await predictionsWith(c.dialect, c.hostile, inputs);
  const evalArgs = (out: string) => [
    "eval",
    "--dialect",
    c.dialect,
    "--dataset",
    dataset,
    "--db",
    "superhero",
    "--predictions",
    predictions,
    "--workers",
    "2",
    "--out",
    join(work, out),
  ];
  try {
    await t.step(
      "hostile predictions, the URL in TEXT2SQL_DB_URL and on --db-url: nothing written or printed",
      async () => {
        const env = await cli([...evalArgs("env")], { TEXT2SQL_DB_URL: c.withPassword }, cache);
        assertEquals(env.code, 0, env.stderr);
        assertOutputClean("eval (TEXT2SQL_DB_URL)", env);
        assert(!/carries a password/.test(env.stderr), env.stderr);
        const flag = await cli([...evalArgs("flag"), "--db-url", c.withPassword], {}, cache);
        assertEquals(flag.code, 0, flag.stderr);
        assertOutputClean("eval (--db-url)", flag);
        assert(/warning: --db-url carries a password/.test(flag.stderr), flag.stderr);
        await assertFilesClean(join(work, "env"), join(work, "flag"), cache);
        for (const dir of [join(work, "env"), join(work, "flag")]) {
          const info = JSON.parse(await Deno.readTextFile(join(dir, "run.json")));
          assert(!String(info.engine_info.location).includes("@"), info.engine_info.location);
          assert(/^(postgres|mysql):\/\/127\.0\.0\.1:\d+\/(bird|BIRD)$/.test(info.engine_info.location));
          // Each hostile query failed or answered: either way its own question, never the run.
          for (const i of indices) {
            assert(["wrong", "pred_error", "timeout"].includes((await verdicts(dir))[i]));
          }
        }
      },
    );

    await t.step("no verdict changes: the same predictions as an account without password", async () => {
      // Apart from the checked outputs: without credentials the literal password in a prediction is no secret.
      const args = evalArgs("plain").map((a) => (a === join(work, "plain") ? join(inputs, "plain") : a));
      const plain = await cli(args, { TEXT2SQL_DB_URL: c.withoutPassword }, join(inputs, "cache"));
      assertEquals(plain.code, 0, plain.stderr);
      const a = await verdicts(join(inputs, "plain"));
      assertEquals(Object.keys(a).length, 52);
      assert(Object.values(a).filter((s) => s === "correct").length > 10, JSON.stringify(a));
      assertEquals(await verdicts(join(work, "env")), a);
      assertEquals(await verdicts(join(work, "flag")), a);
      // The literal prediction kept its SQL shape: only the credential token went.
      const literal = await recordOf(join(work, "env"), indices[0]);
      assert(
        String(literal.sql).includes("[redacted]") && /^SELECT '/.test(String(literal.sql)),
        String(literal.sql),
      );
    });

    await t.step("the driver's errors: a wrong password, a closed port", async () => {
      const wrong = await cli([...evalArgs("wrong")], { TEXT2SQL_DB_URL: c.wrongPassword }, cache);
      assertEquals(wrong.code, 1, wrong.stderr);
      assertOutputClean("eval (wrong password)", wrong);
      assert(/password|access denied/i.test(wrong.stderr), wrong.stderr);
      const closed = c.withPassword.replace(/:\d+\//, ":1/");
      const refused = await cli([...evalArgs("refused")], { TEXT2SQL_DB_URL: closed }, cache);
      assertEquals(refused.code, 1, refused.stderr);
      assertOutputClean("eval (closed port)", refused);
      assert(/ECONNREFUSED|refused|connect/i.test(refused.stderr), refused.stderr);
    });

    await t.step(
      "deno task eval: TEXT2SQL_DB_URL shows nothing; --db-url is echoed by deno's Task line",
      async () => {
        const env = await denoTask([...evalArgs("task-env")], {
          TEXT2SQL_DB_URL: c.withPassword,
          XDG_CACHE_HOME: cache,
        });
        assertEquals(env.code, 0, env.stderr);
        assertOutputClean("deno task eval (TEXT2SQL_DB_URL)", env);
        const quiet = await denoTask(["--quiet", ...evalArgs("task-quiet"), "--db-url", c.withPassword], {
          XDG_CACHE_HOME: cache,
        });
        assertEquals(quiet.code, 0, quiet.stderr);
        assertOutputClean("deno task --quiet eval --db-url", quiet);
        assert(/warning: --db-url carries a password/.test(quiet.stderr), quiet.stderr);
        const flag = await denoTask([...evalArgs("task-flag"), "--db-url", c.withPassword], {
          XDG_CACHE_HOME: cache,
        });
        assertEquals(flag.code, 0, flag.stderr);
        assert(/warning: --db-url carries a password/.test(flag.stderr), flag.stderr);
        // What the README warns of (Deno 2.9): the "Task" line echoes the arguments, the URL with them; nothing
        // after that line does.
        const afterHeader = flag.stderr.split("\n").filter((l) => !/^Task eval /.test(l)).join("\n");
        assertClean("deno task eval --db-url (after deno's own Task line)", afterHeader + flag.stdout);
      },
    );

    await t.step("the HTML report of the runs", async () => {
      const html = join(work, "report.html");
      const r = await cli(["report", "--out", html, join(work, "env"), join(work, "flag")], {
        TEXT2SQL_DEBUG: "1",
      }, cache);
      assertEquals(r.code, 0, r.stderr);
      assertOutputClean("report", r);
      assertClean("report.html", await Deno.readTextFile(html));
    });

    await t.step(
      "sft and prompt-stats on the server: a gold error that quotes the password is dropped clean",
      async () => {
        // A small dataset whose first gold query fails with an error that quotes the password.
        const questions = (JSON.parse(await Deno.readTextFile(dataset)) as { db_id: string; SQL: string }[])
          .filter((q) => q.db_id === "superhero").slice(0, 6);
        questions[0].SQL = c.echoError;
        const small = join(inputs, `small_${c.dialect}.json`);
        await Deno.writeTextFile(small, JSON.stringify(questions));
        const env = { TEXT2SQL_DB_URL: c.withPassword };
        const sft = await cli(
          ["sft", "--dialect", c.dialect, "--dataset", small, "--out", join(work, "sft")],
          env,
          cache,
        );
        assertEquals(sft.code, 0, sft.stderr);
        assertOutputClean("sft", sft);
        const doc = await Deno.readTextFile(join(work, "sft", "dataset.json"));
        assert(/gold_error/.test(doc) && doc.includes("[redacted]"), doc.slice(0, 2000));
        const stats = await cli(
          ["prompt-stats", "--dialect", c.dialect, "--dataset", small, "--json"],
          env,
          cache,
        );
        assertEquals(stats.code, 0, stats.stderr);
        assertOutputClean("prompt-stats", stats);
      },
    );

    await t.step("deno task db load: progress, summary and errors name no password", async () => {
      const target = c.dialect === "postgresql" ? "bird_load" : "BIRD_LOAD";
      const args = ["db", "load", "--dialect", c.dialect, "--db-root", DB_ROOT, "--db", "superhero"];
      const env = { TEXT2SQL_DB_URL: c.loader, TEXT2SQL_RO_PASSWORD: RO_PASSWORD };
      const load = await cli([...args, "--target-db", target], env, cache);
      assertEquals(load.code, 0, load.stderr);
      assertOutputClean("db load", load);
      assert(/read-only user text2sql_ro/.test(load.stdout), load.stdout);
      // Loaded again: refused in one line, still clean.
      const again = await cli([...args, "--target-db", target, "--no-dump"], env, cache);
      assertOutputClean("db load (again)", again);
      const wrong = c.loader.replace(enc(LOADER_PASSWORD), enc(`${LOADER_PASSWORD}x`));
      const bad = await cli([...args, "--target-db", target], { TEXT2SQL_DB_URL: wrong }, cache);
      assertEquals(bad.code, 1, bad.stderr);
      assertOutputClean("db load (wrong password)", bad);
      assert(/^db load: /m.test(bad.stderr), bad.stderr);
      const flag = await cli([...args, "--target-db", target, "--db-url", wrong], {}, cache);
      assertEquals(flag.code, 1, flag.stderr);
      assertOutputClean("db load --db-url (wrong password)", flag);
      assert(/warning: --db-url carries a password/.test(flag.stderr), flag.stderr);
    });

    await t.step("the server stopped mid-run: every error is clean", async () => {
      const slow = await predictionsWith(c.dialect, Array(12).fill(c.slow), join(inputs, "slow"));
      const args = evalArgs("stopped").map((a) => (a === predictions ? slow.file : a));
      const child = startCli([...args, "--workers", "1", "--limit", "16"], {
        XDG_CACHE_HOME: cache,
        TEXT2SQL_DB_URL: c.withPassword,
      });
      await untilLines(join(work, "stopped"), 1, child.result);
      await c.server.stop();
      const r = await child.result;
      assertOutputClean("eval (server stopped)", r);
      const records = (await Deno.readTextFile(join(work, "stopped", "results.jsonl"))).split("\n").filter(
        Boolean,
      )
        .map((l) => JSON.parse(l) as { status: string; error?: string | null });
      assert(records.some((x) => x.status === "pred_error" && x.error), JSON.stringify(records.slice(-2)));
    });

    const files = await assertFilesClean(work);
    assert(files > 20, `only ${files} files checked`);
  } finally {
    await c.server.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
    await Deno.remove(inputs, { recursive: true }).catch(() => {});
  }
}

/** PostgreSQL with password authentication, except for the admin and `t2s_nopw` (the password-less reading). */
async function startPostgresWithPasswords(): Promise<LocalServer> {
  const conf = await Deno.makeTempDir({ prefix: "t2s-hba-" });
  await Deno.chmod(conf, 0o755);
  const hba = join(conf, "pg_hba.conf");
  await Deno.writeTextFile(
    hba,
    [
      "local all all trust",
      "host all postgres,t2s_nopw 127.0.0.1/32 trust",
      "host all all 127.0.0.1/32 scram-sha-256",
    ].join("\n") + "\n",
  );
  await Deno.chmod(hba, 0o644);
  const server = await startPostgres({ settings: { hba_file: hba } });
  const stop = server.stop;
  server.stop = async () => {
    await stop();
    await Deno.remove(conf, { recursive: true }).catch(() => {});
  };
  return server;
}

async function withAdmin<T>(
  url: string,
  dialect: "postgresql" | "mysql",
  fn: (c: DbConnection) => Promise<T>,
) {
  const conn = await openTargetDatabase(url, {
    dialect,
    database: dialect === "postgresql" ? "bird" : "BIRD",
  });
  try {
    return await fn(conn);
  } finally {
    await conn.close();
  }
}

/**
 * The superhero tables loaded by the loader; the evaluation role `t2s_reader` with {@linkcode PASSWORD}, and
 * `t2s_nopw`, the same read-only role that logs in without one.
 */
async function loadSuperhero(conn: DbConnection, dialect: "postgresql" | "mysql"): Promise<void> {
  const report = await loadSqliteDatabases(conn, { dialect, dbRoot: DB_ROOT, dbIds: ["superhero"] });
  for (const name of ["t2s_reader", "t2s_nopw"]) {
    await ensureReadOnlyRole(conn, dialect, {
      name,
      database: dialect === "postgresql" ? "bird" : "BIRD",
      tables: report.tables.map((x) => x.tableName),
      // t2s_nopw: PostgreSQL lets it in by trust; on MySQL its password is removed afterwards.
      password: name === "t2s_reader" ? PASSWORD : null,
      statementTimeoutS: 60,
    });
  }
}

/** Both PostgreSQL roles may read server files, as a privileged evaluation login could. */
const PG_FILE_READERS = ["t2s_reader", "t2s_nopw"].map((r) =>
  `ALTER ROLE ${r} INHERIT; GRANT pg_read_server_files TO ${r}; GRANT EXECUTE ON FUNCTION pg_ls_dir(text), ` +
  `pg_read_binary_file(text), pg_read_binary_file(text, bigint, bigint, boolean) TO ${r};`
).join("\n");

/**
 * Every process's command line, as a role allowed to read server files can: the user info of a `--db-url`
 * given there (`user:password`, percent-encoded), short enough for an agent's tool result to show it whole.
 */
const CMDLINE_SQL = "SELECT substring(c from '//([^@\\\\]+)@') AS userinfo FROM (SELECT " +
  "encode(pg_read_binary_file('/proc/' || d || '/cmdline', 0, 8192, true), 'escape') AS c " +
  "FROM pg_ls_dir('/proc') AS d WHERE d ~ '^[0-9]+$') x WHERE c LIKE '%db-url%postgres://%'";

/** Hostile predictions both dialects share: the password as a literal first (the model knew it). */
const LITERAL = `SELECT '${PASSWORD.replaceAll("'", "''")}' AS pw, '${enc(PASSWORD)}' AS enc`;

Deno.test("PostgreSQL: the server URL's password is in no output, whatever surfaces it; no verdict changes", async (t) => {
  const server = await startPostgresWithPasswords();
  try {
    await withAdmin(server.adminUrl, "postgresql", async (admin) => {
      await loadSuperhero(admin, "postgresql");
      // Logins that may read server files, as a privileged evaluation role could: /proc/*/cmdline is readable.
      await admin.exec(
        `${PG_FILE_READERS}\nCREATE ROLE t2s_loader LOGIN SUPERUSER PASSWORD '${LOADER_PASSWORD}';`,
      );
    });
    const at = (host: string, user: string, password: string | null) =>
      `postgres://${user}${password === null ? "" : `:${enc(password)}`}@${host}:${server.port}/bird`;
    await scenario({
      dialect: "postgresql",
      server,
      withPassword: at("127.0.0.1", "t2s_reader", PASSWORD),
      withoutPassword: at("127.0.0.1", "t2s_nopw", null),
      wrongPassword: at("127.0.0.1", "t2s_reader", `${PASSWORD}x`),
      loader: `postgres://t2s_loader:${enc(LOADER_PASSWORD)}@127.0.0.1:${server.port}/postgres`,
      hostile: [
        LITERAL,
        `SELECT '${PASSWORD}'::int`,
        "SELECT current_setting('application_name'), inet_server_addr()::text, inet_server_port(), current_user",
        "SELECT usename, application_name, client_addr::text, state, query FROM pg_stat_activity",
        "SELECT rolname, rolpassword FROM pg_authid",
        // Every process's command line: the eval's own holds --db-url when the URL was given there.
        CMDLINE_SQL,
        "SELECT encode(pg_read_binary_file('/proc/self/environ'), 'escape')",
        "SELECT name, setting FROM pg_settings WHERE name ~ 'pass|ssl|krb|application'",
      ],
      echoError: `SELECT '${PASSWORD}'::int`,
      slow: "SELECT pg_sleep(2), count(*) FROM superhero",
    }, t);
  } finally {
    await server.stop();
  }
});

Deno.test("MySQL: the server URL's password is in no output, whatever surfaces it; no verdict changes", async (t) => {
  const server = await startMysql();
  try {
    await withAdmin(server.adminUrl, "mysql", async (admin) => {
      await loadSuperhero(admin, "mysql");
      for (const host of ["%", "localhost"]) {
        await admin.exec(`ALTER USER 't2s_nopw'@'${host}' IDENTIFIED BY ''`);
        await admin.exec(`CREATE USER 't2s_loader'@'${host}' IDENTIFIED BY '${LOADER_PASSWORD}'`);
        await admin.exec(`GRANT ALL PRIVILEGES ON *.* TO 't2s_loader'@'${host}' WITH GRANT OPTION`);
      }
      await admin.exec("FLUSH PRIVILEGES");
    });
    const at = (user: string, password: string | null) =>
      `mysql://${user}${password === null ? "" : `:${enc(password)}`}@127.0.0.1:${server.port}/BIRD`;
    await scenario({
      dialect: "mysql",
      server,
      withPassword: at("t2s_reader", PASSWORD),
      withoutPassword: at("t2s_nopw", null),
      wrongPassword: at("t2s_reader", `${PASSWORD}x`),
      loader: `mysql://t2s_loader:${enc(LOADER_PASSWORD)}@127.0.0.1:${server.port}/`,
      hostile: [
        LITERAL,
        `SELECT * FROM \`${PASSWORD}\``,
        "SELECT USER(), CURRENT_USER(), @@hostname, @@port, CONNECTION_ID(), DATABASE()",
        "SELECT ID, USER, HOST, DB, COMMAND, INFO FROM information_schema.PROCESSLIST",
        "SELECT user, host, authentication_string FROM mysql.user",
        "SELECT LOAD_FILE('/proc/self/cmdline'), LOAD_FILE('/proc/self/environ')",
        "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES " +
        "WHERE VARIABLE_NAME LIKE '%PASS%' OR VARIABLE_NAME LIKE '%SSL%'",
      ],
      echoError: `SELECT * FROM \`${PASSWORD}\``,
      slow: "SELECT SLEEP(2), COUNT(*) FROM superhero",
    }, t);
  } finally {
    await server.stop();
  }
});

/** An agent whose tool call reads every command line: the result sent back to the model is scrubbed. */
Deno.test("agent on PostgreSQL: a tool result that surfaces the URL reaches the model scrubbed", async () => {
  const server = await startPostgresWithPasswords();
  let model: FakeServer | null = null;
  const work = await Deno.makeTempDir({ prefix: "t2s-dbsecrets-agent-" });
  try {
    await withAdmin(server.adminUrl, "postgresql", async (admin) => {
      await loadSuperhero(admin, "postgresql");
      await admin.exec(PG_FILE_READERS);
    });
    const script: Script = (req) => {
      const last = req.messages.at(-1) as { role: string };
      if (last.role === "tool") return { content: "```sql\nSELECT COUNT(*) FROM superhero\n```" };
      return { toolCalls: [{ name: "execute_sql", arguments: { query: CMDLINE_SQL } }] };
    };
    model = await startFakeOpenAI({ script });
    const url = `postgres://t2s_reader:${enc(PASSWORD)}@127.0.0.1:${server.port}/bird`;
    const r = await cli(
      [
        "eval",
        "--dialect",
        "postgresql",
        "--dataset",
        join(SAMPLE, "mini_dev/mini_dev_postgresql.json"),
        "--db",
        "superhero",
        "--limit",
        "2",
        "--agent",
        "--max-turns",
        "2",
        "--model",
        "fake-model",
        "--base-url",
        model.url,
        "--db-url",
        url,
        "--out",
        join(work, "agent"),
      ],
      {},
      join(work, "cache"),
    );
    assertEquals(r.code, 0, r.stderr);
    assertOutputClean("eval --agent", r);
    const bodies = JSON.stringify(model.requests.map((q) => q.body));
    assertClean("requests to the model", bodies);
    // The query did surface the command line's user info (`t2s_reader:<password>`) to the model, scrubbed.
    const tools = model.requests.flatMap((q) => (q.body?.messages as { content: string }[] | undefined) ?? [])
      .filter((m) => (m as { role?: string }).role === "tool").map((m) => m.content);
    assert(
      tools.length >= 2 && tools.every((c) => c === "1 row; columns: userinfo\nuserinfo\n[redacted]"),
      JSON.stringify(tools),
    );
    await assertFilesClean(work);
  } finally {
    await model?.close();
    await server.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
});
