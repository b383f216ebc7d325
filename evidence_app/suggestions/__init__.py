"""Suggested entries for files without an evidence code (建议条目) and documents like a given
one (相似文件): the ranking use cases, the page and accept action, the API, the CLI."""

from evidence_app.suggestions.operations import (
    SuggestionError,
    accept_suggestion,
    similar_documents,
    suggest_for_document,
    suggest_unlinked,
    unlinked_documents,
)

__all__ = [
    "SuggestionError",
    "accept_suggestion",
    "similar_documents",
    "suggest_for_document",
    "suggest_unlinked",
    "unlinked_documents",
]
