"""Live progress of a run, engine side: per-epoch fields of the training and descent loops (numbers unchanged),
every job's terminal event reaching the caller with its seconds, and the duration estimates and ETA
(``engine.runner.eta``)."""

from __future__ import annotations

import copy
import dataclasses
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from engine import api
from engine.data import load_dataset
from engine.executors import LocalExecutor
from engine.methods.shared.descent import batches, descend_epochs, sgd
from engine.models import build_model
from engine.paradigms.base import cross_entropy, one_hot_supervision
from engine.runner import eta
from engine.spec import MethodSpec
from engine.store import Store
from engine.training import TrainConfig, fit
from engine.training.loop import report
from tests.runner.conftest import SETTINGS


class Fields:
    """A progress callback that takes the loops' fields (as a job's does), recording every call."""

    takes_fields = True

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, str, dict[str, Any]]] = []

    def __call__(self, done: int, total: int, message: str, **fields: Any) -> None:
        self.calls.append((done, total, message, fields))


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


# -- the loops' per-epoch fields ---------------------------------------------------------------------------------
def test_report_passes_fields_only_to_callbacks_that_take_them() -> None:
    plain: list[tuple] = []
    report(lambda d, t, m: plain.append((d, t, m)), 1, 2, "epoch 1/2", epoch=1, loss=0.5)
    rich = Fields()
    report(rich, 1, 2, "epoch 1/2", epoch=1, loss=0.5, acc=None)
    report(None, 1, 2, "nobody listens", epoch=1)
    assert plain == [(1, 2, "epoch 1/2")]
    assert rich.calls == [(1, 2, "epoch 1/2", {"epoch": 1, "loss": 0.5})]  # None values are left out


def test_fit_reports_epoch_loss_and_accuracy_and_trains_the_same_weights(tmp_path: Path) -> None:
    data = load_dataset("digits", tmp_path, device="cpu")
    sup = one_hot_supervision(data.y_train[:300], 10)
    cfg = TrainConfig(epochs=3, batch_size=64)
    plain_model, rich_model = (build_model("cnn", data.input_shape, 10, seed=0) for _ in range(2))
    messages: list[str] = []
    plain = fit(plain_model, data.x_train[:300], sup, cross_entropy, cfg, 0, lambda d, t, m: messages.append(m))
    rich = Fields()
    result = fit(rich_model, data.x_train[:300], sup, cross_entropy, cfg, 0, rich)
    assert _same(plain_model, rich_model) and result == dataclasses.replace(plain, seconds=result.seconds)
    assert [m for *_, m, _ in rich.calls] == messages  # the same messages as before
    fields = [f for *_, f in rich.calls]
    assert [f["epoch"] for f in fields] == [1, 2, 3]
    assert fields[-1]["loss"] == result.final_loss  # the epoch's mean loss, exactly the stored final loss
    assert all(0.0 <= f["acc"] <= 1.0 for f in fields) and fields[-1]["acc"] > fields[0]["acc"]
    json.dumps(fields)  # events are JSON


def test_descend_epochs_reports_the_epochs_mean_batch_loss_and_descends_the_same() -> None:
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(37, 5, generator=g), torch.randint(0, 3, (37,), generator=g)
    sup = one_hot_supervision(y, 3)

    def descent(model: nn.Module, progress: Callable | None, losses: list[float]) -> nn.Module:
        gen = torch.Generator().manual_seed(3)

        def loss_of(idx: torch.Tensor) -> torch.Tensor:
            loss = cross_entropy(model(x[idx]), sup.take(idx))
            losses.append(float(loss.detach()))
            return loss

        descend_epochs(sgd(model, 0.1), 2, lambda _: batches(37, 8, gen, torch.device("cpu")), loss_of, name="toy",
                       progress=progress)
        return model

    seen: list[float] = []
    rich = Fields()
    a = descent(copy.deepcopy(net), None, [])
    b = descent(copy.deepcopy(net), rich, seen)
    assert _same(a, b)
    per_epoch = len(seen) // 2  # 5 batches of 37 samples
    assert [c[3]["epoch"] for c in rich.calls] == [1, 2]
    for e, call in enumerate(rich.calls):
        assert call[3]["loss"] == pytest.approx(sum(seen[e * per_epoch:(e + 1) * per_epoch]) / per_epoch, rel=1e-6)
        assert "acc" not in call[3]


# -- events of a run ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def diverging(tmp_path_factory: pytest.TempPathFactory, trained_caches) -> tuple[Path, Any, list[tuple[str, dict]]]:
    """The runner tests' cnn setting with a gradient ascent that diverges, run in process; its events."""
    cache = trained_caches("cnn", tmp_path_factory.mktemp("diverging") / "cache")
    spec = dataclasses.replace(SETTINGS["cnn"], methods=(MethodSpec("original"), MethodSpec("retrain"),
                                                         MethodSpec("finetune"),
                                                         MethodSpec("gradient_ascent", (("lr", 0.3),))))
    events: list[tuple[str, dict]] = []
    result = api.run(spec, cache_dir=cache, data_dir="data", executor=LocalExecutor(workers=1),
                     on_event=lambda k, e: events.append((k, e)))
    return cache, result, events


def test_a_failing_jobs_failed_event_reaches_the_callback_with_its_seconds(diverging) -> None:
    _, result, events = diverging
    ga = next(j for j in result.plan.jobs if j.label.startswith("gradient_ascent"))
    assert result.outcomes[ga.key].status == "failed"
    last = [e for k, e in events if k == ga.key][-1]
    assert last["state"] == "failed" and "loss became" in last["message"] and last["elapsed"] > 0


def test_done_events_carry_the_jobs_seconds_and_epoch_points(diverging) -> None:
    _, result, events = diverging
    done = {k: e for k, e in events if e["state"] == "done"}
    assert done and all(e["elapsed"] > 0 for e in done.values())
    ft = next(j for j in result.plan.jobs if j.label.startswith("finetune"))
    points = [e for k, e in events if k == ft.key and "epoch" in e]
    assert points and all(isinstance(e["loss"], float) for e in points)
    assert [e["epoch"] for e in points] == list(range(1, len(points) + 1))


# -- estimates and the ETA ---------------------------------------------------------------------------------------
def test_estimate_takes_the_most_specific_history_then_a_default() -> None:
    plan = api.plan(api.make_spec(methods=["original", "retrain", "finetune"]))
    train = json.dumps([])
    history = [
        eta.Timing("original", "original", 2.0, "digits", "cnn", "cpu", train),
        eta.Timing("original", "original", 3.0, "digits", "cnn", "cpu", train),
        eta.Timing("original", "original", 10.0, "digits", "cnn", "cpu", train),
        eta.Timing("original", "original", 99.0, "digits", "cnn", "cpu", json.dumps([["epochs", 300]])),
        eta.Timing("retrain", "retrain", 7.0, "digits", "cnn", "cuda", train),  # another device: level 2
        eta.Timing("unlearn", "laf", 4.0, "digits", "cnn", "cpu", train),  # another method: level 3
        eta.Timing("evaluate", "evaluate finetune", 0.7, "cifar10", "resnet18", "cuda", train),  # level 4
        eta.Timing("evaluate", "evaluate finetune", 0.9, None, None, None, None),
    ]
    est = eta.estimate(plan.jobs, history, device="cpu")
    by_label = {j.label: (est.seconds[j.key], est.how[j.key]) for j in plan.jobs}
    assert by_label["original seed 0"] == (3.0, "history:0")
    assert by_label["retrain seed 0"] == (7.0, "history:2")
    assert by_label["finetune seed 0"] == (4.0, "history:3")
    assert by_label["evaluate finetune seed 0"] == (0.8, "history:4")
    assert by_label["problem seed 0"] == (eta.DEFAULT_SECONDS["problem"], "default")
    assert by_label["evaluate retrain seed 0"] == (eta.DEFAULT_SECONDS["evaluate"], "default")
    assert est.total() == pytest.approx(sum(s for s, _ in by_label.values()))


def test_estimate_plan_reads_the_stores_jobs(diverging) -> None:
    cache, result, _ = diverging
    spec = dataclasses.replace(result.plan.spec, methods=(MethodSpec("original"), MethodSpec("retrain"),
                                                          MethodSpec("finetune"), MethodSpec("laf")))
    plan = api.plan(spec, "data")
    est = api.estimate_jobs(plan, cache, "cpu")
    stored = api.stored_seconds([j.key for j in plan.jobs], cache)
    jobs = {j.label: j.key for j in plan.jobs}
    ft = jobs["finetune seed 0"]
    assert est.seconds[ft] == 0.0 and est.how[ft] == "stored" and est.stored[ft] == stored[ft] > 0
    laf = jobs["laf seed 0"]  # never run: estimated from the other unlearning jobs on this setting
    store = Store(cache)
    try:
        timings = eta.stored_timings(store)
    finally:
        store.close()
    unlearn = [t.seconds for t in timings if t.kind == "unlearn" and (t.dataset, t.model) == ("digits", "cnn")]
    assert est.how[laf] == "history:3" and est.seconds[laf] == pytest.approx(statistics.median(unlearn))
    assert est.how[jobs["evaluate laf seed 0"]].startswith("history:")
    assert all(t.seconds >= 0 and t.kind for t in timings)  # side results without a kind are left out


def test_eta_is_the_remaining_work_at_the_runs_pace() -> None:
    assert eta.eta_seconds(0.0, 0.0, 10.0) == pytest.approx(10.0)  # no evidence yet: the prior pace
    assert eta.eta_seconds(0.0, 0.0, 10.0, prior_pace=0.25) == pytest.approx(2.5)  # e.g. four workers
    # the run took twice its estimate so far: the rest is expected to, too (the prior pulls a little)
    assert eta.eta_seconds(20.0, 10.0, 10.0, prior_weight=0.0) == pytest.approx(20.0)
    assert 10.0 < eta.eta_seconds(20.0, 10.0, 10.0) < 20.0
    assert eta.eta_seconds(5.0, 10.0, 0.0) == 0.0 and eta.eta_seconds(-1.0, -1.0, -1.0) == 0.0
    assert api.eta_seconds(20.0, 10.0, 10.0) == eta.eta_seconds(20.0, 10.0, 10.0)
