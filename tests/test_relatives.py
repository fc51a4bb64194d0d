"""Tests for phylo_llm.analysis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phylo_llm.analysis import nearest_relatives
from phylo_llm.data import DistanceMatrix, dna_distances, meta_frame, read_meta
from phylo_llm.errors import PhyloLLMError
from phylo_llm.io import read_dna

DM = DistanceMatrix(
    ("q", "far", "near", "mid", "tie"),
    [
        [0, 9, 1, 3, 3],
        [9, 0, 8, 6, 6],
        [1, 8, 0, 2, 2],
        [3, 6, 2, 0, 1],
        [3, 6, 2, 1, 0],
    ],
)


def test_nearest_first_ties_by_name_self_excluded():
    rels = nearest_relatives(DM, "q", k=3)
    assert [(r.rank, r.model, r.distance) for r in rels] == [
        (1, "near", 1.0),
        (2, "mid", 3.0),  # tie with "tie" at 3: broken by id
        (3, "tie", 3.0),
    ]
    assert all(r.family is None for r in rels)


def test_k_larger_than_set_returns_all_others():
    assert len(nearest_relatives(DM, "far", k=50)) == 4


def test_families_from_metadata_missing_rows_are_none():
    meta = meta_frame(pd.DataFrame({"model": ["near", "mid"], "family": ["x", "y"]}))
    rels = nearest_relatives(DM, "q", k=4, meta=meta)
    assert [(r.model, r.family) for r in rels] == [("near", "x"), ("mid", "y"), ("tie", None), ("far", None)]


@pytest.mark.parametrize(
    ("model", "k", "match"),
    [
        ("q", 0, "k must be an integer >= 1, got 0"),
        ("q", 1.5, "k must be an integer >= 1, got 1.5"),
        ("nera", 3, r"model 'nera' is not in this set of 5 models; did you mean \['near'\]"),
    ],
)
def test_bad_arguments(model, k, match):
    with pytest.raises(PhyloLLMError, match=match):
        nearest_relatives(DM, model, k=k)


def test_published_dna_chat_models_find_their_family(paper_data):
    # Real data: Llama-2-7b-chat's nearest neighbour in the authors' DNA is its 13B sibling.
    dna = read_dna(paper_data / "dna_qwen3-embedding-8b.csv")
    meta = read_meta(paper_data / "models_meta.csv")
    rels = nearest_relatives(dna_distances(dna), "meta-llama/Llama-2-7b-chat-hf", k=5, meta=meta)
    assert rels[0].model == "meta-llama/Llama-2-13b-chat-hf"
    assert rels[0].family == "llama-2"
    assert np.all(np.diff([r.distance for r in rels]) >= 0)


def test_a_one_model_set_has_no_relatives():
    with pytest.raises(PhyloLLMError, match=r"'q' has no relatives: the set holds only this one model"):
        nearest_relatives(DistanceMatrix(("q",), [[0.0]]), "q")


def test_labels_without_a_family_column_are_refused_not_shown_as_unknown():
    meta = meta_frame(pd.DataFrame({"model": ["near", "mid"], "organization": ["x", "y"]}))
    with pytest.raises(PhyloLLMError, match=r"needs metadata column\(s\) \['family'\]"):
        nearest_relatives(DM, "q", meta=meta)


def test_cli_relatives_one_model_is_one_line(tmp_path, capsys):
    from phylo_llm.cli import main
    from phylo_llm.io import write_distance_matrix

    write_distance_matrix(DistanceMatrix(("q",), [[0.0]]), tmp_path / "d.csv")
    assert main(["relatives", "q", "--dna", str(tmp_path / "d.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no relatives" in err and "max()" not in err
