"""Shared test fixtures and constants."""
from __future__ import annotations

from pathlib import Path

# The Canvas documentation's example payloads, copied into the repository (see PROVENANCE.md there).
CANVAS_EXAMPLES = Path(__file__).resolve().parent / "data" / "canvas-examples"
