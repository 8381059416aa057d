"""Live progress of a comparison run on the Compare page: overall bar and ETA, the running jobs, per-epoch curves,
the job table, and what went wrong.

:func:`panel` is what the page's one-second fragment calls; it only reads the :class:`JobManager`. The figure and
the texts are pure functions (:func:`curve_figure`, :func:`overall_text`, :func:`running_text`,
:func:`format_seconds`), tested without Streamlit.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboard import url
from dashboard.job_manager import JobManager, Overall

CURVES_TOGGLE = "compare.progress.curves"  # session keys of the panel's widgets
CURVE_JOB = "compare.progress.curve_job"
LATEST_JOB = "Latest job"  # the curve menu's first entry: the job running now, else the last one that reported
ALL_JOBS = "All jobs"
CURVE_HEIGHT = 280
TABLE_ROWS = 10  # rows the job table shows before it scrolls
MAX_FAILURES = 5  # failed jobs listed by name under the bar


def format_seconds(seconds: float | None) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``; ``?`` for ``None`` or a value that is not a finite number."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def overall_text(ov: Overall) -> str:
    """The overall bar's caption: the run's state, jobs finished, elapsed time, the ETA while it runs, and how the
    jobs that did not succeed ended."""
    head = f"Run {ov.state} — {ov.finished}/{ov.jobs} jobs finished"
    if ov.phase:  # a tuned run (issue 15): which step, and the trials
        done, total = ov.trials
        head += f" · {ov.phase}" + (f" (trials {done}/{total})" if ov.phase != "comparison" and total else "")
    if ov.state == "running":
        head += f" · {format_seconds(ov.elapsed)} elapsed"
        if ov.eta is not None:
            head += f" · about {format_seconds(ov.eta)} left"
    elif ov.elapsed > 0:
        head += f" in {format_seconds(ov.elapsed)}"
    bad = [f"{n} {s}" for s, n in sorted(ov.counts.items())
           if s in ("failed", "skipped", "cancelled", "interrupted", "not_applicable") and n]
    return head + (f" ({', '.join(bad)})" if bad else "")


def running_text(job: dict[str, Any]) -> str:
    """One running (or waiting) job's line: label, step, message and seconds so far."""
    parts = [f"{job['job']}"]
    if job.get("step"):
        parts.append(str(job["step"]))
    if job.get("message"):
        parts.append(str(job["message"]))
    parts.append(format_seconds(float(job.get("elapsed (s)") or 0.0)))
    text = " · ".join(parts)
    return text if job.get("state") == "running" else f"{job.get('state')}: {text}"


def curve_figure(points: pd.DataFrame, job: str | None = None) -> go.Figure:
    """Training / unlearning curves: the mean loss per epoch of each job in ``points`` (columns ``job``, ``epoch``,
    ``loss``, ``acc``; :meth:`JobManager.curves`), or of ``job`` alone; the running accuracy, where a loop reports
    one, dashed on a second axis. Pure: dataframe in, figure out."""
    df = points if job is None else points[points["job"] == job]
    has_acc = bool(df["acc"].notna().any()) if not df.empty else False
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for i, (name, g) in enumerate(df.groupby("job", sort=False)):
        g = g.sort_values("epoch")
        colour = _colour(i)
        fig.add_trace(go.Scatter(x=g["epoch"], y=g["loss"], mode="lines+markers", name=f"{name} · loss",
                                 line={"color": colour}, legendgroup=name), secondary_y=False)
        if g["acc"].notna().any():
            fig.add_trace(go.Scatter(x=g["epoch"], y=g["acc"], mode="lines", name=f"{name} · acc",
                                     line={"color": colour, "dash": "dot"}, legendgroup=name), secondary_y=True)
    fig.update_layout(height=CURVE_HEIGHT, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title={"text": "Mean training loss per epoch" + (f" — {job}" if job else "")
                             + (" (dotted: running accuracy)" if has_acc else ""), "font": {"size": 13}},
                      legend={"orientation": "h", "y": -0.25}, hovermode="x unified")
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    positive = bool((df["loss"] > 0).all()) if not df.empty else False  # a loss that falls by decades: log scale
    fig.update_yaxes(title_text="loss" + (" (log)" if positive else ""), type="log" if positive else "linear",
                     secondary_y=False)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02], tickmode="array", tickvals=[0, 0.25, 0.5, 0.75, 1],
                     tickformat=".0%", secondary_y=True, visible=has_acc, showgrid=False)
    return fig


def _colour(i: int) -> str:
    palette = px.colors.qualitative.Dark24
    return palette[i % len(palette)]


def panel(mgr: JobManager, key: str) -> None:
    """The run's live progress (call it in the page's fragment that reruns every second): the run's error first
    when it failed, the overall bar with the ETA, the jobs in progress, the failed jobs, the per-epoch curves
    (behind a toggle), and every job's row (in a collapsed expander)."""
    status = mgr.status(key)
    if status == "idle":
        return
    if status == "failed" and mgr.error(key):
        st.error(url.literal(mgr.error(key), limit=2000))  # quotes what the engine said, never as markup
    pos = mgr.queue_position(key)
    if pos:
        st.info(f"Queued: position {pos} — the hosted demo runs one comparison at a time.")
    ov = mgr.overall(key)
    st.progress(ov.fraction, text=overall_text(ov))
    running = mgr.running_jobs(key)
    for job in running:
        st.progress(float(job["progress"]), text=url.literal(running_text(job), limit=300))
    if status == "running" and not running and ov.fraction < 1.0:
        st.caption("Starting the next jobs (worker processes load torch, the problem is built)…")
    table = mgr.progress(key)
    failures(table)
    curves(mgr, key)
    if not table.empty:
        with st.expander(f"All jobs ({len(table)})"):
            st.dataframe(table, width="stretch", hide_index=True, height=min(38 + 35 * len(table),
                                                                               38 + 35 * TABLE_ROWS),
                         column_config={"progress": st.column_config.ProgressColumn(
                             "progress", min_value=0.0, max_value=1.0, format="percent"),
                             "elapsed (s)": st.column_config.NumberColumn("elapsed (s)", format="%.1f")})


def failures(table: pd.DataFrame) -> None:
    """The jobs that failed (or stopped with the run), each with its message."""
    if table.empty:
        return
    bad = table[table["state"].isin(("failed", "interrupted"))]
    if bad.empty:
        return
    lines = [f"- **{url.literal(str(r.job))}**: {url.literal(str(r.message or r.state), limit=500)}"
             for r in bad.head(MAX_FAILURES).itertuples()]
    if len(bad) > MAX_FAILURES:
        lines.append(f"- … and {len(bad) - MAX_FAILURES} more (see *All jobs*)")
    skipped = int((table["state"] == "skipped").sum())
    note = f"\n\n{skipped} job(s) that depend on them are skipped." if skipped else ""
    if bad["job"].astype(str).str.startswith("tune ").any():
        note += ("\n\nA tuning trial whose run fails (a configuration that diverges) is a failed trial of its study: "
                 "the search goes on without it.")
    st.warning(f"{len(bad)} job(s) failed:\n" + "\n".join(lines) + note)


def curve_job(choice: str, points: pd.DataFrame, running: list[str]) -> str | None:
    """The job whose curve the menu's ``choice`` shows (``None``: all of them): :data:`LATEST_JOB` is the first
    running job that reported points, else the last job that did."""
    if choice == ALL_JOBS:
        return None
    if choice != LATEST_JOB:
        return choice
    reported = list(dict.fromkeys(points["job"]))
    now = [j for j in running if j in reported]
    return now[0] if now else (reported[-1] if reported else None)


def curves(mgr: JobManager, key: str) -> None:
    """The per-epoch loss curves of the run's jobs, behind a toggle (off by default); a menu picks the latest job
    (default), every job, or one."""
    points = mgr.curves(key)
    if points.empty:
        return
    if not st.toggle("Training curves", key=CURVES_TOGGLE,
                     help="mean training loss (and running accuracy) per epoch, as the jobs report it"):
        return
    jobs = list(dict.fromkeys(points["job"]))
    choice = st.columns([1, 2])[0].selectbox("Job", [LATEST_JOB, ALL_JOBS, *jobs], key=CURVE_JOB,
                                             label_visibility="collapsed")
    job = curve_job(choice, points, [r["job"] for r in mgr.running_jobs(key)])
    st.plotly_chart(curve_figure(points, job), width="stretch", key="compare.progress.curve_chart")
