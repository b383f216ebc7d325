"""The evidence library's Flask application: app factory, blueprints, services, CLI, API."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from config import Config
from evidence_app import web
from evidence_app.auth import security
from evidence_app.documents.multipart import UploadRequest
from evidence_app.frameworks.operations import load_framework_terms
from evidence_app.logs import configure_logging
from evidence_app.runtime import Runtime, get_runtime
from evidence_app.tasks import attach_jobs
from evidence_app.webui import errors, filters, register_blueprints

__all__ = ["create_app", "get_runtime"]

PACKAGE = Path(__file__).resolve().parent


def create_app(config: Config | None = None) -> Flask:
    """Build the app from a Config (the environment's when none is given)."""
    config = config or Config()
    app = Flask(
        __name__,
        template_folder=str(PACKAGE.parent / "templates"),
        static_folder=str(PACKAGE / "static"),
    )
    app.request_class = UploadRequest  # uploads capped per file while they stream in
    app.config.from_object(config)
    app.config["EVIDENCE_CONFIG"] = config
    init_runtime(app, config)
    init_logging(app, config)
    init_web(app)
    init_security(app)
    register_blueprints(app)
    register_error_pages(app)
    register_template_helpers(app)
    return app


def init_runtime(app: Flask, config: Config) -> None:
    runtime = Runtime(config)
    runtime.load_dictionary = load_framework_terms
    attach_jobs(runtime)
    app.extensions["evidence"] = runtime


def init_logging(app: Flask, config: Config) -> None:
    configure_logging(config.LOG_LEVEL)


def init_web(app: Flask) -> None:
    web.init_app(app)


def init_security(app: Flask) -> None:
    security.init_security(app)


def register_error_pages(app: Flask) -> None:
    errors.register(app)


def register_template_helpers(app: Flask) -> None:
    filters.register(app)
