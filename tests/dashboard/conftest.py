"""AppTest fixtures: every test gets its own, empty results cache (never the user's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("UNLEARN_CACHE_DIR", str(d))
    return d


@pytest.fixture
def app(cache_dir: Path):
    """A factory of AppTests of the dashboard's entry file (or of one page, ``app("pages/methods.py")``)."""

    def make(script: str = "app.py") -> AppTest:
        return AppTest.from_file(str(DASHBOARD / script), default_timeout=60)

    return make
