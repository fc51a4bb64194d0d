"""Tests for phylo_llm.analysis: the numbers behind the architecture trend plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phylo_llm import DnaSet, PhyloLLMError, Tree
from phylo_llm.analysis import (
    architecture_by_year,
    architecture_clades,
    centroid_distances,
    tree_positions,
)
from phylo_llm.data import meta_frame


def _meta() -> pd.DataFrame:
    return meta_frame(
        pd.DataFrame(
            {
                "model": ["d1", "d2", "d3", "e1", "e2", "u1"],
                "family": ["f", "f", "g", "t5", "t5", "g"],
                "architecture": ["decoder-only"] * 3 + ["encoder-decoder"] * 2 + ["decoder-only"],
                "release": ["2020-01", "2022-03", "2022-07", "2020-06", "2022-01", None],
            }
        )
    )


def test_architecture_by_year_counts_and_shares() -> None:
    t = architecture_by_year(_meta()).set_index(["year", "architecture"])
    assert t.loc[(2020, "decoder-only"), "n_models"] == 1
    assert t.loc[(2020, "encoder-decoder"), "share"] == pytest.approx(0.5)
    assert t.loc[(2021, "decoder-only"), "n_models"] == 0 and np.isnan(t.loc[(2021, "decoder-only"), "share"])
    assert t.loc[(2022, "decoder-only"), "share"] == pytest.approx(2 / 3)
    assert t["n_models"].sum() == 5
    assert architecture_by_year(_meta()).attrs["n_undated"] == 1


def test_centroid_distances_leave_one_out() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 4))
    dna = DnaSet(tuple(_meta().index), X)
    cd = centroid_distances(dna, _meta())
    dec = X[[0, 1, 2, 5]]
    # d1's own-group centroid excludes d1
    assert cd.loc["d1", "to_decoder-only"] == pytest.approx(np.linalg.norm(X[0] - dec[1:].mean(0)))
    # the other group's centroid is the full mean
    assert cd.loc["d1", "to_encoder-decoder"] == pytest.approx(np.linalg.norm(X[0] - X[3:5].mean(0)))
    assert cd.loc["e1", "to_encoder-decoder"] == pytest.approx(np.linalg.norm(X[3] - X[4]))
    assert list(cd.columns) == [
        "architecture",
        "family",
        "release_year",
        "to_decoder-only",
        "to_encoder-decoder",
        "to_other",
    ]
    # "other" = the centroid of the models of the other architecture
    assert cd.loc["d1", "to_other"] == pytest.approx(cd.loc["d1", "to_encoder-decoder"])
    assert cd.loc["e1", "to_other"] == pytest.approx(np.linalg.norm(X[3] - dec.mean(0)))
    cos = centroid_distances(dna, _meta(), metric="cosine")
    v, c = X[3], dec.mean(0)
    assert cos.loc["e1", "to_decoder-only"] == pytest.approx(1 - v @ c / np.linalg.norm(v) / np.linalg.norm(c))


def test_centroid_distances_errors() -> None:
    dna = DnaSet(("d1", "zz"), np.eye(2))
    with pytest.raises(PhyloLLMError, match=r"no metadata row: \['zz'\]"):
        centroid_distances(dna, _meta())
    m = _meta().copy()
    m.loc["d1", "architecture"] = pd.NA
    with pytest.raises(PhyloLLMError, match=r"1 model\(s\) have no architecture: \['d1'\]"):
        centroid_distances(DnaSet(("d1", "d2"), np.eye(2)), m)


def _tree() -> Tree:
    # ((d1:1,d2:1):1,((e1:1,e2:1):1,(d3:1,u1:2):1):1)
    parent = [-1, 0, 1, 1, 0, 4, 5, 5, 4, 8, 8]
    names = [None, None, "d1", "d2", None, None, "e1", "e2", None, "d3", "u1"]
    return Tree.from_parents(parent, length=[np.nan, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2], name=names)


def test_tree_positions_nearest() -> None:
    pos = tree_positions(_tree(), _meta())
    assert list(pos.index) == ["d1", "d2", "e1", "e2", "d3", "u1"]
    assert pos["position"].tolist() == list(range(6))
    assert pos.loc["d1", "nearest"] == "d2" and pos.loc["d1", "nearest_distance"] == 2
    assert pos.loc["u1", "nearest"] == "d3" and pos.loc["u1", "nearest_distance"] == 3
    assert pos["same_as_nearest"].all()


def test_architecture_clades() -> None:
    summary = architecture_clades(_tree(), _meta())
    enc = summary.loc["encoder-decoder"]
    assert enc["n_models"] == 2 and enc["clade_size"] == 2 and bool(enc["monophyletic"])
    dec = summary.loc["decoder-only"]
    assert dec["clade_size"] == 6 and not dec["monophyletic"]
    assert enc["mean_within"] == pytest.approx(2.0)
    # e1 -> d1/d2: 5 each, -> d3: 4, -> u1: 5 (same for e2)
    assert enc["mean_between"] == pytest.approx(np.mean([5, 5, 4, 5] * 2))


def test_paper_architectures(paper_data: Path) -> None:
    from phylo_llm import read_dna
    from phylo_llm.data import join_meta, read_meta

    meta = read_meta(paper_data / "models_meta.csv")
    dna = read_dna(paper_data / "dna_qwen3-embedding-8b.csv")
    cd = centroid_distances(dna, meta)
    assert (cd["architecture"] == "encoder-decoder").sum() == 7
    assert np.isfinite(cd[["to_decoder-only", "to_encoder-decoder"]].to_numpy()).all()
    dec = cd.index[cd["architecture"] == "decoder-only"]
    first = dna.vector(dec[0])
    others = np.stack([dna.vector(m) for m in dec[1:]])
    assert cd.loc[dec[0], "to_decoder-only"] == pytest.approx(np.linalg.norm(first - others.mean(0)))
    by_year = architecture_by_year(join_meta(dna, meta, allow_extra=True))
    assert by_year["n_models"].sum() == 313 - by_year.attrs["n_undated"]
