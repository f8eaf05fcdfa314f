"""The molecule scenarios the test suite runs, listed once, so that a deleted scenario fails instead of shrinking it.

``python -m tools.molecule_scenarios [ROOT]`` prints one scenario folder per line (``<dir>/molecule/<scenario>``),
longest first (the test suite runs them two at a time and starts the longest first so both finish together); it
exits 1, naming each difference and the fix, when the scenarios found on disk differ from ``EXPECTED``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Every molecule scenario of the project, longest first (measured: Open-WebUI about 6 min, Ollama 2, the rest 1 or
# less). Add a new one here in the same change that adds its folder; remove one only in the change that deletes it
# on purpose.
EXPECTED = (
    "roles/open_webui/molecule/default",
    "roles/ollama/molecule/default",
    "roles/cloudwatch_agent/molecule/default",
    "roles/ssh_hardening/molecule/default",
    "roles/backups/molecule/default",
    "roles/os_hardening/molecule/default",
    "tests/testbed/molecule/default",
)

# Where scenarios live: a role's and a test bench's molecule/<scenario>/molecule.yml.
PATTERNS = ("roles/*/molecule/*/molecule.yml", "tests/*/molecule/*/molecule.yml")


def discover(root: Path) -> list[str]:
    """Scenario folders (relative to ``root``) that hold a molecule.yml."""
    found = {str(path.parent.relative_to(root)) for pattern in PATTERNS for path in root.glob(pattern)}
    return sorted(found)


def problems(found: list[str], expected: tuple[str, ...] = EXPECTED) -> list[str]:
    """One message per expected scenario that is missing and per scenario on disk that is not listed."""
    messages = [
        f"molecule scenario {name} is missing (no {name}/molecule.yml): restore it, or remove it from "
        "EXPECTED in tools/molecule_scenarios.py if it was deleted on purpose"
        for name in expected
        if name not in found
    ]
    messages += [
        f"molecule scenario {name} is not listed: add it to EXPECTED in tools/molecule_scenarios.py"
        for name in found
        if name not in expected
    ]
    return messages


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[1]
    found = discover(root)
    errors = problems(found)
    for message in errors:
        print(f"ERROR: {message}", file=sys.stderr)
    if errors:
        return 1
    print("\n".join(EXPECTED))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
