"""Tests for the shared argument checks in :mod:`phylo_llm.util`."""

from __future__ import annotations

import numpy as np
import pytest

from phylo_llm.errors import PhyloLLMError
from phylo_llm.util import check_choice, check_fraction, check_int, check_number, check_unique, readonly


@pytest.mark.parametrize(
    "value,kw,expected",
    [
        (3, {}, 3),
        (0, {"min": 0}, 0),
        (np.int64(5), {"min": 1}, 5),
        (np.int32(-2), {"max": 0}, -2),
        (10, {"min": 1, "max": 10}, 10),
    ],
)
def test_check_int_accepts(value, kw, expected):
    out = check_int("n", value, **kw)
    assert out == expected and type(out) is int


@pytest.mark.parametrize(
    "value,kw,message",
    [
        (True, {}, "n must be an integer, got True"),
        (False, {"min": 0}, "n must be an integer >= 0, got False"),
        (np.bool_(True), {"min": 0}, r"n must be an integer >= 0, got np.True_"),
        (1.0, {"min": 1}, r"n must be an integer >= 1, got 1\.0"),
        ("3", {"min": 1}, "n must be an integer >= 1, got '3'"),
        (None, {"min": 1}, "n must be an integer >= 1, got None"),
        (0, {"min": 1}, "n must be an integer >= 1, got 0"),
        (np.int64(0), {"min": 1}, r"n must be an integer >= 1, got np.int64\(0\)"),
        (6, {"max": 5}, "n must be an integer <= 5, got 6"),
        (11, {"min": 1, "max": 10}, r"n must be an integer in \[1, 10\], got 11"),
        (0, {"min": 1, "note": "digits"}, r"n must be an integer >= 1 \(digits\), got 0"),
    ],
)
def test_check_int_rejects(value, kw, message):
    with pytest.raises(PhyloLLMError, match=f"^{message}$"):
        check_int("n", value, **kw)


def test_checks_raise_value_error():
    with pytest.raises(ValueError):
        check_int("n", -1, min=0)


@pytest.mark.parametrize(
    "value,kw",
    [
        (0.5, {"min": 0, "max": 1}),
        (0, {"min": 0, "max": 1}),
        (np.float32(0.25), {"min": 0}),
        (np.int64(7), {"max": 10}),
        (1e300, {}),
    ],
)
def test_check_number_accepts(value, kw):
    out = check_number("x", value, **kw)
    assert out == float(value) and type(out) is float


@pytest.mark.parametrize(
    "value,kw,message",
    [
        (True, {"min": 0, "max": 1}, r"x must be a number in \[0, 1\], got True"),
        ("0.5", {}, "x must be a finite number, got '0.5'"),
        (float("nan"), {"min": 0}, "x must be a finite number >= 0, got nan"),
        (float("inf"), {"min": 0}, "x must be a finite number >= 0, got inf"),
        (float("-inf"), {}, "x must be a finite number, got -inf"),
        (0, {"min": 0, "open_left": True}, "x must be a finite number > 0, got 0"),
        (2, {"max": 2, "open_right": True}, "x must be a finite number < 2, got 2"),
        (11, {"min": 0, "max": 10}, r"x must be a number in \[0, 10\], got 11"),
        (0, {"min": 0, "max": 1, "open_left": True}, r"x must be a number in \(0, 1\], got 0"),
    ],
)
def test_check_number_rejects(value, kw, message):
    with pytest.raises(PhyloLLMError, match=f"^{message}$"):
        check_number("x", value, **kw)


@pytest.mark.parametrize(
    "value,open_left,open_right,ok",
    [
        (0, False, False, True),
        (1, False, False, True),
        (0, True, False, False),
        (1, True, False, True),
        (1, False, True, False),
        (0.5, True, True, True),
        (np.float64(0.999), True, True, True),
        (-0.1, False, False, False),
        (False, False, False, False),
    ],
)
def test_check_fraction(value, open_left, open_right, ok):
    if ok:
        assert check_fraction("p", value, open_left=open_left, open_right=open_right) == float(value)
    else:
        interval = f"{'(' if open_left else '['}0, 1{')' if open_right else ']'}"
        with pytest.raises(
            PhyloLLMError,
            match=f"p must be a number in {interval}".replace("(", r"\(")
            .replace(")", r"\)")
            .replace("[", r"\[")
            .replace("]", r"\]"),
        ):
            check_fraction("p", value, open_left=open_left, open_right=open_right)


@pytest.mark.parametrize("allowed", [("nj", "upgma"), {"nj": 1, "upgma": 2}, ["nj", "upgma"]])
def test_check_choice_accepts(allowed):
    assert check_choice("method", "upgma", allowed) == "upgma"


@pytest.mark.parametrize("value", ["parsimony", ["nj"], None, 1, np.array(["nj", "nj"])])
def test_check_choice_rejects(value):
    with pytest.raises(PhyloLLMError, match=r"^method must be one of \['nj', 'upgma'\], got "):
        check_choice("method", value, {"nj": 1, "upgma": 2})


def test_check_choice_bool_is_not_int():
    with pytest.raises(PhyloLLMError, match="got True"):
        check_choice("level", True, [1, 2])


def test_check_unique():
    check_unique(["a", "b"], what="labels")
    with pytest.raises(PhyloLLMError, match=r"labels must be unique; duplicated: \['a'\]"):
        check_unique(["a", "b", "a", "a"], what="labels")


def test_readonly_copy_and_in_place():
    a = np.arange(4)
    b = readonly(a, np.float32, copy=True)
    assert b.dtype == np.float32 and not b.flags.writeable and a.flags.writeable
    c = readonly([1, 2], np.intp)
    assert c.dtype == np.intp and not c.flags.writeable
    assert readonly(a) is a and not a.flags.writeable
    assert readonly([], np.intp).dtype == np.intp
