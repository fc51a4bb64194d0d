"""Tests for phylo_llm.analysis and ``phylo-llm discover``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phylo_llm import DnaSet, PhyloLLMError, write_dna
from phylo_llm.analysis import (
    LINK_FEATURES,
    benjamini_hochberg,
    discover_relationships,
    discoveries_markdown,
    fit_link_model,
    lineage_pairs,
    name_tokens,
)
from phylo_llm.cli import main
from phylo_llm.data import (
    DistanceMatrix,
    dna_distances,
    meta_frame,
    pairwise_distances,
    read_meta,
)
from phylo_llm.io import read_dna


def _families(n_fam: int = 8, per: int = 6, dims: int = 24, seed: int = 0, spread: float = 0.6):
    """Families as Gaussian clusters; returns vectors and a metadata table."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_fam, dims)) * 2.0
    x = np.repeat(centres, per, axis=0) + rng.normal(size=(n_fam * per, dims)) * spread
    labels = [f"org{f}/m{f}-{i}" for f in range(n_fam) for i in range(per)]
    rows = [
        {"model": lab, "family": f"fam{f}", "organization": f"org{f}", "release": f"202{i % 5}-0{1 + f % 9}"}
        for lab, (f, i) in zip(labels, [(f, i) for f in range(n_fam) for i in range(per)])
    ]
    return x, labels, rows


def _planted():
    """Three copies planted among 8 families, without a family label, plus a hub near everyone."""
    x, labels, rows = _families()
    planted = [(0, 7), (13, 20), (26, 33)]  # (source, copy); the copy's family is unknown to the labels
    rng = np.random.default_rng(1)
    for src, dst in planted:
        x[dst] = x[src] + rng.normal(size=x.shape[1]) * 0.05
        rows[dst]["family"] = None
    hub = np.mean(x, axis=0)  # the centroid: closer than average to everyone
    x = np.vstack([x, hub])
    labels.append("hub/centroid")
    rows.append({"model": "hub/centroid", "family": "hubfam", "organization": "hub", "release": "2023-01"})
    # A copy descends from its source's family: it is related to every member of it.
    related = {
        frozenset((labels[k], labels[dst])) for src, dst in planted for k in range(src // 6 * 6, src // 6 * 6 + 6)
    }
    return x, labels, meta_frame(pd.DataFrame(rows)), related


def test_planted_pairs_come_first_and_are_significant():
    x, labels, meta, related = _planted()
    res = discover_relationships(pairwise_distances(x, labels), meta, order="p_value")
    top = res.to_frame(top=len(related))
    assert {frozenset(p) for p in zip(top["model_a"], top["model_b"])} == related
    # every planted relation is called; BH allows false calls up to alpha (here: the one calibration
    # pair most extreme under the null, the hub with a model it happens to sit close to)
    called = {frozenset((labels[res.a[k]], labels[res.b[k]])) for k in res.calls(0.1)}
    assert related <= called and len(related) == 18 and len(called - related) / len(called) <= 0.1
    # each copy's closest pair is with its source: the best-ranked of its pairs, mutual nearest neighbours
    for src, dst in [(0, 7), (13, 20), (26, 33)]:
        mine = top[(top["model_a"] == labels[dst]) | (top["model_b"] == labels[dst])].iloc[0]
        assert {mine["model_a"], mine["model_b"]} == {labels[src], labels[dst]} and mine["mutual_nearest"]


def test_neighbour_rank_order_puts_mutual_neighbours_first_with_the_same_q_values():
    x, labels, meta, related = _planted()
    dm = pairwise_distances(x, labels)
    by_p = discover_relationships(dm, meta, order="p_value")
    res = discover_relationships(dm, meta, order="neighbour_rank")
    assert res.order == "neighbour_rank" and len(res) == len(by_p)
    worse = np.maximum(res.rank_a, res.rank_b)
    assert (np.diff(worse) >= 0).all()  # the list is sorted by the larger rank ...
    same = np.diff(worse) == 0
    assert (np.diff(res.distance)[same] >= 0).all()  # ... then by distance
    # the same pairs with the same q-values, only reordered
    key = {(int(a), int(b)): q for a, b, q in zip(res.a, res.b, res.q_value)}
    assert all(key[(int(a), int(b))] == q for a, b, q in zip(by_p.a, by_p.b, by_p.q_value))
    # each planted copy and its source are mutual nearest neighbours, so they lead the list
    first = {frozenset((labels[a], labels[b])) for a, b in zip(res.a[:3], res.b[:3])}
    assert first == {frozenset((labels[s], labels[d])) for s, d in [(0, 7), (13, 20), (26, 33)]}
    # the calls are the same set, wherever they sit
    assert res.n_significant(0.1) == by_p.n_significant(0.1) >= 18
    called = {frozenset((labels[res.a[k]], labels[res.b[k]])) for k in res.calls(0.1)}
    assert called == {frozenset((labels[by_p.a[k]], labels[by_p.b[k]])) for k in by_p.calls(0.1)} >= related


def test_order_must_be_known():
    x, labels, meta, _ = _planted()
    with pytest.raises(PhyloLLMError, match="order must be one of"):
        discover_relationships(pairwise_distances(x, labels), meta, order="distance")


def test_a_hub_does_not_flood_the_list_but_plain_distance_would():
    x, labels, meta, truth = _planted()
    dm = pairwise_distances(x, labels)
    res = discover_relationships(dm, meta)
    hub = labels.index("hub/centroid")
    involves_hub = (res.a == hub) | (res.b == hub)
    assert (involves_hub & (res.q_value <= 0.1)).sum() <= 1  # at most the one chance call BH allows
    # By distance alone, the hub's pairs are the closest after the planted relatives.
    pairs = [frozenset((labels[a], labels[b])) for a, b in zip(res.a, res.b)]
    unrelated = np.array([p not in truth for p in pairs])
    by_distance = np.argsort(res.distance)
    assert involves_hub[by_distance[unrelated[by_distance]][:10]].all()


def test_candidates_exclude_parent_links_same_family_and_optionally_same_organization():
    x, labels, rows = _families(n_fam=4, per=6)
    rows[1]["base_model"] = labels[7]  # a cross-family documented parent
    rows[2]["organization"] = "org1"
    meta = meta_frame(pd.DataFrame(rows))
    dm = pairwise_distances(x, labels)
    res = discover_relationships(dm, meta)
    pairs = {frozenset((labels[a], labels[b])) for a, b in zip(res.a, res.b)}
    fam = dict(zip(meta.index, meta["family"]))
    assert all(fam[a] != fam[b] for a, b in map(tuple, pairs))
    assert frozenset((labels[1], labels[7])) not in pairs
    n = len(labels)
    assert len(res) == n * (n - 1) // 2 - 4 * 15 - 1 and res.n_parent_links == 1
    skip = discover_relationships(dm, meta, skip_same_organization=True)
    same_org = [(a, b) for a, b in map(tuple, pairs) if meta.at[a, "organization"] == meta.at[b, "organization"]]
    assert len(same_org) == 6  # labels[2] (now org1) with the six org1 models
    assert len(skip) == len(res) - 6


def test_unlabelled_models_are_candidates_with_every_partner():
    x, labels, rows = _families(n_fam=4, per=6)
    meta = meta_frame(pd.DataFrame(rows[1:]))  # labels[0] has no metadata row
    res = discover_relationships(pairwise_distances(x, labels), meta)
    with_0 = (res.a == 0) | (res.b == 0)
    assert with_0.sum() == len(labels) - 1  # including its own (unknown) family
    assert res.family[0] is None and res.n_labelled == len(labels) - 1
    # the report shows a missing label as "–", never as "nan" (pandas 3 stores None as NaN in a frame)
    row = next(r for r in discoveries_markdown(res, top=len(res)).splitlines() if r.startswith("| ") and labels[0] in r)
    assert "nan" not in row and ("– /" in row or "/ –" in row)


def test_q_values_control_fdr_on_null_data():
    """No structure at all: every call is false, so FDR = P(any call); BH must keep it near alpha.

    A quarter of the models are unlabelled, so most candidates are not calibration pairs.
    """
    any_call = 0
    reps = 40
    for seed in range(reps):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(40, 16))
        labels = [f"m{i}" for i in range(40)]
        fam = [f"f{i % 10}" if i < 30 else None for i in range(40)]
        res = discover_relationships(
            pairwise_distances(x, labels), meta_frame(pd.DataFrame({"model": labels, "family": fam}))
        )
        any_call += res.n_significant(0.1) > 0
        assert 0 < res.p_value.min() and res.p_value.max() <= 1
        assert res.n_calibration == 30 * 29 // 2 - 10 * 3 and res.n_calibration < len(res)
    assert any_call / reps <= 0.15


def test_null_p_values_are_uniform_where_the_normal_model_is_not():
    """Heavy-tailed unrelated distances: the conformal p-value of an unlabelled model's pairs stays
    uniform; the normal model's tail (p_normal) is far too light, as on real DNA."""
    rng = np.random.default_rng(5)
    n = 120
    # unrelated distances around 10 with a heavy left tail: 3% of pairs sit at ~4
    e = np.where(rng.uniform(size=(n, n)) < 0.03, rng.normal(-6, 1, size=(n, n)), rng.normal(size=(n, n)))
    d = 10 + np.triu(e, 1) + np.triu(e, 1).T
    np.fill_diagonal(d, 0)
    labels = [f"m{i}" for i in range(n)]
    fam = [f"f{i % 40}" if i < 90 else None for i in range(n)]
    res = discover_relationships(
        DistanceMatrix(tuple(labels), d), meta_frame(pd.DataFrame({"model": labels, "family": fam}))
    )
    test = ~res.calibration
    assert test.sum() > 2000
    assert np.mean(res.p_value[test] <= 0.01) <= 0.02
    assert np.mean(res.p_normal[test] <= 0.01) > 0.02


def test_fdr_with_planted_signal_is_controlled():
    """Realised FDR (false calls / calls) over repetitions with known planted pairs stays near alpha:
    80 labelled models in 20 families and 20 unlabelled close copies of labelled ones."""
    fdp = []
    for seed in range(12):
        rng = np.random.default_rng(100 + seed)
        x = rng.normal(size=(100, 16))
        labels = [f"m{i}" for i in range(100)]
        truth = set()
        for k in range(20):
            a, b = 4 * k, 80 + k
            x[b] = x[a] + rng.normal(size=16) * 0.2
            truth.add((a, b))
        fam = [f"f{i % 20}" if i < 80 else None for i in range(100)]
        res = discover_relationships(
            pairwise_distances(x, labels), meta_frame(pd.DataFrame({"model": labels, "family": fam}))
        )
        call = res.q_value <= 0.1
        hits = sum((min(a, b), max(a, b)) in truth for a, b in zip(res.a[call], res.b[call]))
        assert hits >= 15  # power: most planted pairs are found
        fdp.append((call.sum() - hits) / max(1, call.sum()))
    assert np.mean(fdp) <= 0.15


def test_documented_unrelated_pairs_are_the_null_ranked_but_not_called():
    """Two labelled models of different families: the pair is a calibration pair; a planted copy
    labelled in another family leads the list but is not called (it is a draw of the null itself)."""
    x, labels, rows = _families()
    x[7] = x[0] + 0.01
    res = discover_relationships(pairwise_distances(x, labels), meta_frame(pd.DataFrame(rows)), order="p_value")
    assert res.calibration.all() and res.n_calibration == len(res)
    first = res.to_frame(top=1).iloc[0]
    assert {first["model_a"], first["model_b"]} == {labels[0], labels[7]} and bool(first["calibration_pair"])
    assert res.p_value[0] == 1 / res.n_calibration and res.n_significant(0.2) == 0


def test_orientation_by_release_date_and_missing_dates_are_said():
    # 8 families: the copy's true relatives (fam0) are a minority of its reference (other families)
    x, labels, rows = _families(n_fam=8, per=5)
    x[9] = x[0] + 0.01  # labels[0] (fam0) and labels[9] (fam1): a planted pair
    rows[0]["release"] = "2024-06"
    rows[9]["release"] = "2023-01"
    meta = meta_frame(pd.DataFrame(rows))
    res = discover_relationships(pairwise_distances(x, labels), meta)
    first = res.to_frame(top=1).iloc[0]
    assert (first["model_a"], first["model_b"], first["orientation"]) == (labels[9], labels[0], "by release date")
    rows[9]["release"] = None
    res = discover_relationships(pairwise_distances(x, labels), meta_frame(pd.DataFrame(rows)))
    assert res.to_frame(top=1).iloc[0]["orientation"] == f"unoriented: release date missing for {labels[9]}"
    rows[9]["release"] = "2024-06"
    res = discover_relationships(pairwise_distances(x, labels), meta_frame(pd.DataFrame(rows)))
    assert res.to_frame(top=1).iloc[0]["orientation"] == "unoriented: same release date"
    no_dates = meta_frame(pd.DataFrame(rows).drop(columns="release"))
    res = discover_relationships(pairwise_distances(x, labels), no_dates)
    assert not res.oriented.any()


def test_evidence_columns_match_their_definitions():
    x, labels, meta, _ = _planted()
    dm = pairwise_distances(x, labels)
    res = discover_relationships(dm, meta, order="p_value")
    d = np.asarray(dm.values)
    fam = np.array([meta.at[lab, "family"] if pd.notna(meta.at[lab, "family"]) else "" for lab in labels])
    k = next(k for k in range(40, len(res)) if fam[res.a[k]] and fam[res.b[k]])  # an arbitrary labelled pair
    a, b = int(res.a[k]), int(res.b[k])
    ref = np.flatnonzero((fam != "") & (fam != fam[a]))
    med = np.median(d[a, ref])
    mad = 1.4826 * np.median(np.abs(d[a, ref] - med))
    assert res.z_a[k] == pytest.approx((d[a, b] - med) / mad)
    others = ref[ref != b]
    assert res.quantile_a[k] == pytest.approx(np.mean(d[a, others] <= d[a, b]))
    assert res.rank_a[k] == 1 + np.sum(np.delete(d[a], a) < d[a, b])
    from scipy.stats import norm

    t = np.fmax(res.z_a, res.z_b)
    assert res.p_normal[k] == pytest.approx(norm.cdf(t[k]))
    cal = np.array([bool(fam[i]) and bool(fam[j]) for i, j in zip(res.a, res.b)])
    assert (res.calibration == cal).all() and res.n_calibration == cal.sum()
    others = t[cal & (np.arange(len(res)) != k)]
    assert res.p_value[k] == pytest.approx((1 + np.sum(others <= t[k])) / (1 + others.size))
    assert np.all(np.diff(res.p_value) >= 0) and np.all(np.diff(res.q_value) >= 0)
    assert not res.p_value.flags.writeable


def test_benjamini_hochberg_matches_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(3).uniform(size=200) ** 3
    expected = multitest.multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(benjamini_hochberg(p), expected)


def _meta(labels, families):
    return meta_frame(pd.DataFrame({"model": labels, "family": families}))


LAB = [f"m{i}" for i in range(12)]
DM12 = pairwise_distances(np.random.default_rng(0).normal(size=(12, 4)), LAB)


@pytest.mark.parametrize(
    ("dm", "meta", "kwargs", "match"),
    [
        (
            DistanceMatrix(("a", "b"), [[0, 1], [1, 0]]),
            _meta(["a", "b"], ["x", "y"]),
            {},
            "at least 3 models in the DNA set, got 2",
        ),
        (DM12, _meta(["zz", "yy"], ["x", "y"]), {}, r"the labels match none of the 12 DNA model ids"),
        (
            DM12,
            _meta(LAB, [None] * 12),
            {},
            "all 12 models are unlabelled: none of the 12 matched metadata rows has a family",
        ),
        (DM12, _meta(LAB, ["x"] * 12), {}, r"at least two families .* got only \['x'\]"),
        (DM12, meta_frame(pd.DataFrame({"model": LAB})), {}, r"discovery needs metadata column\(s\) \['family'\]"),
        (
            DM12,
            _meta(LAB, ["x", "y"] * 6),
            {"skip_same_organization": True},
            r"skip_same_organization needs metadata column\(s\) \['organization'\]",
        ),
        (DM12, _meta(LAB, ["x", "y"] * 6), {"min_reference": 1}, "min_reference must be an integer >= 2, got 1"),
        (DM12, _meta(LAB, ["x", "y"] * 6), {"min_reference": 50}, r"no candidate pair among the 12 models"),
    ],
)
def test_bad_input(dm, meta, kwargs, match):
    with pytest.raises(PhyloLLMError, match=match):
        discover_relationships(dm, meta, **kwargs)


def test_markdown_states_counts_and_marks_unsignificant_rows():
    x, labels, meta, _ = _planted()
    res = discover_relationships(pairwise_distances(x, labels), meta, order="p_value")
    sig = res.n_significant(0.1)
    assert 18 <= sig < 25
    md = discoveries_markdown(res, alpha=0.1, top=5)
    assert f"{len(res)} candidate pairs" in md and f"**{sig} pair(s) at FDR 0.1**" in md
    assert f"{res.n_calibration} documented-unrelated pairs" in md
    assert "not significant" not in md
    assert md.count("\n| ") == 1 + 5  # header + 5 rows
    md = discoveries_markdown(res, alpha=0.1, top=30)
    assert f"Rows after #{sig} are not significant" in md and md.count("\n| ") == 1 + 30
    with pytest.raises(PhyloLLMError, match=r"alpha must be a number in \(0, 1\)"):
        discoveries_markdown(res, alpha=1.5)
    # neighbour-rank order: calls are marked row by row, and counted
    res = discover_relationships(pairwise_distances(x, labels), meta)
    md = discoveries_markdown(res, alpha=0.1, top=30)
    n_marked = md.count(" ✓ |")
    assert n_marked == int((res.q_value[:30] <= 0.1).sum()) and f"{n_marked} of these 30 rows are calls" in md


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    x, labels, meta, _ = _planted()
    dna_path = write_dna(DnaSet(tuple(labels), x), tmp_path / "dna.json")
    meta_path = tmp_path / "meta.csv"
    meta.reset_index().to_csv(meta_path, index=False)
    return dna_path, meta_path


def test_cli_writes_csv_and_markdown(files, tmp_path: Path, capsys) -> None:
    dna, meta = files
    sig = discover_relationships(dna_distances(read_dna(dna)), read_meta(meta)).n_significant(0.1)
    assert sig >= 18
    assert main(["discover", str(dna), "--labels", str(meta), "-o", str(tmp_path / "out"), "--top", "20"]) == 0
    assert f"{sig} of" in capsys.readouterr().out
    df = pd.read_csv(tmp_path / "out" / "discoveries.csv")
    assert len(df) >= 20 and df["significant"].sum() == sig and (df["rank"].iloc[:20] == np.arange(1, 21)).all()
    assert (
        main(
            [
                "discover",
                str(dna),
                "--labels",
                str(meta),
                "-o",
                str(tmp_path / "o2"),
                "--top",
                "5",
                "--order",
                "p_value",
            ]
        )
        == 0
    )
    assert len(pd.read_csv(tmp_path / "o2" / "discoveries.csv")) == sig  # every significant pair, at least --top
    assert main(["discover", str(dna), "--labels", str(meta), "-o", str(tmp_path / "o3"), "--top", "2"]) == 0
    o3 = pd.read_csv(tmp_path / "o3" / "discoveries.csv")  # neighbour rank: the first 2, and every call below
    assert o3["rank"].iloc[:2].tolist() == [1, 2] and o3["significant"].sum() == sig
    assert len(o3) == 2 + sig - int(o3["significant"].iloc[:2].sum())
    assert {"distance", "rank_a", "rank_b", "family_a", "organization_b", "release_a", "q_value", "orientation"} <= set(
        df
    )
    assert (tmp_path / "out" / "discoveries.md").read_text().startswith("# Possible undocumented relatives")
    assert main(["discover", str(dna), "--labels", str(meta), "--top", "2", "--skip-same-organization"]) == 0
    assert capsys.readouterr().out.count("\n| ") == 3


@pytest.mark.parametrize(
    ("labels_rows", "match"),
    [
        ("model,family\nzz,x\nyy,y\n", "the labels match none of the"),
        ("model,family\norg0/m0-0,\norg0/m0-1,\n", "models are unlabelled"),
    ],
)
def test_cli_bad_labels_is_one_line_exit_2(files, tmp_path: Path, capsys, labels_rows, match) -> None:
    dna, _ = files
    bad = tmp_path / "bad.csv"
    bad.write_text(labels_rows)
    assert main(["discover", str(dna), "--labels", str(bad)]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and err.startswith("phylo-llm discover: error:")


def test_cli_bad_link_evidence_is_one_line_exit_2(files, capsys) -> None:
    dna, meta = files
    assert main(["discover", str(dna), "--labels", str(meta), "--link-evidence", "dna,vibes"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "link_evidence must be one of" in err and "'vibes'" in err


def test_cli_too_few_models_is_exit_2(tmp_path: Path, capsys) -> None:
    dna = write_dna(DnaSet(("a", "b"), np.eye(2)), tmp_path / "dna.json")
    meta = tmp_path / "m.csv"
    meta.write_text("model,family\na,x\nb,y\n")
    assert main(["discover", str(dna), "--labels", str(meta)]) == 2
    assert "at least 3 models" in capsys.readouterr().err


def test_paper_dna(paper_data: Path) -> None:
    dm = dna_distances(read_dna(paper_data / "dna_qwen3-embedding-8b.csv"))
    meta = read_meta(paper_data / "models_meta.csv")
    res = discover_relationships(dm, meta)
    pairs = lineage_pairs(dm.labels, meta)
    links = {frozenset((pairs.labels[c], pairs.labels[p])) for c, p in zip(pairs.child, pairs.parent)}
    n = len(dm)
    # every pair the labels do not link, and no other
    assert len(res) == n * (n - 1) // 2 - pairs.same_a.size - len(links - _same_family(pairs))
    top = res.to_frame(top=30)
    assert not any(frozenset(p) in links for p in zip(top["model_a"], top["model_b"]))
    assert (top["family_a"] != top["family_b"]).all()
    # every model is labelled: every candidate is a calibration pair, the null itself, so none is called
    assert res.calibration.all() and res.n_significant(0.1) == 0
    # the closest pair the labels do not link is proposed near the top (by neighbour rank)
    assert int(np.argmin(discover_relationships(dm, meta, order="neighbour_rank").distance)) < 10
    # every model is labelled: no candidate is like the links the link model learns from (an
    # unlabelled child), so the default order falls back to neighbour rank and says why
    assert res.order == "neighbour_rank" and res.link_model is None and "every model has a family label" in res.note


def _hide_links(dm, meta, *, share: float, seed: int):
    """The label table with a seeded share of the documented parent links hidden, with those
    children's families, and the hidden links (as frozensets of two ids)."""
    pairs = lineage_pairs([x for x in dm.labels if x in meta.index], meta)
    links = sorted((pairs.labels[c], pairs.labels[p]) for c, p in zip(pairs.child, pairs.parent))
    pick = np.random.default_rng(seed).choice(len(links), size=round(share * len(links)), replace=False)
    masked = meta.copy()
    for k in pick:
        child, parent = links[k]
        kept = [b.strip() for b in str(masked.at[child, "base_model"]).split("|") if b.strip() != parent]
        masked.at[child, "base_model"] = "|".join(kept) if kept else pd.NA
        masked.at[child, "family"] = pd.NA
    return masked, {frozenset(links[k]) for k in pick}


def test_link_model_finds_hidden_paper_links_that_names_and_distance_miss(paper_data: Path) -> None:
    """Hide a quarter of the paper's documented parent links (and those children's families): the
    link model, learned from the links left, puts more of the hidden ones in its top 20 than the
    two rankings a user would try first, id-token similarity and plain distance."""
    dm = dna_distances(read_dna(paper_data / "dna_qwen3-embedding-8b.csv"))
    meta = read_meta(paper_data / "models_meta.csv")
    masked, hidden = _hide_links(dm, meta, share=0.25, seed=3)
    res = discover_relationships(dm, masked)
    assert res.order == "link_model" and res.link_model.n_positive == 4 * round(0.25 * (res.n_parent_links))
    assert (np.diff(res.link_score) <= 0).all() and 0 < res.link_score[-1] <= res.link_score[0] < 1
    key = {frozenset((res.labels[a], res.labels[b])) for a, b in zip(res.a, res.b)}
    assert hidden <= key  # every hidden link became a candidate
    pairs = [frozenset((res.labels[a], res.labels[b])) for a, b in zip(res.a, res.b)]
    hit = np.array([p in hidden for p in pairs])
    tok = [name_tokens(x) for x in res.labels]
    jac = np.array([len(tok[a] & tok[b]) / len(tok[a] | tok[b]) for a, b in zip(res.a, res.b)])
    by_name = np.argsort(-jac, kind="stable")[:20]
    by_distance = np.argsort(res.distance, kind="stable")[:20]
    found = int(hit[:20].sum())
    assert found > max(int(hit[by_name].sum()), int(hit[by_distance].sum())), found


def _same_family(pairs) -> set[frozenset[str]]:
    return {frozenset((pairs.labels[a], pairs.labels[b])) for a, b in zip(pairs.same_a, pairs.same_b)}


def _lineages(n_fam: int = 12, seed: int = 0):
    """Families of a base and three documented fine-tunes, plus unlabelled fine-tunes of the first
    six bases (named like their siblings) and unlabelled decoys; returns (dm, meta, the undocumented links)."""
    rng = np.random.default_rng(seed)
    dims = 16
    x, rows = [], []
    for f in range(n_fam):
        base = rng.normal(size=dims) * 3
        x.append(base)
        rows.append({"model": f"org{f}/base{f}", "family": f"fam{f}", "organization": f"org{f}"})
        for i in range(3):
            x.append(base + rng.normal(size=dims) * 0.4)
            rows.append(
                {
                    "model": f"org{f}/base{f}-ft{i}",
                    "family": f"fam{f}",
                    "organization": f"org{f}",
                    "base_model": f"org{f}/base{f}",
                }
            )
    new = set()
    for f in range(6):
        x.append(x[4 * f] + rng.normal(size=dims) * 0.4)
        rows.append({"model": f"org{f}/base{f}-ft-new", "organization": f"org{f}"})
        new.add(frozenset((f"org{f}/base{f}", f"org{f}/base{f}-ft-new")))
    for k in range(6):
        x.append(rng.normal(size=dims) * 3)
        rows.append({"model": f"someone{k}/model{k}"})
    labels = [r["model"] for r in rows]
    return pairwise_distances(np.array(x), labels), meta_frame(pd.DataFrame(rows)), new


def _lineage_fit_inputs():
    """:func:`_lineages` as :func:`fit_link_model` takes it: (dm, meta, family per model, the
    documented ``(child, parent)`` index links, the pair evidence, documented children per model)."""
    from phylo_llm.analysis import PairEvidence

    dm, meta, _ = _lineages()
    fam = meta["family"].reindex(list(dm.labels)).astype("string").fillna("").to_numpy(dtype=object)
    lp = lineage_pairs(list(meta.index), meta)
    pos = np.array([dm.index(x) for x in meta.index])
    links = list(zip(pos[lp.child].tolist(), pos[lp.parent].tolist()))
    children = np.bincount([p for _, p in links], minlength=len(dm)).astype(float)
    return dm, meta, fam, links, PairEvidence(dm.values, dm.labels), children


def test_link_model_order_puts_the_undocumented_fine_tunes_first():
    dm, meta, new = _lineages()
    res = discover_relationships(dm, meta)
    assert res.order == "link_model" and res.note == "" and res.n_parent_links == 36
    top = {frozenset((res.labels[a], res.labels[b])) for a, b in zip(res.a[:6], res.b[:6])}
    assert top == new
    assert (np.diff(res.link_score) <= 0).all() and ((res.link_score > 0) & (res.link_score < 1)).all()
    m = res.link_model
    assert m.features == LINK_FEATURES and m.n_positive == 4 * 9 and m.splits == 4 and m.hide == 0.25
    # the same candidates and q-values as the other orders, only reordered
    by_p = discover_relationships(dm, meta, order="p_value")
    q = {(int(a), int(b)): v for a, b, v in zip(by_p.a, by_p.b, by_p.q_value)}
    assert len(by_p) == len(res) and all(q[(int(a), int(b))] == v for a, b, v in zip(res.a, res.b, res.q_value))
    assert np.isnan(by_p.link_score).all() and by_p.link_model is None
    md = discoveries_markdown(res, top=6)
    assert (
        "Ordered by link score" in md and "36 hidden links" in md and "| link |" in md.replace("| link | q", "| link |")
    )
    assert "link_score" in res.to_frame(top=3).columns and "link_score" not in by_p.to_frame(top=3).columns
    # names left out (ids that carry no lineage): the model says so, and still finds the fine-tunes by DNA
    blind = discover_relationships(dm, meta, link_evidence=("dna", "labels"))
    assert blind.link_model.evidence == ("dna", "labels") and "shared id tokens" not in discoveries_markdown(blind)
    assert len(top & {frozenset((blind.labels[a], blind.labels[b])) for a, b in zip(blind.a[:6], blind.b[:6])}) >= 4
    with pytest.raises(PhyloLLMError, match="link_evidence must be one of"):
        discover_relationships(dm, meta, link_evidence=("dna", "vibes"))


def test_link_model_falls_back_to_neighbour_rank_with_too_few_links_and_says_why():
    x, labels, meta, _ = _planted()  # no base_model column: no documented link
    res = discover_relationships(pairwise_distances(x, labels), meta)
    assert res.order == "neighbour_rank" and res.link_model is None
    assert res.note.startswith("ordered by neighbour rank: the link model needs at least 8 documented parent links")
    assert "Note: ordered by neighbour rank" in discoveries_markdown(res)


def test_link_model_evidence_can_be_chosen_and_bad_choices_are_refused():
    dm, meta, fam, links, ev, children = _lineage_fit_inputs()
    dna_only = fit_link_model(ev, fam, links, use=("dna",))
    assert dna_only.features == LINK_FEATURES[:4] and dna_only.weights.shape == (5,)
    # DNA alone: each unlabelled fine-tune's most link-like partner is of its own (true) family
    for f in range(6):
        me = dm.index(f"org{f}/base{f}-ft-new")
        others = np.array([j for j in range(len(dm)) if j != me])
        p = dna_only.probability(ev.features(children, fam != "", np.full(others.size, me), others))
        best = dm.labels[others[np.argmax(p)]]
        assert best == f"org{f}/base{f}" or best.startswith(f"org{f}/base{f}-ft"), best
    with pytest.raises(PhyloLLMError, match="evidence must be among"):
        fit_link_model(ev, fam, links, use=("dna", "vibes"))
    with pytest.raises(PhyloLLMError, match="at least 8 documented parent links, got 3"):
        fit_link_model(ev, fam, links[:3])


def test_link_model_steps_aside_when_every_model_is_labelled():
    dm, meta, _ = _lineages()
    labelled = meta.copy()
    labelled["family"] = labelled["family"].fillna("other")
    res = discover_relationships(dm, labelled)
    assert res.order == "neighbour_rank" and res.link_model is None and "every model has a family label" in res.note
    assert discover_relationships(dm, meta).order == "link_model"  # the same table with its unlabelled models


def test_link_model_learns_only_from_pairs_that_can_be_candidates():
    """With same-organisation pairs skipped, every simulated link (a fine-tune and its base, one
    organisation) is out of the candidates: nothing to learn from, so the order says so."""
    dm, meta, _ = _lineages()
    res = discover_relationships(dm, meta, skip_same_organization=True)
    assert res.order == "neighbour_rank" and "no simulated hidden link is a candidate" in res.note
    # one organisation per family no longer: the fine-tunes of the first three bases move elsewhere
    moved = meta.copy()
    for f in range(3):
        for i in range(3):
            moved.loc[f"org{f}/base{f}-ft{i}", "organization"] = f"tuner{f}{i}"
    res = discover_relationships(dm, moved, skip_same_organization=True)
    assert res.order == "link_model" and res.link_model.n_positive > 0
    org = moved["organization"].reindex(list(dm.labels)).astype("string").fillna("")
    assert not any(org[res.labels[a]] != "" and org[res.labels[a]] == org[res.labels[b]] for a, b in zip(res.a, res.b))


def test_link_score_is_a_probability_on_the_candidates_scale_when_negatives_are_subsampled():
    """The intercept is corrected for the subsampled negatives: fitted on 300 negatives per
    simulation instead of all ~1,700, the scores stay on the same scale (uncorrected, they would
    be ~5.7x higher: the odds of a link among the training pairs)."""
    dm, meta, fam, links, ev, children = _lineage_fit_inputs()
    full = fit_link_model(ev, fam, links)
    sub = fit_link_model(ev, fam, links, max_negatives=300)
    assert sub.n_negative == 4 * 300 < full.n_negative
    res = discover_relationships(dm, meta)  # the real candidates: unlinked pairs
    x = ev.features(children, fam != "", res.a, res.b)
    ratio = sub.probability(x).mean() / full.probability(x).mean()
    assert 0.5 < ratio < 2, ratio
