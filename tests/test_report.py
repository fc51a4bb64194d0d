"""Tests for phylo_llm.report and the speed / report / plot-tree commands."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from phylo_llm import DnaSet, PhyloLLMError, write_dna  # noqa: E402
from phylo_llm.cli import main  # noqa: E402
from phylo_llm.data import meta_frame  # noqa: E402
from phylo_llm.io import read_newick  # noqa: E402
from phylo_llm.report import make_report  # noqa: E402


def _synthetic(n_fam: int = 3, per: int = 6, seed: int = 0) -> tuple[DnaSet, pd.DataFrame]:
    """Families as clusters; within a family, later models drift further from the family centre."""
    rng = np.random.default_rng(seed)
    labels, vecs, rows = [], [], []
    for f in range(n_fam):
        centre = rng.normal(size=8) * 4
        for i in range(per):
            year = 2020 + i * 0.5
            labels.append(f"org{f}/model-{f}-{i}")
            vecs.append(centre + rng.normal(size=8) * (0.2 + 0.3 * i))
            arch = "encoder-decoder" if (f == n_fam - 1 and i < 2) else "decoder-only"
            rows.append(
                {
                    "model": labels[-1],
                    "family": f"fam{f}",
                    "architecture": arch,
                    "release": f"{int(year)}-{1 + int(round((year % 1) * 12)):02d}",
                    "organization": f"org{f}",
                }
            )
    rows.append(
        {
            "model": "extra/not-in-dna",
            "family": "fam0",
            "architecture": "decoder-only",
            "release": "2024-01",
            "organization": "x",
        }
    )
    return DnaSet(tuple(labels), np.array(vecs)), meta_frame(pd.DataFrame(rows))


def test_make_report_writes_linked_outputs(tmp_path: Path) -> None:
    dna, meta = _synthetic()
    calls: list[tuple[str, int, int]] = []
    rep = make_report(
        dna,
        meta,
        tmp_path / "out",
        formats=["png", "svg"],
        n_boot=100,
        progress=lambda s, i, n: calls.append((s, i, n)),
    )
    assert [c[1] for c in calls] == list(range(1, 10)) and {c[2] for c in calls} == {9}
    out = tmp_path / "out"
    for rel in [
        "index.md",
        "index.html",
        "distances.csv",
        "tree_nj.nwk",
        "tree_upgma.nwk",
        "speed.csv",
        "speed.md",
        "dna_map.html",
        "figures/tree_nj_circular.svg",
        "figures/tree_nj_rectangular.png",
        "figures/tree_upgma_rectangular.png",
        "figures/architecture_timeline.png",
        "figures/architecture_drift.svg",
        "figures/architecture_tree_positions.png",
        "figures/dna_map.png",
        "figures/speed.png",
        "tables/architecture_clades.csv",
        "discoveries.csv",
        "discoveries.md",
    ]:
        assert (out / rel).is_file(), rel
        assert (out / rel).stat().st_size > 0
    assert all(p.is_file() for p in rep.files.values())
    # every link in the index resolves to a written file
    links = re.findall(r"\]\(([^)]+)\)", (out / "index.md").read_text())
    hrefs = re.findall(r"(?:href|src)='([^']+)'", (out / "index.html").read_text())
    assert len(links) >= 15 and set(links) <= set(hrefs)
    for rel in set(links) | set(hrefs):
        assert (out / rel).is_file(), rel
    # trees round-trip and hold every model; NJ is midpoint-rooted
    nj = read_newick(out / "tree_nj.nwk")
    assert sorted(nj.tip_names) == sorted(dna.labels) and nj.rooted
    speed = pd.read_csv(out / "speed.csv")
    assert set(speed["family"]) == {"fam0", "fam1", "fam2"}
    assert "encoder-decoder: 2 models" in (out / "index.md").read_text()
    assert "## Possible undocumented relatives" in (out / "index.md").read_text()


def test_report_lists_a_planted_undocumented_relative(tmp_path: Path) -> None:
    """A model labelled in one family but copied from another leads the index's table. Two labelled
    models of different families are a draw of the null (the calibration pairs), so it is listed, not
    called; the table says so."""
    dna, meta = _synthetic(n_fam=6, per=6)
    x = np.array(dna.vectors, dtype=float)
    x[-1] = x[0] + 0.01  # the last fam5 model is in fact a copy of a fam0 model
    rep = make_report(DnaSet(dna.labels, x), meta, tmp_path / "out", formats=["png"], n_boot=20)
    index = (tmp_path / "out" / "index.md").read_text()
    table = index.split("## Possible undocumented relatives", 1)[1]
    assert f"| 1 | {dna.labels[0]} → {dna.labels[-1]} |" in table
    assert "The table lists the 5 most extreme pairs; only those marked ✓ are calls." in index
    assert table.count("\n| ") == 1 + 5 and " ✓ |" not in table
    assert "<td>org0/model-0-0 → org5/model-5-5</td>" in (tmp_path / "out" / "index.html").read_text()
    first = pd.read_csv(rep.files["discoveries.csv"]).iloc[0]
    assert (first["model_a"], first["model_b"], bool(first["significant"])) == (dna.labels[0], dna.labels[-1], False)


def test_make_report_rejects_bad_formats_and_missing_meta(tmp_path: Path) -> None:
    dna, meta = _synthetic()
    with pytest.raises(
        PhyloLLMError, match=r"formats must be a non-empty subset of \['png', 'pdf', 'svg'\], got \['jpg'\]"
    ):
        make_report(dna, meta, tmp_path, formats=["jpg"])
    with pytest.raises(PhyloLLMError, match=r"1 model id\(s\) have no metadata row: \['org0/model-0-0'\]"):
        make_report(dna, meta.drop(index=["org0/model-0-0"]), tmp_path, formats=["png"])
    with pytest.raises(PhyloLLMError, match=r"1 metadata row\(s\) match no model id: \['extra/not-in-dna'\]"):
        make_report(dna, meta, tmp_path, formats=["png"], allow_extra=False)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    dna, meta = _synthetic()
    d = write_dna(dna, tmp_path / "dna.csv")
    m = tmp_path / "meta.csv"
    meta.drop(columns=["release_date", "release_year"]).reset_index().to_csv(m, index=False)
    return d, m


def test_cli_speed_from_dna_and_from_newick(files: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    dna, meta = files
    assert (
        main(
            [
                "speed",
                str(dna),
                "--meta",
                str(meta),
                "-o",
                str(tmp_path / "s.csv"),
                "--report",
                str(tmp_path / "s.md"),
                "--n-boot",
                "50",
            ]
        )
        == 0
    )
    first = pd.read_csv(tmp_path / "s.csv")
    assert list(first["family"][:1]) and (tmp_path / "s.md").read_text().startswith("# Evolutionary speed")
    # same answer from the NJ tree written by the report... via Newick and --rooting midpoint
    from phylo_llm import dna_distances, read_dna
    from phylo_llm.io import write_newick
    from phylo_llm.tree import nj

    write_newick(nj(dna_distances(read_dna(dna))), tmp_path / "t.nwk")
    assert (
        main(["speed", str(tmp_path / "t.nwk"), "--meta", str(meta), "-o", str(tmp_path / "s2.csv"), "--n-boot", "50"])
        == 0
    )
    second = pd.read_csv(tmp_path / "s2.csv")
    np.testing.assert_allclose(first["speed"], second["speed"], rtol=1e-5)


def test_cli_speed_strict_meta_is_one_line_error(files: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    dna, meta = files
    rc = main(["speed", str(dna), "--meta", str(meta), "-o", str(tmp_path / "s.csv"), "--strict-meta"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("phylo-llm speed: error: 1 metadata row(s) match no model id: ['extra/not-in-dna']")


def test_cli_families_override(files: tuple[Path, Path], tmp_path: Path) -> None:
    dna, meta = files
    fam = tmp_path / "fam.csv"
    fam.write_text("model,family\n" + "".join(f"org0/model-0-{i},merged\norg1/model-1-{i},merged\n" for i in range(6)))
    assert (
        main(
            [
                "speed",
                str(dna),
                "--meta",
                str(meta),
                "-o",
                str(tmp_path / "s.csv"),
                "--families",
                str(fam),
                "--n-boot",
                "0",
            ]
        )
        == 0
    )
    got = pd.read_csv(tmp_path / "s.csv").set_index("family")
    assert got.loc["merged", "n_models"] == 12 and "fam0" not in got.index


def test_cli_plot_tree(files: tuple[Path, Path], tmp_path: Path) -> None:
    dna, meta = files
    from phylo_llm import dna_distances, read_dna
    from phylo_llm.io import write_newick
    from phylo_llm.tree import nj

    write_newick(nj(dna_distances(read_dna(dna))), tmp_path / "t.nwk")
    out = tmp_path / "t.svg"
    assert (
        main(
            [
                "plot-tree",
                str(tmp_path / "t.nwk"),
                "-o",
                str(out),
                "--meta",
                str(meta),
                "--layout",
                "circular",
                "--release-strip",
                "--midpoint",
                "--label-max-chars",
                "12",
            ]
        )
        == 0
    )
    svg = out.read_text()
    assert svg.count("org0/model-") == 6  # each family-0 label drawn once, as (truncated) text
    assert (tmp_path / "t.labels.csv").is_file()  # names were truncated -> index written


def test_cli_plot_tree_ete3_engine_says_what_is_missing(files: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    try:
        import PyQt5  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - only where PyQt5 is installed
        pytest.skip("PyQt5 is installed; the ete3 path is exercised in test_plot")
    dna, meta = files
    from phylo_llm import dna_distances, read_dna
    from phylo_llm.io import write_newick
    from phylo_llm.tree import nj

    write_newick(nj(dna_distances(read_dna(dna))), tmp_path / "t.nwk")
    rc = main(["plot-tree", str(tmp_path / "t.nwk"), "-o", str(tmp_path / "t.png"), "--engine", "ete3"])
    assert rc == 2
    assert "ete3 rendering needs ete3 and PyQt5" in capsys.readouterr().err


def test_cli_report(files: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    dna, meta = files
    assert (
        main(
            ["report", str(dna), "--meta", str(meta), "-o", str(tmp_path / "rep"), "--formats", "png", "--n-boot", "50"]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "[1/9] joining metadata" in err and "[8/9] possible undocumented relatives" in err and "[9/9] index" in err
    assert (tmp_path / "rep" / "index.html").is_file()


@pytest.mark.slow
@pytest.mark.shared_data
def test_cli_report_on_paper_data(paper_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "paper"
    rc = main(
        [
            "report",
            str(paper_data / "dna_qwen3-embedding-8b.csv"),
            "--meta",
            str(paper_data / "models_meta.csv"),
            "-o",
            str(out),
            "--formats",
            "png",
            "--n-boot",
            "200",
        ]
    )
    assert rc == 0
    assert len(read_newick(out / "tree_nj.nwk").tip_names) == 313
    clades = pd.read_csv(out / "tables" / "architecture_clades.csv").set_index("architecture")
    assert clades.loc["encoder-decoder", "n_models"] == 7
    speed = pd.read_csv(out / "speed.csv")
    assert (speed["status"] == "ok").sum() >= 10
    assert "313 models" in (out / "index.md").read_text()


def test_report_shows_where_structural_family_and_lineage_disagree(tmp_path: Path) -> None:
    dna, meta = _synthetic()
    # Structural families: fam0 and fam1 are behavioural clusters, but say fam1's first two models
    # share fam0's build (same architecture + tokenizer) after diverging in training.
    structural = {
        m: (
            "fam0"
            if m.startswith("org0/") or m in ("org1/model-1-0", "org1/model-1-1")
            else m.split("/")[0].replace("org", "fam")
        )
        for m in dna.labels
    }
    make_report(dna, meta, tmp_path / "out", formats=["png"], n_boot=20, families=structural)
    table = pd.read_csv(tmp_path / "out" / "tables" / "family_vs_lineage.csv", index_col="model")
    moved = ["org1/model-1-0", "org1/model-1-1"]
    assert (table.loc[moved, "family"] == "fam0").all()
    assert not table.loc[moved, "agrees"].any()  # their DNA sits with fam1, away from their build
    assert (table.loc[["org0/model-0-0", "org2/model-2-0"], "nearest_same_family"]).all()
    assert not table.loc["org0/model-0-0", "family_is_clade"]  # fam0 is split across the tree
    assert table.loc["org2/model-2-0", "family_is_clade"]  # fam2 is both one build and one clade
    index = (tmp_path / "out" / "index.md").read_text()
    assert "Family (structural) vs DNA lineage" in index
    assert "Families split across the tree (same build, diverged behaviour): fam0" in index


# ---- hardening (issue 11): a failed report leaves nothing new; a second one replaces the first ----


def _tree_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path]:
    dna, meta = _synthetic(n_fam=2, per=4)
    d = write_dna(dna, tmp_path / "dna.json")
    m = tmp_path / "meta.csv"
    meta.drop(columns=["release_date", "release_year"]).reset_index().to_csv(m, index=False)
    return d, m


def test_report_failures_leave_nothing_behind_and_an_earlier_report_whole(small, tmp_path: Path, capsys) -> None:
    dna, meta = small
    out = tmp_path / "rep"
    base = ["report", str(dna), "--meta", str(meta), "--formats", "png", "--n-boot", "10"]
    one = tmp_path / "one.json"
    write_dna(DnaSet(("org0/model-0-0",), np.zeros((1, 8))), one)
    bad = [
        ["--n-boot", "-1"],
        ["--min-models", "1"],
        ["--formats", "png,jpg"],
    ]
    for extra in bad:
        assert main(base + ["-o", str(out)] + extra) == 2
        assert not out.exists(), extra
    assert main(["report", str(one), "--meta", str(meta), "-o", str(out)]) == 2
    assert "at least 3 models" in capsys.readouterr().err and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dna.json", "meta.csv", "one.json"]

    assert main(base + ["-o", str(out), "--formats", "png,svg"]) == 0
    earlier = _tree_of(out)
    assert any(k.endswith(".svg") for k in earlier)
    for extra in bad:
        assert main(base + ["-o", str(out)] + extra) == 2
        assert _tree_of(out) == earlier, extra
    capsys.readouterr()
    # A second report replaces the first as a whole: no svg of the earlier run is left.
    assert main(base + ["-o", str(out)]) == 0
    assert "replaced the earlier report" in capsys.readouterr().err
    now = _tree_of(out)
    assert not any(k.endswith(".svg") for k in now) and "index.html" in now
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dna.json", "meta.csv", "one.json", "rep"]


def test_report_failing_mid_way_leaves_no_folder(small, tmp_path: Path, monkeypatch) -> None:
    import phylo_llm.report._report as report_mod

    def boom(*a, **k):
        raise OSError(28, "No space left on device", str(tmp_path / "rep" / "dna_map.html"))

    monkeypatch.setattr(report_mod, "write_dna_map_html", boom)
    dna, meta = small
    assert (
        main(
            ["report", str(dna), "--meta", str(meta), "--formats", "png", "--n-boot", "10", "-o", str(tmp_path / "rep")]
        )
        == 2
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dna.json", "meta.csv"]


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda out: out.write_text("x"), "is a file; the output must be a folder"),
        (
            lambda out: (out.mkdir(), (out / "notes.txt").write_text("mine")),
            "is not an earlier report (holds 'notes.txt')",
        ),
    ],
)
def test_report_target_problems_are_one_line_before_any_work(small, tmp_path: Path, capsys, setup, message) -> None:
    dna, meta = small
    out = tmp_path / "rep"
    setup(out)
    before = _tree_of(tmp_path)
    assert main(["report", str(dna), "--meta", str(meta), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "[1/8]" not in err
    assert _tree_of(tmp_path) == before


def test_report_refuses_an_output_folder_that_holds_its_input(small, tmp_path: Path, capsys) -> None:
    dna, meta = small
    assert main(["report", str(dna), "--meta", str(meta), "-o", str(tmp_path)]) == 2
    assert "holds the INPUT file" in capsys.readouterr().err
