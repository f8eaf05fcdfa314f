"""The load balancers' health checks as AWS runs them, per environment: each tier's target group (found as AWS finds
it: the group the tier's Auto Scaling group registers into, tools/target_groups.py) checks the readiness path the
tier's role answers, on the port the role listens on, with the documented interval and thresholds. The instance's
launch hook waits for the same URL, and the twin creates its target groups from the same reading of Terraform."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml
from terraform_helpers import ENVIRONMENTS, REPO_ROOT, planted_copy

import tools.target_groups
from tools import gpu_fleet
from tools.target_groups import TargetGroup, target_groups
from tools.twin import stack as twin_stack

NGINX_TEMPLATE = REPO_ROOT / "roles" / "ollama" / "templates" / "nginx-ollama.conf.j2"
WEBUI_SERVICE = REPO_ROOT / "roles" / "open_webui" / "tasks" / "service.yml"
# The check's timing, as docs/REQUIREMENTS.md (10.3) states it: a target joins after 2 passing checks 15 s apart
# (30 s) and leaves after 3 failing ones (45 s).
DOCUMENTED = {"interval": 15, "healthy_threshold": 2, "unhealthy_threshold": 3}


def _defaults(role: str) -> dict:
    return yaml.safe_load((REPO_ROOT / "roles" / role / "defaults" / "main.yml").read_text())


def _braced(text: str, start: int) -> str:
    """The text of the brace block opening at or after ``start`` (Jinja's {{ }} and {% %} balance out)."""
    opening = text.index("{", start)
    depth = 0
    for index in range(opening, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[opening + 1 : index]
    raise AssertionError(f"unbalanced braces after offset {start}")


def backend_readiness(template: str) -> list[str]:
    """Exact-match locations that can answer 200 in the nginx server listening on ollama_proxy_port."""
    servers = [_braced(template, m.start()) for m in re.finditer(r"(?m)^server\s*\{", template)]
    (server,) = [s for s in servers if re.search(r"listen \{\{ ollama_proxy_port \}\}", s)]
    return [
        m.group(1) for m in re.finditer(r"location = (\S+) \{", server) if "return 200" in _braced(server, m.start())
    ]


def frontend_readiness() -> list[str]:
    """Paths on open_webui_port the role waits for before it counts Open-WebUI as started."""
    tasks = yaml.safe_load(WEBUI_SERVICE.read_text())
    urls = [task["ansible.builtin.uri"]["url"] for task in tasks if "ansible.builtin.uri" in task]
    return [u.split("}}", 1)[1] for u in urls if u.startswith("http://127.0.0.1:{{ open_webui_port }}")]


def role_readiness() -> dict[str, tuple[int, str]]:
    """Per tier: the port the role serves and the path that answers 200 only when the tier can serve."""
    (backend,) = backend_readiness(NGINX_TEMPLATE.read_text())
    (frontend,) = frontend_readiness()
    return {
        "backend": (int(_defaults("ollama")["ollama_proxy_port"]), backend),
        "frontend": (int(_defaults("open_webui")["open_webui_port"]), frontend),
    }


def problems(groups: dict[str, TargetGroup], readiness: dict[str, tuple[int, str]]) -> list[str]:
    found = [] if set(groups) == set(readiness) else [f"target groups for {sorted(groups)}, tiers {sorted(readiness)}"]
    for tier, group in sorted(groups.items()):
        port, path = readiness.get(tier, (None, None))
        if (group.port, group.health_port, group.health_path) != (port, "traffic-port", path):
            found.append(
                f"{tier}: checks {group.health_path} (port {group.health_port}) of port {group.port}, "
                f"the role answers readiness on {port}{path}"
            )
        if group.matcher != "200":
            found.append(f"{tier}: matcher {group.matcher}: only 200 means ready (a warming backend answers 503)")
        found += [
            f"{tier}: {name} {getattr(group, name)}, documented {value}"
            for name, value in DOCUMENTED.items()
            if getattr(group, name) != value
        ]
        if not 0 < group.timeout < group.interval:
            found.append(f"{tier}: timeout {group.timeout} s must be shorter than the interval {group.interval} s")
    return found


def test_the_roles_answer_readiness_where_the_launch_hook_waits():
    readiness = role_readiness()
    assert readiness == {"backend": (8000, "/ready"), "frontend": (8080, "/health")}
    # The instance completes its launch hook once the same URL answers: InService and healthy mean the same.
    ready_urls = gpu_fleet.load_bootstrap().READY_URLS
    assert ready_urls == {tier: f"http://127.0.0.1:{port}{path}" for tier, (port, path) in readiness.items()}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_tier_is_checked_where_its_role_answers_readiness(environment):
    assert problems(target_groups(environment), role_readiness()) == []


def test_a_check_of_the_wrong_path_or_timing_is_caught(tmp_path: Path):
    copy = planted_copy(tmp_path, "alb.tf", "path                = var.ollama_backend_health_path", 'path = "/"')
    assert problems(target_groups("production", copy), role_readiness()) == [
        "backend: checks / (port traffic-port) of port 8000, the role answers readiness on 8000/ready"
    ]
    groups = target_groups("dev")
    groups["frontend"] = dataclasses.replace(groups["frontend"], interval=30, timeout=30, matcher="200-499")
    assert problems(groups, role_readiness()) == [
        "frontend: matcher 200-499: only 200 means ready (a warming backend answers 503)",
        "frontend: interval 30, documented 15",
        "frontend: timeout 30 s must be shorter than the interval 30 s",
    ]


def test_the_twin_creates_the_target_groups_terraform_declares(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The twin holds no copy of the health check: a change in terraform/alb.tf reaches the twin's target groups."""
    twin_stack.terraform_target_group.cache_clear()
    try:
        assert {tier: twin_stack.terraform_target_group(tier) for tier in twin_stack.TIERS} == target_groups()
        copy = planted_copy(tmp_path, "alb.tf", "timeout             = 10", "timeout             = 7")
        monkeypatch.setattr(tools.target_groups, "TERRAFORM_DIR", copy)
        twin_stack.terraform_target_group.cache_clear()
        arguments = twin_stack.terraform_target_group("backend").create_arguments()
        assert arguments["HealthCheckTimeoutSeconds"] == 7
        assert arguments["HealthCheckPath"] == "/ready" and arguments["Port"] == 8000
    finally:
        twin_stack.terraform_target_group.cache_clear()
