"""Any OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama, OpenAI...) as a backend.

Requests go to ``<base_url>/v1/chat/completions`` (or ``<base_url>/chat/completions`` when the
base URL already ends in ``/v1``) with temperature 0, using only the standard library. The API key
is read from an environment variable at request time and sent as a bearer token; it is never
stored on the object, never part of ``settings()`` (the cache key), ``repr`` or an error message.
Rate limits (429) and server errors (5xx, dropped connections) are retried with exponential
backoff; prompts are sent concurrently by a small thread pool, and answers keep prompt order.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from phylo_llm.errors import PhyloLLMError
from phylo_llm.util import check_int

__all__ = ["OpenAIBackend", "HttpStats", "redact_url_secrets"]

# "scheme://user:password@" (the password may hold "#" or ":") and "?key=value..." of any URL.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s]*@")
_QUERY = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s?#]*)\?[^\s#'\"]*")


def redact_url_secrets(text: str) -> str:
    """``text`` with the credentials and query strings of every URL in it replaced by ``<redacted>``.

    Used wherever a model spec is echoed (errors, warnings, progress) or stored (``summary.json``).

    Examples
    --------
    >>> redact_url_secrets("openai:http://me:sk-123@host:8000/v1#qwen")
    'openai:http://<redacted>@host:8000/v1#qwen'
    >>> redact_url_secrets("openai:https://host/v1?api_key=sk-123#qwen")
    'openai:https://host/v1?<redacted>#qwen'
    """
    return _QUERY.sub(r"\1?<redacted>", _USERINFO.sub(r"\1<redacted>@", text))


_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class HttpStats:
    """What the last :meth:`OpenAIBackend.generate` call did (tokens from the server's usage)."""

    prompts: int
    new_tokens: int | None
    seconds: float
    retries: int


class OpenAIBackend:
    """A model served behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Parameters
    ----------
    base_url
        Server address, e.g. ``"http://127.0.0.1:8000"`` or ``"https://api.openai.com/v1"``.
        Must not contain credentials.
    model
        The server's model name (sent as ``"model"``).
    model_id
        Label of the DNA (default: ``model``).
    max_tokens
        Upper bound on tokens per response.
    system_prompt
        Optional system message sent before every probe.
    api_key_env
        Name of the environment variable holding the API key (unset or empty: no key sent).
    concurrency
        Requests in flight at once.
    timeout
        Seconds per request.
    max_retries
        Retries per prompt for 429/5xx/connection errors before giving up.
    backoff
        First retry delay in seconds; doubles each retry (a numeric ``Retry-After`` wins).

    Examples
    --------
    >>> b = OpenAIBackend("http://127.0.0.1:8000", "qwen2.5-0.5b", max_tokens=32)
    >>> b.settings()["endpoint"]
    'http://127.0.0.1:8000/v1/chat/completions'
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        model_id: str | None = None,
        max_tokens: int = 64,
        system_prompt: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 4,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 1.0,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise PhyloLLMError(f"base_url must be an http(s) URL, got {redact_url_secrets(base_url)!r}")
        if parsed.username or parsed.password or parsed.query:
            # Credentials in a URL would end up in the cache key, the summary and logs.
            raise PhyloLLMError(
                "base_url must not contain credentials or a query string; put the API key in "
                f"the environment variable named by api_key_env ({api_key_env!r})"
            )
        if not isinstance(model, str) or not model:
            raise PhyloLLMError(f"model must be a non-empty string, got {model!r}")
        max_tokens = check_int("max_tokens", max_tokens, min=1)
        concurrency = check_int("concurrency", concurrency, min=1)
        max_retries = check_int("max_retries", max_retries, min=0)
        if not isinstance(api_key_env, str) or not api_key_env.replace("_", "").isalnum():
            # Not echoed: a user may have pasted the key itself here.
            raise PhyloLLMError(
                "api_key_env must be the NAME of an environment variable (letters, digits, _), not the key itself"
            )
        base = base_url.rstrip("/")
        self.endpoint = base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")
        self.model = model
        self.model_id = model_id or model
        self.max_tokens = int(max_tokens)
        self.system_prompt = system_prompt
        self.api_key_env = api_key_env
        self.concurrency = int(concurrency)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.last_stats: HttpStats | None = None

    def settings(self) -> Mapping[str, Any]:
        """Everything that changes a response. Never the key, nor the name of its variable."""
        return {
            "backend": "openai-http",
            "endpoint": self.endpoint,
            "model": self.model,
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "system_prompt": self.system_prompt,
        }

    def generate(self, prompts: Sequence[str]) -> list[str]:
        """One response per prompt, in order (requests run concurrently)."""
        if isinstance(prompts, str):
            raise PhyloLLMError("prompts must be a sequence of strings, got a single string")
        prompts = list(prompts)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(prompts)))) as pool:
            results = list(pool.map(self._complete, prompts))
        texts = [r[0] for r in results]
        usage = [r[1] for r in results]
        self.last_stats = HttpStats(
            prompts=len(prompts),
            new_tokens=None if any(u is None for u in usage) else sum(u or 0 for u in usage),
            seconds=time.perf_counter() - started,
            retries=sum(r[2] for r in results),
        )
        return texts

    def _complete(self, prompt: str) -> tuple[str, int | None, int]:
        messages = [{"role": "user", "content": prompt}]
        if self.system_prompt is not None:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        body = json.dumps(
            {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": self.max_tokens}
        ).encode("utf-8")
        key = os.environ.get(self.api_key_env, "")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        retries = 0
        while True:
            request = urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")
            delay = self.backoff * 2**retries
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                    payload = resp.read()
                break
            except urllib.error.HTTPError as exc:
                detail = _redact(exc.read()[:300].decode("utf-8", "replace"), key)
                if exc.code not in _RETRY_STATUS or retries >= self.max_retries:
                    raise PhyloLLMError(
                        f"model {self.model_id!r}: {self.endpoint} answered HTTP {exc.code} "
                        f"after {retries} retries: {detail}"
                    ) from None
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                if retry_after and retry_after.strip().isdigit():
                    delay = min(float(retry_after), 60.0)
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                if retries >= self.max_retries:
                    reason = _redact(str(getattr(exc, "reason", exc)), key)
                    raise PhyloLLMError(
                        f"model {self.model_id!r}: cannot reach {self.endpoint} after {retries} retries: {reason}"
                    ) from None
            time.sleep(delay)
            retries += 1
        text, tokens = _parse(payload, self.model_id, key)
        return text, tokens, retries

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.endpoint!r}, {self.model!r}, max_tokens={self.max_tokens})"


def _redact(text: str, key: str) -> str:
    return text.replace(key, "<redacted>") if key else text


def _parse(payload: bytes, model_id: str, key: str) -> tuple[str, int | None]:
    try:
        doc = json.loads(payload)
        message = doc["choices"][0]["message"]
    except (json.JSONDecodeError, KeyError, IndexError, TypeError):
        excerpt = _redact(payload[:200].decode("utf-8", "replace"), key)
        raise PhyloLLMError(f"model {model_id!r}: the server's answer is not a chat completion: {excerpt!r}") from None
    content = message.get("content") if isinstance(message, dict) else None
    # A null content (refusal, tool call) is an honest empty answer; the runner counts those.
    text = content if isinstance(content, str) else ""
    usage = doc.get("usage")
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return text, tokens if isinstance(tokens, int) else None
