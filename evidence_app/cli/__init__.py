"""The ``evidence`` command line: the group (``base``) with the commands of every feature."""

from __future__ import annotations

from evidence_app.cli import commands
from evidence_app.cli.base import CommandError, cli, echo_json, unit_of_work
from evidence_app.coverage import commands as coverage_commands
from evidence_app.experts import commands as expert_commands
from evidence_app.frameworks import commands as framework_commands
from evidence_app.kpi import commands as kpi_commands
from evidence_app.review import commands as review_commands
from evidence_app.suggestions import commands as suggestion_commands

__all__ = [
    "CommandError",
    "cli",
    "commands",
    "coverage_commands",
    "echo_json",
    "expert_commands",
    "framework_commands",
    "kpi_commands",
    "main",
    "review_commands",
    "suggestion_commands",
    "unit_of_work",
]


def main() -> None:
    cli(prog_name="evidence")
