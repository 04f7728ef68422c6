"""SQL out of a model's completion: a faithful port of `lib/model/sql_extract.ts` (stdlib only).

The GRPO reward must score exactly the SQL the evaluator would score, so this is a line-by-line port of the
TypeScript rules (see that module's doc for the rules themselves); `tests/fixtures/sql_extract_cases.json` is
read by the tests of both languages.

JavaScript and Python regular expressions differ; the port pins the JavaScript meaning:
- `\\b` and `\\w` are ASCII in JS (no `u` flag): every pattern here is compiled with `re.ASCII`;
- JS `\\s` and `String.prototype.trim` use the ECMAScript whitespace set: `_WS` below stands for it;
- JS `$` without the `m` flag matches only at the very end (Python's also before a final newline): `\\Z` here.
Known residual difference: offsets count UTF-16 code units in JS and code points here, so the 200-character
window before a fence can differ by the number of astral characters (emoji) in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ECMAScript WhiteSpace + LineTerminator: what JS `\s` matches and `trim()` removes.
_WS_CHARS = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
_WS = "[" + re.escape(_WS_CHARS) + "]"
_A = re.ASCII

SQL_TAGS = frozenset({
    "sql", "sqlite", "sqlite3", "mysql", "postgresql", "postgres", "pgsql", "psql", "plsql", "tsql", "mssql",
    "sparksql", "ansi-sql", "ansisql", "duckdb",
})


def js_trim(s: str) -> str:
    """`String.prototype.trim`."""
    return s.strip(_WS_CHARS)


@dataclass
class FencedBlock:
    """One fenced code block (as `FencedBlock` in lib/model/sql_extract.ts)."""

    tag: str
    content: str
    start: int
    end: int
    terminated: bool


_SPECIAL_TOKENS = re.compile(
    r"<\|(?:eot_id|eom_id|im_end|im_start|end_of_text|endoftext|begin_of_text|end)\|>|</?s>", _A)
_THINK_BLOCK = re.compile(r"<think>[\s\S]*?</think>", _A | re.I)
_THINK_CLOSE = re.compile(r"</think>", _A | re.I)
_THINK_OPEN = re.compile(r"<think>", _A | re.I)
_THINK_ANY = re.compile(r"</?think>", _A | re.I)


def strip_think(text: str) -> str:
    """`stripThink`: remove `<think>` blocks; a lone `</think>` drops what precedes it."""
    out = _THINK_BLOCK.sub("", text)
    last = None
    for last in _THINK_CLOSE.finditer(out):
        pass
    if last is not None:
        out = out[last.end():]
    out = _THINK_OPEN.sub("", out)
    if js_trim(out) == "":
        return _THINK_ANY.sub("", text)
    return out


_FENCE_HEAD = re.compile(r"([A-Za-z][\w+.-]*)?[ \t]*(\n)?", _A)
_KEYWORD = re.compile(r"(select|with)", _A | re.I)


def find_fences(text: str) -> list[FencedBlock]:
    """`findFences`: all fenced code blocks, in order; the last may be unterminated."""
    blocks: list[FencedBlock] = []
    pos = 0
    while True:
        open_ = text.find("```", pos)
        if open_ < 0:
            break
        after = open_ + 3
        while after < len(text) and text[after] == "`":
            after += 1
        tag = ""
        content_start = after
        m = _FENCE_HEAD.match(text, after)
        if m and m.group(1):
            word = m.group(1)
            is_keyword = _KEYWORD.fullmatch(word) is not None
            if not is_keyword and (m.group(2) is not None or word.lower() in SQL_TAGS):
                tag = word
                content_start = after + len(m.group(0))
        elif m and m.group(2) is not None:
            content_start = after + len(m.group(0))
        close = text.find("```", content_start)
        if close < 0:
            blocks.append(FencedBlock(tag, text[content_start:], open_, len(text), False))
            break
        end = close + 3
        while end < len(text) and text[end] == "`":
            end += 1
        blocks.append(FencedBlock(tag, text[content_start:close], open_, end, True))
        pos = end
    return blocks


_LEADING_COMMENTS = re.compile(r"^" + _WS + r"*(?:(?:--[^\n]*(?:\n|\Z)|/\*[\s\S]*?\*/)" + _WS + r"*)*", _A)
_WITH_START = re.compile(
    r"^with" + _WS + r"+(?:recursive" + _WS + r"+)?[\w\"`\[\]]+(?:" + _WS + r"*\([^)]*\))?" + _WS + r"+as"
    + _WS + r"*(?:(?:not" + _WS + r"+)?materialized" + _WS + r"*)?\(", _A | re.I)
_SELECT_START = re.compile(r"^select\b", _A | re.I)
_PAREN_SELECT = re.compile(r"^\(" + _WS + r"*select\b", _A | re.I)


def looks_like_query(text: str) -> bool:
    """`looksLikeQuery`: starts (after comments) with SELECT, WITH … AS (, or (SELECT."""
    body = _LEADING_COMMENTS.sub("", text, count=1)
    return bool(_SELECT_START.search(body) or _WITH_START.search(body) or _PAREN_SELECT.search(body))


_FINAL_RE = re.compile(
    r"\b(?:final(?:ly)?|corrected|fixed|revised|updated|therefore|thus|hence|in conclusion|answer|putting "
    r"(?:it|this|everything|these|them) (?:all )?together|combining (?:these|everything|all|them)|complete "
    r"(?:sql|query)|full (?:sql|query))\b", _A | re.I)
_ALT_RE = re.compile(
    r"\b(?:alternative(?:ly)?|another (?:way|approach|option|version)|could also|can also|or equivalently|"
    r"equivalent(?:ly)?|variant)\b", _A | re.I)
# JS /m: `^` after any line terminator; after normalisation only \n (and the rare \u2028/\u2029) remain.
_REASONING_RE = re.compile(
    r"step[- ]by[- ]step|\blet me\b|\blet's\b|\blet us\b|^" + _WS + r"*(?:step" + _WS + r"*)?\d+[.):]" + _WS
    + r"|^" + _WS + r"*#{1,6}" + _WS + r"|^" + _WS + r"*\*\*step|\bi need to\b|\bwe need to\b|\bfirst(?:ly)?,",
    _A | re.I | re.M)


def _intro_of(text: str, blocks: list[FencedBlock], i: int) -> str:
    from_ = 0 if i == 0 else blocks[i - 1].end
    return text[max(from_, blocks[i].start - 200):blocks[i].start]


def choose_block(text: str, blocks: list[FencedBlock]) -> FencedBlock | None:
    """`chooseBlock`: the fenced block holding the answer, or None."""
    idx = [i for i, b in enumerate(blocks) if js_trim(b.content) != ""]
    tagged = [i for i in idx if blocks[i].tag.lower() in SQL_TAGS]
    cands = [i for i in tagged if looks_like_query(blocks[i].content)]
    if not cands:
        cands = tagged
    if not cands:
        cands = [i for i in idx if looks_like_query(blocks[i].content)]
    if not cands:
        return None
    if len(cands) == 1:
        return blocks[cands[0]]
    intros = {i: _intro_of(text, blocks, i) for i in cands}
    not_alt = [i for i in cands if not _ALT_RE.search(intros[i])]
    finals = [i for i in not_alt if _FINAL_RE.search(intros[i])]
    if finals:
        return blocks[finals[-1]]
    if _REASONING_RE.search(text[:blocks[cands[0]].start]) and not_alt:
        return blocks[not_alt[-1]]
    return blocks[cands[0]]


_CONTINUATION = re.compile(
    r"^(?:(?:from|where|join|inner|left|right|full|cross|natural|on|and|or|group|order|having|limit|offset|union|"
    r"intersect|except|select|with|as|case|when|then|else|end|not|in|exists|between|like|is|window|over|partition)"
    r"\b|[(),]|--|/\*)", _A | re.I)
_BLANK_LINE = re.compile(r"\n[ \t]*\n" + _WS + r"*", _A)  # no "^": match() at a position anchors there


def _statement_from(text: str, start: int) -> str:
    i = start
    quote: str | None = None
    n = len(text)
    while i < n:
        c = text[i]
        if quote:
            if c == quote:
                if i + 1 < n and text[i + 1] == quote and quote != "]":
                    i += 1
                else:
                    quote = None
            i += 1
            continue
        if c in ("'", '"', "`"):
            quote = c
        elif c == "[":
            quote = "]"
        elif c == "-" and i + 1 < n and text[i + 1] == "-":
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        elif c == "/" and i + 1 < n and text[i + 1] == "*":
            close = text.find("*/", i + 2)
            i = n if close < 0 else close + 2
            continue
        elif c == ";":
            return text[start:i]
        elif c == "\n":
            m = _BLANK_LINE.match(text, i)
            if m:
                nxt = text[m.end():]
                if not _CONTINUATION.search(nxt):
                    return text[start:i]
        i += 1
    return text[start:]


_LABEL_RE = re.compile(
    r"(?:^|\n)[ \t]*(?:[*_#>]+[ \t]*)*(?:final[ \t]+)?(?:sql(?:ite)?(?:[ \t]+(?:query|statement))?|query|answer)"
    r"[ \t]*(?:[*_]+[ \t]*)?:[ \t]*(?:[*_]+[ \t]*)?", _A | re.I)
_QUERY_LINE = re.compile(r"(^|\n|:[ \t]*)[ \t]*(?=select\b|with\b|\(" + _WS + r"*select\b)", _A | re.I)
_WITH_PREFIX = re.compile(r"^with", _A | re.I)
_SELECT_UPPER = re.compile(r"^SELECT\b", _A)
_FROM_WORD = re.compile(r"\bfrom\b", _A | re.I)


def _query_start(text: str, from_: int) -> int:
    rest = text[from_:]
    for m in _QUERY_LINE.finditer(rest):
        at = m.end()
        tail = rest[at:]
        if looks_like_query(tail) and (
            _WITH_PREFIX.search(tail) or _SELECT_UPPER.search(tail) or _FROM_WORD.search(tail.split("\n")[0])
        ):
            return from_ + at
    return -1


def _unfenced(text: str) -> str | None:
    labels = list(_LABEL_RE.finditer(text))
    for k in range(len(labels) - 1, -1, -1):
        after = labels[k].end()
        at = _query_start(text, after)
        if at >= 0 and len([ln for ln in js_trim(text[after:at]).split("\n") if js_trim(ln)]) <= 1:
            return _statement_from(text, at)
    at = _query_start(text, 0)
    return _statement_from(text, at) if at >= 0 else None


_TRAILING = re.compile(r"[" + re.escape(_WS_CHARS) + r";]+\Z", _A)


def clean_sql(sql: str) -> str:
    """`cleanSql`: trimmed, trailing semicolons removed."""
    return _TRAILING.sub("", js_trim(sql), count=1)


_CRLF = re.compile(r"\r\n?")


def normalise_completion(completion: str | None) -> str:
    """`normaliseCompletion`: CRLF to LF, chat special tokens removed, `<think>` blocks removed."""
    return strip_think(_SPECIAL_TOKENS.sub("", _CRLF.sub("\n", completion or "")))


def extract_sql(completion: str | None) -> str:
    """`extractSql`: the SQL to execute ("" for an empty answer)."""
    text = normalise_completion(completion)
    block = choose_block(text, find_fences(text))
    if block:
        return clean_sql(block.content)
    sql = _unfenced(text)
    return clean_sql(sql if sql is not None else text)
