"""Suggested entries for files without a code, and documents like a given one.

Suggestions rank a framework's catalog entries (and the leaf indicators that have none) by
how well a file fits them: BM25 over character bigrams and jieba words. Each candidate is a
bag of weighted fields (the entry's title, its indicator's name, the parent indicators'
names, the scoring rule, the responsible department); the file's query is its cleaned name, the folders it came from
and the start of its extracted text, the name weighted highest. The model of a framework
is built once and kept in memory, keyed by what would change it.

Similar documents: the same bytes; near-identical text (the MinHash signatures the audit's
duplicate finding stores, or the exact 5-gram Jaccard of the documents found by rare words);
else the rare words two documents share.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from evidence_app.auth.permissions import readable_document_ids, scoped_indicator_ids
from evidence_app.documents import operations as document_service
from indexer import normalize_text, tokenize
from storage import (
    CatalogEntry,
    Document,
    DocumentLink,
    DocumentPage,
    DocumentVersion,
    Framework,
    Indicator,
    TextSignature,
    User,
)

#: How much of a file's extracted text is read (the title and first paragraphs carry it).
BODY_CHARS = 3000
#: The first characters of the text, where a scan's heading usually is, count more: a
#: term's weight halves every HEAD_CHARS characters further down.
HEAD_CHARS = 80
CHUNK_CHARS = 40
DEFAULT_LIMIT = 3
MIN_SCORE = 0.02  # below this a file shares next to nothing with an entry
RELATIVE_FLOOR = 0.25  # suggestions scoring under this share of the best are left out
MAX_LIMIT = 20
MAX_UNLINKED = 500  # files ranked in one `--unlinked` call or page

# query part -> weight of each of its terms
NAME_WEIGHT = 3.0
FOLDER_WEIGHT = 1.5
HEAD_WEIGHT = 3.0
BODY_WEIGHT = 0.2
# candidate field -> weight of its terms in the candidate's bag
TITLE_FIELD = 3.0
INDICATOR_FIELD = 1.0
PARENT_FIELD = 0.4
RULE_FIELD = 0.3
DEPARTMENT_FIELD = 2.0
K1 = 1.2
B = 0.5

_CODE_PREFIX = re.compile(r"^\s*\d+(?:[.．]\d+)+(?:[-－—_]\d+)*[\s_、.．-]*")
_NOISE = re.compile(
    r"(?<![A-Za-z])(?:IMG|DSCN?|VID|PXL|MVIMG|Screenshot|scan)[_\- ]?\d*(?![A-Za-z])"
    r"|扫描件|扫描|复印件|副本|新建文件夹|最终版|终稿|定稿|修改稿|\bcopy\b|\bfinal\b",
    re.IGNORECASE,
)
_EMPTY_BRACKETS = re.compile(r"[(（\[【][\s_\-]*[)）\]】]")
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_DIGITS = re.compile(r"(?<!\d)\d+(?!\d)")
_HAN_RUN = re.compile(r"[\u3400-\u9fff]+")


class SuggestionError(LookupError):
    """A framework or document that does not exist or may not be read."""


# -- terms ----------------------------------------------------------------------------------


def clean_name(name: str) -> str:
    """A file name without extension, evidence code, scanner noise and sequence numbers
    (years stay: 2021 and 2022 tell two otherwise equal entries apart)."""
    stem = name.rsplit("/", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    stem = _CODE_PREFIX.sub("", stem)
    stem = _NOISE.sub(" ", stem)
    stem = _DIGITS.sub(lambda m: m.group() if _YEAR.match(m.group()) else " ", stem)
    stem = _EMPTY_BRACKETS.sub(" ", stem)
    return re.sub(r"[\s_\-]+", " ", stem).strip()


def terms(text: str) -> Counter[str]:
    """The words (two characters or more, years) and Han character bigrams of ``text``."""
    out: Counter[str] = Counter()
    if not text:
        return out
    for token in tokenize(text, search=True):
        word = token.text
        if word.isdigit():
            if _YEAR.match(word):
                out["#" + word] += 1
        elif len(word) > 1:
            out["w" + word] += 1
    for run in _HAN_RUN.findall(normalize_text(text)):
        for i in range(len(run) - 1):
            out[run[i : i + 2]] += 1
    return out


# -- the model of a framework -----------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A target a file can be linked to: a catalog entry, or a leaf indicator without one."""

    code: str
    title: str
    indicator_id: int
    entry_id: int | None = None


@dataclass
class EntryModel:
    candidates: list[Candidate]
    postings: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    idf: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(cls, candidates: list[Candidate], bags: list[dict[str, float]]) -> EntryModel:
        model = cls(candidates)
        lengths = [sum(bag.values()) for bag in bags]
        average = (sum(lengths) / len(lengths)) if lengths else 1.0
        df: Counter[str] = Counter()
        for bag in bags:
            df.update(bag.keys())
        n = len(bags)
        model.idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        for i, bag in enumerate(bags):
            norm = K1 * (1 - B + B * lengths[i] / average)
            for term, tf in bag.items():
                model.postings.setdefault(term, []).append((i, tf * (K1 + 1) / (tf + norm)))
        return model

    def rank(
        self, query: dict[str, float], allowed: set[int] | None, limit: int
    ) -> list[tuple[Candidate, float]]:
        """The best ``limit`` candidates (within ``allowed`` indicator ids), scores 0..1:
        the share of what a candidate holding every query term at its best would score."""
        scores: dict[int, float] = {}
        best = 0.0
        for term, weight in query.items():
            idf = self.idf.get(term)
            if idf is None:
                continue
            best += weight * idf * (K1 + 1)
            for i, part in self.postings[term]:
                scores[i] = scores.get(i, 0.0) + weight * idf * part
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        out: list[tuple[Candidate, float]] = []
        seen: set[str] = set()
        for i, score in ranked:
            candidate = self.candidates[i]
            if allowed is not None and candidate.indicator_id not in allowed:
                continue
            if candidate.code in seen:  # a code listed twice: linking goes by code
                continue
            seen.add(candidate.code)
            out.append((candidate, score / best if best else 0.0))
            if len(out) >= limit:
                break
        return out


_CACHE: OrderedDict[tuple[Any, ...], EntryModel] = OrderedDict()
_CACHE_SIZE = 8
_CACHE_LOCK = threading.Lock()


def _model_key(session: Session, framework: Framework) -> tuple[Any, ...]:
    """What the model is built from, in two aggregate queries: a re-import, an edited title,
    name or scoring rule, an entry added or removed changes it."""
    entries = session.execute(
        select(
            func.count(CatalogEntry.id),
            func.max(CatalogEntry.id),
            func.sum(func.length(CatalogEntry.title)),
            func.sum(func.length(CatalogEntry.code)),
            func.sum(func.length(CatalogEntry.department)),
        ).where(CatalogEntry.framework_id == framework.id)
    ).one()
    indicators = session.execute(
        select(
            func.count(Indicator.id),
            func.max(Indicator.id),
            func.sum(func.length(Indicator.name)),
            func.sum(func.length(Indicator.scoring_rule)),
            func.sum(func.length(Indicator.department)),
        ).where(Indicator.framework_id == framework.id)
    ).one()
    return (framework.id, framework.updated_at, *entries, *indicators)


def entry_model(session: Session, framework: Framework) -> EntryModel:
    """The framework's model, from the cache while the framework is unchanged."""
    key = _model_key(session, framework)
    with _CACHE_LOCK:
        model = _CACHE.get(key)
        if model is not None:
            _CACHE.move_to_end(key)
            return model
    model = _build_model(session, framework.id)
    with _CACHE_LOCK:
        _CACHE[key] = model
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return model


def _weighted(parts: Iterable[tuple[str, float]]) -> dict[str, float]:
    bag: dict[str, float] = {}
    for text, weight in parts:
        for term, tf in terms(text).items():
            bag[term] = bag.get(term, 0.0) + tf * weight
    return bag


def _build_model(session: Session, framework_id: int) -> EntryModel:
    indicators = {
        i.id: i
        for i in session.scalars(select(Indicator).where(Indicator.framework_id == framework_id))
    }

    def parents(indicator: Indicator) -> str:
        names = []
        parent = indicators.get(indicator.parent_id) if indicator.parent_id else None
        while parent is not None:
            names.append(parent.name)
            parent = indicators.get(parent.parent_id) if parent.parent_id else None
        return " ".join(names)

    def department(indicator: Indicator) -> str:
        """The responsible department (责任部门): a folder named by department points to it."""
        node: Indicator | None = indicator
        while node is not None and not node.department:
            node = indicators.get(node.parent_id) if node.parent_id else None
        return node.department if node is not None else ""

    def indicator_parts(indicator: Indicator) -> list[tuple[str, float]]:
        return [
            (indicator.name, INDICATOR_FIELD),
            (parents(indicator), PARENT_FIELD),
            (indicator.scoring_rule, RULE_FIELD),
            (department(indicator), DEPARTMENT_FIELD),
        ]

    candidates: list[Candidate] = []
    bags: list[dict[str, float]] = []
    with_entries: set[int] = set()
    for entry in session.scalars(
        select(CatalogEntry)
        .where(CatalogEntry.framework_id == framework_id)
        .order_by(CatalogEntry.position, CatalogEntry.id)
    ):
        indicator = indicators[entry.indicator_id]
        with_entries.add(indicator.id)
        candidates.append(Candidate(entry.code, entry.title, indicator.id, entry.id))
        parts = indicator_parts(indicator)
        if entry.department:  # the entry's own department replaces its indicator's
            parts[-1] = (entry.department, DEPARTMENT_FIELD)
        bags.append(_weighted([(entry.title, TITLE_FIELD), *parts]))
    has_children = {i.parent_id for i in indicators.values() if i.parent_id}
    for indicator in sorted(indicators.values(), key=lambda i: (i.position, i.id)):
        if indicator.id in with_entries or indicator.id in has_children:
            continue
        candidates.append(Candidate(indicator.code, indicator.name, indicator.id))
        bags.append(_weighted([(indicator.name, TITLE_FIELD), *indicator_parts(indicator)[1:]]))
    return EntryModel.build(candidates, bags)


# -- what a file says ---------------------------------------------------------------------------


def file_query(name: str, folders: str = "", body: str = "") -> dict[str, float]:
    """The weighted terms of a file: its cleaned name, its folders, the start of its text.

    A term of the text weighs by where it first appears (a scan's heading is in its first
    lines: the weight halves every ``HEAD_CHARS`` characters) plus a little per repeat."""
    query: dict[str, float] = {}
    for text, weight in (
        (clean_name(name), NAME_WEIGHT),
        (" ".join(clean_name(f) for f in folders.split("/") if f), FOLDER_WEIGHT),
    ):
        for term, tf in terms(text).items():
            query[term] = query.get(term, 0.0) + weight * tf
    first: dict[str, int] = {}
    counts: Counter[str] = Counter()
    body = body[:BODY_CHARS]
    for start in range(0, len(body), CHUNK_CHARS):
        for term, tf in terms(body[start : start + CHUNK_CHARS + 1]).items():
            first.setdefault(term, start)
            counts[term] += tf
    for term, start in first.items():
        weight = HEAD_WEIGHT * 0.5 ** (start / HEAD_CHARS) + BODY_WEIGHT * math.log1p(counts[term])
        query[term] = query.get(term, 0.0) + weight
    return query


def document_text(session: Session, document_id: int, chars: int = BODY_CHARS) -> str:
    """The first ``chars`` characters of the document's stored pages."""
    parts: list[str] = []
    size = 0
    for text in session.scalars(
        select(DocumentPage.text)
        .where(DocumentPage.document_id == document_id)
        .order_by(DocumentPage.number)
    ):
        parts.append(text or "")
        size += len(text or "")
        if size >= chars:
            break
    return "\n".join(parts)[:chars]


def _name_and_folders(document: Document) -> tuple[str, str]:
    current = document.current
    name = current.original_name if current else document.title
    folders = document.source_path.rsplit("/", 1)[0] if "/" in document.source_path else ""
    return name, folders


# -- use cases ----------------------------------------------------------------------------------


def suggest_for_document(
    session: Session,
    document: Document,
    *,
    user: User | None = None,
    limit: int = DEFAULT_LIMIT,
    framework: Framework | None = None,
) -> dict[str, Any]:
    """``{"document_id", "name", "suggestions": [{"code", "title", "score"}]}`` for one file;
    a limited user's suggestions lie within their indicators; entries the file is already
    linked to are left out."""
    framework = framework or (
        session.get(Framework, document.framework_id) if document.framework_id else None
    )
    name, folders = _name_and_folders(document)
    out: dict[str, Any] = {"document_id": document.id, "name": name, "suggestions": []}
    if framework is None:
        return out
    allowed = scoped_indicator_ids(session, user) if user is not None else None
    model = entry_model(session, framework)
    query = file_query(name, folders, document_text(session, document.id))
    linked = {link.code for link in document.links}
    limit = max(1, min(limit, MAX_LIMIT))
    ranked = model.rank(query, allowed, limit + len(linked))
    floor = max(MIN_SCORE, RELATIVE_FLOOR * ranked[0][1]) if ranked else 0.0
    for candidate, score in ranked:
        if candidate.code in linked:
            continue
        if score < floor:  # a distant runner-up only distracts
            break
        out["suggestions"].append(
            {
                "code": candidate.code,
                "title": candidate.title,
                "score": round(score, 4),
                "kind": "entry" if candidate.entry_id else "indicator",
            }
        )
        if len(out["suggestions"]) >= limit:
            break
    return out


def _unlinked_where(session: Session, framework_id: int, user: User | None) -> list[Any]:
    where = [
        Document.framework_id == framework_id,
        Document.deleted.is_(False),
        ~Document.links.any(DocumentLink.id.is_not(None)),
    ]
    readable = readable_document_ids(session, user) if user is not None else None
    if readable is not None:
        where.append(Document.id.in_(readable))
    return where


def unlinked_documents(
    session: Session,
    framework_id: int,
    user: User | None,
    limit: int = MAX_UNLINKED,
    offset: int = 0,
) -> list[Document]:
    """Files of the framework linked to nothing that the user may read, newest first."""
    where = _unlinked_where(session, framework_id, user)
    return list(
        session.scalars(
            select(Document).where(*where).order_by(Document.id.desc()).limit(limit).offset(offset)
        )
    )


def count_unlinked(session: Session, framework_id: int, user: User | None) -> int:
    where = _unlinked_where(session, framework_id, user)
    return session.scalar(select(func.count(Document.id)).where(*where)) or 0


def suggest_unlinked(
    session: Session, framework_id: int, *, user: User | None = None, limit: int = DEFAULT_LIMIT
) -> list[dict[str, Any]]:
    framework = get_framework(session, framework_id)
    return [
        suggest_for_document(session, d, user=user, limit=limit, framework=framework)
        for d in unlinked_documents(session, framework_id, user)
    ]


def active_frameworks(session: Session) -> list[Framework]:
    """Frameworks not archived, newest first (the page's choice)."""
    return list(
        session.scalars(
            select(Framework).where(Framework.archived_at.is_(None)).order_by(Framework.id.desc())
        )
    )


def get_framework(session: Session, framework_id: int) -> Framework:
    framework = session.get(Framework, framework_id)
    if framework is None:
        raise SuggestionError(f"指标体系 {framework_id} 不存在")
    return framework


def accept_suggestion(
    session: Session, document: Document, code: str, user: User | None
) -> DocumentLink:
    """Link the document to a suggested code through the documents' link use case (audit,
    the index following); a limited user may only link within their indicators."""
    scope = scoped_indicator_ids(session, user) if user is not None else None
    if scope is not None:
        entry = session.scalars(
            select(CatalogEntry).where(
                CatalogEntry.framework_id == document.framework_id, CatalogEntry.code == code
            )
        ).first()
        indicator_id = entry.indicator_id if entry is not None else None
        if indicator_id is None:
            indicator_id = session.scalar(
                select(Indicator.id).where(
                    Indicator.framework_id == document.framework_id, Indicator.code == code
                )
            )
        if indicator_id not in scope:
            raise document_service.DocumentError(f"{code} 不在您负责的指标范围内")
    return document_service.link_by_code(session, document, code, user)


# -- documents like this one --------------------------------------------------------------------

SIMILAR_LIMIT = 10
MIN_SIMILARITY = 0.1
NEAR_IDENTICAL = 0.5  # Jaccard (5-gram shingles) from which two texts count as versions of one
TERMS_CEILING = 0.8  # rare words in common never look as sure as the same text
RARE_TERMS = 16  # words of a document looked up in the others
VERIFIED = 30  # candidates by rare words whose text is compared exactly
SIMILAR_CHARS = 10000  # of each text compared exactly
# where rare words are looked for: the start of each document (a cost bounded per document)
SCANNED_PAGES = 3
SCANNED_CHARS = 3000


def similar_documents(
    session: Session, document: Document, *, user: User | None = None, limit: int = SIMILAR_LIMIT
) -> list[dict[str, Any]]:
    """Documents the user may read most like this one: ``[{"document_id", "name", "code",
    "similarity", "match"}]``, match ``bytes`` (same file), ``text`` (near-identical text:
    the stored MinHash estimate, or the exact shingle Jaccard) or ``terms`` (rare words in
    common)."""
    readable = readable_document_ids(session, user) if user is not None else None
    found: dict[int, tuple[float, str]] = {}

    def note(doc_id: int, similarity: float, match: str) -> None:
        # the strongest evidence wins (same bytes, then near-identical text, then words)
        if doc_id == document.id or doc_id in found:
            return
        if readable is not None and doc_id not in readable:
            return
        if similarity >= MIN_SIMILARITY:
            found[doc_id] = (similarity, match)

    current = document.current
    if current is not None:
        for doc_id in session.scalars(
            select(DocumentVersion.document_id).where(
                DocumentVersion.blob_sha256 == current.blob_sha256
            )
        ):
            note(doc_id, 1.0, "bytes")
    text = document_text(session, document.id, chars=SIMILAR_CHARS)
    # numpy loads only here, as for the audit (the web app and worker start without it)
    from evidence_app.coverage.minhash import jaccard, shingle_hashes

    shingles = shingle_hashes(text)
    for doc_id, similarity in _minhash_neighbours(session, document.id, shingles):
        if similarity >= NEAR_IDENTICAL:
            note(doc_id, similarity, "text")
    by_terms = sorted(
        _shared_terms(session, document, text).items(), key=lambda item: (-item[1], item[0])
    )
    if readable is not None:
        by_terms = [item for item in by_terms if item[0] in readable]
    exact: dict[int, float] = {}
    if len(shingles):
        verify = [doc_id for doc_id, _ in by_terms[:VERIFIED] if doc_id not in found]
        for doc_id in verify:
            other = shingle_hashes(document_text(session, doc_id, chars=SIMILAR_CHARS))
            exact[doc_id] = jaccard(shingles, other)
    for doc_id, share in by_terms:
        if exact.get(doc_id, 0.0) >= NEAR_IDENTICAL:
            note(doc_id, exact[doc_id], "text")
        else:
            note(doc_id, max(share * TERMS_CEILING, exact.get(doc_id, 0.0)), "terms")
    if not found:
        return []
    rows = {
        d.id: d
        for d in session.scalars(
            select(Document).where(Document.id.in_(found), Document.deleted.is_(False))
        )
    }
    ranked = sorted(
        (item for item in found.items() if item[0] in rows), key=lambda i: (-i[1][0], i[0])
    )
    out = []
    for doc_id, (similarity, match) in ranked[:limit]:
        d = rows[doc_id]
        name = d.current.original_name if d.current else d.title
        out.append(
            {
                "document_id": d.id,
                "name": name,
                "code": d.code,
                "similarity": round(similarity, 4),
                "match": match,
            }
        )
    return out


def _minhash_neighbours(
    session: Session, document_id: int, shingles: Any
) -> list[tuple[int, float]]:
    """Documents whose stored MinHash signature agrees with this text's (the estimate of
    their Jaccard similarity); the audit's duplicate finding keeps those signatures."""
    import numpy as np

    from evidence_app.coverage.minhash import minhash_signature

    if not len(shingles):
        return []
    mine = minhash_signature(shingles)
    out = []
    for doc_id, signature in session.execute(
        select(TextSignature.document_id, TextSignature.signature).where(
            TextSignature.document_id != document_id
        )
    ):
        if not signature:
            continue
        other = np.frombuffer(signature, dtype=np.uint64)
        if len(other) == len(mine):
            out.append((doc_id, float(np.mean(other == mine))))
    return out


def _shared_terms(session: Session, document: Document, text: str) -> dict[int, float]:
    """Documents sharing this one's rarest words, each with the share of their weight (log
    inverse document frequency) it holds. The document's longest, most repeated words of
    its name and text are looked up in the start of every other document (its first pages)
    in one pass; those in half the library or more are not rare and are left out."""
    name, _ = _name_and_folders(document)
    counts: Counter[str] = Counter()
    for source, repeat in ((clean_name(name), 3), (text[:BODY_CHARS], 1)):
        for token in tokenize(source, search=False):
            word = token.text
            if len(word) >= 3 or (len(word) == 2 and not word.isascii()):
                counts[word] += repeat
    if not counts:
        return {}
    chosen = sorted(counts, key=lambda w: (-min(len(w), 6), -counts[w], w))[:RARE_TERMS]
    head = func.substr(DocumentPage.text, 1, SCANNED_CHARS)
    likes = [head.like(f"%{_escape_like(w)}%", escape="\\") for w in chosen]
    holders: dict[str, set[int]] = {w: set() for w in chosen}
    for row in session.execute(
        select(DocumentPage.document_id, *likes)
        .join(Document, Document.id == DocumentPage.document_id)
        .where(
            DocumentPage.document_id != document.id,
            DocumentPage.number <= SCANNED_PAGES,
            Document.deleted.is_(False),
            or_(*likes),
        )
    ):
        for word, hit in zip(chosen, row[1:], strict=True):
            if hit:
                holders[word].add(row[0])
    counted = session.scalar(select(func.count(Document.id)).where(Document.deleted.is_(False)))
    total = max(int(counted or 0), 2)
    weights = {
        w: math.log(total / len(ids)) for w, ids in holders.items() if 0 < len(ids) <= total / 2
    }
    whole = sum(weights.values()) + sum(
        math.log(total) for w, ids in holders.items() if not ids
    )  # a word no other document has still counts against every one
    if not weights or not whole:
        return {}
    scores: dict[int, float] = {}
    for word, weight in weights.items():
        for doc_id in holders[word]:
            scores[doc_id] = scores.get(doc_id, 0.0) + weight
    return {doc_id: score / whole for doc_id, score in scores.items()}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
