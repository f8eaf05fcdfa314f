#!/usr/bin/python
# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: service_quota_info
short_description: Compare an AWS service quota of the account with what the stack needs
version_added: 0.2.0
description:
  - Reads one quota of the account in the region through Service Quotas (the applied value, else the AWS default)
    and says whether it covers O(needed), with the fix when it does not.
  - Made for the GPU tier's C(Running On-Demand G and VT instances) vCPU quota (C(ec2) / C(L-DB2E81BA)), whose
    default in a new account is often 0.
  - Read-only; safe in check mode.
author:
  - Ollama Platform maintainers (@ollama-platform)
options:
  service_code:
    description: Service of the quota.
    type: str
    default: ec2
  quota_code:
    description: Code of the quota.
    type: str
    default: L-DB2E81BA
  needed:
    description: What the stack can use at once, in the quota's unit (vCPUs for the EC2 instance quotas).
    type: float
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read the GPU vCPU quota
  ollama.platform.service_quota_info:
    quota_code: L-DB2E81BA
    needed: 52
  register: gpu_quota

- name: Stop when it is too small
  ansible.builtin.assert:
    that: gpu_quota.sufficient
    fail_msg: "{{ gpu_quota.message }}"
"""

RETURN = r"""
quota_name:
  description: Name of the quota.
  returned: always
  type: str
  sample: Running On-Demand G and VT instances
value:
  description: The quota's value for this account and region (the AWS default when none was applied).
  returned: always
  type: float
  sample: 64.0
source:
  description: Where the value comes from, C(applied) or C(default).
  returned: always
  type: str
  sample: applied
needed:
  description: The O(needed) value compared.
  returned: always
  type: float
  sample: 52.0
sufficient:
  description: Whether the value covers O(needed).
  returned: always
  type: bool
  sample: true
message:
  description: The comparison in words; when insufficient, the increase to request and where.
  returned: always
  type: str
  sample: "Running On-Demand G and VT instances (ec2/L-DB2E81BA) is 64 in us-east-1, the stack needs 52"
"""

try:  # noqa: SIM105  (the amazon.aws pattern: AnsibleAWSModule reports a missing botocore)
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.ollama.platform.plugins.module_utils.aws_preflight import read_quota  # noqa: E402

ARGUMENT_SPEC = {
    "service_code": {"type": "str", "default": "ec2"},
    "quota_code": {"type": "str", "default": "L-DB2E81BA"},
    "needed": {"type": "float", "required": True},
}


def compare(quota: dict, source: str, needed: float, service_code: str, quota_code: str, region: str) -> dict:
    """The module's result for a quota value and a need."""
    name, value = quota.get("QuotaName", quota_code), float(quota.get("Value", 0))
    what = f"{name} ({service_code}/{quota_code}) is {value:g} in {region}"
    if value >= needed:
        message = f"{what}, the stack needs {needed:g}"
    else:
        message = (
            f"{what} but the stack needs {needed:g}: request an increase to at least {needed:g} (Service Quotas "
            f"console > AWS services > Amazon EC2 > {name}, or `aws service-quotas request-service-quota-increase "
            f"--service-code {service_code} --quota-code {quota_code} --desired-value {needed:g} --region {region}`), "
            "or lower the backend's max capacity"
        )
    return {
        "quota_name": name,
        "value": value,
        "source": source,
        "needed": needed,
        "sufficient": value >= needed,
        "message": message,
    }


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    client = module.client("service-quotas")
    try:
        quota, source = read_quota(client, p["service_code"], p["quota_code"])
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(
            exc,
            msg=f"Could not read quota {p['service_code']}/{p['quota_code']}: allow servicequotas:GetServiceQuota "
            "and servicequotas:GetAWSDefaultServiceQuota to the deployer",
        )
    result = compare(quota, source, p["needed"], p["service_code"], p["quota_code"], module.region)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
