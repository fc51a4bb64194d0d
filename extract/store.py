"""The responses store: every response on disk as soon as it exists, so runs resume.

Layout: ``<cache>/responses/<safe model>-<hash>/<probe set>-<settings>.jsonl``. The key is the
model id, the probe set's content id and a hash of the backend's ``settings()`` (canonical JSON):
change a prompt, ``max_new_tokens`` or the chat template, and a new file is started — stale
responses are never reused.

The file is append-only JSON lines: a header ``{"store": "phylo_llm.responses", "model": ...,
"probe_set": ..., "n_probes": ..., "settings": {...}}`` then one ``{"i": <probe index>,
"response": <text>}`` per response. Each chunk is appended with a single ``write`` and ``fsync``
before the next is generated. A crash can at worst leave a torn last line (no newline), which is
dropped on load and cut off before the next append; a malformed line anywhere else is an error.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phylo_llm.errors import PhyloLLMError
from phylo_llm.util import canonical_json, check_int, sha256_text, short_id

from .backends.base import Backend
from .models import cache_dir
from .probes import ProbeSet
from .progress import ProgressCallback, ProgressEvent, emit

__all__ = [
    "default_cache_dir",
    "settings_id",
    "safe_name",
    "dna_file_stem",
    "ResponseLog",
    "collect_responses",
    "Responses",
]

STORE_FORMAT = "phylo_llm.responses"


def default_cache_dir() -> Path:
    """``$PHYLO_LLM_CACHE`` when set, else ``~/.cache/phylo_llm`` (shared with the model cache).

    Examples
    --------
    >>> isinstance(default_cache_dir(), Path)
    True
    """
    return cache_dir()


def settings_id(settings: Mapping[str, Any]) -> str:
    """Hash of generation settings (canonical JSON): ``"sha256:"`` + 16 hex digits.

    Examples
    --------
    >>> settings_id({"a": 1, "b": 2}) == settings_id({"b": 2, "a": 1})
    True
    """
    try:
        canon = canonical_json(dict(settings))
    except (TypeError, ValueError) as exc:
        raise PhyloLLMError(f"backend settings must be JSON-serialisable: {exc}") from None
    return short_id(sha256_text(canon))


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(model_id: str) -> str:
    """A file-name-safe version of a model id (``/`` and other characters become ``__``/``_``).

    Not injective on its own (``a/b`` and ``a__b`` collide); the store appends a hash of the id.

    Examples
    --------
    >>> safe_name("Qwen/Qwen2.5-0.5B-Instruct")
    'Qwen__Qwen2.5-0.5B-Instruct'
    """
    name = _UNSAFE.sub("_", model_id.replace("/", "__")).strip("._")
    return name[:120] or "model"


def dna_file_stem(model_id: str) -> str:
    """A readable file name for a model's DNA that no other id shares.

    The id itself when it is already a safe name; otherwise its :func:`safe_name` plus a short
    hash of the id, since sanitising is not injective (``org/a`` and ``org__a``, ``a b`` and ``a_b``).

    Examples
    --------
    >>> dna_file_stem("smollm2-135m"), dna_file_stem("a b") != dna_file_stem("a_b")
    ('smollm2-135m', True)
    """
    safe = safe_name(model_id)
    return safe if safe == model_id else f"{safe}-{_short_hash(model_id)}"


def _short_hash(text: str) -> str:
    return sha256_text(text)[:8]


@dataclass(frozen=True)
class ResponseLog:
    """The append-only response file of one (model, probe set, settings).

    Examples
    --------
    >>> import tempfile
    >>> log = ResponseLog.for_key(tempfile.mkdtemp(), "m", ProbeSet(("a?", "b?")), {"t": 0})
    >>> log.append({1: "yes"})
    >>> log.load()
    {1: 'yes'}
    """

    path: Path
    header: Mapping[str, Any]

    @classmethod
    def for_key(
        cls, cache_dir: str | Path, model_id: str, probes: ProbeSet, settings: Mapping[str, Any]
    ) -> ResponseLog:
        sid = settings_id(settings)
        folder = Path(cache_dir) / "responses" / f"{safe_name(model_id)}-{_short_hash(model_id)}"
        name = f"{probes.id.removeprefix('sha256:')}-{sid.removeprefix('sha256:')}.jsonl"
        header = {
            "store": STORE_FORMAT,
            "version": 1,
            "model": model_id,
            "probe_set": probes.id,
            "n_probes": len(probes),
            "settings_id": sid,
            "settings": dict(settings),
        }
        return cls(folder / name, header)

    @property
    def n_probes(self) -> int:
        return int(self.header["n_probes"])

    def load(self) -> dict[int, str]:
        """Responses on disk, by probe index. A torn last line is ignored."""
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        # The piece after the last newline is either empty or a torn write: never a record.
        lines = lines[:-1]
        if not lines:
            return {}
        where = str(self.path)
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError:
            raise PhyloLLMError(f"{where}:1: not a phylo_llm responses file (bad header)") from None
        if not isinstance(header, dict) or header.get("store") != STORE_FORMAT:
            raise PhyloLLMError(f"{where}:1: not a phylo_llm responses file (bad header)")
        for key in ("model", "probe_set", "n_probes", "settings_id"):
            if header.get(key) != self.header[key]:
                raise PhyloLLMError(
                    f"{where}: cache header {key}={header.get(key)!r} does not match the "
                    f"requested {self.header[key]!r}; delete the file to start again"
                )
        out: dict[int, str] = {}
        n = self.n_probes
        for lineno, raw in enumerate(lines[1:], start=2):
            try:
                rec = json.loads(raw)
                if isinstance(rec, dict) and rec.get("store") == STORE_FORMAT:
                    continue  # a second run started the same empty file at the same moment
                i, text = rec["i"], rec["response"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise PhyloLLMError(
                    f"{where}:{lineno}: malformed response record; delete the file to start again"
                ) from None
            if not isinstance(i, int) or not 0 <= i < n or not isinstance(text, str):
                raise PhyloLLMError(f"{where}:{lineno}: bad response record for probe {i!r}")
            out.setdefault(i, text)
        return out

    def append(self, responses: Mapping[int, str]) -> None:
        """Append ``{probe index: response}`` durably (one write, then fsync)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        chunk = "".join(canonical_json({"i": int(i), "response": r}) + "\n" for i, r in responses.items())
        # O_APPEND: each chunk lands whole at the end even if two runs share the file.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            size = os.fstat(fd).st_size
            prefix = ""
            if size == 0:
                prefix = canonical_json(dict(self.header)) + "\n"
            else:
                # Cut off a torn last line left by a crash before appending after it.
                tail_start = max(0, size - 1)
                os.lseek(fd, tail_start, os.SEEK_SET)
                if os.read(fd, 1) != b"\n":
                    data = self.path.read_bytes()
                    keep = data.rfind(b"\n") + 1
                    os.ftruncate(fd, keep)
                    if keep == 0:
                        prefix = canonical_json(dict(self.header)) + "\n"
            os.lseek(fd, 0, os.SEEK_END)
            payload = (prefix + chunk).encode("utf-8")
            written = 0
            while written < len(payload):
                written += os.write(fd, payload[written:])
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class Responses:
    """All responses of one model to one probe set, in probe order, plus how they were obtained.

    ``generated`` counts responses generated in this call (the rest came from the cache);
    ``seconds`` and ``new_tokens`` cover this call's generation only (``new_tokens`` is ``None``
    when the backend does not report tokens).
    """

    model: str
    texts: tuple[str, ...]
    settings_id: str
    generated: int
    seconds: float
    new_tokens: int | None

    @property
    def n_empty(self) -> int:
        return sum(1 for t in self.texts if not t.strip())

    @property
    def tokens_per_second(self) -> float | None:
        if self.new_tokens is None or self.seconds <= 0:
            return None
        return self.new_tokens / self.seconds


def collect_responses(
    backend: Backend,
    probes: ProbeSet,
    *,
    cache_dir: str | Path | None = None,
    chunk_size: int = 16,
    progress: ProgressCallback | None = None,
) -> Responses:
    """Every response of ``backend`` to ``probes``, generating only those not already cached.

    Missing probes are generated ``chunk_size`` at a time; each chunk is on disk (fsync'd)
    before the next starts, so an interrupted run loses at most one chunk of work.

    Parameters
    ----------
    backend
        Any :class:`~extract.backends.base.Backend`. Its ``settings()`` is part of the cache key.
    probes
        The probe set.
    cache_dir
        Cache root (default :func:`default_cache_dir`).
    chunk_size
        Prompts per ``generate`` call (and per durable write).
    progress
        Optional callback receiving :class:`~extract.progress.ProgressEvent` values.

    Raises
    ------
    PhyloLLMError
        When the backend returns a different number of responses than prompts, or non-strings.

    Examples
    --------
    >>> import tempfile
    >>> class Echo:
    ...     model_id = "echo"
    ...     def settings(self): return {"kind": "echo"}
    ...     def generate(self, prompts): return [p.upper() for p in prompts]
    >>> r = collect_responses(Echo(), ProbeSet(("hi", "yo")), cache_dir=tempfile.mkdtemp())
    >>> r.texts, r.generated
    (('HI', 'YO'), 2)
    """
    chunk_size = check_int("chunk_size", chunk_size, min=1)
    model = backend.model_id
    settings = dict(backend.settings())
    log = ResponseLog.for_key(cache_dir or default_cache_dir(), model, probes, settings)
    have = log.load()
    missing = [i for i in range(len(probes)) if i not in have]
    total = len(probes)
    emit(progress, ProgressEvent(model, "responses", done=len(have), total=total))
    started = time.perf_counter()
    tokens: int | None = 0
    done = len(have)
    for start in range(0, len(missing), chunk_size):
        idx = missing[start : start + chunk_size]
        chunk = _generate_chunk(backend, probes, idx)
        log.append(chunk)
        have.update(chunk)
        done += len(idx)
        stats = getattr(backend, "last_stats", None)
        new = getattr(stats, "new_tokens", None)
        tokens = tokens + int(new) if tokens is not None and isinstance(new, int) else None
        emit(
            progress,
            ProgressEvent(
                model,
                "responses",
                done=done,
                total=total,
                tokens=tokens,
                seconds=time.perf_counter() - started,
            ),
        )
    return Responses(
        model=model,
        texts=tuple(have[i] for i in range(total)),
        settings_id=log.header["settings_id"],
        generated=len(missing),
        seconds=time.perf_counter() - started if missing else 0.0,
        new_tokens=tokens if missing else None,
    )


def _generate_chunk(backend: Backend, probes: ProbeSet, idx: list[int]) -> dict[int, str]:
    """``{probe index: response}`` for the probes ``idx``, checked: one string per prompt."""
    model = backend.model_id
    out = backend.generate([probes.prompts[i] for i in idx])
    if not isinstance(out, list) or len(out) != len(idx):
        got = len(out) if isinstance(out, list) else type(out).__name__
        raise PhyloLLMError(
            f"model {model!r} returned {got} responses for {len(idx)} prompts (probes {idx[0]}..{idx[-1]})"
        )
    for i, text in zip(idx, out):
        if not isinstance(text, str):
            raise PhyloLLMError(f"model {model!r} returned a {type(text).__name__} for probe {i}, not a string")
    return dict(zip(idx, out))
