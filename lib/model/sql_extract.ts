/**
 * SQL out of a model's completion. Pure.
 *
 * The original tool took the first ```sql fence, else the whole answer. Real models also emit bare ``` fences,
 * ```SQL / ```sqlite tags, `SQL:` / `Answer:` labels, prose before and after, `<think>` blocks, unterminated
 * fences, and reasoning with several fences where only the last is the answer. The rule, in order:
 *
 * 1. Normalise: CRLF to LF; chat special tokens (`<|eot_id|>`, `</s>`, …) removed; `<think>…</think>` blocks
 *    removed (and, for a lone `</think>`, everything before it; a lone `<think>` tag is dropped and its text kept).
 *    If nothing but thinking remains, the thinking is used.
 * 2. Fenced blocks: ```` ```tag ```` … ```` ``` ````, also inline (```` ```sql SELECT 1``` ````); a last fence
 *    that is never closed runs to the end of the text.
 * 3. Candidates: blocks tagged as SQL (`sql`, `sqlite`, `SQL`, `mysql`, …, any case) whose text is a query
 *    (starts with SELECT or WITH after comments); else all SQL-tagged blocks; else any other block whose text is
 *    a query.
 * 4. Choice among several candidates:
 *    a. the LAST candidate introduced as final — the prose just before it (within 200 characters, since the
 *       previous fence) says final/finally/corrected/therefore/thus/answer/putting it together… — and not
 *       introduced as an alternative ("alternatively", "another way", "could also", …);
 *    b. else, when the text before the first candidate reads as reasoning (step markers, "let me", "let's",
 *       numbered steps, "I need to"), the LAST candidate not introduced as an alternative (numbered steps AFTER
 *       a first answer are an explanation of it, not reasoning toward a later one);
 *    c. else the FIRST (the original rule: an answer followed by variants).
 * 5. No candidate: the text after the last `SQL:` / `SQLite:` / `Query:` / `SQL query:` / `Answer:` /
 *    `Final answer:` label, from its first SELECT/WITH; else the first line that starts a query (SELECT …, or
 *    WITH name AS (…); also after a colon: "The query is: SELECT …"). The statement runs to its first `;` outside
 *    quotes and comments, or to a blank line followed by prose. Else the whole text (the original rule).
 * 6. Trimmed, trailing semicolons removed.
 *
 * @module
 */

/** Fence tags that mean "this is SQL". */
const SQL_TAGS = new Set([
  "sql",
  "sqlite",
  "sqlite3",
  "mysql",
  "postgresql",
  "postgres",
  "pgsql",
  "psql",
  "plsql",
  "tsql",
  "mssql",
  "sparksql",
  "ansi-sql",
  "ansisql",
  "duckdb",
]);

/** One fenced code block. */
export interface FencedBlock {
  /** The tag after the opening fence, as written ("" when bare). */
  tag: string;
  /** The text inside, untrimmed. */
  content: string;
  /** Offset of the opening fence. */
  start: number;
  /** Offset just after the closing fence (the text's length when unterminated). */
  end: number;
  /** Whether a closing fence was found. */
  terminated: boolean;
}

const SPECIAL_TOKENS =
  /<\|(?:eot_id|eom_id|im_end|im_start|end_of_text|endoftext|begin_of_text|end)\|>|<\/?s>/g;

/**
 * Remove `<think>` blocks (DeepSeek-R1 style). A lone `</think>` means the opening tag was in the prompt template:
 * everything before it is thinking. A lone `<think>` means the thinking never closed: the tag is dropped and its
 * text kept, since the SQL may be at its end.
 *
 * @param text a completion
 * @returns the answer part
 */
export function stripThink(text: string): string {
  let out = text.replace(/<think>[\s\S]*?<\/think>/gi, "");
  const last = [...out.matchAll(/<\/think>/gi)].at(-1);
  if (last) out = out.slice(last.index + last[0].length);
  out = out.replace(/<think>/gi, "");
  if (out.trim() === "") {
    // Only thinking: better to mine it than to return nothing.
    return text.replace(/<\/?think>/gi, "");
  }
  return out;
}

/**
 * All fenced code blocks of a text, in order.
 *
 * @param text markdown-ish text
 * @returns blocks; the last may be unterminated
 */
export function findFences(text: string): FencedBlock[] {
  const blocks: FencedBlock[] = [];
  let pos = 0;
  while (true) {
    const open = text.indexOf("```", pos);
    if (open < 0) break;
    // Longer backtick runs (````) count as one fence.
    let after = open + 3;
    while (text[after] === "`") after++;
    let tag = "";
    let contentStart = after;
    const m = /^([A-Za-z][\w+.-]*)?[ \t]*(\n)?/.exec(text.slice(after));
    if (m && m[1]) {
      const word = m[1];
      const isKeyword = /^(select|with)$/i.test(word);
      if (!isKeyword && (m[2] !== undefined || SQL_TAGS.has(word.toLowerCase()))) {
        tag = word;
        contentStart = after + m[0].length;
      }
    } else if (m && m[2] !== undefined) contentStart = after + m[0].length;
    const close = text.indexOf("```", contentStart);
    if (close < 0) {
      blocks.push({
        tag,
        content: text.slice(contentStart),
        start: open,
        end: text.length,
        terminated: false,
      });
      break;
    }
    let end = close + 3;
    while (text[end] === "`") end++;
    blocks.push({ tag, content: text.slice(contentStart, close), start: open, end, terminated: true });
    pos = end;
  }
  return blocks;
}

const LEADING_COMMENTS = /^\s*(?:(?:--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)\s*)*/;

/**
 * Whether text starts (after SQL comments) with a query: SELECT …, or WITH [RECURSIVE] name … AS (.
 *
 * @param text candidate SQL
 * @returns true for a query
 */
export function looksLikeQuery(text: string): boolean {
  const body = text.replace(LEADING_COMMENTS, "");
  return /^select\b/i.test(body) || WITH_START.test(body) || /^\(\s*select\b/i.test(body);
}

const WITH_START =
  /^with\s+(?:recursive\s+)?[\w"`\[\]]+(?:\s*\([^)]*\))?\s+as\s*(?:(?:not\s+)?materialized\s*)?\(/i;

const FINAL_RE =
  /\b(?:final(?:ly)?|corrected|fixed|revised|updated|therefore|thus|hence|in conclusion|answer|putting (?:it|this|everything|these|them) (?:all )?together|combining (?:these|everything|all|them)|complete (?:sql|query)|full (?:sql|query))\b/i;
const ALT_RE =
  /\b(?:alternative(?:ly)?|another (?:way|approach|option|version)|could also|can also|or equivalently|equivalent(?:ly)?|variant)\b/i;
const REASONING_RE =
  /step[- ]by[- ]step|\blet me\b|\blet's\b|\blet us\b|^\s*(?:step\s*)?\d+[.):]\s|^\s*#{1,6}\s|^\s*\*\*step|\bi need to\b|\bwe need to\b|\bfirst(?:ly)?,/im;

/** The prose right before block i: since the previous fence, at most the last 200 characters. */
function introOf(text: string, blocks: FencedBlock[], i: number): string {
  const from = i === 0 ? 0 : blocks[i - 1].end;
  return text.slice(Math.max(from, blocks[i].start - 200), blocks[i].start);
}

/**
 * Choose the fenced block holding the answer (rules 3 and 4 of the module doc).
 *
 * @param text the normalised completion
 * @param blocks its fenced blocks
 * @returns the chosen block, or null when no block holds SQL
 */
export function chooseBlock(text: string, blocks: FencedBlock[]): FencedBlock | null {
  const idx = blocks.map((_, i) => i).filter((i) => blocks[i].content.trim() !== "");
  const tagged = idx.filter((i) => SQL_TAGS.has(blocks[i].tag.toLowerCase()));
  let cands = tagged.filter((i) => looksLikeQuery(blocks[i].content));
  if (cands.length === 0) cands = tagged;
  if (cands.length === 0) cands = idx.filter((i) => looksLikeQuery(blocks[i].content));
  if (cands.length === 0) return null;
  if (cands.length === 1) return blocks[cands[0]];
  const intros = new Map(cands.map((i) => [i, introOf(text, blocks, i)]));
  const notAlt = cands.filter((i) => !ALT_RE.test(intros.get(i)!));
  const finals = notAlt.filter((i) => FINAL_RE.test(intros.get(i)!));
  if (finals.length > 0) return blocks[finals[finals.length - 1]];
  // Reasoning comes BEFORE the answer: numbered steps after a first fenced answer are an explanation of it.
  if (REASONING_RE.test(text.slice(0, blocks[cands[0]].start)) && notAlt.length > 0) {
    return blocks[notAlt[notAlt.length - 1]];
  }
  return blocks[cands[0]];
}

/** Clause words that may open a paragraph that still belongs to the statement. */
const CONTINUATION =
  /^(?:(?:from|where|join|inner|left|right|full|cross|natural|on|and|or|group|order|having|limit|offset|union|intersect|except|select|with|as|case|when|then|else|end|not|in|exists|between|like|is|window|over|partition)\b|[(),]|--|\/\*)/i;

/**
 * The statement starting at `start`: up to its first `;` outside quotes and comments, or a blank line followed by
 * a paragraph that is not SQL, or the end.
 */
function statementFrom(text: string, start: number): string {
  let i = start;
  let quote: string | null = null;
  while (i < text.length) {
    const c = text[i];
    if (quote) {
      if (c === quote) {
        if (text[i + 1] === quote && quote !== "]") i++;
        else quote = null;
      }
      i++;
      continue;
    }
    if (c === "'" || c === '"' || c === "`") quote = c;
    else if (c === "[") quote = "]";
    else if (c === "-" && text[i + 1] === "-") {
      const nl = text.indexOf("\n", i);
      i = nl < 0 ? text.length : nl;
      continue;
    } else if (c === "/" && text[i + 1] === "*") {
      const close = text.indexOf("*/", i + 2);
      i = close < 0 ? text.length : close + 2;
      continue;
    } else if (c === ";") return text.slice(start, i);
    else if (c === "\n") {
      const m = /^\n[ \t]*\n\s*/.exec(text.slice(i));
      if (m) {
        const next = text.slice(i + m[0].length);
        if (!CONTINUATION.test(next)) return text.slice(start, i);
      }
    }
    i++;
  }
  return text.slice(start);
}

const LABEL_RE =
  /(?:^|\n)[ \t]*(?:[*_#>]+[ \t]*)*(?:final[ \t]+)?(?:sql(?:ite)?(?:[ \t]+(?:query|statement))?|query|answer)[ \t]*(?:[*_]+[ \t]*)?:[ \t]*(?:[*_]+[ \t]*)?/gi;

/** Start offset of the first query in `text` at or after `from`, or -1. */
function queryStart(text: string, from: number): number {
  const rest = text.slice(from);
  // A line (or the text after a colon) starting with a query.
  const re = /(^|\n|:[ \t]*)[ \t]*(?=select\b|with\b|\(\s*select\b)/gi;
  for (const m of rest.matchAll(re)) {
    const at = m.index! + m[0].length;
    const tail = rest.slice(at);
    if (
      looksLikeQuery(tail) &&
      (/^with/i.test(tail) || /^SELECT\b/.test(tail) || /\bfrom\b/i.test(tail.split("\n")[0]))
    ) {
      return from + at;
    }
  }
  return -1;
}

/** Rule 5: SQL from unfenced text, or null. */
function unfenced(text: string): string | null {
  const labels = [...text.matchAll(LABEL_RE)];
  for (let k = labels.length - 1; k >= 0; k--) {
    const after = labels[k].index! + labels[k][0].length;
    const at = queryStart(text, after);
    // The query must be the label's own: on its line, or after at most one line of prose ("Here it is:").
    if (at >= 0 && text.slice(after, at).trim().split("\n").filter((l) => l.trim()).length <= 1) {
      return statementFrom(text, at);
    }
  }
  const at = queryStart(text, 0);
  return at >= 0 ? statementFrom(text, at) : null;
}

/**
 * Trim and remove trailing semicolons (and the whitespace between them).
 *
 * @param sql extracted SQL
 * @returns cleaned SQL
 */
export function cleanSql(sql: string): string {
  return sql.trim().replace(/[\s;]+$/, "");
}

/**
 * Rule 1 of the module doc: CRLF to LF, chat special tokens removed, `<think>` blocks removed.
 *
 * @param completion the model's raw answer
 * @returns the answer text the other rules read
 */
export function normaliseCompletion(completion: string): string {
  return stripThink((completion ?? "").replace(/\r\n?/g, "\n").replace(SPECIAL_TOKENS, ""));
}

/**
 * The SQL in a completion (rules in the module doc).
 *
 * @param completion the model's raw answer
 * @returns the SQL to execute ("" for an empty answer)
 */
export function extractSql(completion: string): string {
  const text = normaliseCompletion(completion);
  const block = chooseBlock(text, findFences(text));
  if (block) return cleanSql(block.content);
  const sql = unfenced(text);
  return cleanSql(sql ?? text);
}
