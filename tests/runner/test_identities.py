"""Job identities (engine/jobs/identity.py): each model is trained once for everything its result depends on.

The original's key holds the training data, the *content* of the supervision it trains on, the loss, the model,
the training config and the seed -- not the scenario, not the methods, not the paradigm's name. So a second
comparison that changes only the scenario or the methods trains no original, ``label_free`` with every sample
labelled reuses the supervised one, and any change in what the training reads trains a new one. Never the reverse:
the jobs that read the forget set (retrain, unlearn, evaluate, the shadow job) keep it in their keys.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.jobs.identity import ContentIdentities
from engine.problem import array_digest, build_problem, resolve, training_content
from engine.runner import make_plan, needed_jobs, run_comparison
from engine.spec import ComparisonSpec, MethodSpec
from engine.store import Store, arrays_from_bytes
from tests.runner.conftest import SETTINGS

DATA = Path("data")
REFS = (MethodSpec("original"), MethodSpec("retrain"))
MLP = dataclasses.replace(SETTINGS["mlp"], methods=REFS)  # its problem, original and retrain come trained


def keys(spec: ComparisonSpec, kind: str) -> list[str]:
    return [j.key for j in make_plan(spec, DATA).jobs if j.kind == kind]


def stored(cache: Path, kind: str) -> set[str]:
    store = Store(cache)
    try:
        return {k.removeprefix("result/") for k in store.keys() if k.startswith(f"result/{kind}-")}
    finally:
        store.close()


# -- the keys, at plan time ----------------------------------------------------------------------------------------
SAME_ORIGINAL = {
    "another class": dict(scenario_params=(("forget_class", 5),)),
    "random forgetting": dict(scenario="random", scenario_params=(("fraction", 0.2),)),
    "other methods": dict(methods=(MethodSpec("finetune"), MethodSpec("amnesiac"))),
    "label_free, every sample labelled": dict(paradigm="label_free"),
    "noisy labels at rate 0 trained with CE": dict(paradigm="noisy_label", rate=0.0,
                                                   paradigm_params=(("train_loss", "ce"),)),
    "shadow models": dict(shadow_models=2),
}
NEW_ORIGINAL = {
    "seed": dict(seeds=(1,)),
    "train epochs": dict(train=(("epochs", 5),)),
    "learning rate": dict(train=(("epochs", 4), ("lr", 1e-3))),
    "model": dict(model="cnn"),
    "label_free, half labelled": dict(paradigm="label_free", labelled_fraction=0.5),
    "partial labels": dict(paradigm="partial_label"),
    "noisy labels": dict(paradigm="noisy_label", rate=0.2),
    "noisy labels at rate 0 trained with GCE": dict(paradigm="noisy_label", rate=0.0),
}


@pytest.mark.parametrize("case", list(SAME_ORIGINAL))
def test_what_the_training_does_not_read_keeps_the_original(case):
    assert keys(dataclasses.replace(MLP, **SAME_ORIGINAL[case]), "original") == keys(MLP, "original")


@pytest.mark.parametrize("case", list(NEW_ORIGINAL))
def test_what_the_training_reads_moves_the_original(case):
    assert not set(keys(dataclasses.replace(MLP, **NEW_ORIGINAL[case]), "original")) & set(keys(MLP, "original"))


def test_the_noise_not_the_scenario_keys_a_noisy_original():
    noisy = dataclasses.replace(MLP, paradigm="noisy_label", rate=0.3)
    mislabelled = dataclasses.replace(noisy, scenario="noisy_labels", scenario_params=())
    assert keys(mislabelled, "original") == keys(noisy, "original")  # same noise drawn, same loss
    assert keys(dataclasses.replace(noisy, rate=0.2), "original") != keys(noisy, "original")
    ce = dataclasses.replace(noisy, paradigm_params=(("train_loss", "ce"),))
    assert keys(ce, "original") != keys(noisy, "original")  # GCE vs CE on the same labels
    pair = dataclasses.replace(noisy, paradigm_params=(("noise", "pair"),))
    assert keys(pair, "original") != keys(noisy, "original")


def test_the_jobs_that_read_the_forget_set_keep_it():
    a = make_plan(dataclasses.replace(MLP, shadow_models=2, methods=(*REFS, MethodSpec("finetune"))), DATA)
    b = make_plan(dataclasses.replace(a.spec, scenario_params=(("forget_class", 5),)), DATA)
    by_kind = {kind: ({j.key for j in a.jobs if j.kind == kind}, {j.key for j in b.jobs if j.kind == kind})
               for kind in ("original", "retrain", "unlearn", "evaluate", "shadow")}
    assert by_kind["original"][0] == by_kind["original"][1]
    for kind in ("retrain", "unlearn", "evaluate", "shadow"):
        assert not by_kind[kind][0] & by_kind[kind][1], kind
    # the original row's evaluation too: the same model, measured on another forget set
    assert a.rows[0].model_job == b.rows[0].model_job and a.rows[0].eval_job != b.rows[0].eval_job


def test_retrain_is_keyed_by_its_retain_set():
    base = dataclasses.replace(MLP, paradigm="label_free")
    assert keys(base, "retrain") == keys(MLP, "retrain")  # the same retain set, labels and loss
    assert keys(dataclasses.replace(MLP, scenario_params=(("forget_class", 5),)), "retrain") != keys(MLP, "retrain")


def test_training_time_state_follows_the_original():
    amnesiac = dataclasses.replace(MLP, methods=(MethodSpec("amnesiac"), MethodSpec("sisa")))
    other = dataclasses.replace(amnesiac, scenario="random", scenario_params=(("fraction", 0.2),))
    assert keys(amnesiac, "train_state") == keys(other, "train_state")
    assert keys(dataclasses.replace(amnesiac, seeds=(1,)), "train_state") != keys(amnesiac, "train_state")


def test_the_training_content_is_the_problem_npz_content():
    """The digests at plan time (the Problem's tensors) equal those the bundle importer computes from problem.npz."""
    from engine.jobs.bodies import materialise_problem
    from engine.jobs.model import PROBLEM_BLOB

    setting = resolve(dataclasses.replace(MLP, paradigm="partial_label"))
    problem = build_problem(setting, 0, DATA)

    class Env:  # what materialise_problem reads of its JobEnv
        data_dir = DATA

        @staticmethod
        def dataset(name: str, coarse: bool):  # noqa: ANN205
            from engine.data import load_dataset

            return load_dataset(name, DATA, coarse=coarse)

    job = next(j for j in make_plan(setting.spec, DATA).jobs if j.kind == "problem")
    arrays = arrays_from_bytes(materialise_problem(job, Env()).blobs[PROBLEM_BLOB])  # type: ignore[arg-type]
    from_npz = training_content(arrays["observed_labels"], arrays["candidates"], arrays["labelled"],
                                arrays["retain_idx"])
    assert from_npz == problem.content()
    ids = ContentIdentities(setting, {0: from_npz})
    assert ids.original(0, job.key)["supervision"] == problem.content().supervision


def test_digests_name_dtype_shape_and_content():
    a = np.arange(6, dtype=np.int64)
    assert array_digest(a) == array_digest(torch.arange(6).numpy())
    assert array_digest(a) != array_digest(a.astype(np.int32))
    assert array_digest(a) != array_digest(a.reshape(2, 3))
    assert array_digest(a) != array_digest(a[::-1])
    assert array_digest(a, a) != array_digest(a)
    with pytest.raises(ValueError):
        training_content(a, np.zeros((5, 2), bool), np.ones(6, bool), np.arange(3))
    with pytest.raises(ValueError):
        training_content(a, np.zeros((6, 2), bool), np.ones(6, bool), np.array([0, 6]))


# -- what runs -----------------------------------------------------------------------------------------------------
@pytest.fixture
def cache(trained_caches, tmp_path) -> Path:  # noqa: ANN001
    """A copy of the shared mlp models (digits, class 3 forgotten, 4 epochs): problem, original, retrain."""
    return trained_caches("mlp", tmp_path / "cache")


def original_outcomes(res) -> set[str]:  # noqa: ANN001
    return {res.outcomes[j.key].status for j in res.plan.jobs if j.kind == "original"}


def test_a_second_scenario_or_other_methods_train_no_original(cache):
    before = stored(cache, "original")
    for change in (dict(scenario="random", scenario_params=(("fraction", 0.2),)),
                   dict(scenario_params=(("forget_class", 5),)),
                   dict(methods=(MethodSpec("original"), MethodSpec("finetune", (("epochs", 1),))))):
        res = run_comparison(dataclasses.replace(MLP, **change), cache_dir=cache, data_dir=DATA)
        assert set(res.wide["status"]) == {"ok"}, change
        assert original_outcomes(res) == {"cached"}, change
        assert stored(cache, "original") == before, change  # nothing new under original-*


def test_label_free_reuses_the_supervised_original_and_measures_it_alike(cache):
    supervised = run_comparison(MLP, cache_dir=cache, data_dir=DATA)
    before = stored(cache, "original")
    res = run_comparison(dataclasses.replace(MLP, paradigm="label_free"), cache_dir=cache, data_dir=DATA)
    assert original_outcomes(res) == {"cached"} and stored(cache, "original") == before
    same = [c for c in res.wide.columns if c not in ("method", "paradigm", "unlearn_seconds", "speedup_vs_retrain")]
    a, b = (r.wide.set_index("method").loc[["original", "retrain"], same] for r in (supervised, res))
    assert a.to_csv() == b.to_csv()  # the same models on the same forget set: metric for metric


def test_a_change_in_what_the_original_reads_trains_a_new_one(cache):
    store = Store(cache)
    try:  # at plan time: each of these needs an original the cache does not have
        for case in ("seed", "train epochs", "label_free, half labelled", "partial labels", "noisy labels"):
            plan = make_plan(dataclasses.replace(MLP, **NEW_ORIGINAL[case]), DATA)
            originals = [j for j in needed_jobs(plan, store) if j.kind == "original"]
            assert originals and not any(store.has(j.key) for j in originals), case
    finally:
        store.close()
    before = stored(cache, "original")  # and one of them, run: a new original is trained and stored
    res = run_comparison(dataclasses.replace(MLP, paradigm="noisy_label", rate=0.3), cache_dir=cache, data_dir=DATA)
    assert original_outcomes(res) == {"done"}
    assert len(stored(cache, "original") - before) == 1
