"""Blueprints of the web app and the REST API."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from evidence_app.views import admin, api, auth, documents, main, search, upload

    for module in (auth, main, documents, upload, search, admin, api):
        app.register_blueprint(module.bp)
    import importlib
    import importlib.util

    # feature blueprints that live in their own modules
    for name in ("coverage", "review", "kpi"):
        module_name = f"evidence_app.views.{name}"
        if importlib.util.find_spec(module_name) is not None:
            app.register_blueprint(importlib.import_module(module_name).bp)
