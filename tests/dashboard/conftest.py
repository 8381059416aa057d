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
    """A factory of AppTests of the dashboard's entry file (or of one page, ``app("app_pages/methods.py")``)."""

    def make(script: str = "app.py") -> AppTest:
        return AppTest.from_file(str(DASHBOARD / script), default_timeout=60)

    return make


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch):
    """Read the bytes behind an AppTest download button (AppTest keeps them in an in-memory media store;
    a button whose data is built on click is executed as the click would)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    managers: list[MediaFileManager] = []

    class Recording(MediaFileManager):
        def __init__(self, storage) -> None:  # noqa: ANN001
            super().__init__(storage)
            managers.append(self)

    monkeypatch.setattr("streamlit.testing.v1.app_test.MediaFileManager", Recording)

    def read(button) -> bytes:  # noqa: ANN001
        for mgr in reversed(managers):
            try:
                url = mgr.execute_deferred(button.proto.deferred_file_id) if button.proto.deferred_file_id \
                    else button.proto.url
                return bytes(mgr._storage.get_file(url.rsplit("/", 1)[-1]).content)
            except Exception:  # noqa: BLE001 - not this run's manager
                continue
        raise KeyError(f"download {button.proto.label!r} not found")

    return read
