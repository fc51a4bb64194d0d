from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from phylo_llm import (
    DistanceMatrix,
    DistanceMatrixError,
    DnaSet,
    PhyloLLMError,
    dna_distances,
    pairwise_distances,
    read_distance_matrix,
    read_phylip,
    write_distance_matrix,
    write_phylip,
)

LABELS = ("a", "b", "c")
GOOD = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], dtype=float)


@pytest.mark.parametrize(
    "labels, values, match",
    [
        (LABELS, np.zeros((3, 2)), r"must be square, got shape \(3, 2\)"),
        (("a", "b"), GOOD, r"number of labels \(2\) must match the matrix size \(3\)"),
        (("a", "b", "a"), GOOD, r"unique; duplicated: \['a'\]"),
        (LABELS, np.where(GOOD == 3, np.nan, GOOD), r"finite, but d\['b','c'\]=nan"),
        (LABELS, np.where(GOOD == 2, -2.0, GOOD), r"non-negative, but d\['a','c'\]=-2"),
        (LABELS, GOOD + np.diag([0, 0.5, 0]), r"zero diagonal, but d\['b','b'\]=0.5"),
        (
            LABELS,
            np.where((GOOD == 1) & (np.arange(3)[:, None] == 0), 1.5, GOOD),
            r"symmetric, but d\['a','b'\]=1.5 != d\['b','a'\]=1",
        ),
    ],
)
def test_each_violation_has_its_own_message(labels, values, match):
    with pytest.raises(DistanceMatrixError, match=match):
        DistanceMatrix(labels, values)


def test_rounding_level_asymmetry_is_accepted():
    v = GOOD.copy()
    v[0, 1] += 1e-14
    assert DistanceMatrix(LABELS, v)["a", "b"] == pytest.approx(1.0)


def test_float32_stays_float32_and_is_read_only():
    dm = DistanceMatrix(LABELS, GOOD.astype(np.float32))
    assert dm.values.dtype == np.float32
    with pytest.raises(ValueError):
        dm.values[0, 1] = 3


@pytest.mark.parametrize(
    "metric, scipy_name", [("euclidean", "euclidean"), ("cosine", "cosine"), ("correlation", "correlation")]
)
def test_metrics_match_scipy(metric, scipy_name):
    x = np.random.default_rng(1).normal(size=(30, 16))
    dm = pairwise_distances(x, [f"m{i}" for i in range(30)], metric=metric)
    np.testing.assert_allclose(dm.values, cdist(x, x, scipy_name), atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 12), st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_euclidean_is_exact_for_near_duplicates(n, d, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * 1e3
    x[1] = x[0] + 1e-9  # the Gram trick alone would give ~1e-5 here
    dm = pairwise_distances(x, [str(i) for i in range(n)])
    np.testing.assert_allclose(dm.values, cdist(x, x), rtol=1e-6, atol=1e-12)


def test_cosine_of_zero_vector_is_an_error_naming_the_model():
    with pytest.raises(PhyloLLMError, match=r"zero vector.*\['b'\]"):
        pairwise_distances([[1, 0], [0, 0]], ["a", "b"], metric="cosine")


def test_bad_metric_lists_choices():
    with pytest.raises(
        PhyloLLMError, match=r"metric must be one of \['correlation', 'cosine', 'euclidean'\], got 'manhattan'"
    ):
        pairwise_distances([[1, 0]], ["a"], metric="manhattan")  # type: ignore[arg-type]


def test_dna_distances_uses_dna_labels():
    dna = DnaSet(("x", "y"), [[0, 0], [3, 4]])
    assert dna_distances(dna)["y", "x"] == 5.0


def test_subset_and_condensed():
    dm = DistanceMatrix(LABELS, GOOD)
    assert dm.subset(["c", "a"]).values.tolist() == [[0, 2], [2, 0]]
    assert dm.condensed().tolist() == [1, 2, 3]


@pytest.mark.parametrize("suffix", [".csv", ".phy"])
def test_file_round_trip(tmp_path: Path, suffix):
    x = np.random.default_rng(0).normal(size=(6, 4))
    dm = pairwise_distances(x, [f"m{i}" for i in range(6)])
    p = write_distance_matrix(dm, tmp_path / f"d{suffix}", precision=17)
    back = read_distance_matrix(p)
    assert back.labels == dm.labels
    np.testing.assert_allclose(back.values, dm.values, rtol=1e-15)


def test_csv_keeps_labels_with_spaces_and_commas(tmp_path: Path):
    dm = DistanceMatrix(("a b", "c,d"), [[0, 1], [1, 0]])
    back = read_distance_matrix(write_distance_matrix(dm, tmp_path / "d.csv"))
    assert back.labels == ("a b", "c,d")


def test_phylip_refuses_whitespace_labels(tmp_path: Path):
    dm = DistanceMatrix(("a b", "c"), [[0, 1], [1, 0]])
    with pytest.raises(PhyloLLMError, match=r"whitespace, got 'a b'"):
        write_phylip(dm, tmp_path / "d.phy")


def test_reads_lower_triangular_and_wrapped_phylip(tmp_path: Path):
    (tmp_path / "lt.phy").write_text("3\na\nb 1\nc 2 3\n")
    assert read_phylip(tmp_path / "lt.phy").values.tolist() == GOOD.tolist()
    (tmp_path / "sq.phy").write_text("3\na 0 1\n 2\nb 1 0 3\nc 2 3 0\n")
    assert read_phylip(tmp_path / "sq.phy").values.tolist() == GOOD.tolist()


def test_phylip_errors_name_the_row(tmp_path: Path):
    (tmp_path / "bad.phy").write_text("3\na 0 1 2\nb 1 0 x\nc 2 3 0\n")
    with pytest.raises(PhyloLLMError, match=r"row 'b'"):
        read_phylip(tmp_path / "bad.phy")
    (tmp_path / "short.phy").write_text("3\na 0 1 2\n")
    with pytest.raises(PhyloLLMError, match=r"expected 3 rows, found 1"):
        read_phylip(tmp_path / "short.phy")


def test_csv_with_mismatched_header(tmp_path: Path):
    (tmp_path / "d.csv").write_text(",a,b\nb,0,1\na,1,0\n")
    with pytest.raises(DistanceMatrixError, match="column labels must equal row labels"):
        read_distance_matrix(tmp_path / "d.csv")


@pytest.mark.parametrize("data", [GOOD, GOOD.tolist(), GOOD.astype(np.float32)])
@pytest.mark.parametrize("ids", [LABELS, list(LABELS), np.array(LABELS)])
def test_scikit_bio_argument_order_is_named_in_the_error(data, ids):
    # scikit-bio's DistanceMatrix(data, ids) is the reverse of ours.
    with pytest.raises(
        DistanceMatrixError,
        match=r"DistanceMatrix\(labels, values\): got a numeric first "
        r"argument and strings second .* scikit-bio's order is \(data, ids\), ours is "
        r"\(labels, values\)",
    ):
        DistanceMatrix(data, ids)


def test_non_numeric_values_in_our_order_still_say_what_is_wrong():
    with pytest.raises((DistanceMatrixError, ValueError), match="could not convert string to float"):
        DistanceMatrix(LABELS, [["0", "x", "1"], ["x", "0", "1"], ["1", "1", "0"]])
