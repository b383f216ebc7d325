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
- Identifiers typed in the query (``sequences``): a document number (粤府〔2021〕28号,
  粤教职函[2022]23号, 粤工程职院发(2019)37号: the brackets may differ from the text's), a
  date (2021年3月5日, 2021-03-05), a number with its unit (758号, 2022年), a code of
  letters and digits (GB50016-2014). Each must still match like any other chunk (its
  words anywhere, or its bigrams), and a document holding it as written (its tokens at
  consecutive positions, or its character bigrams in a row) gets ``SEQUENCE_SCORE`` on
  top, so it ranks above every document holding only its parts (2021, 758 and 号 on
  different pages). A document number is boosted twice, as written with its issuer and
  as the bare number (〔2021〕28号), so another issuer's 〔2021〕28号 comes next.
- A dotted number whose first part has 4 digits or more (a date such as 2021.03.05, a
  standard such as GB/T 20513.1-2018) is a word of the text, not an evidence code.
- If the AND finds nothing, the backends retry with OR and say so (``fallback``); then a
  quoted phrase is a sequence too (a document holding it ranks first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from indexer._tokenize import (
    _DICT,
    _HAN,
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

#: Score a document gets for each identifier of the query it holds as written: more than
#: any difference of word scores between two documents (BM25 gives a word at most about
#: 2.2 x idf, idf at most about 10 at 20,000 documents), so a document holding the whole
#: identifier ranks above every document holding only its parts.
SEQUENCE_SCORE = 200.0

#: An identifier in (normalised) query text: runs of letters/digits, each maybe followed by
#: one Han character after a digit (758号, 2021年), joined by a closing bracket (spaces
#: before it, and after it before a number), an opening one, -/.: (without spaces), nothing
#: after such a Han character (2021年3月), or a space between letters and a number (GB/T
#: 7714, ISO 9001).
_IDENT = re.compile(
    rf"(?:[〔\[(（【]\s*)?[0-9a-z]+(?:(?<=\d)[{_HAN}])?"
    rf"(?:(?:\s*[〕\])）】](?:\s+(?=\d))?|[〔\[(（【]|[-/.:]|(?<=[{_HAN}])|(?<=[a-z])\s(?=\d))"
    rf"[0-9a-z]+(?:(?<=\d)[{_HAN}])?)*"
    rf"(?:\s*[〕\])）】])?"
)
#: The issuer of a document number: the Han text right before 〔2021〕, [2021], (2021).
_ISSUER = re.compile(rf"[{_HAN}]{{1,12}}$")
_DOC_NUMBER = re.compile(r"[〔\[(（【]\s*\d{4}\s*[〕\])）】]")
#: A dotted number whose first part has 4 digits or more (2021.03.05, 20513.1-2018): a
#: date or a standard's number, a word of the text; evidence codes have short parts.
_LONG_FIRST_PART = re.compile(r"\d{4}")


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


@dataclass(frozen=True, slots=True)
class ExactSequence:
    """An identifier of the query (or, in the fallback, a quoted phrase), to be found as
    written: ``tokens`` at consecutive positions, or (``grams``, when it has Han text that
    jieba may cut otherwise in running text) its character bigrams in a row, the Latin or
    digit ``anchors`` at its ends being whole tokens of the document (58号 is not 758号)."""

    text: str
    tokens: tuple[str, ...]
    grams: tuple[str, ...] = ()
    anchors: tuple[str, ...] = ()


@dataclass(slots=True)
class ParsedQuery:
    """The clauses of a query; every clause must match (or, in the fallback, any).

    ``nearby``: the tokens of each unquoted chunk (text without spaces) that has several,
    such as 迅达电梯订单班 or 2035年; not required, but documents where they stand together
    rank higher, and snippets mark them together rather than every lone 年.

    ``sequences``: the identifiers of the query (粤府〔2021〕28号, 2021年3月5日, GB/T 7714);
    not required either, but a document holding one as written gets ``SEQUENCE_SCORE``.
    """

    text: str
    terms: list[QueryTerm] = field(default_factory=list)
    phrases: list[tuple[str, ...]] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    nearby: list[tuple[str, ...]] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    sequences: list[ExactSequence] = field(default_factory=list)

    @property
    def clause_count(self) -> int:
        return len(self.groups) + len(self.codes)

    def is_empty(self) -> bool:
        return self.clause_count == 0

    def boosted_sequences(self, conjunctive: bool) -> list[ExactSequence]:
        """The sequences that earn ``SEQUENCE_SCORE``: the identifiers, and with OR (the
        fallback) also the quoted phrases (with AND every hit holds them already)."""
        out = list(self.sequences)
        if conjunctive:
            return out
        for group in self.groups:
            if group.phrase and all(s.tokens != group.phrase for s in out):
                out.append(_exact(_join(group.phrase), group.phrase, group.grams))
        return out

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
    content = [w for w in words if not _is_code(w)]
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
            if _is_code(word):
                if word not in parsed.codes:
                    parsed.codes.append(word)
            elif word in keep:
                term = QueryTerm(word, word_parts(word))
                _add_term(parsed, term)
                terms.append(term)
        if terms:
            has_code = any(_is_code(w) for w in tokens)
            grams = () if has_code else _grams(chunk)
            _add_group(parsed, Group(terms=tuple(dict.fromkeys(terms)), grams=grams))
    parsed.sequences = identifiers(" ".join(rest))
    return parsed


def _is_code(word: str) -> bool:
    """An evidence or indicator code of the query (2.3.4-1, 2.3), not a date (2021.03.05)
    nor the number of a standard (GB/T 20513.1-2018): their first part has 4 digits or
    more, and they are words of the text."""
    return is_code(word) and _LONG_FIRST_PART.match(word) is None


def identifiers(text: str) -> list[ExactSequence]:
    """The identifiers in (unquoted) query text: document numbers (also as the bare number
    without the issuer), dates, numbers with a unit, codes of letters and digits; only
    those of two tokens or more (a lone 2021 is a word, matched whole anyway), none that
    is an evidence code (2.3.4-1: matched in the code fields)."""
    norm = normalize_text(text)
    out: list[ExactSequence] = []
    for m in _IDENT.finditer(norm):
        span = m.group().strip()
        if not any(c.isdigit() for c in span):
            continue
        spans = [span]
        issuer = _ISSUER.search(norm[: m.start()].rstrip())
        if issuer is not None and _DOC_NUMBER.match(span):
            spans.insert(0, issuer.group() + span)
        for text_ in spans:
            seq = _sequence(text_)
            if seq is not None and all(s.tokens != seq.tokens for s in out):
                out.append(seq)
    return out


def _sequence(text: str) -> ExactSequence | None:
    tokens = tuple(t.text for t in tokenize(text, search=False))
    if len(tokens) < 2 or any(_is_code(t) for t in tokens):
        return None
    grams = tuple(char_grams(text)) if any(is_han(c) for c in text) else ()
    return _exact(text, tokens, grams)


def _exact(text: str, tokens: tuple[str, ...], grams: tuple[str, ...]) -> ExactSequence:
    if not grams:
        return ExactSequence(text, tokens)
    anchors = tuple(dict.fromkeys(t for t in (tokens[0], tokens[-1]) if not is_han(t[0])))
    return ExactSequence(text, tokens, grams, anchors)


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
