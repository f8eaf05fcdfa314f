"""The knob table is the one declaration: serve flags, Config.from_env, running_double's keywords, the summary line
and the README's knob table all follow it, and a knob planted in it reaches all of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from ollama_double import cli, knobs, running_double
from ollama_double.knobs import KNOBS, NUMBER, Knob, KnobTable

README = Path(__file__).resolve().parents[1] / "README.md"
PLANTED = Knob("planted_ms", "OLLAMA_DOUBLE_PLANTED_MS", "--planted-ms", NUMBER, "7", "a knob planted by the test")


def serve_flags() -> set[str]:
    serve = cli.build_parser()._subparsers._group_actions[0].choices["serve"]
    return {flag for action in serve._actions for flag in action.option_strings if flag not in ("-h", "--help")}


def test_a_planted_knob_reaches_flags_from_env_keywords_and_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(knobs, "TABLE", KnobTable([*KNOBS, PLANTED]))
    # the serve flag, and the variable it sets
    assert "--planted-ms" in serve_flags()
    args = cli.build_parser().parse_args(["serve", "--planted-ms", "12.5"])
    assert knobs.TABLE.env_from_flags(args, {}) == {"OLLAMA_DOUBLE_PLANTED_MS": "12.5"}
    # Config.from_env: a field with the table's default, read from the variable
    assert knobs.TABLE.from_env({}).planted_ms == 7.0
    assert knobs.TABLE.from_env({"OLLAMA_DOUBLE_PLANTED_MS": "3"}).planted_ms == 3.0
    with pytest.raises(SystemExit, match="OLLAMA_DOUBLE_PLANTED_MS='x' is not a number; set it to a number such as 7"):
        knobs.TABLE.from_env({"OLLAMA_DOUBLE_PLANTED_MS": "x"})
    # running_double accepts it as a keyword, and the server's config line shows it
    with running_double(in_process=True, planted_ms=4) as double:
        config_line = next(line for line in double.log().splitlines() if "server config" in line)
    assert "OLLAMA_DOUBLE_PLANTED_MS:4 " in config_line


def test_without_the_plant_none_of_the_four_knows_it() -> None:
    assert "--planted-ms" not in serve_flags()
    assert not hasattr(knobs.Config.from_env({}), "planted_ms")
    assert "PLANTED" not in knobs.TABLE.summary(knobs.Config.from_env({}))
    with pytest.raises(TypeError, match="unknown knob 'planted_ms'; use one of: api_token, context_length"):
        knobs.TABLE.env_for(planted_ms=4)


def test_flags_and_summary_cover_the_table() -> None:
    assert serve_flags() == {k.flag for k in KNOBS if k.flag}
    summary = knobs.TABLE.summary(knobs.Config.from_env({"OLLAMA_HOST": "127.0.0.1:0"}))
    shown = re.findall(r"(OLLAMA_[A-Z_]+):", summary)
    assert shown == sorted(k.env for k in KNOBS), "every knob once, sorted like Go prints a map"


def test_the_readme_documents_every_knob() -> None:
    text = README.read_text()
    section = text.split("## Knobs", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| `")]
    documented = {cells[0].strip().strip("`"): cells[1].strip().strip("`") or None for cells in rows}
    assert documented == {k.env: k.flag for k in KNOBS}, "README.md's knob table drifted from knobs.KNOBS"


def test_api_token_stands_in_for_the_platform_proxy() -> None:
    with running_double(in_process=True, api_token="t0ken-for-the-test") as double:
        missing = requests.get(double.url + "/api/version", timeout=10)
        wrong = requests.get(double.url + "/api/version", headers={"Authorization": "Bearer other"}, timeout=10)
        token = {"Authorization": "Bearer t0ken-for-the-test"}
        right = requests.get(double.url + "/api/version", headers=token, timeout=10)
        log = double.log()
    for answer in (missing, wrong):
        assert answer.status_code == 401
        assert answer.json() == {"error": "unauthorized: send Authorization: Bearer <token>"}
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="ollama"'
    assert right.status_code == 200 and right.json() == {"version": "0.12.6"}
    assert "OLLAMA_DOUBLE_API_TOKEN:(set)" in log and "t0ken-for-the-test" not in log
