"""The OpenAI-compatible HTTP backend against a real local HTTP server (no mocks)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from extract.backends.openai_http import OpenAIBackend
from extract.probes import ProbeSet
from extract.store import collect_responses
from phylo_llm.errors import PhyloLLMError

SECRET = "sk-test-DO-NOT-LEAK-8f3a91c2"


class FakeServer:
    """A tiny chat-completions server: echoes the prompt, can fail the first requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.fail_first: list[int] = []  # status codes to answer before succeeding
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, "body": body})
                    server.auth.append(self.headers.get("Authorization"))
                    status = server.fail_first.pop(0) if server.fail_first else 200
                if self.path != "/v1/chat/completions":
                    status = 404
                if status != 200:
                    payload = json.dumps({"error": f"status {status}"}).encode()
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "0")
                else:
                    prompt = body["messages"][-1]["content"]
                    content = None if prompt == "refuse" else f"echo: {prompt}"
                    payload = json.dumps(
                        {
                            "choices": [{"message": {"role": "assistant", "content": content}}],
                            "usage": {"completion_tokens": len(prompt.split())},
                        }
                    ).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    s = FakeServer()
    yield s
    s.close()


def test_generates_in_order_with_temperature_zero(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", SECRET)
    b = OpenAIBackend(server.url, "tiny", max_tokens=7, system_prompt="be brief", api_key_env="MY_KEY", concurrency=3)
    prompts = [f"question number {i}" for i in range(10)]
    assert b.generate(prompts) == [f"echo: {p}" for p in prompts]
    body = server.requests[0]["body"]
    assert body["temperature"] == 0 and body["max_tokens"] == 7 and body["model"] == "tiny"
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    assert set(server.auth) == {f"Bearer {SECRET}"}
    assert b.last_stats is not None and b.last_stats.new_tokens == 30


def test_base_url_with_v1_suffix(server: FakeServer) -> None:
    b = OpenAIBackend(server.url + "/v1/", "tiny")
    assert b.generate(["hi"]) == ["echo: hi"]


def test_retries_429_and_5xx_then_succeeds(server: FakeServer) -> None:
    server.fail_first = [429, 503, 500]
    b = OpenAIBackend(server.url, "tiny", concurrency=1, backoff=0.01)
    assert b.generate(["hi"]) == ["echo: hi"]
    assert len(server.requests) == 4 and b.last_stats is not None and b.last_stats.retries == 3


def test_gives_up_after_max_retries(server: FakeServer) -> None:
    server.fail_first = [503] * 10
    b = OpenAIBackend(server.url, "tiny", concurrency=1, backoff=0.001, max_retries=2)
    with pytest.raises(PhyloLLMError, match=r"answered HTTP 503 after 2 retries"):
        b.generate(["hi"])
    assert len(server.requests) == 3


def test_client_errors_are_not_retried_and_never_show_the_key(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server.fail_first = [401]
    b = OpenAIBackend(server.url, "tiny", backoff=0.001)
    with pytest.raises(PhyloLLMError, match="HTTP 401") as info:
        b.generate(["hi"])
    assert SECRET not in str(info.value) and len(server.requests) == 1


def test_a_key_passed_as_the_variable_name_is_not_echoed() -> None:
    with pytest.raises(PhyloLLMError, match="not the key itself") as info:
        OpenAIBackend("http://127.0.0.1:1", "m", api_key_env=SECRET)
    assert SECRET not in str(info.value)


def test_unreachable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    b = OpenAIBackend("http://127.0.0.1:9", "tiny", max_retries=1, backoff=0.001, timeout=2)
    with pytest.raises(PhyloLLMError, match="cannot reach .* after 1 retries"):
        b.generate(["hi"])


def test_null_content_is_an_empty_response(server: FakeServer) -> None:
    assert OpenAIBackend(server.url, "tiny").generate(["refuse", "ok"]) == ["", "echo: ok"]


def test_key_never_reaches_settings_cache_or_repr(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    b = OpenAIBackend(server.url, "tiny")
    probes = ProbeSet(("a?", "b?", "c?"))
    r = collect_responses(b, probes, cache_dir=tmp_path)
    assert r.texts == ("echo: a?", "echo: b?", "echo: c?")
    assert server.auth[0] == f"Bearer {SECRET}"
    assert SECRET not in json.dumps(dict(b.settings())) and SECRET not in repr(b)
    assert "OPENAI_API_KEY" not in json.dumps(dict(b.settings()))
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(SECRET.encode() not in p.read_bytes() for p in files)
    assert all(SECRET not in repr(v) for v in vars(b).values())


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("ftp://x", "m"), {}, "must be an http"),
        (("http://user:pw@host", "m"), {}, "must not contain credentials"),
        (("http://host?key=1", "m"), {}, "must not contain credentials"),
        (("http://host", ""), {}, "model must be a non-empty"),
        (("http://host", "m"), {"max_tokens": 0}, "max_tokens must be"),
        (("http://host", "m"), {"api_key_env": "sk-abc def"}, "NAME of an environment variable"),
    ],
)
def test_bad_arguments(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(PhyloLLMError, match=match):
        OpenAIBackend(*args, **kwargs)


class _Letters:
    id, dim = "letters-test", 26

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(texts), 26), dtype=np.float32)
        for i, t in enumerate(texts):
            for ch in t.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return out


def test_secret_absent_from_every_file_of_a_full_extraction(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from extract.runner import run_extraction

    monkeypatch.setenv("LAB_KEY", SECRET)
    spec = f"openai:{server.url}#tiny-chat"
    res = run_extraction(
        [spec],
        "random:6:1",
        out_dir=tmp_path / "out",
        cache_dir=tmp_path / "cache",
        embedder=_Letters(),
        dims=8,
        recipe="concat",
        backend_settings={"api_key_env": "LAB_KEY", "max_new_tokens": 5},
    )
    assert res.dna.labels == ("tiny-chat",)
    assert all(a == f"Bearer {SECRET}" for a in server.auth) and len(server.auth) == 6
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 4  # responses log, embeddings, per-model DNA, dna.json, summary
    for p in files:
        data = p.read_bytes()
        assert SECRET.encode() not in data, p
        assert b"LAB_KEY" not in data, p


def test_url_secrets_are_redacted_in_any_text():
    from extract.backends.openai_http import redact_url_secrets

    text = "at openai:https://me:p#ss:w@host:1/v1?key=sk-1&x=2#model and http://plain:8/v1#m"
    red = redact_url_secrets(text)
    assert "sk-1" not in red and "p#ss" not in red and "me:" not in red
    assert "https://<redacted>@host:1/v1?<redacted>#model" in red and "http://plain:8/v1#m" in red


def test_non_http_base_url_with_credentials_is_not_echoed():
    with pytest.raises(PhyloLLMError) as info:
        OpenAIBackend("ftp://me:sk-999@host/v1", "m")
    assert "sk-999" not in str(info.value)
