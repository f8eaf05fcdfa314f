"""Each instance role against the AWS calls its tier's programs make, both ways (tests/terraform/instance_calls.py).
The calls the twin records with each role's key are held to the same policies and tables by recorded_findings
(tests/twin/scenarios/test_instance_calls.py); its tests here feed it recorded calls.

Every call is allowed (the instance works on AWS); every action, resource and condition value of the roles' inline
policies is used by some program of the tier (the role is no wider than it needs); "*" only for actions without
resource-level permissions; the managed policy is the SSM agent's. Each program's table names exactly the calls its
source makes. Each check is shown to fail on a planted violation.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from instance_calls import (
    EXCLUDED,
    PROGRAMS,
    REPO_ROOT,
    ROLES,
    SCENARIOS,
    Stack,
    extracted_actions,
    open_webui_storage_actions,
    open_webui_wheel,
    open_webui_wheel_actions,
    program_findings,
    recorded_action,
    recorded_findings,
    role_findings,
    tier_calls,
)
from terraform_helpers import TERRAFORM_DIR, planted_copy


def test_every_installed_program_is_in_the_table_and_the_table_is_its_source():
    assert program_findings() == []


def test_each_instance_role_allows_exactly_what_its_tier_calls():
    assert role_findings() == []


def test_the_calls_cover_every_secret_of_the_record_and_nothing_else():
    """Secret by secret: the record's Secrets Manager references are what the tier reads and describes."""
    stack = Stack(TERRAFORM_DIR, SCENARIOS[-1])  # the OIDC client secret in an SSM parameter
    counts = {}
    for name in ("frontend", "backend"):
        tier = stack.tier(name)
        references = {v for k, v in tier.record.items() if k.endswith("_SECRET_ARN")}
        calls = tier_calls(tier)
        read = {c.resource for c in calls if c.action in ("secretsmanager:GetSecretValue", "ssm:GetParameter")}
        described = {c.resource for c in calls if c.action == "secretsmanager:DescribeSecret"}
        assert read == references, name
        assert described == {r for r in references if ":ssm:" not in r}, name
        counts[name] = (len(references), len(described))
    assert counts == {"frontend": (6, 5), "backend": (1, 1)}, "the OIDC client secret is the frontend's SSM parameter"


def test_open_webui_storage_calls_are_the_declared_ones():
    """The S3 calls of the Open-WebUI release the role installs, read from its wheel when the wheelhouse is built
    (tools/open_webui_wheelhouse.sh)."""
    wheel = open_webui_wheel()
    if wheel is None:
        pytest.skip("no Open-WebUI wheel in .cache/wheelhouse/open-webui: run tools/open_webui_wheelhouse.sh")
    assert open_webui_wheel_actions(wheel) == open_webui_storage_actions()


def test_what_the_deployment_leaves_off_stays_off():
    """The declared tables leave out calls the roles' settings never make: Open-WebUI's object tagging, the agent's
    retention and volume lookups (Terraform owns retention; the dimensions name no volume)."""
    env = (ROLES / "open_webui" / "templates" / "open-webui.env.j2").read_text()
    assert "S3_ENABLE_TAGGING" not in env, "Open-WebUI would call s3:PutObjectTagging: add it to the frontend role"
    agent = (ROLES / "cloudwatch_agent" / "templates" / "amazon-cloudwatch-agent.json.j2").read_text()
    assert "retention_in_days" not in agent and "${aws:VolumeId}" not in agent


def test_excluded_programs_never_run_with_an_instance_role():
    # Host backups: installed by the bake, configured nowhere on AWS, so the timer's condition keeps them idle.
    bake = (ROLES / "ami_bake" / "tasks" / "configure.yml").read_text()
    assert re.search(r"name: backups\n\s+vars:\n\s+backups_bake: true", bake)
    configure = (ROLES / "backups" / "tasks" / "configure.yml").read_text()
    assert configure.count("when: not backups_bake") == 2 and "config.json" in configure
    unit = (ROLES / "backups" / "templates" / "ollama-backup.service.j2").read_text()
    assert "ConditionPathExists={{ backups_config_dir }}/config.json" in unit
    boot = yaml.safe_load((REPO_ROOT / "playbooks" / "instance.yml").read_text())
    assert "backups" not in [r["role"] for r in boot[0]["roles"]]
    assert "ollama-backup" not in (TERRAFORM_DIR / "templates" / "user_data.sh.tftpl").read_text()
    # The log shipper stand-in: only the local twin's inventory turns it on.
    agent = yaml.safe_load((ROLES / "cloudwatch_agent" / "defaults" / "main.yml").read_text())
    assert agent["cloudwatch_agent_standin_enabled"] is False
    switched_on = [
        str(p.relative_to(REPO_ROOT))
        for p in sorted((REPO_ROOT / "inventories").rglob("*.yml"))
        if "cloudwatch_agent_standin_enabled: true" in p.read_text()
    ]
    assert switched_on == ["inventories/local/group_vars/all/bake.yml"]
    assert set(EXCLUDED).isdisjoint(PROGRAMS)


def test_the_roles_the_boot_runs_make_no_aws_call_of_their_own():
    """The tier roles run on the instance at every boot with its role: their tasks call no AWS module or lookup
    (the services' programs above make every call)."""
    defaults = yaml.safe_load((ROLES / "instance_bootstrap" / "defaults" / "main.yml").read_text())
    roles = {r for names in defaults["instance_bootstrap_tier_roles"].values() for r in names}
    aws = re.compile(r"\b(amazon\.aws|community\.aws)\.|lookup\(\s*['\"](aws_|amazon\.aws)")
    calls = [
        f"{p.relative_to(REPO_ROOT)}: {m.group(0)}"
        for role in sorted(roles)
        for folder in ("tasks", "handlers")
        for p in sorted((ROLES / role / folder).glob("*.yml"))
        for m in aws.finditer(p.read_text())
    ]
    assert calls == []


# --- planted violations ---------------------------------------------------------------------------------------

EXTRA_POLICY = """
resource "aws_iam_role_policy" "planted" {
  name   = "planted"
  role   = aws_iam_role.instance["backend"].id
  policy = data.aws_iam_policy_document.planted.json
}

data "aws_iam_policy_document" "planted" {
  statement {
    sid       = "ReadTheTable"
    actions   = ["dynamodb:GetItem"]
    resources = [aws_dynamodb_table.data.arn]
  }
}
"""

BACKEND_KEY_USE = (
    '      DecryptSecrets = { service = "secretsmanager", actions = ["kms:Decrypt"], encryption_context = {} }\n    }'
)
UPLOADS_KEY_USE = '  EncryptUploads = { service = "s3", actions = ["kms:GenerateDataKey"], encryption_context = {} }\n'
ROLE_PLANTS = [
    pytest.param('actions   = ["ec2:DescribeTags"]', 'actions   = ["ec2:DescribeTags", "ec2:DescribeVolumes"]',
                 "CloudWatchAgentDimensions: ec2:DescribeVolumes is used by no program", id="unused-action"),
    pytest.param('"autoscaling:CompleteLifecycleAction", "autoscaling:SetInstanceProtection"]',
                 '"autoscaling:CompleteLifecycleAction"]',
                 "ollama-platform-drain.py calls autoscaling:SetInstanceProtection", id="missing-action"),
    pytest.param('backend = [local.secret_arns["ollama_api_token"]]',
                 'backend = [local.secret_arns["ollama_api_token"], local.secret_arns["origin_verify"]]',
                 'resource ${aws_secretsmanager_secret.this["origin_verify"].arn} is used by no program',
                 id="another-tiers-secret"),
    pytest.param('      local.secret_arns["webui_admin_password"],\n', "",
                 'open-webui-helper.py calls secretsmanager:GetSecretValue on '
                 '${aws_secretsmanager_secret.this["webui_admin_password"].arn}', id="missing-secret"),
    pytest.param('resources = [for group in each.value.groups : "arn:${local.partition}:autoscaling:',
                 'resources = ["*"] # [for group in each.value.groups : "arn:${local.partition}:autoscaling:',
                 "autoscaling:SetInstanceProtection on * although it has resource-level permissions",
                 id="star-resource"),
    pytest.param('autoScalingGroup:*:autoScalingGroupName/${group}"]', '*"]', "is wider than the calls it serves",
                 id="any-group"),
    pytest.param('frontend = ["CWAgent"]', 'frontend = ["Ollama", "CWAgent"]',
                 "frontend: PublishMetrics: cloudwatch:namespace Ollama is used by no program", id="wider-namespace"),
    pytest.param(BACKEND_KEY_USE, BACKEND_KEY_USE.replace("    }", UPLOADS_KEY_USE + "    }"),
                 "backend: EncryptUploads: kms:GenerateDataKey is used by no program", id="key-use-outside-tier"),
    pytest.param("        encryption_context = { PARAMETER_ARN = local.webui_oidc_client_secret.ssm }\n",
                 "        encryption_context = {}\n",
                 "DecryptOidcClientSecretParameter: the data key through SSM without a "
                 "kms:EncryptionContext:PARAMETER_ARN condition", id="any-parameter-decrypted"),
    pytest.param('      variable = "cloudwatch:namespace"\n', '      variable = "aws:RequestedRegion"\n',
                 "PublishMetrics: cloudwatch:PutMetricData without a cloudwatch:namespace condition",
                 id="any-namespace"),
    pytest.param('resources = ["${local.uploads_bucket_arn}/uploads/*"]',
                 'resources = ["${local.uploads_bucket_arn}/*"]',
                 "OpenWebUIUploads: resource arn:${data.aws_partition.current.partition}:s3:::"
                 "${module.uploads_bucket[0].id}/* is wider than the calls it serves", id="whole-bucket"),
    pytest.param("# --- VPC flow logs ---", EXTRA_POLICY + "\n# --- VPC flow logs ---",
                 "backend: ReadTheTable: dynamodb:GetItem is used by no program", id="another-inline-policy"),
    pytest.param('policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"',
                 'policy_arn = "arn:${local.partition}:iam::aws:policy/AdministratorAccess"',
                 "managed policies ['AdministratorAccess']", id="wide-managed-policy"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "expected"), ROLE_PLANTS)
def test_planted_role_violation_is_caught(tmp_path, old, new, expected):
    findings = role_findings(planted_copy(tmp_path, "iam.tf", old, new))
    assert any(expected in f for f in findings), findings


DR_UPLOADS_KEY_USE = (
    '      EncryptUploads = { service = "s3", actions = ["kms:Decrypt", "kms:GenerateDataKey"], '
    "encryption_context = {} }\n    }\n    backend = { DecryptSecrets"
)
DR_ROLE_PLANTS = [
    pytest.param("iam.tf", DR_UPLOADS_KEY_USE, "    }\n    backend = { DecryptSecrets",
                 "DR region, frontend: Open-WebUI (S3 storage) through s3 calls kms:GenerateDataKey on "
                 "${aws_kms_key.dr[0].arn}", id="uploads-replica-key-not-granted"),
    pytest.param("iam.tf", 'dr_stack_prefixes  = [local.primary_name_prefix, "${local.primary_name_prefix}-drill"]',
                 "dr_stack_prefixes  = [local.primary_name_prefix]",
                 "autoScalingGroupName/ollama-dev-drill-frontend-asg: no statement of the role allows it",
                 id="drill-groups-not-granted"),
    pytest.param("iam.tf", ':secretsmanager:${var.dr_region}:${local.account_id}:secret:${secret.name}-??????"',
                 ':secretsmanager:${var.aws_region}:${local.account_id}:secret:${secret.name}-??????"',
                 "DR region, backend: ollama-token-fetch calls secretsmanager:GetSecretValue on "
                 "arn:${data.aws_partition.current.partition}:secretsmanager:us-west-2:", id="primary-region-secrets"),
    pytest.param("rds.tf", "instance_secrets_key_arn = local.is_primary ? aws_kms_key.data.arn : "
                 "data.aws_kms_key.dr_region[0].arn", "instance_secrets_key_arn = aws_kms_key.data.arn",
                 "DR region, frontend: open-webui-helper.py through secretsmanager calls kms:Decrypt on "
                 "${aws_kms_key.data.arn}", id="database-secret-under-the-dr-stacks-own-key"),
]  # fmt: skip


@pytest.mark.parametrize(("filename", "old", "new", "expected"), DR_ROLE_PLANTS)
def test_planted_dr_role_violation_is_caught(tmp_path, filename, old, new, expected):
    """The DR region's roles, made by the primary, against what a drill's and a failover's programs call."""
    findings = role_findings(planted_copy(tmp_path, filename, old, new))
    assert any(expected in f for f in findings), findings


DRAIN = "roles/instance_bootstrap/files/ollama-platform-drain.py"
KEYS = "roles/ssh_hardening/files/ssh-hardening-keys"
PROGRAM_PLANTS = [
    pytest.param(DRAIN, "    client.set_instance_protection(",
                 "    client.record_lifecycle_action_heartbeat(LifecycleHookName=settings.drain_hook)\n"
                 "    client.set_instance_protection(",
                 "calls autoscaling:RecordLifecycleActionHeartbeat, which its table does not name", id="python-call"),
    pytest.param(DRAIN, '        client = session.client("autoscaling", endpoint_url=settings.endpoint_url)\n',
                 '        client = session.client("autoscaling", endpoint_url=settings.endpoint_url)\n'
                 '        boto3.client("dynamodb").get_item(TableName="t", Key={})\n',
                 "calls dynamodb:GetItem, which its table does not name", id="python-new-service"),
    pytest.param(KEYS, "set -eu\n", "set -eu\naws s3 cp /etc/ssh/sshd_config s3://bucket/sshd_config\n",
                 "calls s3:PutObject, which its table does not name", id="shell-call"),
    pytest.param(DRAIN, "    client.set_instance_protection(",
                 "    client.describe_auto_scaling_groups()\n    client.x(",
                 "its table names autoscaling:SetInstanceProtection, which it does not call", id="stale-table"),
]  # fmt: skip


@pytest.mark.parametrize(("program", "old", "new", "expected"), PROGRAM_PLANTS)
def test_planted_program_call_is_caught(tmp_path, program, old, new, expected):
    text = (REPO_ROOT / program).read_text()
    assert text.count(old) == 1, f"'{old}' must occur once in {program}: update this test"
    planted = tmp_path / Path(program).name
    planted.write_text(text.replace(old, new))
    for module in (REPO_ROOT / program).parent.glob("*.py"):  # the local modules it imports, beside it
        if module.name != planted.name:
            shutil.copy(module, tmp_path / module.name)
    findings = program_findings({program: planted})
    assert any(expected in f for f in findings), findings


def test_planted_program_outside_the_table_is_caught(tmp_path):
    roles = tmp_path / "roles"
    shutil.copytree(ROLES, roles, ignore=shutil.ignore_patterns("molecule"))
    (roles / "ollama" / "files" / "ollama-model-sync").write_text(
        '#!/usr/bin/python3\nimport boto3\nboto3.client("s3").download_file("b", "k", "/tmp/k")\n'
    )
    (roles / "ollama" / "tasks" / "planted.yml").write_text(
        "- name: Install the model sync\n  ansible.builtin.copy:\n    src: ollama-model-sync\n"
        "    dest: /usr/local/libexec/ollama-model-sync\n    mode: '0755'\n"
    )
    findings = program_findings(roles=roles)
    assert findings == [
        "roles/ollama/files/ollama-model-sync: installed on the backend instances but neither in PROGRAMS nor in "
        "EXCLUDED"
    ]
    assert extracted_actions(roles / "ollama" / "files" / "ollama-model-sync") == {"s3:GetObject"}


# --- calls recorded on a running deployment (the twin's emulator), against the policies and the table -----------


def _recorded(*calls: tuple[str, str]) -> list[str]:
    """IAM actions of emulator records given as (service, API operation)."""
    return [recorded_action(service, operation) for service, operation in calls]


FRONTEND_RECORD = _recorded(
    ("secretsmanager", "DescribeSecret"),
    ("secretsmanager", "GetSecretValue"),
    ("autoscaling", "CompleteLifecycleAction"),
    ("logs", "CreateLogStream"),
    ("logs", "PutLogEvents"),
    ("s3", "ListObjectsV2"),
    ("s3", "HeadObject"),
    ("s3", "GetObject"),
    ("s3", "CreateMultipartUpload"),
    ("s3", "UploadPart"),
    ("s3", "CompleteMultipartUpload"),
    ("s3", "DeleteObject"),
    ("elasticloadbalancing", "DescribeTargetHealth"),
    ("sts", "GetCallerIdentity"),
)
BACKEND_RECORD = _recorded(
    ("secretsmanager", "GetSecretValue"),
    ("autoscaling", "CompleteLifecycleAction"),
    ("autoscaling", "SetInstanceProtection"),
    ("cloudwatch", "PutMetricData"),
    ("ec2", "DescribeTags"),
)


def test_recorded_operations_are_named_as_iam_names_them():
    assert _recorded(("s3", "HeadObject"), ("s3", "ListObjectsV2"), ("s3", "UploadPart")) == [
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
    ]
    assert recorded_action("cloudwatch", "PutMetricData") == "cloudwatch:PutMetricData"
    assert recorded_action("", "GetCallerIdentity") == "", "an unsigned request names no service"


def test_calls_the_tiers_make_pass_the_recorded_check():
    stack = Stack(TERRAFORM_DIR, SCENARIOS[0])
    assert recorded_findings("frontend", stack.tier("frontend"), FRONTEND_RECORD) == []
    assert recorded_findings("backend", stack.tier("backend"), BACKEND_RECORD) == []


def test_planted_recorded_call_outside_the_policy_is_caught():
    """A call the backend role was recorded making that its policy does not allow and no backend program calls: the
    frontend's uploads, a table read."""
    tier = Stack(TERRAFORM_DIR, SCENARIOS[0]).tier("backend")
    findings = recorded_findings("twin, backend", tier, [*BACKEND_RECORD, *_recorded(("s3", "PutObject"))])
    assert findings == [
        "twin, backend: recorded s3:PutObject: no statement of the backend role allows it",
        "twin, backend: recorded s3:PutObject: no program of the backend tier calls it in the table "
        "(tests/terraform/instance_calls.py PROGRAMS, THIRD_PARTY)",
    ]
    unnamed = recorded_findings("twin, backend", tier, [*BACKEND_RECORD, recorded_action("", "")])
    assert unnamed == ["twin, backend: a recorded call names no service or action (''): unsigned or unknown"]


def _with_policy(tmp_path: Path, policy: str) -> Stack:
    """The dev stack with one more inline policy on an instance role."""
    marker = "# --- VPC flow logs ---"
    return Stack(planted_copy(tmp_path, "iam.tf", marker, policy + "\n" + marker), SCENARIOS[0])


def test_planted_recorded_call_outside_the_table_is_caught(tmp_path):
    """A policy that allows what no program of the tier calls (the static check names the unused statement too):
    the recorded call fails the table, so the table cannot miss what the programs did."""
    stack = _with_policy(tmp_path, EXTRA_POLICY)
    findings = recorded_findings("twin, backend", stack.tier("backend"), _recorded(("dynamodb", "GetItem")))
    assert findings == [
        "twin, backend: recorded dynamodb:GetItem: no program of the backend tier calls it in the table "
        "(tests/terraform/instance_calls.py PROGRAMS, THIRD_PARTY)"
    ]


def test_planted_statement_on_another_services_resource_is_caught(tmp_path):
    """The resource is compared as far as the record allows: a statement allowing the action names a resource of
    the action's service (here it names the data key)."""
    stack = _with_policy(tmp_path, EXTRA_POLICY.replace("aws_dynamodb_table.data.arn", "aws_kms_key.data.arn"))
    findings = recorded_findings("twin, backend", stack.tier("backend"), _recorded(("dynamodb", "GetItem")))
    assert (
        "twin, backend: recorded dynamodb:GetItem: the statements allowing it (ReadTheTable) name no dynamodb "
        "resource" in findings
    ), findings
