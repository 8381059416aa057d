"""Pure table helpers of the results view: the paper's numbers and ours as they are shown."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard import data, results_view


def test_paper_display_pivots_methods_by_metric_with_units():
    shown = results_view.paper_display(data.preset_paper_numbers("ugradsl_class")).set_index("method (paper)")
    assert {"forget_acc", "mia_efficacy", "forget_entropy", "unlearn_seconds", "retain_acc"} <= set(shown.columns)
    assert shown.loc["retrain", "forget_acc"] == "0.000 ± 0.000"  # UA 100 % -> forget_acc 0
    assert shown.loc["retrain", "unlearn_seconds"] == f"{24.62 * 60:.1f}"  # minutes -> seconds, no std printed


def test_paper_display_disambiguates_paradigms_params_and_aliases():
    laf = results_view.paper_display(data.preset_paper_numbers("laf_data_removal"))
    assert "laf (label_free)" in set(laf["method (paper)"]) and "scrub (supervised)" in set(laf["method (paper)"])
    pgu = results_view.paper_display(data.preset_paper_numbers("pgu_incremental"))
    assert {"pgu @ 1000", "pgu @ 4000", "retrain @ 2000"} <= set(pgu["method (paper)"])
    dep = results_view.paper_display(data.preset_paper_numbers("pgu_depoison"))
    assert {"clean → retrain", "poisoned → original"} <= set(dep["method (paper)"])
    udru = results_view.paper_display(data.preset_paper_numbers("udru_sl"))
    assert "mia_whitebox" in udru.columns and "train_acc [percent]" in udru.columns  # unmapped: paper's name


def test_measured_display_keeps_the_requested_metrics():
    summary = pd.DataFrame({"method": ["finetune", "retrain"], "seeds": [1, 1], "forget_acc": [0.5, 0.0],
                            "forget_acc_std": [np.nan, np.nan], "test_acc": [0.9, 0.8],
                            "test_acc_std": [np.nan, np.nan]})
    shown = results_view.measured_display(summary, ["forget_acc", "mia_asr"])
    assert list(shown.columns) == ["method", "forget_acc"] and list(shown["method"]) == ["retrain", "finetune"]
