"""The backend protocol shared by every way of getting responses from a model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Backend(Protocol):
    """A model that answers prompts.

    ``model_id`` is the label the model's DNA gets. ``settings()`` returns every generation
    setting that can change a response (decoding, ``max_new_tokens``, chat template on/off, the
    weights' identity/revision...). It is part of the response-cache key, so it must be
    JSON-serialisable and must never contain secrets (API keys).

    ``generate(prompts)`` returns exactly one response string per prompt, in order. It may
    batch internally; the runner calls it with chunks and caches each chunk on disk at once.

    Optional capabilities, read with ``getattr`` and a default (a backend without them is fine):
    ``chunk_size`` (int) prompts per ``generate`` call the backend batches best over (vLLM: large);
    ``needs_cache`` (default ``True``): ``False`` for answers already on disk (recorded responses),
    which the runner neither caches nor times; ``load_seconds``, reported in the run's summary.
    """

    model_id: str

    def settings(self) -> Mapping[str, Any]: ...

    def generate(self, prompts: Sequence[str]) -> list[str]: ...
