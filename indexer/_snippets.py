"""Snippets: the best window of a page's text around the query's matches, as safe HTML.

The page text is HTML-escaped first and the matches are wrapped in ``<mark>`` afterwards,
so nothing from a document can inject markup. Matching runs on the normalised text (same
length as the original, see ``normalize_text``), with the query's tokens: a Han word also
matches across a line wrap (产教\\n融合), a code or Latin word only as a whole token.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from indexer._query import ParsedQuery
from indexer._tokenize import _HAN, is_code, normalize_text

#: Characters of original text per snippet (before whitespace is collapsed).
SNIPPET_CHARS = 140
#: Characters of context kept before the first match of the window.
LEAD_CHARS = 24
_MAX_MATCHES = 400

_WRAP = r"(?:[ \t\r\f\v]*\n[ \t\r\f\v\n]*)?"  # a line wrap inside a Han word
_GAP = r"[\W_]{0,12}?"  # punctuation/space between the tokens of a phrase
_SPACE = re.compile(r"[\s\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+")
_HAN_RE = re.compile(f"[{_HAN}]")


def _token_pattern(token: str) -> str:
    if is_code(token):
        return r"(?<![0-9a-z.])" + re.escape(token) + r"(?![0-9a-z]|\.\d|-\d)"
    if _HAN_RE.fullmatch(token[0]) and all(_HAN_RE.fullmatch(c) for c in token):
        return _WRAP.join(re.escape(c) for c in token)
    pattern = re.escape(token)
    if token[0].isalnum():
        pattern = r"(?<![0-9a-z])" + pattern
    if token[-1].isalnum():
        pattern += r"(?![0-9a-z])"
    return pattern


@dataclass(frozen=True, slots=True)
class Highlighter:
    """A compiled matcher for one query; ``snippet(text)`` gives the HTML of one page."""

    pattern: re.Pattern[str] | None
    groups: int

    @classmethod
    def for_query(cls, parsed: ParsedQuery) -> Highlighter:
        """Build the matcher of a parsed query (words, phrases and codes)."""
        alternatives: list[str] = []
        for phrase in sorted(parsed.phrases, key=len, reverse=True):
            alternatives.append(_GAP.join(_token_pattern(t) for t in phrase))
        words = [t.text for t in parsed.terms] + list(parsed.codes)
        for word in sorted(words, key=len, reverse=True):
            alternatives.append(_token_pattern(word))
        if not alternatives:
            return cls(None, 0)
        joined = "|".join(f"({a})" for a in alternatives)
        return cls(re.compile(joined), len(alternatives))

    def matches(self, text: str) -> list[tuple[int, int, int]]:
        """(start, end, alternative) of each match in ``text``, in order."""
        if self.pattern is None:
            return []
        out = []
        for m in self.pattern.finditer(normalize_text(text)):
            if m.end() > m.start():
                out.append((m.start(), m.end(), m.lastindex or 0))
                if len(out) >= _MAX_MATCHES:
                    break
        return out

    def snippet(self, text: str, size: int = SNIPPET_CHARS) -> str:
        """HTML of the best window of ``text``: escaped, matches in <mark>, "…" where cut."""
        found = self.matches(text)
        start, end = _best_window(found, len(text), size)
        inside = [(s, e) for s, e, _ in found if s >= start and e <= end]
        return _render(text, start, end, inside)


def _best_window(found: list[tuple[int, int, int]], length: int, size: int) -> tuple[int, int]:
    """The window of ``size`` characters with the most distinct alternatives, then matches."""
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


def _clean(text: str, full: str, start: int) -> str:
    """Collapse whitespace of ``text`` (= ``full[start:...]``); drop wraps inside Han words."""

    def repl(m: re.Match[str]) -> str:
        a, b = start + m.start(), start + m.end()
        before = full[a - 1] if a > 0 else ""
        after = full[b] if b < len(full) else ""
        if "\n" in m.group() and _HAN_RE.match(before) and _HAN_RE.match(after):
            return ""
        return " "

    return _SPACE.sub(repl, text)


def _render(text: str, start: int, end: int, marks: list[tuple[int, int]]) -> str:
    parts = ["…"] if start > 0 else []
    pos = start
    for s, e in marks:
        if s < pos:
            continue
        parts.append(html.escape(_clean(text[pos:s], text, pos), quote=False))
        parts.append("<mark>" + html.escape(_clean(text[s:e], text, s), quote=False) + "</mark>")
        pos = e
    parts.append(html.escape(_clean(text[pos:end], text, pos), quote=False))
    if end < len(text):
        parts.append("…")
    return "".join(parts).strip()
