"""The ``evidence`` click group (a FlaskGroup) and what every command shares."""

from __future__ import annotations

import contextlib
import ctypes
import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup
from sqlalchemy.orm import Session

from evidence_app import create_app
from evidence_app.runtime import NotInitializedError, get_runtime


class CommandError(click.ClickException):
    """A one-line error on stderr and exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"错误：{self.format_message()}", err=True)


def _create_app(*_args: Any) -> Flask:
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def cli() -> None:
    """佐证材料库 (evidence library) command line."""


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A session that commits when the command succeeds and rolls back otherwise."""
    runtime = get_runtime()
    try:
        runtime.check_schema()
    except NotInitializedError as e:
        raise CommandError(str(e)) from e
    with runtime.unit_of_work() as session:
        yield session


def die_with_parent() -> None:
    """For ``subprocess.Popen(preexec_fn=…)``: on Linux the child gets SIGTERM when the
    process that started it dies, however it dies (Ctrl-C, kill, a closed terminal), so the
    demo's worker never outlives the demo."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
