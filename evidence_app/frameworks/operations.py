"""Use cases for frameworks: import (create or update), list, show as a tree, archive,
delete."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session

from evidence_app.admin import audit
from evidence_app.documents.operations import delete as delete_document
from evidence_app.frameworks import (
    FrameworkImportError,
    ParsedFramework,
    code_key,
    entry_indicator_code,
    parse_framework_file,
)
from indexer import add_user_words, segment
from storage import (
    CatalogEntry,
    Document,
    DocumentLink,
    ExpertMark,
    Framework,
    ImportAnomaly,
    Indicator,
    MaterialRequest,
    User,
    utcnow,
)

YEAR_RE = re.compile(r"(20\d{2})")


def import_framework_file(
    session: Session,
    path: Path | str,
    *,
    name: str | None = None,
    year: int | None = None,
    user: User | None = None,
    source_name: str | None = None,
    framework_id: int | None = None,
) -> dict[str, Any]:
    """Parse a table file and create or update a framework; returns the import report.

    A framework with the same name and year (or ``framework_id``) is updated in place, so
    re-importing a file duplicates nothing and documents stay linked to surviving codes.
    Raises FrameworkImportError (nothing written) when the table cannot be read.
    """
    path = Path(path)
    source_name = source_name or path.name
    parsed = parse_framework_file(path, source_name)
    sha = _sha256(path)
    name = (name or parsed.title or Path(source_name).stem).strip()
    if year is None:
        m = YEAR_RE.search(f"{name} {source_name}")
        year = int(m.group(1)) if m else None
    return import_parsed(
        session,
        parsed,
        name=name,
        year=year,
        user=user,
        source_name=source_name,
        source_sha256=sha,
        framework_id=framework_id,
    )


def import_parsed(
    session: Session,
    parsed: ParsedFramework,
    *,
    name: str,
    year: int | None,
    user: User | None,
    source_name: str = "",
    source_sha256: str = "",
    framework_id: int | None = None,
) -> dict[str, Any]:
    if framework_id is not None:
        framework = session.get(Framework, framework_id)
        if framework is None:
            raise FrameworkImportError(f"指标体系 {framework_id} 不存在")
    else:
        framework = session.scalars(
            select(Framework).where(Framework.name == name, _year_is(year))
        ).first()
    if framework is not None:
        _refuse_kpi_codes(session, framework, parsed)
    created = framework is None
    if framework is None:
        framework = Framework(name=name, year=year)
        session.add(framework)
        session.flush()
    framework.source_name = source_name
    framework.source_sha256 = source_sha256
    relinked = _sync_tree(session, framework, parsed)
    anomalies = ImportAnomaly.__table__
    assert isinstance(anomalies, Table)
    session.execute(anomalies.delete().where(ImportAnomaly.framework_id == framework.id))
    for a in parsed.anomalies:
        session.add(
            ImportAnomaly(
                framework_id=framework.id,
                kind=a.kind,
                code=a.code,
                indicator_code=a.indicator,
                detail=a.detail,
            )
        )
    session.flush()
    titles = [n.name for n in parsed.walk()] + [e.title for n in parsed.leaves for e in n.entries]
    add_user_words(sorted(framework_terms(titles)))
    report = framework_report(session, framework, parsed)
    report["created"] = created
    report["links_moved"] = relinked["moved"]
    report["links_dropped"] = relinked["dropped"]
    audit.record(
        session,
        user,
        "framework.import" if created else "framework.reimport",
        framework,
        source=source_name,
        sha256=source_sha256,
        indicators=report["indicators"],
        entries=report["entries"],
        anomalies=len(report["anomalies"]),
    )
    return report


def _year_is(year: int | None):
    return Framework.year.is_(None) if year is None else Framework.year == year


def _refuse_kpi_codes(session: Session, framework: Framework, parsed: ParsedFramework) -> None:
    """A new version of the table may not bring an indicator whose code is already one of the
    framework's KPIs (imported from a KPI table): FrameworkImportError, nothing written."""
    kpi_codes = set(
        session.scalars(
            select(Indicator.code).where(
                Indicator.framework_id == framework.id, Indicator.kind != "indicator"
            )
        )
    )
    clashes = sorted({n.code for n in parsed.walk() if n.code in kpi_codes}, key=code_key)
    if clashes:
        shown = "、".join(clashes[:10]) + (f" 等 {len(clashes)} 个" if len(clashes) > 10 else "")
        raise FrameworkImportError(
            f"表中的指标编号 {shown} 已是本指标体系的绩效指标（由绩效指标表导入），"
            "无法同时作为表中的指标：请修改表中的编号，或先删除这些绩效指标后再导入"
        )


def _sync_tree(session: Session, framework: Framework, parsed: ParsedFramework) -> dict[str, int]:
    """Upsert indicators and entries by their keys; move links off anything removed."""
    old_indicators = {
        (i.level, i.code, i.variant): i
        for i in session.scalars(
            # KPIs (services.kpi) have their own import; the table's re-import leaves them
            select(Indicator).where(
                Indicator.framework_id == framework.id, Indicator.kind == "indicator"
            )
        )
    }
    old_entries = {
        (e.indicator_id, e.code, e.occurrence): e
        for e in session.scalars(
            select(CatalogEntry).where(CatalogEntry.framework_id == framework.id)
        )
    }
    kept_indicators: set[int] = set()
    kept_entries: set[int] = set()
    by_code: dict[tuple[int, str], Indicator] = {}
    entry_position = 0
    for position, node in enumerate(parsed.walk()):
        key = (node.level, node.code, node.variant)
        row = old_indicators.get(key)
        if row is None:
            row = Indicator(framework_id=framework.id, level=node.level, code=node.code)
            session.add(row)
        parent = by_code.get((node.level - 1, node.parent_code)) if node.level > 1 else None
        row.variant = node.variant
        row.parent = parent
        row.name = node.name
        row.max_points = node.max_points
        row.unit = node.unit
        row.description = node.description
        row.scoring_rule = node.scoring_rule
        row.self_score = node.self_score
        row.row_number = node.row_number
        row.remarks = node.remarks
        if node.department:
            row.department = node.department
        if node.owner:
            row.owner = node.owner
        if node.due_date:
            row.due_date = node.due_date
        row.position = position
        session.flush()
        kept_indicators.add(row.id)
        if node.variant == 0 or (node.level, node.code) not in by_code:
            by_code[(node.level, node.code)] = row
        for entry in node.entries:
            e = old_entries.get((row.id, entry.code, entry.occurrence))
            if e is None:
                e = CatalogEntry(
                    framework_id=framework.id,
                    indicator_id=row.id,
                    code=entry.code,
                    occurrence=entry.occurrence,
                )
                session.add(e)
            e.title = entry.title
            e.position = entry_position
            entry_position += 1
            session.flush()
            kept_entries.add(e.id)

    removed_entries = [e for e in old_entries.values() if e.id not in kept_entries]
    removed_indicators = [i for i in old_indicators.values() if i.id not in kept_indicators]
    moved = dropped = 0
    if removed_entries or removed_indicators:
        new_entry_by_code: dict[str, CatalogEntry] = {}
        for e in session.scalars(
            select(CatalogEntry)
            .where(CatalogEntry.framework_id == framework.id)
            .order_by(CatalogEntry.position)
        ):
            if e.id in kept_entries:
                new_entry_by_code.setdefault(e.code, e)
        leaf_by_code = {code: i for (level, code), i in by_code.items() if level == 3}
        removed_entry_ids = {e.id for e in removed_entries}
        removed_indicator_ids = {i.id for i in removed_indicators}
        links = session.scalars(
            select(DocumentLink).where(
                DocumentLink.entry_id.in_(removed_entry_ids)
                | DocumentLink.indicator_id.in_(removed_indicator_ids)
            )
        ).all()
        for link in links:
            code = link.code or (link.entry.code if link.entry else "")
            target_entry = new_entry_by_code.get(code)
            target_indicator = leaf_by_code.get(_indicator_code_of(code))
            doc_links = {(x.entry_id, x.indicator_id) for x in link.document.links if x is not link}
            if target_entry is not None and (target_entry.id, None) not in doc_links:
                link.entry_id, link.indicator_id = target_entry.id, None
                moved += 1
            elif target_indicator is not None and (None, target_indicator.id) not in doc_links:
                link.entry_id, link.indicator_id = None, target_indicator.id
                moved += 1
            else:
                session.delete(link)
                dropped += 1
        session.flush()
        for e in removed_entries:
            session.delete(e)
        session.flush()
        for i in sorted(removed_indicators, key=lambda x: -x.level):
            session.delete(i)
        session.flush()
    return {"moved": moved, "dropped": dropped}


_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")
#: Connectors and function words where a title splits into its terms (when jieba cuts
#: them out as words: the 和 of 共和国 is not one).
_CONNECTORS = frozenset("与和及的之或等")
#: Units and counters that follow a number (2022年专业设置 gives 专业设置, not 年专业设置).
_AFTER_NUMBER = frozenset("年月日号个届级期批项名人万元次所家门本篇部套类")
#: Words that frame a title rather than name something (广东省教育厅关于…).
_FRAME_WORDS = ("关于",)


def framework_terms(titles: Iterable[str]) -> set[str]:
    """Terms of indicator and entry titles for the tokenizer's dictionary.

    '专业设置与区域重点产业匹配度' -> 专业设置; '校企合作“订单班”建设管理办法' -> 校企合作, 订单班,
    建设管理办法. Whole long titles would hide their sub-words, so only 2–8 character runs
    of Han text between connectors are taken; a unit right after a number (2022年…) and
    framing words (…关于) are left out, or the term would swallow them from running text.
    """
    terms: set[str] = set()
    for title in titles:
        title = title or ""
        for m in _HAN_RUN.finditer(title):
            run = m.group()
            if m.start() and title[m.start() - 1].isdigit() and run[0] in _AFTER_NUMBER:
                run = run[1:]
            chunk = ""
            for word in [*segment(run), "与"]:
                if word not in _CONNECTORS:
                    chunk += word
                    continue
                for frame in _FRAME_WORDS:
                    chunk = chunk.removeprefix(frame).removesuffix(frame)
                if 2 <= len(chunk) <= 8:
                    terms.add(chunk)
                chunk = ""
    return terms


def load_framework_terms(session: Session) -> int:
    """Add every framework's indicator and entry title terms to this process's dictionary."""
    titles = list(session.scalars(select(Indicator.name)))
    titles += list(session.scalars(select(CatalogEntry.title)))
    return add_user_words(sorted(framework_terms(titles)))


def _indicator_code_of(code: str) -> str:
    """2.3.4-1 -> 2.3.4; 2.3.4.4 -> 2.3.4; an indicator code stays as it is."""
    return entry_indicator_code(code) if "-" in code or code.count(".") >= 3 else code


def framework_report(
    session: Session, framework: Framework, parsed: ParsedFramework | None = None
) -> dict[str, Any]:
    """The summary printed by ``framework import --json``."""
    indicators = session.scalars(
        select(Indicator).where(Indicator.framework_id == framework.id)
    ).all()
    levels = {"1": 0, "2": 0, "3": 0}
    for i in indicators:
        levels[str(i.level)] = levels.get(str(i.level), 0) + 1
    entries = session.scalars(
        select(CatalogEntry).where(CatalogEntry.framework_id == framework.id)
    ).all()
    anomalies = session.scalars(
        select(ImportAnomaly)
        .where(ImportAnomaly.framework_id == framework.id)
        .order_by(ImportAnomaly.id)
    ).all()
    return {
        "framework_id": framework.id,
        "name": framework.name,
        "year": framework.year,
        "indicators": levels["3"],
        "levels": levels,
        "entries": len(entries),
        "self_score_total": round(sum(i.self_score or 0 for i in indicators if i.level == 3), 2),
        "max_points_total": round(sum(i.max_points or 0 for i in indicators if i.level == 1), 2),
        "anomalies": [
            {"kind": a.kind, "code": a.code, "indicator": a.indicator_code, "detail": a.detail}
            for a in anomalies
        ],
        "warnings": list(parsed.warnings) if parsed else [],
    }


def list_frameworks(session: Session) -> list[dict[str, Any]]:
    out = []
    for fw in session.scalars(select(Framework).order_by(Framework.id)):
        report = framework_report(session, fw)
        out.append(
            {
                "id": fw.id,
                "name": fw.name,
                "year": fw.year,
                "source_name": fw.source_name,
                "indicators": report["indicators"],
                "entries": report["entries"],
                "anomalies": len(report["anomalies"]),
                "updated_at": fw.updated_at.isoformat(timespec="seconds"),
                "archived": fw.archived_at is not None,
            }
        )
    return out


def get_framework(session: Session, framework_id: int) -> Framework:
    framework = session.get(Framework, framework_id)
    if framework is None:
        raise LookupError(f"指标体系 {framework_id} 不存在")
    return framework


def framework_tree(session: Session, framework: Framework) -> list[dict[str, Any]]:
    """The indicator tree as nested dicts (``framework show --json``)."""
    indicators = session.scalars(
        select(Indicator).where(Indicator.framework_id == framework.id).order_by(Indicator.position)
    ).all()
    entries = session.scalars(
        select(CatalogEntry)
        .where(CatalogEntry.framework_id == framework.id)
        .order_by(CatalogEntry.position)
    ).all()
    by_indicator: dict[int, list[dict[str, Any]]] = {}
    for e in entries:
        by_indicator.setdefault(e.indicator_id, []).append({"code": e.code, "title": e.title})
    nodes: dict[int, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for i in indicators:
        node = {
            "id": i.id,
            "code": i.code,
            "name": i.name,
            "level": i.level,
            "variant": i.variant,
            "max_points": i.max_points,
            "unit": i.unit,
            "self_score": i.self_score,
            "description": i.description,
            "scoring_rule": i.scoring_rule,
            "entries": by_indicator.get(i.id, []),
            "children": [],
        }
        nodes[i.id] = node
        if i.parent_id is not None and i.parent_id in nodes:
            nodes[i.parent_id]["children"].append(node)
        else:
            roots.append(node)
    return roots


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


# -- archive and delete ----------------------------------------------------------------------


class FrameworkDeleteError(ValueError):
    """A deletion that was not confirmed; the message (Chinese) says what to do."""


def archived_framework_ids(session: Session) -> set[int]:
    """Frameworks that are kept but hidden from search, the home page and pickers."""
    return set(session.scalars(select(Framework.id).where(Framework.archived_at.is_not(None))))


def active_frameworks(session: Session) -> list[Framework]:
    """The frameworks people work with, newest first (archived ones left out)."""
    return list(
        session.scalars(
            select(Framework).where(Framework.archived_at.is_(None)).order_by(Framework.id.desc())
        )
    )


def archived_frameworks(session: Session) -> list[Framework]:
    """The archived frameworks, most recently archived first (the home page's 已归档 list)."""
    return list(
        session.scalars(
            select(Framework)
            .where(Framework.archived_at.is_not(None))
            .order_by(Framework.archived_at.desc(), Framework.id.desc())
        )
    )


def archive_framework(session: Session, framework: Framework, user: User | None) -> bool:
    """Hide a framework and its documents from search, the home page and pickers (nothing is
    deleted); False when it was archived already."""
    if framework.archived_at is not None:
        return False
    framework.archived_at = utcnow()
    audit.record(session, user, "framework.archive", framework, name=framework.name)
    session.flush()
    return True


def unarchive_framework(session: Session, framework: Framework, user: User | None) -> bool:
    """Show an archived framework again; False when it was not archived."""
    if framework.archived_at is None:
        return False
    framework.archived_at = None
    audit.record(session, user, "framework.unarchive", framework, name=framework.name)
    session.flush()
    return True


def deletion_summary(session: Session, framework: Framework) -> dict[str, int]:
    """What deleting the framework takes with it, for the confirmation page."""

    def count(model: Any, *where: Any) -> int:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    return {
        "indicators": count(Indicator, Indicator.framework_id == framework.id),
        "entries": count(CatalogEntry, CatalogEntry.framework_id == framework.id),
        "documents": count(
            Document, Document.framework_id == framework.id, Document.deleted.is_(False)
        ),
        "marks": count(ExpertMark, ExpertMark.framework_id == framework.id),
        "requests": count(MaterialRequest, MaterialRequest.framework_id == framework.id),
    }


def delete_framework(
    session: Session, framework: Framework, user: User | None, *, confirm_name: str
) -> dict[str, Any]:
    """Delete a framework for good: its indicators, entries, links, marks and 调阅 requests.

    Its documents (uploaded into this framework, so linked nowhere else) are deleted the way
    one document is: soft-deleted, audited one by one, and removed from the index after the
    commit. ``confirm_name`` must repeat the framework's name."""
    if confirm_name.strip() != framework.name.strip():
        raise FrameworkDeleteError("请输入完整的指标体系名称以确认删除")
    summary = deletion_summary(session, framework)
    documents = session.scalars(
        select(Document).where(Document.framework_id == framework.id, Document.deleted.is_(False))
    ).all()
    for document in documents:
        delete_document(session, document, user)
    audit.record(
        session,
        user,
        "framework.delete",
        framework,
        name=framework.name,
        year=framework.year,
        **summary,
    )
    session.flush()  # the documents' deletion is recorded for the index before the rows go
    # the database's ON DELETE rules remove the tree, links, marks and requests in one go
    session.execute(
        delete(Framework).where(Framework.id == framework.id),
        execution_options={"synchronize_session": False},
    )
    session.expunge(framework)
    return {"id": framework.id, "name": framework.name, "deleted": True, **summary}
