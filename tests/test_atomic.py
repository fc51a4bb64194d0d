from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from phylo_llm._atomic import atomic_open, atomic_write_text


def test_a_failure_inside_the_block_leaves_the_old_file_and_no_temp(tmp_path: Path):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "wb") as fh:
            fh.write(b"half of the new content")
            raise RuntimeError("checksum mismatch")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_text_write_creates_parents_with_plain_open_permissions(tmp_path: Path):
    umask = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a" / "b.txt", "héllo\n")
    finally:
        os.umask(umask)
    p = tmp_path / "a" / "b.txt"
    assert p.read_text(encoding="utf-8") == "héllo\n"
    assert stat.S_IMODE(p.stat().st_mode) == 0o640


def test_bad_mode_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="mode must be 'w' or 'wb', got 'a'"):
        with atomic_open(tmp_path / "x", "a"):  # type: ignore[arg-type]
            pass
