/**
 * Keeping secrets out of everything we write: the one way credentials are stripped from URLs (run.json,
 * messages, cache keys), the secret values of a client and of a database server URL, the credentials this
 * process holds ({@linkcode registerSecrets}: every scrubber knows them), and the scrubbing every emitted
 * message goes through.
 *
 * @module
 */

/** How {@linkcode stripUrlCredentials} marks what it removed. */
export interface StripOptions {
  /** Written as `//MARK@` in place of user info; omitted: the user info goes, `@` included. */
  userMark?: string;
  /** Written in place of every query value (default `[redacted]`); null keeps them (a cache key hashes them). */
  queryMark?: string | null;
}

/** User info of any URL in a text: `//user:pass@`. */
const USERINFO = /\/\/[^/@\s]*@/g;
/** An http(s) URL with a query, as it can sit in a text (quotes and whitespace end it). */
const URL_WITH_QUERY = /https?:\/\/[^\s?#"']*\?[^\s#"']*/g;

/** The query of `url` (everything after its first `?`) with each part's value replaced by `mark`. */
function maskQuery(url: string, mark: string): string {
  const at = url.indexOf("?");
  const parts = url.slice(at + 1).split("&").map((part) => {
    if (part === "") return part;
    const eq = part.indexOf("=");
    return `${eq < 0 ? part : part.slice(0, eq)}=${mark}`;
  });
  return `${url.slice(0, at)}?${parts.join("&")}`;
}

/**
 * A text (one URL, or a message quoting URLs) without the credentials URLs carry: user info removed and every
 * query value masked, since self-hosted gateways often take a key as `https://user:pass@host` or `?key=…`. The
 * one place that knows where credentials sit in a URL; {@linkcode publicBaseUrl}, the message scrubber and the
 * completion cache key all go through it.
 *
 * @param text a URL or any text containing URLs
 * @param options the marks left in place of what is removed
 */
export function stripUrlCredentials(text: string, options: StripOptions = {}): string {
  const user = options.userMark === undefined ? "//" : `//${options.userMark}@`;
  const stripped = text.replace(USERINFO, user);
  const mark = options.queryMark === undefined ? "[redacted]" : options.queryMark;
  return mark === null ? stripped : stripped.replace(URL_WITH_QUERY, (url) => maskQuery(url, mark));
}

/**
 * A base URL normalised (the WHATWG form, no trailing slash) and stripped of credentials
 * ({@linkcode stripUrlCredentials}); a text that is not a URL is stripped as it stands.
 *
 * @param baseUrl the base URL as configured
 * @param options the marks left in place of what is removed
 */
export function normalisedBaseUrl(baseUrl: string, options: StripOptions = {}): string {
  let href = baseUrl;
  try {
    href = new URL(baseUrl).href;
  } catch {
    // Not a URL (resolveProvider refuses those before any request): strip the text itself.
  }
  return stripUrlCredentials(href, options).replace(/\/+$/, "");
}

/**
 * A base URL safe to write down (run.json, dataset.json, reports): user info removed and every query value
 * replaced, since self-hosted gateways often take a key as `https://user:pass@host` or `?key=…`.
 */
export function publicBaseUrl(baseUrl: string): string {
  return normalisedBaseUrl(baseUrl, { queryMark: "REDACTED" });
}

/** Every URL credential in a text (a message, an endpoint shown in one) replaced by `[redacted]`. */
export function redactUrl(text: string): string {
  return stripUrlCredentials(text, { userMark: "[redacted]" });
}

/** Characters that continue a token: a secret counts only where neither neighbour is one of these. */
const WORD = "A-Za-z0-9_";

/**
 * Whether a value looks like a credential rather than a word: at least 8 characters mixing at least two of
 * lower case, upper case and digits (`sk-…`, `hunter2-pw`, a base64 blob). A word-like value (`hero`, `name`,
 * `superhero`) can also be a table or a column: it is replaced only where it sits in a credential position.
 */
export function keyShaped(value: string): boolean {
  if (value.length < 8) return false;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((c) => c.test(value)).length;
  return classes >= 2;
}

/** Key-shaped secrets this long are replaced even inside a longer token. */
const LONG_SECRET = 16;

/** Query parameters whose value is a credential whatever it looks like. */
const CREDENTIAL_PARAM =
  /^(?:api[-_]?key|apikey|key|token|access[-_]?token|auth|password|passwd|pwd|secret|client[-_]?secret|sig|signature)$/i;

/** `Bearer x`, `Basic x`, `Token x`: the token of an authorization scheme. */
const SCHEME_TOKEN = /\b(Bearer|Basic|Token)(\s+)([A-Za-z0-9._~+/=-]+)/gi;
/** `Authorization: x`, `"api-key": "x"`, `x-api-key: x`: a header or field that holds a credential. */
const HEADER_VALUE =
  /\b((?:proxy-)?authorization|x-api-key|api[-_]?key)(["']?\s*:\s*["']?)(?!(?:Bearer|Basic|Token)\s)([A-Za-z0-9._~+/=-]+)/gi;
/** The user info of a URL: `scheme://user:password@`. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^/@\s"'<>]*)@/gi;
/** One query parameter of a URL: `?name=value` or `&name=value`. */
const QUERY_PARAM = /([?&;])([A-Za-z0-9_.-]+)=([^&#\s"'<>]*)/g;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The one scrubber of a run: knows every credential the run holds ({@linkcode secretValues}) and replaces
 * only whole credential tokens in credential positions, never a piece of SQL or prose:
 *
 * - a known secret that is {@linkcode keyShaped}, as a whole token anywhere (`sk-abc…` in a completion; one
 *   of 16 characters or more even inside a longer token);
 * - any known secret, and any key-shaped token, after `Bearer`/`Basic`/`Token`, after an `Authorization:`
 *   or `api-key:` header or field, in a URL's user info (`//user:password@`), or as a URL query value;
 * - the value of a credential-named query parameter (`?key=`, `&api_key=`, `&token=`…), whatever it is.
 *
 * A word-like secret (a user name `hero`, a query value `name`) is never replaced inside `FROM superhero`
 * or any other text: replacing it there would change the SQL, and with it the verdict.
 */
export class Scrubber {
  /** The secrets known, longest first. */
  readonly secrets: readonly string[];
  readonly #known: Set<string>;
  /** Key-shaped secrets as whole tokens (null: none). */
  readonly #anywhere: RegExp | null;

  /** A scrubber of these secret values (any order; empty and duplicate values are dropped). */
  constructor(secrets: readonly string[]) {
    this.secrets = [...new Set(secrets.filter((s) => s))].sort((a, b) => b.length - a.length);
    this.#known = new Set(this.secrets);
    // A long key-shaped secret goes wherever it is (no SQL holds 16 mixed characters of a key by chance); a
    // shorter one only as a whole token.
    const shaped = this.secrets.filter(keyShaped);
    const long = shaped.filter((s) => s.length >= LONG_SECRET).map(escapeRegExp);
    const short = shaped.filter((s) => s.length < LONG_SECRET).map(escapeRegExp);
    const parts = [
      ...(long.length ? [`(?:${long.join("|")})`] : []),
      ...(short.length ? [`(?<![${WORD}])(?:${short.join("|")})(?![${WORD}])`] : []),
    ];
    this.#anywhere = parts.length ? new RegExp(parts.join("|"), "g") : null;
  }

  /** Whether a token in a credential position is to go: a known secret, or one that looks like a key. */
  #credential(token: string): boolean {
    return this.#known.has(token) || keyShaped(token);
  }

  /** The text with every credential in it replaced by `[redacted]`; the rest untouched. */
  scrub(text: string): string {
    if (!text) return text;
    let out = text;
    if (/bearer|basic|token/i.test(out)) {
      out = out.replace(
        SCHEME_TOKEN,
        (all, scheme, space, token) => this.#credential(token) ? `${scheme}${space}[redacted]` : all,
      );
    }
    if (/authorization|api[-_]?key/i.test(out)) {
      out = out.replace(
        HEADER_VALUE,
        (all, name, sep, token) => this.#credential(token) ? `${name}${sep}[redacted]` : all,
      );
    }
    if (out.includes("://")) {
      out = out.replace(URL_USERINFO, (all, scheme, info: string) => {
        const user = info.split(":")[0];
        return info.includes(":") || this.#known.has(info) || this.#known.has(user) || keyShaped(user)
          ? `${scheme}[redacted]@`
          : all;
      });
    }
    if (out.includes("=")) {
      out = out.replace(
        QUERY_PARAM,
        (all, lead, name, value) =>
          value && (CREDENTIAL_PARAM.test(name) || this.#known.has(value) || keyShaped(value))
            ? `${lead}${name}=[redacted]`
            : all,
      );
    }
    return this.#anywhere ? out.replace(this.#anywhere, "[redacted]") : out;
  }
}

/** Scrubbers by their secrets, so {@linkcode redact} compiles each set once. */
const SCRUBBERS = new Map<string, Scrubber>();

/** The credentials this process holds beyond a client's own ({@linkcode registerSecrets}). */
const REGISTERED = new Set<string>();

/**
 * Make credentials known to every scrubber of this process from now on: {@linkcode redact},
 * {@linkcode scrubMessage} and every client's `scrub` replace them as they replace the client's own. What a
 * run holds besides its model endpoint's key (a database server URL's password, {@linkcode registerDbUrl}) is
 * registered when the run is set up, so records, `run.json`, caches, reports and messages never carry it.
 *
 * @param values secret values, every form of them (empty values are ignored)
 */
export function registerSecrets(values: Iterable<string>): void {
  for (const v of values) if (v) REGISTERED.add(v);
}

/** The credentials registered with {@linkcode registerSecrets}, longest first. */
export function registeredSecrets(): string[] {
  return [...REGISTERED].sort((a, b) => b.length - a.length);
}

/** The scrubber of a secret list and of every registered credential (built once per distinct list). */
export function scrubberOf(secrets: ReadonlyArray<string | null | undefined>): Scrubber {
  const values = [...secrets, ...REGISTERED].filter((s): s is string => typeof s === "string" && s !== "");
  const id = values.join("\u0000");
  let scrubber = SCRUBBERS.get(id);
  if (!scrubber) {
    if (SCRUBBERS.size > 64) SCRUBBERS.clear();
    scrubber = new Scrubber(values);
    SCRUBBERS.set(id, scrubber);
  }
  return scrubber;
}

/**
 * The text through the {@linkcode Scrubber} of these secrets and of every registered one
 * ({@linkcode registerSecrets}): whole credential tokens replaced, nothing else.
 */
export function redact(text: string, secrets: ReadonlyArray<string | null | undefined>): string {
  return scrubberOf(secrets).scrub(text);
}

/**
 * A JSON-like value with every string in it (keys included) passed through `scrub`: what a record or
 * `run.json` goes through before it is written. Numbers, booleans and null are kept; the input is not changed.
 */
export function scrubDeep<T>(value: T, scrub: (text: string) => string): T {
  if (typeof value === "string") return scrub(value) as T;
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, scrub)) as T;
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[scrub(k)] = scrubDeep(v, scrub);
    return out as T;
  }
  return value;
}

/** Base64 of a text's UTF-8 bytes, padded and not. */
function base64Forms(text: string): string[] {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  const padded = btoa(binary);
  return [padded, padded.replace(/=+$/, "")];
}

/** A percent-encoded text decoded, or null when it holds a malformed escape. */
function decoded(raw: string): string | null {
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

/** The user and password of a URL (percent-decoded), or null when it carries none. */
export function urlUserInfo(baseUrl: string): { user: string; password: string } | null {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    return null;
  }
  if (!url.username && !url.password) return null;
  return { user: decoded(url.username) ?? url.username, password: decoded(url.password) ?? url.password };
}

/** The value of HTTP Basic authorization for a user and password (`base64(user:password)`). */
export function basicToken(info: { user: string; password: string }): string {
  return base64Forms(`${info.user}:${info.password}`)[0];
}

/** Every form of a URL's user, password and query values: raw, percent-decoded and encoded, combined, base64. */
function urlCredentials(baseUrl: string): string[] {
  const out: string[] = [];
  const url = new URL(baseUrl);
  const add = (raw: string) => {
    if (!raw) return;
    out.push(raw, encodeURIComponent(raw));
    const plain = decoded(raw);
    if (plain !== null) out.push(plain, encodeURIComponent(plain));
  };
  for (const raw of [url.username, url.password, ...url.searchParams.values()]) add(raw);
  for (const part of url.search.slice(1).split("&")) {
    const value = part.slice(part.indexOf("=") + 1);
    if (part.includes("=")) add(value);
  }
  const info = urlUserInfo(baseUrl);
  if (info) {
    for (const pair of [`${info.user}:${info.password}`, `${url.username}:${url.password}`]) {
      out.push(pair, ...base64Forms(pair));
    }
  }
  return out;
}

/**
 * Every secret value of a client, longest first: the API key (and any other keys given, e.g. the other
 * providers' key variables) with its base64 form, and the credentials a base URL may carry (user, password,
 * every query value; raw, percent-decoded and percent-encoded; `user:password` and its base64, the value of
 * the HTTP Basic header).
 */
export function secretValues(
  apiKey: string | null,
  baseUrl: string,
  otherKeys: readonly string[] = [],
): string[] {
  const out = new Set<string>();
  for (const key of [apiKey, ...otherKeys]) {
    if (!key) continue;
    out.add(key);
    for (const form of base64Forms(key)) out.add(form);
  }
  try {
    for (const value of urlCredentials(baseUrl)) if (value) out.add(value);
  } catch {
    // Not a URL: resolveProvider refuses it before any request.
  }
  return [...out].sort((a, b) => b.length - a.length);
}

/** Query parameters of a database URL whose value is a credential (`password=`, `sslpassword=`, `sslkey=`…). */
const DB_CREDENTIAL_PARAM = /pass|secret|token|key|auth/i;

/**
 * The user info (to the last `@` before the path: a password may hold a raw `@`, `?` or `#`) and the query of a
 * server URL as written (`scheme://user:password@host/db?…`), without parsing.
 */
const SERVER_URL = /^[a-z][a-z0-9+.-]*:\/\/(?:([^/]*)@)?[^?#]*(?:\?([^#]*))?/i;

/**
 * Every form of the credentials a database server URL carries (`postgres://user:password@host:5432/bird`,
 * `mysql://…`): the password as written, percent-decoded, percent-encoded and as a URL serialises it, each with
 * its base64 (padded and not); `user:password` in each spelling with its base64 (what an HTTP Basic header
 * would carry); and the value of a credential-named query parameter (`?password=`, `sslpassword=`) in the same
 * forms. Longest first.
 *
 * The user name alone is not among them: a database user is no secret (`SELECT current_user` shows it to any
 * query, and `text2sql_ro` must stay readable in the loader's messages). Where it stands in a credential
 * position (a URL's user info, `user:password`, a Basic value) the {@linkcode Scrubber} removes it anyway.
 * A URL too malformed to parse still yields what sits between `//` and `@`.
 *
 * @param url the server URL as given (`--db-url`, `TEXT2SQL_DB_URL`)
 */
export function dbUrlSecrets(url: string): string[] {
  const out = new Set<string>();
  const add = (raw: string) => {
    if (!raw) return;
    const plain = decoded(raw);
    for (
      const form of [
        raw,
        encodeURIComponent(raw),
        ...(plain === null ? [] : [plain, encodeURIComponent(plain)]),
      ]
    ) {
      out.add(form);
      for (const b of base64Forms(form)) out.add(b);
    }
  };
  const m = SERVER_URL.exec(url.trim());
  const info = m?.[1] ?? "";
  const colon = info.indexOf(":");
  if (colon >= 0 && colon < info.length - 1) {
    const user = info.slice(0, colon);
    const password = info.slice(colon + 1);
    add(password);
    try {
      // As WHATWG serialises it (the form `new URL` and the database room's parser see).
      add(new URL(`http://${info}@h/`).password);
    } catch {
      // Not parsable: the spellings above are all there is.
    }
    const plainUser = decoded(user) ?? user;
    const plainPassword = decoded(password) ?? password;
    for (const pair of [info, `${plainUser}:${plainPassword}`]) {
      out.add(pair);
      for (const b of base64Forms(pair)) out.add(b);
    }
  }
  for (const part of (m?.[2] ?? "").split("&")) {
    const eq = part.indexOf("=");
    if (eq > 0 && DB_CREDENTIAL_PARAM.test(decoded(part.slice(0, eq)) ?? part)) add(part.slice(eq + 1));
  }
  return [...out].sort((a, b) => b.length - a.length);
}

/** Register every form of a database server URL's credentials ({@linkcode dbUrlSecrets}) with every scrubber. */
export function registerDbUrl(url: string): void {
  registerSecrets(dbUrlSecrets(url));
}

/** One line, bounded: provider messages can be long HTML pages or multi-line stacks. */
function oneLine(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? flat.slice(0, max - 1) + "…" : flat;
}

/**
 * What every message we emit goes through: our secrets, URL credentials and bearer tokens removed; one line.
 *
 * @param text the message
 * @param secrets the client's {@linkcode secretValues}
 */
export function scrubMessage(text: string, secrets: readonly string[]): string {
  return oneLine(redact(text, secrets));
}
