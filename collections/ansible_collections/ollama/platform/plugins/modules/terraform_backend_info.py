#!/usr/bin/python
# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: terraform_backend_info
short_description: Check that the Terraform S3 state backend exists and is safe
version_added: 0.1.0
description:
  - Reads the Terraform state bucket and lock table and reports whether they exist and whether they have the
    required posture (versioning, KMS encryption, public access block, TLS-only policy, LockID key, PITR).
  - Read-only; safe in check mode.
author:
  - Ollama Platform maintainers (@ollama-platform)
options:
  bucket:
    description: Name of the state bucket.
    type: str
    required: true
  lock_table:
    description: Name of the DynamoDB lock table.
    type: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read the state backend
  ollama.platform.terraform_backend_info:
    bucket: ollama-tfstate-123456789012-us-east-1
    lock_table: ollama-tfstate-lock
  register: backend

- name: Stop when it is missing
  ansible.builtin.assert:
    that: backend.ready
    fail_msg: "{{ backend.findings | map(attribute='remediation') | first }}"
"""

RETURN = r"""
bucket_exists:
  description: Whether the state bucket exists.
  returned: always
  type: bool
  sample: true
table_exists:
  description: Whether the lock table exists.
  returned: always
  type: bool
  sample: true
tls_only:
  description: Whether the bucket policy denies non-TLS requests.
  returned: when the bucket exists
  type: bool
  sample: true
kms_key_id:
  description: KMS key of the bucket's default encryption.
  returned: when the bucket exists
  type: str
  sample: arn:aws:kms:us-east-1:123456789012:key/0b1d...
ready:
  description: True when both exist and there are no findings.
  returned: always
  type: bool
  sample: true
findings:
  description: Deviations from the required posture, each with check, resource, message and remediation.
  returned: always
  type: list
  elements: dict
  sample: [{"check": "dynamodb_pitr", "resource": "ollama-tfstate-lock",
            "message": "point-in-time recovery is DISABLED",
            "remediation": "enable PITR"}]
backend_config:
  description: The C(-backend-config) values for Terraform's S3 backend.
  returned: always
  type: dict
  sample: {"bucket": "ollama-tfstate-123456789012-us-east-1", "dynamodb_table": "ollama-tfstate-lock",
           "region": "us-east-1", "encrypt": "true"}
"""

try:  # noqa: SIM105  (the amazon.aws pattern: AnsibleAWSModule reports a missing botocore)
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.ollama.platform.plugins.module_utils import terraform_backend as backend  # noqa: E402

ARGUMENT_SPEC = {
    "bucket": {"type": "str", "required": True},
    "lock_table": {"type": "str", "required": True},
}


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params

    def client(service: str):
        return module.client(service)

    try:
        state = backend.read_backend(client, p["bucket"], p["lock_table"])
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"Could not read the state backend {p['bucket']} / {p['lock_table']}")
    state["backend_config"] = {
        "bucket": p["bucket"],
        "dynamodb_table": p["lock_table"],
        "region": module.region or "us-east-1",
        "encrypt": "true",
    }
    module.exit_json(changed=False, **state)


if __name__ == "__main__":
    main()
