/**
 * The statements of a PostgreSQL query string as the server's lexer sees them, and the ones the sandbox refuses
 * before the string is sent.
 *
 * The evaluation runs a prediction and its gold query in ONE `BEGIN READ ONLY` transaction whose first snapshot
 * is already taken (`pg_session.ts`), so `SET TRANSACTION READ WRITE` can no longer take effect. What remains is to
 * leave the transaction (`COMMIT; SET default_transaction_read_only = off; ALTER ROLE … PASSWORD …` needs no table
 * privilege: a role may change itself) or the session's identity and limits. So a string holding any statement
 * that ends, nests or starts a transaction, changes the session's read-only default, its role or authorization,
 * its time limits or its temporary-file bound, is refused whole with one clear
 * line, though psycopg2 would run it. These are deliberate differences from the official script (README, "Other
 * dialects", row "writes").
 *
 * The split follows PostgreSQL's lexer (`scan.l`) with `standard_conforming_strings = on` (the session sets it at
 * connect, and a `SET` inside the string cannot change how that same string is lexed: the server parses the whole
 * string before it runs any of it): `'…'` with `''`, `E'…'` with backslash escapes, `U&'…'`, `B'…'`, `X'…'`,
 * `N'…'`, `"…"` identifiers, `$tag$…$tag$` dollar quotes (not inside an identifier, where `$` is a letter), `--`
 * comments and nested `/* … *\/` comments. A `;` outside all of these ends a statement. Splitting finer than the
 * server (a `;` inside `BEGIN ATOMIC … END`) only refuses more, never less.
 *
 * Only a statement's leading words are read: `END` inside `CASE … END` or a column named `commit` is untouched.
 *
 * @module
 */

/** A word token: an unquoted identifier/keyword (lower-cased) or a quoted identifier (as written). */
interface Word {
  text: string;
  quoted: boolean;
}

/** One statement's leading tokens: words, or `null` for any other token (an operator, a literal, a number). */
type Lead = (Word | null)[];

const isIdentStart = (c: string) => /[A-Za-z_\u0080-\uffff]/.test(c);
const isIdentCont = (c: string) => /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
const isDolqStart = (c: string) => /[A-Za-z_\u0080-\uffff]/.test(c);
const isDolqCont = (c: string) => /[A-Za-z0-9_\u0080-\uffff]/.test(c);

/** Index just past a quoted literal opening at `i` (`'` or `"`); `backslash`: `\` escapes the next character. */
function skipQuoted(sql: string, i: number, quote: string, backslash: boolean): number {
  let j = i + 1;
  while (j < sql.length) {
    const c = sql[j];
    if (backslash && c === "\\") {
      j += 2;
      continue;
    }
    if (c === quote) {
      if (sql[j + 1] === quote) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  // Unterminated: the server refuses the whole string; the rest is quoted either way.
  return sql.length;
}

/** Index just past a nested block comment opening at `i`. */
function skipBlockComment(sql: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < sql.length) {
    if (sql[j] === "/" && sql[j + 1] === "*") {
      depth++;
      j += 2;
    } else if (sql[j] === "*" && sql[j + 1] === "/") {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else j++;
  }
  return sql.length;
}

/** The dollar-quote delimiter (`$tag$`) opening at `i`, or null. */
function dollarDelimiter(sql: string, i: number): string | null {
  let j = i + 1;
  if (sql[j] === "$") return "$$";
  if (j >= sql.length || !isDolqStart(sql[j])) return null;
  j++;
  while (j < sql.length && isDolqCont(sql[j])) j++;
  return sql[j] === "$" ? sql.slice(i, j + 1) : null;
}

/** How many leading tokens of each statement are kept. */
const LEAD_TOKENS = 4;

/**
 * The statements of `sql` (as the server splits them on `;`), each as its first few tokens. Empty statements are
 * left out.
 */
export function statementLeads(sql: string): Lead[] {
  const out: Lead[] = [];
  let cur: Lead = [];
  const push = (t: Word | null) => {
    if (cur.length < LEAD_TOKENS) cur.push(t);
  };
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    if (c === ";") {
      if (cur.length) out.push(cur);
      cur = [];
      i++;
    } else if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v") {
      i++;
    } else if (c === "-" && sql[i + 1] === "-") {
      while (i < n && sql[i] !== "\n" && sql[i] !== "\r") i++;
    } else if (c === "/" && sql[i + 1] === "*") {
      i = skipBlockComment(sql, i);
    } else if (c === "'") {
      push(null);
      i = skipQuoted(sql, i, "'", false);
    } else if (c === '"') {
      const end = skipQuoted(sql, i, '"', false);
      push({ text: sql.slice(i + 1, end - 1).replaceAll('""', '"').toLowerCase(), quoted: true });
      i = end;
    } else if (c === "$") {
      const delim = dollarDelimiter(sql, i);
      if (delim) {
        push(null);
        const end = sql.indexOf(delim, i + delim.length);
        i = end < 0 ? n : end + delim.length;
      } else {
        // A parameter (`$1`) or a lone `$`.
        push(null);
        i++;
        while (i < n && /[0-9]/.test(sql[i])) i++;
      }
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentCont(sql[j])) j++;
      const word = sql.slice(i, j);
      const lower = word.toLowerCase();
      if (j - i === 1 && sql[j] === "'" && "ebxn".includes(lower)) {
        // E'…' (backslash escapes), B'…', X'…', N'…'.
        push(null);
        i = skipQuoted(sql, j, "'", lower === "e");
      } else if (lower === "u" && sql[j] === "&" && (sql[j + 1] === "'" || sql[j + 1] === '"')) {
        const end = skipQuoted(sql, j + 1, sql[j + 1], false);
        push(sql[j + 1] === '"' ? { text: sql.slice(j + 2, end - 1).toLowerCase(), quoted: true } : null);
        i = end;
      } else {
        push({ text: lower, quoted: false });
        i = j;
      }
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(sql[i + 1] ?? ""))) {
      // A number (never swallows a `$`: `1$a$…$a$` is a number and a dollar quote).
      push(null);
      i++;
      while (i < n && /[0-9A-Za-z_.]/.test(sql[i])) i++;
    } else {
      // An operator or punctuation character: one token per character is enough for leading words.
      push(null);
      i++;
    }
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Statements (by first word) that end, start or nest a transaction. */
const TRANSACTION_CONTROL = new Set([
  "commit",
  "end",
  "rollback",
  "abort",
  "begin",
  "start",
  "savepoint",
  "release",
]);

/**
 * Run-time parameters a query string may not `SET` or `RESET`: the read-only mode, the identity, the time limits,
 * the temporary-file bound and the memory bounds the sandbox relies on. A query can still reach some of them through `set_config()`
 * (even inside a string run by `query_to_xml`), so none of the guards depends on this refusal: the read-only
 * transaction holds (its snapshot is taken), a killed worker's backend is terminated by the engine, and the
 * loader sets `temp_file_limit` on the role, where the role cannot change it.
 */
export const GUARDED_PARAMETERS: ReadonlySet<string> = new Set([
  "default_transaction_read_only",
  "transaction_read_only",
  "role",
  "session_authorization",
  "statement_timeout",
  "lock_timeout",
  "idle_in_transaction_session_timeout",
  "client_connection_check_interval",
  "temp_file_limit",
  // The server-side memory bound (`work_mem` ≤ 64 MB per sort or hash node, `pg_session.ts`): raised, one sort of a
  // hostile query could take the server's memory.
  "work_mem",
  "hash_mem_multiplier",
  "maintenance_work_mem",
  "temp_buffers",
]);

const word = (t: Word | null | undefined, ...texts: string[]) => !!t && !t.quoted && texts.includes(t.text);

/** Why one statement (by its leading tokens) is refused, or null. */
function refusal(lead: Lead): string | null {
  const [a, b, c] = lead;
  if (!a || a.quoted) return null;
  if (TRANSACTION_CONTROL.has(a.text)) {
    return `${a.text.toUpperCase()} would leave or change the read-only transaction the evaluation runs in`;
  }
  if (a.text === "prepare" && word(b, "transaction")) {
    return "PREPARE TRANSACTION would leave the read-only transaction the evaluation runs in";
  }
  if (a.text !== "set" && a.text !== "reset") return null;
  const verb = a.text.toUpperCase();
  // SET [SESSION | LOCAL] …
  let target = b;
  let next = c;
  if (a.text === "set" && word(b, "session", "local")) {
    if (word(c, "characteristics")) return "SET SESSION CHARACTERISTICS would change the read-only default";
    if (word(c, "authorization")) return "SET SESSION AUTHORIZATION would change the session's identity";
    target = c;
    next = lead[3];
  }
  if (!target) return null;
  if (a.text === "reset" && word(target, "session") && word(next, "authorization")) {
    return "RESET SESSION AUTHORIZATION would change the session's identity";
  }
  if (word(target, "transaction")) return `${verb} TRANSACTION would change the read-only transaction`;
  if (word(target, "all")) return `${verb} ALL would undo the session's limits`;
  if (GUARDED_PARAMETERS.has(target.text)) {
    return `${verb} ${target.text} would change the sandbox's ${
      target.text === "role" || target.text === "session_authorization"
        ? "identity"
        : target.text.includes("read_only")
        ? "read-only mode"
        : /mem|buffers/.test(target.text)
        ? "memory limits"
        : "limits"
    }`;
  }
  return null;
}

/**
 * Why a query string is refused before it runs (its first refused statement, one line), or null when it may run.
 * The line starts with `refused:` and says the check is this evaluator's, not the server's.
 */
export function refusedStatement(sql: string): string | null {
  for (const lead of statementLeads(sql)) {
    const why = refusal(lead);
    if (why) return `refused: ${why} (not allowed in a query by this evaluator)`;
  }
  return null;
}
