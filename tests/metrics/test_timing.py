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
