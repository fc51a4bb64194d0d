"""GGUF -> safetensors: a GGUF file dequantised once into the model cache, installed atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from phylo_llm.errors import PhyloLLMError
from phylo_llm.util import atomic_dir, sha256_file, sha256_text

from ...models import cache_dir

__all__ = ["MARKER", "convert_gguf", "read_marker"]

MARKER = "phylo_llm_source.json"  # written last into a converted directory


def read_marker(path: Path) -> dict[str, Any]:
    """The record :func:`convert_gguf` leaves in a converted directory (source, fingerprint...)."""
    return json.loads((path / MARKER).read_text(encoding="utf-8"))


def _converted(path: Path) -> bool:
    return (path / MARKER).is_file()


def convert_gguf(gguf: str | Path) -> Path:
    """A safetensors copy of a GGUF model, made once and cached; returns its directory.

    The cache key is the file's resolved path, size and modification time, so a changed file is
    converted again; the file's sha256 is recorded inside as the weights' fingerprint.

    Examples
    --------
    >>> from extract.models import bundled_models
    >>> convert_gguf(bundled_models()["smollm2-135m"]).is_dir()  # doctest: +SKIP
    True
    """
    gguf = Path(gguf).resolve()
    if not gguf.is_file() or gguf.suffix.lower() != ".gguf":
        raise PhyloLLMError(f"gguf must be an existing .gguf file, got {str(gguf)!r}")
    stat = gguf.stat()
    key = sha256_text(f"{gguf}\0{stat.st_size}\0{stat.st_mtime_ns}")[:12]
    target = cache_dir() / "models" / f"{gguf.stem}-{key}"
    if _converted(target):
        return target
    # Another process finishing the same conversion first is fine: theirs is as good as ours.
    with atomic_dir(target, complete=_converted) as tmp:
        _dequantise(gguf, tmp)
        _write_marker(gguf, tmp)
    return target


def _dequantise(gguf: Path, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False)
    net = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False)
    # transformers dequantised every tensor to float32 but still flags the model as GGUF-
    # quantised, which blocks saving; the weights themselves are plain tensors now.
    net.hf_quantizer = None
    if hasattr(net.config, "quantization_config"):
        del net.config.quantization_config
    net.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _write_marker(gguf: Path, out: Path) -> None:
    import transformers

    marker = {
        "source": str(gguf),
        "size": gguf.stat().st_size,
        "fingerprint": "gguf-sha256:" + sha256_file(gguf)[:16],
        "transformers": transformers.__version__,
    }
    (out / MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
