"""Building users, frameworks, tokens and documents for tests, the way the app does.

The conftest fixtures (``make_user``, ``make_framework``, ``token_for``) call these; tests
that need rows with exact statuses write documents with ``add_document``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_app.auth.users import create_token, create_user
from evidence_app.documents.ingest import IngestReport, ingest_files
from evidence_app.frameworks.operations import import_framework_file
from evidence_app.runtime import Runtime
from storage import (
    Blob,
    CatalogEntry,
    Document,
    DocumentLink,
    DocumentPage,
    DocumentVersion,
    Indicator,
    User,
    UserAssignment,
)

PASSWORD = "correct-horse-9"


def make_user(runtime: Runtime, role: str, username: str | None = None, **kwargs: Any) -> User:
    """A committed user (detached from its session) with the test password."""
    with runtime.unit_of_work() as s:
        user = create_user(s, username or role, PASSWORD, role, **kwargs)
        s.flush()
        s.refresh(user)
        s.expunge(user)
    return user


def make_framework(runtime: Runtime, path: Path, **kwargs: Any) -> dict[str, Any]:
    """Import a framework table; the import report."""
    with runtime.unit_of_work() as s:
        return import_framework_file(s, path, **kwargs)


def bearer_header(runtime: Runtime, user: User) -> dict[str, str]:
    """An Authorization header with a new API token of ``user``."""
    with runtime.unit_of_work() as s:
        token = create_token(s, s.get(User, user.id), "test")
    return {"Authorization": f"Bearer {token}"}


def ingest(
    runtime: Runtime, paths: list[Path], framework_id: int | None, **kwargs: Any
) -> IngestReport:
    """Store and process files as ``evidence ingest`` does."""
    return ingest_files(runtime, paths, framework_id=framework_id, **kwargs)


@contextmanager
def worker_stopped(runtime: Runtime) -> Iterator[None]:
    """Commits hand new pending documents to the queue; here no worker takes them."""
    runtime.jobs.process = lambda document_ids: None  # type: ignore[union-attr, method-assign]
    try:
        yield
    finally:
        del runtime.jobs.process  # type: ignore[union-attr]


def add_document(
    session: Session,
    runtime: Runtime,
    framework_id: int,
    name: str,
    data: bytes,
    *,
    entry: CatalogEntry | None = None,
    indicator: Indicator | None = None,
    status: str = "indexed",
    pages: list[tuple[str, str]] | None = None,
    review_status: str = "pending",
    code: str | None = None,
    deleted: bool = False,
) -> Document:
    """One document row with its blob, version, link and pages."""
    stored = runtime.blobs.put(io.BytesIO(data))
    sha, size = stored.sha256, stored.size
    if session.get(Blob, sha) is None:
        session.add(Blob(sha256=sha, size=size))
    if code is None:
        code = entry.code if entry else indicator.code if indicator else ""
    stem, _, ext = name.rpartition(".")
    doc = Document(
        framework_id=framework_id,
        title=stem[len(code) :].strip() if code and stem.startswith(code) else stem,
        code=code,
        file_type=ext,
        status=status,
        status_reason="" if status in ("indexed", "pending") else f"测试状态 {status}",
        review_status=review_status,
        page_count=len(pages or []),
        ocr_pages=sum(1 for _, source in pages or [] if source == "ocr"),
        deleted=deleted,
    )
    doc.versions.append(DocumentVersion(number=1, blob_sha256=sha, original_name=name, size=size))
    if entry is not None:
        doc.links.append(DocumentLink(entry_id=entry.id, code=entry.code))
    elif indicator is not None:
        doc.links.append(DocumentLink(indicator_id=indicator.id, code=indicator.code))
    for number, (text, source) in enumerate(pages or [], start=1):
        doc.pages.append(DocumentPage(number=number, text=text, source=source))
    session.add(doc)
    session.flush()
    return doc


def limit_scope(runtime: Runtime, user: User, framework_id: int, codes: list[str]) -> None:
    """Make ``user`` limited-scope staff responsible for the indicators with these codes."""
    with runtime.unit_of_work() as s:
        stored = s.get(User, user.id)
        assert stored is not None
        stored.limited_scope = True
        for code in codes:
            indicator = s.scalars(
                select(Indicator).where(
                    Indicator.framework_id == framework_id, Indicator.code == code
                )
            ).first()
            assert indicator is not None, code
            s.add(UserAssignment(user_id=stored.id, indicator_id=indicator.id))


def multi_page_pdf(pages: list[str]) -> bytes:
    """A PDF with one line of Chinese text per page (reportlab's CID font, no font file)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    c = canvas.Canvas(out)
    for text in pages:
        c.setFont("STSong-Light", 16)
        c.drawString(72, 700, text)
        c.showPage()
    c.save()
    return out.getvalue()


def inflated_docx(path: Path, chunk: bytes, xml_bytes: int) -> Path:
    """A real DOCX (python-docx's) whose word/document.xml body is ``chunk`` (paragraph XML)
    repeated to at least ``xml_bytes``: small on disk, large once unpacked."""
    import zipfile

    from docx import Document as WordDocument

    seed = path.with_name(f"seed-{path.name}")
    word = WordDocument()
    word.add_paragraph("种子")
    word.save(str(seed))
    with zipfile.ZipFile(seed) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.filename != "word/document.xml":
                out.writestr(info, src.read(info))
                continue
            head, _, tail = src.read(info).decode().partition("<w:body>")
            with out.open("word/document.xml", "w") as target:
                target.write((head + "<w:body>").encode())
                for _ in range(xml_bytes // len(chunk) + 1):
                    target.write(chunk)
                target.write(("</w:body>" + tail.split("</w:body>", 1)[1]).encode())
    seed.unlink()
    return path
