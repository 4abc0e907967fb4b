"""Shared fixtures: one real embedding model per session, one real index of the real guides."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Torch's OpenMP threads spin while they wait for each other (libgomp's default, ACTIVE). Beside other work on
# the machine a spinning thread holds a core the other thread needs: encoding 256 passages on 2 threads took
# 14-16 s at load 6 against 3.2-3.8 s with PASSIVE waits. Set before torch loads; servers, CLI runs and
# Ray workers the tests start inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402

from rag.encoders.embedding import Embedder
from rag.service import QAService
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="session")
def built_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A real index of the real guides, built once per session (read-only for tests)."""
    folder = tmp_path_factory.mktemp("shared") / "index"
    settings = Settings(corpus_dir=CORPUS, index_dir=folder)
    QAService(settings, embedder).build()
    return folder


@pytest.fixture(scope="session")
def service(built_index: Path, embedder: Embedder) -> QAService:
    return QAService(Settings(corpus_dir=CORPUS, index_dir=built_index), embedder)


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A writable copy of the guides, for tests that change the corpus."""
    folder = tmp_path / "corpus"
    shutil.copytree(CORPUS, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


@pytest.fixture
def index_copy(tmp_path: Path, built_index: Path) -> Path:
    """A writable copy of the session index, for tests that rebuild or damage it."""
    folder = tmp_path / "index"
    shutil.copytree(built_index, folder)
    return folder


REAL_GUIDE_FIXTURES = frozenset({"embedder", "built_index", "service", "corpus_copy", "index_copy"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the shared real model, index or guides (the fixtures above) are integration tests
    (`pytest -m "not integration"` runs the fast unit tests alone)."""
    for item in items:
        if REAL_GUIDE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
