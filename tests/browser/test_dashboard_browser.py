"""Real-browser test: Streamlit server + Debian's chromium driven by Playwright (never `playwright install`).

A new user's path (issue 14's "done when"): open the dashboard with no query string, run the default digits
comparison (twelve methods) and watch the leaderboard fill in while it runs, open every results tab (charts
drawn), download the CSV, the numeric summary CSV and the per-sample CSV and check their rows, reopen the page's
link in a fresh browser context (the same results and the same open tab, from the cache, without pressing Run),
rename and tag the comparison on History, and open the across-settings view over two cached comparisons.
:func:`test_audit_path` (issue 16) sets U-LiRA / RMIA (K = 4) and the representation audit in the sidebar for a
small mlp comparison, runs it, and checks the Audit tab's three charts and the Forget set tab's per-example heatmap
(run it alone with ``pytest -m browser tests/browser/test_dashboard_browser.py::test_audit_path``).

Every step writes a full-page screenshot under ``$UNLEARN_SCREENSHOTS`` (default: the test's tmp dir) for a
person to look at.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
DEFAULT_METHODS = sorted(["original", "retrain", "finetune", "gradient_ascent", "neggrad_plus", "random_label",
                          "udru", "ugradsl", "ugradsl_plus", "pgu", "ppu", "laf"])
CHARTS_DRAWN = """(n) => {
    const c = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
    return c.length >= n && c.every(x => x.querySelector('.main-svg'));
}"""
WIDE_CSV = "Download CSV (one row per method × seed)"
SUMMARY_CSV = "Download summary CSV (this table)"
SAMPLES_CSV = "Download per-sample CSV (forget set)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def server(cache: Path):
    assert Path(CHROMIUM).exists(), "Debian chromium is required: apt-get install -y chromium (make test does it)"
    port = _free_port()
    env = {**os.environ, "UNLEARN_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
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


class Shots:
    """Full-page screenshots of each step, numbered in order (the main block scrolls: the viewport is grown to it)."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.where.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def __call__(self, page, name: str) -> None:  # noqa: ANN001
        page.wait_for_selector(IDLE, timeout=60_000)
        size = page.viewport_size
        height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
        page.set_viewport_size({"width": size["width"], "height": min(max(height + 40, size["height"]), 8000)})
        page.wait_for_timeout(500)
        self.n += 1
        page.screenshot(path=str(self.where / f"{self.n:02d}-{name}.png"))
        page.set_viewport_size(size)
        assert page.locator("[data-testid='stException']").count() == 0, name


def _download(page, label: str) -> pd.DataFrame:  # noqa: ANN001
    with page.expect_download() as dl:
        page.get_by_role("button", name=label).first.click()
    return pd.read_csv(dl.value.path())


def _tab(page, name: str) -> None:  # noqa: ANN001
    page.get_by_role("tab", name=name, exact=True).click()
    page.wait_for_timeout(300)
    page.wait_for_selector(IDLE, timeout=60_000)


def test_new_users_path(server: str, cache: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shot = Shots(Path(os.environ.get("UNLEARN_SCREENSHOTS", tmp_path / "screenshots")))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        page.wait_for_selector(IDLE, timeout=120_000)
        shot(page, "start")

        # 1. Run the default comparison; the progress bar and the leaderboard fill in while it runs
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text("jobs finished").first.wait_for(timeout=60_000)  # the overall bar's caption
        page.get_by_text("Running: rows fill in as evaluations finish").first.wait_for(timeout=600_000)
        assert page.locator("[data-testid='stDataFrame']").count() >= 1  # the rows finished so far
        page.screenshot(path=str(shot.where / "00-running.png"))
        page.get_by_role("button", name=WIDE_CSV).wait_for(timeout=900_000)
        page.wait_for_selector(IDLE, timeout=60_000)
        assert page.get_by_text("Run done").count() >= 1
        shared = page.url  # the selection lives in the query string
        assert "methods=" in shared and "dataset=digits" in shared
        verdict = page.get_by_text("Closest to retrain:").first.inner_text()
        shot(page, "leaderboard")

        # 2. the exports: every run, the numeric summary (one row per method, ranked), every forget sample
        df = _download(page, WIDE_CSV)
        assert sorted(df["method"]) == DEFAULT_METHODS
        assert set(df["status"]) == {"ok"}
        assert (df.loc[df["method"] == "retrain", "forget_acc"] == 0).all()
        assert (df.loc[df["method"] == "original", "test_acc"] >= 0.95).all()
        summary = _download(page, SUMMARY_CSV)
        assert list(summary["method"])[:1] == ["retrain"] and sorted(summary["method"]) == DEFAULT_METHODS
        assert summary["gap_to_retrain_mean"].iloc[1:].is_monotonic_increasing
        assert pd.api.types.is_float_dtype(summary["test_acc_mean"])
        samples = _download(page, SAMPLES_CSV)
        assert sorted(set(samples["method"])) == DEFAULT_METHODS
        assert (samples["true"] == 0).all() and len(samples) % len(DEFAULT_METHODS) == 0
        assert (samples.loc[samples["method"] == "retrain", "predicted"] != 0).all()

        # 3. every results tab: its charts drawn
        _tab(page, "Charts")
        page.wait_for_function(CHARTS_DRAWN, arg=3, timeout=120_000)
        for title in ("Trade-off", "Accuracy", "Membership inference"):
            page.locator("text.gtitle", has_text=title).first.wait_for(timeout=60_000)
        assert "view=charts" in page.url  # the link keeps the open tab
        shot(page, "charts")
        _tab(page, "Cost & outputs")
        for title in ("Unlearning time", "Speed-up", "Forget-set entropy", "Closeness to retrain"):
            page.locator("text.gtitle", has_text=title).first.wait_for(timeout=60_000)
        page.wait_for_function(CHARTS_DRAWN, arg=4, timeout=120_000)
        shot(page, "cost-and-outputs")
        _tab(page, "Per class")
        page.locator("text.gtitle", has_text="Per-class accuracy").first.wait_for(timeout=60_000)
        page.wait_for_function(CHARTS_DRAWN, arg=2, timeout=60_000)
        shot(page, "per-class")
        _tab(page, "Forget set")
        page.locator("text.gtitle", has_text="forget samples").first.wait_for(timeout=60_000)
        assert page.locator("[data-testid='stPlotlyChart'] image").count() >= 8
        shot(page, "forget-set")
        _tab(page, "Paper numbers")  # the default setting is LAF Table 2's
        page.get_by_text("not measured here").first.wait_for(timeout=60_000)
        shot(page, "paper-numbers")
        # 3b. tuning (issue 15): the tab says how; a budget of 2 trials per method runs the studies and the tuned
        # configurations, and the tab shows default vs tuned, the studies, the robustness strip and Optuna's plots
        _tab(page, "Tuning")
        page.get_by_text("Tuning budget").first.wait_for(timeout=60_000)
        budget = page.get_by_role("spinbutton", name="Tuning budget (trials per method)")
        budget.fill("2")
        budget.press("Enter")
        page.wait_for_timeout(500)
        page.wait_for_selector(IDLE, timeout=60_000)
        page.get_by_text("unlearning runs on validation").first.wait_for(timeout=30_000)  # the cost, up front
        page.get_by_role("button", name="Run", exact=True).click()
        # the bar follows the phases and counts the trials; done when every trial has ended
        page.get_by_text(re.compile(r"Run done .*\(trials (\d+)/\1\)")).first.wait_for(timeout=900_000)
        page.wait_for_selector(IDLE, timeout=60_000)
        _tab(page, "Tuning")
        page.get_by_text("Default vs tuned").first.wait_for(timeout=60_000)
        page.locator("text.gtitle", has_text="Robustness").first.wait_for(timeout=60_000)
        page.locator("text.gtitle", has_text="objective per trial").first.wait_for(timeout=60_000)
        assert "view=tuning" in page.url
        shot(page, "tuning")
        _tab(page, "Charts")
        shared_view = page.url

        # 4. the link in a fresh browser context: the same results, the same tab, from the cache
        other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        other.goto(shared_view)
        other.wait_for_selector(IDLE, timeout=120_000)
        assert other.get_by_text("Not computed yet").count() == 0
        other.wait_for_function(CHARTS_DRAWN, arg=3, timeout=120_000)  # opened on the Charts tab
        other.locator("text.gtitle", has_text="Trade-off").first.wait_for(timeout=60_000)
        shot(other, "shared-link-charts")
        _tab(other, "Leaderboard")
        assert other.get_by_text("Closest to retrain:").first.inner_text() == verdict
        again = _download(other, WIDE_CSV)
        pd.testing.assert_frame_equal(again, df)
        other.context.close()

        # 5. History: rename and tag the comparison; the table shows it
        page.goto(server + "/history")
        page.wait_for_selector(IDLE, timeout=60_000)
        page.get_by_text("Rename, tag, add a note, delete").click()
        page.wait_for_timeout(500)  # the expander's rerun starts
        page.wait_for_selector(IDLE, timeout=60_000)
        page.get_by_role("textbox", name="Name", exact=True).fill("default digits run")
        page.get_by_role("textbox", name="Tags", exact=True).fill("baseline, browser")
        page.get_by_role("button", name="Save").click()
        page.wait_for_timeout(500)
        page.wait_for_selector(IDLE, timeout=60_000)
        page.get_by_text("Saved the name, tags and note.").wait_for(timeout=30_000)
        pick = page.locator("[data-testid='stSelectbox'] input").first  # the entry's label, renamed
        expect(pick).to_have_value(re.compile("^default digits run — "), timeout=30_000)
        assert page.get_by_text("?dataset=digits").count() >= 1  # the entry's share link
        shot(page, "history-managed")

        # 6. across settings: a second cached comparison (computed here, as a second Run would) and the heatmap
        subprocess.run([sys.executable, "-m", "engine", "compare", "--methods", "original,retrain,finetune,udru,laf",
                        "--scenario", "random", "--fraction", "0.1", "--cache-dir", str(cache)], check=True,
                       stdout=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
        page.reload()
        page.wait_for_selector(IDLE, timeout=60_000)
        _tab(page, "Across settings")
        page.locator("text.gtitle", has_text="Gap to retrain across settings").first.wait_for(timeout=60_000)
        page.wait_for_function(CHARTS_DRAWN, arg=1, timeout=60_000)
        shot(page, "across-settings")
        browser.close()


AUDIT_QUERY = ("/?dataset=digits&paradigm=supervised&scenario=class&s.forget_class=3&model=mlp"
               "&methods=original,retrain,finetune&seeds=1&device=auto")


def test_audit_path(server: str, tmp_path: Path) -> None:
    """U-LiRA / RMIA and the representation audit from the sidebar: the cost stated up front, the run, the Audit
    tab's log-log ROC, layer-wise CKA and embedding, and the Forget set tab's per-example membership heatmap."""
    from playwright.sync_api import sync_playwright

    shot = Shots(Path(os.environ.get("UNLEARN_SCREENSHOTS", tmp_path / "screenshots")) / "audit")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server + AUDIT_QUERY)
        page.wait_for_selector(IDLE, timeout=120_000)
        page.get_by_text("Not computed yet").first.wait_for(timeout=60_000)

        # 1. the sidebar: K = 4 shadow pairs and the representation audit; the cost shows before anything runs
        page.get_by_text("Advanced: attacks").click()
        k = page.get_by_role("spinbutton", name="U-LiRA / RMIA shadow pairs (K)")
        k.wait_for(timeout=30_000)
        k.fill("4")
        k.press("Enter")
        page.wait_for_timeout(500)
        page.wait_for_selector(IDLE, timeout=60_000)
        page.get_by_text("Representation audit (CKA, probes, embedding)").click()
        page.wait_for_timeout(500)
        page.wait_for_selector(IDLE, timeout=60_000)
        sidebar = page.locator("[data-testid='stSidebar']")
        sidebar.get_by_text("8 trainings").first.wait_for(timeout=30_000)  # 1 seed x 2K
        sidebar.get_by_text("4 unlearning runs").first.wait_for(timeout=30_000)  # 1 seed x K x finetune
        sidebar.get_by_text("3 jobs").first.wait_for(timeout=30_000)  # one per model
        assert "ulira=4" in page.url and "audit=true" in page.url  # kept in the link
        shot(page, "audit-controls")

        # 2. run it
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_role("button", name=WIDE_CSV).wait_for(timeout=600_000)
        page.wait_for_selector(IDLE, timeout=60_000)

        # 3. the Audit tab: log-log ROC, layer-wise CKA, embedding
        _tab(page, "Audit")
        for title in ("log-log ROC", "Layer-wise CKA", "Feature embedding"):
            page.locator("text.gtitle", has_text=title).first.wait_for(timeout=60_000)
        page.wait_for_function(CHARTS_DRAWN, arg=3, timeout=120_000)
        assert page.locator("[data-testid='stPlotlyChart'] .xaxislayer-above").count() >= 3
        assert page.get_by_text("TPR at 1 % FPR").count() >= 1
        assert page.get_by_text("ran without U-LiRA").count() == 0
        assert "view=audit" in page.url
        shot(page, "audit-tab")

        # 4. the Forget set tab: the membership score of every audited forget sample per method
        _tab(page, "Forget set")
        page.locator("text.gtitle", has_text="Membership score per forget sample and method").first.wait_for(
            timeout=60_000)
        page.wait_for_function(CHARTS_DRAWN, arg=2, timeout=120_000)
        assert page.locator("[data-testid='stPlotlyChart'] .heatmaplayer image, "
                            "[data-testid='stPlotlyChart'] .hm image").count() >= 1
        shot(page, "audit-forget-set")
        browser.close()
