"""History management (issue 14): annotations beside the comparison records, deleting a comparison without its
shared jobs, and labels that say what differs (hyper-parameters included)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import api
from engine.store import Store
from engine.store.annotations import MAX_NAME, MAX_NOTE, MAX_TAG, MAX_TAGS


def _spec(methods: list[str], forget_class: int = 1, **kw):
    return api.make_spec(model="mlp", epochs=1, methods=methods, scenario_params={"forget_class": forget_class}, **kw)


def _run(spec, cache: Path) -> str:
    api.run(spec, cache_dir=cache, executor=api.make_executor("local", workers=1))
    return spec.comparison_key()


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A cache with two comparisons of one setting that share the original, the retrain and their evaluations."""
    cache = tmp_path_factory.mktemp("annotations") / "cache"
    a = _run(_spec(["original", "retrain", "finetune"]), cache)
    b = _run(_spec(["original", "retrain", "random_label"]), cache)
    return cache, a, b


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _entries(cache: Path, prefix: str) -> dict[str, str | None]:
    store = Store(cache)
    try:
        return {k: store.cache.get(k) for k in store.keys(prefix)}
    finally:
        store.close()


def test_annotations_round_trip_beside_the_record(two, tmp_path: Path) -> None:
    cache, a, b = two
    cache = _copy(cache, tmp_path / "c")
    record = _entries(cache, f"comparison/{a}")
    answer = _entries(cache, f"answer/{a}")
    got = api.annotate(a, name="  baseline run ", tags="cnn, draft,  draft ,", note="first try\nwith 1 epoch",
                       cache_dir=cache)
    assert got == {"name": "baseline run", "tags": ["cnn", "draft"], "note": "first try\nwith 1 epoch"}
    assert api.annotation(a, cache) == got
    assert api.annotation(b, cache) == {"name": "", "tags": [], "note": ""}
    # under its own key: the record and the saved answer are byte for byte what they were
    assert _entries(cache, f"comparison/{a}") == record and _entries(cache, f"answer/{a}") == answer
    assert list(_entries(cache, "annotation/")) == [f"annotation/{a}"]
    # a field left out is kept; "" clears it
    api.annotate(a, note="", cache_dir=cache)
    assert api.annotation(a, cache) == {**got, "note": ""}
    h = api.history(cache).set_index("key")
    assert list(api.history(cache).columns) == api.HISTORY_COLUMNS
    assert h.loc[a, "name"] == "baseline run" and h.loc[a, "tags"] == ["cnn", "draft"] and h.loc[b, "name"] == ""
    assert h.loc[a, "methods"] == "original, retrain, finetune"
    assert h.loc[b, "methods"] == "original, retrain, random_label"
    # an exported bundle carries no annotation (the record's content identity is unchanged)
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(api.export_comparisons([a], cache))).namelist()
    assert not [n for n in names if "annotation" in n]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"name": "x" * (MAX_NAME + 1)}, "name"),
    ({"name": "two\nlines"}, "name"),
    ({"name": 3}, "name"),
    ({"tags": [f"t{i}" for i in range(MAX_TAGS + 1)]}, "tags"),
    ({"tags": ["y" * (MAX_TAG + 1)]}, "tags"),
    ({"tags": [1]}, "tags"),
    ({"note": "z" * (MAX_NOTE + 1)}, "note"),
    ({"note": "bidi \u202e override"}, "note"),
])
def test_bad_input_names_the_field_and_writes_nothing(two, tmp_path: Path, kwargs: dict, field: str) -> None:
    cache, a, _ = two
    cache = _copy(cache, tmp_path / "c")
    api.annotate(a, name="kept", tags=["kept"], note="kept", cache_dir=cache)
    before = _entries(cache, "annotation/")
    with pytest.raises(api.SpecError) as err:
        api.annotate(a, **{"name": "new", "tags": ["new"], "note": "new", **kwargs}, cache_dir=cache)
    assert err.value.field == field
    assert _entries(cache, "annotation/") == before  # the other, valid fields were not written either


def test_an_unknown_comparison_cannot_be_annotated(tmp_path: Path) -> None:
    with pytest.raises(api.SpecError) as err:
        api.annotate("0" * 24, name="x", cache_dir=tmp_path / "c")
    assert err.value.field == "comparison"


def test_delete_keeps_the_jobs_another_comparison_shares(two, tmp_path: Path) -> None:
    cache, a, b = two
    cache = _copy(cache, tmp_path / "c")
    spec_b = api.history_spec(b, cache)
    plan_b = api.plan(spec_b)
    shared = {r.eval_job for r in api.plan(api.history_spec(a, cache)).rows} & {r.eval_job for r in plan_b.rows}
    assert len(shared) == 2  # original's and retrain's evaluations (and the models behind them)
    results = set(_entries(cache, "result/"))
    api.annotate(a, name="to go", cache_dir=cache)
    assert sorted(api.delete_comparison(a, cache)) == ["annotation", "answer", "record"]
    assert set(_entries(cache, "result/")) == results  # no job result removed, not even finetune's
    assert list(api.history(cache)["key"]) == [b]
    assert api.history_spec(a, cache) is None and api.annotation(a, cache)["name"] == ""
    # the other comparison still opens complete, and its saved answer is still served
    res = api.stored(plan_b, cache)
    assert set(res.wide["status"]) == {"ok"} and len(res.wide) == 3
    assert api.cached_answer(spec_b, cache) is not None
    assert api.delete_comparison(a, cache) == []  # gone already
    # running the deleted one again computes nothing: every job is still stored
    again = api.run(_spec(["original", "retrain", "finetune"]), cache_dir=cache,
                    executor=api.make_executor("local", workers=1))
    assert set(again.wide["status"]) == {"ok"}
    assert {o.status for o in again.outcomes.values()} <= {"cached"}


def test_an_imported_comparison_can_be_deleted(two, tmp_path: Path) -> None:
    cache, a, _ = two
    dst = tmp_path / "dst"
    assert api.import_comparisons(api.export_comparisons([a], cache), dst) == [a]
    imported = set(_entries(dst, "imported/result/"))
    assert imported and api.history(dst)["source"].iloc[0].startswith("imported")
    assert api.delete_comparison(a, dst) == ["imported record"]
    assert api.history(dst).empty and api.history_spec(a, dst) is None
    assert set(_entries(dst, "imported/result/")) == imported  # imported job results stay too


def test_labels_say_what_differs_hyper_parameters_included() -> None:
    base = _spec(["original", "retrain", "finetune"])
    lr = _spec(["original", "retrain", "finetune"], hparams={"finetune": {"lr": 0.5}})
    other = _spec(["original", "retrain"])  # no finetune: its hyper-parameter is not compared here
    labels = api.short_labels({"a" * 24: base, "b" * 24: lr, "c" * 24: other})
    assert labels["b" * 24] == "finetune.lr=0.5"
    assert labels["a" * 24] == "finetune.lr=default"
    assert labels["c" * 24] == "comparison cccccc"  # nothing else differs: the key tells it apart
    noisy = api.make_spec(paradigm="noisy_label", rate=0.2, paradigm_params={"noise": "pair"}, methods=["retrain"])
    sym = api.make_spec(paradigm="noisy_label", rate=0.2, methods=["retrain"])
    shadow = api.make_spec(paradigm="noisy_label", rate=0.2, methods=["retrain"], shadow_models=2)
    labels = api.short_labels({"n": noisy, "s": sym, "h": shadow})
    assert labels["n"] == "paradigm=noisy_label 0.2 (noise=pair), shadow_models=0"
    assert labels["h"] == "paradigm=noisy_label 0.2, shadow_models=2"
