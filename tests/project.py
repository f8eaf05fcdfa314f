"""The project's root folder, defined once for every test module and helper (the ``project_root`` fixture too)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
