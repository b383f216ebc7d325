"""Blueprints of the web app and the REST API."""

from __future__ import annotations

from flask import Flask

from evidence_app.views import (
    admin,
    api,
    auth,
    coverage,
    documents,
    kpi,
    main,
    review,
    search,
    upload,
)

BLUEPRINTS = (
    auth.bp,
    main.bp,
    documents.bp,
    upload.bp,
    search.bp,
    admin.bp,
    api.bp,
    coverage.bp,
    review.bp,
    kpi.bp,
)


def register_blueprints(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
