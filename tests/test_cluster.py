"""Ray fan-out on a real local Ray cluster that the tests start and stop themselves.

Two models: the bundled SmolLM2 and a simulated descendant of a tiny random model (see
test_simulate.py). One test kills a worker in the middle of its run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from extract.cluster import RAY_INSTALL_HINT, CachedModel, collect_on_ray
from extract.probes import load_probes
from extract.runner import run_extraction
from phylo_llm.cli import main
from phylo_llm.errors import PhyloLLMError
from phylo_llm.io import read_dna

# A one-machine cluster on the loopback address only (Ray would otherwise advertise and dial
# this machine's outward address); read by Ray when it is imported. Token auth off: nothing
# but this test can reach 127.0.0.1.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

try:
    import ray  # noqa: F401
except ImportError:
    if os.environ.get("CI"):
        raise  # the `ray` extra is part of .[all]: in CI a missing Ray is a broken install
    pytest.skip("Ray is not installed (pip install 'phylo-llm[ray]')", allow_module_level=True)

from test_simulate import _tiny_model  # noqa: E402

SETTINGS = {"max_new_tokens": 16, "chat_template": False, "threads": 1}


@pytest.fixture(scope="module")
def tiny_leaf(tmp_path_factory) -> str:
    from extract.simulate import simulate_lineage

    base = _tiny_model(tmp_path_factory.mktemp("tinybase") / "tiny")
    lin = simulate_lineage(base, n_leaves=2, noise=0.2, seed=0, cache=tmp_path_factory.mktemp("sim"))
    return str(lin.model_dirs["sim0"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> str:
    """`ray start --head` on the loopback address; stopped by killing the process group it leads."""
    port = _free_port()
    ray_bin = Path(sys.executable).parent / "ray"
    cmd = [
        str(ray_bin) if ray_bin.exists() else "ray",
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        "--num-cpus=2",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={tmp_path_factory.mktemp('raytmp')}",
    ]
    log = tmp_path_factory.mktemp("raylog") / "head.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, "RAY_ADDRESS": ""}
        )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"ray start exited with {proc.returncode}: {log.read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"the Ray head did not come up: {log.read_text()[-2000:]}")
        time.sleep(2)
        yield address
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _dna(models, probes, tmp: Path, cache: Path):
    # chunk_size=2, as on Ray: the local answers come from the same generation batches, so their
    # equality does not hang on how a batch of 10 pads against batches of 2 (greedy argmax ties
    # can flip in the last bits of a differently shaped matmul).
    return run_extraction(
        models,
        probes,
        out_dir=tmp,
        cache_dir=cache,
        recipe="concat",
        dims=16,
        threads=1,
        chunk_size=2,
        backend_settings=SETTINGS,
    ).dna


def test_a_killed_worker_loses_only_its_chunk_and_the_dna_is_the_local_one(
    cluster: str, tiny_leaf: str, tmp_path: Path
) -> None:
    probes = load_probes("random:10:0")
    specs = ["smollm2-135m", tiny_leaf]
    events = []
    killed: dict[str, int] = {}

    def watch(ev) -> None:
        events.append(ev)
        if ev.stage == "note" and ev.model == "smollm2-135m" and "loading on" in ev.message:
            watch.pid = int(ev.message.split(" pid ")[1].split()[0])
        # The first durable chunk of SmolLM2 is on disk: kill its worker during the second.
        if (
            ev.stage == "responses"
            and not killed
            and getattr(watch, "pid", None)
            and _cached(tmp_path / "cache", "smollm2-135m", probes) >= 2
        ):
            killed["pid"] = watch.pid
            killed["cached"] = _cached(tmp_path / "cache", "smollm2-135m", probes)
            os.kill(watch.pid, signal.SIGKILL)

    got = collect_on_ray(
        specs,
        probes,
        address=cluster,
        cache_dir=tmp_path / "cache",
        chunk_size=2,
        backend_settings=SETTINGS,
        progress=watch,
    )
    assert killed, "the SmolLM2 worker finished before it could be killed"
    smol, leaf = got
    assert (smol.model_id, smol.attempts, leaf.attempts) == ("smollm2-135m", 2, 1)
    notes = [e.message for e in events if e.stage == "note" and e.model == "smollm2-135m"]
    assert any("worker died" in n and "attempt 2/3" in n for n in notes), notes
    # The second attempt generated only what was not on disk when the first died.
    final = int(notes[-1].split("(")[1].split()[0])
    assert 0 < final <= len(probes) - killed["cached"]
    assert all(e.done <= e.total == 2 * len(probes) for e in events if e.stage == "responses")

    on_ray = _dna(got, probes, tmp_path / "ray-out", tmp_path / "cache")
    local = _dna(specs, probes, tmp_path / "local-out", tmp_path / "local-cache")
    assert on_ray.labels == local.labels == ("smollm2-135m", "sim0")
    np.testing.assert_array_equal(on_ray.vectors, local.vectors)
    assert on_ray.provenance == local.provenance


def _cached(cache: Path, model: str, probes) -> int:
    """Response records of ``model`` durably on disk (whole lines)."""
    files = list((cache / "responses").glob(f"{model}-*/{probes.id.removeprefix('sha256:')}-*.jsonl"))
    return sum(f.read_bytes().count(b'{"i":') for f in files)


def test_cli_ray_with_a_private_local_instance_matches_a_local_run(
    tiny_leaf: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    common = [
        "--probes",
        "random:6:0",
        "--max-new-tokens",
        "8",
        "--no-chat-template",
        "--threads",
        "1",
        "--recipe",
        "concat",
        "--dims",
        "16",
    ]
    assert (
        main(
            [
                "extract",
                tiny_leaf,
                *common,
                "-o",
                str(tmp_path / "local"),
                "--cache-dir",
                str(tmp_path / "c1"),
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(["extract", tiny_leaf, *common, "-o", str(tmp_path / "ray"), "--cache-dir", str(tmp_path / "c2"), "--ray"])
        == 0
    )
    err = capsys.readouterr().err
    assert "sim0: responses ready (6 generated on" in err
    a, b = read_dna(tmp_path / "local" / "dna.json"), read_dna(tmp_path / "ray" / "dna.json")
    assert a.labels == b.labels == ("sim0",)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    import ray

    assert not ray.is_initialized()  # the private instance was stopped


def test_a_driver_without_the_workers_cache_says_so() -> None:
    m = CachedModel("m", {"backend": "x"})
    assert m.settings() == {"backend": "x"}
    with pytest.raises(PhyloLLMError, match="must share --cache-dir"):
        m.generate(["a", "b"])


def test_missing_ray_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(PhyloLLMError, match=r"pip install 'phylo-llm\[ray\]'") as err:
        collect_on_ray(["smollm2-135m"], load_probes("random:2"), cache_dir=tmp_path)
    assert str(err.value) == RAY_INSTALL_HINT
