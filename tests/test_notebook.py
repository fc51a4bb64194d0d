"""Execute notebooks/walkthrough.ipynb end to end (kernel: python3 of this interpreter)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"


def _run(monkeypatch: pytest.MonkeyPatch, reference: str) -> tuple[str, int, float]:
    if reference == "none":
        monkeypatch.setenv("PHYLO_LLM_REFERENCE", "none")
    else:
        monkeypatch.delenv("PHYLO_LLM_REFERENCE", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    start = time.monotonic()
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    elapsed = time.monotonic() - start
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    return text, images, elapsed


def test_walkthrough_on_synthetic_data(monkeypatch: pytest.MonkeyPatch) -> None:
    text, images, elapsed = _run(monkeypatch, "none")
    assert "synthetic data: 48 models, 32-d DNA, 6 families" in text
    assert "48 tip labels drawn" in text and "no network needed" in text
    assert images >= 7  # tree, speed x2, timeline, drift, positions, DNA map
    assert elapsed < 120  # < 1 min on an idle machine; slack for a shared CI box


def test_walkthrough_on_reference_data(monkeypatch: pytest.MonkeyPatch, paper_data: Path) -> None:
    text, images, elapsed = _run(monkeypatch, "auto")
    assert "reference data (llm-dna-paper): 313 models" in text
    assert images >= 7
    assert elapsed < 180
