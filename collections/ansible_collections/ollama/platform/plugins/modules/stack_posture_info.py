#!/usr/bin/python
# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: stack_posture_info
short_description: Check the posture and health of a deployed Ollama stack
version_added: 0.1.0
description:
  - Reads the Auto Scaling groups, target groups, CloudWatch alarms, SNS topic, DynamoDB tables, S3 buckets,
    CloudWatch log groups and KMS keys of one environment and returns every deviation from the platform's
    baseline as a finding that names the resource and the fix.
  - The alarm rules (every alarm notifies an SNS topic, every such topic has a subscriber) and the log group rules are
    the same functions the repository's tests apply to the parsed Terraform of each environment.
  - Read-only. Never changes anything, so it is safe in check mode and in production.
  - The module does not fail on findings; the calling playbook decides (see C(playbooks/verify.yml)).
author:
  - Ollama Platform maintainers (@ollama-platform)
options:
  name_prefix:
    description:
      - The environment's resource name prefix (C(ollama) in production, C(ollama-<env>) elsewhere).
      - Used as the default alarm prefix.
    type: str
    required: true
  asg_names:
    description:
      - Auto Scaling groups that must have at least C(MinSize) instances InService across O(min_azs) zones.
      - The target groups attached to them are checked for healthy targets.
    type: list
    elements: str
    default: []
  min_azs:
    description: Minimum number of availability zones each ASG must span.
    type: int
    default: 2
  target_group_arns:
    description: Extra target groups to check besides those attached to O(asg_names).
    type: list
    elements: str
    default: []
  alarm_prefix:
    description:
      - Prefix of the alarms that must exist, each notifying an SNS topic (not only a scaling policy). Every topic
        they notify must have a subscriber. Defaults to O(name_prefix).
    type: str
  sns_topic_arn:
    description:
      - The platform's alarm topic; it must exist and have a subscriber even when no alarm notifies it yet.
    type: str
  dynamodb_tables:
    description: DynamoDB tables that must be KMS-encrypted with point-in-time recovery on.
    type: list
    elements: str
    default: []
  buckets:
    description: S3 buckets that must be encrypted, versioned and block public access.
    type: list
    elements: str
    default: []
  unversioned_buckets:
    description: Buckets of O(buckets) exempt from the versioning check (for example an access-log bucket).
    type: list
    elements: str
    default: []
  log_group_prefix:
    description: Prefix of the CloudWatch log groups that must exist with a retention. Skipped when omitted.
    type: str
  min_log_retention_days:
    description: Smallest acceptable log retention.
    type: int
    default: 1
  kms_key_ids:
    description:
      - Customer-managed KMS keys that must be enabled and rotate. The keys used by O(buckets) and
        O(dynamodb_tables) are always checked too.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Check the posture of the dev stack
  ollama.platform.stack_posture_info:
    name_prefix: ollama-dev
    asg_names: [ollama-dev-backend-asg, ollama-dev-frontend-asg]
    sns_topic_arn: "{{ outputs.ollama_sns_topic_arn }}"
    dynamodb_tables: [ollama-dev-data-table]
    buckets: "{{ [outputs.ollama_backups_bucket_name, outputs.ollama_assets_bucket_name] }}"
    log_group_prefix: /ollama/dev/
  register: posture

- name: Fail on findings
  ansible.builtin.assert:
    that: posture.findings | length == 0
    fail_msg: "{{ posture.findings | map(attribute='message') | list }}"
"""

RETURN = r"""
findings:
  description: Every deviation found; empty when the stack is healthy.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: Identifier of the failed check.
      type: str
      sample: dynamodb_pitr
    resource:
      description: Name or ARN of the resource.
      type: str
      sample: ollama-dev-data-table
    message:
      description: What is wrong.
      type: str
      sample: point-in-time recovery is DISABLED
    remediation:
      description: How to fix it.
      type: str
      sample: "enable PITR: point_in_time_recovery { enabled = true }"
healthy:
  description: True when there are no findings.
  returned: always
  type: bool
  sample: true
checked:
  description: How many resources of each kind were checked.
  returned: always
  type: dict
  sample: {"asgs": 2, "target_groups": 2, "alarm_prefix": "ollama-dev", "tables": 1, "buckets": 3, "kms_keys": 2}
pending_subscriptions:
  description:
    - Subscriptions of the alarm topics still waiting for their confirmation (the link AWS e-mails, the HTTPS
      endpoint's confirmation). Their alarms do not reach that subscriber yet. Not a finding.
  returned: always
  type: list
  elements: dict
  contains:
    topic_arn:
      description: The topic.
      type: str
      sample: arn:aws:sns:us-east-1:123456789012:ollama-alarms
    protocol:
      description: C(email) or C(https).
      type: str
      sample: email
    endpoint:
      description: The address or URL to confirm.
      type: str
      sample: ops@example.com
"""

try:  # noqa: SIM105  (the amazon.aws pattern: AnsibleAWSModule reports a missing botocore)
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.ollama.platform.plugins.module_utils import aws_posture  # noqa: E402

ARGUMENT_SPEC = {
    "name_prefix": {"type": "str", "required": True},
    "asg_names": {"type": "list", "elements": "str", "default": []},
    "min_azs": {"type": "int", "default": 2},
    "target_group_arns": {"type": "list", "elements": "str", "default": []},
    "alarm_prefix": {"type": "str"},
    "sns_topic_arn": {"type": "str"},
    "dynamodb_tables": {"type": "list", "elements": "str", "default": []},
    "buckets": {"type": "list", "elements": "str", "default": []},
    "unversioned_buckets": {"type": "list", "elements": "str", "default": []},
    "log_group_prefix": {"type": "str"},
    "min_log_retention_days": {"type": "int", "default": 1},
    "kms_key_ids": {"type": "list", "elements": "str", "default": [], "no_log": False},
}


def run_checks(module: AnsibleAWSModule) -> dict:
    """Collect every check's findings."""
    p = module.params

    def client(service: str):
        return module.client(service)

    findings: list[dict[str, str]] = []
    checked: dict[str, object] = {}

    tg_arns = list(p["target_group_arns"])
    if p["asg_names"]:
        asg_findings, attached = aws_posture.collect_asgs(client, p["asg_names"], p["min_azs"])
        findings.extend(asg_findings)
        tg_arns.extend(a for a in attached if a not in tg_arns)
    checked["asgs"] = len(p["asg_names"])
    findings.extend(aws_posture.collect_targets(client, tg_arns))
    checked["target_groups"] = len(tg_arns)

    alarm_prefix = p["alarm_prefix"] or p["name_prefix"]
    alarm_findings, pending = aws_posture.collect_alarms(client, alarm_prefix, p["sns_topic_arn"])
    findings.extend(alarm_findings)
    checked["alarm_prefix"] = alarm_prefix

    keys = list(p["kms_key_ids"])
    ddb_findings, ddb_keys = aws_posture.collect_dynamodb(client, p["dynamodb_tables"])
    findings.extend(ddb_findings)
    checked["tables"] = len(p["dynamodb_tables"])
    s3_findings, s3_keys = aws_posture.collect_buckets(client, p["buckets"], p["unversioned_buckets"])
    findings.extend(s3_findings)
    checked["buckets"] = len(p["buckets"])
    keys.extend(ddb_keys + s3_keys)

    if p["log_group_prefix"]:
        findings.extend(aws_posture.collect_log_groups(client, p["log_group_prefix"], p["min_log_retention_days"]))
        checked["log_group_prefix"] = p["log_group_prefix"]

    findings.extend(aws_posture.collect_kms(client, keys))
    checked["kms_keys"] = len(set(keys))
    return {"findings": findings, "healthy": not findings, "checked": checked, "pending_subscriptions": pending}


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if module.params["min_azs"] < 1:
        module.fail_json(msg="min_azs must be at least 1: pass the number of availability zones the ASGs must span")
    try:
        result = run_checks(module)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg="Could not read the stack's posture: check the credentials, region and endpoint")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
