"""The History page (issue 14): manage recorded comparisons (rename, tag, note, delete), open one in Compare and
share it, every metric side by side with each leaderboard, the same methods across settings, and bundle imports
whose result lasts."""

from __future__ import annotations

import base64
import math
import shutil
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd
import pytest

from dashboard import across, data, history_links, state
from engine import api
from engine.store import Store

PAGE = "app_pages/history.py"
UPLOAD, IMPORTED, TAB, ACROSS = "history.import", "history.imported", "history.tab", "history.across"


def _spec(methods: list[str], forget_class: int):
    return api.make_spec(model="mlp", epochs=1, methods=methods, scenario_params={"forget_class": forget_class})


A = (["original", "retrain", "finetune"], 1)
B = (["original", "retrain", "finetune", "random_label"], 2)  # another setting; shares the original with A
C = (["original", "retrain", "random_label"], 1)  # A's setting: shares original, retrain and their evaluations


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A cache holding comparisons A, B and C (made once for the module; each test works on a copy)."""
    cache = tmp_path_factory.mktemp("history") / "cache"
    keys = {}
    for name, (methods, fc) in {"A": A, "B": B, "C": C}.items():
        spec = _spec(methods, fc)
        api.run(spec, cache_dir=cache, executor=api.make_executor("local", workers=1))
        keys[name] = spec.comparison_key()
    return cache, keys


@pytest.fixture
def filled(source, cache_dir: Path) -> dict[str, str]:
    """The test's cache (``cache_dir``, the page's ``$UNLEARN_CACHE_DIR``) as a copy of the module's."""
    shutil.copytree(source[0], cache_dir)
    return source[1]


def _texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def _listing(at) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if {"comparison", "methods", "rows ok"} <= set(d.value.columns))


def _history(app, key: str | None = None):
    """The History page, showing comparison ``key`` in *Open one*."""
    at = app(PAGE)
    if key is not None:
        at.session_state[state.HISTORY_PICK] = key
    return at.run()


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


def test_rename_tag_and_note_round_trip(app, filled):
    a = filled["A"]
    at = _history(app, a)
    assert not at.exception
    at.text_input(key=f"history.name.{a}").set_value("  my baseline ")
    at.text_input(key=f"history.tags.{a}").set_value("mlp, quick , mlp")
    at.text_area(key=f"history.note.{a}").set_value("one epoch\nto try the page")
    _button(at, "Save").click().run()
    assert not at.exception and "Saved the name, tags and note." in _texts(at.success)
    assert api.annotation(a) == {"name": "my baseline", "tags": ["mlp", "quick"], "note": "one epoch\nto try the page"}
    listed = _listing(at).set_index("comparison")  # the table drawn in the same run shows the new name at once
    assert list(listed.loc["my baseline", "tags"]) == ["mlp", "quick"]
    assert listed.loc["my baseline", "note"] == "one epoch\nto try the page"
    # a new session shows them: in the table, the picker and the form
    again = _history(app, a)
    assert "my baseline" in set(_listing(again)["comparison"])
    assert again.selectbox(key=state.HISTORY_PICK).format_func(a).startswith("my baseline — ")
    assert again.text_input(key=f"history.name.{a}").value == "my baseline"
    assert again.text_input(key=f"history.tags.{a}").value == "mlp, quick"
    # the others are labelled by what differs from the rest
    others = set(_listing(again)["comparison"]) - {"my baseline"}
    assert "scenario=class (forget_class=2)" in others


@pytest.mark.parametrize(("widget", "value", "field"), [
    ("name", "n" * 81, "name"),
    ("tags", ", ".join(f"t{i}" for i in range(11)), "tags"),
    ("tags", "x" * 25, "tags"),
    ("note", "z" * 2001, "note"),
])
def test_bad_input_names_the_field(app, filled, widget: str, value: str, field: str):
    a = filled["A"]
    at = _history(app, a)
    at.text_input(key=f"history.name.{a}").set_value("fine")
    (at.text_area if widget == "note" else at.text_input)(key=f"history.{widget}.{a}").set_value(value)
    _button(at, "Save").click().run()
    assert not at.exception
    assert at.error and at.error[0].value.startswith(f"**{field}**:") and "nothing was saved" in at.error[0].value
    assert api.annotation(a) == {"name": "", "tags": [], "note": ""}  # not even the valid name


def _results(cache: Path) -> set[str]:
    store = Store(cache)
    try:
        return set(store.keys("result/"))
    finally:
        store.close()


def test_delete_asks_first_and_keeps_shared_jobs(app, filled, cache_dir):
    a, c = filled["A"], filled["C"]
    spec_c = api.history_spec(c)
    results = _results(cache_dir)
    at = _history(app, a)
    at.button(key="history.delete").click().run()
    assert not at.exception and "Delete" in _texts(at.warning)
    assert a in set(api.history()["key"])  # nothing deleted before the confirmation
    at.button(key="history.delete_no").click().run()
    assert not at.button(key="history.delete").disabled and a in set(api.history()["key"])
    at.button(key="history.delete").click().run()
    at.button(key="history.delete_yes").click().run()
    assert not at.exception
    assert "Its runs stay in the cache" in _texts(at.success)
    assert a not in set(api.history()["key"]) and len(_listing(at)) == 2
    assert _results(cache_dir) == results  # no job result removed (not even A's own finetune)
    # C shares A's original, retrain and their evaluations: it still opens complete
    res = data.stored_results(data.plan(spec_c))
    assert res.complete and set(res.wide["status"]) == {"ok"} and len(res.wide) == 3
    shown = _history(app, c)
    assert not shown.exception
    assert "not finished" not in _texts(shown.info)
    assert "Closest to retrain" in _texts(shown.markdown)


def _share_link(at) -> str:
    return next(str(c.value) for c in at.code if "?dataset=" in str(c.value))


def test_open_in_compare_and_the_share_link_reproduce_the_selection(app, filled):
    b = filled["B"]
    spec = api.history_spec(b)
    link = history_links.compare_link(b, spec)
    assert link.exact and data.build_spec(link.selection).comparison_key() == b
    at = _history(app, b)
    q = dict(parse_qsl(urlsplit(_share_link(at)).query))
    assert q == link.query and q["methods"] == "original,retrain,finetune,random_label" and q["s.forget_class"] == "2"
    # a new session opening the share link: the Compare page reads it into the same spec (and shows its results)
    compare = app()
    for k, v in q.items():
        compare.query_params[k] = v
    compare.run()
    assert not compare.exception and not compare.warning
    assert {k: v[0] if isinstance(v, list) else v for k, v in compare.query_params.items()} == q
    assert "Closest to retrain" in _texts(compare.markdown)
    board = next(d.value for d in compare.dataframe if "rank" in d.value.columns)
    assert set(board["method"]) == {"original", "retrain", "finetune", "random_label"}
    # the same session: Compare set to something else first (another model, a hyper-parameter), then "Open in Compare"
    at = app().run()
    at.selectbox(key=state.MODEL).select("cnn").run()
    at.session_state[state.hparam("finetune", "epochs")] = 3
    at.run()
    at.switch_page(PAGE).run()
    at.selectbox(key=state.HISTORY_PICK).set_value(b).run()
    at.button(key="history.open_compare").click().run()
    assert not at.exception
    assert at.title[0].value == "Compare unlearning methods"
    assert {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()} == q  # no stale values
    assert at.selectbox(key=state.MODEL).value == "mlp"
    assert "Closest to retrain" in _texts(at.markdown)


def test_links_of_specs_the_page_cannot_hold_say_so():
    spec = api.make_spec(model="mlp", methods=["original", "retrain", "finetune"], hparams={"finetune": {"lr": 0.5}},
                         paradigm="noisy_label", rate=0.3, paradigm_params={"noise": "pair"}, epochs=2,
                         shadow_models=2, scenario_params={"forget_class": 3})
    link = history_links.compare_link(spec.comparison_key(), spec)
    assert link.exact and data.build_spec(link.selection).comparison_key() == spec.comparison_key()
    assert link.query["h.finetune.lr"] == "0.5" and link.query["p.noise"] == "pair" and link.query["epochs"] == "2"
    odd = data.ComparisonSpec.from_json({**spec.to_json(), "seeds": [3, 4], "train": [["epochs", 2], ["lr", 0.2]]})
    notes = history_links.compare_link(odd.comparison_key(), odd).notes
    assert any("seeds [3, 4]" in n for n in notes) and any("lr" in n for n in notes)
    q = {"dataset": "digits", "methods": "original,retrain"}
    assert history_links.share_url(q, "http://host:8501/app/history") == \
        "http://host:8501/app/?dataset=digits&methods=original,retrain"
    assert history_links.share_url(q, None) == "/?dataset=digits&methods=original,retrain"


def test_side_by_side_shows_every_metric_and_each_leaderboard(app, filled):
    a, b = filled["A"], filled["B"]
    at = _history(app)
    at.multiselect(key=state.HISTORY_SIDE_BY_SIDE).set_value([a, b]).run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if {"comparison", "method", "gap_to_retrain"} <= set(d.value.columns))
    assert {"forget_acc", "mia_efficacy", "kl_to_retrain", "unlearn_seconds"} <= set(table.columns)
    assert pd.api.types.is_float_dtype(table["gap_to_retrain"])  # numbers (the table sorts by value)
    summary_b = data.stored_results(data.plan(api.history_spec(b))).summary.set_index("method")
    rows = table[table["comparison"] == "scenario=class (forget_class=2)"].set_index("method")
    assert rows.loc["random_label", "mia_efficacy"] == summary_b.loc["random_label", "mia_efficacy"]
    assert len(table) == 7 and table.groupby("comparison")["method"].first().eq("retrain").all()
    # one leaderboard (verdict + ranked table) per comparison
    boards = {e.label: e for e in at.expander if e.label.startswith("Leaderboard — ")}
    assert set(boards) == {"Leaderboard — scenario=class (forget_class=1)",
                           "Leaderboard — scenario=class (forget_class=2)"}
    for e in boards.values():
        assert "Closest to retrain" in _texts(e.markdown)
        assert {"rank", "method", "gap_to_retrain"} <= set(e.dataframe[0].value.columns)
    at.selectbox(key="history.sbs_metric").set_value("mia_efficacy").run()
    assert not at.exception


def _array(value) -> np.ndarray:
    """A figure's array as sent to the browser: plotly's typed-array dict (``dtype``, ``bdata``, ``shape``) or a
    list."""
    if isinstance(value, dict):
        shape = tuple(int(n) for n in str(value["shape"]).split(","))
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)
    return np.array(value, dtype=float)


def _figure(at, name: str):
    import plotly.io

    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith(name))
    return plotly.io.from_json(chart.proto.spec)  # decodes plotly's typed arrays


def test_across_settings_heatmap_values(app, filled):
    a, b = filled["A"], filled["B"]
    at = app(PAGE)
    at.session_state[TAB] = "Across settings"
    at.session_state[ACROSS] = [a, b]
    at.run()
    assert not at.exception
    fig = _figure(at, "history.chart.across")
    top = fig.data[-1]  # the coloured layer (the grey one under the empty cells first)
    assert list(top.x) == ["scenario=class (forget_class=1)", "scenario=class (forget_class=2)"]
    methods = list(top.y)
    assert "retrain" not in methods and set(methods) == {"original", "finetune", "random_label"}
    z = _array(top.z)
    for key, col in ((a, 0), (b, 1)):
        s = data.stored_results(data.plan(api.history_spec(key))).summary.set_index("method")
        for i, m in enumerate(methods):
            if m in s.index:
                assert z[i, col] == pytest.approx(s.loc[m, "gap_to_retrain"])
                assert top.text[i][col] == f"{s.loc[m, 'gap_to_retrain']:.3f}"  # one seed: no std
    assert math.isnan(z[methods.index("random_label"), 0])  # A has no random_label
    assert "not run" in {a.text for a in fig.layout.annotations}
    means = np.nanmean(z, axis=1)
    assert list(means) == sorted(means)  # methods ordered by mean gap
    matrix = next(d.value for d in at.dataframe if "method" in d.value.columns and top["x"][0] in d.value.columns)
    assert list(matrix["method"]) == methods


def test_across_default_is_the_comparisons_that_share_methods():
    methods = {"a": ["original", "retrain", "finetune"], "b": ["original", "retrain", "finetune", "laf"],
               "c": ["original", "retrain", "scrub"]}
    assert across.shared_methods(methods) == ["a", "b"]
    assert across.shared_methods({"c": methods["c"]}) == ["c"]


def _summary(rows: dict[str, float], std: float | None = None) -> pd.DataFrame:
    return pd.DataFrame({"method": list(rows), "seeds": 2, "gap_to_retrain": list(rows.values()),
                         "gap_to_retrain_std": std if std is not None else np.nan, "forget_acc": 0.5})


def test_gap_table_matrix_and_heatmap_are_pure():
    labels = {"k1": "scenario=class", "k2": "scenario=random"}
    summaries = {"k1": _summary({"retrain": 0.0, "original": 0.5, "finetune": 0.2, "laf": 0.01}, std=0.01),
                 "k2": _summary({"retrain": 0.0, "original": 0.4, "finetune": 0.1})}
    methods = {"k1": ["original", "retrain", "finetune", "laf"], "k2": ["original", "retrain", "finetune", "laf",
                                                                        "scrub"]}
    long = across.gap_table(labels, summaries, methods)
    assert set(long["method"]) == {"original", "finetune", "laf", "scrub"}  # retrain: the reference, left out
    state_of = long.set_index(["method", "setting"])["state"]
    assert state_of[("laf", "scenario=random")] == across.NOT_AVAILABLE  # selected there, without a gap
    assert state_of[("scrub", "scenario=class")] == across.NOT_RUN
    m = across.gap_matrix(long)
    assert list(m.index) == ["laf", "finetune", "original", "scrub"]  # mean gap 0.01, 0.15, 0.45, none
    assert list(m.columns) == ["scenario=class", "scenario=random"]
    assert m.loc["finetune", "scenario=random"] == 0.1 and math.isnan(m.loc["laf", "scenario=random"])
    fig = across.gap_heatmap(long)
    top = fig.data[-1]
    assert list(top.y) == list(m.index) and top.zmin == 0.0 and top.zmax == 0.5
    assert top.text[0][0] == "0.010 ± 0.010" and top.text[0][1] == "n/a"
    notes = {a.text for a in fig.layout.annotations}
    assert {"n/a", "not run"} <= notes
    assert across.gap_heatmap(across.gap_table({}, {}, {})).layout.annotations[0].text == "no comparisons chosen"


def test_combined_metrics_are_numbers_with_their_std():
    combined = across.combined_metrics({"k1": "one", "k2": "two"},
                                       {"k1": _summary({"finetune": 0.2, "retrain": 0.0}, std=0.05),
                                        "k2": _summary({"retrain": 0.0, "laf": 0.3})})
    assert list(combined.columns) == ["comparison", "method", "seeds", "gap_to_retrain", "gap_to_retrain_std",
                                      "forget_acc"]
    assert list(combined["method"]) == ["retrain", "finetune", "retrain", "laf"]  # retrain first in each
    assert combined.loc[1, "gap_to_retrain_std"] == 0.05
    fig = across.metric_bars(combined, "gap_to_retrain")
    assert [t.name for t in fig.data] == ["one", "two"]


def _bundle(source_cache: Path, key: str) -> bytes:
    return api.export_comparisons([key], source_cache)


def test_import_result_lasts_across_reruns_with_links(app, source, cache_dir):
    src, keys = source
    bundle = _bundle(src, keys["B"])
    at = app(PAGE).run()
    assert "No comparison recorded yet" in _texts(at.info)
    at.file_uploader(key=UPLOAD).set_value(("b.zip", bundle, "application/zip")).run()
    at.button(key="history.import_go").click().run()
    assert not at.exception
    assert "Imported 1 comparison(s) from b.zip" in _texts(at.success)
    assert len(_listing(at)) == 1  # the table drawn in the same run lists it
    for _ in range(2):  # it lasts: reruns and other interactions keep it
        at.run()
        assert "Imported 1 comparison(s)" in _texts(at.success)
    at.multiselect(key=state.HISTORY_SIDE_BY_SIDE).set_value([keys["B"]]).run()
    assert "Imported 1 comparison(s)" in _texts(at.success)
    # each imported comparison links to itself: shown in "Open one", or opened in Compare
    at.button(key=f"history.imported.show.{keys['B']}").click().run()
    assert at.session_state[state.HISTORY_PICK] == keys["B"] and at.session_state[TAB] == "Open one"
    assert at.button(key=f"history.imported.compare.{keys['B']}")
    at.button(key="history.imported.dismiss").click().run()
    assert "Imported 1 comparison(s)" not in _texts(at.success)
    # a bad bundle: the error names the bundle and lasts too; nothing imported
    at.file_uploader(key=UPLOAD).set_value(("bad.zip", b"not a zip", "application/zip")).run()
    at.button(key="history.import_go").click().run()
    assert not at.exception and "**bundle**" in _texts(at.error) and "nothing was imported" in _texts(at.error)
    at.run()
    assert "nothing was imported" in _texts(at.error)
    assert len(api.history()) == 1


def test_an_imported_comparison_opens_in_compare_with_its_rows_shown(app, source, cache_dir):
    src, keys = source
    api.import_comparisons(_bundle(src, keys["A"]), cache_dir)
    at = app().run()
    at.switch_page(PAGE).run()
    at.button(key="history.open_compare").click().run()
    assert not at.exception
    assert at.toggle(key=state.SHOW_IMPORTED).value is True
    assert "row(s) are imported" in _texts(at.warning)


def test_side_by_side_labels_are_the_users_names_else_what_differs():
    a, b, c = "a" * 24, "b" * 24, "c" * 24
    assert across.named({a: "x", b: "y", c: "z"}, {a: "mine", b: "", c: "mine"}) == \
        {a: "mine [aaaaaa]", b: "y", c: "mine [cccccc]"}
    assert across.named({a: "x"}, {}) == {a: "x"}


def test_side_by_side_and_across_say_which_rows_are_imported(app, source, cache_dir):
    """Provenance: an imported comparison's numbers are marked wherever several comparisons are shown together."""
    src, keys = source
    api.run(_spec(*A), cache_dir=cache_dir, executor=api.make_executor("local", workers=1))  # A: computed here
    api.import_comparisons(_bundle(src, keys["B"]), cache_dir)  # B: only imported
    at = app(PAGE).run()
    at.multiselect(key=state.HISTORY_SIDE_BY_SIDE).set_value([keys["A"], keys["B"]]).run()
    assert not at.exception
    warned = [w for w in _texts(at.warning).splitlines() if "imported from a results bundle" in w]
    assert len(warned) == 1
    labels = data.side_by_side([keys["A"], keys["B"]], cache_dir)[0]
    assert labels[keys["B"]] in warned[0] and labels[keys["A"]] not in warned[0]
