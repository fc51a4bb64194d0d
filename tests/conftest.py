"""Shared fixtures. Reference data lives in ../shared/data (never copied into the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips the test (with the reason) when the folder is absent."""
    if not (SHARED_DATA / "llm-dna-paper").is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (only present in the dev/CI checkout)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def paper_data(shared_data: Path) -> Path:
    """../shared/data/llm-dna-paper."""
    return shared_data / "llm-dna-paper"
