#!/usr/bin/python
# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: terraform_backend
short_description: Create the Terraform S3 state bucket and DynamoDB lock table
version_added: 0.1.0
description:
  - Ensures the Terraform state backend of an account and region exists in the shape the platform requires
    (Terraform cannot create its own backend).
  - The bucket is versioned, encrypted with a customer-managed KMS key, blocks all public access and has a
    policy that denies requests not made over TLS.
  - The lock table has a C(LockID) hash key, on-demand billing, KMS encryption and point-in-time recovery
    (no existing module sets PITR).
  - Idempotent; in check mode it reports the actions it would take. It never deletes anything (state
    backends are kept on teardown).
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
  kms_key_alias:
    description: Alias of the customer-managed KMS key protecting bucket and table (created when missing).
    type: str
    default: alias/ollama-tfstate
  tags:
    description: Tags for the bucket, table and key when they are created.
    type: dict
    default: {}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Bootstrap the state backend of this account and region
  ollama.platform.terraform_backend:
    bucket: ollama-tfstate-123456789012-us-east-1
    lock_table: ollama-tfstate-lock
    tags: {Project: ollama, ManagedBy: ansible}
"""

RETURN = r"""
bucket:
  description: Name of the state bucket.
  returned: always
  type: str
  sample: ollama-tfstate-123456789012-us-east-1
lock_table:
  description: Name of the lock table.
  returned: always
  type: str
  sample: ollama-tfstate-lock
kms_key_arn:
  description: ARN of the KMS key; null in check mode when the key does not exist yet.
  returned: always
  type: str
  sample: arn:aws:kms:us-east-1:123456789012:key/0b1d...
actions:
  description: What was changed (or would be changed in check mode).
  returned: always
  type: list
  elements: str
  sample: ["create bucket ollama-tfstate-123456789012-us-east-1", "enable versioning"]
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
    "kms_key_alias": {"type": "str", "default": "alias/ollama-tfstate", "no_log": False},
    "tags": {"type": "dict", "default": {}},
}


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    if not p["kms_key_alias"].startswith("alias/"):
        alias = p["kms_key_alias"]
        module.fail_json(msg=f"kms_key_alias {alias!r} must start with alias/ (e.g. alias/ollama-tfstate)")
    tags = {str(k): str(v) for k, v in p["tags"].items()}
    region = module.region or "us-east-1"

    def client(service: str):
        return module.client(service)

    try:
        key_arn, actions = backend.ensure_kms_key(client, p["kms_key_alias"], tags, module.check_mode)
        actions += backend.ensure_bucket(client, p["bucket"], region, key_arn, tags, module.check_mode)
        actions += backend.ensure_lock_table(client, p["lock_table"], key_arn, tags, module.check_mode)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(
            exc,
            msg=f"Could not create the state backend {p['bucket']} / {p['lock_table']}: check the credentials "
            "and that they allow s3:*, dynamodb:* and kms:* on these resources",
        )
    module.exit_json(
        changed=bool(actions), bucket=p["bucket"], lock_table=p["lock_table"], kms_key_arn=key_arn, actions=actions
    )


if __name__ == "__main__":
    main()
