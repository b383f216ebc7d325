"""``evidence expert``: invite, list and revoke outside experts."""

from __future__ import annotations

from datetime import datetime

import click
from flask.cli import with_appcontext

from evidence_app.cli.base import CommandError, cli, echo_json, unit_of_work
from evidence_app.experts.access import (
    ExpertError,
    end_of_access,
    expert_json,
    get_expert,
    invite_expert,
    list_experts,
    revoke_expert,
)
from evidence_app.runtime import get_runtime


@cli.group("expert")
def expert_group() -> None:
    """Outside experts (评估专家): invitations for a framework and a period."""


@expert_group.command("invite")
@click.option("--framework", "framework_id", type=int, required=True)
@click.option("--name", required=True, help="The expert's name, shown in the watermark.")
@click.option("--indicators", default="", help="Only these indicator codes (CODE,CODE…).")
@click.option("--days", type=int, help="Access for this many days from now.")
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Access until the end of this day (Beijing time).",
)
@click.option("--no-download", is_flag=True, help="View online only; no downloads.")
@click.option("--lead", is_flag=True, help="The group lead (组长): sees all marks.")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def invite_command(
    framework_id: int,
    name: str,
    indicators: str,
    days: int | None,
    until: datetime | None,
    no_download: bool,
    lead: bool,
    as_json: bool,
) -> None:
    """Invite an expert; prints the sign-in link and an API token (shown only once)."""
    codes = [c for c in indicators.replace("，", ",").split(",") if c.strip()]
    try:
        with unit_of_work() as session:
            invitation = invite_expert(
                session,
                framework_id=framework_id,
                name=name,
                expires_at=end_of_access(days=days, until=until.date() if until else None),
                indicators=codes,
                can_download=not no_download,
                lead=lead,
            )
            result = invitation.as_json(get_runtime().config.PUBLIC_URL)
    except ExpertError as e:
        raise CommandError(str(e)) from e
    if as_json:
        echo_json(result)
        return
    click.echo(f"已邀请专家 {name}（编号 {result['expert_id']}），有效期至 {result['expires_at']}")
    click.echo(f"登录链接：{result['url']}")
    click.echo(f"API 令牌：{result['token']}")


@expert_group.command("list")
@click.option("--framework", "framework_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def list_command(framework_id: int | None, as_json: bool) -> None:
    """The invited experts, their scope, period and state."""
    with unit_of_work() as session:
        experts = [expert_json(session, e) for e in list_experts(session, framework_id)]
    if as_json:
        echo_json(experts)
        return
    for e in experts:
        state = "已撤销" if e["revoked"] else "有效" if e["active"] else "已过期"
        scope = "、".join(e["indicators"]) or "全部指标"  # type: ignore[arg-type]
        click.echo(f"{e['expert_id']}\t{e['name']}\t指标体系 {e['framework_id']}\t{scope}\t{state}")


@expert_group.command("revoke")
@click.argument("expert_id", type=int)
@with_appcontext
def revoke_command(expert_id: int) -> None:
    """End an expert's access now (sign-in link, sessions and tokens)."""
    with unit_of_work() as session:
        expert = get_expert(session, expert_id)
        if expert is None:
            raise CommandError(f"专家 {expert_id} 不存在")
        revoke_expert(session, expert, None)
        name = expert.display_name
    click.echo(f"已撤销专家 {name} 的访问")
