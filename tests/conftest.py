"""Shared fixtures: paths to ../shared, and isolated configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import testing_environment

ROOT = Path(__file__).resolve().parents[1]
ENV = testing_environment()
SHARED = Path(ENV["shared"]).resolve() if ENV["shared"] else (ROOT.parent / "shared").resolve()


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
