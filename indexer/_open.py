"""``open_index``: picks a search backend by name; ``register_backend`` adds more names.

The backends depend on ``indexer._backend`` (the interface and the shared index layout);
this module sits above them all and loads a backend's module (and its library: tantivy,
psycopg) only when that backend is opened, so a process pays only for the one it uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from indexer._backend import SearchBackend
from indexer._types import IndexerError

#: Backends opened by ``factory(**opts)`` (``path``, when given, is one of the options).
_BACKENDS: dict[str, Callable[..., SearchBackend]] = {}
#: The built-in backends: kind -> (module, class); the path-based ones need ``path``.
_BUILT_IN = {
    "whoosh": ("indexer._whoosh", "WhooshBackend"),
    "tantivy": ("indexer._tantivy", "TantivyBackend"),
    "postgres": ("indexer._postgres", "PostgresBackend"),
}


def register_backend(kind: str, factory: Callable[..., SearchBackend]) -> None:
    """Make ``open_index(kind, ...)`` call ``factory(**opts)`` (for backends added later)."""
    _BACKENDS[kind] = factory


def open_index(kind: str, path: str | Path | None = None, **opts: Any) -> SearchBackend:
    """Open (creating if needed) the index of ``kind`` ("whoosh" | "tantivy") at ``path``,
    or of a registered kind ("postgres": ``engine=...``, or a database URL as ``path``).

    An index with another layout (built by an older version) raises IndexLayoutError;
    ``recreate=True`` throws it away and starts an empty one (then reindex).
    """
    if kind in _BACKENDS:
        if path is not None:
            opts["path"] = path
        return _BACKENDS[kind](**opts)
    if kind not in _BUILT_IN:
        raise IndexerError(f"unknown search backend {kind!r} (whoosh, tantivy, postgres)")
    module, name = _BUILT_IN[kind]
    backend: Callable[..., SearchBackend] = getattr(importlib.import_module(module), name)
    if kind == "postgres":
        if path is not None:
            opts["path"] = path
        return backend(**opts)
    return backend(_need_path(kind, path), **opts)


def _need_path(kind: str, path: str | Path | None) -> Path:
    if path is None:
        raise IndexerError(f"the {kind} backend needs an index directory (path=...)")
    return Path(path)
