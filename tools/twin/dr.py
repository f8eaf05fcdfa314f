"""The twin's side of disaster recovery: what AWS replicates (emulated), and the stack rebuilt in the DR region.

In the emulator (one per region behind tools/twin/regions.py in the integration tests, one for both regions on the
twin) nothing crosses regions by itself, so ``replicate`` does, once, what AWS does continuously for the platform:
the table's global-table replica (items), S3 replication of the uploads bucket (objects), Secrets Manager replica
regions (values), and the bake's image copy (images and parameters; on the twin the copy runs its source's container
image). The replicas are encrypted with the DR key. It is the emulation the drills stand on and says so; on AWS,
Terraform sets these up and AWS runs them.

``prepare`` stands in for what the primary's Terraform makes in advance for a DR stack, the list of
tools/dr_stack_needs.py (the one playbooks/dr.yml checks): the DR region's instance roles and profiles and the service
roles (IAM, global: the front serves it from us-east-1), the DR key, and with a domain the certificate, the entry
addresses and the Route 53 records. Where the twin cannot take AWS's path it says so here: the certificate is
imported (self-signed) where ACM would issue it after DNS validation, the hosted zone is created (on AWS it exists
before the platform), and the failover pair's PRIMARY answers a documentation address (192.0.2.10) with a health
check on the name of the primary's load balancer, where Terraform aliases the load balancer itself.

``rebuild`` is the emulator-only stand-in for ``terraform apply`` of a DR stack (the integration tests have no
instances to boot): it creates the regional resources with the twin's Stack (KMS key, topic, network, log groups) and
adopts the replicas, making no request to any other region and none to a global service (no IAM: the DR stack's
instance roles are pre-created region-aware by the primary's Terraform). On the twin, site.yml itself rebuilds (the
stack's DR mode, tools/twin/stack.py foundation). Either is removed by tools/twin/stack.py destroy, as any stack.

``backup_copy`` emulates RDS's cross-region copy of the automated backups: a plain SQL dump of the primary's database
taken on its data host's console, written where provision.yml restores a DR stack's database from
(``<twin state>/<DR region>/database-backup-copy.sql``).

``python -m tools.twin.dr prepare --endpoint URL --region DR --primary-region P --settings JSON`` runs ``prepare``;
``replicate`` and ``backup-copy`` take the same regions.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.dr_stack_needs import SECRET_PURPOSES, Settings, dr_key_alias, needs, settings_from_variables
from tools.twin.controller import TWIN_REGIONS, container_name, image_ref
from tools.twin.stack import LOG_SOURCES, ROOT, Stack, load_balancer_dns_name, uploads_bucket_name

TWIN_STATE = ROOT / ".cache" / "twin"
DR_CIDR = TWIN_REGIONS["us-west-2"].subnet  # the twin's DR region
# Where provision.yml restores a DR stack's database from, in <twin state>/<region>/ (the emulated backup copy).
BACKUP_COPY = "database-backup-copy.sql"


def secret_names(prefix: str) -> list[str]:
    """The secrets the primary replicates to the DR region (terraform/secrets.tf, tools/dr_stack_needs.py)."""
    return [f"{prefix}/{purpose}" for purpose in SECRET_PURPOSES]


def replicate(source: Stack, target: Stack) -> dict[str, int]:
    """Emulate AWS's replication of the platform's data from ``source``'s region to ``target``'s; returns counts."""
    counts = {"items": 0, "objects": 0, "secrets": 0, "images": 0}
    # The replicas are encrypted with the DR key the primary made in the target region.
    key = _dr_key(target, dr_key_alias(source.environment))
    table = source.name("data-table")
    src_ddb, dst_ddb = source.c("dynamodb"), target.c("dynamodb")
    try:
        dst_ddb.describe_table(TableName=table)
    except dst_ddb.exceptions.ResourceNotFoundException:
        described = src_ddb.describe_table(TableName=table)["Table"]
        dst_ddb.create_table(
            TableName=table,
            AttributeDefinitions=described["AttributeDefinitions"],
            KeySchema=described["KeySchema"],
            BillingMode="PAY_PER_REQUEST",
            # terraform/dynamodb.tf: the replica is encrypted with a key of its own region.
            SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key},
        )
        dst_ddb.update_continuous_backups(
            TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    for page in src_ddb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            dst_ddb.put_item(TableName=table, Item=item)
            counts["items"] += 1

    src_s3, dst_s3 = source.c("s3"), target.c("s3")
    bucket = uploads_bucket_name(source.prefix, source.region)
    replica = uploads_bucket_name(source.prefix, target.region, replica=True)
    target.bucket("uploads-dr", key, name=replica)  # terraform/uploads.tf uploads_dr_bucket
    target.c("ssm").put_parameter(
        Name=f"/ollama/{source.environment}/dr/uploads-bucket", Value=replica, Type="String", Overwrite=True
    )
    for page in src_s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            body = src_s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            dst_s3.put_object(Bucket=replica, Key=obj["Key"], Body=body)
            counts["objects"] += 1

    src_sm, dst_sm = source.c("secretsmanager"), target.c("secretsmanager")
    for name in secret_names(source.prefix):
        value = src_sm.get_secret_value(SecretId=name)["SecretString"]
        try:
            dst_sm.put_secret_value(SecretId=name, SecretString=value)
        except dst_sm.exceptions.ResourceNotFoundException:
            dst_sm.create_secret(Name=name, SecretString=value, Tags=source.tag_list())
        counts["secrets"] += 1

    src_ec2, dst_ec2 = source.c("ec2"), target.c("ec2")
    for tier in ("backend", "frontend"):
        parameter = f"/ollama/{source.environment}/{tier}/ami-id"
        image_id = source.parameter(parameter)
        if not image_id:
            continue
        image = src_ec2.describe_images(ImageIds=[image_id])["Images"][0]
        copy = dst_ec2.register_image(
            Name=image["Name"],
            RootDeviceName="/dev/xvda",
            TagSpecifications=[
                {"ResourceType": "image", "Tags": source.tag_list(Tier=tier, Role="ollama-ami", SourceAmi=image_id)}
            ],
        )["ImageId"]
        target.c("ssm").put_parameter(Name=parameter, Value=copy, Type="String", Overwrite=True)
        _copy_container_image(image_id, copy)
        counts["images"] += 1
    return counts


def _copy_container_image(source: str, copy: str) -> None:
    """The copy runs what its source runs (CopyImage copies the snapshots): on the twin, the source's container
    image under the copy's name; an emulator-only stack has none."""
    if shutil.which("podman") and subprocess.run(["podman", "image", "exists", image_ref(source)]).returncode == 0:
        Stack._tag_container_image(image_ref(source), copy)


def backup_copy(primary: Stack, destination: Path, database: str = "openwebui") -> int:
    """Dump the database of ``primary``'s data host (the twin's RDS) to ``destination``; returns its size in bytes."""
    found = primary.c("ec2").describe_instances(
        Filters=[
            {"Name": "tag:Name", "Values": [primary.name("data")]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
    )["Reservations"]
    if not found:
        raise RuntimeError(f"no running data host {primary.name('data')} in {primary.region}: deploy the primary first")
    instance_id = found[0]["Instances"][0]["InstanceId"]
    dump = ["runuser", "-u", "postgres", "--", "pg_dump", "--no-owner", "--no-privileges", database]
    proc = subprocess.run(
        ["podman", "exec", container_name(instance_id), *dump], capture_output=True, check=False, timeout=300
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pg_dump on {instance_id} failed: {proc.stderr.decode(errors='replace').strip()}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(proc.stdout)
    destination.chmod(0o600)
    return len(proc.stdout)


def hosted_zone(stack: Stack, domain: str) -> str:
    """The hosted zone of ``domain`` (created when absent: on AWS it exists before the platform); returns its id."""
    route53 = stack.c("route53")
    for zone in route53.list_hosted_zones_by_name(DNSName=domain)["HostedZones"]:
        if zone["Name"].rstrip(".") == domain:
            return zone["Id"].rsplit("/", 1)[-1]
    created = route53.create_hosted_zone(Name=domain, CallerReference=f"twin-{domain}")["HostedZone"]["Id"]
    stack.changes.append(f"create hosted zone {domain}")
    return created.rsplit("/", 1)[-1]


def self_signed_certificate(names: list[str]) -> tuple[bytes, bytes]:
    """(certificate, private key) in PEM for ``names``, RSA 2048 as ACM issues by default, valid 395 days."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=395))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), pem_key


def entry_private_addresses(cidr: str, count: int) -> list[str]:
    """The internal entry's fixed addresses near the end of each private subnet (terraform/failover.tf takes
    cidrhost(<subnet>, -6)); the twin's private subnets are the halves of its network (stack.py)."""
    halves = list(ipaddress.ip_network(cidr).subnets(prefixlen_diff=1))
    return [str(subnet.broadcast_address - 5) for subnet in halves[:count]]


def prepare(primary: Stack, dr: Stack, settings: Settings, dr_cidr: str = DR_CIDR) -> dict[str, int]:
    """Make what the primary's Terraform makes for a DR stack in ``dr``'s region (the list dr.yml checks); returns
    counts by kind. Get-or-create: a second run changes nothing."""
    counts: dict[str, int] = {}
    entry_ips: list[str] = []
    for item in needs(settings)["prepared"]:
        kind, name = item["kind"], item["name"]
        if kind == "instance_profile":
            primary.role(name, item["service"], profile=True)
        elif kind == "role":
            primary.role(name, item["service"])
        elif kind == "kms_alias":
            _dr_key(dr, name)
        elif kind == "certificate":
            _certificate(dr, [name, *item["alternative_names"]])
        elif kind == "elastic_ip":
            entry_ips.append(_address(dr, name))
        elif kind == "failover_record":
            _failover_pair(primary, item["zone_id"], name, entry_ips, settings)
        elif kind == "record":
            values = entry_private_addresses(dr_cidr, settings.az_count)
            _records(primary, item["zone_id"], [{"Name": name, "Type": "A", "TTL": 300, "ResourceRecords": values}])
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _dr_key(dr: Stack, alias: str) -> str:
    """Get or create the DR key ``alias``; returns its ARN."""
    kms = dr.c("kms")
    try:
        return kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
    except kms.exceptions.NotFoundException:
        tags = [{"TagKey": k, "TagValue": v} for k, v in dr.tags().items()]
        key = kms.create_key(Description=f"{dr.prefix}: disaster-recovery copies", Tags=tags)["KeyMetadata"]
        kms.enable_key_rotation(KeyId=key["KeyId"])  # terraform/kms.tf: enable_key_rotation = true
        kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
        dr.changes.append(f"create KMS key {alias} in {dr.region}")
        return key["Arn"]


def _certificate(dr: Stack, names: list[str]) -> None:
    acm = dr.c("acm")
    for page in acm.get_paginator("list_certificates").paginate(CertificateStatuses=["ISSUED"]):
        if any(c["DomainName"] == names[0] for c in page["CertificateSummaryList"]):
            return
    certificate, key = self_signed_certificate(names)
    acm.import_certificate(Certificate=certificate, PrivateKey=key, Tags=dr.tag_list())
    dr.changes.append(f"import a certificate of {', '.join(names)} in {dr.region}")


def _address(dr: Stack, name: str) -> str:
    ec2 = dr.c("ec2")
    found = ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": [name]}])["Addresses"]
    if found:
        return found[0]["PublicIp"]
    spec = {"ResourceType": "elastic-ip", "Tags": dr.tag_list(Name=name)}
    address = ec2.allocate_address(Domain="vpc", TagSpecifications=[spec])
    dr.changes.append(f"allocate Elastic IP {name} in {dr.region}")
    return address["PublicIp"]


def _failover_pair(primary: Stack, zone: str, name: str, entry_ips: list[str], settings: Settings) -> None:
    route53 = primary.c("route53")
    load_balancer = load_balancer_dns_name(primary)
    checks = route53.list_health_checks()["HealthChecks"]
    check = next(
        (c["Id"] for c in checks if c["HealthCheckConfig"].get("FullyQualifiedDomainName") == load_balancer), ""
    )
    if not check:
        config = {"Type": "HTTPS", "FullyQualifiedDomainName": load_balancer, "Port": 443, "ResourcePath": "/health"}
        check = route53.create_health_check(CallerReference=f"twin-{load_balancer}", HealthCheckConfig=config)
        check = check["HealthCheck"]["Id"]
    records = [
        {"Name": name, "Type": "A", "SetIdentifier": settings.primary_region, "Failover": "PRIMARY",
         "HealthCheckId": check, "TTL": 60, "ResourceRecords": ["192.0.2.10"]},
        {"Name": name, "Type": "A", "SetIdentifier": settings.dr_region, "Failover": "SECONDARY", "TTL": 60,
         "ResourceRecords": entry_ips},
    ]  # fmt: skip
    _records(primary, zone, records)


def _records(stack: Stack, zone: str, records: list[dict[str, Any]]) -> None:
    """``records`` (ResourceRecords as plain values) in ``zone``, written when they differ from what it holds."""
    route53 = stack.c("route53")
    wanted = [{**r, "ResourceRecords": [{"Value": v} for v in r["ResourceRecords"]]} for r in records]
    held = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    held = [{**r, "Name": r["Name"].rstrip(".")} for r in held]
    changes = [{"Action": "UPSERT", "ResourceRecordSet": r} for r in wanted if r not in held]
    if changes:
        route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})
        stack.changes += [
            f"write record {c['ResourceRecordSet']['Name']} {c['ResourceRecordSet'].get('Failover', 'A')}"
            for c in changes
        ]


def rebuild(stack: Stack, cidr: str, table: str, bucket: str) -> dict[str, Any]:
    """The DR stack's regional resources, on the data the region holds; returns Terraform-shaped outputs."""
    key = stack.kms_key()
    topic = stack.sns_topic(key)
    vpc, subnets = stack.network(cidr)
    for source in LOG_SOURCES:
        stack.log_group(f"/ollama/{stack.environment}/{source}", key)
    stack.c("dynamodb").describe_table(TableName=table)  # adopted, never created: the replica or the drill's copy
    stack.c("s3").head_bucket(Bucket=bucket)
    secrets = {n: stack.c("secretsmanager").describe_secret(SecretId=n)["ARN"] for n in secret_names(stack.prefix)}
    images = {tier: stack.parameter(f"/ollama/{stack.environment}/{tier}/ami-id") for tier in ("backend", "frontend")}
    missing = [tier for tier, image in images.items() if not image]
    if missing:
        raise RuntimeError(f"no {', '.join(missing)} image in {stack.region}: copy one with bake_ami.yml -e dr_region")
    return {
        "ollama_environment": stack.environment,
        "ollama_region": stack.region,
        "ollama_vpc_id": vpc,
        "ollama_private_subnet_ids": subnets,
        "ollama_data_table_name": table,
        "ollama_uploads_bucket_name": bucket,
        "ollama_sns_topic_arn": topic,
        "ollama_kms_key_arn": key,
        "ollama_secret_arns": secrets,
        "ollama_ami_ids": images,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["rebuild", "prepare", "replicate", "backup-copy"])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--region", required=True, help="the DR region")
    parser.add_argument("--environment", default="local")
    parser.add_argument("--subnet", default=DR_CIDR, help="the DR stack's network (not the primary's)")
    parser.add_argument("--table", default="")
    parser.add_argument("--bucket", default="")
    parser.add_argument("--primary-region", default="us-east-1", help="prepare: the primary's region")
    parser.add_argument("--settings", default="{}", help="prepare: JSON Terraform settings (tools/dr_stack_needs.py)")
    parser.add_argument("--out", type=Path, default=None, help="backup-copy: the dump (default: the twin's place)")
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    stack = Stack(args.endpoint, args.region, args.environment)
    try:
        if args.command == "rebuild":
            result: Any = {"outputs": rebuild(stack, args.subnet, args.table, args.bucket), "changes": stack.changes}
        elif args.command == "prepare":
            primary = Stack(args.endpoint, args.primary_region, args.environment)
            variables = json.loads(args.settings)
            settings = settings_from_variables(
                args.environment, args.primary_region, args.region, "failover", variables
            )
            counts = prepare(primary, stack, settings, args.subnet)
            result = {"prepared": counts, "changes": primary.changes + stack.changes}
        elif args.command == "replicate":
            result = {"replicated": replicate(Stack(args.endpoint, args.primary_region, args.environment), stack)}
        else:
            out = args.out or TWIN_STATE / args.region / BACKUP_COPY
            primary = Stack(args.endpoint, args.primary_region, args.environment)
            result = {"backup_copy": str(out), "bytes": backup_copy(primary, out)}
    except Exception as exc:  # noqa: BLE001 - any AWS or input error is reported as JSON for the playbook
        print(json.dumps({"failed": True, "msg": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
