"""Real-browser test: Streamlit server + Debian's chromium driven by Playwright (never `playwright install`).

Runs a small comparison from a shareable URL, waits for the results, downloads the CSV and checks its rows,
downloads the per-sample CSV, opens the per-class tab, then opens the same URL in a fresh browser context and
sees the same results from the cache.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
QUERY = "?dataset=digits&paradigm=supervised&scenario=class&s.forget_class=3&model=cnn" \
        "&methods=original,retrain,finetune&seeds=1&device=cpu&epochs=3"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    assert Path(CHROMIUM).exists(), "Debian chromium is required: apt-get install -y chromium (make test does it)"
    port = _free_port()
    env = {**os.environ, "UNLEARN_CACHE_DIR": str(tmp_path_factory.mktemp("cache")), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.fileWatcherType", "none"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not become healthy")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_run_download_and_share(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server + QUERY)
        page.wait_for_selector(IDLE, timeout=120_000)
        page.get_by_role("button", name="Run", exact=True).click()
        download_button = page.get_by_role("button", name="Download CSV (one row per method × seed)")
        download_button.wait_for(timeout=300_000)
        page.wait_for_selector(IDLE, timeout=60_000)
        with page.expect_download() as dl:
            download_button.click()
        csv = Path(dl.value.path()).read_text()
        df = pd.read_csv(io.StringIO(csv))
        assert sorted(df["method"]) == ["finetune", "original", "retrain"]
        assert set(df["status"]) == {"ok"}
        assert (df.loc[df["method"] == "retrain", "forget_acc"] == 0).all()
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        assert page.locator("[data-testid='stException']").count() == 0

        # the per-sample CSV is built on click: one row per forget sample (class 3) x method
        with page.expect_download() as dl_samples:
            page.get_by_role("button", name="Download per-sample CSV (forget set)").first.click()
        samples = pd.read_csv(dl_samples.value.path())
        assert sorted(set(samples["method"])) == ["finetune", "original", "retrain"]
        assert (samples["true"] == 3).all() and len(samples) % 3 == 0
        assert (samples.loc[samples["method"] == "retrain", "predicted"] != 3).all()
        # the per-class tab draws its two charts when opened
        page.get_by_role("tab", name="Per class").click()
        page.wait_for_function("""() => {
            const c = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
            return c.length >= 2 && c.every(x => x.querySelector('.main-svg'));
        }""", timeout=60_000)
        page.wait_for_selector(IDLE, timeout=60_000)
        assert page.locator("text.gtitle", has_text="Per-class accuracy").count() == 1
        page.screenshot(path=str(tmp_path / "per-class.png"), full_page=True)
        assert page.locator("[data-testid='stException']").count() == 0

        # the shared link in a fresh browser context shows the same results, from the cache
        other = browser.new_context().new_page()
        other.goto(server + QUERY)
        other.wait_for_selector(IDLE, timeout=120_000)
        other.get_by_role("button", name="Download CSV (one row per method × seed)").wait_for(timeout=30_000)
        with other.expect_download() as dl2:
            other.get_by_role("button", name="Download CSV (one row per method × seed)").click()
        assert Path(dl2.value.path()).read_text() == csv
        browser.close()
