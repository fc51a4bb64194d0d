"""Argument checks shared by every module: integers, numbers in a range, options, unique labels,
read-only arrays, helpful misses. Each check raises :class:`~phylo_llm.errors.PhyloLLMError` (a
``ValueError``) whose message names the parameter, the rule and the value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from types import MappingProxyType
from typing import Any, NoReturn

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ..errors import PhyloLLMError

__all__ = [
    "Picklable",
    "check_choice",
    "check_fraction",
    "check_int",
    "check_number",
    "check_unique",
    "labelled_rows",
    "missing_label_message",
    "readonly",
]


def readonly(a: ArrayLike, dtype: DTypeLike = None, *, copy: bool = False) -> NDArray[Any]:
    """Return ``a`` as a read-only array: how frozen dataclasses keep their arrays immutable.

    Parameters
    ----------
    a : array_like
        The values.
    dtype : data-type, optional
        Convert to this type (a copy only where the type differs).
    copy : bool, default False
        Always copy, so the caller's array stays writable. Without it an array of the right type
        is frozen in place (for arrays the caller has just built and hands over).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(3)
    >>> b = readonly(a, np.float32, copy=True)
    >>> b.flags.writeable, a.flags.writeable, b.dtype.name
    (False, True, 'float32')
    >>> readonly(a) is a, a.flags.writeable
    (True, False)
    """
    arr = np.array(a, dtype=dtype, copy=True) if copy else np.asarray(a, dtype=dtype)
    arr.flags.writeable = False
    return arr


class Picklable:
    """Mixin: pickling for a frozen dataclass whose ``__post_init__`` freezes its fields.

    Read-only mappings (``MappingProxyType``) do not pickle; this pickles them as dicts and runs
    ``__post_init__`` again on unpickling, so the copy is frozen (and checked) like the original.
    It is what sends an atlas to a worker process (``place --jobs``).
    """

    def __getstate__(self) -> dict[str, Any]:
        return {k: dict(v) if isinstance(v, MappingProxyType) else v for k, v in vars(self).items()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)
        self.__post_init__()  # type: ignore[attr-defined]


def check_unique(labels: Sequence[str], *, what: str) -> None:
    if len(set(labels)) != len(labels):
        seen: set[str] = set()
        dups = []
        for lab in labels:
            if lab in seen and lab not in dups:
                dups.append(lab)
            seen.add(lab)
        raise PhyloLLMError(f"{what} must be unique; duplicated: {dups[:10]}")


def missing_label_message(label: str, labels: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(label, list(labels), n=3)
    hint = f"; did you mean {close}?" if close else ""
    return f"model {label!r} is not in this set of {len(labels)} models{hint}"


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value: object) -> bool:
    return _is_int(value) or isinstance(value, (float, np.floating))


def _fail(
    name: str,
    value: object,
    kind: str,
    low: float | None,
    high: float | None,
    open_left: bool,
    open_right: bool,
    note: str | None,
) -> NoReturn:
    """Raise the message shared by the range checks: '<name> must be <kind> <bounds> (<note>), got <value>'."""
    if low is not None and high is not None:
        rule = f"{kind} in {'(' if open_left else '['}{low}, {high}{')' if open_right else ']'}"
    elif low is not None:
        rule = f"{kind} {'>' if open_left else '>='} {low}"
    elif high is not None:
        rule = f"{kind} {'<' if open_right else '<='} {high}"
    else:
        rule = kind
    note_s = f" ({note})" if note else ""
    raise PhyloLLMError(f"{name} must be {rule}{note_s}, got {value!r}")


def check_int(
    name: str, value: object, *, min: int | None = None, max: int | None = None, note: str | None = None
) -> int:
    """Check that ``value`` is an integer (Python or numpy, not bool) within ``[min, max]``.

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value : object
        What the caller passed.
    min, max : int, optional
        Inclusive bounds.
    note : str, optional
        What the number means, added in parentheses after the rule.

    Returns
    -------
    int
        ``value`` as a Python int.

    Examples
    --------
    >>> check_int("n_boot", 100, min=1)
    100
    >>> check_int("k", True, min=1)
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: k must be an integer >= 1, got True
    >>> check_int("precision", 0, min=1, note="significant digits")
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: precision must be an integer >= 1 (significant digits), got 0
    """
    if _is_int(value) and (min is None or value >= min) and (max is None or value <= max):  # type: ignore[operator]
        return int(value)  # type: ignore[call-overload]
    _fail(name, value, "an integer", min, max, False, False, note)


def check_number(
    name: str,
    value: object,
    *,
    min: float | None = None,
    max: float | None = None,
    open_left: bool = False,
    open_right: bool = False,
    note: str | None = None,
) -> float:
    """Check that ``value`` is a real number (int or float, Python or numpy, not bool) in a range.

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value : object
        What the caller passed.
    min, max : float, optional
        The bounds. NaN and infinities never pass (a one-sided rule says "a finite number").
    open_left, open_right : bool, default False
        Exclude ``min`` (``max``) itself.
    note : str, optional
        What the number means, added in parentheses after the rule.

    Returns
    -------
    float
        ``value`` as a Python float.

    Examples
    --------
    >>> check_number("temperature", 0.7, min=0, max=10)
    0.7
    >>> check_number("tol", -1, min=0)
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: tol must be a finite number >= 0, got -1
    """
    if _is_number(value):
        v = float(value)  # type: ignore[arg-type]
        low_ok = min is None or (v > min if open_left else v >= min)
        high_ok = max is None or (v < max if open_right else v <= max)
        if low_ok and high_ok and math.isfinite(v):
            return v
    bounded = min is not None and max is not None
    _fail(name, value, "a number" if bounded else "a finite number", min, max, open_left, open_right, note)


def check_fraction(name: str, value: object, *, open_left: bool = False, open_right: bool = False) -> float:
    """Check that ``value`` is a number in the unit interval: ``[0, 1]``, ``(0, 1)``, ``(0, 1]`` ...

    The same as :func:`check_number` with ``min=0, max=1``.

    Examples
    --------
    >>> check_fraction("alpha", 0.05, open_left=True, open_right=True)
    0.05
    >>> check_fraction("alpha", 1, open_left=True, open_right=True)
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: alpha must be a number in (0, 1), got 1
    """
    return check_number(name, value, min=0, max=1, open_left=open_left, open_right=open_right)


def check_choice(name: str, value: object, allowed: Iterable[Any]) -> Any:
    """Check that ``value`` is one of ``allowed`` (e.g. the keys of a dispatch dict).

    The message lists ``allowed`` in the order given: pass ``sorted(registry)`` for a sorted list.

    Returns
    -------
    object
        ``value``, unchanged.

    Examples
    --------
    >>> check_choice("method", "nj", ["nj", "upgma"])
    'nj'
    >>> check_choice("method", "parsimony", ["nj", "upgma"])
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: method must be one of ['nj', 'upgma'], got 'parsimony'
    """
    options = list(allowed)
    try:
        ok = any(value == o and type(value) is type(o) for o in options)
    except (TypeError, ValueError):  # an array or another value without a plain ==
        ok = False
    if not ok:
        raise PhyloLLMError(f"{name} must be one of {options}, got {value!r}")
    return value


def labelled_rows(
    labels: Any, values: Any, *, ndim: int, what: str, array: str, axes: str, rows: str
) -> tuple[tuple[str, ...], NDArray[np.float64]]:
    """``(labels, values)`` checked for a labelled array value: every label a non-empty string,
    ``values`` (called ``array`` in errors) a float64 copy with ``ndim`` axes (named ``axes``)
    and one row per label (``rows`` in errors).

    Examples
    --------
    >>> labelled_rows(["a", "b"], [[1, 2], [3, 4]], ndim=2, what="DNA", array="DNA vectors",
    ...               axes="models x dims", rows="DNA vectors")[0]
    ('a', 'b')
    >>> labelled_rows(["a"], [[1, 2], [3, 4]], ndim=2, what="DNA", array="DNA vectors",
    ...               axes="models x dims", rows="DNA vectors")
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: number of labels (1) must match the number of DNA vectors (2)
    """
    labels = tuple(labels)
    for lab in labels:
        if not isinstance(lab, str) or lab == "":
            raise PhyloLLMError(f"{what} labels must be non-empty strings, got {lab!r}")
    arr = np.array(values, dtype=np.float64, copy=True)
    if arr.ndim != ndim:
        raise PhyloLLMError(f"{array} must be a {ndim}-D array ({axes}), got shape {arr.shape}")
    if arr.shape[0] != len(labels):
        raise PhyloLLMError(f"number of labels ({len(labels)}) must match the number of {rows} ({arr.shape[0]})")
    return labels, arr
