"""DNA sets: labelled DNA vectors plus the provenance that makes them comparable.

Two DNA vectors can only be compared when they were extracted with the same probes, the same
embedder, the same generation settings and the same random projection. :class:`Provenance` records
exactly that, and every operation that combines DNA sets checks it.

File formats
------------
``*.json`` (ours)
    ``{"format": "phylo_llm.dna", "version": 1, "provenance": {...}, "labels": [...],
    "vectors": [[...], ...]}``. Floats are written with ``repr`` so they round-trip exactly.
``*.csv``
    ``model,d0,...,dN`` as published with the LLM-DNA paper. Carries no provenance: pass it.
``<model>_dna.json`` (llm-dna, the reference extractor)
    one model per file; see :func:`read_llm_dna_json`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..data import DnaSet, Provenance, merge_dna
from ..errors import PhyloLLMError
from ..util import atomic_write_text, check_choice, read_text

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "DnaFormat", "write_dna", "read_dna", "read_dna_csv", "read_llm_dna_json"]


FORMAT_NAME = "phylo_llm.dna"


FORMAT_VERSION = 1


DnaFormat = Literal["auto", "phylo_llm", "csv", "llm-dna"]


def write_dna(dna: DnaSet, path: str | Path) -> Path:
    """Write ``dna`` to ``path``: our JSON format for ``*.json``, plain CSV for ``*.csv``.

    The format is the one :func:`phylo_llm.io.format_for` registers for the suffix. The write
    is atomic (temporary file, then rename), so an interrupted run never leaves a truncated
    file behind.
    """
    from ._registry import format_for  # the registry imports this module's readers and writers

    path = Path(path)
    return format_for(path, kind="dna").write(dna, path)


def write_dna_json(dna: DnaSet, path: str | Path) -> Path:
    """Write ``dna`` in our JSON format (see the module docstring), atomically."""
    path = Path(path)
    doc = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "provenance": dna.provenance.to_dict(),
        "labels": list(dna.labels),
        "vectors": dna.vectors.tolist(),
    }
    atomic_write_text(path, json.dumps(doc, indent=None, separators=(",", ":"), allow_nan=False))
    return path


def write_dna_csv(dna: DnaSet, path: str | Path) -> Path:
    """Write ``dna`` as ``model,d0,...,dN`` CSV (no provenance), atomically."""
    path = Path(path)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["model", *[f"d{i}" for i in range(dna.dims)]])
    for lab, row in zip(dna.labels, dna.vectors):
        w.writerow([lab, *map(repr, row.tolist())])
    atomic_write_text(path, buf.getvalue())
    return path


def read_dna(
    path: str | Path,
    *,
    format: DnaFormat = "auto",
    provenance: Provenance | None = None,
) -> DnaSet:
    """Read a DNA set from a file or a directory of per-model files.

    Parameters
    ----------
    path
        Our ``.json`` file, a paper-style ``.csv``, an llm-dna ``<model>_dna.json``, or a directory
        holding several of these (merged; their provenance must agree).
    format
        ``"auto"`` detects the format from the file's suffix and content.
    provenance
        Provenance for formats that carry none (CSV); ignored for our own format, which has it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_dna(DnaSet(("m1", "m2"), [[0.5, 1], [2, 3]], Provenance(dims=2)), d / "x.json")
    >>> read_dna(d / "x.json").labels
    ('m1', 'm2')
    """
    check_choice("format", format, ["auto", *sorted(_READERS)])
    path = Path(path)
    if path.is_dir():
        return _read_dna_dir(path, format=format, provenance=provenance)
    if not path.exists():
        raise PhyloLLMError(f"DNA file {str(path)!r} does not exist")
    if format == "auto":
        return _registered(path).read(path, provenance)
    return _READERS[format](path, provenance)


def _read_dna_dir(path: Path, *, format: DnaFormat, provenance: Provenance | None) -> DnaSet:
    """A directory is either an extraction output (its merged ``dna.json``) or a folder of
    per-model DNA files (ours, llm-dna ``*_dna.json``, CSV). Other JSON files there — run
    summaries such as llm-dna's ``*_summary.json`` — are not DNA and are skipped."""
    merged = path / "dna.json"
    if merged.is_file():
        return read_dna(merged, format=format, provenance=provenance)
    files = []
    from ._registry import find_format

    for p in sorted(path.iterdir()):
        fmt = find_format(p, kind="dna")
        if fmt is not None and (fmt.name != "json" or _is_dna_json(p)):
            files.append(p)
    if not files:
        raise PhyloLLMError(
            f"directory {str(path)!r} holds no DNA files (a dna.json, per-model phylo_llm .json, "
            "llm-dna *_dna.json or .csv files)"
        )
    return merge_dna([read_dna(p, format=format, provenance=provenance) for p in files])


def _is_dna_json(path: Path) -> bool:
    try:
        doc = json.loads(read_text(path, what="DNA file"))
    except (json.JSONDecodeError, PhyloLLMError):  # not UTF-8: not one of ours either
        return False
    return isinstance(doc, dict) and (doc.get("format") == FORMAT_NAME or ("signature" in doc and "metadata" in doc))


def _registered(path: Path) -> Any:
    from ._registry import accepted, find_format

    fmt = find_format(path, kind="dna")
    if fmt is None:
        raise PhyloLLMError(f"cannot tell the format of {str(path)!r}: expected a {accepted('dna')} file")
    return fmt


def read_dna_json(path: str | Path, provenance: Provenance | None = None) -> DnaSet:
    """Read a ``.json`` DNA file: ours (``"format": "phylo_llm.dna"``) or llm-dna's, by content."""
    path = Path(path)
    try:
        doc = json.loads(read_text(path, what="DNA file"))
    except json.JSONDecodeError as exc:
        raise PhyloLLMError(f"{str(path)!r} is not valid JSON: {exc}") from None
    if isinstance(doc, dict) and doc.get("format") == FORMAT_NAME:
        return _read_ours(path, provenance)
    return read_llm_dna_json(path, provenance)


def _read_ours(path: Path, provenance: Provenance | None) -> DnaSet:
    doc = json.loads(read_text(path, what="DNA file"))
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise PhyloLLMError(f"{str(path)!r} is not a phylo_llm DNA file (no format marker)")
    version = doc.get("version")
    if version != FORMAT_VERSION:
        raise PhyloLLMError(
            f"{str(path)!r} has DNA format version {version!r}; this phylo_llm reads version {FORMAT_VERSION}"
        )
    prov = Provenance.from_dict(doc.get("provenance", {}))
    labels = tuple(doc["labels"])
    vectors = np.asarray(doc["vectors"], dtype=np.float64)
    if vectors.size == 0:
        vectors = vectors.reshape(0, prov.dims or 0)
    return DnaSet(labels, vectors, prov)


def read_dna_csv(path: str | Path, provenance: Provenance | None = None) -> DnaSet:
    """Read a ``model,d0..dN`` CSV (the LLM-DNA paper's published format).

    Provenance is not in the file: pass it, or it is recorded as unknown except for ``dims``.
    """
    path = Path(path)
    with io.StringIO(read_text(path, what="DNA file", newline="")) as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise PhyloLLMError(f"CSV DNA file {str(path)!r} is empty") from None
        if len(header) < 2:
            raise PhyloLLMError(
                f"CSV DNA file {str(path)!r} needs a model column and at least one dimension, got header {header}"
            )
        labels: list[str] = []
        rows: list[list[float]] = []
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise PhyloLLMError(f"{path.name}:{lineno}: expected {len(header)} fields, got {len(row)}")
            labels.append(row[0])
            try:
                rows.append([float(x) for x in row[1:]])
            except ValueError as exc:
                raise PhyloLLMError(f"{path.name}:{lineno}: {exc}") from None
    dims = len(header) - 1
    prov = provenance if provenance is not None else Provenance(dims=dims)
    vectors = np.asarray(rows, dtype=np.float64).reshape(len(rows), dims)
    return DnaSet(tuple(labels), vectors, prov)


def read_llm_dna_json(path: str | Path, provenance: Provenance | None = None) -> DnaSet:
    """Read one ``<model>_dna.json`` written by the reference extractor ``llm-dna``.

    That file is ``{"signature": [...], "metadata": {...}}`` (llm-dna's ``DNASignature.save``).
    Its metadata is mapped onto :class:`Provenance`: ``probe_set_id``, ``probe_count``, the
    encoder, the extraction method/pipeline version, the projection RNG, ``random_seed`` and
    ``dna_dimension``. ``provenance`` overrides that mapping when given.
    """
    path = Path(path)
    try:
        doc = json.loads(read_text(path, what="DNA file"))
    except json.JSONDecodeError as exc:
        raise PhyloLLMError(f"{str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or "signature" not in doc or "metadata" not in doc:
        keys = sorted(doc)[:20] if isinstance(doc, dict) else type(doc).__name__
        raise PhyloLLMError(
            f"{str(path)!r} is neither a phylo_llm DNA file nor an llm-dna file "
            f"(expected keys 'signature' and 'metadata'); found {keys}"
        )
    meta = doc["metadata"] if isinstance(doc["metadata"], dict) else {}
    cfg = meta.get("extractor_config") if isinstance(meta.get("extractor_config"), dict) else {}
    vector = np.asarray(doc["signature"], dtype=np.float64).reshape(1, -1)
    label = meta.get("model_name") or path.name.removesuffix(".json").removesuffix("_dna")
    if provenance is None:
        method = meta.get("extraction_method")
        version = cfg.get("pipeline_version")
        provenance = Provenance(
            probe_set=_str_or_none(meta.get("probe_set_id")),
            n_probes=_int_or_none(meta.get("probe_count")),
            embedder=_str_or_none(cfg.get("encoder_name") or cfg.get("encoder")),
            generation=None,
            recipe="llm-dna:" + "/".join(str(x) for x in (version, method) if x) if (version or method) else None,
            projection=_str_or_none(
                f"llm-dna:{cfg['projection_rng']}" if cfg.get("projection_rng") else meta.get("reduction_method")
            ),
            seed=_int_or_none(cfg.get("random_seed")),
            dims=vector.shape[1],
        )
    return DnaSet((str(label),), vector, provenance)


def _str_or_none(x: Any) -> str | None:
    return None if x is None else str(x)


def _int_or_none(x: Any) -> int | None:
    if x is None:
        return None
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


_READERS = {
    "phylo_llm": _read_ours,
    "csv": read_dna_csv,
    "llm-dna": read_llm_dna_json,
}
