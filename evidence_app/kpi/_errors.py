"""Errors of KPI import."""

from evidence_app.frameworks import FrameworkImportError


class KpiImportError(FrameworkImportError):
    """The KPI table cannot be imported; the message says why, in Chinese, in one line."""
