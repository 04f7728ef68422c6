/**
 * Private PostgreSQL and MariaDB/MySQL servers for the tests and `deno task bench`: each in a fresh temporary
 * folder, on a free loopback port, started from Debian's binaries and stopped by {@linkcode LocalServer.stop}.
 *
 * Defences, so no server outlives the process that started it:
 * - the server runs under a root shell that holds a pipe from this process; when this process dies, however it
 *   dies (SIGKILL included), the pipe closes and the shell stops the server (fast shutdown), then removes its
 *   folder. A parent-death signal cannot do this: dropping to the server's user clears it.
 * - `stop()` asks for the same and waits; `using`/`await using` and `try … finally` call it on failure.
 * - no system-wide service is touched: only `--no-defaults`/`-D DIR` instances on 127.0.0.1.
 *
 * PostgreSQL refuses to run as root, so it runs as the `postgres` user; MariaDB drops to `mysql` itself.
 *
 * @module
 */
import { existsSync } from "./files.ts";

/** A server this process started. */
export interface LocalServer {
  kind: "postgresql" | "mysql";
  /** A superuser URL (`postgres://postgres@127.0.0.1:PORT/postgres`, `mysql://root:PASSWORD@127.0.0.1:PORT/`). */
  adminUrl: string;
  host: string;
  port: number;
  /** The server's version string (`15.18`, `10.11.19-MariaDB`). */
  version: string;
  /** The temporary folder holding data, socket and log. */
  dir: string;
  /** Stop the server and remove its folder (idempotent). */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Why a server could not be started, with the install line when its binaries are missing. */
export class LocalServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LocalServerError";
  }
}

const PG_BIN_DIRS = [
  "/usr/lib/postgresql/17/bin",
  "/usr/lib/postgresql/16/bin",
  "/usr/lib/postgresql/15/bin",
];

/** The folder of PostgreSQL's server binaries (`initdb`, `postgres`), or null when none is installed. */
export function postgresBinDir(): string | null {
  return PG_BIN_DIRS.find((d) => existsSync(`${d}/postgres`) && existsSync(`${d}/initdb`)) ?? null;
}

/** The MariaDB/MySQL server binary and its installer, or null when none is installed. */
export function mysqlBinaries(): { server: string; install: string } | null {
  for (
    const [server, install] of [
      ["/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db"],
      ["/usr/sbin/mysqld", "/usr/bin/mysql_install_db"],
    ]
  ) {
    if (existsSync(server) && existsSync(install)) return { server, install };
  }
  return null;
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function run(cmd: string, args: string[], what: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new LocalServerError(`${what} failed (exit ${out.code}): ${text.trim().slice(-2000)}`);
  }
  return text;
}

/**
 * Start the server command under a watchdog shell: the shell starts it in the background, waits for its stdin
 * (our pipe) to close, then stops it with `signal` and removes `dir`.
 */
function watchdog(dir: string, command: string[], signal: "INT" | "TERM"): Deno.ChildProcess {
  const quoted = command.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  const script = `${quoted} >>'${dir}/server.log' 2>&1 </dev/null & pid=$!\n` +
    `cat >/dev/null\n` +
    `kill -${signal} "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf '${dir}'\n`;
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", script],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
  return child;
}

async function waitFor(
  ready: () => Promise<boolean>,
  what: string,
  dir: string,
  seconds = 60,
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  let log = "";
  try {
    log = Deno.readTextFileSync(`${dir}/server.log`).slice(-2000);
  } catch { /* no log */ }
  throw new LocalServerError(`${what} did not accept connections within ${seconds} s: ${log}`);
}

async function tcpOpen(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

function handle(
  base: Omit<LocalServer, "stop" | typeof Symbol.asyncDispose>,
  child: Deno.ChildProcess,
): LocalServer {
  let stopping: Promise<void> | null = null;
  const stop = () =>
    stopping ??= (async () => {
      // Unref'd so it never holds a process open, but waited on here: without a ref, a caller with nothing else
      // pending (the end of a test) exits with this wait unresolved.
      child.ref();
      try {
        await child.stdin.close();
      } catch { /* already closed */ }
      await child.status;
    })();
  return { ...base, stop, [Symbol.asyncDispose]: stop };
}

/** Options of {@linkcode startPostgres}. */
export interface StartPostgresOptions {
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
}

/**
 * Start a private PostgreSQL server (Debian's `postgresql` package) as the `postgres` user, trust
 * authentication on 127.0.0.1 only. Throws {@linkcode LocalServerError} with the install line when missing.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<LocalServer> {
  const bin = postgresBinDir();
  if (!bin) {
    throw new LocalServerError(
      "PostgreSQL server binaries not found: apt-get install -y --no-install-recommends postgresql",
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "t2s-pg-" });
  const uid = await run("/usr/bin/id", ["-u", "postgres"], "id -u postgres");
  const gid = await run("/usr/bin/id", ["-g", "postgres"], "id -g postgres");
  await Deno.chown(dir, Number(uid.trim()), Number(gid.trim()));
  const asPostgres = ["/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"];
  try {
    await run(asPostgres[0], [
      ...asPostgres.slice(1),
      `${bin}/initdb`,
      "-D",
      `${dir}/data`,
      "-A",
      "trust",
      "-U",
      "postgres",
      "-E",
      "UTF8",
      "--locale=C.UTF-8",
    ], "initdb");
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
  const port = freePort();
  const settings = {
    listen_addresses: "127.0.0.1",
    unix_socket_directories: dir,
    fsync: "off",
    ...options.settings,
  };
  const child = watchdog(dir, [
    ...asPostgres,
    `${bin}/postgres`,
    "-D",
    `${dir}/data`,
    "-p",
    String(port),
    ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]),
  ], "INT");
  const server = handle({
    kind: "postgresql",
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    host: "127.0.0.1",
    port,
    version: (await run(`${bin}/postgres`, ["--version"], "postgres --version")).match(/\d+\.\d+/)?.[0] ??
      "unknown",
    dir,
  }, child);
  try {
    // pg_isready: the port accepts connections only once recovery is done.
    await waitFor(
      async () => {
        const r = await new Deno.Command(`${bin}/pg_isready`, {
          args: ["-h", "127.0.0.1", "-p", String(port), "-q"],
          stdout: "null",
          stderr: "null",
        }).output();
        return r.success;
      },
      "PostgreSQL",
      dir,
    );
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}

/**
 * Start a private MariaDB (or MySQL) server with its own data folder and socket on 127.0.0.1, ignoring every
 * system option file. The root user's password is random; `adminUrl` carries it.
 */
export async function startMysql(): Promise<LocalServer> {
  const bins = mysqlBinaries();
  if (!bins) {
    throw new LocalServerError(
      "MariaDB/MySQL server binaries not found: apt-get install -y --no-install-recommends mariadb-server",
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "t2s-my-" });
  await Deno.chmod(dir, 0o755);
  const uid = await run("/usr/bin/id", ["-u", "mysql"], "id -u mysql");
  const gid = await run("/usr/bin/id", ["-g", "mysql"], "id -g mysql");
  await Deno.mkdir(`${dir}/data`);
  await Deno.chown(`${dir}/data`, Number(uid.trim()), Number(gid.trim()));
  await Deno.chown(dir, Number(uid.trim()), Number(gid.trim()));
  const password = crypto.randomUUID().replaceAll("-", "");
  // Root over TCP with a password; the anonymous users mariadb-install-db may create would shadow others.
  const setup = `DROP USER IF EXISTS ''@'localhost'; ` +
    `CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '${password}'; ` +
    // mariadb-install-db may already have made root@127.0.0.1 with no password: IF NOT EXISTS keeps that one.
    `ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '${password}'; ` +
    `GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; ` +
    `ALTER USER 'root'@'localhost' IDENTIFIED BY '${password}'; FLUSH PRIVILEGES;`;
  try {
    await run(bins.install, [
      "--no-defaults",
      "--user=mysql",
      `--datadir=${dir}/data`,
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
    ], "mariadb-install-db");
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
  const port = freePort();
  const child = watchdog(dir, [
    bins.server,
    "--no-defaults",
    "--user=mysql",
    `--datadir=${dir}/data`,
    `--socket=${dir}/mysqld.sock`,
    `--pid-file=${dir}/mysqld.pid`,
    `--port=${port}`,
    "--bind-address=127.0.0.1",
    "--skip-name-resolve",
    "--innodb-buffer-pool-size=128M",
    "--innodb-flush-log-at-trx-commit=0",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_general_ci",
  ], "TERM");
  const version = (await run(bins.server, ["--no-defaults", "--version"], "mariadbd --version"))
    .match(/Ver\s+(\S+)/)?.[1] ?? "unknown";
  const server = handle({
    kind: "mysql",
    adminUrl: `mysql://root:${password}@127.0.0.1:${port}/`,
    host: "127.0.0.1",
    port,
    version,
    dir,
  }, child);
  try {
    await waitFor(() => tcpOpen(port), "MariaDB", dir);
    // A fresh root logs in over the socket with no password: give it one, and a TCP login.
    await run(
      "/usr/bin/mariadb",
      ["--no-defaults", `--socket=${dir}/mysqld.sock`, "-uroot", "-e", setup],
      "MariaDB set-up",
    );
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}
