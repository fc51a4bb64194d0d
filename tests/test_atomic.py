from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from phylo_llm.util import atomic_dir, atomic_open, atomic_write_text


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


def test_read_text_names_the_file_and_keeps_or_folds_newlines(tmp_path: Path):
    from phylo_llm.errors import PhyloLLMError
    from phylo_llm.util import read_text

    p = tmp_path / "x.txt"
    p.write_bytes(b"\xef\xbb\xbfa\r\nb\n")
    assert read_text(p) == "a\nb\n" and read_text(p, newline="") == "a\r\nb\n"
    p.write_bytes(b"ok\n\xff")
    with pytest.raises(PhyloLLMError, match=r"x.txt' is not UTF-8 text \(byte 0xff at offset 3, line 2\)"):
        read_text(p)


def test_check_output_path_refusals(tmp_path: Path):
    from phylo_llm.errors import PhyloLLMError
    from phylo_llm.util import check_output_dir, check_output_path

    (tmp_path / "f").write_text("")
    with pytest.raises(PhyloLLMError, match="is a folder; give a file name"):
        check_output_path(tmp_path)
    with pytest.raises(PhyloLLMError, match=r"cannot be written: '.*f' is a file, not a folder"):
        check_output_path(tmp_path / "f" / "a" / "x.csv")
    with pytest.raises(PhyloLLMError, match=r"is the --meta file"):
        check_output_path(tmp_path / "." / "f", inputs={"--meta": tmp_path / "f"})
    with pytest.raises(PhyloLLMError, match=r"cannot be written: '.*f' is a file"):
        check_output_dir(tmp_path / "f" / "out")
    assert check_output_path(tmp_path / "new" / "x.csv", inputs={"INPUT": None}) == tmp_path / "new" / "x.csv"


def test_atomic_dir_appears_only_when_the_block_succeeds(tmp_path: Path):
    target = tmp_path / "sub" / "model"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "weights.bin").write_bytes(b"half")
            assert not target.exists()
            raise RuntimeError("conversion failed")
    assert not target.exists()
    assert list((tmp_path / "sub").iterdir()) == []
    with atomic_dir(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        (tmp / "weights.bin").write_bytes(b"whole")
    assert (target / "weights.bin").read_bytes() == b"whole"
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["model"]


@pytest.mark.parametrize("theirs_complete", [True, False])
def test_atomic_dir_keeps_a_finished_concurrent_result_or_raises(tmp_path: Path, theirs_complete: bool):
    target = tmp_path / "model"

    def complete(path: Path) -> bool:
        return (path / "done").is_file()

    def race():
        with atomic_dir(target, complete=complete) as tmp:
            (tmp / "mine").write_text("ours")
            target.mkdir()  # another process renames its result in first
            (target / ("done" if theirs_complete else "partial")).write_text("theirs")

    if theirs_complete:
        race()
    else:
        with pytest.raises(OSError):
            race()
    assert not (target / "mine").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # our temporary folder is gone
