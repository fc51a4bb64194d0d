"""The sha256 helpers of :mod:`phylo_llm.util` and the persisted ids built on them.

The expected ids below were computed by the code before the helpers existed (each module hashed
on its own): probe-set ids, settings ids, cache keys, lineage keys and checksums are stored in
files and caches, so moving the hashing into one module must not change a single one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from phylo_llm.atlas import load_atlas
from phylo_llm.util import canonical_json, sha256_bytes, sha256_file, sha256_json, sha256_text, short_id


@pytest.mark.parametrize("text", ["", "abc", "Ünïcode ✓", "a\0b"])
def test_sha256_text_and_bytes(text):
    want = hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert sha256_text(text) == want == sha256_bytes(text.encode("utf-8"))


@pytest.mark.parametrize("size", [0, 5, (1 << 20) + 7])  # empty, small, more than one block
def test_sha256_file_streams_the_whole_file(tmp_path: Path, size: int):
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("obj", [{}, {"b": 1, "a": [1.5, "é"]}, [3, {"z": None, "y": True}]])
def test_sha256_json_is_the_sorted_default_form(obj):
    assert sha256_json(obj) == hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
    h = hashlib.sha256(json.dumps(obj, sort_keys=True).encode())
    h.update(b"12")
    h.update(b"3")
    assert sha256_json(obj, extra=(b for b in (b"12", b"3"))) == h.hexdigest()


def test_canonical_json_and_short_id():
    assert canonical_json({"b": "é", "a": [1, 2]}) == '{"a":[1,2],"b":"é"}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    assert short_id("0123456789abcdef0123") == "sha256:0123456789abcdef"
    assert short_id("0123456789", 4, prefix="dir-") == "dir-0123"


def test_persisted_ids_are_unchanged():
    from extract import demo, embed, simulate, store
    from extract.backends.recorded import RecordedBackend
    from extract.probes import ProbeSet, probe_set_id

    assert probe_set_id(["Hello?", "Ünïcode ✓"]) == "sha256:3fd7e47de3445829"
    assert store.settings_id({"b": [1.5, "é"], "a": 1}) == "sha256:2bb202b35963ad9e"
    assert store._short_hash("org/Model X") == "861ee286"
    assert embed._texts_hash(["a", "é"]) == "91bd7b5d30b2d6b32212d31553dcaca2"
    assert demo._demo_key("lk", {"x": 1, "y": "z"}, "sha256:abc") == "5544fc36d2446ad9"
    assert simulate.lineage_key("base", simulate.balanced_topology(4), seed=3) == "1c90c51102fa7425"
    assert RecordedBackend("m", ProbeSet(("p1", "p2")), ["r1", "ré"])._digest == "sha256:9d506b47b0f1668a"


def test_bundled_checksums_are_unchanged():
    # The bundled atlases were written (their sha256 recorded) before the hashing helpers existed;
    # read_atlas recomputes the sha with them and refuses a file whose recorded sha256 differs.
    import json

    import numpy as np

    from extract.recipe import bundled_reference, get_recipe
    from phylo_llm.atlas import ATLAS_DIR, atlas_names

    for name in atlas_names():
        with np.load(ATLAS_DIR / f"{name}.npz") as z:
            recorded = json.loads(str(z["meta"]))["sha256"]
        assert load_atlas(name).sha == recorded
    assert bundled_reference().sha.startswith("cce48087e9c680e5")
    assert get_recipe("whitened").id == "whitened-v2+cce48087e9c6"
