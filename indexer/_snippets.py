"""Pages of a hit: which pages match and how well, and their snippets as safe HTML.

Page texts are stored NORMALISED (``normalize_text``: same length as the original) with the
few changed character runs kept aside (``PageText.changes``), so a search never normalises
text: matching and counting run on the stored text, and only the characters of a snippet
window are turned back into the original.

Matching uses the query's tokens: a Han word also matches across a line wrap (产教\\n融合),
a code or a Latin word only as a whole token. Every pattern starts with a literal character
so the regex engine can skip ahead quickly.

Snippets: the text is HTML-escaped first and the matches are wrapped in ``<mark>``
afterwards, so nothing from a document can inject markup.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from indexer._query import SEQUENCE_SCORE, ParsedQuery
from indexer._tokenize import _HAN, is_code, normalize_text

#: Characters of original text per snippet (before whitespace is collapsed).
SNIPPET_CHARS = 140
#: Characters of context kept before the first match of the window.
LEAD_CHARS = 24
_MAX_MATCHES = 200

_WRAP = r"(?:[ \t\r\f\v\u3000]*\n[ \t\r\f\v\u3000\n]*)?"  # a line wrap inside a Han word
_GAP = r"[\W_]{0,12}?"  # punctuation/space between the tokens of a phrase
_SPACE = re.compile(r"[\s\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+")
_HAN_RE = re.compile(f"[{_HAN}]")


@dataclass(slots=True)
class PageText:
    """A page as stored: number, normalised text, and (offset, original) of changed runs."""

    number: int
    norm: str
    changes: list[tuple[int, str]] = field(default_factory=list)

    @classmethod
    def from_text(cls, number: int, text: str, norm: str | None = None) -> PageText:
        """Normalise ``text`` (unless ``norm`` is given) and record what changed."""
        if norm is None:
            norm = normalize_text(text)
        changed: list[int] = []
        _differences(text, norm, 0, len(text), changed)
        changes: list[tuple[int, str]] = []
        for i in changed:  # runs of consecutive changed characters
            if changes and changes[-1][0] + len(changes[-1][1]) == i:
                changes[-1] = (changes[-1][0], changes[-1][1] + text[i])
            else:
                changes.append((i, text[i]))
        return cls(number, norm, changes)

    def original(self, start: int = 0, end: int | None = None) -> str:
        """The original text of ``[start, end)``."""
        end = len(self.norm) if end is None else end
        text = self.norm[start:end]
        touched = [(o, run) for o, run in self.changes if o < end and o + len(run) > start]
        if not touched:
            return text
        chars = list(text)
        for offset, run in touched:
            for i, c in enumerate(run, offset):
                if start <= i < end:
                    chars[i - start] = c
        return "".join(chars)

    def to_json(self) -> list[object]:
        return [self.number, self.norm, [list(c) for c in self.changes]]

    @classmethod
    def from_json(cls, value: list) -> PageText:  # type: ignore[type-arg]
        number, norm, changes = value
        return cls(number, norm, [(o, run) for o, run in changes])


def _differences(a: str, b: str, lo: int, hi: int, out: list[int]) -> None:
    """Indexes in [lo, hi) where two strings of equal length differ (few, usually): halve
    the range while the slices differ, so equal stretches cost one C comparison."""
    if a[lo:hi] == b[lo:hi]:
        return
    if hi - lo <= 32:
        out.extend(i for i in range(lo, hi) if a[i] != b[i])
        return
    mid = (lo + hi) // 2
    _differences(a, b, lo, mid, out)
    _differences(a, b, mid, hi, out)


def token_pattern(token: str) -> str:
    """Pattern of one query token in normalised text; it starts with a literal character."""
    first, rest = re.escape(token[0]), token[1:]
    if is_code(token):
        # (?<![0-9a-z.]x) after the first character x: not glued to a digit, letter or dot
        return f"{first}(?<![0-9a-z.]{first}){re.escape(rest)}(?![0-9a-z]|\\.\\d|-\\d)"
    if all(_HAN_RE.match(c) for c in token):
        return _WRAP.join(re.escape(c) for c in token)
    pattern = first
    if token[0].isalnum():
        pattern += f"(?<![0-9a-z]{first})"
    pattern += re.escape(rest)
    if token[-1].isalnum():
        pattern += "(?![0-9a-z])"
    return pattern


@dataclass(frozen=True, slots=True)
class _Clause:
    pattern: re.Pattern[str]
    literal: str | None  # Han word: counted with str.count on the unwrapped text
    weight: float
    mark: bool  # marked in snippets (a lone 年 of 2035年 is not: the pair is)


@dataclass(frozen=True, slots=True)
class PageMatcher:
    """The query's clauses as patterns: ranks the pages of a hit and cuts snippets."""

    clauses: tuple[_Clause, ...]

    @classmethod
    def for_query(cls, parsed: ParsedQuery, idf: Callable[[str], float]) -> PageMatcher:
        """Patterns of the words, codes and phrases of ``parsed``; ``idf`` weighs a token."""
        in_chunks = {t for chunk in parsed.nearby for t in chunk}
        clauses = []
        for token in [t.text for t in parsed.terms] + list(parsed.codes):
            han = all(_HAN_RE.match(c) for c in token)
            pattern = re.compile(token_pattern(token))
            mark = len(token) > 1 or token not in in_chunks
            clauses.append(_Clause(pattern, token if han else None, idf(token), mark))
        for phrase in parsed.phrases + parsed.nearby:
            pattern = re.compile(_GAP.join(token_pattern(t) for t in phrase))
            clauses.append(_Clause(pattern, None, max(idf(t) for t in phrase), True))
        for seq in parsed.sequences:  # an identifier as written: its page comes first
            pattern = re.compile(_GAP.join(token_pattern(t) for t in seq.tokens))
            clauses.append(_Clause(pattern, None, SEQUENCE_SCORE, True))
        return cls(tuple(clauses))

    def rank(self, pages: Iterable[PageText]) -> list[int]:
        """Numbers of the pages where the query matches, best first, ties by page number.

        A page scores the sum over the clauses found on it of idf x (1 + ln count).
        """
        scored = []
        for page in pages:
            norm = page.norm
            flat = None
            score = 0.0
            for clause in self.clauses:
                if clause.literal is not None:
                    if flat is None:
                        flat = norm.replace("\r", "").replace("\n", "") if "\n" in norm else norm
                    n = flat.count(clause.literal)
                else:
                    n = sum(1 for _ in clause.pattern.finditer(norm))
                if n:
                    score += clause.weight * (1.0 + math.log(n))
            if score > 0:
                scored.append((-score, page.number))
        scored.sort()
        return [number for _, number in scored]

    def matches(self, norm: str) -> list[tuple[int, int, int]]:
        """(start, end, clause) of the matches in normalised text, in order, no overlaps."""
        found = []
        for k, clause in enumerate(self.clauses):
            if not clause.mark:
                continue
            for n, m in enumerate(clause.pattern.finditer(norm)):
                if n >= _MAX_MATCHES:
                    break
                found.append((m.start(), -m.end(), k))
        found.sort()
        out = []
        last = 0
        for start, neg_end, k in found:
            if start >= last:
                out.append((start, -neg_end, k))
                last = -neg_end
        return out

    def snippet(self, page: PageText, size: int = SNIPPET_CHARS) -> str:
        """HTML of the best window of a page: escaped, matches in <mark>, "…" where cut."""
        found = self.matches(page.norm)
        start, end = _best_window(found, len(page.norm), size)
        inside = [(s, e) for s, e, _ in found if s >= start and e <= end]
        return _render(page, start, end, inside)


def _best_window(found: list[tuple[int, int, int]], length: int, size: int) -> tuple[int, int]:
    """The window of ``size`` characters with the most distinct clauses, then matches."""
    if not found:
        return 0, min(length, size)
    best = (-1, -1, 0)
    j = 0
    for i, (s, _, _) in enumerate(found):
        limit = s + size - LEAD_CHARS
        j = max(j, i)
        while j + 1 < len(found) and found[j + 1][1] <= limit:
            j += 1
        window = found[i : j + 1]
        score = (len({k for _, _, k in window}), len(window), -s)
        if score > best:
            best = score
    first = -best[2]
    start = max(0, first - LEAD_CHARS)
    end = min(length, start + size)
    start = max(0, min(start, end - size))
    return start, end


_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use placeholders for <mark> and </mark>
_MARKERS = re.compile("[\ue000\ue001]")
_HAN_WRAP = re.compile(
    rf"(?<=[{_HAN}{_OPEN}{_CLOSE}])[ \t\r\f\v\u3000]*\n\s*(?=[{_HAN}{_OPEN}{_CLOSE}])"
)


def _render(page: PageText, start: int, end: int, marks: list[tuple[int, int]]) -> str:
    """Original text of the window, whitespace collapsed (wraps inside Han text dropped),
    HTML-escaped, then the marks inserted."""
    text = page.original(start, end) if page.changes else page.norm[start:end]
    if _OPEN in text or _CLOSE in text:
        text = _MARKERS.sub("\ufffd", text)  # same length: the offsets stay valid
    parts = []
    pos = 0
    for s, e in marks:
        parts += [text[pos : s - start], _OPEN, text[s - start : e - start], _CLOSE]
        pos = e - start
    parts.append(text[pos:])
    out = "".join(parts)
    if "\n" in out:
        out = _HAN_WRAP.sub("", out)
    out = html.escape(_SPACE.sub(" ", out), quote=False).strip()
    out = out.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")
    return ("…" if start > 0 else "") + out + ("…" if end < len(page.norm) else "")
