"""Shared web plumbing: the blueprints of every feature, error pages, template filters."""

from __future__ import annotations

from flask import Flask

from evidence_app import api
from evidence_app.admin import routes as admin_routes
from evidence_app.auth import routes as auth_routes
from evidence_app.coverage import routes as coverage_routes
from evidence_app.documents import routes as document_routes
from evidence_app.documents import upload_routes
from evidence_app.experts import routes as expert_routes
from evidence_app.frameworks import routes as framework_routes
from evidence_app.kpi import routes as kpi_routes
from evidence_app.review import expert_routes as expert_review_routes
from evidence_app.review import routes as review_routes
from evidence_app.search import routes as search_routes
from evidence_app.suggestions import routes as suggestion_routes

BLUEPRINTS = (
    auth_routes.bp,
    framework_routes.bp,
    document_routes.bp,
    upload_routes.bp,
    search_routes.bp,
    admin_routes.bp,
    coverage_routes.bp,
    review_routes.bp,
    expert_review_routes.bp,
    kpi_routes.bp,
    expert_routes.bp,
    suggestion_routes.bp,
    api.bp,  # last: every feature's routes module has added its API endpoints
)


def register_blueprints(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
