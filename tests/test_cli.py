"""The CLI is thin: these tests check wiring and the error contract (one line, exit code 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from phylo_llm import DnaSet, Provenance, read_distance_matrix, write_dna
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
