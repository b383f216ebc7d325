"""``evidence coverage`` and ``evidence export``: what is missing, and the evidence package."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

import click
from flask.cli import with_appcontext

from evidence_app.cli.base import CommandError, cli, echo_json, unit_of_work
from evidence_app.coverage.export import (
    ExportError,
    coverage_report,
    write_coverage_xlsx,
    write_package,
)
from evidence_app.coverage.findings import KIND_LABELS, SEVERITY_LABELS, compute_findings
from evidence_app.coverage.operations import STATE_LABELS, compute_coverage
from evidence_app.documents.ingest import default_framework_id
from evidence_app.frameworks.operations import get_framework
from evidence_app.runtime import get_runtime


def _framework_id(session, framework_id: int | None) -> int:
    if framework_id is None:
        framework_id = default_framework_id(session)
        if framework_id is None:
            raise CommandError("还没有指标体系。用 evidence framework import FILE 导入。")
        return framework_id
    try:
        get_framework(session, framework_id)
    except LookupError as e:
        raise CommandError(str(e)) from e
    return framework_id


def _atomic_target(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")


@cli.command("coverage")
@click.option("--framework", "framework_id", type=int, default=None, help="Default: the newest.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--xlsx",
    "xlsx",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report as a workbook (汇总, 指标, 佐证条目, 问题清单).",
)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Judge due dates as of this day (default: today).",
)
@with_appcontext
def coverage_command(
    framework_id: int | None, as_json: bool, xlsx: Path | None, as_of: datetime | None
) -> None:
    """Coverage of the catalog and the audit findings (问题清单)."""
    if as_json and xlsx:
        raise CommandError("--json 与 --xlsx 只能选一个")
    with unit_of_work() as session:
        framework_id = _framework_id(session, framework_id)
        coverage = compute_coverage(session, framework_id)
        today = as_of.date() if as_of else None
        findings = compute_findings(session, framework_id, coverage=coverage, today=today)
        if xlsx:
            fd, tmp = _atomic_target(xlsx)
            try:
                with os.fdopen(fd, "wb") as f:
                    write_coverage_xlsx(
                        session,
                        framework_id,
                        f,
                        coverage=coverage,
                        findings=findings,
                        base_url=get_runtime().config.PUBLIC_URL,
                    )
                os.replace(tmp, xlsx)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        report = coverage_report(
            session, framework_id, today=today, coverage=coverage, findings=findings
        )
    if as_json:
        echo_json(report)
        return
    s = report["summary"]
    click.echo(f"{report['framework']['name']}（#{report['framework']['id']}）")
    click.echo(
        f"三级指标 {s['indicators']}：齐全 {s['indicators_complete']}，部分 {s['indicators_partial']}，"
        f"缺失 {s['indicators_none']}，不适用 {s['indicators_not_applicable']}"
    )
    click.echo(
        f"佐证条目 {s['entries']}：已提供 {s['entries_filled']}，缺失 {s['entries_missing']}，"
        f"文件无法读取 {s['entries_unusable']}，处理中 {s['entries_pending']}"
    )
    click.echo(
        f"自评 {s['self_score_total']:g} 分，其中有佐证 {s['self_score_supported']:g} 分；"
        f"材料齐全的指标分值 {s['points_covered']:g}/{s['points_total']:g}"
    )
    if xlsx:
        click.echo(f"已写入 {xlsx}")
        return
    for i in report["indicators"]:
        if i["state"] != "complete":
            click.echo(
                f"  {i['code']:<8} {STATE_LABELS[i['state']]:<4} "
                f"{i['entries_filled']}/{i['entries']}  {i['name']}"
            )
    click.echo(f"问题 {len(report['findings'])} 个")
    for f in report["findings"]:
        click.echo(f"  [{SEVERITY_LABELS[f['severity']]}] {KIND_LABELS[f['kind']]}：{f['detail']}")


@cli.command("export")
@click.option("--framework", "framework_id", type=int, default=None, help="Default: the newest.")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def export_command(framework_id: int | None, out: Path, as_json: bool) -> None:
    """Write the evidence package: folders per indicator, 佐证材料目录, SHA-256 manifest."""
    runtime = get_runtime()
    with unit_of_work() as session:
        framework_id = _framework_id(session, framework_id)
        fd, tmp = _atomic_target(out)
        try:
            with os.fdopen(fd, "wb") as f:
                summary = write_package(session, runtime, framework_id, f)
            os.replace(tmp, out)
        except ExportError as e:
            Path(tmp).unlink(missing_ok=True)
            raise CommandError(str(e)) from e
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    summary["path"] = str(out)
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f"已导出 {summary['files']} 个文件（{summary['bytes'] / 1024**2:.1f} MB），"
        f"缺失条目 {summary['missing']} 个：{out}"
    )
