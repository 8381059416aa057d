"""Benchmark: how fast the dashboard paints, in a real headless chromium (Debian's, driven by Playwright).

Measures, and prints as a markdown table:

* **first paint** -- from launching ``streamlit run dashboard/app.py`` to the Compare page's first render in
  the browser (its title drawn), plus the moments the server answered ``/_stcore/health`` and the page's
  script finished (median of ``--starts`` fresh servers);
* **cached comparison** -- opening the shared URL of the default comparison whose runs are all in the cache,
  until its leaderboard is drawn, then clicking the Charts, Per class, Forget set and Leaderboard tabs until
  each is drawn (tabs run only when opened), and opening the Charts tab's own link until all its charts are drawn
  (first open in a warm server, then repeats); each also as a ratio to the first paint, so a noisy machine does
  not hide a regression.

Targets on 2 CPU cores (issue 14): first paint <= 3 s; leaderboard <= 1 s; every chart of the open tab <= 2 s;
tab switches <= 0.5 s. The **floor** -- a bare Streamlit page with a title and a 12-row table, opened the same way --
says what Streamlit itself costs on the machine; the repeat opens are also printed as a ratio to it. The **lowest
floor** is the same page with a static HTML table (``st.table``), no interactive grid at all.

    .venv/bin/python bench/bench_dashboard.py [--cache-dir DIR] [--starts 3] [--repeats 3]

Without ``--cache-dir`` the default comparison is computed first into a temporary cache (about a minute).
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
TITLE = "h1:has-text('Compare unlearning methods')"
CHARTS_DRAWN = """(n) => {
    const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
    return charts.length >= n && charts.every(c => c.querySelector('.main-svg'));
}"""
VERDICT = "Closest to retrain"  # the leaderboard's verdict line
N_CHARTS = 3  # charts of the Charts tab: trade-off, accuracy, attacks
# chart titles (as plotly draws them) of the other results tabs
TAB_CHARTS = {"Cost & outputs": ("Unlearning time", "Speed-up", "Forget-set entropy", "Closeness to retrain"),
              "Per class": ("Per-class accuracy", "Forget set: true class"), "Forget set": ("forget samples",)}
TARGETS = {"leaderboard": 1.0, "charts_link": 2.0, "Charts": 2.0, "Cost & outputs": 2.0, "Per class": 0.5,
           "Forget set": 0.5, "Leaderboard": 0.5}  # seconds on 2 cores (issue 14)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(cache: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "UNLEARN_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.fileWatcherType", "none",
                             "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _healthy(url: str) -> bool:
    try:
        return urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok"
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def first_paint(browser, cache: Path) -> dict[str, float]:  # noqa: ANN001
    """Seconds from server launch to: health ok, title drawn in the browser, script finished."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    start = time.perf_counter()
    proc = _server(cache, port)
    try:
        while not _healthy(url):
            if time.perf_counter() - start > 120:
                raise RuntimeError("streamlit did not become healthy in 120 s")
            time.sleep(0.02)
        health = time.perf_counter() - start
        page.goto(url)
        page.wait_for_selector(TITLE, timeout=120_000)
        title = time.perf_counter() - start
        page.wait_for_selector(IDLE, timeout=120_000)
        idle = time.perf_counter() - start
    finally:
        page.context.close()
        _stop(proc)
    return {"health": health, "title": title, "idle": idle}


def _drawn(page, titles: tuple[str, ...]) -> None:  # noqa: ANN001
    """Wait until charts with these titles are drawn (plotly writes the title into the SVG last) and the
    page's script has finished."""
    for t in titles:
        page.locator("text.gtitle", has_text=t).first.wait_for(timeout=120_000)
    page.wait_for_selector(IDLE, timeout=120_000)


def _leaderboard(page) -> None:  # noqa: ANN001
    """Wait until the leaderboard's verdict and its table are on the page."""
    page.get_by_text(VERDICT).first.wait_for(timeout=120_000)
    page.locator("[data-testid='stDataFrame'] canvas").first.wait_for(timeout=120_000)


def cached_render(browser, url: str) -> dict[str, float]:  # noqa: ANN001
    """Seconds from opening ``url`` (a cached comparison) in a fresh browser context to its leaderboard drawn and
    to the page's script finished; then from clicking each results tab to its charts drawn (tabs run only when
    opened); then from opening the link of the Charts tab in a fresh context to all its charts drawn."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    out = {}
    try:
        start = time.perf_counter()
        page.goto(url)
        _leaderboard(page)
        out["leaderboard"] = time.perf_counter() - start
        page.wait_for_selector(IDLE, timeout=120_000)
        out["idle"] = time.perf_counter() - start
        start = time.perf_counter()
        page.get_by_role("tab", name="Charts").click()
        page.wait_for_function(CHARTS_DRAWN, arg=N_CHARTS, timeout=120_000)
        page.wait_for_selector(IDLE, timeout=120_000)
        out["Charts"] = time.perf_counter() - start
        for tab, titles in TAB_CHARTS.items():
            start = time.perf_counter()
            page.get_by_role("tab", name=tab).click()
            _drawn(page, titles)
            out[tab] = time.perf_counter() - start
        start = time.perf_counter()
        page.get_by_role("tab", name="Leaderboard").click()
        _leaderboard(page)
        page.wait_for_selector(IDLE, timeout=120_000)
        out["Leaderboard"] = time.perf_counter() - start
        if page.locator("[data-testid='stException']").count():
            raise RuntimeError("the page shows an exception")
    finally:
        page.context.close()
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    try:
        start = time.perf_counter()
        page.goto(url + "&view=charts")
        page.wait_for_function(CHARTS_DRAWN, arg=N_CHARTS, timeout=120_000)
        page.wait_for_selector(IDLE, timeout=120_000)
        out["charts_link"] = time.perf_counter() - start
    finally:
        page.context.close()
    return out


FLOOR_APP = '''"""The floor: a bare Streamlit page with a title, a line of text and a 12-row table."""
import pandas as pd
import streamlit as st

st.title("Compare unlearning methods")
st.markdown("Closest to retrain: the floor")
st.dataframe(pd.DataFrame({"method": [f"m{i}" for i in range(12)], "gap": [i / 100 for i in range(12)]}))
'''


def floor_render(browser, url: str, html: bool = False) -> float:  # noqa: ANN001
    """Seconds from opening the bare page in a fresh browser context to its table drawn: what Streamlit itself
    costs on this machine, below which no page can go (``html``: the static-table floor, :data:`FLOOR_HTML_APP`)."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    try:
        start = time.perf_counter()
        page.goto(url)
        if html:
            page.get_by_text(VERDICT).first.wait_for(timeout=120_000)
            page.locator("[data-testid='stTable'] td").first.wait_for(timeout=120_000)
        else:
            _leaderboard(page)
        return time.perf_counter() - start
    finally:
        page.context.close()


# the lowest floor: the same page with a static HTML table (st.table) instead of the interactive grid
FLOOR_HTML_APP = FLOOR_APP.replace("st.dataframe(", "st.table(")


def floor_server(tmp: Path, html: bool = False) -> tuple[subprocess.Popen, str]:
    """A server of :data:`FLOOR_APP` (or :data:`FLOOR_HTML_APP`), healthy when returned."""
    app = tmp / ("floor_html_app.py" if html else "floor_app.py")
    app.write_text(FLOOR_HTML_APP if html else FLOOR_APP)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
                             "--server.port", str(port), "--server.fileWatcherType", "none",
                             "--browser.gatherUsageStats", "false"],
                            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while not _healthy(url):
        time.sleep(0.05)
    return proc, url


def default_url_query() -> tuple[str, str]:
    """The shareable query of the dashboard's default comparison and its spec summary."""
    from dashboard import data, url

    sel = data.Selection()
    query = "&".join(f"{k}={v}" for k, v in url.to_params(sel).items())
    return "/?" + query, data.spec_summary(data.build_spec(sel))


def populate(cache: Path) -> float:
    """Compute the default comparison into ``cache`` (what a user's first Run does); returns seconds."""
    from dashboard import data

    spec = data.build_spec(data.Selection())
    mgr = data.JobManager(cache)
    start = time.perf_counter()
    key = mgr.start(spec, data.plan(spec))
    if mgr.wait(key) != "done":
        raise RuntimeError(f"the default comparison did not finish: {mgr.error(key)}")
    res = mgr.result(key)
    if not res.complete or not res.any_ok:
        raise RuntimeError("the default comparison has rows without results")
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache-dir", type=Path, help="a cache that already holds the default comparison")
    p.add_argument("--starts", type=int, default=3, help="fresh servers for the first-paint figure")
    p.add_argument("--repeats", type=int, default=3, help="opens of the cached comparison after the first")
    a = p.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit("Debian chromium is required: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        cache = a.cache_dir or Path(tmp) / "cache"
        computed = None if a.cache_dir else populate(cache)
        query, summary = default_url_query()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            starts = [first_paint(browser, cache) for _ in range(a.starts)]
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            proc = _server(cache, port)
            try:
                while not _healthy(url):
                    time.sleep(0.05)
                first = cached_render(browser, url + query)
                repeats = [cached_render(browser, url + query) for _ in range(a.repeats)]
            finally:
                _stop(proc)
            fproc, furl = floor_server(Path(tmp))
            try:
                floor_render(browser, furl)  # its first open warms the server
                floors = [floor_render(browser, furl) for _ in range(max(1, a.repeats))]
            finally:
                _stop(fproc)
            hproc, hurl = floor_server(Path(tmp), html=True)
            try:
                floor_render(browser, hurl, html=True)
                html_floors = [floor_render(browser, hurl, html=True) for _ in range(max(1, a.repeats))]
            finally:
                _stop(hproc)
                browser.close()

    med = {k: statistics.median(s[k] for s in starts) for k in ("health", "title", "idle")}
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"Dashboard timings on {os.cpu_count()} CPU core(s), {platform.machine()}, Python "
          f"{platform.python_version()}; load average at the end {load} (other work on the machine slows "
          f"every figure); default comparison: {summary}\n")
    print("| measurement | seconds | target |")
    print("| --- | ---: | ---: |")
    print(f"| server launch → /_stcore/health ok (median of {a.starts}) | {med['health']:.2f} | |")
    print(f"| server launch → first paint: page title drawn (median of {a.starts}) | {med['title']:.2f} | 3 |")
    print(f"| server launch → page script finished, form drawn (median of {a.starts}) | {med['idle']:.2f} | |")
    rows = (("leaderboard", "open the link → leaderboard drawn"), ("idle", "open the link → page script finished"),
            ("Charts", "click Charts → all its charts drawn"),
            ("Cost & outputs", "click Cost & outputs → its charts drawn"),
            ("Per class", "click Per class → its charts drawn"),
            ("Forget set", "click Forget set → its gallery drawn"), ("Leaderboard", "click Leaderboard → drawn"),
            ("charts_link", "open the link of the Charts tab → all its charts drawn"))
    paint = med["title"]
    for k, label in rows:
        t = TARGETS.get(k, "")
        print(f"| cached default comparison, first open in a warm server: {label} | {first[k]:.2f} | {t} |")
    for k, label in rows if repeats else ():
        v = statistics.median(r[k] for r in repeats)
        print(f"| … repeat opens (median of {len(repeats)}): {label} | {v:.2f} | {TARGETS.get(k, '')} |")
    floor = statistics.median(floors)
    print(f"| the floor: a bare Streamlit page (title, a line, a 12-row table) opened the same way → table drawn "
          f"(median of {len(floors)}) | {floor:.2f} | |")
    print(f"| the lowest floor: the same bare page with a static HTML table (st.table) → table drawn "
          f"(median of {len(html_floors)}) | {statistics.median(html_floors):.2f} | |")
    print("\nratios to the first paint (page title drawn, a noisy machine slows both): " + ", ".join(
        f"{k} {statistics.median(r[k] for r in [first, *repeats]) / paint:.2f}" for k, _ in rows))
    print("ratio of the repeat opens to the floor (1.0 = as fast as Streamlit can draw a table here): " + ", ".join(
        f"{k} {statistics.median(r[k] for r in repeats or [first]) / floor:.2f}" for k in ("leaderboard",
                                                                                           "charts_link")))
    if computed is not None:
        print(f"| (set-up, not a target: computing the default comparison) | {computed:.1f} | |")
    print("\nfirst-paint runs: " + ", ".join(f"{s['title']:.2f}" for s in starts)
          + "; cached opens (leaderboard): " + ", ".join(f"{r['leaderboard']:.2f}" for r in [first, *repeats]))


if __name__ == "__main__":
    main()
