"""Audit findings on the fixture framework with a generated evidence set of known problems."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from evidence_app.coverage.findings import compute_findings
from evidence_app.coverage.minhash import (
    jaccard,
    lsh_candidates,
    minhash_signature,
    shingle_hashes,
)
from tests.conftest import load_module

es = load_module(Path(__file__).with_name("_evidence_set.py"))

MISNUMBERED = [f"1.1.4-{i}" for i in range(1, 15)] + [
    "2.2.2-3",
    "2.3.4.4",
    "3.1.3-2",
    "3.2.2-1",
    "3.2.3-2",
]


@pytest.fixture
def framework_id(make_framework) -> int:
    return make_framework()["framework_id"]


@pytest.fixture
def evidence(runtime, framework_id):
    with runtime.session() as s:
        return es.build_evidence_set(s, runtime, framework_id)


def test_exact_findings_of_the_evidence_set(session, framework_id, evidence) -> None:
    ev = evidence
    found = [f.as_json() for f in compute_findings(session, framework_id, today=es.TODAY)]
    assert Counter(f["kind"] for f in found) == {
        "score_without_evidence": 2,
        "overdue_entry": 3,
        "duplicate_document": 2,
        "indicator_without_evidence": 1,
        "missing_entry": 11,
        "unreadable_document": 3,
        "unmatched_document": 2,
        "duplicate_entry_code": 3,
        "misnumbered_entry": 19,
        "ocr_only": 1,
    }
    assert len(found) == 47
    compact = [(f["kind"], f["severity"], f["codes"], f["documents"]) for f in found]
    corrupt, empty, encrypted = ev["1.2.2-3@1.2.2"], ev["1.2.3-1@1.2.3"], ev["2.5.4-1@2.5.4"]
    assert compact[:28] == [
        ("score_without_evidence", "high", ["1.2.3"], [empty]),
        ("score_without_evidence", "high", ["4.3.1"], []),
        ("overdue_entry", "high", ["1.2.2-4"], []),
        ("overdue_entry", "high", ["2.3.4-2", "2.3.4.4"], []),
        ("overdue_entry", "high", ["4.3.1"], []),
        (
            "duplicate_document",
            "high",
            ["2.3.4-1", "3.1.1-1"],
            [ev["2.3.4-1@2.3.4"], ev["3.1.1-1@3.1.1"]],
        ),
        (
            "duplicate_document",
            "high",
            ["2.5.1-1", "2.5.2-1"],
            [ev["2.5.1-1@2.5.1"], ev["2.5.2-1@2.5.2"]],
        ),
        ("indicator_without_evidence", "medium", ["1.2.1"], []),
        ("missing_entry", "medium", ["1.2.1-1"], []),
        ("missing_entry", "medium", ["1.2.1-2"], []),
        ("missing_entry", "medium", ["1.2.2-3"], [corrupt]),
        ("missing_entry", "medium", ["1.2.2-4"], []),
        ("missing_entry", "medium", ["1.2.2-5"], []),
        ("missing_entry", "medium", ["1.2.3-1"], [empty]),
        ("missing_entry", "medium", ["2.3.4-2"], []),
        ("missing_entry", "medium", ["2.3.4.4"], []),
        ("missing_entry", "medium", ["2.5.4-1"], [encrypted]),
        ("missing_entry", "medium", ["3.4.3-1"], []),
        ("missing_entry", "medium", ["3.4.3-2"], []),
        ("unreadable_document", "medium", ["1.2.2-3"], [corrupt]),
        ("unreadable_document", "medium", ["1.2.3-1"], [empty]),
        ("unreadable_document", "medium", ["2.5.4-1"], [encrypted]),
        ("unmatched_document", "medium", ["9.9.9-1"], [ev["unmatched-code"]]),
        ("unmatched_document", "medium", [], [ev["unmatched-nocode"]]),
        ("duplicate_entry_code", "medium", ["2.2.2-3"], []),
        ("duplicate_entry_code", "medium", ["3.2.2-1"], []),
        ("duplicate_entry_code", "medium", ["3.2.3-2"], []),
        ("misnumbered_entry", "low", ["1.1.4-1"], []),
    ]
    assert [c[2][0] for c in compact if c[0] == "misnumbered_entry"] == MISNUMBERED
    assert compact[-1] == ("ocr_only", "low", ["1.3.1-2"], [ev["1.3.1-2@1.3.1"]])

    by_kind = {}
    for f in found:
        by_kind.setdefault(f["kind"], []).append(f)
    text_dup = by_kind["duplicate_document"][1]
    assert text_dup["match"] == "text"
    assert "相似度 0.93" in text_dup["detail"]
    assert by_kind["duplicate_document"][0]["match"] == "bytes"
    assert by_kind["overdue_entry"][1]["detail"] == (
        "2.3.4 企业订单学生所占比例：截止日期 2024-05-01 已过（逾期 31 天），"
        "仍缺 2 条：2.3.4-2、2.3.4.4"
    )
    assert by_kind["score_without_evidence"][1]["detail"] == (
        "4.3.1 公办学校预算执行进度：自评 3 分，但无佐证文件"
    )
    assert by_kind["unmatched_document"][0]["detail"].endswith("编号 9.9.9-1 在指标体系中不存在")
    # links point at the page where the problem is fixed
    indicator_link = by_kind["missing_entry"][0]["link"]
    assert indicator_link.startswith("/indicators/")
    assert by_kind["unreadable_document"][0]["link"] == f"/documents/{corrupt}"
    assert by_kind["misnumbered_entry"][0]["link"] == by_kind["misnumbered_entry"][13]["link"]
    for f in found:
        assert set(f) >= {"kind", "severity", "codes", "documents", "detail", "link"}
        assert f["detail"]


def test_not_applicable_alternatives_raise_nothing(session, framework_id) -> None:
    found = compute_findings(session, framework_id, today=es.TODAY)
    kinds = Counter(f.kind for f in found)
    # nothing uploaded: every applicable leaf and entry is reported, alternatives are not
    assert kinds["score_without_evidence"] + kinds["indicator_without_evidence"] == 51
    assert kinds["indicator_without_evidence"] == 1  # 1.2.1 claims 0 points
    assert kinds["missing_entry"] == 229
    # one finding each for the rows claiming points (variant 0); none for the variant-1 rows
    from storage import Indicator

    rows = {
        (i.code, i.variant): i.id
        for i in session.query(Indicator).filter(Indicator.code.in_(["4.1.1", "4.3.1"]))
    }
    alt = [(f.kind, f.codes, f.link) for f in found if {"4.1.1", "4.3.1"} & set(f.codes)]
    assert alt == [
        ("score_without_evidence", ["4.1.1"], f"/indicators/{rows[('4.1.1', 0)]}"),
        ("score_without_evidence", ["4.3.1"], f"/indicators/{rows[('4.3.1', 0)]}"),
    ]


def test_pending_documents_raise_no_missing_findings(session, runtime, framework_id) -> None:
    from storage import CatalogEntry

    e = session.query(CatalogEntry).filter_by(framework_id=framework_id, code="2.6.1-1").one()
    es.add_document(
        session, runtime, framework_id, "2.6.1-1 a.txt", b"x", entry=e, status="pending"
    )
    with es.worker_stopped(runtime):
        session.commit()
    found = compute_findings(session, framework_id, today=es.TODAY)
    assert not [f for f in found if {"2.6.1", "2.6.1-1"} & set(f.codes)]


def test_same_document_linked_under_two_indicators(session, runtime, framework_id) -> None:
    from storage import CatalogEntry, DocumentLink

    a = session.query(CatalogEntry).filter_by(framework_id=framework_id, code="2.6.2-1").one()
    b = session.query(CatalogEntry).filter_by(framework_id=framework_id, code="2.6.3-1").one()
    c = session.query(CatalogEntry).filter_by(framework_id=framework_id, code="2.6.3-1").one()
    doc = es.text_document(
        session, runtime, framework_id, "2.6.2-1 满意度.txt", es.random_text("x"), entry=a
    )
    session.add(DocumentLink(document_id=doc.id, entry_id=b.id, code=b.code))
    session.commit()
    dups = [
        f
        for f in compute_findings(session, framework_id, today=es.TODAY)
        if f.kind == "duplicate_document"
    ]
    assert [(f.codes, f.documents) for f in dups] == [(["2.6.2-1", "2.6.3-1"], [doc.id])]
    assert c.id == b.id


def test_near_copies_form_one_cluster_after_the_exact_copies(
    session, runtime, framework_id
) -> None:
    from storage import CatalogEntry

    def entry(code: str) -> CatalogEntry:
        return session.query(CatalogEntry).filter_by(framework_id=framework_id, code=code).one()

    text = es.random_text("report", 3000)
    near = [
        es.text_document(session, runtime, framework_id, f"{c}.txt", text + suffix, entry=entry(c))
        for c, suffix in (("2.4.3-1", ""), ("2.6.2-1", "。附件一"), ("3.1.2-1", "。附件二三"))
    ]
    same = es.random_text("exact")
    copies = [
        es.text_document(session, runtime, framework_id, f"{c}.txt", same, entry=entry(c))
        for c in ("2.5.1-1", "2.5.2-1")
    ]
    session.commit()
    dups = [
        f
        for f in compute_findings(session, framework_id, today=es.TODAY)
        if f.kind == "duplicate_document"
    ]
    assert [f.extra["match"] for f in dups] == ["bytes", "text"]
    assert dups[0].documents == [d.id for d in copies]
    assert dups[1].documents == [d.id for d in near]  # one item for the three, not 3 pairs
    assert dups[1].codes == ["2.4.3-1", "2.6.2-1", "3.1.2-1"]
    assert f"3 个文件 #{near[0].id}、#{near[1].id}、#{near[2].id} 内容几乎相同" in dups[1].detail
    assert 0.9 < dups[1].extra["similarity"] < 1


def test_near_duplicates_under_one_indicator_are_not_findings(
    session,
    runtime,
    framework_id,
) -> None:
    from storage import CatalogEntry

    a = session.query(CatalogEntry).filter_by(framework_id=framework_id, code="2.4.3-1").one()
    b = session.query(CatalogEntry).filter_by(framework_id=framework_id, code="2.4.3-2").one()
    text = es.random_text("same")
    es.text_document(session, runtime, framework_id, "a.txt", text, entry=a)
    es.text_document(session, runtime, framework_id, "b.txt", text + "。附", entry=b)
    session.commit()
    kinds = {f.kind for f in compute_findings(session, framework_id, today=es.TODAY)}
    assert "duplicate_document" not in kinds


def test_minhash_estimates_and_lsh_finds_near_duplicates() -> None:
    base = es.random_text("base", 2000)
    changed = base[:500] + "变" + base[501:1500] + "更" + base[1501:]
    a, b = shingle_hashes(base), shingle_hashes(changed)
    assert len(a) == 1996
    exact = jaccard(a, b)
    assert round(exact, 4) == round(1986 / 2006, 4)
    sigs = {1: minhash_signature(a), 2: minhash_signature(b)}
    sigs.update(
        {i: minhash_signature(shingle_hashes(es.random_text(str(i), 800))) for i in range(3, 400)}
    )
    assert abs(float((sigs[1] == sigs[2]).mean()) - exact) < 0.1
    assert lsh_candidates(sigs) == {(1, 2)}
    # punctuation, spaces and width do not matter; short texts are ignored
    assert (
        shingle_hashes("学校 专业，建设ＡＢＣ" * 5).tolist()
        == shingle_hashes("学校专业建设abc" * 5).tolist()
    )
    assert len(shingle_hashes("太短的文字")) == 0


def test_near_duplicate_detection_is_fast_for_2000_documents(
    session, runtime, framework_id
) -> None:
    """2,000 linked documents of 1,500 characters each, two near-identical pairs."""
    from sqlalchemy import select

    from storage import CatalogEntry, Document, DocumentLink, DocumentPage

    entries = session.scalars(
        select(CatalogEntry).where(CatalogEntry.framework_id == framework_id)
    ).all()
    base = es.random_text("pair", 1500)
    for n in range(2000):
        text = es.random_text(f"doc{n}", 1500) if n not in (10, 1500) else base
        if n == 1500:
            text = "新" + text[1:]
        e = entries[n % len(entries)]
        doc = Document(framework_id=framework_id, title=f"d{n}", code=e.code, status="indexed")
        doc.links.append(DocumentLink(entry_id=e.id, code=e.code))
        doc.pages.append(DocumentPage(number=1, text=text, source="text"))
        session.add(doc)
    with runtime.follower.paused():  # indexing 2,000 documents is not what is measured here
        session.commit()
    started = time.perf_counter()
    found = compute_findings(session, framework_id, today=es.TODAY)
    elapsed = time.perf_counter() - started
    dups = [f for f in found if f.kind == "duplicate_document"]
    assert len(dups) == 1
    assert elapsed < 10, elapsed
    print(f"findings for 2,000 documents: {elapsed * 1000:.0f} ms")


def test_findings_on_files_through_the_real_ingestion(
    session,
    runtime,
    framework_id,
    tmp_path,
) -> None:
    """Text files, a DOCX, a corrupt PDF and a blank file stored, extracted and indexed by
    ``ingest_files``: the findings name exactly the reused, broken and mis-named ones."""
    from docx import Document as WordDocument

    from evidence_app.documents.ingest import ingest_files
    from storage import Document, DocumentPage

    folder = tmp_path / "材料"
    folder.mkdir()
    near = es.random_text("ingest-near", 400)
    same = es.random_text("ingest-same", 300)
    files = {
        "2.6.1-1 创业率统计.txt": near.encode(),
        "2.6.2-1 毕业生满意度调查.txt": (near[:150] + "改" + near[151:]).encode(),
        "2.6.3-1 雇主满意度.txt": same.encode(),
        "2.6.4-1 教师满意度.txt": same.encode(),
        "2.4.1-1 工位统计.pdf": b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog",
        "2.5.3-1 企业经历.txt": b"   \n\n  \n",
        "9.9.9-1 不存在的材料.txt": es.random_text("ingest-unmatched").encode(),
        "2.4.2-1 实践学时.txt": es.random_text("ingest-other").encode("gb18030"),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    word = WordDocument()
    word.add_paragraph("人才培养工作标志性成果：" + es.random_text("ingest-docx", 200))
    word.save(folder / "2.7.1-1 标志性成果.docx")
    report = ingest_files(runtime, [folder], framework_id=framework_id)
    assert report.accepted == 9 and not report.rejected
    ids = {d["name"]: d["id"] for d in report.documents}
    status = {d["name"]: d["status"] for d in report.documents}
    assert status == {
        "2.4.1-1 工位统计.pdf": "failed",
        "2.4.2-1 实践学时.txt": "indexed",
        "2.5.3-1 企业经历.txt": "empty",
        "2.6.1-1 创业率统计.txt": "indexed",
        "2.6.2-1 毕业生满意度调查.txt": "indexed",
        "2.6.3-1 雇主满意度.txt": "indexed",
        "2.6.4-1 教师满意度.txt": "indexed",
        "2.7.1-1 标志性成果.docx": "indexed",
        "9.9.9-1 不存在的材料.txt": "indexed",
    }
    # a scan: its text came from OCR (marked here, OCR itself is tested in tests/indexer)
    docx_id = ids["2.7.1-1 标志性成果.docx"]
    for page in session.query(DocumentPage).filter_by(document_id=docx_id):
        page.source = "ocr"
    session.commit()

    kinds = ("duplicate_document", "unreadable_document", "unmatched_document", "ocr_only")
    found = [
        (f.kind, f.codes, f.documents)
        for f in compute_findings(session, framework_id, today=es.TODAY)
        if f.kind in kinds
    ]
    assert found == [
        (  # the exact copy first, then the near one
            "duplicate_document",
            ["2.6.3-1", "2.6.4-1"],
            sorted([ids["2.6.3-1 雇主满意度.txt"], ids["2.6.4-1 教师满意度.txt"]]),
        ),
        (
            "duplicate_document",
            ["2.6.1-1", "2.6.2-1"],
            sorted([ids["2.6.1-1 创业率统计.txt"], ids["2.6.2-1 毕业生满意度调查.txt"]]),
        ),
        ("unreadable_document", ["2.4.1-1"], [ids["2.4.1-1 工位统计.pdf"]]),
        ("unreadable_document", ["2.5.3-1"], [ids["2.5.3-1 企业经历.txt"]]),
        ("unmatched_document", ["9.9.9-1"], [ids["9.9.9-1 不存在的材料.txt"]]),
        ("ocr_only", ["2.7.1-1"], [docx_id]),
    ]
    dup = next(
        f
        for f in compute_findings(session, framework_id)
        if f.kind == "duplicate_document" and f.extra["match"] == "text"
    )
    assert "相似度 0.98" in dup.detail  # 391 of 401 shingles shared
    assert session.get(Document, ids["2.4.2-1 实践学时.txt"]).status == "indexed"


def test_text_signatures_are_kept_until_the_pages_change(
    session, runtime, framework_id, evidence, monkeypatch
) -> None:
    """The near-duplicate fingerprints are stored: a second audit hashes no text again, and
    a document processed again (new pages) is hashed again, alone."""
    from sqlalchemy import select

    from evidence_app.coverage.findings import _duplicates as findings_module
    from evidence_app.documents.ingest import _store_pages
    from indexer import Page
    from storage import Document, TextSignature

    hashed: list[list[int]] = []
    read_texts = findings_module._document_texts

    def spy(session_, doc_ids):
        hashed.append(sorted(doc_ids))
        return read_texts(session_, doc_ids)

    monkeypatch.setattr(findings_module, "_document_texts", spy)
    first = [f.as_json() for f in compute_findings(session, framework_id, today=es.TODAY)]
    computed = hashed[0]
    assert len(computed) > 10
    stored = {
        i: key
        for i, key in session.execute(select(TextSignature.document_id, TextSignature.pages_key))
    }
    assert sorted(stored) == computed

    hashed.clear()
    second = [f.as_json() for f in compute_findings(session, framework_id, today=es.TODAY)]
    assert second == first
    assert hashed[0] == []  # no signature computed again (the next call: the exact check)

    doc = session.get(Document, computed[0])
    _store_pages(session, doc, [Page(1, "重新处理后的文字内容，与任何其他文件都不相同。" * 5)])
    session.commit()
    hashed.clear()
    third = [f.as_json() for f in compute_findings(session, framework_id, today=es.TODAY)]
    assert hashed[0] == [computed[0]]
    assert len(third) == len(first)
    session.expire_all()
    assert session.get(TextSignature, computed[0]).pages_key != stored[computed[0]]
