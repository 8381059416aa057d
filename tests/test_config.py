"""engine.config: param() metadata, schema(), and build_config's coercion and validation (errors name where.field)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import pytest

from engine.config import ParamSchema, build_config, config_dict, param, schema
from engine.errors import SpecError


@dataclass(frozen=True)
class Demo:
    n: int = param(3, "an integer", range=(1, 10))
    lr: float = param(0.1, "a float", range=(0.0, 1.0), log=True, source="paper X")
    flag: bool = param(False, "a switch")
    k: int | None = param(None, "optional integer", range=(0, 5))
    scale: float | None = param(None, "optional float")
    mode: str = param("a", "one of a/b", choices=("a", "b"))
    name: str = param("x", "free text")
    free: float = param(1.0, "a float without range")


def build(**values: object) -> Demo:
    return build_config(Demo, values, "where")


def error(**values: object) -> SpecError:
    with pytest.raises(SpecError) as e:
        build(**values)
    return e.value


def test_defaults() -> None:
    assert build() == Demo()
    assert build_config(Demo, None, "where") == Demo()
    assert isinstance(build(), Demo)
    with pytest.raises(dataclasses.FrozenInstanceError):
        build().n = 4  # type: ignore[misc]


@pytest.mark.parametrize("field,text,value", [
    ("n", "3", 3), ("n", 7.0, 7), ("n", " 4 ", 4), ("lr", "0.5", 0.5), ("lr", "1e-3", 1e-3), ("lr", 1, 1.0),
    ("flag", "true", True), ("flag", "True", True), ("flag", "yes", True), ("flag", "1", True),
    ("flag", "false", False), ("flag", "no", False), ("flag", "0", False), ("flag", 1, True),
    ("k", "none", None), ("k", "None", None), ("k", "", None), ("k", None, None), ("k", "2", 2),
    ("scale", "none", None), ("scale", "2.5", 2.5), ("mode", "b", "b"), ("name", 12, "12"),
])
def test_coercion_from_strings(field: str, text: object, value: object) -> None:
    got = getattr(build(**{field: text}), field)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("field,bad", [
    ("n", "3.5"), ("n", 3.5), ("n", "abc"), ("lr", "fast"), ("flag", "maybe"), ("k", "two"),
])
def test_type_errors_name_the_field(field: str, bad: object) -> None:
    assert error(**{field: bad}).field == f"where.{field}"


@pytest.mark.parametrize("field,value", [("n", None), ("n", "none"), ("lr", ""), ("flag", None)])
def test_required_value(field: str, value: object) -> None:
    e = error(**{field: value})
    assert e.field == f"where.{field}" and "required" in e.message


@pytest.mark.parametrize("field,bad", [
    ("n", 0), ("n", 11), ("n", "-5"), ("lr", -0.01), ("lr", "1.5"), ("k", 6), ("k", "-1"),
])
def test_range_violation(field: str, bad: object) -> None:
    e = error(**{field: bad})
    assert e.field == f"where.{field}"
    assert "must be in" in e.message


def test_range_is_inclusive() -> None:
    assert build(n=1, lr=0.0, k=0).n == 1
    assert build(n=10, lr=1.0, k=5).k == 5


def test_unknown_parameter() -> None:
    e = error(bogus=1)
    assert e.field == "where.bogus"
    for name in ("n", "lr", "flag", "k", "mode"):
        assert name in e.message


def test_choices_enforced() -> None:
    e = error(mode="c")
    assert e.field == "where.mode"
    assert "'a'" in e.message and "'b'" in e.message


@pytest.mark.parametrize("field", ["lr", "scale", "free"])
@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", math.nan, math.inf])
def test_non_finite_floats_rejected(field: str, bad: object) -> None:
    e = error(**{field: bad})
    assert e.field == f"where.{field}"


def test_bad_default_is_caught() -> None:
    @dataclass(frozen=True)
    class BadDefault:
        n: int = param(100, "out of its own range", range=(1, 10))

    with pytest.raises(SpecError) as e:
        build_config(BadDefault, {}, "cfg")
    assert e.value.field == "cfg.n"


def test_schema_types_and_metadata() -> None:
    s = {p.name: p for p in schema(Demo)}
    assert [p.name for p in schema(Demo)] == [f.name for f in dataclasses.fields(Demo)]
    assert {n: p.type for n, p in s.items()} == {
        "n": "int", "lr": "float", "flag": "bool", "k": "int_or_none", "scale": "float_or_none",
        "mode": "choice", "name": "str", "free": "float",
    }
    assert s["n"] == ParamSchema("n", "int", 3, "an integer", (1, 10), None, False, "")
    assert s["lr"].log is True and s["lr"].source == "paper X" and s["lr"].range == (0.0, 1.0)
    assert s["mode"].choices == ("a", "b") and s["mode"].default == "a"
    assert s["k"].default is None and s["free"].range is None and s["flag"].choices is None


def test_config_dict() -> None:
    assert config_dict(build(n="4")) == {"n": 4, "lr": 0.1, "flag": False, "k": None, "scale": None, "mode": "a",
                                         "name": "x", "free": 1.0}


@dataclass(frozen=True)
class Texts:
    text: str = param("", "free text that may be empty")
    schedule: str = param("cosine", "schedule", choices=("none", "cosine"))


def test_empty_string_is_a_valid_str_value() -> None:
    assert build_config(Texts, {}, "where").text == ""


def test_choice_named_none_is_accepted() -> None:
    assert build_config(Texts, {"text": "t", "schedule": "none"}, "where").schedule == "none"
