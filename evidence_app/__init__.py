"""The evidence library's Flask application: app factory, blueprints, services, CLI, API."""

from __future__ import annotations

from flask import Flask

from config import Config
from evidence_app.runtime import Runtime

__all__ = ["create_app", "get_runtime"]


def create_app(config: Config | None = None) -> Flask:
    """Build the app from a Config (the environment's when none is given)."""
    config = config or Config()
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    app = Flask(
        __name__,
        template_folder=str(root / "templates"),
        static_folder=str(Path(__file__).resolve().parent / "static"),
    )
    app.config.from_object(config)
    app.config["EVIDENCE_CONFIG"] = config
    init_runtime(app, config)
    register_web(app)
    return app


def init_runtime(app: Flask, config: Config) -> None:
    app.extensions["evidence"] = Runtime(config)


def register_web(app: Flask) -> None:
    from evidence_app import web

    web.init_app(app)


def get_runtime(app: Flask | None = None) -> Runtime:
    from flask import current_app

    return (app or current_app).extensions["evidence"]
