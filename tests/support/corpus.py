"""The shared PDF corpus (`../shared/corpus`, beside the repository): located once for every test."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


def corpus_file(name: str) -> bytes:
    """Return a corpus PDF's bytes, skipping the test when the shared corpus is absent (a clone elsewhere)."""
    path = CORPUS / "pdf" / name
    if not path.exists():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return path.read_bytes()
