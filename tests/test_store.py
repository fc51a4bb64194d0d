"""The responses store: resume after interruption, no stale reuse, torn lines, exact order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from extract.probes import ProbeSet, random_english
from extract.store import ResponseLog, collect_responses, safe_name, settings_id
from phylo_llm.errors import PhyloLLMError


class CountingBackend:
    """Deterministic fake model; counts every prompt it is asked and can fail after k calls."""

    def __init__(self, model_id: str = "fake/model", *, suffix: str = "", fail_after: int | None = None):
        self.model_id = model_id
        self.suffix = suffix
        self.fail_after = fail_after
        self.calls = 0
        self.asked: list[str] = []

    def settings(self) -> dict[str, Any]:
        return {"backend": "counting", "suffix": self.suffix}

    def generate(self, prompts: Sequence[str]) -> list[str]:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("simulated crash")
        self.calls += 1
        self.asked.extend(prompts)
        return [f"{p[::-1]}{self.suffix}" for p in prompts]


@pytest.fixture
def probes() -> ProbeSet:
    return ProbeSet(random_english(20, seed=1), name="t")


def test_resume_generates_only_the_missing_probes(tmp_path: Path, probes: ProbeSet) -> None:
    crashing = CountingBackend(fail_after=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        collect_responses(crashing, probes, cache_dir=tmp_path, chunk_size=3)
    assert len(crashing.asked) == 6

    again = CountingBackend()
    r = collect_responses(again, probes, cache_dir=tmp_path, chunk_size=3)
    assert again.asked == list(probes.prompts[6:])
    assert r.generated == 14
    assert r.texts == tuple(p[::-1] for p in probes.prompts)

    third = CountingBackend()
    r3 = collect_responses(third, probes, cache_dir=tmp_path, chunk_size=5)
    assert third.asked == [] and r3.generated == 0 and r3.texts == r.texts


def test_changed_settings_model_or_probes_never_reuse(tmp_path: Path, probes: ProbeSet) -> None:
    collect_responses(CountingBackend(), probes, cache_dir=tmp_path)
    other_settings = CountingBackend(suffix="!")
    r = collect_responses(other_settings, probes, cache_dir=tmp_path)
    assert len(other_settings.asked) == 20 and r.texts[0].endswith("!")
    other_model = CountingBackend("fake__model")  # same safe name as "fake/model"
    collect_responses(other_model, probes, cache_dir=tmp_path)
    assert len(other_model.asked) == 20
    fewer = CountingBackend()
    collect_responses(fewer, probes.head(19), cache_dir=tmp_path)
    assert len(fewer.asked) == 19


def test_torn_last_line_is_dropped_and_repaired(tmp_path: Path, probes: ProbeSet) -> None:
    b = CountingBackend(fail_after=1)
    with pytest.raises(RuntimeError):
        collect_responses(b, probes, cache_dir=tmp_path, chunk_size=4)
    (path,) = (tmp_path / "responses").rglob("*.jsonl")
    with path.open("ab") as fh:  # a crash in the middle of a write
        fh.write(b'{"i":4,"respon')
    again = CountingBackend()
    r = collect_responses(again, probes, cache_dir=tmp_path, chunk_size=4)
    assert again.asked == list(probes.prompts[4:])
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and all(json.loads(x) for x in lines[:-1])
    assert len(lines) - 2 == 20  # header + 20 records
    assert r.texts == tuple(p[::-1] for p in probes.prompts)


def test_header_pins_the_key_and_file_holds_no_surprises(tmp_path: Path, probes: ProbeSet) -> None:
    collect_responses(CountingBackend(), probes, cache_dir=tmp_path, chunk_size=7)
    (path,) = (tmp_path / "responses").rglob("*.jsonl")
    header = json.loads(path.read_text().split("\n")[0])
    assert header["model"] == "fake/model" and header["probe_set"] == probes.id
    assert header["settings"] == {"backend": "counting", "suffix": ""}
    assert header["settings_id"] == settings_id({"suffix": "", "backend": "counting"})
    assert path.parent.name.startswith(safe_name("fake/model") + "-")


def test_malformed_middle_line_is_an_error(tmp_path: Path, probes: ProbeSet) -> None:
    collect_responses(CountingBackend(), probes, cache_dir=tmp_path)
    (path,) = (tmp_path / "responses").rglob("*.jsonl")
    lines = path.read_text().split("\n")
    lines[3] = "garbage"
    path.write_text("\n".join(lines))
    with pytest.raises(PhyloLLMError, match=r":4: malformed response record"):
        collect_responses(CountingBackend(), probes, cache_dir=tmp_path)


def test_order_is_by_probe_index_whatever_the_file_order(tmp_path: Path) -> None:
    probes = ProbeSet(("a", "b", "c"))
    log = ResponseLog.for_key(tmp_path, "m", probes, {"s": 1})
    log.append({2: "C", 0: "A"})
    log.append({1: "B"})
    assert log.load() == {0: "A", 1: "B", 2: "C"}

    class Never:
        model_id = "m"

        def settings(self) -> dict[str, int]:
            return {"s": 1}

        def generate(self, prompts: Sequence[str]) -> list[str]:
            raise AssertionError("everything is cached")

    assert collect_responses(Never(), probes, cache_dir=tmp_path).texts == ("A", "B", "C")


class WrongCount(CountingBackend):
    def generate(self, prompts: Sequence[str]) -> list[str]:
        return ["x"] * (len(prompts) - 1)


def test_wrong_number_of_responses_names_the_model(tmp_path: Path, probes: ProbeSet) -> None:
    with pytest.raises(PhyloLLMError, match=r"model 'fake/model' returned 3 responses for 4 prompts"):
        collect_responses(WrongCount(), probes, cache_dir=tmp_path, chunk_size=4)


def test_empty_responses_are_kept_and_counted(tmp_path: Path) -> None:
    class Mute(CountingBackend):
        def generate(self, prompts: Sequence[str]) -> list[str]:
            return ["" if i % 2 else "ok" for i, _ in enumerate(prompts)]

    r = collect_responses(Mute(), ProbeSet(("a", "b", "c", "d")), cache_dir=tmp_path, chunk_size=4)
    assert r.texts == ("ok", "", "ok", "") and r.n_empty == 2


def test_progress_events(tmp_path: Path, probes: ProbeSet) -> None:
    events: list = []
    collect_responses(CountingBackend(), probes, cache_dir=tmp_path, chunk_size=8, progress=events.append)
    assert [(e.stage, e.done, e.total) for e in events] == [
        ("responses", 0, 20),
        ("responses", 8, 20),
        ("responses", 16, 20),
        ("responses", 20, 20),
    ]


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHYLO_LLM_CACHE", str(tmp_path / "env-cache"))
    collect_responses(CountingBackend(), ProbeSet(("a",)))
    assert list((tmp_path / "env-cache" / "responses").rglob("*.jsonl"))


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_chunk_size(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(PhyloLLMError, match="chunk_size must be an integer >= 1"):
        collect_responses(CountingBackend(), ProbeSet(("a",)), cache_dir=tmp_path, chunk_size=bad)


def test_unserialisable_settings(tmp_path: Path) -> None:
    class Odd(CountingBackend):
        def settings(self) -> dict[str, Any]:
            return {"x": object()}

    with pytest.raises(PhyloLLMError, match="settings must be JSON-serialisable"):
        collect_responses(Odd(), ProbeSet(("a",)), cache_dir=tmp_path)
