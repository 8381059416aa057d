"""The Dockerfile lints clean and keeps the properties issue 6 asks for (it is not built here: no Docker engine)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_hadolint_is_clean() -> None:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(exe).exists():
        pytest.fail("hadolint is not installed (it is in requirements-dev.txt)")
    out = subprocess.run([exe, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_required_properties() -> None:
    assert re.search(r"^USER 1000$", DOCKERFILE, re.M)  # non-root
    assert "EXPOSE 8501" in DOCKERFILE
    assert "/_stcore/health" in DOCKERFILE and "HEALTHCHECK" in DOCKERFILE
    assert "download.pytorch.org/whl/cpu" in DOCKERFILE  # CPU wheels
    assert "--server.fileWatcherType=none" in DOCKERFILE
    assert "UNLEARN_DEMO=${DEMO}" in DOCKERFILE and "ARG DEMO=1" in DOCKERFILE


def test_pinned_torch_matches_requirements() -> None:
    reqs = (ROOT / "requirements.txt").read_text()
    for pin in ("torch==2.14.1", "torchvision==0.29.1"):
        assert pin in reqs and pin in DOCKERFILE


def test_copied_paths_exist_and_are_not_ignored() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    for src in re.findall(r"^COPY (?:--chown=\S+ )?(\S+) ", DOCKERFILE, re.M):
        assert (ROOT / src).exists(), src
        assert src not in ignored, src
