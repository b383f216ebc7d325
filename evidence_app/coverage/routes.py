"""覆盖情况 (coverage, findings, downloads) and 我的任务 (a staff member's open entries).

The page shows what ``evidence coverage`` prints, from the same services: figures from
``compute_coverage``, the 问题清单 from ``compute_findings``, the workbook from
``write_coverage_xlsx`` and the package from ``write_package``.

Findings are the slow part (near-duplicate detection reads every document's text: about
0.8 s for 2,000 documents), and they change only when the data does. They are kept per
process and framework, keyed on a fingerprint of everything they are computed from (one
aggregate query plus a digest of the coverage, which is computed on every request anyway), so
a repeated view costs the coverage and the template only.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from evidence_app.admin import audit
from evidence_app.auth.permissions import readable_document_ids, scoped_indicator_ids
from evidence_app.auth.security import acting_user, require
from evidence_app.coverage.assignments import open_tasks
from evidence_app.coverage.export import (
    ExportError,
    safe_name,
    write_coverage_xlsx,
    write_package,
)
from evidence_app.coverage.findings import (
    KIND_LABELS,
    SEVERITIES,
    SEVERITY_LABELS,
    Finding,
    compute_findings,
)
from evidence_app.coverage.operations import (
    ENTRY_STATE_LABELS,
    STATE_LABELS,
    STATE_NONE,
    Coverage,
    IndicatorCoverage,
    compute_coverage,
)
from evidence_app.documents.ingest import default_framework_id
from evidence_app.review.operations import expert_scores
from evidence_app.runtime import get_runtime
from evidence_app.web import db_session
from evidence_app.webui.helpers import get_or_404
from storage import (
    AuditLog,
    Document,
    DocumentLink,
    DocumentPage,
    DocumentVersion,
    Framework,
    ImportAnomaly,
)

bp = Blueprint("coverage", __name__)

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NO_DEPARTMENT = "-"  # the department filter's value for "nobody named"
STALE_PACKAGE_SECONDS = 24 * 3600


# -- the coverage page -----------------------------------------------------------------------


def _framework_or_404(session: Session) -> int | None:
    """The framework named by ?framework=, the newest one when none is named."""
    if not request.args.get("framework", "").strip():
        return default_framework_id(session)
    return get_or_404(Framework, request.args["framework"].strip()).id


def _as_of() -> date:
    """?as_of=2024-06-01 judges due dates as of that day (like ``--as-of``); default today."""
    raw = request.args.get("as_of", "").strip()
    if raw:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            flash(f"日期格式不对：{raw}（应为 2024-06-30），已按今天计算。", "error")
    return date.today()


@bp.get("/coverage")
@require("coverage")
def index():
    session = db_session()
    framework_id = _framework_or_404(session)
    # the picker lists frameworks in use, and the one asked for even when archived
    frameworks = session.execute(
        select(Framework.id, Framework.name)
        .where(Framework.archived_at.is_(None) | (Framework.id == framework_id))
        .order_by(Framework.id.desc())
    )
    frameworks = [tuple(r) for r in frameworks]
    if framework_id is None:
        return render_template("coverage/index.html", cov=None, frameworks=frameworks)
    today = _as_of()
    coverage = compute_coverage(session, framework_id)
    findings = cached_findings(session, coverage, today)
    user = acting_user()
    scope = scoped_indicator_ids(session, user)
    if scope is not None:  # limited staff: their indicators, their documents
        coverage = coverage.within(scope)
        findings = findings_within(findings, coverage, readable_document_ids(session, user))
    page = coverage_page(coverage, findings, today, request.args)
    scores = expert_scores(session, framework_id)
    return render_template(
        "coverage/index.html",
        cov=coverage,
        frameworks=frameworks,
        framework_id=framework_id,
        today=today,
        as_of=request.args.get("as_of", ""),
        summary=coverage.summary(),
        departments=coverage.by_department(today),
        scores=scores,
        state_names=STATE_LABELS,
        entry_state_names=ENTRY_STATE_LABELS,
        kind_labels=KIND_LABELS,
        severity_labels=SEVERITY_LABELS,
        no_department=NO_DEPARTMENT,
        **page,
    )


def findings_within(
    findings: list[Finding], coverage: Coverage, readable: set[int] | None
) -> list[Finding]:
    """The findings a limited user may see: on their indicators and readable documents only
    (a duplicate of a file outside the scope is not shown, not even by name)."""
    codes = {i.code for i in coverage.indicators} | {e.code for e in coverage.entries}
    return [
        f
        for f in findings
        if all(code in codes for code in f.codes)
        and (readable is None or all(d in readable for d in f.documents))
        and (f.codes or f.documents)
    ]


def overdue_entries(leaf: IndicatorCoverage, today: date) -> list[Any]:
    """The leaf's empty entries past their due date (as the overdue finding counts them)."""
    return [e for e in leaf.entries if e.empty and e.due_date and e.due_date < today]


def leaf_overdue(leaf: IndicatorCoverage, today: date) -> bool:
    if not leaf.applicable:
        return False
    if leaf.entries:
        return bool(overdue_entries(leaf, today))
    return bool(
        leaf.state == STATE_NONE
        and not leaf.pending_ids
        and leaf.due_date
        and leaf.due_date < today
    )


def coverage_page(
    coverage: Coverage,
    findings: list[Finding],
    today: date,
    args: Any,
) -> dict[str, Any]:
    """What the template needs beyond the coverage: level tree, filtered rows, findings."""
    by_id = {i.id: i for i in coverage.indicators}

    def level1_of(node: IndicatorCoverage) -> IndicatorCoverage:
        seen: set[int] = set()
        while node.parent_id is not None and node.parent_id in by_id and node.id not in seen:
            seen.add(node.id)
            node = by_id[node.parent_id]
        return node

    level1 = coverage.level(1)
    levels = [(n, [c for c in n.children if not c.leaf]) for n in level1]

    state = args.get("state", "")
    l1 = args.get("l1", "")
    dept = args.get("dept", "")
    q = args.get("q", "").strip()[:100]
    only_overdue = args.get("overdue", "") == "1"
    needle = q.lower()

    rows = []
    for leaf in coverage.leaves:
        top = level1_of(leaf)
        overdue = leaf_overdue(leaf, today)
        departments = {leaf.department} | {e.department or leaf.department for e in leaf.entries}
        if state and leaf.state != state:
            continue
        if l1 and str(top.id) != l1:
            continue
        if dept and (("" if dept == NO_DEPARTMENT else dept) not in departments):
            continue
        if only_overdue and not overdue:
            continue
        if needle and not (
            needle in leaf.code.lower()
            or needle in leaf.name.lower()
            or any(needle in e.code.lower() or needle in e.title.lower() for e in leaf.entries)
        ):
            continue
        rows.append(
            {
                "leaf": leaf,
                "level1": top,
                "overdue": overdue,
                "overdue_entries": overdue_entries(leaf, today) if overdue else [],
                "due_date": _nearest_due(leaf),
            }
        )

    groups: dict[str, list[Finding]] = {}
    for f in findings:  # already most severe first, then by kind
        groups.setdefault(f.kind, []).append(f)
    # the gaps first (what is missing is what the page is for), then the rest as found
    groups = dict(sorted(groups.items(), key=lambda item: GAPS_FIRST.get(item[0], len(GAPS_FIRST))))
    severity_counts = {s: 0 for s in SEVERITIES}
    for f in findings:
        severity_counts[f.severity] += 1
    all_departments = sorted(
        {leaf.department for leaf in coverage.leaves}
        | {e.department for e in coverage.entries if e.department},
    )
    return {
        "levels": levels,
        "rows": rows,
        "filters": {
            "state": state,
            "l1": l1,
            "dept": dept,
            "q": q,
            "overdue": only_overdue,
            "active": bool(state or l1 or dept or q or only_overdue),
        },
        "all_departments": all_departments,
        "level1": level1,
        "findings": findings,
        "finding_groups": list(groups.items()),
        "severity_counts": severity_counts,
    }


#: finding kinds that say evidence is missing, in the order the page lists them
GAPS_FIRST = {
    kind: n
    for n, kind in enumerate(
        (
            "score_without_evidence",
            "overdue_entry",
            "missing_entry",
            "indicator_without_evidence",
            "damaged_document",
            "unreadable_document",
        )
    )
}


def _nearest_due(leaf: IndicatorCoverage) -> date | None:
    dates = [e.due_date for e in leaf.entries if e.due_date and e.empty]
    if dates:
        return min(dates)
    return leaf.due_date


# -- the findings cache ----------------------------------------------------------------------

_cache_lock = threading.Lock()


def _fingerprint(session: Session, coverage: Coverage) -> tuple[Any, ...]:
    """Changes whenever anything the findings read changes.

    Audited changes move the audit log; extraction moves pages and the documents'
    ``updated_at``; new files and versions move their tables; the coverage digest covers
    links, statuses, due dates and scores even when they were written without an audit entry.
    """

    def scalar(stmt: Any) -> Any:
        return stmt.scalar_subquery()

    row = session.execute(
        select(
            scalar(select(func.max(AuditLog.id))),
            scalar(select(func.count(Document.id))),
            scalar(select(func.max(Document.updated_at))),
            scalar(select(func.max(DocumentVersion.id))),
            scalar(select(func.max(DocumentPage.id))),
            scalar(select(func.max(DocumentLink.id))),
            scalar(select(func.count(DocumentLink.id))),
            scalar(
                select(func.count(ImportAnomaly.id)).where(
                    ImportAnomaly.framework_id == coverage.framework_id
                )
            ),
            scalar(select(Framework.updated_at).where(Framework.id == coverage.framework_id)),
        )
    ).one()
    digest = hash(
        (
            tuple(sorted(coverage.document_status.items())),
            tuple(sorted((k, tuple(v)) for k, v in coverage.document_links.items())),
            tuple(
                (i.id, i.code, i.name, i.self_score, i.max_points, i.due_date, i.leaf)
                for i in coverage.indicators
            ),
            tuple((e.id, e.code, e.title, e.due_date, e.indicator_id) for e in coverage.entries),
        )
    )
    return (*tuple(row), digest)


def cached_findings(session: Session, coverage: Coverage, today: date) -> list[Finding]:
    """The framework's findings, recomputed only when the data (or the day) changed."""
    key = (coverage.framework_id, today, _fingerprint(session, coverage))
    cache: dict[int, tuple[Any, list[Finding]]] = current_app.extensions.setdefault(
        "coverage_findings", {}
    )
    hit = cache.get(coverage.framework_id)
    if hit is not None and hit[0] == key:
        return hit[1]
    findings = compute_findings(session, coverage.framework_id, coverage=coverage, today=today)
    with _cache_lock:
        cache[coverage.framework_id] = (key, findings)
    return findings


# -- downloads -------------------------------------------------------------------------------


def _download_stem(coverage_name: str, what: str) -> str:
    return safe_name(f"{coverage_name}-{what}-{date.today().isoformat()}", 120)


@bp.get("/coverage/export.xlsx")
@require("coverage_export")
def export_xlsx():
    """The workbook of ``evidence coverage --xlsx`` (汇总, 指标, 佐证条目, 问题清单)."""
    session = db_session()
    framework_id = _framework_or_404(session)
    if framework_id is None:
        abort(404)
    today = _as_of()
    coverage = compute_coverage(session, framework_id)
    findings = cached_findings(session, coverage, today)
    buffer = io.BytesIO()
    write_coverage_xlsx(
        session,
        framework_id,
        buffer,
        coverage=coverage,
        findings=findings,
        base_url=request.host_url,
    )
    audit.record(
        session,
        acting_user(),
        "coverage.export",
        session.get(Framework, framework_id),
        format="xlsx",
        findings=len(findings),
        as_of=today.isoformat(),
    )
    buffer.seek(0)
    return send_file(
        buffer,
        as_attachment=True,
        download_name=_download_stem(coverage.framework_name, "覆盖情况") + ".xlsx",
        mimetype=XLSX_MIMETYPE,
    )


def _package_dir() -> Path:
    """Where packages are written before sending: next to the data, not a small /tmp."""
    path = Path(get_runtime().config.EVIDENCE_HOME) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    # packages whose download never finished (a killed server) are removed a day later
    cutoff = time.time() - STALE_PACKAGE_SECONDS
    for old in path.glob("package-*.zip"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass
    return path


@bp.get("/coverage/package.zip")
@require("coverage_export")
def package():
    """The evidence package of ``evidence export``, written to a temporary file, streamed,
    and deleted once sent. ``write_package`` records the export in the audit log."""
    session = db_session()
    framework_id = _framework_or_404(session)
    if framework_id is None:
        abort(404)
    name = session.get(Framework, framework_id).name
    fd, tmp = tempfile.mkstemp(dir=_package_dir(), prefix="package-", suffix=".zip")
    path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            write_package(session, get_runtime(), framework_id, out, user=acting_user())
    except ExportError as e:
        path.unlink(missing_ok=True)
        session.rollback()
        flash(f"导出失败：{e}", "error")
        return redirect(url_for("coverage.index", framework=framework_id))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    size = path.stat().st_size
    response = send_file(
        _DeleteOnClose(path),
        as_attachment=True,
        download_name=_download_stem(name, "佐证材料") + ".zip",
        mimetype="application/zip",
        conditional=False,
        etag=False,
    )
    response.content_length = size
    return response


class _DeleteOnClose(io.FileIO):
    """A file removed from disk when closed: the server closes it once it has been sent.

    (``Response.call_on_close`` does not run for ``send_file`` responses: they are passed
    straight to the server's file wrapper, which closes the file, not the response.)"""

    def close(self) -> None:
        try:
            super().close()
        finally:
            Path(self.name).unlink(missing_ok=True)


# -- my tasks ---------------------------------------------------------------------------------


@bp.get("/tasks")
@require("tasks")
def tasks():
    """The logged-in user's empty entries, overdue and nearest due date first."""
    session = db_session()
    user = acting_user()
    items, own = open_tasks(session, user, scope=scoped_indicator_ids(session, user), fallback=True)
    by_framework: dict[str, int] = defaultdict(int)
    for t in items:
        by_framework[t["framework"]] += 1
    return render_template(
        "coverage/tasks.html",
        tasks=items,
        overdue=sum(1 for t in items if t["overdue"]),
        own=own,
        frameworks=len(by_framework),
    )
