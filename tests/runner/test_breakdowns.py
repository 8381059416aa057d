"""``engine.runner.breakdowns`` on a tiny real comparison, checked against independent computations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split

from engine.data import load_dataset
from engine.runner import breakdowns, run_comparison
from engine.spec import ComparisonSpec, MethodSpec
from engine.store import Store, arrays_from_bytes

DATA = Path("data")
METHODS = (MethodSpec("original"), MethodSpec("retrain"), MethodSpec("finetune", (("epochs", 1),)))


def _run(tmp: Path, **kw):  # noqa: ANN003
    spec = ComparisonSpec(model="mlp", train=(("epochs", 1),), methods=METHODS, **kw)
    res = run_comparison(spec, cache_dir=tmp, data_dir=DATA)
    assert set(res.wide["status"]) == {"ok"}
    return res


@pytest.fixture(scope="module")
def random_run(tmp_path_factory: pytest.TempPathFactory):
    """Random 10 % forgetting, two seeds."""
    tmp = tmp_path_factory.mktemp("inspect-random")
    res = _run(tmp, scenario="random", scenario_params=(("fraction", 0.1),), seeds=(0, 1))
    store = Store(tmp)
    yield res, store, load_dataset("digits", DATA, device="cpu")
    store.close()


@pytest.fixture(scope="module")
def class_run(tmp_path_factory: pytest.TempPathFactory):
    """Class 3 forgotten, one seed."""
    tmp = tmp_path_factory.mktemp("inspect-class")
    res = _run(tmp, scenario="class", scenario_params=(("forget_class", 3),))
    store = Store(tmp)
    yield res, store, load_dataset("digits", DATA, device="cpu")
    store.close()


def _stored(res, store, method: str, seed: int):  # noqa: ANN001
    row = next(r for r in res.plan.rows if r.method == method and r.seed == seed)
    out = arrays_from_bytes(store.blob(row.eval_job, "outputs.npz"))
    prob = arrays_from_bytes(store.blob(res.plan.setting.problem_key(seed), "problem.npz"))
    return out, prob, row


def test_per_class_accuracy_matches_sklearn_confusion(random_run):
    res, store, data = random_run
    table = breakdowns.per_class_accuracy(res.plan, store, data)
    assert set(table["split"]) == set(breakdowns.SPLITS)
    assert set(zip(table["method"], table["seed"], strict=True)) == {(m.name, s) for m in METHODS for s in (0, 1)}
    y_train, y_test = data.y_train.numpy(), data.y_test.numpy()
    for method in ("original", "finetune"):
        for seed in (0, 1):
            out, prob, _ = _stored(res, store, method, seed)
            for split, y, logits in (("test", y_test[prob["test_idx"]], out["logits_test"]),
                                     ("train_forget", y_train[prob["forget_idx"]],
                                      out["logits_train"][prob["forget_idx"]]),
                                     ("train_retain", y_train[prob["retain_idx"]],
                                      out["logits_train"][prob["retain_idx"]])):
                cm = confusion_matrix(y, logits.argmax(1), labels=range(10))
                expect = {c: cm[c, c] / cm[c].sum() for c in range(10) if cm[c].sum()}
                got = table[(table["method"] == method) & (table["seed"] == seed) & (table["split"] == split)]
                assert dict(zip(got["class"], got["accuracy"], strict=True)) == pytest.approx(expect)
    # the per-class counts add up to the engine's own aggregate metrics
    wide = res.wide.set_index(["method", "seed"])
    for split, metric in (("test", "test_acc"), ("train_forget", "forget_acc"), ("train_retain", "retain_acc")):
        part = table[table["split"] == split].groupby(["method", "seed"])[["correct", "n"]].sum()
        for (m, s), r in part.iterrows():
            assert r["correct"] / r["n"] == pytest.approx(wide.loc[(m, s), metric])


def test_forget_confusion_counts_and_full_grid(random_run):
    res, store, data = random_run
    conf = breakdowns.forget_confusion(res.plan, store, data)
    y_train = data.y_train.numpy()
    for method in ("retrain", "finetune"):
        out, prob, _ = _stored(res, store, method, 1)
        idx = prob["forget_idx"]
        cm = confusion_matrix(y_train[idx], out["logits_train"][idx].argmax(1), labels=range(10))
        got = conf[(conf["method"] == method) & (conf["seed"] == 1)]
        grid = got.pivot(index="true", columns="predicted", values="count")
        assert list(grid.columns) == list(range(10))  # every predicted class, zeros included
        present = sorted(np.unique(y_train[idx]))
        assert list(grid.index) == present
        np.testing.assert_array_equal(grid.to_numpy(), cm[present])
        assert got["count"].sum() == idx.size


def test_forget_samples_against_torch_and_scipy(random_run):
    res, store, data = random_run
    table = breakdowns.forget_samples(res.plan, store, data)
    assert list(table.columns) == breakdowns.SAMPLE_COLUMNS
    out, prob, row = _stored(res, store, "finetune", 0)
    idx = prob["forget_idx"]
    got = table[(table["method"] == "finetune") & (table["seed"] == 0)].reset_index(drop=True)
    assert len(got) == idx.size and (got["index"].to_numpy() == idx).all()
    y = torch.as_tensor(data.y_train.numpy()[idx])
    z = torch.as_tensor(out["logits_train"][idx], dtype=torch.float64)
    p = torch.softmax(z, dim=1)
    np.testing.assert_array_equal(got["true"], y.numpy())
    np.testing.assert_array_equal(got["predicted"], p.argmax(1).numpy())
    np.testing.assert_allclose(got["confidence"], p.max(1).values.numpy(), rtol=1e-9)
    np.testing.assert_allclose(got["p_true"], p[torch.arange(len(y)), y].numpy(), rtol=1e-9)
    np.testing.assert_allclose(got["loss"], torch.nn.functional.cross_entropy(z, y, reduction="none").numpy(),
                               rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(got["entropy"], scipy.stats.entropy(p.numpy(), axis=1), rtol=1e-7, atol=1e-9)
    # the engine's own per-sample entropy metric agrees (float32 there)
    engine_entropy = arrays_from_bytes(store.blob(row.eval_job, "per_sample.npz"))["forget_entropy"]
    np.testing.assert_allclose(got["entropy"], engine_entropy, rtol=1e-4, atol=1e-5)
    # supervised: the observed label is the true one and the candidate set is that label
    assert (got["observed"] == got["true"]).all()
    assert (got["candidates"] == got["true"].astype(str)).all()
    assert (got["correct"] == (got["predicted"] == got["true"])).all()
    assert (got["request"] == 0).all()
    # the forget accuracy of the engine is the mean of `correct`
    acc = res.wide.set_index(["method", "seed"]).loc[("finetune", 0), "forget_acc"]
    assert got["correct"].mean() == pytest.approx(acc)


def test_gallery_images_and_predictions(random_run):
    res, store, data = random_run
    g = breakdowns.gallery(res.plan, store, data, n=6)
    assert g.seed == 0 and len(g.images) == len(g.index) == 6
    _, prob, _ = _stored(res, store, "original", 0)
    assert list(g.index) == list(prob["forget_idx"][:6])
    # the images are sklearn's raw 0..16 pixels scaled to 0..255 (independent of the engine's normalisation)
    bunch = load_digits()
    train_idx = sorted(train_test_split(list(range(len(bunch.target))), test_size=0.2, stratify=bunch.target,
                                        random_state=0)[0])
    for i, img in zip(g.index, g.images, strict=True):
        assert img.dtype == np.uint8 and img.shape == (8, 8)
        raw = bunch.images[train_idx[i]] / 16.0 * 255.0
        assert np.abs(img.astype(float) - raw).max() <= 1.0
        assert bunch.target[train_idx[i]] == g.true[g.index.index(i)]
    assert list(dict.fromkeys(g.predictions["method"])) == ["original", "retrain", "finetune"]
    out, _, _ = _stored(res, store, "retrain", 0)
    z = out["logits_train"][list(g.index)]
    got = g.predictions[g.predictions["method"] == "retrain"]
    np.testing.assert_array_equal(got["predicted"], z.argmax(1))
    np.testing.assert_allclose(got["confidence"], torch.softmax(torch.as_tensor(z, dtype=torch.float64), 1)
                               .max(1).values.numpy())
    assert g.class_names == tuple(str(i) for i in range(10))


def test_class_scenario_forget_classes_and_retrain_never_predicts_them(class_run):
    res, store, data = class_run
    assert breakdowns.forget_classes(res.plan, store) == (3,)
    assert breakdowns.touched_classes(res.plan, store) == (3,)
    table = breakdowns.per_class_accuracy(res.plan, store, data)
    forget = table[table["split"] == "train_forget"]
    assert set(forget["class"]) == {3}
    assert forget.set_index("method").loc["retrain", "accuracy"] == 0.0
    conf = breakdowns.forget_confusion(res.plan, store, data)
    assert set(conf["true"]) == {3}
    retrain = conf[conf["method"] == "retrain"].set_index("predicted")["count"]
    assert retrain[3] == 0 and retrain.sum() == (data.y_train == 3).sum().item()


def test_unfinished_rows_are_left_out(tmp_path):
    spec = ComparisonSpec(model="mlp", train=(("epochs", 1),), methods=METHODS)
    from engine.runner import make_plan

    plan = make_plan(spec, DATA)
    store = Store(tmp_path)
    try:
        data = load_dataset("digits", DATA, device="cpu")
        assert breakdowns.finished_rows(plan, store) == []
        assert breakdowns.per_class_accuracy(plan, store, data).empty
        assert breakdowns.forget_confusion(plan, store, data).empty
        assert list(breakdowns.forget_samples(plan, store, data).columns) == breakdowns.SAMPLE_COLUMNS
        g = breakdowns.gallery(plan, store, data)
        assert g.images == () and g.predictions.empty
        assert breakdowns.forget_classes(plan, store) == ()
    finally:
        store.close()


def test_incremental_requests_are_numbered(tmp_path):
    res = _run(tmp_path, scenario="incremental", scenario_params=(("count", 12), ("steps", 3)))
    store = Store(tmp_path)
    try:
        data = load_dataset("digits", DATA, device="cpu")
        table = breakdowns.forget_samples(res.plan, store, data)
        prob = arrays_from_bytes(store.blob(res.plan.setting.problem_key(0), "problem.npz"))
        bounds = np.concatenate([[0], np.cumsum(prob["request_sizes"])])
        expect = {}
        for r in range(len(prob["request_sizes"])):
            for i in prob["requests"][bounds[r]:bounds[r + 1]]:
                expect.setdefault(int(i), r)
        got = table[table["method"] == "retrain"]
        assert dict(zip(got["index"], got["request"], strict=True)) == expect
        assert set(got["request"]) == {0, 1, 2}
    finally:
        store.close()



def test_problem_arrays_that_do_not_fit_the_dataset_are_refused():
    """An imported problem whose indices point outside the real dataset is refused before any indexing."""
    from engine.data import load_dataset

    data = load_dataset("digits", Path("data"))
    ok = {"forget_idx": np.array([0, 5]), "retain_idx": np.array([1, 2]), "test_idx": np.array([0, 359])}
    assert breakdowns.check_problem(ok, data) is ok
    for name, bad in (("forget_idx", np.array([0, 10_000])), ("test_idx", np.array([-1])),
                      ("retain_idx", np.array([0.5]))):
        with pytest.raises(ValueError, match=name):
            breakdowns.check_problem({**ok, name: bad}, data)
