"""Configuration: the only module that reads ``os.environ``.

Every setting has a default that makes the embedded setup work with no environment at all:
SQLite database, blob store and Whoosh index inside ``EVIDENCE_HOME`` (``./instance``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

MB = 1024 * 1024


def _int(environ: dict[str, str], name: str, default: int) -> int:
    value = environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as e:
        raise ValueError(f"{name} must be an integer, got {value!r}") from e


class Config:
    """Settings for the app, the CLI and the worker, read from the environment."""

    def __init__(self, environ: dict[str, str] | None = None, **overrides: object) -> None:
        env = dict(os.environ if environ is None else environ)
        home = Path(env.get("EVIDENCE_HOME") or "instance").resolve()
        self.EVIDENCE_HOME = home
        self.DATABASE_URL = env.get("DATABASE_URL") or f"sqlite:///{home / 'evidence.sqlite3'}"
        self.BLOB_DIR = Path(env.get("BLOB_DIR") or home / "blobs")
        # where blobs live: a folder (default BLOB_DIR) or s3://BUCKET/PREFIX
        self.BLOB_STORE = env.get("BLOB_STORE") or str(self.BLOB_DIR)
        # S3 (or SeaweedFS / MinIO: set the endpoint); without keys boto3 finds its own
        self.S3_ENDPOINT_URL = env.get("S3_ENDPOINT_URL") or None
        self.AWS_ACCESS_KEY_ID = env.get("AWS_ACCESS_KEY_ID") or None
        self.AWS_SECRET_ACCESS_KEY = env.get("AWS_SECRET_ACCESS_KEY") or None
        self.AWS_DEFAULT_REGION = env.get("AWS_DEFAULT_REGION") or "us-east-1"
        # downloads redirect to a presigned S3 URL instead of streaming through the app
        self.S3_PRESIGNED_DOWNLOADS = env.get("S3_PRESIGNED_DOWNLOADS", "0") in ("1", "true", "yes")
        self.INDEX_DIR = Path(env.get("INDEX_DIR") or home / "index")
        # whoosh (embedded default), tantivy (fast, single machine), postgres (shared)
        self.SEARCH_BACKEND = env.get("SEARCH_BACKEND") or "whoosh"
        self.SECRET_KEY = env.get("SECRET_KEY") or _load_or_create_secret(home)
        # the address users reach the app at: links printed by the CLI (expert invitations)
        self.PUBLIC_URL = env.get("PUBLIC_URL") or "http://127.0.0.1:5000"
        # upload limits
        self.MAX_UPLOAD_BYTES = _int(env, "MAX_UPLOAD_BYTES", 200 * MB)
        self.MAX_CONTENT_LENGTH = _int(env, "MAX_REQUEST_BYTES", 1024 * MB)
        self.ZIP_MAX_TOTAL_BYTES = _int(env, "ZIP_MAX_TOTAL_BYTES", 2048 * MB)
        self.ZIP_MAX_MEMBERS = _int(env, "ZIP_MAX_MEMBERS", 10_000)
        self.ZIP_MAX_RATIO = _int(env, "ZIP_MAX_RATIO", 200)
        # extraction
        self.OCR_ENABLED = env.get("OCR_ENABLED", "1") not in ("0", "false", "no")
        self.OCR_DPI = _int(env, "OCR_DPI", 150)
        self.OCR_MAX_PAGES = _int(env, "OCR_MAX_PAGES", 200)
        # each file is read in a child process, killed above this much resident memory or
        # after this long without a new page (0: no limit); EXTRACT_IN_PROCESS=1 reads in
        # the worker itself (debugging: no limits)
        self.EXTRACT_MEMORY_MB = _int(env, "EXTRACT_MEMORY_MB", 2048)
        self.EXTRACT_TIMEOUT_SECONDS = _int(env, "EXTRACT_TIMEOUT_SECONDS", 600)
        self.EXTRACT_IN_PROCESS = env.get("EXTRACT_IN_PROCESS", "0") in ("1", "true", "yes")
        # background jobs
        self.REDIS_URL = env.get("REDIS_URL") or None
        self.HUEY_IMMEDIATE = env.get("HUEY_IMMEDIATE", "0") in ("1", "true", "yes")
        self.LOG_LEVEL = env.get("LOG_LEVEL") or "INFO"
        # cookies: HttpOnly and SameSite always; Secure when served over HTTPS
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = env.get("SESSION_COOKIE_SECURE", "0") in ("1", "true", "yes")
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.TESTING = False
        for key, value in overrides.items():
            setattr(self, key, value)

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if k.isupper()}


class TestConfig(Config):
    """Isolated settings for tests: everything under ``home``, no environment read."""

    __test__ = False  # not a pytest class

    def __init__(self, home: Path | str, **overrides: object) -> None:
        home = Path(home)
        environ = {
            "EVIDENCE_HOME": str(home),
            "SECRET_KEY": "test-secret-key",
            "OCR_ENABLED": "1",
        }
        db = overrides.pop("DATABASE_URL", None)
        if db:
            environ["DATABASE_URL"] = str(db)
        super().__init__(environ, **overrides)
        self.TESTING = True
        self.WTF_CSRF_ENABLED = bool(overrides.get("WTF_CSRF_ENABLED", False))
        # jobs run inline, in the test's own process
        self.HUEY_IMMEDIATE = bool(overrides.get("HUEY_IMMEDIATE", True))
        self.RATELIMIT_STORAGE_URI = "memory://"


def settings_for_tests() -> dict[str, str | None]:
    """External services the test-suite may use, read here so tests never touch os.environ."""
    return {
        "postgres_url": os.environ.get("EVIDENCE_TEST_POSTGRES_URL") or None,
        "redis_url": os.environ.get("EVIDENCE_TEST_REDIS_URL") or None,
        "chromium": os.environ.get("EVIDENCE_TEST_CHROMIUM") or "/usr/bin/chromium",
        "artifacts": os.environ.get("EVIDENCE_TEST_ARTIFACTS") or "test-artifacts",
        "shared": os.environ.get("EVIDENCE_SHARED_DIR") or None,
    }


def _load_or_create_secret(home: Path) -> str:
    """A random secret kept in the instance folder, so sessions survive restarts."""
    path = home / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(key)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return key
