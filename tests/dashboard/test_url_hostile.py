"""A shared link is text from anyone: what the Compare page quotes from it renders as text, never as markup, and
every key or value it does not use is named (issue #11, item 6).

Streamlit renders alert and caption bodies as markdown, GFM autolinks included (``www.x``, ``a@b``, ``http://``
even backslash-escaped), so the page shows quoted text either unchanged (inert) or as a code span. The checks
below read the markdown source of each element: outside its code spans there is nothing a link, an image or
HTML could start from, and the hostile text is there, verbatim, inside one.
"""

from __future__ import annotations

import re

import pytest

from dashboard import state, url

LINK = "[x](http://evil.example)"
IMAGE = "![i](http://x.example/a.png)"
HTML = "<img src=x onerror=alert(1)>"
MARKUP = re.compile(r"\]\(|!\[|<|>|https?:|www\.|@|\$|`|:material/|:\w+\[", re.I)


def _code_spans(md: str) -> tuple[list[str], str]:
    """(contents of the code spans, the text outside them), by CommonMark's rule: a run of N backticks opens a
    span closed by the next run of exactly N; one space of padding on each side is dropped."""
    spans, outside, i = [], [], 0
    while i < len(md):
        m = re.compile(r"`+").search(md, i)
        if m is None:
            outside.append(md[i:])
            break
        outside.append(md[i:m.start()])
        close = re.compile(rf"(?<!`){m.group()}(?!`)").search(md, m.end())
        if close is None:
            outside.append(md[m.start():])
            break
        body = md[m.end():close.start()]
        spans.append(body[1:-1] if body.startswith(" ") and body.endswith(" ") and body.strip() else body)
        i = close.end()
    return spans, "".join(outside)


def _assert_quoted(md: str, hostile: str) -> None:
    spans, outside = _code_spans(md)
    assert any(hostile in s for s in spans), md  # shown verbatim, as typed
    assert not MARKUP.search(outside), md  # nothing outside a code span can become a link, image or HTML


def _notices(at) -> list[str]:
    return [w.value for w in at.warning if str(w.value).startswith("Link parameter ignored")]


def _notice(at, prefix: str) -> str:
    found = [n for n in _notices(at) if n.removeprefix("Link parameter ignored — ").lstrip("` ").startswith(prefix)]
    assert len(found) == 1, _notices(at)
    return found[0]


def _open(app, *pairs: tuple[str, str | list[str]]):
    at = app()
    for k, v in pairs:
        at.query_params[k] = v
    at.run()
    assert not at.exception
    return at


def test_a_link_in_a_value_is_quoted_as_text_and_the_widget_keeps_its_default(app):
    at = _open(app, ("dataset", LINK))
    _assert_quoted(_notice(at, "dataset:"), LINK)
    assert at.selectbox(key=state.DATASET).value == "digits"


def test_an_image_among_the_methods_is_quoted_and_the_known_methods_kept(app):
    at = _open(app, ("methods", f"{IMAGE},finetune"))
    _assert_quoted(_notice(at, "methods:"), IMAGE)
    assert at.multiselect(key=state.METHODS).value == ["finetune"]


def test_unknown_keys_are_listed_with_their_values_quoted(app):
    at = _open(app, ("foo", HTML), (HTML, "1"), ("www.evil.example", "a@b.example"), ("model", "mlp"))
    _assert_quoted(_notice(at, "foo:"), HTML)  # the value echoed in the notice
    _assert_quoted(_notice(at, HTML), HTML)  # a hostile key
    _assert_quoted(_notice(at, "www.evil.example"), "a@b.example")
    for k in ("foo", "www.evil.example"):
        assert "unknown link parameter" in _notice(at, f"{k}:")
    assert at.selectbox(key=state.MODEL).value == "mlp"  # the rest of the link still applies


@pytest.mark.parametrize("hostile", [":material/home: :red[x] $x$", "a\nb # heading", "bad `code` here",
                                     "\u202eevil"])
def test_icons_colours_math_newlines_and_backticks_stay_text(app, hostile):
    at = _open(app, ("zz", hostile))
    md = _notice(at, "zz:")
    assert "\n" not in md and "\u202e" not in md  # control and bidi characters are written as escapes
    spans, outside = _code_spans(md)
    assert len(spans) == 1 and not MARKUP.search(outside), md


def test_ignored_values_are_listed(app):
    """Every part of a link the page does not use says so: a rate the paradigm lacks, a hyper-parameter of a method
    that is not selected, a method listed twice, a number that is no plain number, a key given twice."""
    at = _open(app, ("rate", "0.3"), ("methods", "finetune,finetune"), ("h.laf.epochs", "3"), ("seeds", "1e3"),
               ("epochs", ["2", "4"]))
    assert "has no rate" in _notice(at, "rate:")
    assert "listed more than once" in _notice(at, "methods:")
    assert "'laf' is not selected" in _notice(at, "h.laf.epochs:")
    assert "expected a whole number" in _notice(at, "seeds:")
    assert "given 2 times" in _notice(at, "epochs:")
    assert at.multiselect(key=state.METHODS).value == ["finetune"]
    assert state.hparam("laf", "epochs") not in at.session_state
    assert at.number_input(key=state.SEEDS).value == 1
    assert at.number_input(key=state.epochs("digits", "cnn")).value == 4  # the last value, as Streamlit reads it


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:abc"])
def test_cuda_without_a_gpu_is_refused_when_the_link_opens(app, monkeypatch, device):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    at = _open(app, ("device", device))
    assert "needs a CUDA GPU" in _notice(at, "device:")
    assert at.selectbox(key=state.DEVICE).value == "auto"  # left at its default: Run does not fail later
    assert not at.error


def test_cuda_with_a_gpu_is_taken(app, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 1)
    at = _open(app, ("device", "cuda"))
    assert not _notices(at)
    assert at.selectbox(key=state.DEVICE).value == "cuda"


def test_the_validation_error_quotes_a_value_from_the_link_as_text(app):
    at = _open(app, ("scenario", "random"), ("s.classes", LINK))
    assert at.error and at.button(key="compare.run").disabled
    for e in at.error:  # the page's and the sidebar's
        _assert_quoted(e.value, LINK)


def test_the_setting_summary_quotes_text_parameters_from_the_link(app):
    """A dataset that is not embedded is validated only when run: its summary line still quotes the text."""
    at = _open(app, ("dataset", "cifar10"), ("scenario", "random"), ("s.classes", f"{LINK} www.evil.example"))
    (summary,) = [c.value for c in at.caption if "random (" in str(c.value)]
    _assert_quoted(summary, LINK)


def test_a_plain_link_reads_as_before(app):
    """Inert messages are left as they were (no code font for ordinary mistakes)."""
    at = _open(app, ("dataset", "nope"))
    assert _notice(at, "dataset:") == "Link parameter ignored — dataset: unknown value 'nope'; valid: " \
        "digits, mnist, fashion_mnist, cifar10, cifar100, svhn"


def test_a_link_with_many_unknown_keys_shows_a_bounded_number_of_notices(app):
    at = _open(app, *((f"k{i}", "v") for i in range(30)))
    assert len(_notices(at)) == url.MAX_NOTICES == 20
    assert any("and 10 more" in str(w.value) for w in at.warning)


# -- the quoting itself --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["dataset: unknown value 'nope'; valid: digits, fashion_mnist",
                                  "h.finetune.lr: must be in [1e-07, 10.0], got -1",
                                  "digits · supervised · class (forget_class=3) · cnn [epochs=4] · 6 methods"])
def test_inert_text_is_unchanged(text):
    assert url.literal(text) == text


@pytest.mark.parametrize("text", [LINK, IMAGE, HTML, "www.evil.example", "a@b.example", "http://x", ":smile:",
                                  ":material/home:", ":red[x]", "$x$", "*bold*", "_em_", "~~s~~", "&copy;", "[a][b]",
                                  "# h", "a\\b", "x ``` y", "`", "- item", "1. item", "+ x"])
def test_anything_else_becomes_one_code_span_holding_the_text(text):
    md = url.literal(text)
    spans, outside = _code_spans(md)
    assert outside == "" and len(spans) == 1
    assert spans[0].replace("\u2060", "") == text  # a word joiner keeps Streamlit off :material/ even in code


def test_long_text_is_cut():
    assert len(url.literal("x" * 10_000)) == url.MAX_QUOTED + 1
