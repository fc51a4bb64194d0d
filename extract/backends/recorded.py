"""Recorded responses: models whose answers to a probe set were saved earlier (by us or others).

The file format is the shared reference data's: JSON lines ``{"model": "<id>", "responses":
[<one string per probe, in probe order>]}``, optionally compressed (``.xz``, ``.gz``) and read
directly, streaming, one model at a time (the paper's file is 345 models x 600 long answers).
"""

from __future__ import annotations

import difflib
import gzip
import json
import lzma
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from phylo_llm.errors import PhyloLLMError
from phylo_llm.util import sha256_text, short_id

from ..probes import ProbeSet

__all__ = ["RecordedBackend", "iter_recorded", "load_recorded"]


def _open_text(path: Path) -> IO[str]:
    suffix = path.suffix.lower()
    if suffix == ".xz":
        return lzma.open(path, "rt", encoding="utf-8")
    if suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


class RecordedBackend:
    """One model's saved responses to a probe set, served through the backend protocol.

    Parameters
    ----------
    model_id
        The model's label.
    probes
        The probe set the responses answer (prompts must be distinct, since responses are
        looked up by prompt).
    responses
        One string per probe, in probe order.
    source
        Where the responses came from (a file name); recorded in ``settings()``.

    Examples
    --------
    >>> p = ProbeSet(("a?", "b?"))
    >>> b = RecordedBackend("m", p, ["A", "B"])
    >>> b.generate(["b?", "a?"])
    ['B', 'A']
    """

    #: The responses are on disk already: the runner neither caches nor times them.
    needs_cache = False

    def __init__(self, model_id: str, probes: ProbeSet, responses: Sequence[str], *, source: str = "memory") -> None:
        if not isinstance(model_id, str) or not model_id:
            raise PhyloLLMError(f"recorded model id must be a non-empty string, got {model_id!r}")
        responses = tuple(responses)
        if len(responses) != len(probes):
            raise PhyloLLMError(
                f"model {model_id!r} has {len(responses)} recorded responses but the probe set "
                f"{probes.name!r} has {len(probes)} prompts"
            )
        for i, r in enumerate(responses):
            if not isinstance(r, str):
                raise PhyloLLMError(
                    f"model {model_id!r}: recorded response {i} must be a string, got {type(r).__name__}"
                )
        self._index = {p: i for i, p in enumerate(probes.prompts)}
        if len(self._index) != len(probes):
            raise PhyloLLMError(
                f"probe set {probes.name!r} repeats prompts; recorded responses are looked up by "
                f"prompt, so the prompts must be distinct"
            )
        self.model_id = model_id
        self.probes = probes
        self.responses = responses
        self.source = source
        self._digest = short_id(sha256_text(json.dumps(responses, ensure_ascii=False)))

    def settings(self) -> Mapping[str, Any]:
        # The responses' own hash: two recordings of one model never share cached embeddings.
        return {"backend": "recorded", "source": self.source, "responses": self._digest}

    def generate(self, prompts: Sequence[str]) -> list[str]:
        out = []
        for p in prompts:
            try:
                out.append(self.responses[self._index[p]])
            except KeyError:
                raise PhyloLLMError(f"model {self.model_id!r}: no recorded response for prompt {p[:60]!r}") from None
        return out

    def __repr__(self) -> str:
        return f"RecordedBackend({self.model_id!r}, {len(self.responses)} responses from {self.source!r})"


def iter_recorded(
    path: str | Path,
    probes: ProbeSet,
    *,
    models: Iterable[str] | None = None,
    limit: int | None = None,
) -> Iterator[RecordedBackend]:
    """Stream the models of a recorded-responses file as backends, one line at a time.

    Parameters
    ----------
    path
        ``.jsonl``, ``.jsonl.xz`` or ``.jsonl.gz``.
    probes
        The full probe set the file answers (every model must have one response per probe).
    models
        Only these models, in file order; every one must be in the file (checked at the end).
    limit
        Serve only the first ``limit`` probes (the backends answer ``probes.head(limit)``).

    Raises
    ------
    PhyloLLMError
        On a malformed line (file and line number), a response count that differs from the
        probe count (naming the model and both counts), a repeated model, or requested models
        absent from the file.

    Examples
    --------
    >>> import tempfile, pathlib, json
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
    >>> _ = f.write_text(json.dumps({"model": "m", "responses": ["A", "B"]}) + "\\n")
    >>> [b.model_id for b in iter_recorded(f, ProbeSet(("a?", "b?")))]
    ['m']
    """
    path = Path(path)
    if not path.is_file():
        raise PhyloLLMError(f"recorded responses file {str(path)!r} does not exist")
    wanted = None if models is None else list(dict.fromkeys(models))
    pending = None if wanted is None else set(wanted)
    used = probes if limit is None else probes.head(limit)
    # The folder names the recording (e.g. "llm-dna-paper/responses.jsonl.xz"), not just the file.
    source = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    seen: set[str] = set()
    all_names: list[str] = []
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path.name}:{lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PhyloLLMError(f"{where}: invalid JSON: {exc.msg}") from None
            if (
                not isinstance(rec, dict)
                or not isinstance(rec.get("model"), str)
                or not isinstance(rec.get("responses"), list)
            ):
                raise PhyloLLMError(f'{where}: expected {{"model": str, "responses": [str, ...]}}')
            name, responses = rec["model"], rec["responses"]
            if name in seen:
                raise PhyloLLMError(f"{where}: model {name!r} appears twice in {path.name}")
            seen.add(name)
            all_names.append(name)
            if pending is not None and name not in pending:
                continue
            if len(responses) != len(probes):
                raise PhyloLLMError(
                    f"{where}: model {name!r} has {len(responses)} responses but the probe set "
                    f"{probes.name!r} has {len(probes)} prompts"
                )
            yield RecordedBackend(name, used, responses[: len(used)], source=source)
            if pending is not None:
                pending.discard(name)
                if not pending:
                    return
    if pending:
        missing = [m for m in wanted or [] if m in pending]
        hints = {m: difflib.get_close_matches(m, all_names, n=1) for m in missing[:3]}
        hint = "; ".join(f"{m!r}: did you mean {h[0]!r}?" for m, h in hints.items() if h)
        raise PhyloLLMError(
            f"{len(missing)} requested model(s) not in {path.name}: {missing[:10]}" + (f" ({hint})" if hint else "")
        )


def load_recorded(
    path: str | Path,
    probes: ProbeSet,
    *,
    models: Iterable[str] | None = None,
    limit: int | None = None,
) -> list[RecordedBackend]:
    """All (or the requested) models of a recorded-responses file, as a list.

    See :func:`iter_recorded`; prefer it for large files.
    """
    return list(iter_recorded(path, probes, models=models, limit=limit))
