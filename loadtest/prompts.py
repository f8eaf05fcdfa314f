"""The shipped prompt set (short / medium / long, plus a weighted mix)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PROMPTS = Path(__file__).with_name("prompts.json")
SIZES = ("short", "medium", "long")


@dataclass
class PromptSet:
    """Prompts grouped by size, and the weights the ``mix`` draws with."""

    by_size: dict[str, list[str]]
    mix: dict[str, float] = field(default_factory=dict)

    def pick(self, size: str, rng: random.Random) -> str:
        """Return one prompt of ``size`` (``short``, ``medium``, ``long``) or drawn from the ``mix``."""
        if size == "mix":
            sizes = [s for s in SIZES if self.by_size.get(s) and self.mix.get(s, 0) > 0]
            size = rng.choices(sizes, weights=[self.mix[s] for s in sizes])[0]
        choices = self.by_size.get(size)
        if not choices:
            raise ValueError(f"the prompt set has no {size!r} prompts; use one of {', '.join(sorted(self.by_size))}")
        return rng.choice(choices)


def load(path: str | Path | None = None) -> PromptSet:
    """Load a prompt set JSON file (format: see loadtest/prompts.json); raise ValueError naming the problem."""
    path = Path(path) if path else DEFAULT_PROMPTS
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read prompt set {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"prompt set {path} is not valid JSON: {exc}") from exc
    by_size: dict[str, list[str]] = {}
    for entry in data.get("prompts") or []:
        if entry.get("size") not in SIZES or not isinstance(entry.get("text"), str) or not entry["text"].strip():
            raise ValueError(f"prompt set {path}: entry {entry.get('id')!r} needs size in {SIZES} and a text")
        by_size.setdefault(entry["size"], []).append(entry["text"])
    if not by_size:
        raise ValueError(f"prompt set {path} has no prompts")
    mix = {k: float(v) for k, v in (data.get("mix") or dict.fromkeys(by_size, 1.0)).items()}
    return PromptSet(by_size, mix)
