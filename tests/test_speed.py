"""Tests for phylo_llm.analysis: per-family evolutionary speed from a rooted tree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phylo_llm import PhyloLLMError, Tree
from phylo_llm.analysis import family_clades, family_speeds, speed_markdown
from phylo_llm.data import meta_frame


def _two_family_tree(rates: dict[str, float], n: int, *, noise: float = 0.0, seed: int = 1):
    """Root -> one ancestor per family -> n tips; tip i of family f released in 2018 + i*0.5,
    at distance rate_f * (year - 2018) + 0.05 (+ noise) from its family's ancestor."""
    rng = np.random.default_rng(seed)
    parent, length, name = [-1], [np.nan], [None]
    rows = []
    for f, rate in rates.items():
        anc = len(parent)
        parent.append(0)
        length.append(1.0)
        name.append(None)
        for i in range(n):
            year = 2018 + 0.5 * i
            d = rate * (year - 2018) + 0.05 + noise * rng.standard_normal()
            parent.append(anc)
            length.append(max(d, 0.0))
            nm = f"{f}/m{i}"
            name.append(nm)
            month = int(round((year % 1) * 12)) + 1
            rows.append({"model": nm, "family": f, "release": f"{int(year)}-{month:02d}"})
    tree = Tree.from_parents(parent, length=length, name=name, rooted=True)
    return tree, meta_frame(pd.DataFrame(rows))


def test_recovers_known_rates_exactly() -> None:
    tree, meta = _two_family_tree({"fast": 0.3, "slow": 0.05}, n=8)
    res = family_speeds(tree, meta, n_boot=200, seed=0)
    assert [f.family for f in res.families] == ["fast", "slow"]  # ranked fastest first
    fast, slow = res["fast"], res["slow"]
    # release dates are mid-month decimal years, so the slope is exact up to rounding only
    assert fast.speed == pytest.approx(0.3, rel=1e-9)
    assert slow.speed == pytest.approx(0.05, rel=1e-9)
    assert fast.r2 == pytest.approx(1.0)
    assert fast.ci_low == pytest.approx(0.3) and fast.ci_high == pytest.approx(0.3)
    assert fast.n_models == fast.n_dated == 8
    assert fast.monophyletic and fast.clade_size == 8
    # terminal branches: 0.05 + rate * 0.5*i, median over i = 0..7 -> i = 3.5
    assert fast.median_terminal == pytest.approx(0.05 + 0.3 * 0.5 * 3.5)
    assert fast.first_year == pytest.approx(2018 + 0.5 / 12)


def test_noisy_rate_inside_seeded_ci() -> None:
    tree, meta = _two_family_tree({"f": 0.2}, n=30, noise=0.05, seed=3)
    a = family_speeds(tree, meta, n_boot=500, seed=7)["f"]
    b = family_speeds(tree, meta, n_boot=500, seed=7)["f"]
    c = family_speeds(tree, meta, n_boot=500, seed=8)["f"]
    assert a.ci_low < 0.2 < a.ci_high
    assert a.ci_low < a.speed < a.ci_high
    assert 0.0 < a.r2 < 1.0
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)


def test_divergence_measured_from_family_mrca_not_root() -> None:
    tree, meta = _two_family_tree({"f": 0.1}, n=5)
    # lengthening the root->ancestor branch must not change the family's speed or divergences
    longer = Tree.from_parents(
        tree.parent, length=np.where(np.arange(len(tree)) == 1, 50.0, tree.length), name=tree.name
    )
    a, b = family_speeds(tree, meta, n_boot=0)["f"], family_speeds(longer, meta, n_boot=0)["f"]
    np.testing.assert_allclose(a.divergence, b.divergence)
    assert a.speed == pytest.approx(b.speed)


def test_small_and_undated_families_flagged() -> None:
    tree, meta = _two_family_tree({"big": 0.1, "tiny": 0.1}, n=5)
    meta = meta.copy()
    meta.loc[["tiny/m0", "tiny/m1", "tiny/m2"], "release_year"] = np.nan
    for m in ["big/m0", "big/m1", "big/m2", "big/m3", "big/m4"]:
        meta.loc[m, "release_year"] = 2020.5
    res = family_speeds(tree, meta, n_boot=50)
    assert not res["tiny"].estimable and res["tiny"].status == "too few dated models (2 < 4)"
    assert res["big"].status == "no date spread (all released together)"
    assert np.isnan(res["big"].speed) and np.isnan(res["tiny"].ci_low)
    df = res.to_frame()
    assert df["rank"].isna().all()
    md = speed_markdown(res)
    assert "## Not estimable (2 families)" in md and "too few dated models (2 < 4)" in md


def test_non_monophyletic_family_detected_and_override() -> None:
    # ((a1,a2,b1),(a3,b2)) -> family a is spread over both sides
    names = [None, None, "a1", "a2", "b1", None, "a3", "b2"]
    parent = [-1, 0, 1, 1, 1, 0, 5, 5]
    length = [np.nan, 1, 1, 2, 3, 1, 4, 1]
    tree = Tree.from_parents(parent, length=length, name=names)
    meta = meta_frame(
        pd.DataFrame(
            {
                "model": ["a1", "a2", "a3", "b1", "b2"],
                "family": ["a", "a", "a", "b", "b"],
                "release": ["2020-01", "2021-01", "2022-01", "2020-01", "2021-01"],
            }
        )
    )
    clades = family_clades(tree, dict(zip(meta.index, meta["family"])))
    assert clades["a"] == (0, 5)
    res = family_speeds(tree, meta, n_boot=0, min_models=3)
    assert not res["a"].monophyletic and res["a"].clade_size == 5
    np.testing.assert_allclose(sorted(res["a"].divergence), [2, 3, 5])
    assert res["a"].speed == pytest.approx(1.5)  # (2,3,5) over years 2020/21/22 (+1/24)
    # structural override moves b1 into family a: the MRCA of a is still the root
    res2 = family_speeds(tree, meta, n_boot=0, min_models=3, families={"b1": "a"})
    assert res2["a"].n_models == 4 and res2["b"].n_models == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rooting": "outgroup"}, r"rooting must be one of \['as-is', 'midpoint'\], got 'outgroup'"),
        ({"min_models": 2}, r"min_models must be an integer >= 3 \(a fit needs a residual\)"),
        ({"n_boot": -1}, "n_boot must be an integer >= 0"),
        ({"ci": 1.5}, "ci must be between 0 and 1"),
    ],
)
def test_bad_options(kwargs: dict, match: str) -> None:
    tree, meta = _two_family_tree({"f": 0.1}, n=4)
    with pytest.raises(PhyloLLMError, match=match):
        family_speeds(tree, meta, **kwargs)


def test_unrooted_tree_rejected_and_missing_columns() -> None:
    tree, meta = _two_family_tree({"f": 0.1}, n=4)
    unrooted = Tree(tree.parent, tree.length, tree.name, tree.support, rooted=False)
    with pytest.raises(PhyloLLMError, match="speed needs a rooted tree.*rooting='midpoint'"):
        family_speeds(unrooted, meta)
    with pytest.raises(PhyloLLMError, match=r"needs metadata column\(s\) \['release_year'\]"):
        family_speeds(tree, meta.drop(columns=["release", "release_year", "release_date"]))
    with pytest.raises(PhyloLLMError, match=r"1 model id\(s\) have no metadata row: \['f/m3'\]"):
        family_speeds(tree, meta.drop(index=["f/m3"]))


def test_ultrametric_tree_rejected() -> None:
    # ((a:1,b:1):1,(c:1,d:1):1) - every tip at depth 2
    tree = Tree.from_parents(
        [-1, 0, 1, 1, 0, 4, 4], length=[np.nan, 1, 1, 1, 1, 1, 1], name=[None, None, "a", "b", None, "c", "d"]
    )
    meta = meta_frame(
        pd.DataFrame({"model": list("abcd"), "family": ["f"] * 4, "release": ["2020", "2021", "2022", "2023"]})
    )
    with pytest.raises(PhyloLLMError, match="ultrametric.*speed would be 0 by construction"):
        family_speeds(tree, meta)


def test_equal_divergence_gives_zero_speed_and_undefined_r2() -> None:
    tree = Tree.from_parents([-1, 0, 0, 0, 0, 0], length=[np.nan, 1, 1, 1, 1, 2], name=[None, "a", "b", "c", "d", "x"])
    meta = meta_frame(
        pd.DataFrame(
            {"model": list("abcdx"), "family": ["f"] * 4 + ["g"], "release": ["2020", "2021", "2022", "2023", "2020"]}
        )
    )
    f = family_speeds(tree, meta, n_boot=0)["f"]
    assert f.speed == 0.0 and np.isnan(f.r2)


def test_midpoint_rooting_of_an_unrooted_tree() -> None:
    from phylo_llm.tree import root_midpoint, unroot

    tree, meta = _two_family_tree({"fast": 0.3, "slow": 0.05}, n=6)
    unrooted = unroot(tree)
    assert not unrooted.rooted
    a = family_speeds(unrooted, meta, rooting="midpoint", n_boot=0)
    b = family_speeds(root_midpoint(unrooted), meta, rooting="as-is", n_boot=0)
    assert [f.family for f in a.families] == [f.family for f in b.families]
    for fa, fb in zip(a.families, b.families):
        assert fa.speed == pytest.approx(fb.speed) and fa.clade_size == fb.clade_size
    # both families keep their exact rates: each family's clade is intact under the new root
    assert a["fast"].speed == pytest.approx(0.3) and a["slow"].speed == pytest.approx(0.05)


@pytest.mark.parametrize("ci, header", [(0.9, "| 90% CI |"), (0.95, "| 95% CI |"), (0.5, "| 50% CI |")])
def test_markdown_names_the_confidence_level_used(ci: float, header: str) -> None:
    tree, meta = _two_family_tree({"fast": 0.3, "slow": 0.05}, n=6)
    res = family_speeds(tree, meta, n_boot=20, ci=ci, seed=0)
    assert res.ci == ci
    md = speed_markdown(res)
    assert header in md
    assert md.count("% CI") == 1
