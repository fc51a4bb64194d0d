"""extract.demo and the simulate/demo CLI, end to end on a tiny random model built in the test."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from test_simulate import _tiny_model  # noqa: E402  (tests/ is on sys.path under pytest)

from extract import demo as demo_mod  # noqa: E402
from extract.demo import clade_groups, run_demo  # noqa: E402
from extract.recipe import resolve_recipe  # noqa: E402
from extract.simulate import balanced_topology  # noqa: E402
from phylo_llm.io import parse_newick, read_dna, write_dna  # noqa: E402
from phylo_llm.tree import robinson_foulds  # noqa: E402


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    return _tiny_model(tmp_path_factory.mktemp("demobase") / "tiny")


def test_clade_groups():
    t = balanced_topology(8)
    g = clade_groups(t, depth=2)
    assert g["sim000"] == g["sim001"] == "sim00"
    assert g["sim110"] == "sim11"
    assert set(clade_groups(t, depth=1).values()) == {"sim0", "sim1"}


def test_demo_end_to_end_on_a_tiny_model_then_from_cache(tiny_base, tmp_path, monkeypatch):
    out, cache = tmp_path / "out", tmp_path / "cache"
    kw = dict(
        base=tiny_base,
        n_leaves=4,
        probes="random:6:0",
        max_new_tokens=4,
        dims=16,
        noise=0.3,
        cache=cache,
        threads=1,
        outgroup=False,
    )
    res = run_demo(out, **kw)
    assert not res.dna_cached
    assert sorted(res.tree.tip_names) == ["sim00", "sim01", "sim10", "sim11"]
    for role in ("dna", "tree", "true_tree", "summary", "figure"):
        assert res.files[role].is_file(), role
    true = parse_newick(res.files["true_tree"].read_text())
    assert robinson_foulds(true, res.true_tree, rooted=True) == 0
    assert true.tip_names == res.true_tree.tip_names
    np.testing.assert_allclose(true.length[1:], res.true_tree.length[1:])
    inferred = parse_newick(res.files["tree"].read_text())
    assert robinson_foulds(inferred, res.tree) == 0
    summary = json.loads(res.files["summary"].read_text())
    assert summary["rf"] == res.rf and summary["rf_max"] == 2
    assert res.rf_normalized == res.rf / 2 == robinson_foulds(inferred, res.true_tree) / 2
    # demo.json names the recipe the DNA was made with: "auto" resolved for random probes.
    dna = read_dna(res.files["dna"])
    assert summary["recipe"] == dna.provenance.recipe == resolve_recipe("auto", probe_set=dna.provenance.probe_set).id
    assert summary["recipe"].startswith("whitened-global")

    # Second run: DNA from the demo cache; no model is loaded at all.
    import extract.backends.hf as hf

    def no_load(*a, **k):
        raise AssertionError("a cached demo must not load models")

    monkeypatch.setattr(hf, "HFBackend", no_load)
    monkeypatch.setattr(demo_mod, "_figure", lambda *a, **k: None)
    again = run_demo(out, **kw)
    assert again.dna_cached
    assert again.rf == res.rf
    assert robinson_foulds(again.tree, res.tree) == 0
    assert "no figure" in again.notes[0]


def test_demo_cli_runs_and_reports(tiny_base, tmp_path, capsys):
    from phylo_llm.cli import main

    rc = main(
        [
            "demo",
            "-o",
            str(tmp_path / "o"),
            "--base",
            str(tiny_base),
            "--leaves",
            "4",
            "--probes",
            "random:4:1",
            "--max-new-tokens",
            "3",
            "--dims",
            "8",
            "--noise",
            "0.3",
            "--cache",
            str(tmp_path / "c"),
            "--quiet",
            "--no-figure",
            "--threads",
            "1",
            "--no-outgroup",
        ]
    )
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "Robinson-Foulds" in out.out
    assert (tmp_path / "o" / "tree_nj.nwk").is_file()


def test_simulate_cli_writes_the_true_tree(tiny_base, tmp_path, capsys):
    from phylo_llm.cli import main

    nwk = tmp_path / "t.nwk"
    rc = main(
        [
            "simulate",
            "--base",
            str(tiny_base),
            "--topology",
            "((a,b),(c,(d,e)));",
            "--noise",
            "0.1",
            "-o",
            str(nwk),
            "--cache",
            str(tmp_path / "c"),
        ]
    )
    out = capsys.readouterr()
    assert rc == 0, out.err
    t = parse_newick(nwk.read_text())
    assert robinson_foulds(t, parse_newick("((a,b),(c,(d,e)));"), rooted=True) == 0
    # No lengths given: the depth schedule (0.1 halved per level) becomes the branch lengths.
    assert t.length[t.index_of("d")] == pytest.approx(0.025)
    lines = out.out.strip().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == ["a", "b", "c", "d", "e"]
    assert all(Path(ln.split("\t")[1]).is_dir() for ln in lines)


def test_cli_error_is_one_line(tmp_path, capsys):
    from phylo_llm.cli import main

    rc = main(["simulate", "--base", "someone/model", "--cache", str(tmp_path)])
    assert rc == 2
    assert "base must be a local or bundled model" in capsys.readouterr().err


def test_outgroup_roots_the_tree_and_is_left_out_of_the_score(tiny_base, tmp_path, monkeypatch):
    import shutil

    other = tmp_path / "other-model"
    shutil.copytree(_tiny_model(tmp_path / "o"), other)
    monkeypatch.setattr(demo_mod, "OUTGROUP", str(other))  # stands in for gemma3-270m
    res = run_demo(
        tmp_path / "out",
        base=tiny_base,
        n_leaves=4,
        probes="random:5:0",
        max_new_tokens=3,
        dims=8,
        noise=0.3,
        cache=tmp_path / "c",
        threads=1,
        outgroup=True,
        figure=False,
    )
    assert "other-model" in res.tree.tip_names
    # Rooted on the outgroup: it hangs directly below the root.
    assert "other-model" in [res.tree.name[c] for c in res.tree.children(0)]
    summary = json.loads(res.files["summary"].read_text())
    assert summary["outgroup"] == "other-model" and summary["rf_max"] == 2
    # The score is over the 4 simulated leaves only: NJ of their distances against the truth.
    from phylo_llm.data import dna_distances
    from phylo_llm.tree import nj

    dna = read_dna(res.files["dna"])
    scored = nj(dna_distances(dna).subset(list(res.true_tree.tip_names)))
    assert res.rf == summary["rf"] == robinson_foulds(scored, res.true_tree)


def test_cached_demo_dna_made_differently_is_extracted_again(tiny_base, tmp_path):
    kw = dict(
        base=tiny_base,
        n_leaves=4,
        probes="random:4:0",
        max_new_tokens=3,
        dims=8,
        noise=0.3,
        cache=tmp_path / "c",
        threads=1,
        outgroup=False,
        figure=False,
    )
    first = run_demo(tmp_path / "a", **kw)
    (cached,) = (tmp_path / "c" / "sim").glob("*/demo-*.json")
    good = read_dna(cached)
    assert good.provenance.recipe == json.loads(first.files["summary"].read_text())["recipe"]
    # A cache entry whose provenance does not match the run (here: another recipe) is not reused.
    from dataclasses import replace

    write_dna(type(good)(good.labels, good.vectors, replace(good.provenance, recipe="concat-v1")), cached)
    said: list[str] = []
    again = run_demo(tmp_path / "b", log=said.append, **kw)
    assert not again.dna_cached
    assert any("recipe" in m and "concat-v1" in m for m in said), said
    assert read_dna(cached).provenance == good.provenance
    assert json.loads(again.files["summary"].read_text())["recipe"] == good.provenance.recipe
    assert run_demo(tmp_path / "c2", **kw).dna_cached
