"""Ingestion: store uploaded files (one by one, folders, ZIPs), link them by evidence code,
extract their text and index it.

The original is in the blob store and its row committed before any processing, so a failure
in extraction or OCR never loses an upload; each document ends in a status with a reason.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any, BinaryIO

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from evidence_app.admin import audit
from evidence_app.auth.permissions import scoped_indicator_ids
from evidence_app.documents.archives import (
    ArchiveLimits,
    ArchiveRefusedError,
    is_zip,
    iter_member_streams,
    open_archive,
)
from evidence_app.documents.reasons import reason_for
from evidence_app.frameworks import entry_indicator_code
from evidence_app.runtime import Runtime
from evidence_app.search.indexing import lock_blob
from evidence_app.uow import record_blob, record_pages
from indexer import (
    ChildDiedError,
    EncryptedError,
    ExtractionCrashError,
    ExtractionError,
    ExtractionSandbox,
    FileFacts,
    MemoryLimitError,
    Page,
    TimeLimitError,
    UnsupportedFormatError,
    detect_file_type,
    extract_pages,
    file_type_from_name,
    inspect_file,
)
from storage import (
    Blob,
    BlobNotFoundError,
    BlobTooLargeError,
    CatalogEntry,
    Document,
    DocumentLink,
    DocumentPage,
    DocumentStatus,
    DocumentVersion,
    Framework,
    Indicator,
    StorageError,
    StorageFullError,
    User,
    utcnow,
)

log = logging.getLogger(__name__)

# A code at the start of a file or folder name: 2.3.4-1, 2.3.6-7-2, 2.3.4.4, 2.3.4, 2.3, 2.
NAME_CODE_RE = re.compile(
    r"^\s*(\d{1,2}(?:\.\d{1,2}){0,3}(?:-\d{1,3})*)(?=$|[\s._、\-—:：)）\]】]|[^\d.\-])"
)
MAX_NAME = 200
SKIPPED_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}


class UploadRejected(ValueError):
    """One file refused; the message (Chinese) is shown to the uploader."""


@dataclass
class Upload:
    """One file to store: its name, its path inside a folder or ZIP, and how to read it."""

    name: str
    rel_path: str
    opener: Callable[[], Any]  # returns a context manager yielding a binary stream
    size: int | None = None  # when known in advance (files on disk)


@dataclass
class IngestReport:
    accepted: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)  # stored now, to be processed

    def as_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": self.rejected, "documents": self.documents}


# -- names and codes -------------------------------------------------------------------------


def clean_filename(name: str) -> str:
    """A display-safe file name: no control characters, folded spaces, bounded length."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(ch for ch in name if ch.isprintable() or ch == " ")
    name = re.sub(r"\s+", " ", name).strip()
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext if dot and len(ext) <= 10 else ""
        name = name[: MAX_NAME - len(ext) - 1] + ("." + ext if ext else "")
    return name or "未命名文件"


_EXTENSION_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,9}|[0-9][A-Za-z][A-Za-z0-9]{0,8}")


def name_stem(name: str) -> str:
    """The name without its extension; a dot inside a code is not one ("2.3.4-4 扫描件"
    stays whole, "2.3.4-4 名单.pdf" loses ".pdf")."""
    stem, dot, ext = name.rpartition(".")
    return stem if dot and stem and _EXTENSION_RE.fullmatch(ext) else name


def parse_code(name: str) -> str:
    """The code at the start of a file or folder name ('2.3.4-1 明细表.pdf' -> '2.3.4-1')."""
    stem = name.rsplit("/", 1)[-1]
    m = NAME_CODE_RE.match(stem)
    if not m:
        return ""
    code = m.group(1).rstrip(".")
    # '2022年…' and other bare numbers are not codes; a one-part code needs a separator after it
    if "." not in code and "-" not in code:
        rest = stem[m.end(1) :]
        return code if re.match(r"^\s*[.、]\s*\D", rest) and len(code) <= 2 else ""
    if "." not in code:
        return ""
    return code


def code_from_path(rel_path: str) -> str:
    """The file name's code, else the deepest folder's (2.提质/2.3 产教融合/2.3.4 …/x.pdf)."""
    parts = [p for p in rel_path.replace("\\", "/").split("/") if p]
    if not parts:
        return ""
    stem = name_stem(parts[-1])
    code = parse_code(stem)
    if code:
        return code
    for folder in reversed(parts[:-1]):
        code = parse_code(folder)
        if code:
            return code
    return ""


def title_from_name(name: str, code: str) -> str:
    stem = name_stem(name)
    if code and stem.lstrip().startswith(code):
        stem = stem.lstrip()[len(code) :]
    return stem.strip(" _-—.、:：") or name


def _indicator_code(code: str) -> str:
    return entry_indicator_code(code) if "-" in code or code.count(".") >= 3 else code


def folder_codes(rel_path: str) -> list[str]:
    """Codes of the folders a file sits in ('2.提质/2.1 …/2.1.2 …/x.pdf' -> ['2', '2.1', '2.1.2'])."""
    parts = [p for p in rel_path.replace("\\", "/").split("/") if p][:-1]
    return [c for c in (parse_code(p) for p in parts) if c]


def resolve_code(
    session: Session, framework_id: int | None, code: str, folders: list[str] | None = None
) -> tuple[CatalogEntry | None, Indicator | None]:
    """The catalog entry with this code, else the indicator it names, else (None, None).

    A code listed twice (a recorded anomaly) goes to the entry whose indicator is named by
    one of the file's folders, else to the one under its own indicator."""
    if not code or framework_id is None:
        return None, None
    entries = session.scalars(
        select(CatalogEntry)
        .where(CatalogEntry.framework_id == framework_id, CatalogEntry.code == code)
        .order_by(CatalogEntry.position)
    ).all()
    if entries:
        own = _indicator_code(code)
        named = set(folders or ())
        entries = sorted(
            entries, key=lambda e: (e.indicator.code not in named, e.indicator.code != own)
        )
        return entries[0], None
    # an indicator with exactly this code first (a KPI 1.1.5.1), else the one it names
    indicator = session.scalars(
        select(Indicator)
        .where(
            Indicator.framework_id == framework_id,
            Indicator.code.in_(sorted({code, _indicator_code(code)})),
        )
        .order_by(Indicator.code != code, Indicator.level.desc(), Indicator.variant)
    ).first()
    return None, indicator


# -- collecting uploads ----------------------------------------------------------------------


@contextmanager
def _open_path(path: Path) -> Iterator[BinaryIO]:
    with open(path, "rb") as f:
        yield f


def uploads_from_paths(paths: Iterable[Path]) -> Iterator[Upload | tuple[str, str]]:
    """Uploads for files and folders (walked in name order); (name, reason) for bad paths."""
    for path in paths:
        path = Path(path)
        if path.is_symlink():
            yield (path.name, "符号链接未导入")
        elif path.is_dir():
            base = path.parent
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for fname in sorted(files):
                    full = Path(root) / fname
                    if fname.lower() in SKIPPED_NAMES or fname.startswith("~$"):
                        continue
                    if full.is_symlink():
                        yield (fname, "符号链接未导入")
                        continue
                    rel = full.relative_to(base).as_posix()
                    yield Upload(fname, rel, partial(_open_path, full), full.stat().st_size)
        elif path.is_file():
            yield Upload(path.name, path.name, partial(_open_path, path), path.stat().st_size)
        else:
            yield (path.name or str(path), "文件不存在")


# -- storing ---------------------------------------------------------------------------------


def store_upload_blob(session: Session, runtime: Runtime, stream: IO[bytes]) -> tuple[str, int]:
    """Put an uploaded file into the blob store (recorded in the unit of work, so that a
    rollback removes it); (sha256, size). UploadRejected when too large or empty."""
    try:
        stored = runtime.blobs.put(stream, max_bytes=runtime.config.MAX_UPLOAD_BYTES)
    except BlobTooLargeError as e:
        limit = runtime.config.MAX_UPLOAD_BYTES // 1024**2
        raise UploadRejected(f"文件超过上传上限（{limit} MB）") from e
    record_blob(session, stored.sha256)
    if stored.size == 0:
        raise UploadRejected("文件为空（0 字节）")
    return stored.sha256, stored.size


def _ensure_blob(session: Session, sha: str, size: int) -> None:
    """Insert the blob row unless it exists; safe against concurrent uploads of the same bytes."""
    lock_blob(session, sha)
    dialect = session.get_bind().dialect.name
    values = {"sha256": sha, "size": size, "created_at": utcnow()}
    if dialect == "postgresql":
        session.execute(
            pg_insert(Blob).values(**values).on_conflict_do_nothing(index_elements=["sha256"])
        )
    elif dialect == "sqlite":
        session.execute(
            sqlite_insert(Blob).values(**values).on_conflict_do_nothing(index_elements=["sha256"])
        )
    elif session.get(Blob, sha) is None:  # pragma: no cover - other databases: not supported
        session.add(Blob(**values))


def _lock_upload_key(session: Session, key: str) -> None:
    """Serialise concurrent uploads of the same bytes to the same place until commit, so the
    duplicate check below cannot race (SQLite: the blob INSERT already took the write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def store_stream(
    session: Session,
    runtime: Runtime,
    stream: BinaryIO,
    *,
    name: str,
    rel_path: str,
    framework_id: int | None,
    user: User | None,
    entry_id: int | None = None,
    indicator_id: int | None = None,
    scope: set[int] | None = None,
    code_targets: set[int] | None = None,
) -> tuple[Document, bool]:
    """Store one file and link it; returns (document, duplicate). Flushes, does not commit.

    ``scope``: the indicators the uploader may manage (None: all); a file whose code links
    it elsewhere is refused (UploadRejected), as an explicit target outside it is.
    ``code_targets``: with an explicit indicator, a file whose own code names an entry or
    indicator among these goes there instead (answering a 调阅 request)."""
    display = clean_filename(name)
    sha, size = store_upload_blob(session, runtime, stream)
    _ensure_blob(session, sha, size)

    code = code_from_path(rel_path or name)
    entry = session.get(CatalogEntry, entry_id) if entry_id else None
    indicator = session.get(Indicator, indicator_id) if indicator_id else None
    if entry is not None:
        framework_id = entry.framework_id
        code = code if code == entry.code else entry.code
    elif indicator is not None:
        framework_id = indicator.framework_id
        if code_targets is not None:
            named = resolve_code(session, framework_id, code, folder_codes(rel_path))
            named_target = named[0].indicator_id if named[0] else named[1].id if named[1] else None
            if named_target in code_targets:
                entry, indicator = named
    else:
        entry, indicator = resolve_code(session, framework_id, code, folder_codes(rel_path))
    target = entry.indicator_id if entry is not None else indicator.id if indicator else None
    if scope is not None and target is not None and target not in scope:
        raise UploadRejected(f"编号 {code} 属于您负责范围以外的指标，未上传")

    _lock_upload_key(session, f"{framework_id}:{code}:{sha}")
    existing = session.scalars(
        select(Document)
        .join(DocumentVersion, DocumentVersion.document_id == Document.id)
        .where(
            DocumentVersion.blob_sha256 == sha,
            Document.deleted.is_(False),
            Document.code == code,
            Document.framework_id.is_(None)
            if framework_id is None
            else Document.framework_id == framework_id,
        )
    ).first()
    if existing is not None:
        audit.record(session, user, "document.duplicate_upload", existing, name=display, sha256=sha)
        return existing, True

    document = Document(
        framework_id=framework_id,
        title=title_from_name(display, code),
        code=code,
        # a guess from the name; processing reads the content and sets the real type
        file_type=file_type_from_name(display),
        status=DocumentStatus.PENDING,
        source_path=clean_path(rel_path),
        uploaded_by_id=user.id if user else None,
    )
    document.versions.append(
        DocumentVersion(
            number=1,
            blob_sha256=sha,
            original_name=display,
            size=size,
            uploaded_by_id=user.id if user else None,
        )
    )
    if entry is not None:
        document.links.append(
            DocumentLink(
                entry_id=entry.id, code=entry.code, created_by_id=user.id if user else None
            )
        )
    elif indicator is not None:
        document.links.append(
            DocumentLink(
                indicator_id=indicator.id,
                code=indicator.code,
                created_by_id=user.id if user else None,
            )
        )
    session.add(document)
    session.flush()
    audit.record(
        session,
        user,
        "document.upload",
        document,
        name=display,
        sha256=sha,
        size=size,
        code=code,
        entry=entry.code if entry else None,
        indicator=indicator.code if indicator else None,
    )
    return document, False


def clean_path(rel_path: str) -> str:
    parts = [clean_filename(p) for p in rel_path.replace("\\", "/").split("/") if p]
    return "/".join(parts)[:1000]


def document_summary(document: Document) -> dict[str, Any]:
    entry = next((link.entry for link in document.links if link.entry is not None), None)
    indicator = next(
        (link.indicator for link in document.links if link.indicator is not None), None
    )
    if indicator is None and entry is not None:
        indicator = entry.indicator
    current = document.current
    return {
        "id": document.id,
        "name": current.original_name if current else document.title,
        "code": document.code,
        "entry": entry.code if entry else None,
        "indicator": indicator.code if indicator else None,
        "status": document.status,
    }


def ingest_uploads(
    session: Session,
    runtime: Runtime,
    uploads: Iterable[Upload | tuple[str, str]],
    *,
    framework_id: int | None,
    user: User | None,
    entry_id: int | None = None,
    indicator_id: int | None = None,
    progress: Callable[[str], None] | None = None,
    code_targets: set[int] | None = None,
) -> IngestReport:
    """Store every upload (ZIPs expanded), each in a savepoint so one refused file leaves the
    others; flushes. The commit hands the new documents to processing (``uow``)."""
    report = IngestReport()
    new_ids = report.new_ids
    docs: list[Document] = []
    limits = ArchiveLimits(
        max_total_bytes=runtime.config.ZIP_MAX_TOTAL_BYTES,
        max_members=runtime.config.ZIP_MAX_MEMBERS,
        max_ratio=runtime.config.ZIP_MAX_RATIO,
        max_member_bytes=runtime.config.MAX_UPLOAD_BYTES,
    )

    scope = scoped_indicator_ids(session, user) if user is not None else None

    def store(stream: BinaryIO, name: str, rel_path: str) -> None:
        try:
            with session.begin_nested():
                document, duplicate = store_stream(
                    session,
                    runtime,
                    stream,
                    name=name,
                    rel_path=rel_path,
                    framework_id=framework_id,
                    user=user,
                    entry_id=entry_id,
                    indicator_id=indicator_id,
                    scope=scope,
                    code_targets=code_targets,
                )
        except UploadRejected as e:
            report.rejected.append({"name": clean_filename(name), "reason": str(e)})
            return
        except StorageFullError:
            report.rejected.append(
                {
                    "name": clean_filename(name),
                    "reason": "服务器存储空间已满，文件未保存，请联系管理员",
                }
            )
            return
        except StorageError as e:
            report.rejected.append({"name": clean_filename(name), "reason": f"存储失败：{e}"})
            return
        report.accepted += 1
        docs.append(document)
        if not duplicate and document.status == DocumentStatus.PENDING:
            new_ids.append(document.id)
        if progress:
            progress(name)

    for item in uploads:
        if isinstance(item, tuple):
            report.rejected.append({"name": clean_filename(item[0]), "reason": item[1]})
            continue
        limit = (
            runtime.config.ZIP_MAX_TOTAL_BYTES
            if item.name.lower().endswith(".zip")
            else runtime.config.MAX_UPLOAD_BYTES
        )
        if item.size is not None and item.size > limit:
            report.rejected.append(
                {
                    "name": clean_filename(item.name),
                    "reason": f"文件超过上传上限（{limit // 1024**2} MB），未读取",
                }
            )
            continue
        with item.opener() as stream:
            head = stream.read(8)
            stream.seek(0)
            if is_zip(head) and item.name.lower().endswith(".zip"):
                _ingest_zip(stream, item, limits, store, report)
            else:
                store(stream, item.name, item.rel_path)
    session.flush()
    report.documents.extend(document_summary(document) for document in docs)
    return report


def _ingest_zip(
    stream: BinaryIO,
    item: Upload,
    limits: ArchiveLimits,
    store: Callable[[BinaryIO, str, str], None],
    report: IngestReport,
) -> None:
    try:
        archive, members = open_archive(stream, limits)
    except ArchiveRefusedError as e:
        report.rejected.append({"name": clean_filename(item.name), "reason": str(e)})
        return
    prefix = item.rel_path.rsplit("/", 1)[0] + "/" if "/" in item.rel_path else ""
    with archive:
        try:
            for member, member_stream in iter_member_streams(archive, members):
                base = member.name.rsplit("/", 1)[-1]
                if (
                    base.lower() in SKIPPED_NAMES
                    or base.startswith("~$")
                    or "__MACOSX" in member.name
                ):
                    continue
                store(member_stream, base, prefix + member.name)
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as e:  # bad CRC, truncated
            report.rejected.append(
                {
                    "name": clean_filename(item.name),
                    "reason": f"压缩包内容损坏，未能全部读取（{type(e).__name__}）",
                }
            )


def ingest_paths(
    session: Session,
    runtime: Runtime,
    paths: Iterable[Path],
    *,
    framework_id: int | None,
    user: User | None,
    progress: Callable[[str], None] | None = None,
) -> IngestReport:
    return ingest_uploads(
        session,
        runtime,
        uploads_from_paths(paths),
        framework_id=framework_id,
        user=user,
        progress=progress,
    )


def ingest_files(
    runtime: Runtime,
    paths: Iterable[Path],
    *,
    framework_id: int | None,
    user_id: int | None = None,
    process: bool = True,
    progress: Callable[[str], None] | None = None,
) -> IngestReport:
    """Store files and folders in one unit of work; with ``process`` they are extracted and
    indexed in this process right after the commit (else a worker does it). The report's
    documents show their status after that."""
    runtime.process_inline = process
    try:
        with runtime.unit_of_work() as session:
            user = session.get(User, user_id) if user_id else None
            report = ingest_paths(
                session, runtime, paths, framework_id=framework_id, user=user, progress=progress
            )
    finally:
        runtime.process_inline = False
    ids = [d["id"] for d in report.documents]
    session = runtime.session()
    try:
        rows = {d.id: d for d in session.scalars(select(Document).where(Document.id.in_(ids)))}
        report.documents = [document_summary(rows[i]) for i in ids if i in rows]
    finally:
        session.close()
    return report


def default_framework_id(session: Session) -> int | None:
    """The newest framework in use (else the newest archived one), used when none is named."""
    return session.scalar(
        select(Framework.id)
        .order_by(Framework.archived_at.is_not(None), Framework.id.desc())
        .limit(1)
    )


# -- processing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Work:
    """What extraction needs of a document, read before the work starts."""

    document_id: int
    sha256: str | None
    original_name: str
    file_type: str  # as stored so far: kept when the content cannot be read


@dataclass(frozen=True)
class _Extracted:
    """What extraction found: the status to store, why, the pages and the file's real type;
    the file's signatures and metadata (``FileFacts``: empty when it could not be read)."""

    status: str
    reason: str
    pages: list[Any]
    file_type: str
    facts: FileFacts = field(default_factory=FileFacts)


#: a bug met while reading (its traceback is in the log)
CRASHED = "解析程序出错（已记入日志），请联系管理员；可稍后点“重试”"


def extract_document(runtime: Runtime, work: _Work) -> _Extracted:
    """Detect the current version's type from its content and extract its pages.

    Never raises for bad files. The blob is read through ``local_path`` (the file itself
    locally, a temporary download from S3) because the extractors read paths. The reading
    happens in a child process with a memory and a time limit (``ExtractionSandbox``), so a
    file that would take gigabytes, crash or hang costs its document, not the worker;
    ``EXTRACT_IN_PROCESS`` reads in this process instead."""
    if work.sha256 is None:
        return _Extracted(DocumentStatus.FAILED, "没有文件版本", [], work.file_type)
    cfg = runtime.config
    detect: Callable[..., str] = detect_file_type
    extract: Callable[..., Iterable[Page]] = extract_pages
    inspect: Callable[..., FileFacts] = inspect_file
    if not cfg.EXTRACT_IN_PROCESS:
        sandbox = ExtractionSandbox(cfg.EXTRACT_MEMORY_MB, cfg.EXTRACT_TIMEOUT_SECONDS)
        detect, extract = sandbox.detect_file_type, sandbox.extract_pages
        inspect = sandbox.inspect_file
    file_type = work.file_type
    try:
        with runtime.blobs.local_path(work.sha256) as path:
            file_type = detect(path, work.original_name)
            pages = list(
                extract(
                    path,
                    file_type,
                    ocr=cfg.OCR_ENABLED,
                    ocr_dpi=cfg.OCR_DPI,
                    max_ocr_pages=cfg.OCR_MAX_PAGES,
                )
            )
            facts = _inspect(inspect, path, file_type, work.document_id)
    except MemoryLimitError as e:
        return _Extracted(
            DocumentStatus.FAILED, f"解析时内存超过上限（{e.limit_mb} MB），已停止", [], file_type
        )
    except TimeLimitError as e:
        return _Extracted(
            DocumentStatus.FAILED, f"解析超时（{e.seconds:g} 秒没有进展），已停止", [], file_type
        )
    except ChildDiedError as e:
        log.warning("document %s: %s", work.document_id, e)
        how = f"信号 {e.signal}" if e.signal is not None else f"退出码 {e.returncode}"
        return _Extracted(DocumentStatus.FAILED, f"解析进程意外退出（{how}）", [], file_type)
    except (EncryptedError, UnsupportedFormatError, ExtractionError) as e:
        # the technical English for the log; the document says it in Chinese (reasons.py)
        log.info("document %s could not be read: %s", work.document_id, e)
        status = (
            DocumentStatus.ENCRYPTED
            if isinstance(e, EncryptedError)
            else DocumentStatus.UNSUPPORTED
            if isinstance(e, UnsupportedFormatError)
            else DocumentStatus.FAILED
        )
        return _Extracted(status, reason_for(e), [], file_type)
    except (BlobNotFoundError, FileNotFoundError):
        return _Extracted(DocumentStatus.FAILED, "存储中找不到原文件", [], file_type)
    except StorageError as e:  # the store is unreachable: retried by hand once it is back
        log.warning("document %s: could not read its blob: %s", work.document_id, e)
        return _Extracted(DocumentStatus.FAILED, "读取存储失败，请稍后重试", [], file_type)
    except MemoryError:
        return _Extracted(DocumentStatus.FAILED, "文件过大，解析时内存不足", [], file_type)
    except ExtractionCrashError as e:  # a bug in an extractor, raised in the child
        log.error("extraction crashed for document %s:\n%s", work.document_id, e.child_traceback)
        return _Extracted(DocumentStatus.FAILED, CRASHED, [], file_type)
    except Exception as e:  # a bug or a library crash must not lose the upload
        log.exception("extraction crashed for document %s: %s", work.document_id, e)
        return _Extracted(DocumentStatus.FAILED, CRASHED, [], file_type)
    if not any(p.text.strip() for p in pages):
        return _Extracted(
            DocumentStatus.EMPTY, "文件中没有可识别的文字（OCR 后仍为空）", pages, file_type, facts
        )
    return _Extracted(DocumentStatus.INDEXED, "", pages, file_type, facts)


def _inspect(
    inspect: Callable[..., FileFacts], path: Path, file_type: str, document_id: int
) -> FileFacts:
    """Signatures and metadata of a file whose pages were read: a failure here (the child
    stopped, a bug) costs these facts, never the document."""
    try:
        return inspect(path, file_type)
    except Exception as e:
        log.warning("document %s: signatures and metadata not read: %s", document_id, e)
        return FileFacts()


def process_documents(
    runtime: Runtime,
    document_ids: Iterable[int],
    batch: int = 20,
    *,
    unfinished_only: bool = False,
) -> None:
    """Extract and store the pages of each document, a batch per unit of work; the commit
    of each batch indexes it (``uow``).

    A batch is marked ``processing`` (committed) before extraction starts, so the queue page
    shows it and a dead worker's documents are recovered. ``unfinished_only`` (queued jobs):
    skip documents no longer pending or processing. A document can be queued twice (an
    upload's job, then a starting worker's recovery of pending documents); the second job
    must not take a finished document back to ``processing``.
    """
    ids = list(dict.fromkeys(document_ids))
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        with runtime.unit_of_work() as session:
            work = []
            for document in session.scalars(select(Document).where(Document.id.in_(chunk))):
                if document.deleted:
                    continue
                if unfinished_only and document.status not in (
                    DocumentStatus.PENDING,
                    DocumentStatus.PROCESSING,
                ):
                    continue
                document.status = DocumentStatus.PROCESSING
                document.status_reason = ""
                current = document.current
                work.append(
                    _Work(
                        document.id,
                        current.blob_sha256 if current else None,
                        current.original_name if current else "",
                        document.file_type,
                    )
                )
        results = [(w, extract_document(runtime, w)) for w in work]
        with runtime.unit_of_work() as session:
            for w, found in results:
                stored = session.get(Document, w.document_id)
                if stored is None or stored.deleted:
                    continue
                document = stored
                _store_pages(session, document, found.pages)
                document.file_type = found.file_type
                document.status = found.status
                document.status_reason = found.reason
                document.page_count = len(found.pages)
                document.ocr_pages = sum(1 for p in found.pages if p.source == "ocr")
                _store_facts(document.current, w.sha256, found.facts, found.pages)
                record_pages(session, document.id, found.pages)
        del results


def _store_facts(
    version: DocumentVersion | None, sha256: str | None, facts: FileFacts, pages: list[Any]
) -> None:
    """Signatures and metadata on the version that was read (not on a newer one that came
    in meanwhile: its own processing follows), with the pages OCR turned upright."""
    if version is None or version.blob_sha256 != sha256:
        return
    version.signature_count = facts.signature_count
    version.signatures = list(facts.signatures)
    metadata: dict[str, Any] = dict(facts.metadata)
    turned = {str(p.number): p.rotation for p in pages if getattr(p, "rotation", 0)}
    if turned:
        metadata["rotated_pages"] = turned
    version.file_metadata = metadata


def _store_pages(session: Session, document: Document, pages: list[Any]) -> None:
    session.execute(delete(DocumentPage).where(DocumentPage.document_id == document.id))
    session.expire(document, ["pages"])
    for p in pages:
        session.add(
            DocumentPage(
                document_id=document.id, number=p.number, text=_db_text(p.text), source=p.source
            )
        )


def _db_text(text: str) -> str:
    # PostgreSQL text cannot hold NUL
    return text.replace("\x00", "")
