#!/usr/bin/python
# Copyright: Contributors to the Ollama Platform project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: dr_prepared_info
short_description: Check what the primary stack prepared for a disaster-recovery stack in its region
version_added: 0.2.0
description:
  - Reads, for a stack to be rebuilt in O(region), the resources the primary stack creates for it in advance and the
    stack only looks up - instance profiles and roles (IAM), the DR key's alias (KMS), the certificate of its load
    balancers (ACM), its entry addresses (EC2 Elastic IPs) and the Route 53 records that send traffic to it - and
    returns each one missing with its fix.
  - Regional reads (ACM, EC2, KMS, Service Quotas) go to O(region) only. IAM and Route 53 are global services whose
    endpoints are served from us-east-1; when such a read cannot reach its endpoint (connection error or a 5xx answer)
    the resource is reported in RV(unchecked) with the reason, never as missing, and the remaining reads of that
    service are skipped. C(NoSuchEntity) and C(NoSuchHostedZone) are missing resources.
  - With O(own_addresses), also compares the region's "EC2-VPC Elastic IPs" quota (C(ec2)/C(L-0263D0A3)) with the
    addresses allocated there plus those the stack allocates itself; a quota that cannot be read is unchecked.
  - Read-only; safe in check mode. Item lists come from C(python -m tools.dr_stack_needs).
author:
  - Ollama Platform maintainers (@ollama-platform)
options:
  needs:
    description:
      - What to check, one dict per resource with C(kind), C(name) and C(fix) (appended to a finding).
      - "C(kind): C(instance_profile) (a profile holding the role of the same name), C(role), C(kms_alias),
        C(certificate) (an ISSUED ACM certificate of C(name) also covering C(alternative_names)), C(elastic_ip)
        (an address tagged C(Name=name)), C(record) (an A record C(name) in hosted zone C(zone_id)) or
        C(failover_record) (a PRIMARY and a SECONDARY A record C(name) in C(zone_id), the SECONDARY answering the
        addresses of the C(elastic_ip) items)."
    type: list
    elements: dict
    default: []
  own_addresses:
    description:
      - Name tags of the Elastic IPs the stack allocates itself (an earlier attempt may hold some already); when not
        empty the region's Elastic IP quota must cover them besides every other address allocated there.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Check what the primary prepared in us-west-2
  ollama.platform.dr_prepared_info:
    region: us-west-2
    needs:
      - kind: instance_profile
        name: ollama-us-west-2-frontend-role
        fix: "the primary stack makes it (terraform/iam.tf): apply it"
      - kind: certificate
        name: origin.chat.example.com
        alternative_names: [backend.us-west-2.chat.example.com]
        fix: "the primary stack makes it (terraform/failover.tf): apply it"
    own_addresses: [ollama-nat-0, ollama-nat-1, ollama-nat-2]
  register: prepared

- name: Refuse to rebuild without them
  ansible.builtin.assert:
    that: prepared.missing | length == 0
    fail_msg: "{{ prepared.missing | join('; ') }}"
"""

RETURN = r"""
missing:
  description: Each resource missing or unfit, with its fix.
  returned: always
  type: list
  elements: str
  sample: ["no instance profile ollama-us-west-2-frontend-role (IAM): the primary stack makes it (terraform/iam.tf)"]
unchecked:
  description: Each resource that could not be read, with the reason (a global endpoint not answering, a quota).
  returned: always
  type: list
  elements: str
  sample: ["instance profile ollama-us-west-2-frontend-role could not be checked: the IAM endpoint did not answer"]
found:
  description: What was found, by name (certificate ARN and expiry, entry addresses, record values).
  returned: always
  type: dict
  sample: {"origin.chat.example.com": {"arn": "arn:aws:acm:us-west-2:123456789012:certificate/1", "days_left": 300}}
"""

from datetime import datetime, timezone  # noqa: E402
from typing import Any  # noqa: E402

try:  # the amazon.aws pattern: AnsibleAWSModule reports a missing botocore
    import botocore.config
    from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError
except ImportError:
    pass

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.ollama.platform.plugins.module_utils.aws_preflight import read_quota  # noqa: E402

ARGUMENT_SPEC = {
    "needs": {"type": "list", "elements": "dict", "default": []},
    "own_addresses": {"type": "list", "elements": "str", "default": []},
}
KINDS = ("instance_profile", "role", "kms_alias", "certificate", "elastic_ip", "record", "failover_record")
ADDRESS_QUOTA = ("ec2", "L-0263D0A3")
OLDEST = datetime.min.replace(tzinfo=timezone.utc)  # noqa: UP017 - modules also run on Pythons before 3.11
# A global endpoint that does not answer: fail fast, then report (the primary region, us-east-1, may be down).
GLOBAL_CLIENT_CONFIG = {
    "retries": {"mode": "standard", "total_max_attempts": 2},
    "connect_timeout": 10,
    "read_timeout": 20,
}


class Unreachable(Exception):
    """A global endpoint that did not answer; the message is the reason."""


def _code(exc: Exception) -> str:
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""


def unreachable_reason(exc: Exception) -> str:
    """Why an endpoint could not be reached, or "" when ``exc`` is an answer (an error of the request itself)."""
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= 500:
            message = exc.response.get("Error", {}).get("Message", "")
            return f"HTTP {status} {_code(exc)}".strip() + (f": {message}" if message else "")
    return ""


def _normal(name: str) -> str:
    return name.rstrip(".").lower()


def profile_problem(profile: dict[str, Any] | None, name: str) -> str:
    """What is wrong with an instance profile (None: not found), "" when nothing."""
    if profile is None:
        return f"no instance profile {name} (IAM)"
    roles = [role["RoleName"] for role in profile.get("Roles", [])]
    if name not in roles:
        return f"instance profile {name} holds {roles or 'no role'}, not the role {name} (IAM)"
    return ""


def certificate_problem(
    certificates: list[dict[str, Any]], name: str, alternatives: list[str], region: str
) -> tuple[str, dict[str, Any]]:
    """What is wrong with the certificates of ``name`` (described), as a DR stack's lookup sees them: the most recent
    ISSUED one must also cover ``alternatives``. Returns (problem or "", what was found)."""
    mine = [c for c in certificates if _normal(c.get("DomainName", "")) == _normal(name)]
    if not mine:
        return f"no certificate of {name} in {region} (ACM)", {}
    issued = [c for c in mine if c.get("Status") == "ISSUED"]
    if not issued:
        statuses = sorted({c.get("Status", "?") for c in mine})
        return f"the certificate of {name} in {region} is {', '.join(statuses)}, not ISSUED (ACM)", {}
    newest = max(issued, key=lambda c: c.get("IssuedAt") or c.get("ImportedAt") or OLDEST)
    covered = {_normal(n) for n in newest.get("SubjectAlternativeNames", [])} | {_normal(name)}
    found = {"arn": newest.get("CertificateArn", ""), "days_left": -1}
    if newest.get("NotAfter"):
        found["days_left"] = (newest["NotAfter"] - datetime.now(OLDEST.tzinfo)).days
    uncovered = [n for n in alternatives if _normal(n) not in covered]
    if uncovered:
        return (
            f"the certificate {found['arn']} of {name} in {region} does not cover {', '.join(uncovered)} (ACM)",
            found,
        )
    return "", found


def failover_problem(records: list[dict[str, Any]], name: str, entry_ips: list[str] | None) -> tuple[str, dict]:
    """What is wrong with the failover pair of ``name`` (the zone's A records of that name); ``entry_ips`` are the
    entry addresses found (None: not known). Returns (problem or "", the SECONDARY's addresses)."""
    mine = [r for r in records if _normal(r.get("Name", "")) == _normal(name) and r.get("Type") == "A"]
    roles = {r.get("Failover"): r for r in mine}
    absent = [role for role in ("PRIMARY", "SECONDARY") if role not in roles]
    if absent:
        return f"{name} has no {' and no '.join(absent)} failover record (Route 53)", {}
    answers = sorted(v["Value"] for v in roles["SECONDARY"].get("ResourceRecords", []))
    if entry_ips is not None and answers != sorted(entry_ips):
        return f"the SECONDARY record of {name} answers {answers}, the entry addresses are {sorted(entry_ips)}", {}
    return "", {"secondary": answers}


def _name_tag(resource: dict[str, Any]) -> str:
    return next((t.get("Value", "") for t in resource.get("Tags", []) if t.get("Key") == "Name"), "")


def address_quota_problem(
    allocated: list[dict[str, Any]], own: list[str], quota: float, region: str
) -> tuple[str, dict[str, Any]]:
    """Whether ``quota`` Elastic IPs leave room for the stack's own addresses (``own``: Name tags; an earlier attempt
    may hold some) besides every other address allocated in the region. Returns (problem or "", the counts)."""
    held = sorted(_name_tag(a) for a in allocated if _name_tag(a) in own)
    needed = len(allocated) - len(held) + len(own)
    found = {"allocated": len(allocated), "needed": needed, "quota": quota, "held": held}
    if needed <= quota:
        return "", found
    service, code = ADDRESS_QUOTA
    return (
        f"the EC2-VPC Elastic IPs quota ({service}/{code}) is {quota:g} in {region}, the stack needs {needed} "
        f"({len(allocated) - len(held)} allocated there, {len(own)} of its own): request an increase with `aws "
        f"service-quotas request-service-quota-increase --service-code {service} --quota-code {code} "
        f"--desired-value {needed} --region {region}`",
        found,
    )


class Checker:
    """The reads, one client per service; a global service that did not answer once is not asked again."""

    def __init__(self, module: AnsibleAWSModule) -> None:
        self.module = module
        self.region = module.region
        self.clients: dict[str, Any] = {}
        self.down: dict[str, str] = {}
        self.missing: list[str] = []
        self.unchecked: list[str] = []
        self.found: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self.clients:
            extra = {"config": botocore.config.Config(**GLOBAL_CLIENT_CONFIG)} if service in ("iam", "route53") else {}
            self.clients[service] = self.module.client(service, **extra)
        return self.clients[service]

    def report(self, problem: str, item: dict[str, Any]) -> None:
        if problem:
            self.missing.append(f"{problem}: {item.get('fix', '')}".rstrip(": "))

    def global_read(self, service: str, label: str, item: dict[str, Any], read: Any) -> Any:
        """``read()`` against a global service; raises Unreachable (recorded as unchecked) when it cannot answer."""
        what = f"{item['kind'].replace('_', ' ')} {item['name']}"
        if service in self.down:
            self.unchecked.append(f"{what} could not be checked: {self.down[service]}")
            raise Unreachable(self.down[service])
        try:
            return read()
        except (BotoCoreError, ClientError) as exc:
            reason = unreachable_reason(exc)
            if not reason:
                raise
            self.down[service] = f"the {label} endpoint did not answer ({reason})"
            self.unchecked.append(f"{what} could not be checked: {self.down[service]}")
            raise Unreachable(reason) from exc

    # ------------------------------------------------------------------------------------------------ kinds
    def instance_profile(self, item: dict[str, Any]) -> None:
        iam = self.client("iam")

        def read() -> dict[str, Any] | None:
            try:
                return iam.get_instance_profile(InstanceProfileName=item["name"])["InstanceProfile"]
            except ClientError as exc:
                if _code(exc) == "NoSuchEntity":
                    return None
                raise

        self.report(profile_problem(self.global_read("iam", "IAM", item, read), item["name"]), item)

    def role(self, item: dict[str, Any]) -> None:
        iam = self.client("iam")

        def read() -> bool:
            try:
                iam.get_role(RoleName=item["name"])
                return True
            except ClientError as exc:
                if _code(exc) == "NoSuchEntity":
                    return False
                raise

        if not self.global_read("iam", "IAM", item, read):
            self.report(f"no role {item['name']} (IAM)", item)

    def kms_alias(self, item: dict[str, Any]) -> None:
        kms = self.client("kms")
        try:
            state = kms.describe_key(KeyId=item["name"])["KeyMetadata"].get("KeyState", "Enabled")
        except ClientError as exc:
            if _code(exc) != "NotFoundException":
                raise
            self.report(f"no key {item['name']} in {self.region} (KMS)", item)
            return
        if state != "Enabled":
            self.report(f"the key {item['name']} in {self.region} is {state}, not Enabled (KMS)", item)

    def certificate(self, item: dict[str, Any]) -> None:
        acm = self.client("acm")
        described = []
        for page in acm.get_paginator("list_certificates").paginate():
            for summary in page.get("CertificateSummaryList", []):
                if _normal(summary.get("DomainName", "")) == _normal(item["name"]):
                    described.append(acm.describe_certificate(CertificateArn=summary["CertificateArn"])["Certificate"])
        problem, found = certificate_problem(described, item["name"], item.get("alternative_names", []), self.region)
        self.report(problem, item)
        if found:
            self.found[item["name"]] = found

    def elastic_ips(self, items: list[dict[str, Any]]) -> dict[str, str]:
        """The entry addresses by Name tag (the items missing reported)."""
        if not items:
            return {}
        names = [item["name"] for item in items]
        addresses = self.client("ec2").describe_addresses(Filters=[{"Name": "tag:Name", "Values": names}])["Addresses"]
        held = {_name_tag(a): a.get("PublicIp", "") for a in addresses}
        for item in items:
            if item["name"] in held:
                self.found[item["name"]] = {"public_ip": held[item["name"]]}
            else:
                self.report(f"no Elastic IP tagged Name={item['name']} in {self.region} (EC2)", item)
        return held

    def records(self, item: dict[str, Any]) -> list[dict[str, Any]] | None:
        route53 = self.client("route53")

        def read() -> list[dict[str, Any]] | None:
            try:
                answer = route53.list_resource_record_sets(
                    HostedZoneId=item["zone_id"], StartRecordName=item["name"], StartRecordType="A"
                )
            except ClientError as exc:
                if _code(exc) == "NoSuchHostedZone":
                    return None
                raise
            return answer.get("ResourceRecordSets", [])

        found = self.global_read("route53", "Route 53", item, read)
        if found is None:
            self.report(f"no hosted zone {item['zone_id']} for {item['name']} (Route 53)", item)
        return found

    def record(self, item: dict[str, Any]) -> None:
        found = self.records(item)
        if found is None:
            return
        mine = [r for r in found if _normal(r.get("Name", "")) == _normal(item["name"]) and r.get("Type") == "A"]
        if not mine:
            self.report(f"no A record {item['name']} in hosted zone {item['zone_id']} (Route 53)", item)
        else:
            self.found[item["name"]] = {
                "values": sorted(v["Value"] for r in mine for v in r.get("ResourceRecords", []))
            }

    def failover_record(self, item: dict[str, Any], entry_ips: list[str] | None) -> None:
        found = self.records(item)
        if found is None:
            return
        problem, details = failover_problem(found, item["name"], entry_ips)
        self.report(problem, item)
        if details:
            self.found[item["name"]] = details

    def address_quota(self, own: list[str]) -> None:
        what = f"the Elastic IP quota in {self.region} for {len(own)} address(es) of the stack's own"
        try:
            allocated = self.client("ec2").describe_addresses()["Addresses"]
            quota = read_quota(self.client("service-quotas"), *ADDRESS_QUOTA)[0]
        except (BotoCoreError, ClientError) as exc:
            self.unchecked.append(f"{what} could not be checked: {type(exc).__name__}: {exc}")
            return
        problem, found = address_quota_problem(allocated, own, float(quota.get("Value", 0)), self.region)
        if problem:
            self.missing.append(problem)
        self.found["elastic_ip_quota"] = found


def check(checker: Checker, needs: list[dict[str, Any]], own_addresses: list[str]) -> None:
    by_kind: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for item in needs:
        by_kind[item["kind"]].append(item)
    for kind in ("instance_profile", "role", "kms_alias", "certificate", "record"):
        for item in by_kind[kind]:
            try:
                getattr(checker, kind)(item)
            except Unreachable:
                continue
    held = checker.elastic_ips(by_kind["elastic_ip"])
    entry_ips = [held[i["name"]] for i in by_kind["elastic_ip"] if i["name"] in held]
    complete = len(entry_ips) == len(by_kind["elastic_ip"])
    for item in by_kind["failover_record"]:
        try:
            checker.failover_record(item, entry_ips if complete else None)
        except Unreachable:
            continue
    if own_addresses:
        checker.address_quota(own_addresses)


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    needs, region = module.params["needs"], module.region
    wrong = [item for item in needs if item.get("kind") not in KINDS or not item.get("name")]
    if wrong:
        module.fail_json(msg=f"each need has a name and a kind among {', '.join(KINDS)}: not {wrong}")
    checker = Checker(module)
    try:
        check(checker, needs, module.params["own_addresses"])
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"reading what the primary prepared for a DR stack in {region} failed")
    module.exit_json(changed=False, missing=checker.missing, unchecked=checker.unchecked, found=checker.found)


if __name__ == "__main__":
    main()
