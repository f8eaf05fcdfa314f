"""What an environment's GPU backend needs from the account, from its Terraform settings.

Reads terraform/environments/<env>.tfvars (with the declared defaults), the instance types' resources and the model
sizes from the instance bootstrap (roles/instance_bootstrap/files/ollama-platform-bootstrap.py, the one table the
instances derive their settings from) and the bake's models and GPU builder from roles/ami_bake/defaults/main.yml.
Prints JSON for playbooks/preflight.yml:

    gpu_types       the backend types that are GPU types
    vcpus_needed    vCPUs of On-Demand G instances the fleet can run at once: max(max_size, 2 x min_size for an
                    instance refresh at 200 %) x the largest type's vCPUs, plus the GPU bake builder's
    fit_problems    backend types (the first and every fallback) whose (GPU) memory cannot hold the baked models

    python -m tools.gpu_fleet --environment production [--models llama3.1:8b,nomic-embed-text]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from tools.hcl_eval import HclEvalError, environment_variables, load_configuration

REPO_ROOT = Path(__file__).resolve().parents[1]
BOOTSTRAP = REPO_ROOT / "roles" / "instance_bootstrap" / "files" / "ollama-platform-bootstrap.py"
BAKE_DEFAULTS = REPO_ROOT / "roles" / "ami_bake" / "defaults" / "main.yml"


def load_bootstrap() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ollama_platform_bootstrap", BOOTSTRAP)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {BOOTSTRAP}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def fleet_needs(variables: dict[str, Any], models: list[str], builder_type: str, bootstrap: ModuleType) -> dict:
    """The GPU vCPUs and memory checks of one environment's backend settings."""
    types = list(variables["ollama_backend_instance_types"])
    capacity = variables["ollama_backend_capacity"]
    table = bootstrap.INSTANCE_TYPES
    gpu_types = [t for t in types if t in table and table[t][3] > 0]
    vcpus_needed = 0
    if gpu_types:
        instances = max(int(capacity["max"]), 2 * int(capacity["min"]))
        vcpus_needed = instances * max(table[t][0] for t in gpu_types)
        if builder_type in table:
            vcpus_needed += table[builder_type][0]
    problems = [p for p in (bootstrap.fit_problem(t, models) for t in types) if p]
    return {"gpu_types": gpu_types, "vcpus_needed": vcpus_needed, "fit_problems": problems}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--environment", "-e", required=True)
    parser.add_argument("--terraform-dir", type=Path, default=REPO_ROOT / "terraform")
    parser.add_argument("--tfvars", type=Path, help="default: <terraform-dir>/environments/<environment>.tfvars")
    parser.add_argument("--models", default="", help="comma-separated; default: ami_bake_models of roles/ami_bake")
    args = parser.parse_args(argv)
    bake = yaml.safe_load(BAKE_DEFAULTS.read_text(encoding="utf-8"))
    models = [m.strip() for m in args.models.split(",") if m.strip()] or list(bake["ami_bake_models"])
    tfvars = args.tfvars or args.terraform_dir / "environments" / f"{args.environment}.tfvars"
    bootstrap = load_bootstrap()
    try:
        variables = environment_variables(load_configuration(args.terraform_dir), tfvars)
        result = fleet_needs(variables, models, bake["ami_bake_gpu_instance_type"], bootstrap)
    except (OSError, HclEvalError, KeyError) as error:
        print(f"gpu_fleet: cannot read the settings of {args.environment} ({error})", file=sys.stderr)
        return 2
    except bootstrap.BootstrapError as error:
        print(f"gpu_fleet: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
