"""The AWS calls the programs on the instances make, tier by tier, and what each instance role allows.

Programs: every script a tier's roles install on the instances (`src:` of a copy in the role's tasks, for the roles
the bake builds each tier's image from) is in PROGRAMS, with the IAM actions its source can call, or in EXCLUDED,
with why it never runs with an instance role. The actions are also extracted from the source (boto3 clients and
their methods through botocore's service models, `aws <service> <command>` in shell), so a program that gains a
call fails until the table names it. Programs that are not ours (the CloudWatch agent, Open-WebUI's S3 storage)
are declared from the configuration the roles give them; the SSM agent is covered by its managed policy.

Calls: what each program calls in a deployed tier, on which resource (the instance record's names and ARNs,
evaluated from terraform/ with tools/hcl_eval.py keeping apply-time values by name) and with the request context
IAM conditions read (the metric namespace, kms:ViaService), plus the data-key use AWS makes on the caller's behalf.

Policies: the inline policies of the instance roles, evaluated the same way, compared with the calls both ways.

The DR region's roles, which the primary stack creates in advance (a DR stack writes nothing to IAM), are compared
with the calls of both stacks playbooks/dr.yml rebuilds there, a drill and a failover (DrStack): what such a stack
reads that the primary made (the replicated secrets, the DR key, the uploads replica) is named as the primary names it.
"""

from __future__ import annotations

import ast
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import yaml
from botocore import xform_name
from terraform_helpers import REPO_ROOT, TERRAFORM_DIR, one, stack_variables

from filter_plugins.naming import ollama_name
from tools.hcl_eval import Evaluator, environment_variables, load_configuration

ROLES = REPO_ROOT / "roles"
TIERS = ("frontend", "backend")
INSTANCE_TIERS = REPO_ROOT / "playbooks" / "vars" / "instance_tiers.yml"
AGENT_DEFAULTS = ROLES / "cloudwatch_agent" / "defaults" / "main.yml"
AGENT_TEMPLATE = ROLES / "cloudwatch_agent" / "templates" / "amazon-cloudwatch-agent.json.j2"
OPEN_WEBUI_DEFAULTS = ROLES / "open_webui" / "defaults" / "main.yml"
WHEELHOUSE = REPO_ROOT / ".cache" / "wheelhouse" / "open-webui"
MANAGED_POLICIES = {"AmazonSSMManagedInstanceCore"}  # the SSM agent's calls (Session Manager, Run Command)

# --- IAM names of SDK operations (the Service Authorization Reference) ---------------------------------------

# boto3's S3 transfer methods and the operations behind them.
S3_TRANSFER = {
    "upload_file": "PutObject",
    "upload_fileobj": "PutObject",
    "download_file": "GetObject",
    "download_fileobj": "GetObject",
}
# Operations whose IAM action has another name.
IAM_ACTION = {
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:HeadObject": "s3:GetObject",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:DeleteObjects": "s3:DeleteObject",
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
    "s3:ListParts": "s3:ListMultipartUploadParts",
    "s3:ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "s3:ListObjectVersions": "s3:ListBucketVersions",
}
# `aws s3 <command>` (the CLI's high-level S3 commands): the actions each needs.
S3_CLI = {
    "cp": {"s3:GetObject", "s3:PutObject"},
    "mv": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
    "sync": {"s3:ListBucket", "s3:GetObject", "s3:PutObject"},
    "ls": {"s3:ListBucket"},
    "rm": {"s3:DeleteObject"},
}
# Actions without resource-level permissions: "*" is the only resource they take.
NO_RESOURCE_LEVEL = {
    "ec2:DescribeTags",
    "ec2:DescribeVolumes",
    "cloudwatch:PutMetricData",
    "elasticloadbalancing:DescribeTargetHealth",
}
# Condition keys a statement granting the action must use: the namespace limits PutMetricData (no resources), the
# calling service limits the data key to the use the tier makes of it.
REQUIRED_CONDITIONS = {
    "cloudwatch:PutMetricData": "cloudwatch:namespace",
    "kms:Decrypt": "kms:ViaService",
    "kms:GenerateDataKey": "kms:ViaService",
}
# Through SSM the data key also needs the parameter's encryption context: the SSM agent's managed policy
# (AmazonSSMManagedInstanceCore) lets an instance read every parameter.
SSM_PARAMETER_CONTEXT = "kms:EncryptionContext:PARAMETER_ARN"


@cache
def operations(service: str) -> dict[str, str]:
    """snake_case method -> operation name of a boto3 client (S3: with the transfer methods)."""
    model = botocore.session.get_session().get_service_model(service)
    methods = {xform_name(op): op for op in model.operation_names}
    return {**methods, **S3_TRANSFER} if service == "s3" else methods


# Services whose IAM prefix is not their SDK name.
IAM_PREFIX = {"elbv2": "elasticloadbalancing"}


def iam_action(service: str, operation: str) -> str:
    action = f"{IAM_PREFIX.get(service, service)}:{operation}"
    return IAM_ACTION.get(action, action)


# --- extraction from the sources ------------------------------------------------------------------------------


def _constant(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def python_actions(sources: Iterable[str]) -> set[str]:
    """IAM actions of the boto3 calls in Python sources: the services of `...client("svc")`/`resource("svc")`,
    then every call whose name is an operation of one of them (`get_paginator("op")` counts as op)."""
    trees = [ast.parse(source) for source in sources]
    calls = [node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.Call)]
    services = {
        _constant(call.args[0])
        for call in calls
        if isinstance(call.func, ast.Attribute) and call.func.attr in ("client", "resource") and call.args
    } - {None}
    actions = set()
    for call in calls:
        name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
        if name == "get_paginator" and call.args:
            name = _constant(call.args[0]) or name
        for service in services:
            if name in operations(service):
                actions.add(iam_action(service, operations(service)[name]))
    return actions


AWS_CLI = re.compile(r"(?:^|[\s;&|(`$])aws\s+(?:--\S+\s+(?:[^-\s]\S*\s+)?)*([a-z0-9-]+)\s+([a-z0-9-]+)", re.MULTILINE)


def shell_actions(text: str) -> set[str]:
    """IAM actions of the `aws <service> <command>` lines of a shell script."""
    actions = set()
    known = set(botocore.session.get_session().get_available_services())
    for service, command in AWS_CLI.findall(text):
        if service == "s3" and command in S3_CLI:
            actions |= S3_CLI[command]
            continue
        model = "s3" if service == "s3api" else service
        if model not in known:
            continue  # aws configure, aws help, ...
        by_cli_name = {xform_name(op, "-"): op for op in operations(model).values()}
        if command in by_cli_name:
            actions.add(iam_action(model, by_cli_name[command]))
    return actions


def local_imports(path: Path) -> list[Path]:
    """Modules of the same files/ folder a Python program imports (installed beside it on the instance)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return sorted(path.parent / f"{name}.py" for name in names if (path.parent / f"{name}.py").is_file())


def is_python(path: Path) -> bool:
    first = (path.read_text(errors="replace").splitlines() or [""])[0]
    return path.suffix == ".py" or (first.startswith("#!") and "python" in first)


def extracted_actions(path: Path) -> set[str]:
    """What a program's source can call (a Python program with the local modules it imports)."""
    if is_python(path):
        return python_actions(p.read_text() for p in [path, *local_imports(path)])
    return shell_actions(path.read_text())


# --- the programs installed on the instances ----------------------------------------------------------------


@cache
def tier_roles() -> dict[str, list[str]]:
    """The roles each tier's image is built from (roles/ami_bake)."""
    return yaml.safe_load((ROLES / "ami_bake" / "vars" / "main.yml").read_text())["__ami_bake_tier_roles"]


def installed_scripts(roles: Path = ROLES) -> dict[str, tuple[str, ...]]:
    """Repository path -> tiers, of every script a tier role copies onto the instances."""
    found: dict[str, set[str]] = {}
    for tier, names in tier_roles().items():
        for name in names:
            tasks = "\n".join(p.read_text() for p in sorted((roles / name / "tasks").glob("*.yml")))
            sources = set(re.findall(r"\bsrc:\s*[\"']?([\w.@-]+)[\"']?\s*$", tasks, re.MULTILINE))
            for folder in ("files", "templates"):
                for path in sorted((roles / name / folder).glob("*")):
                    text = path.read_text(errors="replace") if path.is_file() else ""
                    script = text.startswith("#!") or path.name.endswith((".py", ".sh", ".sh.j2", ".py.j2"))
                    if script and path.name in sources:
                        found.setdefault(str(path.relative_to(roles.parent)), set()).add(tier)
    return {path: tuple(sorted(tiers)) for path, tiers in sorted(found.items())}


@dataclass(frozen=True)
class Call:
    """One request a program makes with the instance role's credentials."""

    program: str
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        where = "".join(f" [{key}={value}]" for key, value in self.context)
        return f"{self.program} calls {self.action} on {self.resource}{where}"


@dataclass
class Tier:
    """One tier of one evaluated deployment: its instance record and the ARNs the programs build from it."""

    name: str
    stack: Stack
    record: dict[str, str]

    def arn(self, service: str, resource: str, regional: bool = True) -> str:
        region = self.stack.region if regional else ""
        account = self.stack.account if regional else ""
        return f"arn:{self.stack.partition}:{service}:{region}:{account}:{resource}"

    @property
    def group_arn(self) -> str:
        name = self.record["OLLAMA_PLATFORM_ASG_NAME"]
        return self.arn("autoscaling", f"autoScalingGroup:<uuid>:autoScalingGroupName/{name}")

    def secrets_read_by(self, role: str) -> list[str]:
        """The record's secret references the role reads (playbooks/vars/instance_tiers.yml maps them)."""
        mapping = re.findall(
            rf"^{role}_\w*secret_id: \"\{{\{{ instance_settings\.(\w+)", INSTANCE_TIERS.read_text(), re.MULTILINE
        )
        return [self.record[key] for key in mapping if self.record.get(key)]


@dataclass(frozen=True)
class Program:
    """A program's table: the actions its code can call, and what it calls in a deployed tier."""

    actions: frozenset[str]
    calls: Callable[[Tier, str], list[Call]] = lambda tier, name: []
    library: bool = False  # imported by programs (its calls count in theirs), not run by itself


def _secret_reads(tier: Tier, name: str, role: str) -> list[Call]:
    """GetSecretValue for a Secrets Manager secret, GetParameter (decrypted) for an SSM parameter."""
    return [
        Call(name, "ssm:GetParameter" if ":ssm:" in ref else "secretsmanager:GetSecretValue", ref)
        for ref in tier.secrets_read_by(role)
    ]


def _bootstrap(tier: Tier, name: str) -> list[Call]:
    described = [
        Call(name, "secretsmanager:DescribeSecret", value)
        for key, value in sorted(tier.record.items())
        if key.endswith("_SECRET_ARN") and value and ":ssm:" not in value
    ]
    return [*described, Call(name, "autoscaling:CompleteLifecycleAction", tier.group_arn)]


def _drain(tier: Tier, name: str) -> list[Call]:
    hooks = [
        Call(name, f"autoscaling:{op}", tier.group_arn) for op in ("CompleteLifecycleAction", "SetInstanceProtection")
    ]
    target_group = tier.record.get("OLLAMA_PLATFORM_TARGET_GROUP_ARN")
    if not target_group:  # only the tiers whose rotations restart a service out of service (the frontend)
        return hooks
    restart = [
        Call(name, f"elasticloadbalancing:{op}", target_group) for op in ("DeregisterTargets", "RegisterTargets")
    ]
    return [*hooks, *restart, Call(name, "elasticloadbalancing:DescribeTargetHealth", "*")]


def _inflight_metric(tier: Tier, name: str) -> list[Call]:
    source = (ROLES / "ollama" / "files" / "ollama-inflight-metric").read_text()
    namespace = re.search(r'^NAMESPACE = "([^"]+)"', source, re.MULTILINE).group(1)
    return [Call(name, "cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", namespace),))]


def _open_webui_helper(tier: Tier, name: str) -> list[Call]:
    bucket = tier.arn("s3", tier.record["S3_BUCKET_NAME"], regional=False)
    prefix = tier.record["S3_KEY_PREFIX"].strip("/") + "/"  # open_webui_s3_key_prefix (instance_tiers.yml)
    return [*_secret_reads(tier, name, "open_webui"), Call(name, "s3:ListBucket", bucket, (("s3:prefix", prefix),))]


PROGRAMS: dict[str, Program] = {
    "roles/instance_bootstrap/files/ollama-platform-bootstrap.py": Program(
        frozenset({"secretsmanager:DescribeSecret", "autoscaling:CompleteLifecycleAction"}), _bootstrap
    ),
    "roles/instance_bootstrap/files/ollama-platform-drain.py": Program(
        frozenset(
            {
                "autoscaling:CompleteLifecycleAction",
                "autoscaling:SetInstanceProtection",
                "elasticloadbalancing:DeregisterTargets",
                "elasticloadbalancing:RegisterTargets",
                "elasticloadbalancing:DescribeTargetHealth",
            }
        ),
        _drain,
    ),
    "roles/instance_bootstrap/files/ollama_platform_lifecycle.py": Program(frozenset(), library=True),
    "roles/ollama/files/ollama-token-fetch": Program(
        frozenset({"secretsmanager:GetSecretValue", "ssm:GetParameter"}),
        lambda tier, name: _secret_reads(tier, name, "ollama"),
    ),
    "roles/ollama/files/ollama-inflight-metric": Program(frozenset({"cloudwatch:PutMetricData"}), _inflight_metric),
    "roles/ollama/files/ollama-warmup": Program(frozenset()),
    "roles/open_webui/files/open-webui-helper.py": Program(
        frozenset({"secretsmanager:GetSecretValue", "ssm:GetParameter", "s3:ListBucket"}), _open_webui_helper
    ),
    "roles/ssh_hardening/files/ssh-hardening-keys": Program(frozenset()),
    "roles/os_hardening/templates/profile.sh.j2": Program(frozenset()),  # login shells' umask and timeout
}

EXCLUDED = {
    "roles/cloudwatch_agent/files/cloudwatch-agent-standin": (
        "the local twin's log shipper where the agent cannot run (cloudwatch_agent_standin_enabled, off on AWS)"
    ),
    "roles/backups/files/ollama-backup.py": (
        "installed by the bake but never configured on an instance (backups_bake; the boot's playbook does not run "
        "the role), so its timer's ConditionPathExists keeps it idle: docs/BACKUP_AND_DR.md, host backups superseded"
    ),
}


# --- the programs that are not ours ---------------------------------------------------------------------------


def agent_actions() -> frozenset[str]:
    """Every call the CloudWatch agent makes for the sections the role writes (its cloudwatchlogs output:
    CreateLogStream, CreateLogGroup on a missing group, PutLogEvents, DescribeLogGroups and PutRetentionPolicy
    with a retention; its ec2tagger: DescribeTags for AutoScalingGroupName, DescribeVolumes for VolumeId;
    PutMetricData)."""
    return frozenset(
        {
            "logs:CreateLogStream",
            "logs:CreateLogGroup",
            "logs:PutLogEvents",
            "logs:DescribeLogGroups",
            "logs:PutRetentionPolicy",
            "ec2:DescribeTags",
            "ec2:DescribeVolumes",
            "cloudwatch:PutMetricData",
        }
    )


def _agent(tier: Tier, name: str) -> list[Call]:
    """The agent's calls for the configuration the cloudwatch_agent role writes for this tier."""
    defaults = yaml.safe_load(AGENT_DEFAULTS.read_text())
    template = AGENT_TEMPLATE.read_text()
    prefix = f"/ollama/{tier.record['OLLAMA_PLATFORM_ENVIRONMENT']}"  # __cloudwatch_agent_log_group_prefix
    calls = []
    for entry in defaults["cloudwatch_agent_log_files"]:
        if tier.name not in entry.get("tiers", [tier.name]):
            continue
        group = tier.arn("logs", f"log-group:{prefix}/{entry['service']}")
        stream = f"{group}:log-stream:<instance-id>/{Path(entry['path']).name}"
        calls += [Call(name, "logs:CreateLogStream", group), Call(name, "logs:PutLogEvents", stream)]
        if "retention_in_days" in template:  # the agent would set the retention (Terraform owns it)
            calls += [Call(name, "logs:DescribeLogGroups", group), Call(name, "logs:PutRetentionPolicy", group)]
    namespace = (("cloudwatch:namespace", defaults["cloudwatch_agent_metrics_namespace"]),)
    calls.append(Call(name, "cloudwatch:PutMetricData", "*", namespace))
    if defaults["cloudwatch_agent_append_dimensions"].get("AutoScalingGroupName") == "${aws:AutoScalingGroupName}":
        calls.append(Call(name, "ec2:DescribeTags", "*"))
    if "${aws:VolumeId}" in template:  # the ec2tagger maps disks to volumes
        calls.append(Call(name, "ec2:DescribeVolumes", "*"))
    return calls


def open_webui_storage_actions() -> frozenset[str]:
    """Open-WebUI's S3 storage (open_webui/storage/provider.py, S3StorageProvider): upload_file, download_fileobj,
    delete_object, list_objects_v2 (its "delete all files", with no prefix) and, with S3_ENABLE_TAGGING,
    put_object_tagging."""
    return frozenset({"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:ListBucket", "s3:PutObjectTagging"})


def _open_webui(tier: Tier, name: str) -> list[Call]:
    bucket = f"arn:{tier.stack.partition}:s3:::{tier.record['S3_BUCKET_NAME']}"
    key = f"{bucket}/{tier.record['S3_KEY_PREFIX'].strip('/')}/<file>"
    return [
        Call(name, "s3:PutObject", key),
        Call(name, "s3:GetObject", key),
        Call(name, "s3:DeleteObject", key),
        Call(name, "s3:ListBucket", bucket),  # no s3:prefix: delete_all_files lists the whole bucket
    ]


def open_webui_wheel() -> Path | None:
    version = yaml.safe_load(OPEN_WEBUI_DEFAULTS.read_text())["open_webui_version"]
    wheel = WHEELHOUSE / f"open_webui-{version}-py3-none-any.whl"
    return wheel if wheel.is_file() else None


def open_webui_wheel_actions(wheel: Path) -> set[str]:
    """The S3 calls of S3StorageProvider in the Open-WebUI wheel the role installs."""
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read("open_webui/storage/provider.py").decode()
    (provider,) = [
        n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ClassDef) and n.name == "S3StorageProvider"
    ]
    return python_actions([ast.unparse(provider)])


THIRD_PARTY: dict[str, Program] = {
    "CloudWatch agent": Program(agent_actions(), _agent),
    "Open-WebUI (S3 storage)": Program(open_webui_storage_actions(), _open_webui),
}
THIRD_PARTY_ROLES = {"CloudWatch agent": "cloudwatch_agent", "Open-WebUI (S3 storage)": "open_webui"}


# --- the stack, evaluated -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    problems: tuple[str, ...] = ()

    @classmethod
    def of(cls, body: dict[str, Any]) -> Statement:
        problems = [
            f"{key} is not allowed in an instance policy"
            for key in ("not_actions", "not_resources", "principals", "not_principals")
            if key in body
        ]
        if body.get("effect", "Allow") != "Allow":
            problems.append(f"effect {body['effect']}: this check reads Allow statements only")
        conditions = tuple(
            (c["test"], c["variable"], tuple(str(v) for v in c["values"])) for c in body.get("condition", [])
        )
        return cls(
            str(body.get("sid", "(no sid)")),
            tuple(str(a) for a in body.get("actions", [])),
            tuple(str(r) for r in body.get("resources", [])),
            conditions,
            tuple(problems),
        )


@dataclass(frozen=True)
class Scenario:
    """An environment's variables, optionally with overrides (single sign-on settings)."""

    environment: str
    overrides: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.environment


def oidc(region: str, service: str) -> dict[str, Any]:
    arn = {
        "secretsmanager": f"arn:aws:secretsmanager:{region}:123456789012:secret:ollama/oidc-client-AbCdEf",
        "ssm": f"arn:aws:ssm:{region}:123456789012:parameter/ollama/oidc-client-secret",
    }[service]
    return {
        "webui_oidc": {
            "provider_url": "https://idp.example.com/.well-known/openid-configuration",
            "client_id": "ollama",
            "client_secret_arn": arn,
            "provider_name": "SSO",
        }
    }


SCENARIOS = [
    Scenario("dev"),
    Scenario("staging"),
    Scenario("production"),
    Scenario("production", oidc("us-east-1", "secretsmanager"), "production, OIDC client secret in Secrets Manager"),
    Scenario("production", oidc("us-east-1", "ssm"), "production, OIDC client secret in an SSM parameter"),
]


@cache
def _documents(root: Path) -> dict[str, dict[str, Any]]:
    return load_configuration(root)


class Stack:
    """terraform/ under one scenario, evaluated symbolically (apply-time values keep their names): the primary stack,
    or with ``variables`` another (a DR stack's, DrStack)."""

    def __init__(self, root: Path, scenario: Scenario, variables: dict[str, Any] | None = None) -> None:
        self.documents = _documents(root)
        if variables is None:
            variables = environment_variables(self.documents, root / "environments" / f"{scenario.environment}.tfvars")
        self.ev = Evaluator(self.documents, {**variables, **scenario.overrides}, symbolic=True)
        self.partition = str(self.ev.value("${local.partition}"))
        self.account = str(self.ev.value("${local.account_id}"))
        self.region = str(self.ev.value("${var.aws_region}"))

    def tier(self, name: str) -> Tier:
        settings = self.ev.value("${local.tiers}")[name]["settings"]
        return Tier(name, self, {key: str(value) for key, value in settings.items()})

    def modules(self) -> dict[str, dict[str, Any]]:
        return {
            n: b for d in self.documents.values() for g in d.get("module", []) for n, b in g.items() if n[:2] != "__"
        }

    def key_of_secret(self, reference: str) -> str:
        """The KMS key a secret of the record is encrypted with (an operator's secret: the data key, as the
        variable's description asks, or an AWS managed key, which needs no grant)."""
        if reference.startswith("${aws_secretsmanager_secret.this["):
            return str(self.ev.value(self.ev.resources["aws_secretsmanager_secret.this"]["kms_key_id"]))
        if reference.startswith("${aws_db_instance.webui.master_user_secret"):
            return str(self.ev.value(self.ev.resources["aws_db_instance.webui"]["master_user_secret_kms_key_id"]))
        return "${aws_kms_key.data.arn}"

    def key_of_bucket(self, bucket: str) -> str | None:
        match = re.fullmatch(r"\$\{module\.(\w+)(?:\[\d+\])?\.(?:id|bucket)\}", bucket)
        assert match, f"the uploads bucket {bucket} is not a bucket module's: extend key_of_bucket"
        return str(self.ev.value(self.modules()[match.group(1)]["kms_key_arn"]))

    def statements(self, address: str, key: Any) -> list[Statement]:
        """The statements of one instance of an aws_iam_policy_document, static and dynamic."""
        body = self.ev.resources[address]
        return [Statement.of(s) for s in self.blocks(body, "statement", self.ev.instances(address)[key])]

    def blocks(self, body: dict[str, Any], name: str, scope: dict[str, Any]) -> list[dict[str, Any]]:
        """The evaluated `name` blocks of a body: the written ones and those its dynamic blocks make, with their own
        nested dynamic blocks (a statement's conditions) expanded the same way."""

        def evaluated(block: dict[str, Any], bound: dict[str, Any]) -> dict[str, Any]:
            value = self.ev.value({k: v for k, v in block.items() if k != "dynamic"}, bound)
            for dynamic in block.get("dynamic", []):
                for inner in dynamic:
                    value[inner] = self.blocks(block, inner, bound)  # the written ones and the dynamic ones
            return value

        found = [evaluated(b, scope) for b in body.get(name, [])]
        for dynamic in body.get("dynamic", []):
            if name not in dynamic:
                continue
            collection = self.ev.value(dynamic[name]["for_each"], scope)
            items = collection.items() if isinstance(collection, dict) else enumerate(collection)
            content = one(dynamic[name]["content"])
            found += [evaluated(content, {**scope, name: {"key": k, "value": v}}) for k, v in items]
        return found

    def _role_resources(self, rtype: str) -> list[tuple[str, Any, dict[str, Any], str]]:
        """(address, key, body, role) of each instance of rtype that names an instance role: role is the tier for
        this region's roles, "dr-<tier>" for those made for the DR region."""
        found = []
        for address, body in self.ev.resources.items():
            if not address.startswith(f"{rtype}."):
                continue
            for key, scope in self.ev.instances(address).items():
                role = str(self.ev.value(body["role"], scope))
                match = re.fullmatch(r'\$\{aws_iam_role\.(instance|dr_instance)\["(\w+)"\]\.(?:id|name)\}', role)
                if match:
                    found.append(
                        (address, key, scope, ("dr-" if match.group(1) == "dr_instance" else "") + match.group(2))
                    )
        return found

    def inline_statements(self, tier: str) -> tuple[list[Statement], list[str]]:
        """The statements of the inline policies of one instance role ("frontend", "dr-frontend", ...)."""
        statements, problems = [], []
        for address, _, scope, role_tier in self._role_resources("aws_iam_role_policy"):
            if role_tier != tier:
                continue
            policy = str(self.ev.value(self.ev.resources[address]["policy"], scope))
            match = re.fullmatch(
                r'\$\{(data\.aws_iam_policy_document\.\w+)(?:\["([^"]+)"\]|\[(\d+)\])?\.json\}', policy
            )
            if not match:
                problems.append(f"{address}: policy {policy} is not an aws_iam_policy_document this check can read")
                continue
            document, key = match.group(1), match.group(2) or (int(match.group(3)) if match.group(3) else None)
            statements += self.statements(document, key)
        for address in ("aws_iam_role.instance", "aws_iam_role.dr_instance"):
            problems += [
                f"{address}: {k} bypasses the checked policies"
                for k in ("inline_policy", "managed_policy_arns")
                if k in self.ev.resources[address]
            ]
        return statements, problems

    def managed_policies(self, tier: str) -> set[str]:
        found = set()
        for address, _, scope, role_tier in self._role_resources("aws_iam_role_policy_attachment"):
            if role_tier == tier:
                found.add(str(self.ev.value(self.ev.resources[address]["policy_arn"], scope)).rsplit("/", 1)[-1])
        return found


DR_MODES = ("drill", "failover")
SAMPLE_SUFFIX = "AbCdEf"  # the six characters Secrets Manager appends to a secret's name in its ARN


class DrStack(Stack):
    """A stack playbooks/dr.yml rebuilds in the DR region of a scenario ("drill" or "failover"), with the variables
    it writes, evaluated symbolically. Its instance records are named as the primary knows them in advance: the
    replicated secrets by their names, its database secret as RDS names one, and the keys and buckets the primary
    made (the DR key, the uploads replica) by the primary's own names."""

    def __init__(self, root: Path, scenario: Scenario, mode: str, primary: Stack) -> None:
        self.primary = primary
        environment = scenario.environment
        if mode == "failover":  # the replica, named by SSM /ollama/<env>/dr/uploads-bucket (terraform/uploads.tf)
            bucket = str(primary.ev.value("${module.uploads_dr_bucket[0].id}"))
        else:  # the drill's copy (playbooks/dr.yml, dr_drill_bucket)
            dr_region = str(primary.ev.value("${var.dr_region}"))
            bucket = f"{ollama_name('drill-uploads', environment)}-{primary.account}-{dr_region}"
        # The names hold apply-time values (${...}): set after the variables file is read, as Terraform would get them.
        variables = {**stack_variables(environment, mode, "bucket", root), "dr_uploads_bucket": bucket}
        super().__init__(root, scenario, variables)
        self.mode = mode

    def _secret_arn(self, name: str, suffix: str = SAMPLE_SUFFIX) -> str:
        return f"arn:{self.partition}:secretsmanager:{self.region}:{self.account}:secret:{name}-{suffix}"

    def realize(self, value: str) -> str:
        """A record value as AWS will have it: a replica's or the database's secret ARN."""
        replica = re.fullmatch(r'\$\{data\.aws_secretsmanager_secret\.replica\["(\w+)"\]\.arn\}', value)
        if replica:
            address = "data.aws_secretsmanager_secret.replica"
            scope = self.ev.instances(address)[replica.group(1)]
            return self._secret_arn(str(self.ev.value(self.ev.resources[address]["name"], scope)))
        if value == "${aws_db_instance.webui.master_user_secret[0].secret_arn}":
            return self._secret_arn("rds!db-<uuid>")
        if value == "${aws_lb_target_group.frontend.arn}":  # AWS appends an id to the name the stack gives it
            name = self.ev.value(self.ev.resources["aws_lb_target_group.frontend"]["name"])
            return f"arn:{self.partition}:elasticloadbalancing:{self.region}:{self.account}:targetgroup/{name}/<id>"
        return value

    def tier(self, name: str) -> Tier:
        tier = super().tier(name)
        return Tier(name, self, {key: self.realize(value) for key, value in tier.record.items()})

    def _primary_key(self, key: str) -> str:
        """A key the DR stack looks up by alias, named as the primary names the key behind that alias."""
        match = re.fullmatch(r"\$\{data\.aws_kms_key\.(\w+)\[0\]\.arn\}", key)
        if not match:
            return key
        alias = str(self.ev.value(self.ev.resources[f"data.aws_kms_key.{match.group(1)}"]["key_id"]))
        aliases = self.primary.ev.resources["aws_kms_alias.dr"]
        if alias != str(self.primary.ev.value(aliases["name"], self.primary.ev.instances("aws_kms_alias.dr")[0])):
            return f"(the key of {alias}, not one the primary made)"
        return str(self.primary.ev.value("${aws_kms_key.dr[0].arn}"))

    def key_of_secret(self, reference: str) -> str:
        if ":secret:rds!db-" in reference:
            return self._primary_key(
                str(self.ev.value(self.ev.resources["aws_db_instance.webui"]["master_user_secret_kms_key_id"]))
            )
        # A replica is encrypted with the key the primary's secret names for its replica.
        (replica,) = self.primary.ev.blocks(self.primary.ev.resources["aws_secretsmanager_secret.this"], "replica")
        return str(self.primary.ev.value(replica[0]["kms_key_id"], replica[1]))

    def key_of_bucket(self, bucket: str) -> str | None:
        if bucket.startswith("${module."):
            return self.primary.key_of_bucket(bucket)  # the primary's bucket (the replica)
        return None  # the drill's copy: SSE-S3 (playbooks/dr.yml copies without a key)


# --- calls of a tier, and the comparison ----------------------------------------------------------------------


def data_key_calls(tier: Tier, calls: list[Call]) -> list[Call]:
    """What AWS asks KMS for on the caller's behalf: decrypting a secret or a SecureString, encrypting or reading an
    SSE-KMS object (its data key), with kms:ViaService naming the service."""
    via = {service: f"{service}.{tier.stack.region}.amazonaws.com" for service in ("secretsmanager", "ssm", "s3")}
    derived = []
    for call in calls:
        service = call.action.split(":")[0]
        context: tuple[tuple[str, str], ...] = (("kms:ViaService", via[service]),) if service in via else ()
        if call.action == "secretsmanager:GetSecretValue":
            key, actions = tier.stack.key_of_secret(call.resource), ["kms:Decrypt"]
        elif call.action == "ssm:GetParameter":  # SSM's encryption context names the parameter
            key, actions = "${aws_kms_key.data.arn}", ["kms:Decrypt"]
            context += ((SSM_PARAMETER_CONTEXT, call.resource),)
        elif call.action == "s3:PutObject":  # a multipart upload also decrypts its parts' data key
            key, actions = (
                tier.stack.key_of_bucket(tier.record["S3_BUCKET_NAME"]),
                ["kms:GenerateDataKey", "kms:Decrypt"],
            )
        elif call.action == "s3:GetObject":
            key, actions = tier.stack.key_of_bucket(tier.record["S3_BUCKET_NAME"]), ["kms:Decrypt"]
        else:
            continue
        if key is None:  # SSE-S3: no key of the account
            continue
        derived += [Call(f"{call.program} through {service}", a, key, context) for a in actions]
    return derived


def tier_calls(tier: Tier, programs: dict[str, Program] = PROGRAMS) -> list[Call]:
    calls = []
    installed = installed_scripts()
    for path, program in programs.items():
        if tier.name in installed.get(path, ()) and not program.library:
            calls += program.calls(tier, Path(path).name)
    for name, program in THIRD_PARTY.items():
        if THIRD_PARTY_ROLES[name] in tier_roles()[tier.name]:
            calls += program.calls(tier, name)
    return sorted(set(calls + data_key_calls(tier, calls)), key=lambda c: (c.program, c.action, c.resource))


def _match(pattern: str, value: str) -> bool:
    """IAM's wildcards: * any run of characters, ? one character (everything else literal)."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _tight(pattern: str, resource: str) -> bool:
    """A wildcard stands only for what the program cannot know beforehand (a placeholder such as <uuid>, <file> or
    <instance-id> in the call's resource): "bucket/*" for "bucket/uploads/<file>" could have said "uploads/"."""
    regex = "".join("(.*)" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    match = re.fullmatch(regex, resource, re.DOTALL)
    return match is None or resource == "*" or all(not g or g.startswith("<") for g in match.groups())


def _holds(test: str, allowed: str, value: str | None) -> bool:
    if value is None:
        return False
    if test == "StringEquals":
        return value == allowed
    if test == "StringLike":
        return _match(allowed, value)
    raise AssertionError(f"condition operator {test}: teach tests/terraform/instance_calls.py how IAM evaluates it")


def allows(statement: Statement, call: Call) -> bool:
    context = dict(call.context)
    return (
        any(_match(a, call.action) for a in statement.actions)
        and any(_match(r, call.resource) for r in statement.resources)
        and all(any(_holds(t, v, context.get(k)) for v in values) for t, k, values in statement.conditions)
    )


def compare(where: str, calls: list[Call], statements: list[Statement]) -> list[str]:
    """Both ways: every call is allowed; every action, resource and condition value of a statement is used."""
    findings = [
        f"{where}: {call.describe()}: no statement of the role allows it"
        for call in calls
        if not any(allows(s, call) for s in statements)
    ]
    for s in statements:
        findings += [f"{where}: {s.sid}: {p}" for p in s.problems]
        used = [c for c in calls if allows(s, c)]
        for action in s.actions:
            if "*" in action:
                findings.append(f"{where}: {s.sid}: wildcard action {action}")
            if not any(_match(action, c.action) for c in used):
                findings.append(f"{where}: {s.sid}: {action} is used by no program of the tier")
        for resource in s.resources:
            if not any(_match(resource, c.resource) for c in used):
                findings.append(f"{where}: {s.sid}: resource {resource} is used by no program of the tier")
            findings += [
                f"{where}: {s.sid}: resource {resource} is wider than the calls it serves ({c.resource})"
                for c in used
                if not _tight(resource, c.resource)
            ]
            if resource == "*":
                findings += [
                    f"{where}: {s.sid}: {a} on * although it has resource-level permissions"
                    for a in s.actions
                    if a not in NO_RESOURCE_LEVEL
                ]
        keys = {variable for _, variable, _ in s.conditions}
        findings += [
            f"{where}: {s.sid}: {a} without a {REQUIRED_CONDITIONS[a]} condition"
            for a in s.actions
            if a in REQUIRED_CONDITIONS and REQUIRED_CONDITIONS[a] not in keys
        ]
        through_ssm = any(
            v.startswith("ssm.") for _, k, values in s.conditions if k == "kms:ViaService" for v in values
        )
        if through_ssm and SSM_PARAMETER_CONTEXT not in keys:
            findings.append(f"{where}: {s.sid}: the data key through SSM without a {SSM_PARAMETER_CONTEXT} condition")
        for test, variable, values in s.conditions:
            findings += [
                f"{where}: {s.sid}: {variable} {value} is used by no program of the tier"
                for value in values
                if not any(_holds(test, value, dict(c.context).get(variable)) for c in used)
            ]
    return findings


def role_findings(root: Path = TERRAFORM_DIR, programs: dict[str, Program] = PROGRAMS) -> list[str]:
    """The instance roles of every scenario against the calls of their tier's programs: this region's roles against
    the primary stack's tiers, the DR region's against the tiers of a drill and of a failover stack there."""
    findings = []
    for scenario in SCENARIOS:
        stack = Stack(root, scenario)
        dr_stacks = [DrStack(root, scenario, mode, stack) for mode in DR_MODES]
        for name in TIERS:
            for role, where, calls in (
                (name, f"{scenario.name}, {name}", tier_calls(stack.tier(name), programs)),
                (f"dr-{name}", f"{scenario.name}, DR region, {name}",
                 sorted({c for dr in dr_stacks for c in tier_calls(dr.tier(name), programs)},
                        key=lambda c: (c.program, c.action, c.resource))),
            ):  # fmt: skip
                statements, problems = stack.inline_statements(role)
                findings += [f"{where}: {p}" for p in problems]
                findings += compare(where, calls, statements)
                if stack.managed_policies(role) != MANAGED_POLICIES:
                    findings.append(
                        f"{where}: managed policies {sorted(stack.managed_policies(role))}, "
                        f"not {sorted(MANAGED_POLICIES)}"
                    )
    return list(dict.fromkeys(findings))


def program_findings(paths: dict[str, Path] | None = None, roles: Path = ROLES) -> list[str]:
    """Every installed script is in PROGRAMS or EXCLUDED, and each program's table names exactly what its source
    calls (paths: repository path -> the file to read, for a planted copy)."""
    installed = installed_scripts(roles)
    findings = [
        f"{path}: installed on the {'/'.join(tiers)} instances but neither in PROGRAMS nor in EXCLUDED"
        for path, tiers in installed.items()
        if path not in PROGRAMS and path not in EXCLUDED
    ]
    findings += [
        f"{path}: in the table but not installed on any instance"
        for path in [*PROGRAMS, *EXCLUDED]
        if path not in installed
    ]
    for path, program in PROGRAMS.items():
        source = (paths or {}).get(path, REPO_ROOT / path)
        found = extracted_actions(source)
        findings += [f"{path}: calls {a}, which its table does not name" for a in sorted(found - program.actions)]
        findings += [f"{path}: its table names {a}, which it does not call" for a in sorted(program.actions - found)]
    return findings


# --- the calls a running deployment made, recorded (the local twin) --------------------------------------------

# Requests AWS answers whatever the role's policies say: recorded and counted, never compared with the policies.
NOT_IAM_CHECKED = {
    "sts:GetCallerIdentity": "no permission is needed: AWS answers it for any valid credentials, and no policy can "
    "deny it (the STS API reference)",
}
# Resource types of apply-time references whose service is not the type's second word (aws_<service>_...).
REFERENCE_SERVICE = {
    "aws_db_instance": "secretsmanager",  # only its master_user_secret's ARN is named in an instance policy
    "aws_lb_target_group": "elasticloadbalancing",
    "aws_cloudwatch_log_group": "logs",
}


def recorded_action(service: str, operation: str) -> str:
    """The IAM action of a recorded request: the emulator's service (IAM's prefix) and API operation (S3's REST
    operations as the API reference names them: HeadObject needs s3:GetObject, ListObjectsV2 s3:ListBucket, ...)."""
    return iam_action(service, operation) if service and operation else ""


def resource_service(resource: str) -> str:
    """The service a statement's resource belongs to: "*" for any, an ARN's service field, or the service of an
    apply-time reference's resource type (REFERENCE_SERVICE, else aws_<service>_...; "" when this check cannot tell)."""
    if resource == "*":
        return "*"
    if resource.startswith("arn:"):
        return resource.split(":")[2]
    match = re.match(r"\$\{(?:data\.)?(aws_\w+)\.", resource)
    if match is None:
        return ""
    resource_type = match.group(1)
    return REFERENCE_SERVICE.get(resource_type) or resource_type.split("_")[1]


def recorded_findings(
    where: str, tier: Tier, recorded: Iterable[str], programs: dict[str, Program] = PROGRAMS
) -> list[str]:
    """The IAM actions a tier's role was recorded calling (``recorded``, e.g. the twin's emulator's record of the
    role's key, through recorded_action) against the tier's instance policy and the tier's programs, both as this
    module evaluates them for ``tier``'s stack.

    Compared, per action: a statement of the role's inline policies allows the action (IAM's wildcards) on a resource
    of the action's service ("*" included), and the action is one the tier's programs call (tier_calls: the table
    above, so the table is held to what the programs did). Not compared: which resource was called (the record names
    none: the static check holds each call's resource), condition values (the metric namespace, kms:ViaService: the
    static check), and the data-key calls AWS makes to KMS on the caller's behalf (never signed with the role's key,
    so never recorded). NOT_IAM_CHECKED actions are skipped; a call the record could not name is a finding.
    """
    statements, problems = tier.stack.inline_statements(tier.name)
    findings = [f"{where}: {problem}" for problem in problems]
    programs_call = {call.action for call in tier_calls(tier, programs)}
    for action in sorted(set(recorded)):
        if action in NOT_IAM_CHECKED:
            continue
        if not action or ":" not in action:
            findings.append(f"{where}: a recorded call names no service or action ({action!r}): unsigned or unknown")
            continue
        service = action.split(":", 1)[0]
        granting = [s for s in statements if any(_match(a, action) for a in s.actions)]
        if not granting:
            findings.append(f"{where}: recorded {action}: no statement of the {tier.name} role allows it")
        elif not any(resource_service(r) in ("*", service) for s in granting for r in s.resources):
            unknown = sorted({r for s in granting for r in s.resources if not resource_service(r)})
            hint = f" (cannot tell the service of {unknown}: extend REFERENCE_SERVICE)" if unknown else ""
            findings.append(
                f"{where}: recorded {action}: the statements allowing it ({', '.join(s.sid for s in granting)}) "
                f"name no {service} resource{hint}"
            )
        if action not in programs_call:
            findings.append(
                f"{where}: recorded {action}: no program of the {tier.name} tier calls it in the table "
                "(tests/terraform/instance_calls.py PROGRAMS, THIRD_PARTY)"
            )
    return findings
