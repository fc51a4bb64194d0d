"""GGUF header reading: the metadata key/value table, without loading tensors (memory-mapped)."""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PhyloLLMError

__all__ = ["read_gguf_metadata"]


# GGUF value types -> struct format (little-endian). 8 = string, 9 = array.
_GGUF_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


class _Cursor:
    def __init__(self, buf: memoryview, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n: int) -> memoryview:
        end = self.pos + n
        if end > len(self.buf):
            raise PhyloLLMError(f"{self.path}: GGUF header is truncated (needs byte {end}, file has {len(self.buf)})")
        out = self.buf[self.pos : end]
        self.pos = end
        return out

    def unpack(self, fmt: str) -> Any:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return bytes(self.take(self.unpack("Q"))).decode("utf-8", errors="surrogateescape")

    def value(self, vtype: int) -> Any:
        if vtype in _GGUF_SCALAR:
            return self.unpack(_GGUF_SCALAR[vtype])
        if vtype == _GGUF_STRING:
            return self.string()
        if vtype == _GGUF_ARRAY:
            etype, count = self.unpack("I"), self.unpack("Q")
            if etype in _GGUF_SCALAR:
                dt = np.dtype("<" + _GGUF_SCALAR[etype])
                return np.frombuffer(self.take(count * dt.itemsize), dtype=dt).tolist()
            if etype == _GGUF_STRING:
                return self.strings(count)
            return [self.value(etype) for _ in range(count)]
        raise PhyloLLMError(f"{self.path}: unknown GGUF value type {vtype} at byte {self.pos}")

    def strings(self, count: int) -> list[str]:
        # Vocabularies hold 10^5 strings: one tight loop instead of a method call per string.
        buf, pos, size = self.buf, self.pos, len(self.buf)
        length = struct.Struct("<Q").unpack_from
        out = []
        append = out.append
        for _ in range(count):
            if pos + 8 > size:
                break
            (n,) = length(buf, pos)
            pos += 8
            if pos + n > size:
                break
            append(str(buf[pos : pos + n], "utf-8", "surrogateescape"))
            pos += n
        if len(out) != count:
            raise PhyloLLMError(
                f"{self.path}: GGUF header is truncated inside a string array ({len(out)} of {count} strings readable)"
            )
        self.pos = pos
        return out


def read_gguf_metadata(path: str | Path) -> dict[str, Any]:
    """The key/value metadata of a GGUF file (v2/v3), without touching the tensor data.

    Only the header is read (memory-mapped), so this is fast for any model size and works on the
    first chunk of a split file. Arrays come back as lists.

    Examples
    --------
    >>> import struct, tempfile, pathlib
    >>> key, val = b"general.architecture", b"llama"
    >>> blob = (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key
    ...         + struct.pack("<I", 8) + struct.pack("<Q", len(val)) + val)
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.gguf"
    >>> _ = p.write_bytes(blob)
    >>> read_gguf_metadata(p)
    {'general.architecture': 'llama'}
    """
    path = Path(path)
    if not path.is_file():
        raise PhyloLLMError(f"GGUF file {str(path)!r} does not exist")
    with path.open("rb") as fh:
        if path.stat().st_size < 24:
            raise PhyloLLMError(f"{path}: too short to be a GGUF file ({path.stat().st_size} bytes)")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            buf = memoryview(mm)
            try:
                cur = _Cursor(buf, path)
                magic = bytes(cur.take(4))
                if magic != b"GGUF":
                    raise PhyloLLMError(f"{path}: not a GGUF file (magic {magic!r}, expected b'GGUF')")
                version = cur.unpack("I")
                if version not in (2, 3):
                    raise PhyloLLMError(
                        f"{path}: GGUF version {version} is not supported (2 and 3 are; "
                        "a huge number means a big-endian file)"
                    )
                cur.unpack("Q")  # tensor count: not needed
                n_kv = cur.unpack("Q")
                meta: dict[str, Any] = {}
                for _ in range(n_kv):
                    key = cur.string()
                    meta[key] = cur.value(cur.unpack("I"))
            finally:
                del cur
                buf.release()
    return meta
