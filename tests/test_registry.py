"""The io registry (phylo_llm/io/_registry.py): one suffix -> (kind, reader, writer) table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phylo_llm import DistanceMatrix, DnaSet, PhyloLLMError, ProbeContributions, Provenance
from phylo_llm.commands._common import input_kind
from phylo_llm.data import read_meta
from phylo_llm.data._meta import _SEPARATORS
from phylo_llm.io import (
    FORMATS,
    accepted,
    find_format,
    format_for,
    kinds_of,
    parse_newick,
    read_contributions,
    read_distance_matrix,
    read_dna,
    read_newick,
    to_newick,
    write_distance_matrix,
    write_dna,
)


def _dna() -> DnaSet:
    return DnaSet(("a", "b c"), np.array([[0.1, 1 / 3, -2.0], [4.0, 5.5, 1e-12]]), Provenance(dims=3))


def _dm() -> DistanceMatrix:
    return DistanceMatrix(("a", "b", "c"), [[0, 0.25, 1 / 3], [0.25, 0, 2], [1 / 3, 2, 0]])


def _value(kind: str):
    if kind == "dna":
        return _dna()
    if kind == "distance":
        return _dm()
    if kind == "contributions":
        return ProbeContributions(("a", "b"), np.arange(24, dtype=np.float64).reshape(2, 3, 4))
    if kind == "tree":
        return parse_newick("((a:1,b:2)0.9:0.5,c:3,d:0.25);")
    raise AssertionError(kind)


def _same(kind: str, a, b) -> None:
    if kind == "dna":
        assert a.labels == b.labels
        np.testing.assert_array_equal(a.vectors, b.vectors)
    elif kind == "distance":
        assert a.labels == b.labels
        np.testing.assert_allclose(a.values, b.values, rtol=1e-7)  # PHYLIP keeps 8 digits
    elif kind == "contributions":
        assert a.labels == b.labels
        np.testing.assert_array_equal(a.values, b.values)
    else:
        assert to_newick(a) == to_newick(b)


# the public reader a user calls for each kind, dispatching through the registry
_PUBLIC_READ = {
    "dna": read_dna,
    "distance": read_distance_matrix,
    "contributions": read_contributions,
    "tree": read_newick,
}


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f.write is not None], ids=lambda f: f"{f.kind}{f.suffix}")
@pytest.mark.parametrize("case", [str.lower, str.upper])
def test_each_registered_suffix_round_trips(fmt, case, tmp_path: Path) -> None:
    value = _value(fmt.kind)
    path = tmp_path / f"x{case(fmt.suffix)}"
    fmt.write(value, path)
    _same(fmt.kind, value, fmt.read(path))
    _same(fmt.kind, value, _PUBLIC_READ[fmt.kind](path))
    assert format_for(path, kind=fmt.kind) is fmt


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f.kind == "meta"], ids=lambda f: f.suffix)
def test_metadata_suffixes_are_read_with_their_separator(fmt, tmp_path: Path) -> None:
    sep = "," if fmt.name == "csv" else "\t"
    path = tmp_path / f"meta{fmt.suffix.upper()}"
    path.write_text(sep.join(["model", "family"]) + "\n" + sep.join(["a/x", "llama"]) + "\n")
    assert fmt.read(path).loc["a/x", "family"] == "llama"
    assert read_meta(path).loc["a/x", "family"] == "llama"


def test_data_layer_separators_list_the_registered_metadata_suffixes() -> None:
    # phylo_llm.data sits below io, so read_meta keeps its own suffix -> separator map.
    assert set(_SEPARATORS) == {f.suffix for f in FORMATS if f.kind == "meta"}


def test_suffixes_are_lower_case_and_unique_per_kind() -> None:
    keys = [(f.suffix, f.kind) for f in FORMATS]
    assert len(keys) == len(set(keys))
    assert all(f.suffix == f.suffix.lower() and f.suffix.startswith(".") for f in FORMATS)


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        ("dna", "x.txt", "DNA file name must end in .json or .csv, got 'x.txt'"),
        ("distance", "d.tsv", "distance matrix file must end in .csv, .phy, .phylip or .dist, got 'd.tsv'"),
        ("contributions", "c.npy", "contributions file must end in .npz, got 'c.npy'"),
        ("atlas", "a.json", "atlas file must end in .npz, got 'a.json'"),
        ("tree", "t.csv", "tree file must end in .nwk, .newick, .tre, .tree, .treefile, .nex or .nexus, got 't.csv'"),
        ("meta", "m.json", "metadata file must end in .csv, .tsv, .tab or .txt, got 'm.json'"),
        ("dna", "noext", "DNA file name must end in .json or .csv, got 'noext'"),
    ],
)
def test_unknown_suffix_names_it_and_the_accepted_ones(kind: str, name: str, message: str) -> None:
    assert find_format(name, kind=kind) is None
    with pytest.raises(PhyloLLMError) as err:
        format_for(Path("some/dir") / name, kind=kind)
    assert str(err.value) == message


def test_writers_refuse_unregistered_suffixes(tmp_path: Path) -> None:
    with pytest.raises(PhyloLLMError, match="DNA file name must end in .json or .csv, got 'x.npz'"):
        write_dna(_dna(), tmp_path / "x.npz")
    with pytest.raises(PhyloLLMError, match="must end in .csv, .phy, .phylip or .dist, got 'd.json'"):
        write_distance_matrix(_dm(), tmp_path / "d.json")
    assert not list(tmp_path.iterdir())


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(PhyloLLMError, match=r"kind must be one of \['atlas', .*\], got 'fasta'"):
        format_for("x.fa", kind="fasta")  # type: ignore[arg-type]


def test_case_insensitive_lookup_and_kinds() -> None:
    assert format_for("X.JSON", kind="dna").name == "json"
    assert format_for("t.NeXuS", kind="tree").name == "nexus"
    assert kinds_of("D.CSV") == ("dna", "distance", "meta")
    assert kinds_of("d.PHYLIP") == ("distance",)
    assert kinds_of("x.bin") == ()
    assert accepted("contributions") == ".npz"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("d.PHY", "2\na 0 1\nb 1 0\n", "distance"),
        ("d.dist", "2\na 0 1\nb 1 0\n", "distance"),
        ("d.CSV", ",a,b\na,0,1\nb,1,0\n", "distance"),
        ("x.csv", "model,d0\na,1\n", "dna"),
        ("x.json", "{}", "dna"),
    ],
)
def test_cli_input_kind_follows_the_registry(name: str, text: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert input_kind(path, "auto") == expected
