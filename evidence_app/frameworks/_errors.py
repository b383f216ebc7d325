"""Errors of framework import."""


class FrameworkImportError(Exception):
    """The table cannot be imported; the message says why, in Chinese, in one line."""
