"""The same file or text under two indicators (成果不重复统计): same bytes, or
near-identical text by MinHash."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from evidence_app.coverage.finding import (
    Finding,
)
from evidence_app.coverage.findings._shared import FindingContext, _chunks, _Doc, _link_codes
from evidence_app.coverage.operations import (
    Coverage,
    document_class,
)
from storage import (
    DocumentPage,
    TextSignature,
)

log = logging.getLogger(__name__)


def find(ctx: FindingContext) -> Iterable[Finding]:
    return _duplicate_findings(ctx.session, ctx.coverage, ctx.docs, ctx.threshold)


def _duplicate_findings(
    session: Session, coverage: Coverage, docs: dict[int, _Doc], threshold: float
) -> Iterator[Finding]:
    linked = [d for d in docs.values() if d.id in coverage.document_links]
    by_sha: dict[str, list[int]] = defaultdict(list)
    for d in linked:
        if d.sha256:
            by_sha[d.sha256].append(d.id)
    same_bytes: set[frozenset[int]] = set()
    for sha, ids in by_sha.items():
        ids.sort()
        codes, indicators = _link_codes(coverage, ids)
        if len(indicators) < 2:
            continue
        same_bytes.add(frozenset(ids))
        files = "、".join(f"#{i}" for i in ids)
        yield Finding(
            "duplicate_document",
            "high",
            codes,
            ids,
            f"同一文件（SHA-256 {sha[:12]}…）用于 {len(indicators)} 个指标：{'、'.join(codes)}"
            f"（文件 {files}）",
            f"/documents/{ids[0]}",
            extra={"similarity": 1.0, "match": "bytes"},
            order=(0, 0, ids[0]),
        )

    # numpy loads here, not with the web app (a worker reading PDFs never needs it)
    from evidence_app.coverage.minhash import (
        jaccard,
        lsh_candidates,
        shingle_hashes,
        signature_agreement,
    )

    usable = [d.id for d in linked if document_class(d.status) == "usable"]
    signatures = _signatures(session, usable)
    indicators_of = {
        doc_id: {ind for _, ind in coverage.document_links[doc_id]} for doc_id in signatures
    }
    sha_of = {d.id: d.sha256 for d in linked}
    candidates = [
        (a, b)
        for a, b in lsh_candidates(signatures)
        if len(indicators_of[a] | indicators_of[b]) >= 2
        and not (sha_of[a] and sha_of[a] == sha_of[b])
    ]
    if not candidates:
        return
    # the estimate prunes pairs far below the threshold; survivors get the exact Jaccard
    candidates = [
        (a, b)
        for a, b in candidates
        if signature_agreement(signatures[a], signatures[b]) >= threshold - 0.2
    ]
    need = sorted({i for pair in candidates for i in pair})
    exact = {doc_id: shingle_hashes(text) for doc_id, text in _document_texts(session, need)}
    pairs: dict[tuple[int, int], float] = {}
    for a, b in sorted(candidates):
        similarity = jaccard(exact[a], exact[b])
        if similarity >= threshold:
            pairs[(a, b)] = similarity
    # one finding per cluster of near copies (a, b, c alike: one item, not three pairs),
    # after the exact copies, the most alike first
    for ids, low, high in _clusters(pairs):
        codes, indicators = _link_codes(coverage, ids)
        if len(indicators) < 2:
            continue
        shown = f"{low:.2f}" if round(low, 2) == round(high, 2) else f"{low:.2f}–{high:.2f}"
        files = "、".join(f"#{i}" for i in ids)
        what = f"文件 #{ids[0]} 与 #{ids[1]}" if len(ids) == 2 else f"{len(ids)} 个文件 {files}"
        yield Finding(
            "duplicate_document",
            "high",
            codes,
            ids,
            f"{what} 内容几乎相同（相似度 {shown}），用于不同指标：{'、'.join(codes)}",
            f"/documents/{ids[0]}",
            extra={"similarity": round(low, 4), "match": "text"},
            order=(1, -high, ids[0]),
        )


def _clusters(pairs: dict[tuple[int, int], float]) -> list[tuple[list[int], float, float]]:
    """Connected groups of similar documents: (ids, lowest and highest pair similarity)."""
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        parent.setdefault(i, i)
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        parent[root(a)] = root(b)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in sorted(parent):
        groups[root(i)].append(i)
    out = []
    for ids in groups.values():
        values = [v for (a, b), v in pairs.items() if root(a) == root(ids[0])]
        out.append((ids, min(values), max(values)))
    return out


def _signatures(session: Session, doc_ids: list[int]) -> dict[int, Any]:
    """The MinHash signature of each document with enough text to compare.

    Signatures are kept in ``text_signatures`` with the pages they were computed from: only
    documents whose pages changed since (or never had one) are read and hashed again, so the
    first audit after an upload costs the new files, not the whole library.
    """
    import numpy as np

    from evidence_app.coverage.minhash import minhash_signature, shingle_hashes

    current: dict[int, int] = {}
    stored: dict[int, tuple[int, bytes]] = {}
    for chunk in _chunks(sorted(doc_ids)):
        current.update(
            (doc_id, key)
            for doc_id, key in session.execute(
                select(DocumentPage.document_id, func.max(DocumentPage.id))
                .where(DocumentPage.document_id.in_(chunk))
                .group_by(DocumentPage.document_id)
            )
        )
        stored.update(
            (doc_id, (key, sig))
            for doc_id, key, sig in session.execute(
                select(
                    TextSignature.document_id, TextSignature.pages_key, TextSignature.signature
                ).where(TextSignature.document_id.in_(chunk))
            )
        )
    stale = [i for i, key in current.items() if stored.get(i, (None,))[0] != key]
    fresh: dict[int, bytes] = {}
    for doc_id, text in _document_texts(session, stale):
        shingles = shingle_hashes(text)
        fresh[doc_id] = minhash_signature(shingles).tobytes() if len(shingles) else b""
    if fresh:
        _store_signatures(session, {i: (current[i], sig) for i, sig in fresh.items()})
    out: dict[int, Any] = {}
    for doc_id in current:
        sig = fresh[doc_id] if doc_id in fresh else stored[doc_id][1]
        if sig:
            out[doc_id] = np.frombuffer(sig, dtype=np.uint64)
    return out


def _store_signatures(session: Session, rows: dict[int, tuple[int, bytes]]) -> None:
    """Upsert signatures in a transaction of their own (the audit itself only reads); two
    audits computing the same signature at once both succeed."""
    engine = session.get_bind().engine
    stmt: Insert
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        pg_insert = postgresql_insert(TextSignature)
        stmt = pg_insert.on_conflict_do_update(
            index_elements=[TextSignature.document_id],
            set_={
                "pages_key": pg_insert.excluded.pages_key,
                "signature": pg_insert.excluded.signature,
            },
        )
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite_insert = sqlite_insert(TextSignature)
        stmt = lite_insert.on_conflict_do_update(
            index_elements=[TextSignature.document_id],
            set_={
                "pages_key": lite_insert.excluded.pages_key,
                "signature": lite_insert.excluded.signature,
            },
        )
    values = [
        {"document_id": i, "pages_key": key, "signature": sig} for i, (key, sig) in rows.items()
    ]
    try:
        with engine.begin() as conn:
            conn.execute(stmt, values)
    except SQLAlchemyError:  # a document deleted meanwhile, a read-only database: recompute later
        log.warning("could not keep %d text signatures", len(values), exc_info=True)


def _document_texts(session: Session, doc_ids: list[int]) -> Iterator[tuple[int, str]]:
    """(id, text of all pages) per document, streamed in id order."""
    for chunk in _chunks(sorted(doc_ids), 500):
        current: int | None = None
        parts: list[str] = []
        for doc_id, text in session.execute(
            select(DocumentPage.document_id, DocumentPage.text)
            .where(DocumentPage.document_id.in_(chunk))
            .order_by(DocumentPage.document_id, DocumentPage.number)
        ):
            if doc_id != current:
                if current is not None:
                    yield current, "\n".join(parts)
                current, parts = doc_id, []
            parts.append(text or "")
        if current is not None:
            yield current, "\n".join(parts)
