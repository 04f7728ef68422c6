/**
 * Keeping secrets out of everything we write: the one way credentials are stripped from URLs (run.json,
 * messages, cache keys), the secret values of a client, and the scrubbing every emitted message goes through.
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

/** Replaces every occurrence of each secret (length ≥ 4) in `text` with `[redacted]`. */
export function redact(text: string, secrets: Array<string | null | undefined>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join("[redacted]");
  }
  return out;
}

/** The raw and percent-decoded forms of a URL's user, password and query values. */
function urlCredentials(baseUrl: string): string[] {
  const out: string[] = [];
  const url = new URL(baseUrl);
  for (const raw of [url.username, url.password, ...url.searchParams.values()]) {
    if (!raw) continue;
    out.push(raw);
    try {
      out.push(decodeURIComponent(raw));
    } catch {
      // A malformed escape: the raw form is what can appear.
    }
  }
  for (const part of url.search.slice(1).split("&")) {
    const value = part.slice(part.indexOf("=") + 1);
    if (part.includes("=") && value) out.push(value);
  }
  return out;
}

/**
 * The secret values of a client: the API key in use and the credentials a base URL may carry (user, password,
 * every query value; raw and percent-decoded), longest first so a secret containing another goes whole.
 */
export function secretValues(apiKey: string | null, baseUrl: string): string[] {
  const out = new Set<string>();
  if (apiKey) out.add(apiKey);
  try {
    for (const value of urlCredentials(baseUrl)) out.add(value);
  } catch {
    // Not a URL: resolveProvider refuses it before any request.
  }
  return [...out].sort((a, b) => b.length - a.length);
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
  return oneLine(redactUrl(redact(text, [...secrets])).replace(/\b(Bearer)\s+[^\s"',;]+/gi, "$1 [redacted]"));
}
