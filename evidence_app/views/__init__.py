"""Blueprints of the web app and the REST API."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from evidence_app.views import admin, api, auth, documents, main, search, upload

    for module in (auth, main, documents, upload, search, admin, api):
        app.register_blueprint(module.bp)
    import importlib.util

    if importlib.util.find_spec("evidence_app.views.coverage") is not None:
        from evidence_app.views import coverage

        app.register_blueprint(coverage.bp)
