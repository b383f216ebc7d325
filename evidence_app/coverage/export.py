"""Reports and the evidence package.

* ``coverage_report`` — the ``evidence coverage --json`` document (summary, indicators,
  findings); ``write_coverage_xlsx`` — the same as a workbook (汇总, 指标, 佐证条目, 问题清单).
* ``write_package`` — the evidence package for experts: a ZIP with the indicator tree as
  folders (``2 提质/2.3 产教融合/2.3.4 企业订单学生所占比例/2.3.4-1 ….pdf``), the generated
  佐证材料目录 (XLSX and DOCX) and ``manifest-sha256.txt``. Files are streamed from the blob
  store and re-hashed on the way, so a damaged blob stops the export instead of being
  shipped. Names start with the entry code, so ``evidence ingest`` of the package links every
  file back to its entry.
* ``first_sheet``, ``style_sheet``, ``save_workbook`` — how every workbook of the app is
  laid out and saved (the review export uses them too).
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from evidence_app.admin import audit
from evidence_app.coverage.findings import (
    KIND_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    Finding,
    compute_findings,
)
from evidence_app.coverage.operations import (
    ENTRY_STATE_LABELS,
    STATE_LABELS,
    Coverage,
    IndicatorCoverage,
    compute_coverage,
)
from evidence_app.documents.facts import signed_text
from evidence_app.review.operations import REVIEW_LABELS, expert_scores
from evidence_app.runtime import Runtime
from storage import (
    CatalogEntry,
    Document,
    DocumentLink,
    DocumentVersion,
    Framework,
    Indicator,
    User,
)

if TYPE_CHECKING:  # openpyxl loads numpy: only exports load it
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

CHUNK = 1024 * 1024
MAX_FOLDER_CHARS = 50
MAX_FILE_CHARS = 80  # without the extension; keeps paths under Windows' 260 characters
UTF8_FLAG = 0x800
# formats that are compressed already: stored as they are
STORED_TYPES = {
    "pdf",
    "jpg",
    "jpeg",
    "png",
    "gif",
    "webp",
    "zip",
    "rar",
    "7z",
    "gz",
    "docx",
    "xlsx",
    "pptx",
    "ofd",
    "mp4",
    "mp3",
}
CATALOG_NAME = "佐证材料目录"
MANIFEST_NAME = "manifest-sha256.txt"


class ExportError(RuntimeError):
    """The package could not be written (a blob is missing or damaged)."""


# -- the coverage report -----------------------------------------------------------------------


def coverage_report(
    session: Session,
    framework_id: int,
    *,
    today: date | None = None,
    coverage: Coverage | None = None,
    findings: list[Finding] | None = None,
) -> dict[str, Any]:
    """``evidence coverage --json``: summary, leaf indicators and findings."""
    coverage = coverage or compute_coverage(session, framework_id)
    if findings is None:
        findings = compute_findings(session, framework_id, coverage=coverage, today=today)
    summary = coverage.summary()
    summary["findings"] = len(findings)
    return {
        "framework": {"id": coverage.framework_id, "name": coverage.framework_name},
        "summary": summary,
        "indicators": [i.as_json() for i in coverage.leaves],
        "levels": {
            "1": [i.as_json() for i in coverage.level(1)],
            "2": [i.as_json() for i in coverage.level(2)],
        },
        "departments": coverage.by_department(today),
        "findings": [f.as_json() for f in findings],
    }


def first_sheet(wb: Workbook) -> Worksheet:
    """A new workbook's one sheet."""
    from openpyxl.worksheet.worksheet import Worksheet

    ws = wb.active
    assert isinstance(ws, Worksheet)
    return ws


def save_workbook(wb: Workbook, out: Any) -> None:
    """Save with every cell's text as text: openpyxl turns a string that starts with "="
    into a formula, and titles, names and comments come from users and imported tables
    (=HYPERLINK(…) must not become a live link). The exports write no formulas of their own."""
    for sheet in wb.worksheets:
        for cells in sheet.iter_rows():
            for cell in cells:
                if cell.data_type == "f":
                    cell.data_type = "s"
    wb.save(out)


def style_sheet(ws: Any, widths: list[int]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    fill = PatternFill("solid", fgColor="DDEBF7")
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width


def write_coverage_xlsx(
    session: Session,
    framework_id: int,
    out: str | Path | BinaryIO,
    *,
    today: date | None = None,
    coverage: Coverage | None = None,
    findings: list[Finding] | None = None,
    base_url: str = "",
) -> None:
    """The coverage report as a workbook: 汇总, 指标, 佐证条目, 问题清单. Files are named
    (not numbered) and links are whole addresses under ``base_url`` when it is given."""
    coverage = coverage or compute_coverage(session, framework_id)
    if findings is None:
        findings = compute_findings(session, framework_id, coverage=coverage, today=today)
    names = _document_names(
        session,
        {d for e in coverage.entries for d in e.documents}
        | {d for f in findings for d in f.documents},
    )
    scores = expert_scores(session, framework_id)
    s = coverage.summary()
    from openpyxl import Workbook

    wb = Workbook()
    ws = first_sheet(wb)
    ws.title = "汇总"
    ws.append(["项目", "数值"])
    rows: list[tuple[str, Any]] = [
        ("指标体系", coverage.framework_name),
        ("三级指标", s["indicators"]),
        ("材料齐全", s["indicators_complete"]),
        ("部分提供", s["indicators_partial"]),
        ("材料缺失", s["indicators_none"]),
        ("不适用（二选一）", s["indicators_not_applicable"]),
        ("审核通过的指标", s["indicators_approved"]),
        ("佐证条目", s["entries"]),
        ("已提供条目", s["entries_filled"]),
        ("处理中条目", s["entries_pending"]),
        ("文件无法读取的条目", s["entries_unusable"]),
        ("缺失条目", s["entries_missing"]),
        ("审核通过的条目", s["entries_approved"]),
        ("文件数", s["documents"]),
        ("可用文件数", s["documents_usable"]),
        ("分值合计", s["points_total"]),
        ("材料齐全的指标分值", s["points_covered"]),
        ("自评总分", s["self_score_total"]),
        ("有佐证的自评分", s["self_score_supported"]),
        ("问题总数", len(findings)),
    ]
    counts: dict[str, int] = defaultdict(int)
    for f in findings:
        counts[f.kind] += 1
    rows += [(f"问题：{KIND_LABELS[k]}", n) for k, n in counts.items()]
    for row in rows:
        ws.append(list(row))
    style_sheet(ws, [28, 40])

    ws = wb.create_sheet("指标")
    ws.append(
        [
            "指标编号",
            "指标名称",
            "状态",
            "条目数",
            "已提供条目",
            "审核通过条目",
            "文件数",
            "可用文件数",
            "分值",
            "自评得分",
            "专家评分",
            "责任部门",
            "责任人",
            "截止日期",
        ]
    )
    for leaf in coverage.leaves:
        j = leaf.as_json()
        ws.append(
            [
                leaf.code,
                leaf.name,
                STATE_LABELS[leaf.state],
                j["entries"],
                j["entries_filled"],
                j["entries_approved"],
                j["documents"],
                j["documents_usable"],
                leaf.max_points,
                leaf.self_score,
                scores.get(leaf.id, {}).get("expert_score"),
                leaf.department,
                leaf.owner,
                leaf.due_date,
            ]
        )
    style_sheet(ws, [10, 40, 10, 8, 10, 12, 8, 10, 8, 10, 10, 14, 10, 12])

    ws = wb.create_sheet("佐证条目")
    ws.append(
        [
            "指标编号",
            "条目编号",
            "条目名称",
            "状态",
            "文件编号",
            "审核通过",
            "责任部门",
            "责任人",
            "截止日期",
        ]
    )
    for e in coverage.entries:
        leaf = coverage.indicator(e.indicator_id)
        ws.append(
            [
                leaf.code,
                e.code,
                e.title,
                ENTRY_STATE_LABELS[e.state] if e.applicable else STATE_LABELS["not_applicable"],
                "、".join(names.get(d, f"#{d}") for d in e.documents),
                "是" if e.approved else "",
                e.department or leaf.department,
                e.owner or leaf.owner,
                e.due_date,
            ]
        )
    style_sheet(ws, [10, 12, 60, 12, 16, 10, 14, 10, 12])

    ws = wb.create_sheet("问题清单")
    ws.append(["严重程度", "类型", "编号", "文件", "说明", "链接"])
    for f in findings:
        ws.append(
            [
                SEVERITY_LABELS[f.severity],
                KIND_LABELS[f.kind],
                "、".join(f.codes),
                "、".join(names.get(d, f"#{d}") for d in f.documents),
                f.detail,
                base_url.rstrip("/") + f.link if base_url and f.link.startswith("/") else f.link,
            ]
        )
    style_sheet(ws, [10, 16, 24, 14, 80, 22])
    for sheet in wb.worksheets:
        for cells in sheet.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, date):
                    cell.number_format = "yyyy-mm-dd"
    save_workbook(wb, out)


# -- names -------------------------------------------------------------------------------------

_FORBIDDEN = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(10)}


def _document_names(session: Session, ids: set[int]) -> dict[int, str]:
    """Each document as people find it: its current file name and its number."""
    names: dict[int, str] = {}
    for start in range(0, len(ids), 5000):
        chunk = sorted(ids)[start : start + 5000]
        for doc in session.scalars(select(Document).where(Document.id.in_(chunk))):
            current = doc.current
            names[doc.id] = f"{current.original_name if current else doc.title}（#{doc.id}）"
    return names


def safe_name(text: str, max_chars: int) -> str:
    """A file or folder name Windows accepts: no / \\ : * ? " < > |, no control characters,
    no trailing dots or spaces, not a reserved device name, at most ``max_chars``."""
    text = unicodedata.normalize("NFC", text)
    text = _FORBIDDEN.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > max_chars:
        text = text[:max_chars].rstrip()
    text = text.rstrip(". ")
    if text.split(".")[0].upper() in _RESERVED:
        text = "_" + text
    return text or "_"


def _extension(original_name: str, file_type: str) -> str:
    ext = original_name.rsplit(".", 1)[-1] if "." in original_name else file_type
    ext = re.sub(r"[^0-9A-Za-z]", "", ext or "").lower()[:10]
    return f".{ext}" if ext else ""


# -- the package -------------------------------------------------------------------------------


@dataclass
class PackageFile:
    path: str  # inside the ZIP
    document_id: int
    sha256: str
    size: int
    pages: int
    status: str
    review_status: str
    modified: datetime
    file_type: str


@dataclass
class CatalogRow:
    indicator_code: str
    indicator_name: str
    entry_code: str
    entry_title: str
    path: str  # the file in the package, or 缺失
    pages: int | None
    sha256: str
    review: str
    state: str
    signed: str = ""  # 电子签章: 是（signers）/ 否; empty for a missing file


@dataclass
class PackagePlan:
    framework_name: str
    folders: list[str] = field(default_factory=list)
    files: list[PackageFile] = field(default_factory=list)
    catalog: list[CatalogRow] = field(default_factory=list)


@dataclass
class _DocRow:
    id: int
    title: str
    status: str
    review_status: str
    pages: int
    file_type: str
    sha256: str
    size: int
    original_name: str
    created_at: datetime
    signature_count: int
    signatures: list[dict[str, Any]] | None
    code: str  # the file's own code (2.7.1-11 linked to its indicator: no such entry)


def _linked_documents(
    session: Session, framework_id: int
) -> tuple[dict[int, list[_DocRow]], dict[int, list[_DocRow]]]:
    """Not deleted documents with their current version: by entry id, and by indicator id for
    documents linked to an indicator itself."""
    newest = (
        select(DocumentVersion.document_id, func.max(DocumentVersion.number).label("number"))
        .group_by(DocumentVersion.document_id)
        .subquery()
    )
    cols = (
        Document.id,
        Document.title,
        Document.status,
        Document.review_status,
        Document.page_count,
        Document.file_type,
        DocumentVersion.blob_sha256,
        DocumentVersion.size,
        DocumentVersion.original_name,
        DocumentVersion.created_at,
        DocumentVersion.signature_count,
        DocumentVersion.signatures,
        Document.code,
    )

    def rows(target: Any, where: Any) -> dict[int, list[_DocRow]]:
        stmt = (
            select(target, *cols)
            .select_from(DocumentLink)
            .join(Document, Document.id == DocumentLink.document_id)
            .join(newest, newest.c.document_id == Document.id)
            .join(
                DocumentVersion,
                and_(
                    DocumentVersion.document_id == Document.id,
                    DocumentVersion.number == newest.c.number,
                ),
            )
            .where(Document.deleted.is_(False), where)
            .order_by(Document.id)
        )
        out: dict[int, list[_DocRow]] = defaultdict(list)
        for r in session.execute(stmt):
            out[r[0]].append(_DocRow(*r[1:]))
        return out

    by_entry = rows(
        DocumentLink.entry_id,
        DocumentLink.entry_id.in_(
            select(CatalogEntry.id).where(CatalogEntry.framework_id == framework_id)
        ),
    )
    by_indicator = rows(
        DocumentLink.indicator_id,
        and_(
            DocumentLink.entry_id.is_(None),
            DocumentLink.indicator_id.in_(
                select(Indicator.id).where(Indicator.framework_id == framework_id)
            ),
        ),
    )
    return by_entry, by_indicator


def _folder(coverage: Coverage, leaf: IndicatorCoverage) -> str:
    parts: list[str] = []
    node: IndicatorCoverage | None = leaf
    seen: set[int] = set()
    while node is not None and node.id not in seen:
        seen.add(node.id)
        parts.append(safe_name(f"{node.code} {node.name}", MAX_FOLDER_CHARS))
        node = coverage.indicator(node.parent_id) if node.parent_id is not None else None
    return "/".join(reversed(parts))


def plan_package(session: Session, framework_id: int) -> PackagePlan:
    """Where every file goes in the package and what the catalog says; reads no blob."""
    coverage = compute_coverage(session, framework_id)
    by_entry, by_indicator = _linked_documents(session, framework_id)
    plan = PackagePlan(framework_name=coverage.framework_name)
    used: set[str] = set()

    def place(folder: str, stem: str, doc: _DocRow, n: int) -> str:
        """The n-th file (from 1) of an entry; the second and later get " (n)"."""
        ext = _extension(doc.original_name, doc.file_type)
        stem = safe_name(stem, MAX_FILE_CHARS)
        while True:
            name = stem if n == 1 else f"{stem} ({n})"
            path = f"{folder}/{name}{ext}"
            if path.lower() not in used:
                used.add(path.lower())
                return path
            n += 1

    def add(
        leaf: IndicatorCoverage, folder: str, code: str, title: str, doc: _DocRow, n: int
    ) -> None:
        path = place(folder, f"{code} {title}", doc, n)
        plan.files.append(
            PackageFile(
                path=path,
                document_id=doc.id,
                sha256=doc.sha256,
                size=doc.size,
                pages=doc.pages,
                status=doc.status,
                review_status=doc.review_status,
                modified=doc.created_at,
                file_type=doc.file_type,
            )
        )
        state = STATUS_LABELS.get(doc.status, doc.status)
        plan.catalog.append(
            CatalogRow(
                leaf.code,
                leaf.name,
                code if code != leaf.code else "",
                title,
                path,
                doc.pages,
                doc.sha256,
                REVIEW_LABELS.get(doc.review_status, doc.review_status),
                state,
                signed_text(doc.signature_count, doc.signatures, doc.file_type),
            )
        )

    def missing(leaf: IndicatorCoverage, code: str, title: str) -> None:
        state = "缺失" if leaf.applicable else STATE_LABELS["not_applicable"]
        plan.catalog.append(
            CatalogRow(leaf.code, leaf.name, code, title, state, None, "", "", state)
        )

    for leaf in coverage.leaves:
        folder = _folder(coverage, leaf)
        plan.folders.append(folder)
        for e in leaf.entries:
            docs = by_entry.get(e.id, [])
            for n, doc in enumerate(docs, start=1):
                add(leaf, folder, e.code, e.title, doc, n)
            if not docs:
                missing(leaf, e.code, e.title)
        direct = by_indicator.get(leaf.id, [])
        for doc in direct:
            # a file linked by a finer code than its indicator's (an entry code the table
            # numbered twice, say) keeps that code in its name
            code = doc.code if (doc.code or "").startswith(leaf.code) else leaf.code
            add(leaf, folder, code, doc.title, doc, 1)
        if not leaf.entries and not direct:
            missing(leaf, "", "")
    return plan


CATALOG_HEADER = [
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
]


def _catalog_values(row: CatalogRow) -> list[Any]:
    return [
        row.indicator_code,
        row.indicator_name,
        row.entry_code,
        row.entry_title,
        row.path,
        row.pages,
        row.sha256,
        row.review,
        row.state,
        row.signed,
    ]


def catalog_xlsx(plan: PackagePlan) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = first_sheet(wb)
    ws.title = CATALOG_NAME
    ws.append(CATALOG_HEADER)
    file_column = CATALOG_HEADER.index("文件") + 1
    for row in plan.catalog:
        ws.append(_catalog_values(row))
        if row.sha256:  # a file in the package: the cell opens it (relative to the workbook)
            cell = ws.cell(row=ws.max_row, column=file_column)
            cell.hyperlink = row.path
            cell.style = "Hyperlink"
    style_sheet(ws, [10, 30, 12, 50, 60, 6, 66, 10, 12, 24])
    buf = io.BytesIO()
    save_workbook(wb, buf)
    return buf.getvalue()


def catalog_docx(plan: PackagePlan) -> bytes:
    from docx import Document as WordDocument
    from docx.enum.section import WD_ORIENT
    from docx.shared import Cm, Pt

    doc = WordDocument()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = section.page_height, section.page_width
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(1.5))
    doc.add_heading(f"{CATALOG_NAME}：{plan.framework_name}", level=1)
    header = ["指标", *CATALOG_HEADER[2:]]  # the indicator's code and name in one column
    table = doc.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        cell.text = text
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for row in plan.catalog:
        values = [
            row.indicator_code,
            row.entry_code,
            row.entry_title,
            row.path,
            "" if row.pages is None else str(row.pages),
            row.sha256,
            row.review,
            row.state,
            row.signed,
        ]
        cells = table.add_row().cells
        for cell, text in zip(cells, values, strict=True):
            cell.text = text
            for run in cell.paragraphs[0].runs:
                run.font.size = Pt(7 if text == row.sha256 and text else 9)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _zipinfo(path: str, when: datetime | None, compress: int) -> zipfile.ZipInfo:
    when = when or datetime.now()
    info = zipfile.ZipInfo(path, date_time=max(when, datetime(1980, 1, 1)).timetuple()[:6])
    info.compress_type = compress
    info.external_attr = (0o644 & 0xFFFF) << 16
    info.flag_bits |= UTF8_FLAG  # names are UTF-8 (zipfile sets it for non-ASCII names too)
    return info


def write_package(
    session: Session,
    runtime: Runtime,
    framework_id: int,
    out: str | Path | BinaryIO,
    *,
    plan: PackagePlan | None = None,
    user: User | None = None,
) -> dict[str, Any]:
    """Write the evidence package ZIP to a path or a binary stream; returns a summary.

    Each blob is streamed into the ZIP in 1 MB chunks and hashed on the way; a missing or
    altered blob raises ExportError.
    """
    plan = plan or plan_package(session, framework_id)
    manifest: list[tuple[str, str]] = []
    total = 0
    with zipfile.ZipFile(out, "w", allowZip64=True) as zf:
        for folder in plan.folders:
            info = _zipinfo(folder + "/", None, zipfile.ZIP_STORED)
            info.external_attr = (0o40755 << 16) | 0x10
            zf.writestr(info, b"")
        for f in plan.files:
            ext = f.path.rsplit(".", 1)[-1].lower() if "." in f.path else ""
            compress = zipfile.ZIP_STORED if ext in STORED_TYPES else zipfile.ZIP_DEFLATED
            info = _zipinfo(f.path, f.modified, compress)
            info.file_size = f.size
            digest = hashlib.sha256()
            try:
                src = runtime.blobs.open(f.sha256)
            except Exception as e:
                raise ExportError(f"文件 #{f.document_id} 的原件在存储中找不到") from e
            with src, zf.open(info, "w") as dest:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    dest.write(chunk)
            if digest.hexdigest() != f.sha256:
                raise ExportError(f"文件 #{f.document_id} 的原件已损坏（SHA-256 不符）")
            manifest.append((f.sha256, f.path))
            total += f.size
        for name, data in (
            (f"{CATALOG_NAME}.xlsx", catalog_xlsx(plan)),
            (f"{CATALOG_NAME}.docx", catalog_docx(plan)),
        ):
            zf.writestr(_zipinfo(name, None, zipfile.ZIP_DEFLATED), data)
            manifest.append((hashlib.sha256(data).hexdigest(), name))
        text = "".join(f"{sha}  {path}\n" for sha, path in manifest)
        zf.writestr(_zipinfo(MANIFEST_NAME, None, zipfile.ZIP_DEFLATED), text.encode("utf-8"))
    summary = {
        "framework": plan.framework_name,
        "files": len(plan.files),
        "bytes": total,
        "missing": sum(1 for r in plan.catalog if r.state == "缺失"),
        "catalog_rows": len(plan.catalog),
    }
    audit.record(session, user, "framework.export", session.get(Framework, framework_id), **summary)
    session.flush()
    return summary


def package_paths(plan: PackagePlan) -> Iterable[str]:
    """Every member name the package will have (folders end with /)."""
    yield from (f + "/" for f in plan.folders)
    yield from (f.path for f in plan.files)
    yield f"{CATALOG_NAME}.xlsx"
    yield f"{CATALOG_NAME}.docx"
    yield MANIFEST_NAME
