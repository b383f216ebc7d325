"""Performance indicators (绩效指标) and scoring rules (计分方法). No Flask, no database.

* ``parse_kpi_file`` reads the KPI tables of a report (DOCX, XLSX, CSV, PDF or text with
  tab-separated tables) into rows: code, name, unit, category, targets, achieved value
  (number, or text kept as text) and reported completion (percent).
* ``check_completion`` recomputes each row's completion and says where the report disagrees.
* ``parse_rule`` turns a 计分方法 text into a rule that computes points from measured values.
"""

from evidence_app.kpi._completion import (
    BELOW_TARGET,
    CONVENTIONS,
    CompletionCheck,
    KpiFigures,
    check_completion,
)
from evidence_app.kpi._errors import KpiImportError
from evidence_app.kpi._numbers import Figure, normalize, parse_figure, parse_percent
from evidence_app.kpi._rules import (
    BandsRule,
    Input,
    ItemsRule,
    LinearRule,
    ProportionalRule,
    QualitativeRule,
    Rule,
    SchemesRule,
    Score,
    UnparsedRule,
    parse_rule,
)
from evidence_app.kpi._table import (
    CATEGORY_ORDER,
    KpiRow,
    ParsedKpis,
    SourceTable,
    parse_kpi_file,
    parse_kpi_tables,
    read_kpi_tables,
    split_name_unit,
)

__all__ = [
    "BELOW_TARGET",
    "CATEGORY_ORDER",
    "CONVENTIONS",
    "BandsRule",
    "CompletionCheck",
    "Figure",
    "Input",
    "ItemsRule",
    "KpiFigures",
    "KpiImportError",
    "KpiRow",
    "LinearRule",
    "ParsedKpis",
    "ProportionalRule",
    "QualitativeRule",
    "Rule",
    "SchemesRule",
    "Score",
    "SourceTable",
    "UnparsedRule",
    "check_completion",
    "normalize",
    "parse_figure",
    "parse_kpi_file",
    "parse_kpi_tables",
    "parse_percent",
    "parse_rule",
    "read_kpi_tables",
    "split_name_unit",
]
