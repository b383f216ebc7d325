"""Reading assessment framework tables (自评打分表) into an indicator tree. No Flask."""

from evidence_app.frameworks._errors import FrameworkImportError
from evidence_app.frameworks._parse import (
    ENTRY_CODE_RE,
    Anomaly,
    ParsedEntry,
    ParsedFramework,
    ParsedIndicator,
    code_key,
    entry_indicator_code,
    find_header,
    parse_table,
    split_catalog,
    split_label,
)
from evidence_app.frameworks._read import RawTable, decode_csv_bytes, read_table


def parse_framework_file(path, name: str | None = None) -> ParsedFramework:
    """Read and parse a framework table file (DOCX, XLSX, CSV or PDF)."""
    return parse_table(read_table(path, name))


__all__ = [
    "ENTRY_CODE_RE",
    "Anomaly",
    "FrameworkImportError",
    "ParsedEntry",
    "ParsedFramework",
    "ParsedIndicator",
    "RawTable",
    "decode_csv_bytes",
    "code_key",
    "entry_indicator_code",
    "find_header",
    "parse_framework_file",
    "parse_table",
    "read_table",
    "split_catalog",
    "split_label",
]
