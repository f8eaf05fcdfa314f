"""Open-WebUI's start on a host: migrations one replica at a time, and a start that fails fast when the service
dies. The migration lock itself is exercised against PostgreSQL in tests/integration/test_shared_vector_store.py."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time

import pytest

from tests.roles.test_open_webui_secrets import load_helper, rendered, unit_values

helper = load_helper()


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/health"


def test_the_unit_migrates_under_the_lock_before_it_starts_and_watches_its_main_process():
    unit = rendered("open-webui.service.j2")
    pre = unit_values(unit, "ExecStartPre")
    assert [line.split()[2] for line in pre] == ["check", "migrate"], "migrations run after the checks, before start"
    assert "--main-pid=${MAINPID}" in unit_values(unit, "ExecStartPost")[0]


def test_waiting_for_health_stops_as_soon_as_the_main_process_exited():
    """systemd waits for ExecStartPost even when the main process died; the wait must end there, not at the
    timeout (a failed migration would otherwise hold the unit in activating for 300 s)."""
    died = subprocess.Popen([sys.executable, "-c", "pass"])
    died.wait()
    started = time.monotonic()
    args = argparse.Namespace(url=closed_port_url(), timeout=60, main_pid=str(died.pid))
    with pytest.raises(helper.HelperError, match="exited before it became healthy"):
        helper.cmd_wait_healthy(args)
    assert time.monotonic() - started < 5


def test_a_running_main_process_or_none_given_waits_for_the_timeout():
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for main_pid in (str(alive.pid), ""):
            args = argparse.Namespace(url=closed_port_url(), timeout=2, main_pid=main_pid)
            with pytest.raises(helper.HelperError, match=r"did not become healthy .* within 2 s"):
                helper.cmd_wait_healthy(args)
    finally:
        alive.kill()
        alive.wait()


def test_sqlite_is_left_to_open_webui(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite:////var/lib/open-webui/webui.db")
    args = argparse.Namespace(timeout=10, command="false")
    assert helper.cmd_migrate(args) == 0
