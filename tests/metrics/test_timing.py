import dataclasses

from engine.metrics import METRICS
from engine.metrics.timing import speedup_vs_retrain, unlearn_seconds
from tests.metrics.conftest import make_inputs


def test_values():
    inp = make_inputs("class")  # unlearn 2 s, retrain 10 s
    assert unlearn_seconds(inp).value == 2.0
    assert speedup_vs_retrain(inp).value == 5.0


def test_not_applicable():
    inp = make_inputs("class")
    r = unlearn_seconds(dataclasses.replace(inp, unlearn_seconds=None))
    assert r.value is None and r.reason
    assert speedup_vs_retrain(dataclasses.replace(inp, retrain_seconds=None)).value is None
    assert speedup_vs_retrain(dataclasses.replace(inp, unlearn_seconds=None)).value is None
    r = speedup_vs_retrain(dataclasses.replace(inp, unlearn_seconds=0.0))
    assert r.value is None and r.reason


def test_metadata():
    assert METRICS.get("unlearn_seconds").direction == "lower"
    assert METRICS.get("speedup_vs_retrain").direction == "higher"
    assert METRICS.get("unlearn_seconds").group == "time"


# -- which clock the time metrics use (engine.metrics.timing.timed_seconds) -------------------------------------------
def _meta(device: str, wall: float, cpu: float | None) -> dict:
    meta = {"seconds": wall, "run": {"device": device}}
    if cpu is not None:
        meta["cpu_seconds"] = cpu
    return meta


def test_cpu_seconds_on_a_cpu_device():
    from engine.metrics.timing import timed_seconds

    assert timed_seconds(_meta("cpu", 3.0, 1.0), _meta("cpu", 20.0, 10.0)) == (1.0, 10.0)
    assert timed_seconds(None, _meta("cpu", 20.0, 10.0)) == (None, 10.0)  # a reference row: no unlearning


def test_wall_seconds_on_a_gpu():
    from engine.metrics.timing import timed_seconds

    assert timed_seconds(_meta("cuda:0", 3.0, 1.0), _meta("cuda:0", 20.0, 10.0)) == (3.0, 20.0)
    assert timed_seconds(_meta("cuda", 3.0, 1.0), None) == (3.0, None)


def test_results_cached_before_cpu_seconds_fall_back_to_wall_seconds_for_both():
    from engine.metrics.timing import timed_seconds

    assert timed_seconds(_meta("cpu", 3.0, None), _meta("cpu", 20.0, None)) == (3.0, 20.0)
    # an old retrain beside a new unlearning: one clock for both, never a mixed speed-up
    assert timed_seconds(_meta("cpu", 3.0, 1.0), _meta("cpu", 20.0, None)) == (3.0, 20.0)
    assert timed_seconds({"seconds": 3.0}, {"seconds": 20.0}) == (3.0, 20.0)  # no run record at all
    assert timed_seconds(None, None) == (None, None)


def test_descriptions_state_the_clock():
    for key in ("unlearn_seconds", "speedup_vs_retrain"):
        text = METRICS.get(key).description
        assert "CPU seconds on a CPU device" in text and "wall seconds on a GPU" in text
