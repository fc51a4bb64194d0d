"""The one table of file formats: suffix -> (kind of content, reader, writer).

Every place that chooses a format by a file's name (``write_dna``, ``read_dna``,
``read_distance_matrix``, ``write_distance_matrix``, ``write_contributions``, the CLI's input
detection and tree outputs, atlas files) asks :func:`format_for` or :func:`find_format`, so the
accepted suffixes and the error that lists them are defined once. Suffixes match
case-insensitively (``X.CSV`` is a CSV file). A suffix can serve several kinds (``.csv`` holds DNA,
a distance matrix or a metadata table); the caller says which kind it wants.

Kinds whose reader lives in a higher layer (atlases in :mod:`phylo_llm.atlas`) are registered for
their suffix only; :mod:`phylo_llm.data` (below this package) keeps the separator of each metadata
suffix itself, and a test checks that it lists the suffixes registered here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..data import read_meta
from ..errors import PhyloLLMError
from ._contributions import read_contributions, write_contributions
from ._distance import read_distance_csv, read_phylip, write_distance_csv, write_phylip
from ._dna import read_dna_csv, read_dna_json, write_dna_csv, write_dna_json
from ._newick import read_newick, write_newick, write_nexus

__all__ = ["FORMATS", "FileFormat", "FileKind", "accepted", "find_format", "format_for", "kinds_of"]


FileKind = Literal["dna", "distance", "contributions", "tree", "meta", "atlas"]


@dataclass(frozen=True)
class FileFormat:
    """One registered file format.

    Attributes
    ----------
    suffix
        Lower-case file suffix with its dot, e.g. ``".phy"``.
    kind
        What the file holds.
    name
        The format's name within its kind (``"csv"``, ``"phylip"``, ``"nexus"``, ...).
    read, write
        ``read(path, ...)`` and ``write(value, path, ...)``; ``None`` where the kind's reader
        or writer lives in a higher layer or does not exist (metadata tables are only read).
    """

    suffix: str
    kind: FileKind
    name: str
    read: Callable[..., Any] | None = field(default=None, repr=False)
    write: Callable[..., Any] | None = field(default=None, repr=False)


FORMATS: tuple[FileFormat, ...] = (
    FileFormat(".json", "dna", "json", read_dna_json, write_dna_json),
    FileFormat(".csv", "dna", "csv", read_dna_csv, write_dna_csv),
    FileFormat(".csv", "distance", "csv", read_distance_csv, write_distance_csv),
    FileFormat(".phy", "distance", "phylip", read_phylip, write_phylip),
    FileFormat(".phylip", "distance", "phylip", read_phylip, write_phylip),
    FileFormat(".dist", "distance", "phylip", read_phylip, write_phylip),
    FileFormat(".npz", "contributions", "npz", read_contributions, write_contributions),
    FileFormat(".nwk", "tree", "newick", read_newick, write_newick),
    FileFormat(".newick", "tree", "newick", read_newick, write_newick),
    FileFormat(".tre", "tree", "newick", read_newick, write_newick),
    FileFormat(".tree", "tree", "newick", read_newick, write_newick),
    FileFormat(".treefile", "tree", "newick", read_newick, write_newick),
    FileFormat(".nex", "tree", "nexus", read_newick, write_nexus),
    FileFormat(".nexus", "tree", "nexus", read_newick, write_nexus),
    FileFormat(".csv", "meta", "csv", read_meta),
    FileFormat(".tsv", "meta", "tsv", read_meta),
    FileFormat(".tab", "meta", "tsv", read_meta),
    FileFormat(".txt", "meta", "tsv", read_meta),
    FileFormat(".npz", "atlas", "npz"),
)


_BY_KEY: dict[tuple[str, str], FileFormat] = {(f.suffix, f.kind): f for f in FORMATS}

_KINDS: tuple[str, ...] = tuple(dict.fromkeys(f.kind for f in FORMATS))

# How errors name a file of each kind (kept as the messages were before the registry).
_WHAT: dict[str, str] = {
    "dna": "DNA file name",
    "distance": "distance matrix file",
    "contributions": "contributions file",
    "tree": "tree file",
    "meta": "metadata file",
    "atlas": "atlas file",
}


def _check_kind(kind: str) -> None:
    if kind not in _KINDS:
        raise PhyloLLMError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")


def accepted(kind: FileKind) -> str:
    """The suffixes registered for ``kind``, as a phrase: ``".csv, .phy, .phylip or .dist"``.

    Examples
    --------
    >>> accepted("dna")
    '.json or .csv'
    """
    _check_kind(kind)
    sfx = [f.suffix for f in FORMATS if f.kind == kind]
    return sfx[0] if len(sfx) == 1 else f"{', '.join(sfx[:-1])} or {sfx[-1]}"


def find_format(path: str | Path, *, kind: FileKind) -> FileFormat | None:
    """The format registered for ``path``'s suffix (any case) and ``kind``, or ``None``.

    Examples
    --------
    >>> find_format("tree.NEX", kind="tree").name
    'nexus'
    >>> find_format("tree.nex", kind="dna") is None
    True
    """
    _check_kind(kind)
    return _BY_KEY.get((Path(path).suffix.lower(), kind))


def format_for(path: str | Path, *, kind: FileKind) -> FileFormat:
    """The format registered for ``path``'s suffix and ``kind``; an error naming both otherwise.

    Raises
    ------
    PhyloLLMError
        ``"<kind> file must end in <accepted suffixes>, got '<name>'"``.

    Examples
    --------
    >>> format_for("d.PHY", kind="distance").name
    'phylip'
    >>> format_for("d.txt", kind="distance")
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: distance matrix file must end in .csv, .phy, .phylip or .dist, got 'd.txt'
    """
    fmt = find_format(path, kind=kind)
    if fmt is None:
        raise PhyloLLMError(f"{_WHAT[kind]} must end in {accepted(kind)}, got {Path(path).name!r}")
    return fmt


def kinds_of(path: str | Path) -> tuple[FileKind, ...]:
    """Every kind registered for ``path``'s suffix, in table order.

    Examples
    --------
    >>> kinds_of("x.csv"), kinds_of("x.phy"), kinds_of("x.bin")
    (('dna', 'distance', 'meta'), ('distance',), ())
    """
    suffix = Path(path).suffix.lower()
    return tuple(f.kind for f in FORMATS if f.suffix == suffix)
