"""The character n-gram embedder: its vectors against an independent pure-Python reference, its
window, its ids, and its place in the embedding and placement paths."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from extract.embed import embed_texts, load_embedder
from extract.ngram import NgramEmbedder, normalise, parse_ngram_id
from phylo_llm.errors import PhyloLLMError

MASK = (1 << 64) - 1


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _reference(text: str, lo: int, hi: int, dim: int, window: int) -> np.ndarray:
    """The documented vector, computed with Python integers one n-gram at a time."""
    t = re.sub(r"\s+", " ", text).strip().lower()[:window]
    counts: Counter[int] = Counter()
    for n in range(lo, hi + 1):
        for i in range(len(t) - n + 1):
            h = (n * 0x9E3779B97F4A7C15) & MASK
            for ch in t[i : i + n]:
                h = _mix(h ^ ord(ch))
            counts[h % dim] += 1
    v = np.zeros(dim)
    for b, c in counts.items():
        v[b] = math.log1p(c)
    norm = math.sqrt(float(v @ v))
    return v / norm if norm else v


TEXTS = [
    "The cat sat on the mat.",
    "  THE cat\n\tsat on the   mat. ",
    "子曰：學而時習之，不亦說乎？有朋自遠方來，不亦樂乎？",
    "emoji outside the BMP: 😀🦜 and ñ",
    "a lone surrogate \ud800 from a JSON escape",
    "a",
    "",
]


@pytest.mark.parametrize(("lo", "hi", "dim", "window"), [(1, 3, 512, 512), (2, 4, 97, 10), (1, 1, 8, 3)])
def test_vectors_match_an_independent_reference(lo: int, hi: int, dim: int, window: int) -> None:
    e = NgramEmbedder(lo=lo, hi=hi, dim=dim, window=window)
    got = e.encode(TEXTS)
    assert got.shape == (len(TEXTS), dim) and got.dtype == np.float32
    for text, row in zip(TEXTS, got):
        np.testing.assert_allclose(row, _reference(text, lo, hi, dim, window), atol=1e-6)


def test_normalisation_window_and_keys() -> None:
    e = NgramEmbedder(dim=256, window=12)
    v = e.encode(TEXTS[:2] + ["the cat sat on the rug, then slept"])
    assert np.array_equal(v[0], v[1])  # white space and case do not count
    assert e.window_keys(TEXTS[:2]) == ["the cat sat ", "the cat sat "]
    # only the first 12 normalised characters are read: a different ending changes nothing
    assert np.array_equal(e.encode(["the cat sat on the mat"]), e.encode(["the cat sat in a box"]))
    assert e.piece_counts(["  a  b ", "x" * 40]) == [3, 12] and e.window_pieces == 12
    assert normalise("A\u3000B", 5) == "a b"  # an ideographic space is white space too


def test_shared_wording_is_closer_than_other_wording() -> None:
    e = NgramEmbedder()
    a, b, c = e.encode(
        [
            "天地玄黃，宇宙洪荒。日月盈昃，辰宿列張。",
            "天地玄黃，宇宙洪荒。日月盈昃，寒來暑往。",
            "The answer is B because water boils at 100 degrees.",
        ]
    )
    assert a @ b > 0.6 > 0.2 > a @ c  # unrelated texts meet only in hash collisions
    assert np.isclose(a @ a, 1.0) and not e.encode([""]).any()


def test_ids_round_trip_and_bad_ids_are_one_line() -> None:
    e = NgramEmbedder(lo=2, hi=5, dim=300, window=64)
    assert e.id == "char-ngram-2-5-d300-w64-v1" and parse_ngram_id(e.id) == (2, 5, 300, 64)
    assert NgramEmbedder.from_id(e.id).encode(["abc"]).tolist() == e.encode(["abc"]).tolist()
    with pytest.raises(PhyloLLMError, match="'char-ngram-x' is not a character n-gram embedder id"):
        load_embedder("char-ngram-x")
    with pytest.raises(PhyloLLMError, match="hi"):
        NgramEmbedder(lo=3, hi=2)
    with pytest.raises(PhyloLLMError, match="dim"):
        NgramEmbedder(dim=1)


def test_load_embedder_names() -> None:
    assert load_embedder("char-ngram").id == NgramEmbedder().id == "char-ngram-1-3-d512-w512-v1"
    assert load_embedder("char-ngram-1-3-d256-w256-v1").dim == 256


def test_embed_texts_computes_and_writes_no_cache(tmp_path: Path) -> None:
    e = NgramEmbedder(dim=64)
    v = embed_texts(e, TEXTS * 50, cache_dir=tmp_path)  # several cache chunks' worth
    assert np.array_equal(v, e.encode(TEXTS * 50)) and not v.flags.writeable
    assert not any(tmp_path.rglob("*.npy"))  # cheaper to make than to read back


def test_window_stop_counts_characters() -> None:
    from extract.atlas.place import embedder_window_stop

    stop = embedder_window_stop(NgramEmbedder(window=20), margin=4)
    assert stop.needed == 20 and stop.margin == 4 and "char-ngram" in stop.id
    assert stop.count(["abc", "x " * 30]) == [3, 24]  # capped at window + margin
