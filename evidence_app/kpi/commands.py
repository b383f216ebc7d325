"""``evidence kpi import`` and ``evidence check``: performance indicators and the figures
behind the scores (completion of KPIs, scoring rules against self-scores)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from evidence_app.cli.base import CommandError, cli, echo_json, unit_of_work
from evidence_app.coverage.findings import KIND_LABELS, SEVERITY_LABELS
from evidence_app.kpi import KpiImportError
from evidence_app.kpi import operations as kpi_service
from storage import Framework


@cli.group("kpi")
def kpi_group() -> None:
    """Performance indicators (绩效指标): import their tables."""


@kpi_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--framework", "framework_id", type=int, default=None, help="Framework id.")
@click.option(
    "--new-framework",
    "new_name",
    default=None,
    help="Create a framework with this name (for a report without an assessment table).",
)
@click.option("--year", type=int, default=None, help="Year of a new framework.")
@click.option("--json", "as_json", is_flag=True, help="Print the import report as JSON.")
@with_appcontext
def kpi_import(
    file: Path, framework_id: int | None, new_name: str | None, year: int | None, as_json: bool
) -> None:
    """Import the KPI tables of FILE (DOCX, XLSX, CSV, PDF or text with tab-separated tables)."""
    if (framework_id is None) == (new_name is None):
        raise CommandError("请指定 --framework ID 或 --new-framework 名称（二选一）")
    with unit_of_work() as session:
        if new_name is not None:
            framework = Framework(name=new_name.strip(), year=year)
            session.add(framework)
            session.flush()
            framework_id = framework.id
        assert framework_id is not None
        try:
            report = kpi_service.import_kpi_file(session, framework_id, file)
        except KpiImportError as e:
            raise CommandError(str(e)) from e
    if as_json:
        echo_json(report)
        return
    click.echo(
        f"指标体系 {report['framework_id']}：从 {report['source']} 读到 {report['rows']} 个绩效指标"
        f"（{report['tables']} 个表头），新增 {report['created']}，更新 {report['updated']}，"
        f"未变 {report['unchanged']}，跳过 {len(report['skipped'])}"
    )
    categories = "，".join(f"{k} {v}" for k, v in report["categories"].items())
    click.echo(f"  类别：{categories}")
    outcomes = report["completion"]
    click.echo(
        "  完成度核对："
        + "，".join(
            f"{kpi_service.OUTCOME_LABELS[k]} {outcomes.get(k, 0)}"
            for k in kpi_service.OUTCOME_LABELS
        )
    )
    for warning in report["warnings"]:
        click.echo(f"  提示：{warning}")


@cli.command("check")
@click.option("--framework", "framework_id", type=int, required=True, help="Framework id.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@with_appcontext
def check_command(framework_id: int, as_json: bool) -> None:
    """Check the figures: KPI completion, scoring rules (计分方法) against self-scores."""
    with unit_of_work() as session:
        try:
            report = kpi_service.check_report(session, framework_id)
        except LookupError as e:
            raise CommandError(str(e)) from e
    if as_json:
        echo_json(report)
        return
    counts = report["scoring"]["counts"]
    click.echo(f"指标体系 {report['framework']['id']}：{report['framework']['name']}")
    click.echo(
        f"计分方法 {counts['rules']} 条：可计算 {counts['parsed']}，"
        f"定性评价（不可计算）{counts['not_computable']}，无法解析 {counts['unparseable']}；"
        f"已录入实际值 {counts['measured']}，已算出得分 {counts['computed']}，"
        f"与自评不符 {counts['mismatches']}"
    )
    for item in report["scoring"]["unparseable"]:
        click.echo(f"  无法解析：{item['code']}（{item['reason']}）")
    outcomes = report["kpi"]["outcomes"]
    click.echo(
        f"绩效指标 {report['kpi']['count']} 个："
        + "，".join(f"{kpi_service.OUTCOME_LABELS[k]} {n}" for k, n in outcomes.items())
    )
    for f in report["findings"]:
        if f["severity"] == "low":
            continue  # 实现值/目标值无法核对: counted above, listed in --json
        click.echo(f"  [{SEVERITY_LABELS[f['severity']]}] {KIND_LABELS[f['kind']]}：{f['detail']}")
