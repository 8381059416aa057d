"""Demo mode: the switch, every cap (naming its field), datasets only when on disk, and the FIFO run queue."""

from __future__ import annotations

import threading

import pytest

from engine.demo import (
    DEMO_ENV,
    LIMITS,
    DemoLimits,
    RunQueue,
    allowed_datasets,
    check_spec,
    dataset_on_disk,
    demo_enabled,
)
from engine.errors import SpecError
from engine.spec import ComparisonSpec, MethodSpec
from tests.data.conftest import _idx_dataset

SIX = ("original", "retrain", "finetune", "gradient_ascent", "neggrad_plus", "random_label")


def spec(**kw) -> ComparisonSpec:  # noqa: ANN003
    base = dict(scenario_params=(("forget_class", 3),), methods=tuple(MethodSpec(m) for m in SIX), seeds=(0, 1))
    base.update(kw)
    return ComparisonSpec(**base)


@pytest.mark.parametrize(("value", "on"), [("1", True), ("true", True), ("on", True), ("0", False), ("", False),
                                           (None, False)])
def test_switch(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv(DEMO_ENV, raising=False)
    else:
        monkeypatch.setenv(DEMO_ENV, value)
    assert demo_enabled() is on


def test_the_default_comparison_is_allowed(tmp_path):
    check_spec(spec(), tmp_path)
    check_spec(spec(model="mlp", train=(("epochs", 10),),
                    methods=(MethodSpec("finetune", (("epochs", 2),)),), seeds=(0,)), tmp_path)


@pytest.mark.parametrize(("kw", "field"), [
    ({"seeds": (0, 1, 2)}, "seeds"),
    ({"methods": tuple(MethodSpec(m) for m in (*SIX, "salun"))}, "methods"),
    ({"model": "resnet18"}, "model"),
    ({"train": (("epochs", 31),)}, "train.epochs"),  # digits' default is 30
    ({"methods": (MethodSpec("finetune", (("epochs", 6),)),)}, "methods.finetune.epochs"),  # default 5
    ({"methods": (MethodSpec("udru", (("steps", 101),)),)}, "methods.udru.steps"),  # default 100
    ({"dataset": "mnist"}, "dataset"),  # not on disk, and demo mode never downloads
])
def test_caps_name_the_field(tmp_path, kw, field):
    with pytest.raises(SpecError) as e:
        check_spec(spec(**kw), tmp_path)
    assert e.value.field == field and "demo mode" in e.value.message


def test_bad_values_still_name_their_field(tmp_path):
    with pytest.raises(SpecError) as e:
        check_spec(spec(methods=(MethodSpec("finetune", (("epochs", "many"),)),)), tmp_path)
    assert e.value.field == "methods.finetune.epochs"


def test_a_torchvision_dataset_already_on_disk_is_allowed(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARN_VERIFY_CHECKSUMS", "0")
    assert not dataset_on_disk("mnist", tmp_path)
    _idx_dataset(tmp_path, "MNIST")
    assert dataset_on_disk("mnist", tmp_path) and dataset_on_disk("digits", tmp_path)
    assert set(allowed_datasets(tmp_path)) == {"digits", "mnist"}
    check_spec(spec(dataset="mnist", scenario_params=(("forget_class", 1),)), tmp_path)


def test_limits_are_configurable():
    lenient = DemoLimits(max_seeds=5, max_cost_factor=2.0)
    check_spec(spec(seeds=(0, 1, 2), train=(("epochs", 60),)), limits=lenient)
    assert LIMITS.max_concurrent == 1


def test_queue_positions_are_first_in_first_out():
    q = RunQueue()  # one slot, as in demo mode
    a, b, c = q.join(), q.join(), q.join()
    assert [q.position(t) for t in (a, b, c)] == [0, 1, 2]  # 0 = running, k = k-th in line
    assert q.snapshot() == (1, 2)
    q.leave(b)  # a waiting run gives up: the ones behind it move up
    assert [q.position(t) for t in (a, b, c)] == [0, None, 1]
    q.leave(a)  # the running one finishes: the next is admitted
    assert q.position(c) == 0 and q.snapshot() == (1, 0)
    q.leave(c)
    assert q.snapshot() == (0, 0)


def test_queue_with_two_slots():
    q = RunQueue(slots=2)
    tickets = [q.join() for _ in range(4)]
    assert [q.position(t) for t in tickets] == [0, 0, 1, 2]
    with pytest.raises(SpecError):
        RunQueue(slots=0)


def test_wait_turn_blocks_until_admitted_and_gives_up_on_cancel():
    q = RunQueue()
    first = q.join()
    second = q.join()
    admitted = threading.Event()

    def waiter() -> None:
        if q.wait_turn(second, poll=0.01):
            admitted.set()

    t = threading.Thread(target=waiter)
    t.start()
    assert not admitted.is_set() and q.position(second) == 1
    q.leave(first)
    t.join(30)
    assert admitted.is_set() and q.position(second) == 0
    third = q.join()
    cancel = threading.Event()
    cancel.set()
    assert q.wait_turn(third, cancel=cancel) is False and q.position(third) is None  # it left the queue
    assert q.wait_turn(q.join(), timeout=0) is False
    q.leave(second)


def test_turn_context_manager_always_leaves():
    q = RunQueue()
    with pytest.raises(RuntimeError), q.turn() as admitted:
        assert admitted and q.snapshot() == (1, 0)
        raise RuntimeError("the run failed")
    assert q.snapshot() == (0, 0)


def one(name: str, **hparams: object) -> tuple[MethodSpec, ...]:
    return (MethodSpec(name, tuple(hparams.items())),)


# the reviewer's bypasses (issue #11 item 4): each multiplied the work without touching an epoch-like name
@pytest.mark.parametrize(("kw", "field"), [
    ({"methods": one("finetune", batch_size=1)}, "methods.finetune.batch_size"),  # was 87x slower
    ({"methods": one("scrub", msteps=200)}, "methods.scrub.msteps"),
    ({"methods": one("ppu", refine_iters=10_000)}, "methods.ppu.refine_iters"),
    ({"methods": one("influence", n_samples=100_000)}, "methods.influence.n_samples"),
    ({"methods": one("ntk", retain_per_class=1000)}, "methods.ntk.retain_per_class"),
    ({"scenario": "incremental", "scenario_params": (("steps", 100),)}, "scenario.steps"),
    ({"train": (("epochs", 1000),)}, "train.epochs"),
    ({"train": (("batch_size", 1),)}, "train.batch_size"),
    # and their relatives
    ({"methods": one("scrub", forget_batch_size=1)}, "methods.scrub.forget_batch_size"),
    ({"methods": one("bad_teacher", forget_batch_size=4096)}, "methods.bad_teacher.forget_batch_size"),  # cycled
    ({"methods": one("udru", chunk_size=1)}, "methods.udru.chunk_size"),
    ({"methods": one("laf", vae_epochs=500)}, "methods.laf.vae_epochs"),
    ({"methods": one("laf_r", vae_epochs=500)}, "methods.laf_r.vae_epochs"),  # inherited fields keep their cost
    ({"methods": one("ppu_after", refine_iters=10_000)}, "methods.ppu_after.refine_iters"),
    ({"methods": one("eu_k", batch_size=1)}, "methods.eu_k.batch_size"),
    ({"methods": one("sisa", shards=100)}, "methods.sisa.shards"),
    ({"methods": one("kpriors", batch_size=1)}, "methods.kpriors.batch_size"),  # default none = full batch
    ({"scenario": "incremental", "scenario_params": (("count", 10_000),)}, "scenario.count"),
    ({"scenario": "selective", "scenario_params": (("count", 1000),)}, "scenario.count"),
    ({"scenario": "random", "scenario_params": (("fraction", 0.9),)}, "scenario.fraction"),
])
def test_every_work_multiplier_is_capped(tmp_path, kw, field):
    with pytest.raises(SpecError) as e:
        check_spec(spec(**{"methods": (), **kw}), tmp_path)
    assert e.value.field == field and "demo mode" in e.value.message


@pytest.mark.parametrize("kw", [
    {"methods": one("finetune", batch_size=64, epochs=5)},  # the defaults, given explicitly
    {"methods": one("finetune", batch_size=4096, epochs=1)},  # cheaper: larger batches, fewer epochs
    {"methods": one("scrub", msteps=0, forget_batch_size=64)},
    {"methods": one("ppu", refine_iters=100)},
    {"methods": one("influence", n_samples=200)},
    {"methods": one("ntk", retain_per_class=5)},
    {"methods": one("fisher", max_samples=10_000_000)},  # default none = the whole retain set: any subset is fine
    {"methods": one("kpriors", batch_size=None)},
    {"scenario": "incremental", "scenario_params": (("steps", 4), ("count", 50))},
    {"scenario": "incremental", "scenario_params": (("steps", 1), ("count", 10))},
    {"scenario": "random", "scenario_params": (("fraction", 0.05),)},
    {"train": (("epochs", 30), ("batch_size", 64))},  # digits' defaults
    {"train": (("epochs", 1), ("batch_size", 1797))},
])
def test_defaults_and_cheaper_settings_pass(tmp_path, kw):
    check_spec(spec(**{"methods": (), **kw}), tmp_path)


def test_the_factor_relaxes_every_cap_alike(tmp_path):
    lenient = DemoLimits(max_cost_factor=2.0)
    check_spec(spec(methods=one("finetune", epochs=10, batch_size=32)), tmp_path, lenient)
    check_spec(spec(scenario="incremental", scenario_params=(("steps", 8),), methods=()), tmp_path, lenient)
    for name, value, why in (("epochs", 11, "at most 10 (2 x the default 5"),
                             ("batch_size", 31, "at least 32 (the default 64 / 2")):
        with pytest.raises(SpecError) as e:
            check_spec(spec(methods=one("finetune", **{name: value})), tmp_path, lenient)
        assert e.value.field == f"methods.finetune.{name}" and why in e.value.message
    with pytest.raises(SpecError) as e:
        DemoLimits(max_cost_factor=0.5)  # below 1 would refuse the defaults themselves
    assert e.value.field == "max_cost_factor"


def test_the_train_cap_follows_the_dataset_x_model_default(tmp_path):
    # digits x resnet18 trains 15 epochs at batch 128 by default: its caps are those, not the schema's 30 / 64
    big = DemoLimits(large_models=True)
    check_spec(spec(model="resnet18", train=(("epochs", 15), ("batch_size", 128)), methods=()), tmp_path, big)
    with pytest.raises(SpecError) as e:
        check_spec(spec(model="resnet18", train=(("batch_size", 64),), methods=()), tmp_path, big)
    assert e.value.field == "train.batch_size"


def test_bad_scenario_values_still_name_their_field(tmp_path):
    with pytest.raises(SpecError) as e:
        check_spec(spec(scenario="incremental", scenario_params=(("steps", "many"),), methods=()), tmp_path)
    assert e.value.field == "scenario.steps"


def test_shadow_models_are_off_in_the_demo() -> None:
    import dataclasses

    from engine.demo import check_spec
    from engine.errors import SpecError
    from engine.spec import ComparisonSpec, MethodSpec

    spec = ComparisonSpec(methods=(MethodSpec("original"), MethodSpec("retrain")))
    check_spec(spec)
    with pytest.raises(SpecError) as err:
        check_spec(dataclasses.replace(spec, shadow_models=4))
    assert err.value.field == "shadow_models"
    with pytest.raises(SpecError) as err:
        check_spec(dataclasses.replace(spec, ulira_shadows=4))  # U-LiRA: off too (2K trainings + K runs a method)
    assert err.value.field == "ulira_shadows"
    check_spec(dataclasses.replace(spec, feature_audit=True))  # one cheap job per model: allowed


@pytest.mark.parametrize(("argv", "field"), [
    (["--hparam", "finetune.batch_size=1"], "methods.finetune.batch_size"),
    (["--hparam", "scrub.msteps=200", "--methods", "scrub"], "methods.scrub.msteps"),
    (["--train", "batch_size=1"], "train.batch_size"),
    (["--scenario", "incremental", "--steps", "100"], "scenario.steps"),
])
def test_the_cli_and_the_dashboard_refuse_alike(tmp_path, monkeypatch, capsys, argv, field):
    """Both front ends call :func:`check_spec`: the same spec is refused naming the same field."""
    from dashboard import data
    from engine.cli import _parser, build_spec, main

    monkeypatch.setenv("UNLEARN_DEMO", "1")
    argv = ["compare", "--methods", "finetune", "--cache-dir", str(tmp_path / "c"), *argv]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(f"error: {field}:")
    with pytest.raises(SpecError) as e:
        data.check_demo(build_spec(_parser().parse_args(argv)))
    assert e.value.field == field
