"""Chinese tokenizing for the search index: jieba segmentation (via rjieba) plus our own rules.

One tokenizer serves indexing, query parsing and highlighting, so a query term is always
spelled the way the index spells it. The rules, in order of precedence:

- Text is normalised per character (NFKC, lowercase) without changing its length, so token
  offsets point into the ORIGINAL text (snippets are cut from the original).
- A line break between two Han characters is ignored ("产教\\n融合" gives 产教融合): PDF text
  layers break lines in the middle of words.
- Evidence and indicator codes (``2.3.4-1``, ``2.3.6-7-2``, ``1.1.5.1``) are one token:
  digits separated by dots (at least one dot), optionally followed by ``-n`` parts.
  ``2020-2022`` (no dot) is two numbers, ``〔2022〕24号`` is 2022 / 24 / 号.
- Mixed Latin user words such as ``1+X`` are one token (``1+x``).
- Runs of letters/digits are one token each (``bim``, ``2022``); they split from Han text.
- Han runs are segmented by jieba with the bundled domain dictionary. With ``search=True``
  (indexing) the parts of a word of 3+ characters are emitted too (every 2-character part
  and the 3-character dictionary words), at the SAME position as the word (产教融合 at n,
  and 产教, 教融, 融合 at n), so a phrase query works for the whole word and for each
  part next to its neighbours.
- Punctuation and spaces are not tokens. Positions are token ordinals 0, 1, 2, ...
"""

from __future__ import annotations

import hashlib
import operator
import re
import threading
import time
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import rjieba

#: jieba's HMM guesses words missing from the dictionary (names such as 迅达, 长隆).
HMM = True
#: Longest user word accepted by ``add_user_words``; longer strings are titles, not words.
MAX_USER_WORD_LEN = 8
#: Dictionary frequency given to user words: high enough that a domain word is cut out of
#: running text (产教融合 in 深化产教融合), low enough not to swallow neighbours.
USER_WORD_FREQ = 100

DOMAIN_WORDS_FILE = Path(__file__).parent / "data" / "domain_words.txt"

_HAN = "\u3005\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN_CHAR = re.compile(f"[{_HAN}]")
#: Punctuation that may sit inside a span handed to jieba (jieba yields it as its own token).
_CJK_PUNCT = "，。、；：？！“”‘’（）《》〈〉【】「」『』〔〕…—～·・"
_SPACE_CHARS = " \t\r\f\v\u3000\n"
_SKIP = frozenset(_CJK_PUNCT + _SPACE_CHARS)
#: A span of Han text for jieba: Han characters, with CJK punctuation and spaces inside.
_HAN_SPAN = rf"[{_HAN}](?:[{_HAN}{_CJK_PUNCT}\s]*[{_HAN}])?"
#: A line break between two Han characters (with the spaces around it): removed.
_WRAP = re.compile(rf"(?<=[{_HAN}])[ \t\r\f\v\u3000]*\n[ \t\r\f\v\u3000\n]*(?=[{_HAN}])")
#: A code: digits.digits[.digits...][-n[-n...]], not glued to letters/digits/dots around it.
CODE_PATTERN = r"(?<![0-9a-z.])\d++(?:\.\d++)++(?:-\d++)*+(?![0-9a-z])"
CODE_RE = re.compile(CODE_PATTERN)
_CODE_FULL = re.compile(r"\d+(?:\.\d+)+(?:-\d+)*")
_WORD = rf"[^\W_{_HAN}]+"
_MIXED_WORD = re.compile(r"[0-9a-z][0-9a-z+#&.\-]*[0-9a-z+#]")
_MIXED_NEEDS = re.compile(r"[+#&.\-]")


class Token(NamedTuple):
    """One token: text (normalised), ordinal position, offsets [start, end) in the original."""

    text: str
    position: int
    start: int
    end: int


#: Frequent full-width punctuation left as it is: never part of a token, and skipping it
#: keeps normalising Chinese text cheap (most pages then need no per-character work).
_KEEP = frozenset("，（）：；！？\u3000")


def _norm_char(char: str) -> str:
    """NFKC + lowercase of one character, or the character itself if that changes length."""
    norm = unicodedata.normalize("NFKC", char.lower()).lower()
    if len(norm) == 1:
        return norm
    low = char.lower()  # ㈠ -> (一), ﬁ -> fi would shift the offsets: keep the character
    return low if len(low) == 1 else char


#: The blocks holding every character that NFKC changes (the test checks all of Unicode).
_NORM_BLOCKS = (
    (0x00A0, 0x3400),
    (0xA600, 0xAC00),
    (0xF900, 0xFFF0),
    (0x10700, 0x10800),
    (0x1D400, 0x1D800),
    (0x1EE00, 0x1EF00),
    (0x1F100, 0x1F300),
    (0x1FB00, 0x1FC00),
    (0x2F800, 0x2FA20),
)
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def changed_chars(codes: Iterable[int]) -> dict[str, str]:
    """The characters among ``codes`` that normalising changes, with their normal form."""
    table: dict[str, str] = {}
    for code in codes:
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        if char in _KEEP or unicodedata.is_normalized("NFKC", char.lower()):
            continue
        norm = _norm_char(char)
        if norm != char:
            table[char] = norm
    return table


def _char_class(chars: Iterable[str]) -> str:
    codes = sorted(ord(c) for c in chars)
    ranges: list[str] = []
    i = 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        a, b = re.escape(chr(codes[i])), re.escape(chr(codes[j]))
        ranges.append(a if i == j else f"{a}-{b}")
        i = j + 1
    return f"[{''.join(ranges)}]+"


class _Norm(NamedTuple):
    table: dict[str, str]
    bmp: re.Pattern[str]  # a class of BMP characters only: the regex engine uses a bitmap
    astral: re.Pattern[str]


_NORM: _Norm | None = None


def _norm_tables() -> _Norm:
    global _NORM
    if _NORM is None:
        table = changed_chars(c for a, b in _NORM_BLOCKS for c in range(a, b))
        bmp = _char_class(c for c in table if ord(c) < 0x10000)
        astral = _char_class(c for c in table if ord(c) >= 0x10000)
        _NORM = _Norm(table, re.compile(bmp), re.compile(astral))
    return _NORM


def normalize_text(text: str) -> str:
    """Return ``text`` normalised per character (NFKC, lowercase) with the same length.

    Characters whose normal form is longer (㈠, ﬁ) are kept, so offsets into the result are
    offsets into ``text``; frequent full-width punctuation (，（）：；！？ and the ideographic
    space) is kept too, since it never belongs to a token.
    """
    low = text.lower()
    if len(low) != len(text):  # İ lowercases to two characters: go one by one
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    if low.isascii():
        return low
    norm = _norm_tables()
    table = norm.table

    def repl(m: re.Match[str]) -> str:
        return "".join(table[c] for c in m.group())

    low = norm.bmp.sub(repl, low)
    if _ASTRAL.search(low):
        low = norm.astral.sub(repl, low)
    return low


def is_code(text: str) -> bool:
    """Whether ``text`` is an evidence or indicator code such as ``2.3.4-1`` or ``1.1.5.1``."""
    return _CODE_FULL.fullmatch(normalize_text(text.strip())) is not None


def is_han(char: str) -> bool:
    """Whether ``char`` is a Han character (the characters jieba segments)."""
    return _HAN_CHAR.match(char) is not None


class _Dictionary:
    """The jieba segmenter with the domain and user words; ONE per process.

    A segmenter holds jieba's whole dictionary (about 24 MB), so the process keeps one:
    rjieba's own default instance, built when rjieba is imported, gets the bundled words
    and then the user words, in place. rjieba releases the GIL while it cuts and refuses to
    change a segmenter that another thread is cutting with ("Already borrowed"): adding a
    word waits for that cut to end (``_add_word``). A segmenter marked ``frozen`` (a snapshot
    held elsewhere, as the tests do) is never changed: the next add copies it first.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jieba: rjieba.Jieba | None = None
        self.frozen = False
        self.words: dict[str, int] = {}  # Han user word -> dictionary frequency given
        self.runtime_words: set[str] = set()  # added by add_user_words (not bundled)
        self.mixed_words: set[str] = set()
        self.fingerprint: str | None = None
        self.pattern = _build_pattern(())

    @property
    def jieba(self) -> rjieba.Jieba:
        seg = self._jieba
        if seg is None:
            with self._lock:
                if self._jieba is None:
                    base = getattr(rjieba, "_DEFAULT_JIEBA", None) or rjieba.Jieba()
                    self._add(base, _read_word_file(DOMAIN_WORDS_FILE), runtime=False)
                    self._jieba = base
                seg = self._jieba
        assert seg is not None
        return seg

    def add(self, words: Iterable[str]) -> int:
        self.jieba  # noqa: B018 - the bundled words come first
        with self._lock:
            seg = self._jieba
            assert seg is not None
            if self.frozen:
                copy = rjieba.Jieba()
                for word, freq in self.words.items():
                    copy.add_word(word, freq, None)
                seg = copy
            added = self._add(seg, words, runtime=True)
            if added and seg is not self._jieba:
                self._jieba = seg
                self.frozen = False
            return added

    def _add(self, seg: rjieba.Jieba, words: Iterable[str], runtime: bool) -> int:
        known = self.words.keys() | self.mixed_words
        new = list(dict.fromkeys(w for w in map(_user_word, words) if w and w not in known))
        if not new:
            return 0
        mixed = [w for w in new if not _HAN_CHAR.match(w)]
        for word in new:
            if _HAN_CHAR.match(word):
                freq = max(USER_WORD_FREQ, seg.suggest_freq(word))
                _add_word(seg, word, freq)
                self.words[word] = freq
                if runtime:
                    self.runtime_words.add(word)
        if mixed:
            self.mixed_words.update(mixed)
            self.pattern = _build_pattern(self.mixed_words)
        self.fingerprint = None
        _split_word.cache_clear()
        return len(new)


def _add_word(seg: rjieba.Jieba, word: str, freq: int, wait: float = 30.0) -> None:
    """``seg.add_word``, retried while another thread is cutting with ``seg``."""
    deadline = time.monotonic() + wait
    while True:
        try:
            seg.add_word(word, freq, None)
            return
        except RuntimeError as e:  # "Already borrowed": a cut in progress (GIL released)
            if "borrow" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.001)


def _user_word(raw: str) -> str | None:
    """The normalised form of a user word, or None if it cannot be a dictionary word."""
    word = normalize_text(raw.strip())
    if not 2 <= len(word) <= MAX_USER_WORD_LEN:
        return None
    if all(is_han(c) for c in word):
        return word
    # Latin words with inner symbols (1+x, c++); plain letters/digits are tokens already.
    if _MIXED_WORD.fullmatch(word) and _MIXED_NEEDS.search(word) and not is_code(word):
        return word
    return None


def _read_word_file(path: Path) -> list[str]:
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            words.append(line.split()[0])
    return words


def _build_pattern(mixed_words: Iterable[str]) -> re.Pattern[str]:
    # Han runs first: most of the text, and no other alternative starts with a Han character
    alternatives = [f"(?P<han>{_HAN_SPAN})", f"(?P<code>{CODE_PATTERN})"]
    mixed = sorted(mixed_words, key=len, reverse=True)
    if mixed:
        joined = "|".join(re.escape(w) for w in mixed)
        alternatives.append(f"(?P<mixed>(?<![0-9a-z])(?:{joined})(?![0-9a-z]))")
    alternatives.append(f"(?P<word>{_WORD})")
    return re.compile("|".join(alternatives))


_DICT = _Dictionary()


def add_user_words(words: Iterable[str]) -> int:
    """Add words (2-8 characters) to the dictionary of this process; return how many were new.

    Strings that cannot be words (too long, punctuation, Han mixed with Latin) are skipped.
    Call it with the same words in every process before indexing or searching; documents
    indexed before a word was added still match it (queries also try the word's parts).
    """
    return _DICT.add(words)


def dictionary_fingerprint() -> str:
    """A short hash of every dictionary word added (bundled and runtime).

    Tokens depend on the dictionary: store this with an index and rebuild the index when
    it differs (documents indexed before a word was added are still found, less precisely).
    """
    _DICT.jieba  # noqa: B018 - the bundled words are loaded with the segmenter
    if _DICT.fingerprint is None:
        text = "\n".join(sorted(_DICT.words) + sorted(_DICT.mixed_words))
        _DICT.fingerprint = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return _DICT.fingerprint


def user_words() -> dict[str, int]:
    """The Han words added to the dictionary (bundled and runtime), with their frequencies."""
    _DICT.jieba  # noqa: B018 - loads the bundled words
    return dict(_DICT.words)


def han_spans(text: str) -> list[str]:
    """The Han spans of ``text`` as the tokenizer hands them to jieba (line wraps removed)."""
    spans = []
    for m in _DICT.pattern.finditer(normalize_text(text)):
        if m.lastgroup == "han":
            span = m.group()
            spans.append(_WRAP.sub("", span) if "\n" in span else span)
    return spans


def has_word(word: str) -> bool:
    """Whether ``word`` is in the dictionary (jieba's, the domain words or a user word)."""
    return _DICT.jieba.has_word(normalize_text(word))


def segment(text: str, *, search: bool = False) -> list[str]:
    """jieba segmentation of a Han run with our dictionary (no normalising, no rules)."""
    if search:
        return _DICT.jieba.cut_for_search(text, HMM)
    return _DICT.jieba.cut(text, HMM)


@lru_cache(maxsize=65536)
def _split_word(word: str) -> tuple[tuple[str, int, int], ...]:
    """The parts of a Han word of 3+ characters, indexed at the word's position, with offsets.

    Every 2-character part (jieba's search mode keeps only dictionary words; all bigrams
    also find HMM words such as 思政 inside 思政课: 97.7 % instead of 96.3 % of the words'
    occurrences in the seed texts are found), then every dictionary word of 3 or more
    characters inside the word (jieba's search mode stops at 3: 人才培养 would not be
    found inside 人才培养方案).
    """
    n = len(word)
    if n <= 2 or not _HAN_CHAR.match(word):
        return ()
    subs = [(word[i : i + 2], i, i + 2) for i in range(n - 1)]
    has_word = _DICT.jieba.has_word
    for size in range(3, n):
        subs += [(w, i, i + size) for i in range(n - size + 1) if has_word(w := word[i : i + size])]
    return tuple(subs)


def subwords(word: str) -> list[str]:
    """The parts of ``word`` that indexing emits at the word's position (see _split_word)."""
    return [w for w, _, _ in _split_word(word)]


def tokenize(text: str, *, search: bool = True) -> list[Token]:
    """Tokenize ``text``; offsets refer to ``text`` itself, positions are token ordinals.

    ``search=True`` (indexing) adds the parts of longer words at the word's position;
    ``search=False`` (queries) gives each word once.
    """
    return [Token._make(t) for t in raw_tokens(text, search=search)]


RawToken = tuple[str, int, int, int]


def raw_tokens(
    text: str, *, search: bool = True, start_pos: int = 0, normalized: bool = False
) -> list[RawToken]:
    """``tokenize`` as plain (text, position, start, end) tuples, positions from ``start_pos``.

    ``normalized``: ``text`` is already the result of ``normalize_text``. The indexer's hot
    path: a Python loop per token is the cost here, so it stays small.
    """
    norm = text if normalized else normalize_text(text)
    cut = _DICT.jieba.cut
    split = _split_word
    skip = _SKIP
    out: list[RawToken] = []
    append = out.append
    pos = start_pos
    for m in _DICT.pattern.finditer(norm):
        base, stop = m.span()
        if m.lastgroup != "han":
            append((norm[base:stop], pos, base, stop))
            pos += 1
            continue
        span = norm[base:stop]
        if "\n" in span and _WRAP.search(span):
            # line wraps inside Han text: segment without them, map offsets back
            offsets: list[int] = []
            last = 0
            for w in _WRAP.finditer(span):
                offsets.extend(range(base + last, base + w.start()))
                last = w.end()
            offsets.extend(range(base + last, stop))
            s = 0
            for word in cut(_WRAP.sub("", span), HMM):
                e = s + len(word)
                if word[0] not in skip:
                    append((word, pos, offsets[s], offsets[e - 1] + 1))
                    if search and e - s > 2:
                        for sub, ss, se in split(word):
                            append((sub, pos, offsets[s + ss], offsets[s + se - 1] + 1))
                    pos += 1
                s = e
            continue
        s = base
        for word in cut(span, HMM):
            e = s + len(word)
            if word[0] not in skip:
                append((word, pos, s, e))
                if search and e - s > 2:
                    for sub, ss, se in split(word):
                        append((sub, pos, s + ss, s + se))
                pos += 1
            s = e
    return out


_GRAM_RUN = re.compile(r"[^\W_]+")


def char_grams(norm: str) -> list[str]:
    """The overlapping character bigrams of ``norm`` (normalised text), for the grams field.

    Runs of letters, digits and Han characters (line wraps inside Han text removed, other
    punctuation and spaces end a run) give their bigrams in order, a one-character run that
    character: a query's bigrams at consecutive positions find the query as a substring,
    whatever jieba made of the text around it (首家长隆 is 首/家长/隆, the grams hold 长隆).
    """
    if "\n" in norm:
        norm = _WRAP.sub("", norm)
    out: list[str] = []
    for m in _GRAM_RUN.finditer(norm):
        run = m.group()
        if len(run) == 1:
            out.append(run)
        else:
            out.extend(map(operator.add, run[:-1], run[1:]))
    return out
