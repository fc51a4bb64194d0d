"""Model metadata: read the label table and join it to DNA sets by model id.

The table has one row per model, keyed by the ``model`` column (the Hugging Face id, the same
string that labels the DNA vectors). The reference layout is the LLM-DNA paper's
``models_meta.csv``::

    model,organization,family,base_model,relation,architecture,release,params_b,source

Only ``model`` is required by :func:`read_meta`; analyses ask for the columns they need
(:func:`require_columns`) and say which are missing. ``release`` (``YYYY-MM``, also ``YYYY`` or
``YYYY-MM-DD``) is parsed into two derived columns:

``release_date``  a :class:`pandas.Timestamp` (the first day of the month for ``YYYY-MM``);
``release_year``  a decimal year at the *middle* of the stated period (``2024-05`` → 2024.375),
                  so a month-precision date is not biased early by half a month.

Missing release dates stay missing (``NaT``/``nan``); analyses that need a date drop those models
and report how many. A malformed date is an error naming the row, never silently dropped.

Family
------
``family`` in the table is a curated label. Where model directories are available, a structural
family (architecture + tokenizer fingerprint, see :mod:`phylo_llm.analysis`) can be computed
elsewhere and passed to :func:`join_meta` as ``families={model: family}``; those values override
the table and are marked in the ``family_source`` column.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import PhyloLLMError
from ..util import check_unique, read_text
from ._dna import DnaSet

__all__ = [
    "META_COLUMNS",
    "read_meta",
    "parse_release",
    "join_meta",
    "require_columns",
    "format_release",
    "read_families",
    "meta_frame",
]

#: Columns of the reference table, in order. Only ``model`` is mandatory.
META_COLUMNS: tuple[str, ...] = (
    "model",
    "organization",
    "family",
    "base_model",
    "relation",
    "architecture",
    "release",
    "params_b",
    "source",
)

_SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": "\t"}
_RELEASE_RE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_STRING_COLUMNS = ("model", "organization", "family", "base_model", "relation", "architecture", "source")


def parse_release(value: object) -> tuple[pd.Timestamp, float]:
    """Parse one release value into ``(timestamp, decimal_year)``.

    ``YYYY`` → mid-year, ``YYYY-MM`` → mid-month, ``YYYY-MM-DD`` → that day (noon). Missing values
    (``None``, ``nan``, empty string) give ``(NaT, nan)``.

    Raises
    ------
    PhyloLLMError
        For anything else (the message quotes the value).

    Examples
    --------
    >>> ts, year = parse_release("2024-05")
    >>> str(ts.date()), year
    ('2024-05-01', 2024.375)
    >>> parse_release("")[1]
    nan
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return pd.NaT, float("nan")
    text = str(value).strip()
    if text == "" or text.lower() in ("nan", "na", "none", "unknown"):
        return pd.NaT, float("nan")
    m = _RELEASE_RE.match(text)
    if m is None:
        raise PhyloLLMError(f"release must look like YYYY, YYYY-MM or YYYY-MM-DD, got {text!r}")
    year = int(m.group(1))
    month = int(m.group(2)) if m.group(2) else None
    day = int(m.group(3)) if m.group(3) else None
    if month is not None and not 1 <= month <= 12:
        raise PhyloLLMError(f"release month must be 01..12, got {text!r}")
    try:
        ts = pd.Timestamp(year=year, month=month or 1, day=day or 1)
    except ValueError as exc:
        raise PhyloLLMError(f"release {text!r} is not a valid date: {exc}") from None
    if month is None:
        dec = year + 0.5
    elif day is None:
        dec = year + (month - 0.5) / 12.0
    else:
        start = pd.Timestamp(year=year, month=1, day=1)
        days = (pd.Timestamp(year=year + 1, month=1, day=1) - start).days
        dec = year + ((ts - start).days + 0.5) / days
    return ts, float(dec)


def format_release(year: float) -> str:
    """``YYYY-MM`` of a decimal year from :func:`parse_release` (``"unknown"`` for nan).

    Examples
    --------
    >>> format_release(parse_release("2024-05")[1]), format_release(float("nan"))
    ('2024-05', 'unknown')
    """
    if year is None or not np.isfinite(year):
        return "unknown"
    y = int(np.floor(year))
    month = int(np.clip(np.floor((year - y) * 12) + 1, 1, 12))
    return f"{y}-{month:02d}"


def read_meta(path: str | Path, *, sep: str | None = None) -> pd.DataFrame:
    """Read a model metadata table (CSV or TSV, chosen by suffix unless ``sep`` is given).

    Parameters
    ----------
    path
        ``.csv`` (comma) or ``.tsv``/``.tab``/``.txt`` (tab).
    sep
        Field separator, overriding the suffix.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``model`` (unique), with the file's columns plus ``release_date`` and
        ``release_year`` when a ``release`` column exists.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "meta.csv"
    >>> _ = p.write_text("model,family,release\\na/x,llama,2023-07\\nb/y,qwen,2024-09\\n")
    >>> meta = read_meta(p)
    >>> meta.loc["b/y", "release_year"]
    np.float64(2024.7083333333333)
    """
    path = Path(path)
    if not path.is_file():
        raise PhyloLLMError(f"metadata file {str(path)!r} does not exist")
    if sep is None:
        suffix = path.suffix.lower()
        if suffix not in _SEPARATORS:
            raise PhyloLLMError(
                f"metadata file must end in one of {sorted(_SEPARATORS)} (or pass sep=), got {path.name!r}"
            )
        sep = _SEPARATORS[suffix]
    text = read_text(path, what="metadata file", newline="")
    _check_rectangular(text, sep, path)
    # Everything as text first: ids like "01-ai/Yi" or families like "t5" must not be coerced.
    df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    return meta_frame(df, source=str(path))


def _check_rectangular(text: str, sep: str, path: Path) -> None:
    """Every row has the header's number of fields: a short row would silently lose its values."""
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    rows = [(reader.line_num, r) for r in reader if r]
    if not rows:
        raise PhyloLLMError(f"metadata file {str(path)!r} is empty; it needs a header row with 'model'")
    width = len(rows[0][1])
    bad = [(i, len(r)) for i, r in rows[1:] if len(r) != width]
    if bad:
        i, n = bad[0]
        raise PhyloLLMError(
            f"metadata file {str(path)!r}: line {i} has {n} field(s) but the header has {width}"
            + (f" ({len(bad)} such rows)" if len(bad) > 1 else "")
            + f"; separate fields with {sep!r} and quote values that contain it"
        )


def meta_frame(df: pd.DataFrame, *, source: str = "metadata") -> pd.DataFrame:
    """Validate and normalise a metadata :class:`~pandas.DataFrame` (the work of :func:`read_meta`).

    ``df`` must have a ``model`` column (or be indexed by ``model``). Returns a new frame indexed by
    ``model`` with ``params_b`` numeric and ``release_date``/``release_year`` derived.

    Examples
    --------
    >>> m = meta_frame(pd.DataFrame({"model": ["a", "b"], "release": ["2020", None]}))
    >>> m["release_year"].tolist()
    [2020.5, nan]
    """
    df = df.copy()
    if df.index.name == "model" and "model" not in df.columns:
        df = df.reset_index()
    if "model" not in df.columns:
        raise PhyloLLMError(f"{source}: metadata needs a 'model' column; found columns {list(df.columns)}")
    models = df["model"]
    if models.isna().any():
        rows = [int(i) + 2 for i in np.flatnonzero(models.isna().to_numpy())[:5]]
        raise PhyloLLMError(f"{source}: 'model' must not be empty (file line(s) {rows})")
    models = models.astype(str).str.strip()
    dup = models[models.duplicated()].unique().tolist()
    if dup:
        raise PhyloLLMError(f"{source}: model ids must be unique; duplicated: {dup[:10]}")
    df["model"] = models
    for col in _STRING_COLUMNS:
        if col in df.columns and col != "model":
            df[col] = df[col].astype("string").str.strip()
    if "params_b" in df.columns:
        num = pd.to_numeric(df["params_b"], errors="coerce")
        bad = num.isna() & df["params_b"].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise PhyloLLMError(
                f"{source}: params_b must be a number, got {df['params_b'].iloc[i]!r} for model {models.iloc[i]!r}"
            )
        df["params_b"] = num.astype(float)
    if "release" in df.columns:
        dates, years = [], []
        for model, value in zip(models, df["release"]):
            try:
                ts, year = parse_release(value)
            except PhyloLLMError as exc:
                raise PhyloLLMError(f"{source}: model {model!r}: {exc}") from None
            dates.append(ts)
            years.append(year)
        df["release_date"] = pd.to_datetime(pd.Series(dates, index=df.index))
        df["release_year"] = np.asarray(years, dtype=float)
    return df.set_index("model", drop=True)


def read_families(path: str | Path) -> dict[str, str]:
    """Read a ``model,family`` table (CSV/TSV by suffix) into ``{model: family}`` for overrides.

    This is how structural families (:mod:`phylo_llm.analysis`) reach :func:`join_meta` from the
    command line. Both columns are required; models must be unique and families non-empty.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "fam.csv"
    >>> _ = p.write_text("model,family\\na/x,llama:3f2a\\n")
    >>> read_families(p)
    {'a/x': 'llama:3f2a'}
    """
    df = read_meta(path)
    if "family" not in df.columns:
        raise PhyloLLMError(
            f"{str(path)!r}: a families table needs columns 'model' and 'family', got {['model', *df.columns]}"
        )
    empty = df.index[df["family"].isna()].tolist()
    if empty:
        raise PhyloLLMError(f"{str(path)!r}: {len(empty)} model(s) have an empty family: {_show(empty)}")
    return {str(k): str(v) for k, v in df["family"].items()}


def require_columns(meta: pd.DataFrame, columns: Iterable[str], *, purpose: str) -> None:
    """Raise naming the missing columns when ``meta`` lacks any of ``columns``.

    Examples
    --------
    >>> require_columns(pd.DataFrame({"family": []}), ["family", "release_year"], purpose="speed")
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: speed needs metadata column(s) ['release_year'] (have ['family']); release_year comes from a 'release' column (YYYY-MM)
    """
    missing = [c for c in columns if c not in meta.columns]
    if missing:
        hint = "; release_year comes from a 'release' column (YYYY-MM)" if "release_year" in missing else ""
        raise PhyloLLMError(f"{purpose} needs metadata column(s) {missing} (have {list(meta.columns)}){hint}")


def join_meta(
    models: DnaSet | Iterable[str],
    meta: pd.DataFrame,
    *,
    allow_extra: bool = False,
    allow_missing: bool = False,
    families: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Metadata rows for ``models``, in their order; unmatched ids are an error listing them.

    Parameters
    ----------
    models
        A :class:`~phylo_llm.DnaSet` (its labels) or model ids.
    meta
        Table from :func:`read_meta` / :func:`meta_frame` (indexed by ``model``).
    allow_extra
        Accept metadata rows for models not in ``models`` (they are left out). Off by default so a
        typo in an id is caught in both directions.
    allow_missing
        Accept models with no metadata row (their columns are missing values). Off by default.
    families
        ``{model: family}`` overriding the table's ``family`` (e.g. structural families computed
        from config/tokenizer files). Every key must be one of ``models``.

    Returns
    -------
    pandas.DataFrame
        Indexed by model id in the order of ``models``; adds ``family_source`` (``"table"``,
        ``"override"`` or missing) when a ``family`` column exists or ``families`` is given.

    Raises
    ------
    PhyloLLMError
        Listing the DNA ids without metadata and/or the metadata ids without DNA.

    Examples
    --------
    >>> meta = meta_frame(pd.DataFrame({"model": ["a", "b", "c"], "family": ["x", "x", "y"]}))
    >>> join_meta(["b", "a"], meta, allow_extra=True)["family"].tolist()
    ['x', 'x']
    >>> join_meta(["a", "zz"], meta, allow_extra=True)
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: 1 model id(s) have no metadata row: ['zz']
    """
    labels = tuple(models.labels) if isinstance(models, DnaSet) else tuple(models)
    check_unique(labels, what="model ids to join")
    if meta.index.name != "model":
        meta = meta_frame(meta)
    in_meta = set(meta.index)
    label_set = set(labels)
    missing = [lab for lab in labels if lab not in in_meta]
    extra = sorted(in_meta - label_set)
    problems = []
    if missing and not allow_missing:
        problems.append(
            f"{len(missing)} model id(s) have no metadata row: {_show(missing)}" + _near_hint(missing, extra)
        )
    if extra and not allow_extra:
        problems.append(
            f"{len(extra)} metadata row(s) match no model id: {_show(extra)} "
            "(to ignore them: leave out --strict-meta; in Python, allow_extra=True)"
        )
    if problems:
        raise PhyloLLMError("; ".join(problems))
    out = meta.reindex(list(labels))
    out.index.name = "model"
    if "family" in out.columns or families:
        if "family" not in out.columns:
            out["family"] = pd.Series(pd.NA, index=out.index, dtype="string")
        source = pd.Series(pd.NA, index=out.index, dtype="string")
        source[out["family"].notna()] = "table"
        if families:
            unknown = sorted(set(families) - label_set)
            if unknown:
                raise PhyloLLMError(
                    f"families override names {len(unknown)} model(s) not being joined: {_show(unknown)}"
                )
            keys = list(families)
            out["family"] = out["family"].astype("string")
            out.loc[keys, "family"] = [str(families[k]) for k in keys]
            source[keys] = "override"
        out["family_source"] = source
    return out


def _show(ids: list[str], limit: int = 20) -> str:
    shown = ids[:limit]
    more = f" ... and {len(ids) - limit} more" if len(ids) > limit else ""
    return f"{shown}{more}"


def _near_hint(missing: list[str], extra: list[str]) -> str:
    import difflib

    # Case-insensitive first: "org/Model" vs "org/model" is the commonest id slip.
    lower = {e.lower(): e for e in extra}
    pairs = []
    for lab in missing[:5]:
        close = difflib.get_close_matches(lab.lower(), list(lower), n=1, cutoff=0.8)
        if close:
            pairs.append(f"{lab!r} ~ {lower[close[0]]!r}")
    return f" (near matches: {', '.join(pairs)})" if pairs else ""
