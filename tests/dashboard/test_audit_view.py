"""The privacy & representation audit in the dashboard (issue 16): the sidebar controls and their link, the Results
methods that read the audit's arrays, the Audit tab's charts, the per-example membership view of the Forget set tab.

A real comparison (digits, mlp, 4 epochs, class 3 forgotten) runs once per module with U-LiRA / RMIA (K = 4) and the
representation audit, and once without them (the same models, from the cache).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import charts, compare_page, data, history_links, labels, results_view, state, url
from dashboard.results import Results
from engine import api
from engine.executors import LocalExecutor  # test set-up only: the comparisons the views read
from engine.runner.comparison import run_comparison

DATA = Path("data")
METHODS = ["original", "retrain", "finetune"]
AUDITED = data.Selection(model="mlp", methods=METHODS, epochs=4, scenario_params={"forget_class": 3},
                         ulira_shadows=4, feature_audit=True)
PLAIN = data.Selection(model="mlp", methods=METHODS, epochs=4, scenario_params={"forget_class": 3})
CHARTS = {"compare.chart.audit_roc", "compare.chart.layer_cka", "compare.chart.embedding"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding both comparisons (trained on one CPU thread, as ``tests/conftest.py``'s ``one_thread``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cache = tmp_path_factory.mktemp("audit") / "cache"
        for sel in (AUDITED, PLAIN):
            res = run_comparison(data.build_spec(sel), cache, DATA, LocalExecutor(workers=1))
            failed = [o for o in res.outcomes.values() if o.status == "failed"]
            assert not failed, failed
    finally:
        torch.set_num_threads(threads)
    return cache


@pytest.fixture(scope="module")
def audited(store: Path) -> Results:
    return data.stored_results(data.plan(data.build_spec(AUDITED)), store)


@pytest.fixture(scope="module")
def plain(store: Path) -> Results:
    return data.stored_results(data.plan(data.build_spec(PLAIN)), store)


@pytest.fixture
def cache_dir(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The AppTests' cache: a copy of the module's (overrides ``tests/dashboard/conftest.py``'s empty one)."""
    d = Path(shutil.copytree(store, tmp_path / "cache"))
    monkeypatch.setenv("UNLEARN_CACHE_DIR", str(d))
    return d


# -- the selection: spec, link, history ----------------------------------------------------------------------------
def test_audit_fields_reach_the_spec_the_link_and_back():
    spec = data.build_spec(AUDITED)
    assert spec.ulira_shadows == 4 and spec.feature_audit is True
    plain = data.build_spec(PLAIN)
    assert plain.ulira_shadows == 0 and plain.feature_audit is False
    assert spec.comparison_key() != plain.comparison_key()
    q = url.to_params(AUDITED)
    assert q["ulira"] == "4" and q["audit"] == "true"
    assert "ulira" not in url.to_params(PLAIN) and "audit" not in url.to_params(PLAIN)  # defaults left out
    values, errors = url.to_state(q)
    assert not errors and values[state.ULIRA] == 4 and values[state.FEATURE_AUDIT] is True
    _, errors = url.to_state({"ulira": "65", "audit": "maybe"})
    assert any(e.startswith("ulira: must be in [0, 64]") for e in errors)
    assert any(e.startswith("audit: expected true/false") for e in errors)
    with pytest.raises(data.SpecError) as err:
        data.build_spec(data.Selection(ulira_shadows=2))
    assert err.value.field == "ulira_shadows"
    # History -> Compare: the recorded comparison's link holds both, exactly
    link = history_links.compare_link(spec.comparison_key(), spec)
    assert link.exact and link.selection.ulira_shadows == 4 and link.selection.feature_audit is True
    assert link.query["ulira"] == "4" and link.query["audit"] == "true"
    reset = history_links.compare_state(data.Selection())
    assert reset[state.ULIRA] == 0 and reset[state.FEATURE_AUDIT] is False
    assert url.TABS["audit"] == "Audit" and "Audit" in results_view.RESULT_TABS


def test_ulira_range_is_the_engines():
    from engine.spec import MAX_ULIRA_SHADOWS, MIN_ULIRA_SHADOWS

    assert (data.ULIRA_MIN, data.ULIRA_MAX) == (MIN_ULIRA_SHADOWS, MAX_ULIRA_SHADOWS)


def test_audit_cost_counts_trainings_unlearning_runs_and_jobs():
    text = compare_page.audit_cost(2, ["original", "retrain", "finetune", "scrub", "laf"], 4, True)
    assert "2 × 8 = **16 trainings**" in text  # seeds x 2K
    assert "2 × 4 × 3 = **24 unlearning runs**" in text  # seeds x K x methods other than original / retrain
    assert "one extra job per model — here **10 jobs**" in text  # seeds x methods
    off = compare_page.audit_cost(1, METHODS, 0, False)
    assert "off" in off and "trainings**" not in off and "jobs**" not in off


# -- Results: what the audit stored --------------------------------------------------------------------------------
def test_attack_roc_reads_each_attacks_curve(audited: Results, plain: Results):
    assert audited.roc_attacks() == ["mia_ulira", "mia_rmia"]
    for attack in ("mia_ulira", "mia_rmia"):
        roc = audited.attack_roc(attack)
        assert list(roc.columns) == ["method", "seed", "fpr", "tpr"]
        assert list(dict.fromkeys(roc["method"])) == METHODS and set(roc["seed"]) == {0}
        for method, curve in roc.groupby("method"):
            arrays = audited._arrays(audited.eval_jobs[(method, 0)])
            np.testing.assert_array_equal(curve["fpr"], arrays[f"{attack}.fpr"])
            np.testing.assert_array_equal(curve["tpr"], arrays[f"{attack}.tpr"])
        ret = roc[roc["method"] == "retrain"]
        np.testing.assert_allclose(ret["tpr"], ret["fpr"])  # retrain against itself: the chance diagonal
    assert audited.attack_roc("mia_shadow_auc").empty  # no shadow models in this comparison
    assert plain.roc_attacks() == [] and plain.attack_roc("mia_ulira").empty
    assert list(plain.shadow_roc().columns) == ["method", "fpr", "tpr"] and plain.shadow_roc().empty


@dataclasses.dataclass(frozen=True)
class _Fake(Results):
    """Results whose per-sample arrays are given (evaluation job -> arrays)."""

    given: dict = dataclasses.field(default_factory=dict)

    def _arrays(self, job: str) -> dict[str, np.ndarray]:
        return self.given[job]


def _fake(arrays: dict[str, dict[str, np.ndarray]], jobs: dict[tuple[str, int], str]) -> Results:
    return _Fake("k", data.ComparisonSpec(), pd.DataFrame({"status": []}), pd.DataFrame(), True, jobs, Path("."),
                 given=arrays)


def test_shadow_roc_is_attack_roc_of_the_first_seed_plus_the_attacker():
    curve = {"mia_shadow_auc.fpr": np.array([0.0, 1.0]), "mia_shadow_auc.tpr": np.array([0.5, 1.0]),
             "mia_shadow_auc.shadow_fpr": np.array([0.0, 0.2, 1.0]),
             "mia_shadow_auc.shadow_tpr": np.array([0.0, 0.9, 1.0])}
    other = {"mia_shadow_auc.fpr": np.array([0.0, 0.5, 1.0]), "mia_shadow_auc.tpr": np.array([0.0, 0.5, 1.0])}
    res = _fake({"a3": curve, "b3": other, "a5": other}, {("a", 3): "a3", ("b", 3): "b3", ("a", 5): "a5"})
    roc = res.attack_roc("mia_shadow_auc")
    assert set(roc["seed"]) == {3} and list(roc["method"]) == ["a", "a", "b", "b", "b"]
    shadow = res.shadow_roc()
    assert list(shadow.columns) == ["method", "fpr", "tpr"]
    assert list(dict.fromkeys(shadow["method"])) == ["a", "b", "attacker on shadow models"]
    assert list(shadow.loc[shadow["method"] == "attacker on shadow models", "tpr"]) == [0.0, 0.9, 1.0]
    assert res.roc_attacks() == ["mia_shadow_auc"]


def test_layer_cka_in_forward_order_with_both_references(audited: Results, plain: Results):
    cka = audited.layer_cka()
    assert list(cka.columns) == ["method", "seed", "reference", "layer", "depth", "cka"]
    assert set(cka["reference"]) == {"to retrain", "to the original"}
    arrays = audited._arrays(audited.eval_jobs[("finetune", 0)])
    ft = cka[(cka["method"] == "finetune") & (cka["reference"] == "to retrain")]
    assert list(ft["layer"]) == api.layer_names(arrays["cka_retrain.layers"])  # forward order, as stored
    assert ft["layer"].iloc[0].startswith("features")
    assert list(ft["depth"]) == list(range(len(ft)))
    np.testing.assert_allclose(ft["cka"], arrays["cka_retrain.per_layer"])
    by = cka.set_index(["method", "reference"])["cka"]
    np.testing.assert_allclose(by.loc[("retrain", "to retrain")], 1.0, atol=1e-6)  # itself
    np.testing.assert_allclose(by.loc[("original", "to the original")], 1.0, atol=1e-6)
    assert plain.layer_cka().empty


def test_embedding_marks_forget_and_retain_samples(audited: Results, plain: Results):
    points = audited.embedding()
    assert list(points.columns) == ["method", "seed", "x", "y", "group"]
    arrays = audited._arrays(audited.eval_jobs[("retrain", 0)])
    ret = points[points["method"] == "retrain"]
    assert len(ret) == len(arrays["probe_forget_acc.embedding"])
    assert (ret["group"] == "forget").sum() == arrays["probe_forget_acc.embedding_forget"].sum() > 0
    assert set(ret["group"]) == {"forget", "retain"}
    np.testing.assert_allclose(ret["x"], arrays["probe_forget_acc.embedding"][:, 0], rtol=1e-6)
    assert plain.embedding().empty


# -- the chart builders --------------------------------------------------------------------------------------------
def test_loglog_roc_clips_to_the_floor_on_log_axes(audited: Results):
    fig = charts.loglog_roc(audited.attack_roc("mia_ulira"), "mia_ulira", ["retrain", "original", "finetune"])
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert fig.layout.xaxis.range[0] == pytest.approx(-3.05) and fig.layout.xaxis.range[1] > 0
    assert list(fig.layout.xaxis.tickvals) == [1e-3, 1e-2, 1e-1, 1.0]
    lines = [t for t in fig.data if t.name != "chance"]
    assert [t.name for t in lines] == ["retrain", "original", "finetune"]
    for t in lines:
        assert min(t.x) >= charts.ROC_FLOOR and max(t.x) <= 1 and min(t.y) >= charts.ROC_FLOOR
    chance = next(t for t in fig.data if t.name == "chance")
    assert list(chance.x) == list(chance.y) == [charts.ROC_FLOOR, 1.0]
    assert "U-LiRA" in fig.layout.title.text and "seed 0" in fig.layout.title.text
    assert charts.loglog_roc(pd.DataFrame(columns=["method", "fpr", "tpr"]), "mia_rmia").layout.xaxis.visible is False


def test_loglog_roc_names_methods_drawn_over_each_other():
    same = pd.DataFrame({"method": ["a", "a", "b", "b", "c", "c"], "seed": 0, "fpr": [0, 1, 0, 1, 0, 1],
                         "tpr": [1, 1, 1, 1, 0, 1]})
    fig = charts.loglog_roc(same, "mia_ulira")
    assert "a = b" in fig.layout.title.subtitle.text and "c" not in fig.layout.title.subtitle.text.split(": ")[-1]


def test_layer_cka_has_one_panel_per_reference_and_a_line_per_method(audited: Results):
    cka = audited.layer_cka()
    fig = charts.layer_cka(cka, ["retrain", "original", "finetune"])
    assert {a.text for a in fig.layout.annotations} == {"<b>CKA to retrain</b>", "<b>CKA to the original</b>"}
    assert len(fig.data) == 2 * len(METHODS)
    assert {t.name for t in fig.data} == set(METHODS)
    layers = list(dict.fromkeys(cka.sort_values("depth")["layer"]))
    assert list(fig.layout.xaxis.categoryarray) == layers
    assert "Layer-wise CKA" in fig.layout.title.text
    assert fig.layout.yaxis.range[1] == pytest.approx(1.02)


def test_embedding_scatter_one_panel_per_method_wrapped_at_three():
    rng = np.random.default_rng(0)
    methods = ["original", "retrain", "finetune", "scrub", "laf"]
    points = pd.DataFrame({"method": np.repeat(methods, 20), "seed": 0, "x": rng.normal(size=100),
                           "y": rng.normal(size=100), "group": np.tile(["forget"] * 5 + ["retain"] * 15, 5)})
    fig = charts.embedding_scatter(points, ["retrain", "original"])
    titles = [a.text for a in fig.layout.annotations]
    assert sorted(titles) == sorted(["<b>retrain</b>", "<i>original</i>", "finetune", "scrub", "laf"])
    first = max(fig.layout.annotations, key=lambda a: (a.y, -a.x))  # top left: the order's first
    assert first.text == "<b>retrain</b>"
    assert {t.name for t in fig.data} == {"forget", "retain"} and len(fig.data) == 2 * len(methods)
    assert {t.marker.color for t in fig.data if t.name == "forget"} == {charts.EMBEDDING_COLOURS["forget"]}
    ys = sorted({a.y for a in fig.layout.annotations})
    assert len(ys) == 2  # 5 panels, 3 a row: two rows
    assert fig.layout.xaxis.matches is None and fig.layout.xaxis2.matches is None  # each model its own PCA
    assert all(t.type == "scatter" for t in fig.data)  # SVG: drawn in a browser without WebGL too


def test_membership_heatmap_sorts_samples_by_mean_score_first_seed():
    samples = pd.DataFrame({
        "index": [7, 8, 9] * 3 + [7, 8, 9], "method": ["retrain"] * 3 + ["original"] * 3 + ["finetune"] * 3
        + ["finetune"] * 3, "seed": [0] * 9 + [1] * 3,
        "ulira_score": [0.0, 0.1, np.nan, 5.0, 9.0, np.nan, 1.0, 20.0, np.nan, 99.0, 99.0, 99.0]})
    fig = charts.membership_heatmap(samples, "ulira_score", ["retrain", "original"])
    hm = fig.data[0]
    assert list(hm.x) == ["retrain", "original", "finetune"]
    assert list(hm.y) == ["#8", "#7"]  # 9 has no score; 8's mean (9.7) above 7's (2.0); seed 1 left out
    np.testing.assert_allclose(hm.z, [[0.1, 9.0, 20.0], [0.0, 5.0, 1.0]])
    assert hm.zmid == 0 and hm.zmin == -hm.zmax  # a log likelihood ratio: 0 = cannot tell
    assert "seed 0" in fig.layout.title.text and "not forgotten" in fig.layout.title.subtitle.text
    rmia = charts.membership_heatmap(samples.rename(columns={"ulira_score": "rmia_score"}).assign(rmia_score=0.5),
                                     "rmia_score")
    assert rmia.data[0].zmin == 0 and rmia.data[0].zmax == 1
    assert charts.membership_heatmap(samples.assign(ulira_score=np.nan), "ulira_score").layout.xaxis.visible is False


def test_tpr_caption_lists_each_methods_tpr_at_one_percent(audited: Results):
    caption = results_view.tpr_caption(audited.summary, "mia_ulira", ["retrain", "original", "finetune"])
    s = audited.summary.set_index("method")["mia_ulira_tpr_0_01"]
    assert caption.startswith("TPR at 1 % FPR")
    assert f"retrain {s['retrain']:.3f} · original {s['original']:.3f} · finetune {s['finetune']:.3f}" in caption
    assert results_view.tpr_caption(audited.summary, "mia_shadow_auc") == ""


# -- the Forget set tab's per-example view -------------------------------------------------------------------------
def test_gallery_hover_carries_the_membership_scores(audited: Results, plain: Results):
    insp = audited.inspect()
    assert results_view.score_columns(insp.samples) == ["ulira_score", "rmia_score"]
    scores = results_view.gallery_scores(insp.samples, insp.gallery.seed)
    _, hover = results_view.gallery_captions(insp.gallery, "finetune", scores)
    s = insp.samples[insp.samples["method"] == "finetune"].set_index("index")
    shown = 0
    for idx, text in zip(insp.gallery.index, hover, strict=True):
        line = next(x for x in text.split("<br>") if x.startswith("finetune:"))
        if pd.notna(s.loc[idx, "ulira_score"]):
            assert f"U-LiRA score {s.loc[idx, 'ulira_score']:.3g}" in line
            assert f"RMIA score {s.loc[idx, 'rmia_score']:.3g}" in line
            shown += 1
        else:
            assert "score" not in line  # not audited
    assert shown > 0
    plain_insp = plain.inspect()
    assert results_view.score_columns(plain_insp.samples) == []
    _, bare = results_view.gallery_captions(plain_insp.gallery, "finetune",
                                            results_view.gallery_scores(plain_insp.samples, 0))
    assert not any("score" in h for h in bare)


def test_per_sample_table_formats_the_score_columns():
    cfg = results_view.sample_columns()
    for col, label in labels.SCORE_LABELS.items():
        assert cfg[col]["type_config"]["format"] == "%.3f" and cfg[col]["label"] == label


# -- the app: Audit tab, Forget set tab, sidebar -------------------------------------------------------------------
def _chart_keys(at) -> set[str]:  # noqa: ANN001
    return {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")}


def _open(app, sel: data.Selection, view: str):  # noqa: ANN001, ANN202
    at = app()
    for k, v in {**url.to_params(sel), "view": view}.items():
        at.query_params[k] = v
    return at.run()


def _texts(elements) -> str:  # noqa: ANN001
    return "\n".join(str(e.value) for e in elements)


@pytest.mark.slow
def test_audit_tab_draws_the_three_charts(app, cache_dir):
    at = _open(app, AUDITED, "audit")
    assert not at.exception
    assert at.number_input(key=state.ULIRA).value == 4 and at.checkbox(key=state.FEATURE_AUDIT).value is True
    captions = _texts(at.caption)
    assert "1 × 8 = **8 trainings**" in captions and "1 × 4 × 1 = **4 unlearning runs**" in captions
    assert _chart_keys(at) == CHARTS
    assert results_view.ULIRA_OFF not in _texts(at.info) and results_view.AUDIT_OFF not in _texts(at.info)
    attack = at.selectbox(key=state.scoped("compare", state.AUDIT_ATTACK))
    assert attack.options == [f"{labels.metric_label(a)} — {a}" for a in ("mia_ulira", "mia_rmia")]
    assert "TPR at 1 % FPR" in _texts(at.caption)
    attack.select("mia_rmia").run()
    assert not at.exception and _chart_keys(at) == CHARTS
    assert at.query_params["view"] in (["audit"], "audit")  # the link keeps the open tab
    # the Forget set tab: the per-example heatmap under the gallery
    at.session_state[state.scoped("compare", state.RESULTS_TAB)] = "Forget set"
    at.run()
    assert not at.exception
    assert _chart_keys(at) == {"compare.chart.gallery", "compare.chart.membership"}
    assert results_view.MEMBERSHIP_CAPTION in _texts(at.caption)
    table = next(d.value for d in at.dataframe if "p_true" in d.value.columns)
    assert table["ulira_score"].notna().any()


@pytest.mark.slow
def test_audit_tab_says_how_to_enable_what_did_not_run(app, cache_dir):
    at = _open(app, PLAIN, "audit")
    assert not at.exception
    assert _chart_keys(at) == set()  # no empty charts
    infos = _texts(at.info)
    assert results_view.ULIRA_OFF in infos and results_view.AUDIT_OFF in infos
    assert "`--ulira K`" in infos and "`--feature-audit`" in infos and compare_page.ULIRA_LABEL in infos
    assert compare_page.AUDIT_LABEL in infos
    at.session_state[state.scoped("compare", state.RESULTS_TAB)] = "Forget set"
    at.run()
    assert not at.exception and _chart_keys(at) == {"compare.chart.gallery"}


def test_demo_mode_disables_the_audit_controls(app, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UNLEARN_DEMO", "1")
    at = app()
    at.query_params["ulira"] = "8"
    at.query_params["audit"] = "true"
    at.run()
    assert not at.exception
    k, audit = at.number_input(key=state.ULIRA), at.checkbox(key=state.FEATURE_AUDIT)
    assert k.disabled and audit.disabled and k.value == 0 and audit.value is False
    assert "off in the hosted demo" in _texts(at.caption)
    assert "ulira" not in at.query_params and "audit" not in at.query_params  # what runs is what the link says
