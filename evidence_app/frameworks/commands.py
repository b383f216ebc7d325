"""``evidence framework archive|unarchive|delete``: keep a framework out of sight, or remove
it with its documents (as the administrators' pages do)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from evidence_app.cli.base import CommandError, echo_json, unit_of_work
from evidence_app.cli.commands import framework_group
from evidence_app.frameworks import operations as framework_service


@framework_group.command("archive")
@click.argument("framework_id", type=int)
@with_appcontext
def framework_archive(framework_id: int) -> None:
    """Hide a framework and its documents from search, home and pickers (restorable)."""
    with unit_of_work() as session:
        framework = _framework(session, framework_id)
        changed = framework_service.archive_framework(session, framework, None)
        name = framework.name
    click.echo(
        f"已归档指标体系 #{framework_id} {name}" if changed else f"#{framework_id} 已是归档状态"
    )


@framework_group.command("unarchive")
@click.argument("framework_id", type=int)
@with_appcontext
def framework_unarchive(framework_id: int) -> None:
    """Show an archived framework again."""
    with unit_of_work() as session:
        framework = _framework(session, framework_id)
        changed = framework_service.unarchive_framework(session, framework, None)
        name = framework.name
    click.echo(f"已恢复指标体系 #{framework_id} {name}" if changed else f"#{framework_id} 未归档")


@framework_group.command("delete")
@click.argument("framework_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask; delete.")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def framework_delete(framework_id: int, yes: bool, as_json: bool) -> None:
    """Delete a framework for good; the documents uploaded into it are deleted too (soft,
    as one document is: kept on disk and in the audit log, gone from search and lists)."""
    with unit_of_work() as session:
        framework = _framework(session, framework_id)
        summary = framework_service.deletion_summary(session, framework)
        if not yes:
            click.echo(
                f"将删除指标体系 #{framework_id} {framework.name}：指标 {summary['indicators']} 个，"
                f"佐证条目 {summary['entries']} 条，上传到其中的材料 {summary['documents']} 份"
                f"（与逐份删除文件相同：从搜索和列表中移除，原文件与记录保留），"
                f"网评标记 {summary['marks']} 条，调阅请求 {summary['requests']} 个。"
            )
            click.confirm("确定删除？此操作无法恢复", abort=True)
        report = framework_service.delete_framework(
            session, framework, None, confirm_name=framework.name
        )
    if as_json:
        echo_json(report)
        return
    click.echo(f"已删除指标体系 #{framework_id} {report['name']} 及其 {report['documents']} 份材料")


def _framework(session, framework_id: int):
    try:
        return framework_service.get_framework(session, framework_id)
    except LookupError as e:
        raise CommandError(str(e)) from e
