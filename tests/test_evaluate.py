"""Tests for phylo_llm.analysis: AUC, ROC curve, bootstrap, pair construction."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phylo_llm.analysis import (
    bootstrap_auc,
    evaluate_lineage,
    lineage_pairs,
    roc_auc,
    roc_curve,
)
from phylo_llm.data import DistanceMatrix, meta_frame, pairwise_distances, read_meta
from phylo_llm.errors import PhyloLLMError
from phylo_llm.io import read_dna


def _brute_auc(pos, neg):
    wins = [1.0 if p < n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg)]
    return float(np.mean(wins))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=12),
    st.lists(st.integers(0, 6), min_size=1, max_size=12),
)
def test_roc_auc_matches_pairwise_count_with_ties(pos, neg):
    # small integers force many ties: the Mann-Whitney form must count each tie as 1/2
    assert roc_auc(pos, neg) == pytest.approx(_brute_auc(pos, neg))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=12),
    st.lists(st.integers(0, 6), min_size=1, max_size=12),
)
def test_roc_curve_area_equals_auc(pos, neg):
    fpr, tpr, thr = roc_curve(pos, neg)
    assert fpr[0] == tpr[0] == 0.0 and fpr[-1] == tpr[-1] == 1.0
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(roc_auc(pos, neg))


def test_roc_auc_extremes_and_direction():
    assert roc_auc([0.1, 0.2], [0.5, 0.9]) == 1.0  # related pairs closer: perfect
    assert roc_auc([0.5, 0.9], [0.1, 0.2]) == 0.0
    assert roc_auc([0.3, 0.3], [0.3]) == 0.5


@pytest.mark.parametrize(
    ("pos", "neg", "match"),
    [
        ([], [1.0], "positive must hold at least one pair"),
        ([1.0], [], "negative must hold at least one pair"),
        ([np.nan], [1.0], "positive must be finite; 1 value"),
        ([[1.0]], [1.0], "positive must be a 1-D array"),
    ],
)
def test_roc_auc_rejects_bad_input(pos, neg, match):
    with pytest.raises(PhyloLLMError, match=match):
        roc_auc(pos, neg)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(5)
    pos, neg = rng.normal(0, 1, 40), rng.normal(1, 1, 300)
    a = bootstrap_auc(pos, neg, n_boot=300, seed=3)
    b = bootstrap_auc(pos, neg, n_boot=300, seed=3)
    c = bootstrap_auc(pos, neg, n_boot=300, seed=4)
    assert (a.low, a.high) == (b.low, b.high)
    assert (a.low, a.high) != (c.low, c.high)
    assert a.low < a.auc < a.high
    assert a.auc == pytest.approx(roc_auc(pos, neg))
    # a wider level gives a wider interval
    w = bootstrap_auc(pos, neg, n_boot=300, seed=3, level=0.99)
    assert w.low <= a.low and w.high >= a.high
    assert (a.n_pos, a.n_neg) == (40, 300)


def test_bootstrap_replicate_matches_direct_auc_of_resample():
    # The O(n) replicate trick must equal roc_auc on the explicitly resampled data.
    pos, neg = np.array([0.2, 0.5, 0.5, 0.9]), np.array([0.1, 0.5, 0.7, 0.8, 1.0])
    est = bootstrap_auc(pos, neg, n_boot=1, seed=11, level=0.5)
    rng = np.random.default_rng(11)
    counts = np.bincount(rng.integers(neg.size, size=neg.size), minlength=neg.size)
    take = rng.integers(pos.size, size=pos.size)
    direct = roc_auc(pos[take], np.repeat(np.sort(neg), counts))
    assert est.low == pytest.approx(direct) and est.high == pytest.approx(direct)


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"n_boot": 0}, "n_boot must be an integer >= 1"), ({"level": 1.0}, r"level must be a number in \(0, 1\)")],
)
def test_bootstrap_rejects_bad_settings(kw, match):
    with pytest.raises(PhyloLLMError, match=match):
        bootstrap_auc([0.1], [0.2], **kw)


def _toy_meta():
    return meta_frame(
        pd.DataFrame(
            {
                "model": ["a", "a-chat", "a-merge", "b", "b-q", "c", "nofam"],
                "family": ["A", "A", "A", "B", "B", "C", None],
                "base_model": [None, "a", "a-chat|b|elsewhere", None, "b", None, "a"],
                "relation": [None, "instruct", "merge", None, "quantized", None, "finetune"],
            }
        )
    )


def test_lineage_pairs_from_metadata():
    labels = ["a", "a-chat", "a-merge", "b", "b-q", "c", "nofam"]
    pairs = lineage_pairs(labels, _toy_meta())
    assert sorted(pairs.parent_child()) == sorted(
        [
            ("a-chat", "a", "instruct"),
            ("a-merge", "a-chat", "merge"),
            ("a-merge", "b", "merge"),  # cross-family merge: a positive too
            ("b-q", "b", "quantized"),
            ("nofam", "a", "finetune"),  # no family needed for a documented parent
        ]
    )
    fam = dict(zip(labels, ["A", "A", "A", "B", "B", "C", None]))
    same = {(labels[i], labels[j]) for i, j in zip(pairs.same_a, pairs.same_b)}
    diff = {(labels[i], labels[j]) for i, j in zip(pairs.diff_a, pairs.diff_b)}
    known = [m for m in labels if fam[m] is not None]
    assert same == {(x, y) for x, y in itertools.combinations(known, 2) if fam[x] == fam[y]}
    assert diff == {(x, y) for x, y in itertools.combinations(known, 2) if fam[x] != fam[y]}


def test_lineage_pairs_only_within_the_given_models():
    pairs = lineage_pairs(["a-chat", "b", "c"], _toy_meta())
    assert pairs.n_parent_child == 0
    assert pairs.diff_a.size == 3


def test_lineage_pairs_needs_labels_for_every_model():
    with pytest.raises(PhyloLLMError, match=r"1 model id\(s\) have no metadata row: \['zzz'\]"):
        lineage_pairs(["a", "zzz"], _toy_meta())


def test_lineage_pairs_needs_columns():
    meta = meta_frame(pd.DataFrame({"model": ["a"], "family": ["A"]}))
    with pytest.raises(PhyloLLMError, match=r"needs metadata column\(s\) \['base_model'\]"):
        lineage_pairs(["a"], meta)


def test_evaluate_lineage_perfect_and_per_relation():
    labels = ("a", "a-chat", "a-merge", "b", "b-q", "c", "nofam")
    # embed families as clusters; parent-child pairs very close
    pts = {"a": 0, "a-chat": 0.1, "a-merge": 0.2, "b": 10, "b-q": 10.1, "c": 20, "nofam": 0.05}
    x = np.array([[pts[m]] for m in labels])
    dm = pairwise_distances(x, labels)
    ev = evaluate_lineage(dm, _toy_meta(), n_boot=50)
    rel = dict(ev.by_relation)
    assert set(rel) == {"instruct", "merge", "quantized", "finetune"}
    assert rel["instruct"].auc == 1.0 and rel["quantized"].auc == 1.0
    # the cross-family merge (a-merge, b) is far: merge AUC < 1 and overall < 1
    assert rel["merge"].n_pos == 2 and rel["merge"].auc < 1.0
    assert ev.parent_child.n_pos == 5 and ev.parent_child.auc < 1.0
    assert ev.same_family.auc == 1.0
    assert ev.n_models == 7
    assert ev.fpr.shape == ev.tpr.shape and not ev.fpr.flags.writeable
    table = ev.to_frame()
    assert table["pairs"].tolist()[:2] == ["parent-child", "same-family"]
    assert "parent-child AUC" in ev.summary()


def test_evaluate_lineage_without_positive_pairs_raises():
    dm = DistanceMatrix(("a-chat", "b", "c"), [[0, 1, 2], [1, 0, 1], [2, 1, 0]])
    with pytest.raises(PhyloLLMError, match="no parent-child pair among the 3 models"):
        evaluate_lineage(dm, _toy_meta())


def test_published_dna_reproduces_reference_figures(paper_data):
    # The authors' DNA: 313 models, 91 documented parent-child pairs, AUC 0.66 / 0.62.
    meta = read_meta(paper_data / "models_meta.csv")
    dna = read_dna(paper_data / "dna_qwen3-embedding-8b.csv")
    from phylo_llm.data import dna_distances

    ev = evaluate_lineage(dna_distances(dna), meta, n_boot=200, seed=0)
    assert ev.n_models == 313
    assert ev.parent_child.n_pos == 91
    assert ev.parent_child.auc == pytest.approx(0.663, abs=0.002)
    assert ev.same_family.auc == pytest.approx(0.619, abs=0.002)
    assert ev.parent_child.low < 0.663 < ev.parent_child.high


def _toy_files(tmp_path):
    from phylo_llm.data import DnaSet
    from phylo_llm.io import write_dna

    labels = ("a", "a-chat", "a-merge", "b", "b-q", "c")
    x = np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [20.0]])
    dna = write_dna(DnaSet(labels, x), tmp_path / "dna.json")
    meta = tmp_path / "meta.csv"
    _toy_meta().drop(index="nofam").to_csv(meta)
    return dna, meta


def test_cli_evaluate_prints_table_and_writes_plot(tmp_path, capsys):
    from phylo_llm.cli import main

    dna, meta = _toy_files(tmp_path)
    rc = main(
        [
            "evaluate",
            str(dna),
            "--labels",
            str(meta),
            "--n-boot",
            "20",
            "--plot",
            str(tmp_path / "roc.png"),
            "--csv",
            str(tmp_path / "auc.csv"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    # 4 positives x 11 negatives; the cross-family merge (a-merge, b) at 9.8 beats 10 negatives
    # and ties with itself (it is also a different-family pair): (3 * 11 + 10.5) / 44 = 0.989
    assert "parent-child AUC: 0.989" in out
    assert (tmp_path / "roc.png").stat().st_size > 1000
    assert pd.read_csv(tmp_path / "auc.csv")["pairs"].iloc[0] == "parent-child"


def test_cli_evaluate_bad_plot_suffix_fails_before_work(tmp_path, capsys):
    from phylo_llm.cli import main

    dna, meta = _toy_files(tmp_path)
    rc = main(["evaluate", str(dna), "--labels", str(meta), "--plot", str(tmp_path / "roc.gif")])
    assert rc == 2
    assert "figure file name must end in one of" in capsys.readouterr().err
