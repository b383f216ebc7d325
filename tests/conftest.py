"""Shared fixtures: paths to ../shared, and isolated configs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from config import settings_for_tests
from tests import factories
from tests._s3 import seaweedfs  # noqa: F401 - the session-wide S3 server fixture

ROOT = Path(__file__).resolve().parents[1]
ENV = settings_for_tests()
SHARED = Path(ENV["shared"]).resolve() if ENV["shared"] else (ROOT.parent / "shared").resolve()


def load_module(path: Path, name: str | None = None) -> ModuleType:
    """The module in ``path`` (a helper or sibling test module, a bench script), loaded once
    per process: tests and bench/ are not packages under --import-mode=importlib. It is
    registered in sys.modules, where dataclasses look their module up."""
    name = name or path.stem
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared folder not found at {SHARED} (set EVIDENCE_SHARED_DIR)")
    return SHARED


@pytest.fixture(scope="session")
def corpus_dir(shared_dir: Path) -> Path:
    path = shared_dir / "corpus" / "real"
    if not path.is_dir():
        pytest.skip(f"real corpus not found at {path}")
    return path


@pytest.fixture(scope="session")
def framework_fixtures(shared_dir: Path) -> Path:
    path = shared_dir / "fixtures" / "framework"
    if not path.is_dir():
        pytest.skip(f"framework fixtures not found at {path}")
    return path


def corpus_file(corpus_dir: Path, name: str) -> Path:
    """One file of the real corpus, or skip with the reason."""
    path = corpus_dir / name
    if not path.exists():
        pytest.skip(f"corpus file missing: {name}")
    return path


# -- databases -------------------------------------------------------------------------------

DATABASES = ["sqlite", "postgres"]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path):
    """A fresh, empty database: a SQLite file, or a private schema on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    base = ENV["postgres_url"]
    if not base:
        pytest.skip("PostgreSQL not configured (set EVIDENCE_TEST_POSTGRES_URL)")
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as e:  # server down: skip with the reason
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {base}: {e.__class__.__name__}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def app(tmp_path: Path, database_url: str):
    """The Flask app on an isolated instance folder, database migrated."""
    from config import TestConfig
    from evidence_app import create_app, get_runtime
    from storage import upgrade_database

    app = create_app(TestConfig(tmp_path / "instance", DATABASE_URL=database_url))
    runtime = get_runtime(app)
    upgrade_database(runtime.engine)
    yield app
    runtime.close()


@pytest.fixture
def runtime(app):
    from evidence_app import get_runtime

    return get_runtime(app)


@pytest.fixture
def session(runtime):
    s = runtime.session()
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def invoke(app):
    """Run an ``evidence`` command against the test app: invoke("framework", "list")."""
    from evidence_app.cli import cli

    runner = app.test_cli_runner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)

    return run


@pytest.fixture
def make_framework(runtime, framework_fixtures: Path):
    """Import a framework table (default: the fixture DOCX) and return the report."""

    def make(path: Path | None = None, **kwargs):
        path = path or framework_fixtures / "A类规划自评打分表.docx"
        return factories.make_framework(runtime, path, **kwargs)

    return make


# -- users and logins ---------------------------------------------------------------------------

PASSWORD = factories.PASSWORD


@pytest.fixture
def make_user(runtime):
    """Create a user with a role: make_user("staff", "张三")."""

    def make(role: str, username: str | None = None, **kwargs):
        return factories.make_user(runtime, role, username, **kwargs)

    return make


@pytest.fixture
def login(app):
    """A logged-in test client for a user."""

    def do(user):
        client = app.test_client()
        response = client.post("/login", data={"username": user.username, "password": PASSWORD})
        assert response.status_code == 302, response.data[:500]
        return client

    return do


@pytest.fixture
def token_for(runtime):
    """A bearer header for a user's new API token."""

    def make(user):
        return factories.bearer_header(runtime, user)

    return make


# -- tokenizer dictionary ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def _pristine_dictionary():
    """The tokenizer's dictionary as shipped (bundled domain words only)."""
    import indexer._tokenize as tokenize_module

    d = tokenize_module._DICT
    d.jieba  # noqa: B018 - load the bundled words
    d.frozen = True  # kept as the snapshot: the first word added works on a copy
    return (dict(d.words), set(d.mixed_words), d._jieba, d.pattern)


@pytest.fixture(autouse=True)
def _restore_dictionary(_pristine_dictionary):
    """Importing a framework adds its title terms to the process's dictionary; tests that
    expect exact tokens must not depend on which tests ran before, so put it back."""
    yield
    import indexer._tokenize as tokenize_module

    d = tokenize_module._DICT
    if d.runtime_words or d.mixed_words != _pristine_dictionary[1]:
        words, mixed, segmenter, pattern = _pristine_dictionary
        with d._lock:
            d.words = dict(words)
            d.mixed_words = set(mixed)
            d.runtime_words = set()
            d._jieba = segmenter
            d.frozen = True
            d.pattern = pattern
            d.fingerprint = None
        tokenize_module._split_word.cache_clear()
