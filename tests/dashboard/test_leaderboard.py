"""The leaderboard (issue 14): ranking, best value per column, the verdict, numeric exports and the display."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest

from dashboard import leaderboard as lb


def _summary(rows: dict[str, dict[str, float]], seeds: int = 1) -> pd.DataFrame:
    """An engine-style summary: one row per method, ``<metric>`` and ``<metric>_std``."""
    out = []
    for method, values in rows.items():
        row = {"method": method, "seeds": seeds}
        for k, v in values.items():
            row[k] = v
            row[f"{k}_std"] = 0.01 if seeds > 1 else math.nan
        out.append(row)
    return pd.DataFrame(out)


ROWS = {
    "original": {"gap_to_retrain": 0.50, "forget_acc": 1.0, "test_acc": 0.97, "test_retain_acc": 0.97,
                 "mia_efficacy": 0.0, "unlearn_seconds": math.nan, "speedup_vs_retrain": math.nan},
    "retrain": {"gap_to_retrain": 0.0, "forget_acc": 0.0, "test_acc": 0.88, "test_retain_acc": 0.975,
                "mia_efficacy": 1.0, "unlearn_seconds": 2.0, "speedup_vs_retrain": 1.0},
    "slow_close": {"gap_to_retrain": 0.002, "forget_acc": 0.0, "test_acc": 0.87, "test_retain_acc": 0.97,
                   "mia_efficacy": 1.0, "unlearn_seconds": 1.5, "speedup_vs_retrain": 1.3},
    "fast_near": {"gap_to_retrain": 0.008, "forget_acc": 0.03, "test_acc": 0.89, "test_retain_acc": 0.975,
                  "mia_efficacy": 0.98, "unlearn_seconds": 0.2, "speedup_vs_retrain": 10.0},
    "fastest_far": {"gap_to_retrain": 0.30, "forget_acc": 0.9, "test_acc": 0.96, "test_retain_acc": 0.96,
                    "mia_efficacy": 0.1, "unlearn_seconds": 0.05, "speedup_vs_retrain": 40.0},
}


def test_ranked_by_gap_with_retrain_as_reference_row():
    b = lb.board(_summary(ROWS))
    assert list(b.frame["method"]) == ["retrain", "slow_close", "fast_near", "fastest_far", "original"]
    assert list(b.frame["rank"]) == [0, 1, 2, 3, 4]
    assert "gap_to_retrain ±" not in b.frame  # one seed: no std column
    assert pd.api.types.is_float_dtype(b.frame["gap_to_retrain"])


def test_best_value_per_column_follows_the_metric_direction():
    best = lb.board(_summary(ROWS)).best
    assert best["gap_to_retrain"] == ("slow_close",)  # lower is better
    assert best["unlearn_seconds"] == ("fastest_far",)
    assert best["speedup_vs_retrain"] == ("fastest_far",)  # higher
    assert best["forget_acc"] == ("slow_close",)  # closest to retrain's 0.0, not the highest
    assert best["mia_efficacy"] == ("slow_close",)
    # a class scenario (test_retain_acc measured): test_acc is judged by closeness to retrain, not "higher"
    assert best["test_acc"] == ("slow_close", "fast_near")  # both 0.01 from retrain's 0.88: a tie, both bold
    assert best["test_retain_acc"] == ("fast_near",)
    # retrain and original never win a column
    assert not any({"retrain", "original"} & set(v) for v in best.values())


def test_test_acc_is_higher_is_better_without_a_remaining_classes_split():
    rows = {k: {m: v for m, v in r.items() if m != "test_retain_acc"} for k, r in ROWS.items()}
    assert lb.board(_summary(rows)).best["test_acc"] == ("fastest_far",)


def test_verdict_names_the_closest_and_the_fastest_within_tolerance():
    b = lb.board(_summary(ROWS))
    assert b.verdict.startswith("Closest to retrain: **slow_close** (gap 0.002, 1.50 s).")
    assert "Fastest within 0.01 of that gap: **fast_near** (gap 0.008, 0.20 s, 10.0× faster" in b.verdict
    assert "fastest_far" not in b.verdict  # fastest of all, but 0.3 away
    tight = lb.board(_summary(ROWS), tolerance=0.001).verdict
    assert "It is also the fastest within 0.001 of that gap" in tight
    assert "original" not in b.verdict and "**retrain**" not in b.verdict


def test_verdict_says_when_the_runner_up_is_within_one_std():
    b = lb.board(_summary(ROWS, seeds=3))
    assert "**fast_near** is within one std of it over 3 seeds" in b.verdict  # 0.006 apart, std 0.01
    assert "gap_to_retrain ±" in b.frame


def test_without_retrain_there_is_no_ranking_to_claim():
    rows = {k: {m: v for m, v in r.items() if m != "gap_to_retrain"} for k, r in ROWS.items() if k != "retrain"}
    b = lb.board(_summary(rows))
    assert "Select **retrain**" in b.verdict


def test_unfinished_methods_are_listed_below_the_ranked_ones():
    summary = _summary({k: ROWS[k] for k in ("original", "retrain", "fast_near")})
    wide = pd.DataFrame({"method": ["original", "retrain", "fast_near", "slow_close", "broken", "na"],
                         "seed": 0, "status": ["ok", "ok", "ok", "pending", "failed", "not_applicable"]})
    b = lb.board(summary, wide, ["original", "retrain", "fast_near", "slow_close", "broken", "na"])
    assert list(b.frame["method"]) == ["retrain", "fast_near", "original", "slow_close", "broken", "na"]
    assert list(b.frame["status"]) == ["ok", "ok", "ok", "pending", "failed", "not_applicable"]
    assert list(b.frame["rank"]) == [0, 1, 2, -1, -1, -1]
    assert b.frame.set_index("method")["gap_to_retrain"].isna().loc[["slow_close", "broken", "na"]].all()


def test_gaps_view_subtracts_retrain_but_not_from_gap_time_or_speed():
    b = lb.board(_summary(ROWS), gaps=True).frame.set_index("method")
    assert b.loc["fast_near", "forget_acc"] == pytest.approx(0.03)
    assert b.loc["fast_near", "test_acc"] == pytest.approx(0.01)
    assert b.loc["retrain", "test_acc"] == 0.0
    assert b.loc["fast_near", "gap_to_retrain"] == 0.008 and b.loc["fast_near", "unlearn_seconds"] == 0.2


def test_csv_holds_numbers_mean_and_std():
    b = lb.board(_summary(ROWS, seeds=2))
    df = pd.read_csv(io.BytesIO(b.csv()))
    assert {"forget_acc_mean", "forget_acc_std", "gap_to_retrain_mean", "gap_to_retrain_std"} <= set(df.columns)
    assert pd.api.types.is_float_dtype(df["forget_acc_mean"]) and pd.api.types.is_float_dtype(df["forget_acc_std"])
    assert df.set_index("method").loc["fast_near", "forget_acc_std"] == 0.01
    assert not df.astype(str).apply(lambda c: c.str.contains("±")).any().any()


def test_display_formats_cells_but_keeps_numbers_underneath():
    b = lb.board(_summary(ROWS, seeds=2))
    sty = lb.styled(b)
    html = sty.to_html()
    assert ">ref<" in html  # retrain's rank
    assert ">0.008<" in html and ">± 0.010<" in html and ">0.20 s<" in html and ">10.0×<" in html
    assert sty.data["gap_to_retrain"].dtype.kind == "f"  # Streamlit sorts by these values, not the text
    assert "font-weight: bold" in html
    # the gap scale: green for a small gap, red for the largest
    assert lb.gap_colour(0.0, 0.5).startswith("background-color: rgb(198, 239, 206)")
    assert lb.gap_colour(0.5, 0.5).startswith("background-color: rgb(255, 199, 206)")
    assert lb.gap_colour(math.nan, 0.5) == ""


def test_attacks_with_an_ideal_of_one_half_are_judged_by_closeness_to_it():
    """Consistent with the charts' "ideal 0.5" line and the Metrics page's best value (labels.metric_target)."""
    rows = {k: {**v, "mia_loss_acc": x} for (k, v), x in zip(ROWS.items(), (0.9, 0.25, 0.3, 0.52, 0.7), strict=True)}
    best = lb.board(_summary(rows)).best
    assert best["mia_loss_acc"] == ("fast_near",)  # 0.52: nearest 0.5, not nearest retrain's 0.25
    from dashboard import labels
    assert "0.5" in labels.metric_target("mia_loss_acc")
