"""Figures as written in reports: "≥ 500", "8-10", "16.5%", "1:1", "--", "立项1个…".

A cell is a number only when it reads as one: a comparator, a number (or a range, or a
ratio ``a:b``), an optional ``%`` and at most a short unit. Anything else (a sentence, a
formula such as "月收入 × 110%", a dash) is text and stays text: it is never guessed at.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

# Cells meaning "no figure" (dashes, slashes, 无).
EMPTY_MARKS = frozenset({"", "-", "--", "---", "—", "——", "–", "/", "\\", "无", "n/a", "na", "—/—"})

_COMPARATORS = (
    ("≥", "≥"),
    (">=", "≥"),
    ("不少于", "≥"),
    ("不低于", "≥"),
    ("至少", "≥"),
    ("大于等于", "≥"),
    ("≤", "≤"),
    ("<=", "≤"),
    ("不超过", "≤"),
    ("不高于", "≤"),
    ("不多于", "≤"),
    ("小于等于", "≤"),
    (">", ">"),
    ("大于", ">"),
    ("超过", ">"),
    ("<", "<"),
    ("小于", "<"),
)
_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_FIGURE_RE = re.compile(
    rf"^(?P<a>{_NUMBER})(?P<pa>%)?"
    rf"(?:(?P<sep>[-~～至:])(?P<b>{_NUMBER})(?P<pb>%)?)?"
    r"(?P<unit>[^\d]{0,4})$"
)
# A short unit after the number is allowed ("5个", "3000万元"); longer text makes it a sentence.
_UNIT_OK_RE = re.compile(r"^[\u4e00-\u9fffA-Za-z/·]*$")


@dataclass(frozen=True)
class Figure:
    """A number read from a cell: value, comparator ("" / ≥ / ≤ / > / <) and percent mark."""

    value: float
    op: str = ""
    percent: bool = False
    text: str = ""

    @property
    def lower_is_better(self) -> bool:
        return self.op in ("≤", "<")


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), LaTeX comparison marks to symbols, no spaces."""
    t = unicodedata.normalize("NFKC", text or "")
    for latex, symbol in (
        ("\\geqslant", "≥"),
        ("\\leqslant", "≤"),
        ("\\geq", "≥"),
        ("\\leq", "≤"),
        ("\\ge", "≥"),
        ("\\le", "≤"),
        ("\\gt", ">"),
        ("\\lt", "<"),
        ("\\times", "×"),
        ("\\%", "%"),
    ):
        t = t.replace(latex, symbol)
    t = t.replace("$", "").replace("≧", "≥").replace("≦", "≤").replace("⩾", "≥").replace("⩽", "≤")
    return re.sub(r"\s+", "", t)


def _to_float(text: str) -> float:
    return float(text.replace(",", ""))


def parse_figure(text: str) -> Figure | None:
    """The number a target or achieved cell states, or None when it is not one."""
    raw = (text or "").strip()
    t = normalize(raw)
    if t.lower() in EMPTY_MARKS:
        return None
    op = ""
    for word, symbol in _COMPARATORS:
        if t.startswith(word):
            op, t = symbol, t[len(word) :]
            break
    m = _FIGURE_RE.match(t)
    if not m:
        return None
    unit = m.group("unit")
    if unit and (unit == "%" or not _UNIT_OK_RE.match(unit)):
        return None
    a = _to_float(m.group("a"))
    percent = bool(m.group("pa") or m.group("pb"))
    if m.group("b") is not None:
        b = _to_float(m.group("b"))
        if m.group("sep") == ":":
            if b == 0:
                return None
            value = a / b  # 1:1 -> 1.0; 18:1 -> 18.0
        elif a <= b:
            # a range such as 8-10: the lower bound is what has to be reached
            value = a
        else:
            return None
    else:
        value = a
    if not math.isfinite(value):
        return None
    return Figure(value=value, op=op, percent=percent, text=raw)


def parse_percent(text: str) -> tuple[float | None, int]:
    """A reported completion in percent ("200%" -> 200.0) and its decimal places.

    A bare number is read as percent as well ("100" -> 100.0): the column is a percentage.
    """
    t = normalize(text)
    m = re.match(rf"^({_NUMBER})%?$", t)
    if not m:
        return None, 0
    number = m.group(1)
    decimals = len(number.split(".", 1)[1]) if "." in number else 0
    return _to_float(number), decimals


def decimals_of(text: str) -> int:
    return parse_percent(text)[1]
