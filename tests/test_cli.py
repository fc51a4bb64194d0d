"""The CLI is thin: these tests check wiring and the error contract (one line, exit code 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from phylo_llm import DnaSet, Provenance, dna_distances, read_distance_matrix, read_dna, write_dna
from phylo_llm.build import nj
from phylo_llm.newick import read_newick
from phylo_llm.treeops import patristic_distances, robinson_foulds
from phylo_llm.cli import main


@pytest.fixture()
def dna_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    dna = DnaSet(tuple(f"org/model-{i}" for i in range(6)), rng.normal(size=(6, 8)), Provenance(dims=8))
    return write_dna(dna, tmp_path / "dna.json")


def test_distance_writes_a_matrix(dna_file: Path, tmp_path: Path):
    assert main(["distance", str(dna_file), "--metric", "cosine", "-o", str(tmp_path / "d.csv")]) == 0
    dm = read_distance_matrix(tmp_path / "d.csv")
    assert dm.labels[0] == "org/model-0" and len(dm) == 6


def test_distance_matrix_csv_is_detected_as_distance_input(dna_file: Path, tmp_path: Path):
    main(["distance", str(dna_file), "-o", str(tmp_path / "d.csv")])
    assert main(["distance", str(tmp_path / "d.csv"), "-o", str(tmp_path / "d.phy")]) == 0
    a = read_distance_matrix(tmp_path / "d.csv")
    b = read_distance_matrix(tmp_path / "d.phy")
    np.testing.assert_allclose(a.values, b.values, rtol=1e-9)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["distance", "missing.json", "-o", "x.csv"], "input 'missing.json' does not exist"),
        (["distance", "{dna}", "-o", "x.txt"], "must end in .csv, .phy, .phylip or .dist"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(argv, message, dna_file: Path, tmp_path: Path, capsys):
    argv = [a.replace("{dna}", str(dna_file)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_console_script_runs_without_traceback(tmp_path: Path):
    exe = Path(sys.executable).with_name("phylo-llm")
    proc = subprocess.run([str(exe), "distance", str(tmp_path / "nope.json"), "-o", "x.csv"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("phylo-llm distance: error:") and "Traceback" not in proc.stderr


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "distance" in capsys.readouterr().out


@pytest.mark.parametrize("method", ["nj", "upgma"])
def test_tree_writes_newick_matching_the_api(method, dna_file: Path, tmp_path: Path):
    out = tmp_path / "t.nwk"
    assert main(["tree", str(dna_file), "--method", method, "--metric", "cosine", "-o", str(out)]) == 0
    written = read_newick(out)
    assert sorted(written.tip_names) == sorted(read_dna(dna_file).labels)
    if method == "nj":
        expected = nj(dna_distances(read_dna(dna_file), metric="cosine"))
        assert robinson_foulds(written, expected) == 0


def test_tree_from_distance_matrix_with_midpoint_root_and_nexus(dna_file: Path, tmp_path: Path):
    main(["distance", str(dna_file), "-o", str(tmp_path / "d.phy"), "--precision", "17"])
    assert main(["tree", str(tmp_path / "d.phy"), "--root", "midpoint", "-o", str(tmp_path / "t.nex")]) == 0
    text = (tmp_path / "t.nex").read_text()
    assert text.startswith("#NEXUS") and "org/model-5" in text
    assert main(["tree", str(tmp_path / "d.phy"), "--root", "midpoint", "-o", str(tmp_path / "t.nwk")]) == 0
    t = read_newick(tmp_path / "t.nwk")
    # Midpoint rooting keeps the tree's path lengths (precision 6 in the file).
    pd_ = patristic_distances(t)
    ref = patristic_distances(nj(read_distance_matrix(tmp_path / "d.phy")))
    np.testing.assert_allclose(pd_.subset(ref.labels).values, ref.values, atol=1e-5)


def test_tree_to_stdout_and_bad_outgroup(dna_file: Path, capsys):
    assert main(["tree", str(dna_file)]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith(";") and "'org/model-0'" not in out  # '/' needs no quotes
    assert main(["tree", str(dna_file), "--root", "nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().err
