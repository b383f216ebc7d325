"""The coverage command (JSON, XLSX) and the evidence package (ZIP with folders, catalog,
manifest), including the round trip through ``evidence ingest``."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from evidence_app.coverage.export import safe_name
from storage import CatalogEntry, Document, DocumentLink
from tests.conftest import load_module

es = load_module(Path(__file__).with_name("_evidence_set.py"))

SUMMARY = {
    "indicators": 53,
    "indicators_complete": 43,
    "indicators_partial": 4,
    "indicators_none": 4,
    "entries": 229,
    "entries_filled": 217,
    "self_score_total": 92.7,
    "self_score_supported": 86.7,
}


@pytest.fixture
def framework_id(make_framework) -> int:
    return make_framework()["framework_id"]


@pytest.fixture
def evidence(runtime, framework_id):
    with runtime.session() as s:
        return es.build_evidence_set(s, runtime, framework_id)


def test_coverage_json(invoke, framework_id, evidence) -> None:
    result = invoke("coverage", "--json", "--as-of", "2024-06-01")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {k: data["summary"][k] for k in SUMMARY} == SUMMARY
    assert len(data["indicators"]) == 53
    first = data["indicators"][0]
    assert {k: first[k] for k in ("code", "name", "state", "entries", "entries_filled")} == {
        "code": "1.1.1",
        "name": "专业设置与区域重点产业匹配度",
        "state": "complete",
        "entries": 11,
        "entries_filled": 11,
    }
    assert (first["documents"], first["self_score"]) == (11, 2.0)
    assert len(data["findings"]) == 47
    assert Counter(f["kind"] for f in data["findings"])["missing_entry"] == 11
    for f in data["findings"]:
        assert f["severity"] in ("high", "medium", "low")
        assert all(isinstance(c, str) for c in f["codes"])
        assert all(isinstance(d, int) for d in f["documents"])
        assert f["detail"]
    # the same with --framework, and text output
    again = json.loads(invoke("coverage", "--framework", framework_id, "--json").output)
    assert again["summary"] == {**data["summary"], "findings": again["summary"]["findings"]}
    text = invoke("coverage", "--as-of", "2024-06-01").output
    assert "三级指标 53：齐全 43，部分 4，缺失 4，不适用 2" in text
    assert "问题 47 个" in text


def test_coverage_errors(invoke) -> None:
    result = invoke("coverage", "--json")
    assert result.exit_code == 1
    assert "还没有指标体系" in result.output
    result = invoke("coverage", "--framework", "42")
    assert result.exit_code == 1
    assert "指标体系 42 不存在" in result.output


def test_coverage_xlsx(invoke, framework_id, evidence, tmp_path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "report" / "覆盖.xlsx"
    result = invoke("coverage", "--xlsx", out, "--as-of", "2024-06-01")
    assert result.exit_code == 0, result.output
    wb = load_workbook(out)
    assert wb.sheetnames == ["汇总", "指标", "佐证条目", "问题清单"]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref == ws.dimensions
        assert ws["A1"].font.bold
        assert ws.column_dimensions["A"].width > 8
    summary = {r[0]: r[1] for r in wb["汇总"].iter_rows(min_row=2, values_only=True)}
    assert summary["三级指标"] == 53
    assert summary["已提供条目"] == 217
    assert summary["自评总分"] == 92.7
    assert summary["有佐证的自评分"] == 86.7
    assert summary["问题总数"] == 47
    assert summary["问题：条目缺失"] == 11
    indicators = list(wb["指标"].iter_rows(min_row=2, values_only=True))
    assert len(indicators) == 53
    assert indicators[0][:5] == ("1.1.1", "专业设置与区域重点产业匹配度", "齐全", 11, 11)
    states = Counter(r[2] for r in indicators)
    assert states == {"齐全": 43, "部分": 4, "缺失": 4, "不适用": 2}
    entries = list(wb["佐证条目"].iter_rows(min_row=2, values_only=True))
    assert len(entries) == 229
    assert Counter(r[3] for r in entries) == {
        "已提供": 217,
        "缺失": 8,
        "文件无法读取": 3,
        "处理中": 1,
    }
    filled = next(r for r in entries if r[1] == "2.3.4-1")
    assert re.fullmatch(r"2\.3\.4-1 .+\.\w+（#\d+）", filled[4]), filled  # a name, not an id
    problems = list(wb["问题清单"].iter_rows(min_row=2, values_only=True))
    assert len(problems) == 47
    assert problems[0][:3] == ("高", "有自评分无佐证", "1.2.3")
    assert all(r[5].startswith("http://127.0.0.1:5000/") for r in problems if r[5])
    assert list(tmp_path.joinpath("report").iterdir()) == [out]  # no temporary left


def test_safe_names() -> None:
    assert safe_name('a/b\\c:d*e?f"g<h>i|j', 50) == "a_b_c_d_e_f_g_h_i_j"
    assert safe_name("  名称. ", 50) == "名称"
    assert safe_name("CON", 10) == "_CON"
    assert safe_name("粤府〔2021〕28号（全文）" * 10, 20) == "粤府〔2021〕28号（全文）粤府〔20"
    assert safe_name("\x00\x1f", 5) == "__"


def test_a_file_linked_to_its_indicator_keeps_its_own_code(runtime, framework_id) -> None:
    """2.7.1-11 (no such entry) is linked to 2.7.1 itself; in the package and its catalog it
    is still 2.7.1-11, not 2.7.1."""
    from evidence_app.coverage.export import plan_package
    from storage import Indicator
    from tests.factories import add_document

    with runtime.unit_of_work() as s:
        leaf = s.scalars(
            select(Indicator).where(
                Indicator.framework_id == framework_id, Indicator.code == "2.7.1"
            )
        ).one()
        add_document(
            s,
            runtime,
            framework_id,
            "2.7.1-11 学生技能大赛获奖证书.pdf",
            b"%PDF-1.4 x",
            indicator=leaf,
            code="2.7.1-11",
            pages=[("获奖证书", "text")],
        )
    with runtime.session() as s:
        plan = plan_package(s, framework_id)
    [path] = [f.path for f in plan.files if "获奖证书" in f.path]
    assert path.rsplit("/", 1)[1] == "2.7.1-11 学生技能大赛获奖证书.pdf"
    [row] = [r for r in plan.catalog if r.path == path]
    assert (row.indicator_code, row.entry_code) == ("2.7.1", "2.7.1-11")


def _zip(path: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(path)


def test_evidence_package(invoke, runtime, framework_id, evidence, tmp_path) -> None:
    from docx import Document as WordDocument
    from openpyxl import load_workbook

    # a second file for 2.3.4-1: gets a (2) suffix
    with runtime.session() as s:
        e = s.scalars(
            select(CatalogEntry).where(
                CatalogEntry.framework_id == framework_id, CatalogEntry.code == "2.3.4-1"
            )
        ).one()
        second = es.text_document(
            s, runtime, framework_id, "第二份.pdf", es.random_text("second"), entry=e
        ).id
        s.commit()
    out = tmp_path / "package.zip"
    result = invoke("export", "--framework", framework_id, out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["files"], summary["missing"], summary["catalog_rows"]) == (224, 9, 235)
    with runtime.session() as s:
        from storage import AuditLog

        log = s.scalars(select(AuditLog).where(AuditLog.action == "framework.export")).one()
        assert (log.object_id, log.detail["files"], log.detail["missing"]) == (framework_id, 224, 9)

    with _zip(out) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        folder = "2 提质/2.3 产教融合/2.3.4 企业订单学生所占比例/"
        assert folder in names
        assert folder + "2.3.4-1 2020-2022级企业订单学明细表(3108人).txt" in names
        assert folder + "2.3.4-1 2020-2022级企业订单学明细表(3108人) (2).pdf" in names
        assert folder + "2.3.4.4 2022年普通高职在校生人数(21049人).txt" not in names  # missing
        assert (
            "4 综合绩效/4.2 经费支出结构/4.2.2 生均信息化教学设备投入值/4.2.2 信息化教学设备投入.txt"
            in names
        )
        files = [n for n in names if not n.endswith("/")]
        assert len(files) == 224 + 3
        assert files[-3:] == ["佐证材料目录.xlsx", "佐证材料目录.docx", "manifest-sha256.txt"]
        for info in infos:
            if not info.filename.isascii():
                assert info.flag_bits & 0x800, info.filename
            assert not any(c in info.filename for c in '\\:*?"<>|')
        # the manifest names every file but itself, with its SHA-256
        manifest = zf.read("manifest-sha256.txt").decode("utf-8").splitlines()
        assert len(manifest) == 226
        for line in manifest:
            sha, path = line.split("  ", 1)
            assert hashlib.sha256(zf.read(path)).hexdigest() == sha
        # the file contents are the originals
        with runtime.session() as s:
            doc = s.get(Document, second)
            assert zf.read(folder + "2.3.4-1 2020-2022级企业订单学明细表(3108人) (2).pdf") == (
                runtime.blobs.path_for(doc.current.blob_sha256).read_bytes()
            )
        xlsx = load_workbook(io.BytesIO(zf.read("佐证材料目录.xlsx")))
        docx = WordDocument(io.BytesIO(zf.read("佐证材料目录.docx")))

    # every file's cell opens it: a link relative to the workbook, to a member that exists
    links = [c.hyperlink.target for c in xlsx.active["E"][1:] if c.hyperlink is not None]
    assert links and set(links) <= set(files)
    assert all(c.hyperlink is None for c in xlsx.active["E"][1:] if c.value == "缺失")
    rows = list(xlsx.active.iter_rows(values_only=True))
    assert rows[0] == (
        "指标编号",
        "指标名称",
        "条目编号",
        "条目名称",
        "文件",
        "页数",
        "SHA-256",
        "审核状态",
        "状态",
        "电子签章",
    )
    body = rows[1:]
    assert len(body) == 235
    missing = [(r[0], r[2]) for r in body if r[4] == "缺失"]
    assert missing == [
        ("1.2.1", "1.2.1-1"),
        ("1.2.1", "1.2.1-2"),
        ("1.2.2", "1.2.2-4"),
        ("1.2.2", "1.2.2-5"),
        ("2.3.4", "2.3.4-2"),
        ("2.3.4", "2.3.4.4"),
        ("3.4.3", "3.4.3-1"),
        ("3.4.3", "3.4.3-2"),
        ("4.3.1", None),
    ]
    assert Counter(r[8] for r in body) == {
        "已索引": 220,
        "缺失": 9,
        "解析失败": 1,
        "无文字内容": 1,
        "已加密": 1,
        "待处理": 1,
        "不适用": 2,
    }
    first = body[0]
    assert first[:5] == (
        "1.1.1",
        "专业设置与区域重点产业匹配度",
        "1.1.1-1",
        "2022年专业设置与区域重点产业匹配度报告",
        "1 扩容/1.1 办学定位/1.1.1 专业设置与区域重点产业匹配度/1.1.1-1 2022年专业设置与区域重点产业匹配度报告.txt",
    )
    # a text file is never signed: 不适用, not 否
    assert (first[5], len(first[6]), first[7], first[9]) == (1, 64, "通过", "不适用")
    assert {r[9] for r in body if r[4] == "缺失"} == {None}  # nothing to be signed
    table = docx.tables[0]
    assert len(table.rows) == 236
    assert [c.text for c in table.rows[0].cells][:4] == ["指标", "条目编号", "条目名称", "文件"]
    assert [c.text for c in table.rows[1].cells][1] == "1.1.1-1"
    assert sum(1 for r in table.rows if r.cells[3].text == "缺失") == 9


def test_export_refuses_a_damaged_blob(invoke, runtime, framework_id, evidence, tmp_path) -> None:
    with runtime.session() as s:
        doc = s.get(Document, evidence["1.1.1-1@1.1.1"])
        path = runtime.blobs.path_for(doc.current.blob_sha256)
    path.write_bytes(b"altered")
    out = tmp_path / "p.zip"
    result = invoke("export", "--framework", framework_id, out)
    assert result.exit_code == 1
    assert f"文件 #{doc.id} 的原件已损坏" in result.output
    assert not out.exists()
    assert list(tmp_path.glob("*.part")) == []


def _entry_keys(session, framework_id: int) -> dict[int, tuple[str, int, str, int]]:
    return {
        e.id: (e.indicator.code, e.indicator.variant, e.code, e.occurrence)
        for e in session.scalars(
            select(CatalogEntry).where(CatalogEntry.framework_id == framework_id)
        )
    }


def _links_by_name(session, framework_id: int) -> dict[str, str]:
    """original file name -> entry (or indicator) key, for the framework's documents."""
    keys = _entry_keys(session, framework_id)
    out = {}
    for doc in session.scalars(
        select(Document).where(Document.framework_id == framework_id, Document.deleted.is_(False))
    ):
        link = doc.links[0] if doc.links else None
        if link is None:
            out[doc.current.original_name] = None
        elif link.entry_id:
            out[doc.current.original_name] = keys[link.entry_id]
        else:
            out[doc.current.original_name] = (link.indicator.code, link.indicator.variant)
    return out


def test_package_round_trip_through_ingest(
    invoke,
    runtime,
    make_framework,
    framework_id,
    evidence,
    tmp_path,
) -> None:
    """Every file of the package, ingested into a copy of the framework, lands on the entry
    (or indicator) with the same key as in the original."""
    from evidence_app.coverage.export import plan_package

    out = tmp_path / "package.zip"
    assert invoke("export", "--framework", framework_id, out).exit_code == 0
    copy = make_framework(name="导入副本")["framework_id"]
    result = invoke("ingest", "--framework", copy, out, "--json")
    assert result.exit_code == 0, result.output
    with runtime.session() as s:
        keys = _entry_keys(s, framework_id)
        expected = {}
        for f in plan_package(s, framework_id).files:
            link = s.scalars(
                select(DocumentLink).where(DocumentLink.document_id == f.document_id)
            ).one()
            expected[Path(f.path).name] = (
                keys[link.entry_id]
                if link.entry_id
                else (link.indicator.code, link.indicator.variant)
            )
        after = _links_by_name(s, copy)
    root_files = {"佐证材料目录.xlsx", "佐证材料目录.docx", "manifest-sha256.txt"}
    assert set(after) == set(expected) | root_files
    # the catalog and the manifest are not evidence: linked to nothing
    assert {n for n, k in after.items() if k is None} == root_files
    # Every file comes back to the same entry; a code listed twice in the catalog
    # (duplicate_entry_code) follows the indicator folder it was exported into.
    assert {n: (expected[n], after[n]) for n in expected if after[n] != expected[n]} == {}
    assert len(expected) == 223
