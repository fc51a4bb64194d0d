"""Model backends: anything that maps prompts to responses (see :class:`base.Backend`).

:func:`resolve_backend` turns a user's model argument into a backend:

- ``openai:<base_url>#<model>`` -> :class:`~extract.backends.openai_http.OpenAIBackend`;
- ``vllm:<model>`` -> :class:`~extract.backends.vllm.VLLMBackend` (vLLM's offline engine; the
  model part as below);
- a bundled short name, a local model directory, a ``.gguf`` file or a hub id ``owner/name`` ->
  :class:`~extract.backends.hf.HFBackend` (imported only then: it needs torch).

Recorded responses are not a spec: see :mod:`extract.backends.recorded`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from phylo_llm.errors import PhyloLLMError

from .base import Backend
from .openai_http import redact_url_secrets

__all__ = [
    "Backend",
    "resolve_backend",
    "check_spec",
    "settings_for_specs",
    "OPENAI_PREFIX",
    "VLLM_PREFIX",
    "redact_url_secrets",
]

OPENAI_PREFIX = "openai:"
VLLM_PREFIX = "vllm:"
# Settings that only local models (transformers, vLLM) take, and those only HTTP servers take.
_LOCAL_ONLY = frozenset({"batch_size", "chat_template", "threads", "device", "window_stop"})
_SAMPLING = frozenset({"temperature", "top_p", "seed"})  # local models only, for now
_HTTP_ONLY = frozenset({"system_prompt", "api_key_env", "concurrency"})


def resolve_backend(
    spec: str,
    *,
    model_id: str | None = None,
    max_new_tokens: int | None = None,
    batch_size: int | None = None,
    chat_template: bool | Literal["auto"] | None = None,
    threads: int | None = None,
    device: str | None = None,
    system_prompt: str | None = None,
    api_key_env: str | None = None,
    concurrency: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    vllm_options: Mapping[str, Any] | None = None,
    window_stop: Any = None,
) -> Backend:
    """The backend a model spec names. ``None`` settings take the backend's default.

    Parameters
    ----------
    spec
        ``"openai:http://host:port#model-name"`` for an OpenAI-compatible server; otherwise a
        bundled name (``"smollm2-135m"``), a model directory, a ``.gguf`` file or a hub id.
    model_id
        Label of the model's DNA (default: chosen by the backend from the spec).
    max_new_tokens
        Longest response in tokens (``max_tokens`` for HTTP servers).
    batch_size, chat_template, threads, device
        Local (transformers) models only.
    window_stop
        transformers models only: a :class:`~extract.backends.hf.WindowStop` (stop each response
        once the embedder's window is full).
    system_prompt, api_key_env, concurrency
        HTTP servers only. ``api_key_env`` names the environment variable holding the key.
    temperature, top_p, seed
        Local (transformers) models only: seeded sampling instead of greedy decoding
        (``temperature > 0``).
    vllm_options
        ``vllm:`` models only: keyword arguments of :class:`~extract.backends.vllm.VLLMBackend`
        (``temperature``, ``seed``, ``kv_cache_gib``...). ``batch_size`` is its ``max_num_seqs``.

    Raises
    ------
    PhyloLLMError
        On a malformed ``openai:`` spec, or a setting that the chosen backend does not have.

    Examples
    --------
    >>> b = resolve_backend("openai:http://127.0.0.1:8000#qwen", max_new_tokens=16)
    >>> b.model_id, b.settings()["max_tokens"]
    ('qwen', 16)
    """
    check_spec(spec)
    if vllm_options and not spec.startswith(VLLM_PREFIX):
        raise PhyloLLMError(f"vLLM options {sorted(vllm_options)} only apply to vllm: models, not to {spec!r}")
    given: dict[str, Any] = dict(
        model_id=model_id,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        chat_template=chat_template,
        threads=threads,
        device=device,
        system_prompt=system_prompt,
        api_key_env=api_key_env,
        concurrency=concurrency,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        window_stop=window_stop,
    )
    if spec.startswith(VLLM_PREFIX):
        return _vllm_backend(spec, given, vllm_options or {})
    if spec.startswith(OPENAI_PREFIX):
        return _http_backend(spec, given)
    return _transformers_backend(spec, given)


def _vllm_backend(spec: str, given: dict[str, Any], vllm_options: Mapping[str, Any]) -> Backend:
    _refuse(
        spec,
        "transformers models or HTTP servers",
        **{k: given.pop(k) for k in ("device", "system_prompt", "api_key_env", "concurrency", "window_stop")},
    )
    given["max_num_seqs"] = given.pop("batch_size")
    from .vllm import VLLMBackend

    return VLLMBackend(spec[len(VLLM_PREFIX) :], **_given(given) | dict(vllm_options))


def _http_backend(spec: str, given: dict[str, Any]) -> Backend:
    base_url, _, model = spec[len(OPENAI_PREFIX) :].rpartition("#")
    _refuse(spec, "a local model", **{k: given.pop(k) for k in sorted(_LOCAL_ONLY | _SAMPLING)})
    given["max_tokens"] = given.pop("max_new_tokens")
    from .openai_http import OpenAIBackend

    return OpenAIBackend(base_url, model, **_given(given))


def _transformers_backend(spec: str, given: dict[str, Any]) -> Backend:
    _refuse(spec, "an HTTP server", **{k: given.pop(k) for k in sorted(_HTTP_ONLY)})
    from .hf import HFBackend

    return HFBackend(spec, **_given(given))


def _given(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings given (``None`` means: the backend's default)."""
    return {k: v for k, v in settings.items() if v is not None}


def settings_for_specs(specs: Sequence[str], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings one run over ``specs`` passes to :func:`resolve_backend`.

    A run holds local models or HTTP servers, never both (their generation settings differ, so
    their DNA would not be comparable). Settings that only the other kind takes are dropped, so
    one set of command-line defaults serves both; ``None`` values are dropped too.

    Examples
    --------
    >>> settings_for_specs(["openai:http://h:1#m"], {"device": "cpu", "max_new_tokens": 8})
    {'max_new_tokens': 8}
    >>> settings_for_specs(["smollm2-135m"], {"device": "cpu", "api_key_env": "KEY"})
    {'device': 'cpu'}
    """
    kinds = {spec.startswith(OPENAI_PREFIX) for spec in specs}
    if len(kinds) == 2:
        raise PhyloLLMError(
            "mixing local models and openai: servers in one run is not supported; run them "
            "separately with the same probes, seed and dims"
        )
    other = _LOCAL_ONLY if kinds == {True} else _HTTP_ONLY if kinds == {False} else frozenset()
    return {k: v for k, v in _given(settings).items() if k not in other}


def check_spec(spec: str) -> None:
    """Cheap syntax check of a model spec (nothing is loaded), to fail before long work starts.

    Examples
    --------
    >>> check_spec("openai:http://h:1#m")
    >>> check_spec("openai:http://h:1")
    Traceback (most recent call last):
    ...
    phylo_llm.errors.PhyloLLMError: an HTTP model spec must look like 'openai:<base_url>#<model>', got 'openai:http://h:1'
    """
    if not isinstance(spec, str) or not spec.strip():
        raise PhyloLLMError(f"model spec must be a non-empty string, got {spec!r}")
    if spec.startswith(OPENAI_PREFIX):
        base_url, sep, model = spec[len(OPENAI_PREFIX) :].rpartition("#")
        if not sep or not base_url or not model:
            raise PhyloLLMError(
                f"an HTTP model spec must look like 'openai:<base_url>#<model>', got {redact_url_secrets(spec)!r}"
            )
    if spec.startswith(VLLM_PREFIX) and not spec[len(VLLM_PREFIX) :].strip():
        raise PhyloLLMError(f"a vLLM model spec must look like 'vllm:<model>', got {spec!r}")


def _refuse(spec: str, kind: str, **given: Any) -> None:
    bad = sorted(k for k, v in given.items() if v is not None)
    if bad:
        raise PhyloLLMError(f"setting(s) {bad} only apply to {kind}, not to {redact_url_secrets(spec)!r}")
