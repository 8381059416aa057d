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
    lenient = DemoLimits(max_seeds=5, max_epoch_factor=2.0)
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
