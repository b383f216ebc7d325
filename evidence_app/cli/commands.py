"""The core commands: set-up, users and tokens, frameworks, ingest, search, index,
worker, server, demo, backup and restore."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from evidence_app.admin.backup import BackupError, backup, restore
from evidence_app.admin.maintenance import reindex, verify
from evidence_app.auth import users as user_service
from evidence_app.cli.base import CommandError, cli, die_with_parent, echo_json, unit_of_work
from evidence_app.demo import SAMPLE_FRAMEWORK, build_evidence_zip
from evidence_app.documents.ingest import default_framework_id, ingest_files
from evidence_app.frameworks import FrameworkImportError
from evidence_app.frameworks import operations as framework_service
from evidence_app.runtime import NotInitializedError, get_runtime
from evidence_app.search.indexing import IndexUnavailableError
from evidence_app.search.operations import search_documents
from evidence_app.server import create_server
from evidence_app.tasks import recover_stale
from storage import STAFF_ROLES, LocalBlobStore, upgrade_database


@cli.command("init")
@with_appcontext
def init_command() -> None:
    """Create or upgrade the database (safe to run again)."""
    runtime = get_runtime()
    config = current_app.config["EVIDENCE_CONFIG"]
    config.EVIDENCE_HOME.mkdir(parents=True, exist_ok=True)
    revision = upgrade_database(runtime.engine)
    if isinstance(runtime.blobs, LocalBlobStore):  # a bucket is created by its owner
        runtime.blobs.root.mkdir(parents=True, exist_ok=True)
    click.echo(f"数据库已就绪（版本 {revision}）：{runtime.engine.url.render_as_string()}")
    click.echo(f"文件存储：{runtime.blobs.describe()}")


# -- users ---------------------------------------------------------------------------------


@cli.group("user")
def user_group() -> None:
    """Manage user accounts."""


@user_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(STAFF_ROLES), required=True)
@click.option("--display-name", default="")
@click.option("--department", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def user_add(
    username: str, role: str, display_name: str, department: str, password_stdin: bool
) -> None:
    """Create a user; the password is prompted for (or read from stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("密码", hide_input=True, confirmation_prompt=True)
    with unit_of_work() as session:
        try:
            user = user_service.create_user(
                session,
                username,
                password,
                role,
                display_name=display_name,
                department=department,
            )
        except user_service.UserError as e:
            raise CommandError(str(e)) from e
        click.echo(f"已创建用户 {user.username}（{user.role}），编号 {user.id}")


@user_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def user_list(as_json: bool) -> None:
    """List users."""
    with unit_of_work() as session:
        users = user_service.list_users(session)
        rows = [
            {
                "id": u.id,
                "username": u.username,
                "display_name": u.display_name,
                "role": u.role,
                "department": u.department,
                "active": u.active,
            }
            for u in users
        ]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        state = "" if r["active"] else "（已停用）"
        click.echo(f"{r['id']:>4}  {r['username']:<20} {r['role']:<9} {r['display_name']}{state}")


# -- frameworks ----------------------------------------------------------------------------


@cli.group("framework")
def framework_group() -> None:
    """Import and inspect indicator frameworks (指标体系)."""


@framework_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Framework name (default: the table's title).")
@click.option("--year", type=int, default=None)
@click.option("--framework", "framework_id", type=int, default=None, help="Update this framework.")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def framework_import(
    file: Path, name: str | None, year: int | None, framework_id: int | None, as_json: bool
) -> None:
    """Import a 自评打分表 (DOCX, XLSX, CSV or PDF); re-importing updates it."""
    if not file.exists():
        raise CommandError(f"文件不存在：{file}")
    with unit_of_work() as session:
        try:
            report = framework_service.import_framework_file(
                session, file, name=name, year=year, framework_id=framework_id
            )
        except FrameworkImportError as e:
            raise CommandError(str(e)) from e
    if as_json:
        report.pop("created", None)
        echo_json(report)
        return
    verb = "已导入" if report["created"] else "已更新"
    levels = report["levels"]
    click.echo(
        f"{verb}指标体系 #{report['framework_id']} {report['name']}："
        f"一级 {levels['1']}、二级 {levels['2']}、三级 {levels['3']}，"
        f"佐证条目 {report['entries']}，满分 {report['max_points_total']:g}，"
        f"自评 {report['self_score_total']:g}"
    )
    for a in report["anomalies"]:
        click.echo(f"  [{a['kind']}] {a['code']}：{a['detail']}")
    for w in report["warnings"]:
        click.echo(f"  警告：{w}")


@framework_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def framework_list(as_json: bool) -> None:
    """List frameworks."""
    with unit_of_work() as session:
        rows = framework_service.list_frameworks(session)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("还没有指标体系。用 evidence framework import FILE 导入。")
    for r in rows:
        click.echo(
            f"{r['id']:>4}  {r['name']}（{r['year'] or '—'}）三级指标 {r['indicators']}，"
            f"条目 {r['entries']}，问题 {r['anomalies']}" + ("（已归档）" if r["archived"] else "")
        )


@framework_group.command("show")
@click.argument("framework_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def framework_show(framework_id: int, as_json: bool) -> None:
    """Print the indicator tree."""
    with unit_of_work() as session:
        try:
            framework = framework_service.get_framework(session, framework_id)
        except LookupError as e:
            raise CommandError(str(e)) from e
        tree = framework_service.framework_tree(session, framework)
        name = framework.name
    if as_json:
        echo_json(tree)
        return
    click.echo(name)

    def show(node: dict[str, Any], depth: int) -> None:
        points = f"（{node['max_points']:g}分）" if node["max_points"] is not None else ""
        score = f" 自评 {node['self_score']:g}" if node["self_score"] is not None else ""
        click.echo(f"{'  ' * depth}{node['code']} {node['name']}{points}{score}")
        for e in node["entries"]:
            click.echo(f"{'  ' * (depth + 1)}- {e['code']} {e['title']}")
        for child in node["children"]:
            show(child, depth + 1)

    for root in tree:
        show(root, 0)


# -- evidence files --------------------------------------------------------------------------


def _framework_or_default(session: Session, framework_id: int | None) -> int | None:
    if framework_id is None:
        return default_framework_id(session)
    try:
        framework_service.get_framework(session, framework_id)
    except LookupError as e:
        raise CommandError(str(e)) from e
    return framework_id


@cli.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--framework", "framework_id", type=int, default=None)
@click.option("--user", "username", default=None, help="Record uploads as this user.")
@click.option("--queue", "queue", is_flag=True, help="Only store; leave processing to the worker.")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def ingest_command(
    paths: tuple[Path, ...],
    framework_id: int | None,
    username: str | None,
    queue: bool,
    as_json: bool,
) -> None:
    """Store files, folders and ZIPs as evidence, link them by code, extract and index.

    By default the files are processed here and the final statuses printed; with --queue
    they are stored and handed to `evidence worker`.
    """
    runtime = get_runtime()
    with unit_of_work() as session:
        framework_id = _framework_or_default(session, framework_id)
        user = user_service.get_user_by_name(session, username) if username else None
        if username and user is None:
            raise CommandError(f"用户 {username} 不存在")
        user_id = user.id if user else None
    show_progress = not as_json and sys.stderr.isatty()
    count = 0

    def progress(name: str) -> None:
        nonlocal count
        count += 1
        if show_progress:
            click.echo(f"\r已接收 {count} 个文件：{name[:40]:<40}", nl=False, err=True)

    report = ingest_files(
        runtime,
        list(paths),
        framework_id=framework_id,
        user_id=user_id,
        process=not queue,
        progress=progress,
    )
    if show_progress and count:
        click.echo("", err=True)
    data = report.as_json()
    if as_json:
        echo_json(data)
        return
    click.echo(f"接收 {data['accepted']} 个文件，拒收 {len(data['rejected'])} 个")
    for d in data["documents"]:
        where = d["entry"] or d["indicator"] or "未匹配"
        click.echo(f"  #{d['id']} [{d['status']}] {d['name']} → {where}")
    for r in data["rejected"]:
        click.echo(f"  拒收 {r['name']}：{r['reason']}")


@cli.command("search")
@click.argument("query")
@click.option("--framework", "framework_id", type=int, default=None)
@click.option("--indicator", default=None, help="Indicator code; matches its subtree.")
@click.option("--type", "file_type", default=None)
@click.option("--signed", is_flag=True, help="Only files whose current version is signed.")
@click.option("--limit", type=int, default=20)
@click.option("--offset", type=int, default=0)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def search_command(
    query: str,
    framework_id: int | None,
    indicator: str | None,
    file_type: str | None,
    signed: bool,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """Full-text search over the evidence files."""
    import html
    import re

    with unit_of_work() as session:
        try:
            result = search_documents(
                session,
                get_runtime(),
                query,
                framework_id=framework_id,
                indicator=indicator,
                file_type=file_type,
                signed=signed,
                limit=limit,
                offset=offset,
            )
        except IndexUnavailableError as e:
            raise CommandError(
                f"{e}（已开始重建，可运行 evidence worker 或 evidence reindex）"
            ) from e
    if as_json:
        echo_json(result)
        return
    click.echo(f"共 {result['total']} 个文件（{result['took_ms']:.1f} ms）")
    for h in result["hits"]:
        pages = "、".join(str(p) for p in h["pages"][:8])
        click.echo(f"#{h['document_id']} {h['code']} {h['title']}  第 {pages} 页")
        for s in h["snippets"][:2]:
            text = re.sub(r"</?mark>", "**", s["html"])
            click.echo(f"    p{s['page']}: {html.unescape(text)}")


@cli.command("reindex")
@click.option("--extract", is_flag=True, help="Extract the text from the files again (slow).")
@with_appcontext
def reindex_command(extract: bool) -> None:
    """Rebuild the search index from the database and the file store."""
    with unit_of_work() as session:
        count = reindex(session, get_runtime(), extract=extract)
    click.echo(f"已重建索引：{count} 个文件")


@cli.command("verify")
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--clean",
    is_flag=True,
    help="Remove blobs no record names and temporary files older than an hour.",
)
@with_appcontext
def verify_command(as_json: bool, clean: bool) -> None:
    """Re-hash blobs and compare database and index; exit 1 on any drift."""
    with unit_of_work() as session:
        result = verify(session, get_runtime(), clean=clean)
    if as_json:
        echo_json(result)
    else:
        click.echo(
            f"文件 {result['blobs']} 个，已索引 {result['documents_indexed']} 个，"
            f"问题 {len(result['problems'])} 个"
        )
        for p in result["problems"]:
            click.echo(f"  {p['kind']}: {json.dumps(p, ensure_ascii=False)}")
        if clean:
            click.echo(f"已清理无主文件和临时文件 {result['cleaned']} 个")
    if not result["ok"]:
        sys.exit(1)


# -- tokens, worker, server, demo -------------------------------------------------------------


@cli.group("token")
def token_group() -> None:
    """API tokens."""


@token_group.command("create")
@click.argument("username")
@click.option("--name", default="", help="What the token is for.")
@with_appcontext
def token_create(username: str, name: str) -> None:
    """Create an API token for USER and print it (only its hash is stored)."""
    with unit_of_work() as session:
        user = user_service.get_user_by_name(session, username)
        if user is None:
            raise CommandError(f"用户 {username} 不存在")
        token = user_service.create_token(session, user, name)
    click.echo(token)


@cli.command("worker")
@click.option("--workers", type=int, default=2, help="Worker threads (OCR is CPU bound).")
@click.option("--processes", is_flag=True, help="Use processes instead of threads.")
@with_appcontext
def worker_command(workers: int, processes: bool) -> None:
    """Run the background worker: extraction, OCR and indexing of uploaded files."""
    from datetime import timedelta

    runtime = get_runtime()
    runtime.check_schema()
    huey = runtime.huey
    # whatever a killed worker left half done is queued again (processing is idempotent)
    recovered = recover_stale(runtime, older_than=timedelta(0))
    runtime.check_index()  # an index lost or left behind while no worker ran is rebuilt
    if recovered:
        click.echo(f"重新排队 {len(recovered)} 个未处理完的文件", err=True)
    consumer = huey.create_consumer(
        workers=max(1, workers),
        worker_type="process" if processes else "thread",
        periodic=True,
        check_worker_health=True,
    )
    consumer.run()


@cli.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=int, default=5000)
@click.option("--threads", type=int, default=8, help="Request threads of the WSGI server.")
@with_appcontext
def serve_command(host: str, port: int, threads: int) -> None:
    """Serve the web app with waitress (a production WSGI server)."""
    get_runtime().check_schema()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    click.echo(f"佐证材料库运行于 http://{host}:{port}/", err=True)
    create_server(app, host, port, threads).run()


@cli.command("demo")
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=int, default=5000)
@click.option("--no-serve", is_flag=True, help="Only load the demo data.")
@with_appcontext
def demo_command(host: str, port: int, no_serve: bool) -> None:
    """Load the sample framework and evidence, create a demo admin, run worker and server."""
    import secrets
    import subprocess
    import tempfile

    runtime = get_runtime()
    upgrade_database(runtime.engine)
    password = secrets.token_urlsafe(9)
    with unit_of_work() as session:
        admin = user_service.get_user_by_name(session, "admin")
        if admin is None:
            admin = user_service.create_user(
                session, "admin", password, "admin", display_name="演示管理员"
            )
        else:
            user_service.set_password(session, admin, password)
        for name, role, label in (
            ("staff", "staff", "材料员"),
            ("reviewer", "reviewer", "评审专家"),
            ("auditor", "auditor", "督导"),
        ):
            if user_service.get_user_by_name(session, name) is None:
                user_service.create_user(session, name, password, role, display_name=f"演示{label}")
        report = framework_service.import_framework_file(
            session,
            SAMPLE_FRAMEWORK,
            name="2022年创新强校工程自评打分表（A类规划）",
            year=2022,
            user=admin,
        )
        admin_id = admin.id
    with tempfile.TemporaryDirectory() as tmp:
        archive = build_evidence_zip(Path(tmp) / "演示佐证材料.zip")
        result = ingest_files(
            runtime, [archive], framework_id=report["framework_id"], user_id=admin_id
        )
    click.echo(
        f"已导入示例指标体系（{report['entries']} 条佐证条目）和 {result.accepted} 份示例材料。"
    )
    click.echo(f"演示账号：admin / staff / reviewer / auditor，密码均为：{password}")
    if no_serve:
        return
    worker = subprocess.Popen(  # the demo starts it before any serving thread
        [sys.executable, "-m", "evidence_app.cli", "worker"], preexec_fn=die_with_parent
    )
    try:
        ctx = click.get_current_context()
        ctx.invoke(serve_command, host=host, port=port, threads=8)
    finally:
        worker.terminate()
        worker.wait(timeout=10)


@cli.command("backup")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(out: Path) -> None:
    """Write a consistent snapshot of the database and the files to OUT (a ZIP)."""
    runtime = get_runtime()
    try:
        runtime.check_schema()
        meta = backup(runtime, out)
    except (BackupError, NotInitializedError) as e:
        raise CommandError(str(e)) from e
    rows = sum(meta["tables"].values())
    click.echo(f"已备份到 {out}：{rows} 行数据，{meta['blobs']} 个文件")


@cli.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def restore_command(source: Path) -> None:
    """Restore a backup into this (empty) instance and rebuild the index."""
    runtime = get_runtime()
    upgrade_database(runtime.engine)
    try:
        meta = restore(runtime, source)
    except BackupError as e:
        raise CommandError(str(e)) from e
    click.echo(
        f"已恢复 {sum(meta['tables'].values())} 行数据、{meta['blobs']} 个文件，索引 {meta['indexed']} 个文件"
    )
