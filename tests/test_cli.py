"""The CLI is thin: these tests check wiring and the error contract (one line, exit code 2)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from phylo_llm import (
    DnaSet,
    Provenance,
    dna_distances,
    read_distance_matrix,
    read_dna,
    write_dna,
)
from phylo_llm.cli import main
from phylo_llm.io import read_newick
from phylo_llm.tree import nj, patristic_distances, robinson_foulds


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
    proc = subprocess.run(
        [str(exe), "distance", str(tmp_path / "nope.json"), "-o", "x.csv"], capture_output=True, text=True
    )
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


# ---- hardening (issue 11): outputs never over inputs, bad targets and OS errors in one line ------


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)
    return err


@pytest.fixture()
def meta_file(dna_file: Path, tmp_path: Path) -> Path:
    labels = read_dna(dna_file).labels
    rows = "".join(
        f"{m},fam{i % 2},decoder-only,202{i % 4}-0{i % 9 + 1},{labels[0] if i else ''}\n" for i, m in enumerate(labels)
    )
    path = tmp_path / "meta.csv"
    path.write_text("model,family,architecture,release,base_model\n" + rows)
    return path


@pytest.mark.parametrize(
    "argv, victim, what",
    [
        (["distance", "{dm}", "-o", "{dm}"], "{dm}", "is the INPUT file; refusing"),
        (["tree", "{dm}", "-o", "{dm}"], "{dm}", "is the INPUT file; refusing"),
        (["speed", "{dna}", "--meta", "{meta}", "-o", "{meta}"], "{meta}", "is the --meta file; refusing"),
        (
            ["speed", "{dna}", "--meta", "{meta}", "-o", "{tmp}/s.csv", "--report", "{meta}"],
            "{meta}",
            "must end in .md",
        ),
        (
            ["evaluate", "{dna}", "--labels", "{meta}", "--csv", "{meta}", "--n-boot", "10"],
            "{meta}",
            "is the --labels file; refusing",
        ),
        (["plot-tree", "{nwk}", "--meta", "{meta}", "-o", "{nwk}"], "{nwk}", "is the INPUT file; refusing"),
    ],
)
def test_output_onto_an_input_is_refused_and_the_input_kept(argv, victim, what, dna_file, meta_file, tmp_path, capsys):
    dm = tmp_path / "d.csv"
    main(["distance", str(dna_file), "-o", str(dm)])
    nwk = tmp_path / "t.png"  # a tree file whose name is a valid figure name
    main(["tree", str(dna_file), "-o", str(tmp_path / "t.nwk")])
    nwk.write_bytes((tmp_path / "t.nwk").read_bytes())
    subs = {
        "{dna}": str(dna_file),
        "{dm}": str(dm),
        "{meta}": str(meta_file),
        "{tmp}": str(tmp_path),
        "{nwk}": str(nwk),
    }
    for k, v in subs.items():
        argv = [a.replace(k, v) for a in argv]
        victim = victim.replace(k, v)
    before = Path(victim).read_bytes()
    capsys.readouterr()
    assert main(argv) == 2
    _one_line_error(capsys, what)
    assert Path(victim).read_bytes() == before


@pytest.mark.parametrize("flag, name, expected", [("-o", "s.txt", ".csv"), ("--report", "s.csv", ".md or .markdown")])
def test_speed_output_suffixes_are_checked(flag, name, expected, dna_file, meta_file, tmp_path, capsys):
    argv = ["speed", str(dna_file), "--meta", str(meta_file), "-o", str(tmp_path / "s.csv")]
    argv += [flag, str(tmp_path / name)] if flag == "--report" else []
    if flag == "-o":
        argv[-1] = str(tmp_path / name)
    assert main(argv) == 2
    _one_line_error(capsys, f"must end in {expected}")


@pytest.mark.parametrize(
    "argv",
    [
        ["tree", "{dna}", "-o", "{file}/x.nwk"],
        ["distance", "{dna}", "-o", "{file}/sub/x.csv"],
        ["plot-tree", "{nwk}", "-o", "{file}/x.png"],
        ["bootstrap", "{npz}", "-o", "{file}/x.nwk"],
        ["evaluate", "{dna}", "--labels", "{meta}", "--plot", "{file}/roc.png"],
        ["tree", "{dna}", "-o", "{tmp}"],
    ],
)
def test_output_under_a_file_or_onto_a_folder_is_one_line(argv, dna_file, meta_file, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    main(["tree", str(dna_file), "-o", str(tmp_path / "t.nwk")])
    subs = {
        "{dna}": str(dna_file),
        "{file}": str(afile),
        "{nwk}": str(tmp_path / "t.nwk"),
        "{npz}": str(tmp_path / "c.npz"),
        "{meta}": str(meta_file),
        "{tmp}": str(tmp_path),
    }
    for k, v in subs.items():
        argv = [a.replace(k, v) for a in argv]
    capsys.readouterr()
    assert main(argv) == 2
    err = _one_line_error(capsys)
    assert "afile" in err or "is a folder" in err
    assert afile.read_text() == "keep"


def test_distance_precision_must_be_positive(dna_file, tmp_path, capsys):
    assert main(["distance", str(dna_file), "-o", str(tmp_path / "d.csv"), "--precision", "-1"]) == 2
    _one_line_error(capsys, "--precision must be an integer >= 1 (significant digits), got -1")
    assert not (tmp_path / "d.csv").exists()


def test_symlinked_output_is_followed_and_the_link_kept(dna_file, tmp_path):
    real = tmp_path / "real.nwk"
    real.write_text("old")
    link = tmp_path / "link.nwk"
    link.symlink_to(real)
    assert main(["tree", str(dna_file), "-o", str(link)]) == 0
    assert link.is_symlink() and real.read_text().strip().endswith(";")


def test_output_to_a_device_or_fifo_writes_into_it_never_replaces_it(dna_file, tmp_path):
    import os
    import stat
    import threading

    null_link = tmp_path / "null.nwk"
    null_link.symlink_to("/dev/null")
    assert main(["tree", str(dna_file), "-o", str(null_link)]) == 0
    assert null_link.is_symlink() and stat.S_ISCHR(os.stat("/dev/null").st_mode)

    fifo = tmp_path / "pipe.nwk"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert main(["tree", str(dna_file), "-o", str(fifo)]) == 0
    reader.join(10)
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and got and got[0].strip().endswith(b";")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_to_dev_full_is_one_line_and_the_device_stays(dna_file, capsys):
    import os
    import stat

    assert main(["tree", str(dna_file), "-o", "/dev/full"]) == 2
    _one_line_error(capsys, "'/dev/full': No space left on device")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_write_that_hits_the_file_size_limit_is_one_line_and_keeps_the_old_file(dna_file, tmp_path):
    """EFBIG (or a full disk) while writing: one line naming the path, exit 2, earlier file intact."""
    import resource

    out = tmp_path / "d.csv"
    out.write_text("earlier good file\n")
    code = "import sys; from phylo_llm.cli import main; sys.exit(main(sys.argv[1:]))"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))

    proc = subprocess.run(
        [sys.executable, "-c", code, "distance", str(dna_file), "-o", str(out)],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        env={
            **__import__("os").environ,
            "PYTHONPATH": str(Path(__file__).resolve().parents[1])
            + ":"
            + __import__("os").environ.get("PYTHONPATH", ""),
        },
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "File too large" in proc.stderr and str(out) in proc.stderr
    assert out.read_text() == "earlier good file\n"
    assert not any(p.name.startswith(".d.csv") for p in tmp_path.iterdir())  # no temp file left


def _plugin_entry_points() -> dict[str, str]:
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    return project["entry-points"]["phylo_llm.commands"]


def test_every_plugin_install_hint_names_a_real_extra():
    import tomllib
    from importlib.metadata import EntryPoint

    from phylo_llm.cli import install_hint

    extras = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for name, value in _plugin_entry_points().items():
        hint = install_hint(EntryPoint(name, value, "phylo_llm.commands"))
        extra = hint.split("[")[1].split("]")[0]
        assert extra in extras, (name, hint)


@pytest.mark.parametrize("command", sorted(_plugin_entry_points()))
def test_plugin_with_missing_dependencies_says_which_extra_to_install(command, monkeypatch, capsys):
    from importlib.metadata import EntryPoint

    import phylo_llm.cli as cli

    class Broken(EntryPoint):
        def load(self):
            raise ModuleNotFoundError("No module named 'torch'", name="torch")

    broken = [Broken(n, v, "phylo_llm.commands") for n, v in _plugin_entry_points().items()]
    monkeypatch.setattr(cli, "entry_points", lambda group: broken)
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert "pip install 'phylo-llm[extract]'" in err and "No module named 'torch'" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("value", ["0", "-1"])
def test_tree_precision_is_significant_digits_at_least_one(value, dna_file, tmp_path, capsys):
    out = tmp_path / "t.nwk"
    assert main(["tree", str(dna_file), "-o", str(out), "--precision", value]) == 2
    _one_line_error(capsys, f"--precision must be an integer >= 1 (significant digits), got {value}")
    assert not out.exists()
    with pytest.raises(SystemExit):
        main(["tree", "--help"])
    helptext = " ".join(capsys.readouterr().out.split())
    assert "significant digits for branch lengths" in helptext and "decimals" not in helptext
    # 1 is the smallest valid value: one significant digit per branch length.
    assert main(["tree", str(dna_file), "-o", str(out), "--precision", "1"]) == 0
    written = re.findall(r":(-?[0-9.]+)", out.read_text())
    assert written and all(len(x.replace("-", "").replace(".", "").lstrip("0")) <= 1 for x in written), written
