"""``evidence suggest``: the best catalog entries for files without a code."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from evidence_app.cli.base import CommandError, cli, echo_json, unit_of_work
from evidence_app.suggestions.operations import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    SuggestionError,
    get_framework,
    suggest_for_document,
    suggest_unlinked,
)
from storage import Document


@cli.command("suggest")
@click.option("--framework", "framework_id", type=int, required=True)
@click.option("--document", "document_id", type=int, default=None, help="One file.")
@click.option("--unlinked", is_flag=True, help="Every file of the framework linked to nothing.")
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_LIMIT),
    default=DEFAULT_LIMIT,
    show_default=True,
    help="Suggestions per file.",
)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def suggest_command(
    framework_id: int, document_id: int | None, unlinked: bool, limit: int, as_json: bool
) -> None:
    """Suggested entries (建议条目) for files whose name gives no evidence code."""
    if (document_id is None) == (not unlinked):
        raise CommandError("请指定 --document ID 或 --unlinked（二选一）")
    with unit_of_work() as session:
        try:
            framework = get_framework(session, framework_id)
        except SuggestionError as e:
            raise CommandError(str(e)) from e
        if document_id is not None:
            document = session.get(Document, document_id)
            if document is None or document.deleted:
                raise CommandError(f"文件 {document_id} 不存在")
            if document.framework_id != framework.id:
                raise CommandError(f"文件 {document_id} 不属于指标体系 {framework.id}")
            results = [suggest_for_document(session, document, limit=limit, framework=framework)]
        else:
            results = suggest_unlinked(session, framework.id, limit=limit)
    if as_json:
        echo_json(results)
        return
    if not results:
        click.echo("没有未关联的文件。")
    for result in results:
        click.echo(f"#{result['document_id']} {result['name']}")
        for s in result["suggestions"]:
            click.echo(f"    {s['score']:.2f}  {s['code']}  {s['title']}")
        if not result["suggestions"]:
            click.echo("    （没有建议）")
