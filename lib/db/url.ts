/**
 * Database server URLs: `postgres://` / `postgresql://` for PostgreSQL, `mysql://` / `mariadb://` for MySQL and
 * MariaDB. Parsed once into {@linkcode DbUrl}; {@linkcode publicDbUrl} is the only form that may be printed,
 * logged or written to `run.json` (it never carries the password, nor the user's name next to it).
 *
 * @module
 */

/** The server families a URL can name. */
export type DbServerKind = "postgresql" | "mysql";

/** A parsed server URL. `password` is a secret: never print it, print {@linkcode publicDbUrl} instead. */
export interface DbUrl {
  kind: DbServerKind;
  /** The scheme as written (`postgres`, `postgresql`, `mysql`, `mariadb`). */
  scheme: string;
  user: string | null;
  password: string | null;
  host: string;
  port: number;
  /** The database named by the path, or null when the URL names none. */
  database: string | null;
  /** Query parameters (`sslmode`, `application_name`, `charset`, …), decoded. */
  params: Record<string, string>;
}

/** A URL that cannot be used; its message never contains the password. */
export class DbUrlError extends Error {
  /** @param message One line naming what is wrong (already free of secrets). */
  constructor(message: string) {
    super(message);
    this.name = "DbUrlError";
  }
}

const SCHEMES: Record<string, DbServerKind> = {
  postgres: "postgresql",
  postgresql: "postgresql",
  mysql: "mysql",
  mariadb: "mysql",
};

const DEFAULT_PORT: Record<DbServerKind, number> = { postgresql: 5432, mysql: 3306 };

/** The URL with any password replaced, for messages about a URL that did not parse. */
function masked(text: string): string {
  return text.replace(/^([a-z]+:\/\/[^:@/]*):[^@/]*@/i, "$1:***@");
}

/**
 * Parse a server URL (`postgres://user:pass@host:5432/bird?sslmode=disable`, `mysql://root@127.0.0.1/BIRD`).
 * User and password are percent-decoded; the port defaults to 5432 / 3306; `host` defaults to `localhost`.
 *
 * @throws {DbUrlError} for another scheme, a bad port or an unparsable URL (the message masks the password).
 */
export function parseDbUrl(text: string): DbUrl {
  const schemeMatch = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text.trim());
  if (!schemeMatch) {
    // Not echoed: a mistyped URL may be mostly password.
    throw new DbUrlError(
      "not a database URL (expected postgres://user@host:5432/db or mysql://user@host:3306/db)",
    );
  }
  const scheme = schemeMatch[1].toLowerCase();
  const kind = SCHEMES[scheme];
  if (!kind) {
    throw new DbUrlError(
      `unsupported database URL scheme "${scheme}://" (expected postgres://, postgresql://, mysql:// or mariadb://)`,
    );
  }
  let url: URL;
  try {
    // WHATWG URL parses special schemes only; http:// gives the same authority/path/query rules.
    url = new URL(`http://${text.trim().slice(schemeMatch[0].length)}`);
  } catch {
    throw new DbUrlError(`cannot parse database URL ${JSON.stringify(masked(text))}`);
  }
  const port = url.port ? Number(url.port) : DEFAULT_PORT[kind];
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new DbUrlError(`bad port in database URL ${scheme}://${url.hostname}:${url.port}`);
  }
  const path = decodeURIComponent(url.pathname.replace(/^\//, ""));
  const params: Record<string, string> = {};
  for (const [k, v] of url.searchParams) params[k] = v;
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1") || "localhost";
  return {
    kind,
    scheme,
    user: url.username ? decodeURIComponent(url.username) : null,
    password: url.password ? decodeURIComponent(url.password) : null,
    host,
    port,
    database: path || null,
    params,
  };
}

/** Query parameters that may carry a secret; dropped from public URLs. */
const SECRET_PARAMS = /pass|secret|token|key|cert/i;

/**
 * The URL as it may be shown (messages, `run.json`): scheme, host, port, database and harmless query parameters,
 * without user or password (`postgres://127.0.0.1:5432/bird?sslmode=require`).
 *
 * @param url A URL string or a parsed {@linkcode DbUrl}.
 */
export function publicDbUrl(url: string | DbUrl): string {
  const u = typeof url === "string" ? parseDbUrl(url) : url;
  const host = u.host.includes(":") ? `[${u.host}]` : u.host;
  const db = u.database ? `/${encodeURIComponent(u.database)}` : "";
  const query = Object.entries(u.params).filter(([k]) => !SECRET_PARAMS.test(k))
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
  return `${u.scheme}://${host}:${u.port}${db}${query ? `?${query}` : ""}`;
}

/**
 * The URL again as a string with every part (password included): for handing to a driver or a child process,
 * never for printing. `database` replaces the path's database when given.
 */
export function formatDbUrl(url: DbUrl, options: { database?: string | null } = {}): string {
  const auth = url.user === null
    ? ""
    : `${encodeURIComponent(url.user)}${
      url.password === null ? "" : `:${encodeURIComponent(url.password)}`
    }@`;
  const host = url.host.includes(":") ? `[${url.host}]` : url.host;
  const database = options.database === undefined ? url.database : options.database;
  const db = database ? `/${encodeURIComponent(database)}` : "";
  const query = Object.entries(url.params).map(([k, v]) =>
    `${encodeURIComponent(k)}=${encodeURIComponent(v)}`
  )
    .join("&");
  return `${url.scheme}://${auth}${host}:${url.port}${db}${query ? `?${query}` : ""}`;
}
