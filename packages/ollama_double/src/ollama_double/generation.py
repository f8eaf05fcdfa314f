"""What the double "generates": deterministic pseudo-text seeded by model and prompt, and unit-length vectors."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import zlib
from typing import Any

# One sentence, cut at its spaces (a literal tuple would take 72 lines).
_SENTENCE = (
    "the model answers with plain words that look like text so clients can count tokens and measure time while "
    "streams arrive in order from a small server running on loopback for tests of load balancers proxies and "
    "dashboards which expect steady output at a known rate; every request gets the same words for the same prompt "
    "unless a seed option says otherwise, and long answers simply continue until the limit is reached."
)
WORDS = tuple(_SENTENCE.split())
TOKEN_TEXT = [(w, " " + w) for w in WORDS]
TOKEN_JSON = [
    (json.dumps(a, ensure_ascii=False).encode(), json.dumps(b, ensure_ascii=False).encode()) for a, b in TOKEN_TEXT
]


@dataclasses.dataclass
class Plan:
    tokens: list[int]
    done_reason: str
    prompt_tokens: int
    prompt_ids: list[int]


def plan_generation(model: str, prompt_text: str, options: dict[str, Any], default_n: int) -> Plan:
    seed = options.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        seed = int.from_bytes(hashlib.sha256(f"{model}\0{prompt_text}".encode()).digest()[:8], "big")
    num_predict = options.get("num_predict")
    if isinstance(num_predict, float) and num_predict.is_integer():
        num_predict = int(num_predict)
    if isinstance(num_predict, int) and not isinstance(num_predict, bool) and num_predict > 0:
        n, reason = num_predict, "length"
    else:
        n, reason = default_n, "stop"
    rng = random.Random(seed)  # noqa: S311 - deterministic pseudo-text, not security
    tokens = [rng.randrange(len(WORDS)) for _ in range(n)]
    stop = options.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str)]
    if stops:
        for i, t in enumerate(tokens):
            if any(s.strip() and s.strip() in WORDS[t] for s in stops):
                tokens, reason = tokens[:i], "stop"
                break
    words = prompt_text.split()
    prompt_ids = [zlib.crc32(w.encode()) % 128000 for w in words] or [1]
    return Plan(tokens, reason, max(1, len(words)), prompt_ids)


def token_text(tokens: list[int]) -> str:
    return "".join(TOKEN_TEXT[t][0 if i == 0 else 1] for i, t in enumerate(tokens))


def token_ids(tokens: list[int]) -> list[int]:
    """The ``context`` ids of generated tokens."""
    return [zlib.crc32(WORDS[t].encode()) % 128000 for t in tokens]


def embedding_vector(model: str, text: str, dims: int) -> list[float]:
    rng = random.Random(hashlib.sha256(f"{model}\0{text}".encode()).digest())  # noqa: S311
    vec = [rng.gauss(0.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [float(f"{v / norm:.8g}") for v in vec]


def count_words(*texts: Any) -> int:
    return sum(len(t.split()) for t in texts if isinstance(t, str))
