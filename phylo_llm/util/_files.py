"""Files in and out: text read as UTF-8 with errors that name the file; outputs checked before
any work, written atomically, never over an input.

Every file phylo_llm writes (data, tables, figures, HTML, Markdown) goes through
:func:`atomic_open`: readers, and runs resumed after a crash, never see a half-written file, and a
failed write (disk full, file-size limit) leaves the earlier good file as it was.
:func:`check_output_path` and :func:`check_output_dir` are what commands call on their ``-o``
arguments before reading inputs, so a bad target fails in one line and not after the work.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

from ..errors import PhyloLLMError

__all__ = [
    "atomic_open",
    "atomic_write_text",
    "atomic_path",
    "atomic_dir",
    "write_table",
    "check_output_path",
    "check_output_dir",
    "read_text",
]


def _target(path: Path) -> Path:
    """Where writing ``path`` really goes: a symlink is followed, not replaced."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _with_path(exc: OSError, path: Path) -> OSError:
    """The same error, naming ``path`` when the OS did not (a failed ``write`` names no file)."""
    if exc.filename is not None:
        return exc
    new = type(exc)(exc.errno, exc.strerror or str(exc), str(path))
    new.__cause__ = exc
    return new


@contextmanager
def atomic_open(path: str | Path, mode: Literal["w", "wb"] = "w") -> Iterator[IO[Any]]:
    """Write ``path`` through a temporary sibling that replaces it only on success.

    The data is flushed and fsync'ed before ``os.replace``; if the block raises (a check on the
    written data may raise on purpose), the temporary file is removed and ``path`` is untouched.
    The result gets the permissions a plain ``open()`` would give (``mkstemp`` makes 0600 files).
    A symlink is followed (its target is replaced, the link stays); a target that exists and is
    not a regular file (a FIFO, ``/dev/null``, a terminal) is written directly, never replaced by
    a file. An :class:`OSError` always names ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_open(p) as fh:
    ...     _ = fh.write("done")
    >>> p.read_text()
    'done'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    target = _target(path)
    text = {"encoding": "utf-8", "newline": ""} if mode == "w" else {}
    try:
        st = target.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _with_path(exc, path) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(21, "is a directory, not a file", str(path))
    if st is not None and not stat.S_ISREG(st.st_mode):
        # A device, FIFO or terminal: the user means "write the bytes there" (-o /dev/stdout).
        try:
            with open(target, mode, **text) as fh:  # noqa: PTH123
                yield fh
        except OSError as exc:
            raise _with_path(exc, path) from None
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _with_path(exc, path) from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, mode, **text) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _with_path(exc, path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary sibling path (same suffix) for writers that want a file name; see :func:`atomic_open`.

    Whatever the block writes there replaces ``path`` when the block succeeds.
    """
    path = Path(path)
    target = _target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise _with_path(exc, path) from None
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _with_path(exc, path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(path: str | Path, *, complete: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """A temporary sibling folder that is renamed to ``path`` when the block succeeds.

    Readers never see a half-written folder: the block fills the temporary folder, which is
    renamed into place only afterwards; if the block raises, it is removed and ``path`` is left
    as it was. The parent folder is created when missing.

    When the rename fails because ``path`` already holds a folder (another process finished the
    same work first), ``complete(path)`` decides: true keeps theirs and drops ours; false (or no
    ``complete``) raises the :class:`OSError`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "model"
    >>> with atomic_dir(d) as tmp:
    ...     _ = (tmp / "config.json").write_text("{}")
    >>> sorted(p.name for p in d.iterdir())
    ['config.json']
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as exc:
        raise _with_path(exc, path) from None
    try:
        yield tmp
        try:
            os.replace(tmp, path)
        except OSError:
            if complete is None or not complete(path):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_open`."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_table(table: Any, path: str | Path, **to_csv: Any) -> Path:
    """Write a pandas DataFrame as CSV through :func:`atomic_open` (keywords go to ``to_csv``).

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = write_table(pd.DataFrame({"a": [1]}), p, index=False)
    >>> p.read_text()
    'a\\n1\\n'
    """
    path = Path(path)
    with atomic_open(path, "w") as fh:
        table.to_csv(fh, **to_csv)
    return path


def _first_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_parent(path: Path, name: str) -> None:
    """The folder ``path`` goes into exists as a folder or can be made (no file in the way)."""
    parent = path.parent if str(path.parent) else Path(".")
    anc = _first_existing(parent)
    if anc.exists() and not anc.is_dir():
        raise PhyloLLMError(f"{name} {str(path)!r} cannot be written: {str(anc)!r} is a file, not a folder")


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def check_output_path(
    path: str | Path,
    *,
    name: str = "-o",
    inputs: Mapping[str, str | Path | None] | Iterable[tuple[str, str | Path | None]] = (),
    suffixes: Iterable[str] | None = None,
) -> Path:
    """Refuse an output file that cannot be written, or that would overwrite an input.

    Parameters
    ----------
    path
        The output file.
    name
        How the user gave it (``"-o"``, ``"--report"``), for the message.
    inputs
        ``{option: path}`` of the run's inputs (``None`` values are skipped); writing over one of
        them is refused.
    suffixes
        Allowed suffixes (lower case, with the dot); ``None`` accepts any.

    Raises
    ------
    PhyloLLMError
        The path is a folder, its folder is a file, its suffix is not allowed, or it is an input.

    Examples
    --------
    >>> check_output_path("x.csv", inputs={"INPUT": "x.csv"})
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: -o 'x.csv' is the INPUT file; refusing to overwrite an input
    """
    path = Path(path)
    if suffixes is not None:
        allowed = tuple(suffixes)
        if path.suffix.lower() not in allowed:
            listed = allowed[0] if len(allowed) == 1 else ", ".join(allowed[:-1]) + " or " + allowed[-1]
            raise PhyloLLMError(f"{name} {str(path)!r} must end in {listed}")
    if path.is_dir():
        raise PhyloLLMError(f"{name} {str(path)!r} is a folder; give a file name")
    _check_parent(path, name)
    items = inputs.items() if isinstance(inputs, Mapping) else inputs
    for what, inp in items:
        if inp is not None and _same_file(path, Path(inp)):
            raise PhyloLLMError(f"{name} {str(path)!r} is the {what} file; refusing to overwrite an input")
    return path


def check_output_dir(path: str | Path, *, name: str = "-o") -> Path:
    """Refuse an output folder that is a file, or whose parent is a file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "f"
    >>> _ = f.write_text("")
    >>> check_output_dir(f)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: -o '...f' is a file; the output must be a folder
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PhyloLLMError(f"{name} {str(path)!r} is a file; the output must be a folder")
    _check_parent(path, name)
    return path


def read_text(path: str | Path, *, what: str = "file", newline: str | None = None) -> str:
    """The UTF-8 text of ``path``; other bytes raise one line naming the file and the offset.

    ``newline=None`` turns ``\\r\\n`` and ``\\r`` into ``\\n`` (as ``open()`` does); ``""``
    keeps them (for the ``csv`` module). A UTF-8 byte-order mark is dropped.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "latin1.csv"
    >>> _ = p.write_bytes(b"model\\nCaf\\xe9\\n")
    >>> read_text(p, what="metadata file")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: metadata file '...latin1.csv' is not UTF-8 text (byte 0xe9 at offset 9, line 2); save it as UTF-8
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PhyloLLMError(
            f"{what} {str(path)!r} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}, line {line}); save it as UTF-8"
        ) from None
    if newline is None:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text
