"""Query parsing shared by every search backend.

Semantics (the backends build their own query objects from a ``ParsedQuery``):

- Words are ANDed. Each word is tokenized like the index; a word of 3+ Han characters also
  matches the phrase of its dictionary parts (订单班 matches 订单 班 in text indexed before
  订单班 was a dictionary word, 技能大赛 matches 职业技能 大赛).
- ``"quoted text"`` (also “…” and 「…」) is a phrase: its tokens at consecutive positions.
- A bare evidence or indicator code (``2.3.4-1``, ``2.3``) matches the code fields exactly
  (the document's own code first, then catalog-entry codes, then indicator codes); a quoted
  code is searched in the text instead.
- Single-character function words (的, 和, 与 ...) are dropped unless nothing else is left.
- Every unquoted chunk (text between spaces) and every quoted phrase is also matched by its
  character bigrams in the ``grams`` field, at consecutive positions: the chunk as a
  substring of the text. A chunk matches when all its words match OR its grams do, so a
  name jieba cut apart in the text (首家长隆: 首/家长/隆) or a phrase starting inside a
  word (定期安全评 in 定期安全评价) is still found, and a document holding the chunk as
  written scores for both.
- If the AND finds nothing, the backends retry with OR and say so (``fallback``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from indexer._tokenize import (
    _DICT,
    char_grams,
    is_code,
    is_han,
    normalize_text,
    tokenize,
)

#: Dropped from unquoted queries when other words remain: they match nearly every page.
STOP_WORDS = frozenset(
    [
        "的",
        "地",
        "得",
        "了",
        "和",
        "与",
        "及",
        "或",
        "是",
        "在",
        "等",
        "之",
        "其",
        "并",
        "而",
        "把",
        "被",
        "对",
        "于",
        "以",
        "为",
        "也",
        "就",
        "都",
    ]
)

_QUOTED = re.compile(r'"([^"]*)"?|“([^”]*)”?|「([^」]*)」?')


@dataclass(frozen=True, slots=True)
class QueryTerm:
    """A query word: the token, and the phrase of its parts as an alternative (maybe empty)."""

    text: str
    parts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Group:
    """One clause of the query: an unquoted chunk (``terms``, all of them) or a quoted
    phrase (``phrase``), or else its character bigrams ``grams`` as a phrase (may be empty)."""

    terms: tuple[QueryTerm, ...] = ()
    phrase: tuple[str, ...] = ()
    grams: tuple[str, ...] = ()


@dataclass(slots=True)
class ParsedQuery:
    """The clauses of a query; every clause must match (or, in the fallback, any).

    ``nearby``: the tokens of each unquoted chunk (text without spaces) that has several,
    such as 迅达电梯订单班 or 2035年; not required, but documents where they stand together
    rank higher, and snippets mark them together rather than every lone 年.
    """

    text: str
    terms: list[QueryTerm] = field(default_factory=list)
    phrases: list[tuple[str, ...]] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    nearby: list[tuple[str, ...]] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)

    @property
    def clause_count(self) -> int:
        return len(self.groups) + len(self.codes)

    def is_empty(self) -> bool:
        return self.clause_count == 0

    def highlight_terms(self) -> list[str]:
        """What a viewer should mark: words, codes, and phrases as their tokens joined."""
        in_chunks = {t for chunk in self.nearby for t in chunk}
        out = [_join(p) for p in self.phrases + self.nearby]
        out += [t.text for t in self.terms if t.text not in in_chunks]
        out += [c for c in self.codes if c not in in_chunks]
        return list(dict.fromkeys(out))


def _join(tokens: tuple[str, ...]) -> str:
    """Tokens joined as they are written: no space between Han tokens."""
    out = tokens[0]
    for prev, token in zip(tokens, tokens[1:], strict=False):
        out += token if is_han(prev[-1]) or is_han(token[0]) else " " + token
    return out


def parse_query(text: str) -> ParsedQuery:
    """Parse a user's query string into words, phrases and codes."""
    norm = normalize_text(text)
    parsed = ParsedQuery(text=text)
    rest: list[str] = []
    last = 0
    quoted: list[tuple[str, tuple[str, ...]]] = []
    for m in _QUOTED.finditer(norm):
        rest.append(norm[last : m.start()])
        last = m.end()
        inner = next(g for g in m.groups() if g is not None)
        quoted.append((inner, tuple(t.text for t in tokenize(inner, search=False))))
    rest.append(norm[last:])
    chunks = [(c, tuple(t.text for t in tokenize(c, search=False))) for c in " ".join(rest).split()]

    words = [w for _, tokens in chunks for w in tokens]
    content = [w for w in words if not is_code(w)]
    if any(w not in STOP_WORDS for w in content) or quoted:
        content = [w for w in content if w not in STOP_WORDS]
    keep = set(content)
    for inner, tokens in quoted:
        if len(tokens) == 1:
            term = QueryTerm(tokens[0])
            _add_term(parsed, term)
            _add_group(parsed, Group(terms=(term,), grams=_grams(inner)))
        elif tokens and tokens not in parsed.phrases:
            parsed.phrases.append(tokens)
            _add_group(parsed, Group(phrase=tokens, grams=_grams(inner)))
    for chunk, tokens in chunks:
        if len(tokens) > 1 and tokens not in parsed.nearby:
            parsed.nearby.append(tokens)
        terms = []
        for word in tokens:
            if is_code(word):
                if word not in parsed.codes:
                    parsed.codes.append(word)
            elif word in keep:
                term = QueryTerm(word, word_parts(word))
                _add_term(parsed, term)
                terms.append(term)
        if terms:
            has_code = any(is_code(w) for w in tokens)
            grams = () if has_code else _grams(chunk)
            _add_group(parsed, Group(terms=tuple(dict.fromkeys(terms)), grams=grams))
    return parsed


def _grams(text: str) -> tuple[str, ...]:
    """The chunk's bigrams, when they say more than its one token (a chunk of 2+ characters)."""
    if not any(is_han(c) for c in text):
        return ()  # Latin words and numbers match whole (python is not in pythonic)
    grams = tuple(char_grams(text))
    if not grams or (len(grams) == 1 and len(grams[0]) == 1):
        return ()
    return grams


def _add_group(parsed: ParsedQuery, group: Group) -> None:
    if group not in parsed.groups:
        parsed.groups.append(group)


def _add_term(parsed: ParsedQuery, term: QueryTerm) -> None:
    if all(t.text != term.text for t in parsed.terms):
        parsed.terms.append(term)


def word_parts(word: str) -> tuple[str, ...]:
    """Split a Han word of 3+ characters into dictionary words (longest first) and characters.

    Only for words added by ``add_user_words`` (text indexed before has the word's parts,
    not the word) and words jieba's HMM made up (not in the dictionary, so cut differently
    in running text). Dictionary words, bundled domain words included, get (): a word inside
    a longer word is indexed as its part, and a phrase alternative costs time (Whoosh).
    """
    if len(word) < 3 or not all(is_han(c) for c in word):
        return ()
    has_word = _DICT.jieba.has_word
    if has_word(word) and word not in _DICT.runtime_words:
        return ()
    parts: list[str] = []
    i = 0
    n = len(word)
    while i < n:
        size = 1
        for j in range(min(n, i + 8), i + 1, -1):
            if j - i < n and has_word(word[i:j]):
                size = j - i
                break
        parts.append(word[i : i + size])
        i += size
    return tuple(parts) if len(parts) > 1 else ()
