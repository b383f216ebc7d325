"""``evidence review export``: the 网评 marks, the 调阅 requests and the 入校问题清单."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
from flask.cli import with_appcontext

from evidence_app.cli.base import CommandError, cli, echo_json, unit_of_work
from evidence_app.review.export import review_report, write_review_xlsx


@cli.group("review")
def review_group() -> None:
    """专家网评 (online expert review): outputs."""


@review_group.command("export")
@click.option("--framework", "framework_id", type=int, required=True, help="Framework id.")
@click.option("--json", "as_json", is_flag=True, help="Print marks, requests, questions as JSON.")
@click.option(
    "--xlsx",
    "xlsx",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the workbook (评审意见, 调阅清单, 入校问题清单).",
)
@with_appcontext
def export_command(framework_id: int, as_json: bool, xlsx: Path | None) -> None:
    """Every expert's marks, the 调阅 requests with their state, the 入校问题清单."""
    if as_json == (xlsx is not None):
        raise CommandError("请指定 --json 或 --xlsx FILE 其中之一")
    with unit_of_work() as session:
        try:
            report = review_report(session, framework_id)
        except LookupError as e:
            raise CommandError(str(e)) from e
        if xlsx is not None:
            xlsx.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=xlsx.parent, prefix=f".{xlsx.name}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as f:
                    write_review_xlsx(session, framework_id, f, report=report)
                os.replace(tmp, xlsx)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
    if as_json:
        echo_json(report)
        return
    s = report["summary"]
    click.echo(
        f"{report['framework']['name']}（#{report['framework']['id']}）：指标 {s['indicators']}，"
        f"已标记 {s['marked']}，组长定稿 {s['finalized']}；调阅请求 {len(report['requests'])}"
        f"（待答复 {s['requests_open']}）；入校问题 {s['questions']}"
    )
    click.echo(f"已写入 {xlsx}")
