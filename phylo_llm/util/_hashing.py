"""sha256 helpers: the one place that says how text, JSON, bytes and files are hashed.

Many hashes are persisted (probe-set ids, cache keys, atlas and reference-stats checksums, recipe
ids), so each helper reproduces exactly the bytes the code hashed before it existed: two JSON
forms are kept apart on purpose. :func:`canonical_json` (sorted keys, compact, UTF-8 kept, no NaN)
names settings and texts; :func:`sha256_json` hashes ``json.dumps(obj, sort_keys=True)`` (the
default separators, ASCII escapes), the form of the atlas, reference-stats and lineage checksums.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["canonical_json", "sha256_bytes", "sha256_file", "sha256_json", "sha256_text", "short_id"]

_BLOCK = 1 << 20


def canonical_json(value: Any) -> str:
    """One JSON text per value: sorted keys, no spaces, non-ASCII kept, NaN refused.

    Examples
    --------
    >>> canonical_json({"b": [1, "é"], "a": 0.5})
    '{"a":0.5,"b":[1,"é"]}'
    """
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def sha256_text(text: str) -> str:
    """Hex sha256 of ``text`` encoded as UTF-8 (a lone surrogate, which JSON can carry, is
    encoded as its code point rather than refused; valid text hashes as plain UTF-8).

    Examples
    --------
    >>> sha256_text("abc")[:16]
    'ba7816bf8f01cfea'
    >>> sha256_text("\\ud800") != sha256_text("\\udc00")
    True
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``.

    Examples
    --------
    >>> sha256_bytes(b"abc") == sha256_text("abc")
    True
    """
    return hashlib.sha256(data).hexdigest()


def sha256_json(obj: Any, *, extra: Iterable[bytes] = ()) -> str:
    """Hex sha256 of ``json.dumps(obj, sort_keys=True)`` followed by each chunk of ``extra``.

    ``extra`` carries what JSON cannot, e.g. arrays as little-endian bytes after their metadata.

    Examples
    --------
    >>> sha256_json({"b": 1, "a": 2}) == sha256_text('{"a": 2, "b": 1}')
    True
    >>> sha256_json({}, extra=[b"x"]) == sha256_text("{}x")
    True
    """
    h = hashlib.sha256(json.dumps(obj, sort_keys=True).encode("utf-8"))
    for chunk in extra:
        h.update(chunk)
    return h.hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (a file of any size, in little memory).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.txt"
    >>> _ = p.write_bytes(b"abc")
    >>> sha256_file(p) == sha256_text("abc")
    True
    """
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def short_id(digest: str, n: int = 16, *, prefix: str = "sha256:") -> str:
    """A short, labelled id from a hex digest: ``prefix`` + its first ``n`` digits.

    Examples
    --------
    >>> short_id(sha256_text("abc"))
    'sha256:ba7816bf8f01cfea'
    """
    return prefix + digest[:n]
