"""The leaderboard: the first thing a comparison's results show (issue 14, "which method forgets best, at what cost").

One row per method, ranked by SalUn's average gap to the retrained model (``gap_to_retrain``; retrain is the reference
row), with forget / retain / test accuracy, the membership attacks, time and speed-up. Numbers stay numbers (the
table sorts numerically and the CSV holds ``<metric>_mean`` / ``<metric>_std`` columns); the display formatting
(3 decimals, ``±`` std in its own column, the best value per column in bold, a colour scale on the gap) lives in
:func:`styled` only. :func:`verdict` names the method closest to retrain and the fastest one within a tolerance
of it. Pure pandas: nothing here computes a metric, it ranks the engine's summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

REFERENCE = "retrain"
BASELINE = "original"  # the model before unlearning: ranked (it shows what doing nothing costs), never the verdict
RANK_BY = "gap_to_retrain"
# the leaderboard's metric columns, in order (those the comparison measured are shown)
COLUMNS = ("gap_to_retrain", "unlearn_seconds", "speedup_vs_retrain", "forget_acc", "retain_acc", "test_acc",
           "test_retain_acc", "mia_efficacy", "mia_loss_acc", "mia_asr", "mia_shadow_auc", "mia_whitebox")
# (the cost right after the gap: "which forgets best, at what cost" reads without scrolling sideways)
NOT_GAPPED = ("gap_to_retrain", "unlearn_seconds", "speedup_vs_retrain")  # shown as they are in the gaps view
DEFAULT_TOLERANCE = 0.01  # "as close as the closest": within one point of average gap
NA = "–"  # a cell without a number (not measured yet, not applicable); Streamlit shows an empty string as "None"
STD = " ±"  # suffix of a std column in the displayed table (the CSV uses ``_std``)
STATUS_TEXT = {"ok": "", "pending": "running…", "failed": "failed", "cancelled": "cancelled",
               "not_applicable": "not applicable", "skipped": "skipped"}


@dataclass(frozen=True)
class Board:
    """A ranked leaderboard: ``frame`` (numeric), the best method per column and the verdict line."""

    frame: pd.DataFrame  # rank, method, status, <metric>, <metric> ± (std, only with 2+ seeds)
    metrics: tuple[str, ...]  # metric columns present, in display order
    best: dict[str, tuple[str, ...]]  # metric -> methods with the best value (ties; retrain and original excluded)
    verdict: str
    gaps: bool = False  # accuracy / MIA columns hold value - retrain's value

    def csv(self) -> bytes:
        """The leaderboard as numbers: ``rank, method, status, seeds, <metric>_mean, <metric>_std``."""
        out = self.frame[["rank", "method", "status", "seeds"]].copy()
        for m in self.metrics:
            out[f"{m}_mean"] = self.frame[m]
            out[f"{m}_std"] = self.frame[m + STD] if m + STD in self.frame else float("nan")
        return out.to_csv(index=False).encode()


def directions() -> dict[str, str | float]:
    """Metric key -> ``higher`` / ``lower`` / ``closer_to_retrain``, or the ideal value itself (0.5 for the attacks
    whose best is "the attacker cannot tell"), as the engine's metric catalogue, the charts and the Metrics page
    say (:func:`dashboard.labels.metric_target`)."""
    from dashboard import data, labels

    cat = data.metric_catalogue()
    out: dict[str, str | float] = dict(zip(cat["key"], cat["direction"], strict=True))
    for key in cat["key"]:
        ideal = labels.metric_ideal(key)
        if ideal is not None:
            out[key] = float(ideal)
    return out


def _statuses(wide: pd.DataFrame | None, methods: list[str]) -> dict[str, str]:
    """Each selected method's status: ``ok`` if any seed finished, else the most telling status of its rows."""
    if wide is None or wide.empty:
        return {m: "ok" for m in methods}
    out: dict[str, str] = {}
    for m, rows in wide.groupby("method", sort=False):
        states = set(rows["status"])
        out[str(m)] = next((s for s in ("ok", "pending", "failed", "cancelled", "not_applicable", "skipped")
                            if s in states), str(rows["status"].iloc[0]))
    return out


def best_by_column(frame: pd.DataFrame, metrics: tuple[str, ...],
                   direction: dict[str, str | float]) -> dict[str, tuple[str, ...]]:
    """The methods with the best value of each metric among the unlearning methods (not retrain, not original; all
    of them when tied): highest / lowest by the metric's direction, nearest to retrain's for ``closer_to_retrain``,
    nearest to the ideal where the direction is a number (0.5: the attacker cannot tell).

    Where the scenario forgets whole classes (``test_retain_acc`` is measured), ``test_acc`` is judged by closeness
    to retrain too: its test set holds the forgotten classes, which a model that forgot them gets wrong.
    """
    cands = frame[~frame["method"].isin([REFERENCE, BASELINE]) & (frame["status"] == "ok")].set_index("method")
    ref = frame.set_index("method").loc[REFERENCE] if REFERENCE in set(frame["method"]) else None
    best: dict[str, tuple[str, ...]] = {}
    direction = {**direction, **({"test_acc": "closer_to_retrain"} if "test_retain_acc" in metrics else {})}
    for m in metrics:
        col = cands[m].dropna() if m in cands else pd.Series(dtype=float)
        if col.empty:
            continue
        d = direction.get(m, "higher")
        if not isinstance(d, str):
            col = -(col - d).abs()
        elif d == "closer_to_retrain":
            if ref is None or pd.isna(ref[m]):
                continue
            col = -(col - ref[m]).abs()
        elif d == "lower":
            col = -col
        best[m] = tuple(str(k) for k in col.index[col >= col.max() - 1e-9])
    return best


def verdict(frame: pd.DataFrame, tolerance: float = DEFAULT_TOLERANCE, n_seeds: int = 1) -> str:
    """One line: the method closest to retrain (lowest mean gap) and the fastest one within ``tolerance`` of its gap.

    Retrain (the reference) and original (no unlearning) are never named. With several seeds, says when the
    runner-up's gap is within one standard deviation of the closest's (the ranking is not separable).
    """
    if RANK_BY not in frame:
        return "Select **retrain** to rank the methods by their gap to it (the reference)."
    c = frame[~frame["method"].isin([REFERENCE, BASELINE]) & frame[RANK_BY].notna()].sort_values(
        [RANK_BY, "method"], kind="stable")
    if c.empty:
        return "No unlearning method has a gap to retrain yet."
    top = c.iloc[0]

    def secs(row: pd.Series) -> str:
        s = row.get("unlearn_seconds", math.nan)
        return "" if pd.isna(s) else f", {s:.2f} s"

    line = f"Closest to retrain: **{top['method']}** (gap {top[RANK_BY]:.3f}{secs(top)})."
    std_col = RANK_BY + STD
    if n_seeds > 1 and len(c) > 1 and std_col in c:
        second = c.iloc[1]
        spread = max(top.get(std_col, 0.0) or 0.0, second.get(std_col, 0.0) or 0.0)
        if second[RANK_BY] - top[RANK_BY] <= spread:
            line += f" **{second['method']}** is within one std of it over {n_seeds} seeds."
    near = c[c[RANK_BY] <= top[RANK_BY] + tolerance]
    if "unlearn_seconds" in near and near["unlearn_seconds"].notna().any():
        fast = near.loc[near["unlearn_seconds"].idxmin()]
        speed = fast.get("speedup_vs_retrain", math.nan)
        faster = "" if pd.isna(speed) else f", {speed:.1f}× faster than retraining"
        if fast["method"] == top["method"]:
            line += f" It is also the fastest within {tolerance:g} of that gap{faster.replace(', ', ' (', 1)}" \
                    f"{')' if faster else ''}."
        else:
            line += (f" Fastest within {tolerance:g} of that gap: **{fast['method']}** (gap {fast[RANK_BY]:.3f}"
                     f"{secs(fast)}{faster}).")
    return line


def board(summary: pd.DataFrame, wide: pd.DataFrame | None = None, methods: list[str] | None = None,
          tolerance: float = DEFAULT_TOLERANCE, gaps: bool = False) -> Board:
    """Rank the engine's ``summary`` (one row per method, ``<metric>`` mean and ``<metric>_std``) by gap to retrain.

    ``wide`` (one row per method x seed, with ``status``) adds the selected methods that have no numbers yet
    (running, failed, not applicable) below the ranked ones, so the table fills in as evaluations finish.
    ``methods``: the selection's order (default: the summary's, then the wide table's). ``gaps``: accuracy and MIA
    columns become the signed difference to retrain's value (retrain's row is then 0).
    """
    order = list(dict.fromkeys([*(methods or []), *summary.get("method", pd.Series(dtype=str)),
                                *([] if wide is None else wide["method"])]))
    status = _statuses(wide, order)
    metrics = tuple(m for m in COLUMNS if m in summary and summary[m].notna().any())
    known = set(summary["method"]) if "method" in summary else set()
    s = (summary.set_index("method") if known else pd.DataFrame(index=pd.Index([], name="method"))).reindex(order)
    cols: dict[str, object] = {
        "method": order, "status": [status.get(m, "ok" if m in known else "pending") for m in order],
        "seeds": (s["seeds"].fillna(0).astype(int).to_numpy() if "seeds" in s else [0] * len(order))}
    for k in metrics:
        cols[k] = s[k].astype(float).to_numpy()
        cols[k + STD] = s[f"{k}_std"].astype(float).to_numpy() if f"{k}_std" in s else [math.nan] * len(order)
    frame = pd.DataFrame(cols, columns=["method", "status", "seeds", *[c for k in metrics for c in (k, k + STD)]])
    n_seeds = int(frame["seeds"].max()) if not frame.empty else 0
    # rank: retrain 0 (the reference), then by gap (ties by name), methods without a gap after, then unfinished ones
    is_ref = frame["method"] == REFERENCE
    gap = frame[RANK_BY] if RANK_BY in frame else pd.Series(math.nan, index=frame.index)
    finished = frame["status"] == "ok"
    frame = frame.assign(_ref=~is_ref, _ok=frame["status"].map(lambda st: list(STATUS_TEXT).index(st)
                                                              if st in STATUS_TEXT else len(STATUS_TEXT)),
                         _nogap=gap.isna() & finished, _gap=gap.where(finished, 0.0),
                         _name=frame["method"].where(finished, ""))  # unfinished ones keep the selection's order
    frame = frame.sort_values(["_ref", "_ok", "_nogap", "_gap", "_name"], kind="stable").reset_index(drop=True)
    ranked = ~frame["method"].eq(REFERENCE) & frame["status"].eq("ok")
    frame.insert(0, "rank", 0)
    frame.loc[ranked, "rank"] = range(1, int(ranked.sum()) + 1)
    frame.loc[~ranked & ~frame["method"].eq(REFERENCE), "rank"] = -1  # no numbers yet
    frame = frame.drop(columns=["_ref", "_ok", "_nogap", "_gap", "_name"])
    line = verdict(frame, tolerance, n_seeds)
    best = best_by_column(frame, metrics, directions())
    if n_seeds < 2:  # no spread to show
        frame = frame.drop(columns=[k + STD for k in metrics])
    if gaps and REFERENCE in set(frame["method"]):
        ref = frame.set_index("method").loc[REFERENCE]
        for k in metrics:
            if k not in NOT_GAPPED and pd.notna(ref[k]):
                frame[k] = frame[k] - ref[k]
    return Board(frame, metrics, best, line, gaps)


# -- display -----------------------------------------------------------------------------------------------------
_GREEN, _YELLOW, _RED = (198, 239, 206), (255, 235, 156), (255, 199, 206)


def gap_colour(gap: float, worst: float) -> str:
    """Background of a gap cell: green at 0 through yellow to red at ``worst`` (square-root scale, so the small
    gaps that separate good methods stay distinguishable next to original's large one)."""
    if pd.isna(gap) or worst <= 0:
        return ""
    t = math.sqrt(min(max(gap / worst, 0.0), 1.0))
    a, b, u = (_GREEN, _YELLOW, t * 2) if t < 0.5 else (_YELLOW, _RED, t * 2 - 1)
    r, g, bl = (round(x + (y - x) * u) for x, y in zip(a, b, strict=True))
    return f"background-color: rgb({r}, {g}, {bl}); color: black"


def _fmt(metric: str, gaps: bool) -> str:
    if metric == "unlearn_seconds":
        return "{:.2f} s"
    if metric == "speedup_vs_retrain":
        return "{:.1f}×"
    return "{:+.3f}" if gaps and metric not in NOT_GAPPED else "{:.3f}"


def styled(b: Board) -> pd.io.formats.style.Styler:
    """The leaderboard for ``st.dataframe``: formatted cells over the numeric frame (so columns sort by value),
    the best value per column in bold, a colour scale on the gap, ``ref`` for retrain's rank."""
    f = b.frame
    fmt: dict[str, object] = {"rank": lambda r: "ref" if r == 0 else ("" if r < 0 else str(int(r))),
                              "status": lambda s: STATUS_TEXT.get(s, s)}
    for m in b.metrics:
        fmt[m] = _fmt(m, b.gaps)
        if m + STD in f:
            fmt[m + STD] = "± {:.3f}" if m != "unlearn_seconds" else "± {:.2f}"
    sty = f.style.format(fmt, na_rep=NA)
    if RANK_BY in f:
        worst = float(f[RANK_BY].max()) if f[RANK_BY].notna().any() else 0.0
        sty = sty.map(lambda v: gap_colour(v, worst), subset=[RANK_BY])
    where = {m: f.index[f["method"].isin(who)] for m, who in b.best.items() if m in f}

    def bold(col: pd.Series) -> list[str]:
        rows = where.get(str(col.name))
        return ["font-weight: bold" if rows is not None and i in rows else ""
                for i in col.index]

    if where:
        sty = sty.apply(bold, subset=list(where))
    return sty
