"""The GPU tier as far as it can be shown without a GPU: the launch configuration and user data per instance type,
the settings the bootstrap derives for it, the warm-up's refusal of CPU inference, the GPU bake, the fallback types
against the models' memory and the GPU vCPU quota the fleet needs (docs/GPU.md lists what only a GPU shows)."""

from __future__ import annotations

import http.server
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from tools import gpu_fleet
from tools.hcl_eval import Evaluator, environment_variables, load_configuration

ROOT = Path(__file__).resolve().parents[2]
WARMUP = ROOT / "roles" / "ollama" / "files" / "ollama-warmup"
ENVIRONMENTS = ("dev", "staging", "production")
bootstrap = gpu_fleet.load_bootstrap()


def _warmup_module() -> Any:
    loader = importlib.machinery.SourceFileLoader("ollama_warmup", str(WARMUP))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


warmup = _warmup_module()


# -- launch configuration, user data and derived settings per instance type -----------------------------------


def _backend(environment: str, types: list[str] | None = None) -> tuple[Evaluator, dict, dict]:
    documents = load_configuration(ROOT / "terraform")
    variables = environment_variables(documents, ROOT / "terraform" / "environments" / f"{environment}.tfvars")
    if types is not None:
        variables["ollama_backend_instance_types"] = types
    evaluator = Evaluator(documents, variables)
    return evaluator, evaluator.instances("aws_launch_template.this")["backend"], documents


def _dynamic(documents: dict, rtype: str, name: str, block: str) -> dict:
    (body,) = [
        group[rtype][name] for group in documents["asg.tf"]["resource"] if rtype in group and name in group[rtype]
    ]
    (found,) = [d[block] for d in body["dynamic"] if block in d]
    return found


@pytest.mark.parametrize(
    ("instance_type", "gpu", "parallel", "loaded", "keep_alive"),
    [("g6.xlarge", True, 8, 3, "-1"), ("g5.xlarge", True, 8, 3, "-1"), ("c6i.xlarge", False, 4, 1, "5m")],
)
def test_one_launch_template_per_type_with_the_same_user_data_and_the_settings_derived_at_boot(
    instance_type, gpu, parallel, loaded, keep_alive
):
    evaluator, scope, documents = _backend("production", [instance_type])
    assert evaluator.value("${each.value.instance_types[0]}", scope) == instance_type
    settings = evaluator.value("${each.value.settings}", scope)
    # The user data records names and ARNs only: nothing in it depends on the type, the instance reads its type.
    assert not [key for key in settings if "GPU" in key or "PARALLEL" in key or "KEEP_ALIVE" in key]
    assert evaluator.value("${var.ollama_fleet_enabled}") is True
    launch = {"ollama_gpu": gpu, "ollama_num_parallel": parallel, "ollama_max_loaded_models": loaded}
    derived = bootstrap.derive_tuning(instance_type).role_vars()
    assert derived == {**launch, "ollama_keep_alive": keep_alive}
    # A single on-demand type: a plain launch template (a warm pool is possible), no mixed-instances policy.
    assert (
        evaluator.value(
            _dynamic(documents, "aws_autoscaling_group", "this", "mixed_instances_policy")["for_each"], scope
        )
        == []
    )


def test_production_falls_back_from_g6_to_g5_in_that_order():
    evaluator, scope, documents = _backend("production")
    assert evaluator.value("${each.value.instance_types}", scope) == ["g6.xlarge", "g5.xlarge"]
    mixed = _dynamic(documents, "aws_autoscaling_group", "this", "mixed_instances_policy")
    assert evaluator.value(mixed["for_each"], scope) == [1]
    distribution = mixed["content"][0]["instances_distribution"][0]
    assert distribution["on_demand_allocation_strategy"] == "prioritized"
    assert evaluator.value(distribution["on_demand_percentage_above_base_capacity"]) == 100
    warm = _dynamic(documents, "aws_autoscaling_group", "this", "warm_pool")
    assert evaluator.value(warm["for_each"], scope) == [], "AWS refuses a warm pool on a mixed-instances group"


# -- the fallback types hold the models ------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_backend_type_holds_the_baked_models(environment):
    result = gpu_fleet.main(["--environment", environment])
    assert result == 0


def test_a_fallback_type_too_small_for_the_models_is_caught():
    variables = {
        "ollama_backend_instance_types": ["g6.xlarge", "g4dn.xlarge"],
        "ollama_backend_capacity": {"min": 3, "max": 12},
    }
    models = ["llama3.1:8b", "gemma2:9b", "qwen2.5:7b"]
    needs = gpu_fleet.fleet_needs(variables, models, "g4dn.xlarge", bootstrap)
    assert needs["fit_problems"] == [
        "g4dn.xlarge: llama3.1:8b, gemma2:9b, qwen2.5:7b need 19 GiB, it has 16 GiB of GPU memory: choose a larger "
        "type or smaller models"
    ]


def test_gpu_vcpus_cover_the_largest_fleet_an_instance_refresh_and_the_builder():
    variables = {
        "ollama_backend_instance_types": ["g6.xlarge", "g5.2xlarge"],
        "ollama_backend_capacity": {"min": 8, "max": 12},
    }
    needs = gpu_fleet.fleet_needs(variables, ["llama3.2:1b"], "g4dn.xlarge", bootstrap)
    assert needs["gpu_types"] == ["g6.xlarge", "g5.2xlarge"]
    assert needs["vcpus_needed"] == 16 * 8 + 4  # 2 x min 8 at 8 vCPUs, plus the 4-vCPU builder
    cpu = {"ollama_backend_instance_types": ["c6i.xlarge"], "ollama_backend_capacity": {"min": 1, "max": 2}}
    assert gpu_fleet.fleet_needs(cpu, ["llama3.2:1b"], "g4dn.xlarge", bootstrap)["vcpus_needed"] == 0


def test_preflight_checks_the_g_instance_vcpu_quota_with_the_fleets_need():
    plays = yaml.safe_load((ROOT / "playbooks" / "preflight.yml").read_text())
    (block,) = [t for t in plays[0]["tasks"] if t.get("name") == "Check the GPU backend's capacity"]
    tasks = {t["name"]: t for t in block["block"]}
    argv = tasks["Read what the backend needs (tools/gpu_fleet.py over the environment's Terraform settings)"]
    assert "tools.gpu_fleet" in argv["ansible.builtin.command"]["argv"]
    quota = tasks["Read the account's On-Demand G and VT instances vCPU quota"]["ollama.platform.service_quota_info"]
    assert quota["quota_code"] == "L-DB2E81BA" and "vcpus_needed" in quota["needed"]
    refuse = tasks["Refuse a GPU vCPU quota below what the backend needs"]["ansible.builtin.assert"]
    assert refuse["that"] == "_platform_gpu_quota.sufficient" and "message" in refuse["fail_msg"]


# -- the GPU image ---------------------------------------------------------------------------------------------


def _bake_gpu(environment: str) -> bool:
    platform = ROOT / "inventories" / environment / "group_vars" / "all" / "platform.yml"
    return bool(yaml.safe_load(platform.read_text()).get("platform_bake_gpu", False))


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_backend_image_is_baked_for_gpu_exactly_where_the_backend_runs_on_gpu(environment):
    documents = load_configuration(ROOT / "terraform")
    variables = environment_variables(documents, ROOT / "terraform" / "environments" / f"{environment}.tfvars")
    needs = gpu_fleet.fleet_needs(variables, ["llama3.2:1b"], "g4dn.xlarge", bootstrap)
    types = variables["ollama_backend_instance_types"]
    assert len(needs["gpu_types"]) in (0, len(types)), f"{environment}: one image cannot serve GPU and CPU types"
    assert _bake_gpu(environment) is bool(needs["gpu_types"]), (
        f"{environment}: set platform_bake_gpu: {str(bool(needs['gpu_types'])).lower()} in "
        f"inventories/{environment}/group_vars/all/platform.yml"
    )


def test_the_gpu_bake_uses_a_gpu_builder_and_the_pinned_driver():
    defaults = yaml.safe_load((ROOT / "roles" / "ami_bake" / "defaults" / "main.yml").read_text())
    assert bootstrap.INSTANCE_TYPES[defaults["ami_bake_gpu_instance_type"]][3] > 0, "the GPU builder must have a GPU"
    assert defaults["ami_bake_gpu_driver_version"]
    launch = (ROOT / "roles" / "ami_bake" / "tasks" / "launch.yml").read_text()
    assert "ami_bake_gpu_instance_type if (ami_bake_gpu | bool and ami_bake_tier == 'backend')" in launch
    configure = yaml.safe_load((ROOT / "roles" / "ami_bake" / "tasks" / "configure_backend.yml").read_text())
    role_vars = configure[0]["vars"]
    assert role_vars["ollama_gpu"] == "{{ ami_bake_gpu | bool }}"
    assert role_vars["ollama_gpu_driver_version"] == "{{ ami_bake_gpu_driver_version }}"
    debian = yaml.safe_load((ROOT / "roles" / "ollama" / "vars" / "Debian.yml").read_text())
    package = jinja2.Template(debian["__ollama_gpu_packages"][1]).render(ollama_gpu_driver_version="535.261.03-1")
    assert package == "nvidia-driver=535.261.03-1"
    plan = (ROOT / "roles" / "ami_bake" / "tasks" / "plan_tier.yml").read_text()
    assert "gpu_driver:" in plan, "a new driver version must bake a new image"


def test_a_booted_instance_installs_no_driver_it_only_checks_it():
    tasks = yaml.safe_load((ROOT / "roles" / "ollama" / "tasks" / "gpu.yml").read_text())
    installs = [
        task
        for task in tasks
        if "ansible.builtin.apt" in task
        or "ansible.builtin.apt_repository" in task
        or task.get("ansible.builtin.command") == "{{ __ollama_gpu_autoinstall_command }}"
    ]
    assert len(installs) == 3
    for task in installs:
        assert "ollama_install_enabled | bool" in task["when"], task["name"]
    main = [t["name"] for t in yaml.safe_load((ROOT / "roles" / "ollama" / "tasks" / "main.yml").read_text())]
    assert main.index("Install or check the GPU driver") < main.index("Configure and start the services")


# -- readiness refuses CPU inference on a GPU instance -----------------------------------------------------------


@pytest.mark.parametrize(
    ("running", "problem"),
    [
        ([{"name": "llama3.2:1b", "size": 2000, "size_vram": 2000}], ""),
        (
            [{"name": "llama3.2:1b", "size": 2000, "size_vram": 0}],
            "runs on the CPU (/api/ps size_vram 0 of 2000 bytes)",
        ),
        ([{"name": "llama3.2:1b", "size": 2000, "size_vram": 1000}], "is only 50% in GPU memory"),
        ([], "is not loaded after its warm-up generation"),
    ],
)
def test_gpu_problem_reads_size_vram(running, problem):
    found = warmup.gpu_problem("llama3.2:1b", running)
    assert (problem in found) if problem else found == ""


class _Ollama(http.server.BaseHTTPRequestHandler):
    vram = 0

    def _json(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/api/version":
            self._json({"version": "0.12.6"})
        elif self.path == "/api/tags":
            self._json({"models": [{"name": "llama3.2:1b"}]})
        else:
            self._json({"models": [{"name": "llama3.2:1b", "size": 1_300_000_000, "size_vram": type(self).vram}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._json({"done": True, "response": "ok"})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def ollama() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ollama)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("require_gpu", "vram", "ready"),
    [("1", 0, False), ("1", 1_300_000_000, True), ("0", 0, True)],
)
def test_the_warm_up_leaves_a_gpu_instance_not_ready_while_ollama_infers_on_the_cpu(
    ollama, tmp_path, require_gpu, vram, ready
):
    _Ollama.vram = vram
    ready_file = tmp_path / "ready"
    env = dict(
        os.environ,
        OLLAMA_WARMUP_URL=ollama,
        OLLAMA_WARMUP_MODELS="llama3.2:1b",
        OLLAMA_WARMUP_TIMEOUT="5",
        OLLAMA_READY_FILE=str(ready_file),
        OLLAMA_WARMUP_REQUIRE_GPU=require_gpu,
    )
    result = subprocess.run([sys.executable, str(WARMUP)], env=env, capture_output=True, text=True, timeout=60)
    assert (result.returncode == 0) is ready, result.stdout + result.stderr
    assert ready_file.exists() is ready
    if not ready:
        assert "runs on the CPU" in result.stdout and "nvidia-smi" in result.stdout


@pytest.mark.parametrize(("gpu", "expected"), [(True, "1"), (False, "0")])
def test_the_warm_up_settings_follow_ollama_gpu(gpu, expected):
    template = (ROOT / "roles" / "ollama" / "templates" / "warmup.env.j2").read_text()
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 (an env file)
    environment.filters["bool"] = bool
    text = environment.from_string(template).render(
        ansible_managed="", __ollama_local_url="http://127.0.0.1:11434", ollama_warmup_models=["llama3.2:1b"],
        ollama_warmup_prompt="x", ollama_warmup_timeout=900, ollama_keep_alive="-1", __ollama_ready_file="/run/r",
        ollama_gpu=gpu,
    )  # fmt: skip
    assert f"OLLAMA_WARMUP_REQUIRE_GPU={expected}" in text.splitlines()


def test_the_emergency_configure_path_derives_the_same_settings():
    plays = yaml.safe_load((ROOT / "playbooks" / "configure.yml").read_text())
    (backend,) = [p for p in plays if p.get("hosts") == "role_backend"]
    derive, apply = (t for t in backend["pre_tasks"] if "tuning" in str(t) or "set_fact" in str(t))
    assert derive["ansible.builtin.command"]["argv"][:2] == ["/usr/local/sbin/ollama-platform-bootstrap", "--tuning"]
    assert set(apply["ansible.builtin.set_fact"]) == set(bootstrap.derive_tuning("g6.xlarge").role_vars())
