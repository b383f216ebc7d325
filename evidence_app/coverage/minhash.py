"""Near-identical texts: MinHash signatures and LSH candidates (see ``findings``).

One-permutation MinHash with rotation densification, 128 bins, over character 5-gram
shingles of the text with spaces and punctuation removed; LSH banding, 32 bands of 4 rows.
Kept apart from ``findings`` so that numpy is imported only when duplicates are computed.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

SHINGLE = 5
NUM_BINS = 128
BANDS = 32
ROWS = NUM_BINS // BANDS
MIN_TEXT_CHARS = 30


_NON_WORD = re.compile(r"[\W_]+")
_BASE = np.uint64(0x100000001B3)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_BIN_SHIFT = np.uint64(64 - 7)  # 128 bins: the top 7 bits choose the bin
_VALUE_MASK = np.uint64((1 << 57) - 1)
_EMPTY = np.uint64((1 << 64) - 1)


def normalize_text(text: str) -> str:
    """NFKC, without spaces and punctuation: what remains is what two copies share."""
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", text)).lower()


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads the rolling hashes over all 64 bits."""
    h = h ^ (h >> np.uint64(30))
    h = h * _MIX1
    h = h ^ (h >> np.uint64(27))
    h = h * _MIX2
    return h ^ (h >> np.uint64(31))


def shingle_hashes(text: str, k: int = SHINGLE) -> np.ndarray:
    """The sorted, distinct 64-bit hashes of the text's character k-grams."""
    t = normalize_text(text)
    if len(t) < max(k, MIN_TEXT_CHARS):
        return np.empty(0, dtype=np.uint64)
    cps = np.frombuffer(t.encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    n = len(cps) - k + 1
    h = np.zeros(n, dtype=np.uint64)
    for j in range(k):  # polynomial rolling hash, wrapping mod 2**64
        h = h * _BASE + cps[j : j + n]
    h = _mix(h)
    h.sort()
    keep = np.empty(len(h), dtype=bool)
    keep[0] = True
    np.not_equal(h[1:], h[:-1], out=keep[1:])
    return h[keep]


def minhash_signature(hashes: np.ndarray) -> np.ndarray:
    """One-permutation MinHash: the least value per bin; empty bins borrow the next
    non-empty bin's value, offset by the distance (rotation densification)."""
    bins = (hashes >> _BIN_SHIFT).astype(np.int64)
    values = hashes & _VALUE_MASK
    sig = np.full(NUM_BINS, _EMPTY, dtype=np.uint64)
    # hashes are sorted, and the bin is their top bits: the first of each bin is its least
    first = np.flatnonzero(np.diff(bins, prepend=-1))
    present = bins[first]
    sig[present] = values[first]
    if len(present) < NUM_BINS:
        filled = sig != _EMPTY
        idx = np.flatnonzero(filled)
        for i in np.flatnonzero(~filled):
            j = idx[np.searchsorted(idx, i) % len(idx)]
            distance = int(j - i) % NUM_BINS
            sig[i] = sig[j] + np.uint64(distance << 57)
    return sig


def lsh_candidates(signatures: dict[int, np.ndarray]) -> set[tuple[int, int]]:
    """Pairs of documents agreeing on all rows of at least one band.

    Each band's rows are hashed to one 64-bit key per document (vectorised); documents with
    equal keys are found by sorting. A key collision only adds a candidate, which the exact
    comparison then drops."""
    pairs: set[tuple[int, int]] = set()
    if len(signatures) < 2:
        return pairs
    ids = np.array(sorted(signatures), dtype=np.int64)
    matrix = np.stack([signatures[int(i)] for i in ids])
    for band in range(BANDS):
        key = np.zeros(len(ids), dtype=np.uint64)
        for row in range(band * ROWS, (band + 1) * ROWS):
            key = _mix(key ^ matrix[:, row])
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        same = np.flatnonzero(ordered[1:] == ordered[:-1])
        if not len(same):
            continue
        # runs of equal keys: every pair inside a run is a candidate
        start = None
        for pos in range(len(ordered)):
            in_run = pos < len(ordered) - 1 and ordered[pos] == ordered[pos + 1]
            if start is None and in_run:
                start = pos
            elif start is not None and not in_run:
                members = sorted(int(ids[order[i]]) for i in range(start, pos + 1))
                for i, a in enumerate(members):
                    for b in members[i + 1 :]:
                        pairs.add((a, b))
                start = None
    return pairs


def signature_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """The share of bins two signatures agree on: an estimate of the Jaccard similarity."""
    return float(np.mean(a == b))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if not len(a) or not len(b):
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)
