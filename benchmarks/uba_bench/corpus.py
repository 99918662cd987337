"""A small text corpus made on the spot: the studies' quick runs (the GPU check's dry run, the reliability study's
chaos and fuzz runs) train on it, tokenized in seconds and needing no download."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


def small_text_corpus(folder: Path, documents: int = 24) -> Path:
    """``documents`` standard-library sources as ``.txt`` files in ``folder``, one document each (the same files on
    every machine with this Python)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(Path(json.__file__).parent.glob("*.py")) + sorted(Path(subprocess.__file__).parent.glob("a*.py"))
    for i, src in enumerate(sources[:documents]):
        (folder / f"doc{i:02d}.txt").write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    return folder
