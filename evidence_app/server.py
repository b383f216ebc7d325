"""The production web server (waitress) with the app's limits.

Waitress reads a request's whole body before the app sees it, so the request limit is given
to waitress itself: a body declared larger than ``MAX_REQUEST_BYTES`` is answered 413 from
its headers, before a byte of it is read. The per-file limits apply while the app parses the
body (``documents.multipart``), and the upload page checks sizes before sending.
"""

from __future__ import annotations

from typing import Any

from flask import Flask


def create_server(app: Flask, host: str, port: int, threads: int = 8) -> Any:
    """A waitress server for ``app`` bound to host:port; ``run()`` serves, ``close()`` stops."""
    from waitress.server import create_server as waitress_server

    return waitress_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="evidence",
        clear_untrusted_proxy_headers=True,
        max_request_body_size=int(app.config["MAX_CONTENT_LENGTH"]),
    )
