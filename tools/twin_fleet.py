#!/usr/bin/env python3
"""Fleet provisioner of the local twin: the one step that stands in for ``terraform apply``.

It creates systemd-booted podman containers that play the EC2 instances, registers matching EC2
instances (same tags, the container's IP as private IP) in the AWS emulator so the ``aws_ec2`` inventory
finds them, and creates the emulated AWS resources Terraform would create (KMS key, SNS topic, alarms,
DynamoDB table, buckets, log groups, secrets, ASGs with target groups). It prints the same outputs as the
Terraform root (``terraform output -json`` shape: name -> value).

Usage:
  tools/twin_fleet.py up     [--backend 1] [--frontend 2] [--data 1]   # idempotent; JSON on stdout
  tools/twin_fleet.py down                                            # removes containers and network
  tools/twin_fleet.py status
Everything else (configure, verify) is the production code path.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = "local"
PREFIX = f"ollama-{ENVIRONMENT}"
CONTAINER_PREFIX = "ollama-twin"
LABEL = "ollama-twin=1"
ROLE_OFFSETS = {"backend": 10, "frontend": 20, "data": 30}
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
LOG_SOURCES = ("ollama", "open-webui", "nginx", "system")


class TwinError(Exception):
    """An error an operator can act on (the message names the fix)."""


@dataclass(frozen=True)
class Node:
    role: str
    index: int
    name: str
    ip: str
    zone: int  # 0 = first subnet/AZ, 1 = second


def plan_nodes(counts: dict[str, int], network: str) -> list[Node]:
    """Place nodes alternately in the two halves of ``network`` (= two AZ subnets)."""
    net = ipaddress.ip_network(network)
    if net.prefixlen > 24:
        raise TwinError(f"twin network {network} is too small: use a /24 or larger (e.g. 10.213.0.0/16)")
    halves = list(net.subnets(prefixlen_diff=1))
    nodes = []
    for role, count in counts.items():
        if count < 0 or count > 9:
            raise TwinError(f"{role} count {count} out of range: use 0-9")
        for i in range(1, count + 1):
            zone = (i - 1) % 2
            ip = halves[zone].network_address + ROLE_OFFSETS[role] + i
            nodes.append(Node(role, i, f"{CONTAINER_PREFIX}-{role}-{i}", str(ip), zone))
    return nodes


# --------------------------------------------------------------------------- podman
def podman(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["podman", *args], input=stdin, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise TwinError(f"podman {' '.join(args[:3])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def ensure_ssh_key(state_dir: Path) -> tuple[Path, str]:
    key = state_dir / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ollama-twin", "-f", str(key)],
            check=True,
            capture_output=True,
        )
    return key, (key.with_suffix(".pub")).read_text().strip()


def ensure_network(name: str, subnet: str, actions: list[str]) -> None:
    if podman("network", "exists", name, check=False).returncode == 0:
        info = json.loads(podman("network", "inspect", name).stdout)[0]
        have = [s.get("subnet") for s in info.get("subnets", [])]
        if subnet not in have:
            raise TwinError(
                f"podman network {name} exists with subnet {have}, expected {subnet}: run tools/twin.sh down first"
            )
        return
    net = ipaddress.ip_network(subnet)
    podman("network", "create", "--subnet", subnet, "--gateway", str(net.network_address + 1), "--label", LABEL, name)
    actions.append(f"create podman network {name} {subnet}")


def container_state(name: str) -> dict[str, Any] | None:
    proc = podman("container", "inspect", name, check=False)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)[0]


def ensure_container(node: Node, image: str, network: str, actions: list[str]) -> None:
    state = container_state(node.name)
    if state is not None:
        ips = [n.get("IPAddress") for n in state.get("NetworkSettings", {}).get("Networks", {}).values()]
        if node.ip not in ips:
            raise TwinError(f"container {node.name} has IP {ips}, expected {node.ip}: run tools/twin.sh down first")
        if not state.get("State", {}).get("Running"):
            podman("start", node.name)
            actions.append(f"start container {node.name}")
        return
    if podman("image", "exists", image, check=False).returncode != 0:
        raise TwinError(f"image {image} not found: run 'make testbed' (tools/testbed.sh) first")
    args = [
        "run", "-d", "--systemd=always", "--name", node.name, "--hostname", node.name,
        "--network", network, "--ip", node.ip, "--label", LABEL, "--label", f"ollama-twin-role={node.role}",
    ]  # fmt: skip
    if Path(CA_BUNDLE).exists():
        args += ["-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"]
    podman(*args, image)
    actions.append(f"create container {node.name} ({node.role}, {node.ip})")


def ensure_authorized_key(node: Node, pubkey: str, actions: list[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        proc = podman("exec", node.name, "cat", "/root/.ssh/authorized_keys", check=False)
        if proc.returncode == 0 and pubkey in proc.stdout.splitlines():
            return
        if proc.returncode in (0, 1):  # container answers; file missing or without the key
            script = "install -d -m 700 /root/.ssh && cat >> /root/.ssh/authorized_keys && chmod 600 /root/.ssh/*"
            podman("exec", "-i", node.name, "sh", "-c", script, stdin=pubkey + "\n")
            actions.append(f"authorize twin SSH key on {node.name}")
            return
        if time.monotonic() > deadline:
            raise TwinError(f"container {node.name} does not answer podman exec: see 'podman logs {node.name}'")
        time.sleep(1)


def wait_for_ssh(node: Node, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((node.ip, 22), timeout=2) as sock:
                if sock.recv(4).startswith(b"SSH"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TwinError(
                f"sshd on {node.name} ({node.ip}:22) does not answer: "
                f"check 'podman exec {node.name} systemctl status ssh'"
            )
        time.sleep(1)


def twin_containers() -> list[str]:
    proc = podman("ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}", check=False)
    return [n for n in proc.stdout.split() if n]


# --------------------------------------------------------------------------- emulated AWS
class Aws:
    """The emulated AWS control plane: get-or-create helpers that record what they changed."""

    def __init__(self, endpoint: str, region: str, actions: list[str]) -> None:
        import boto3  # deferred: `down` and `--help` work without the venv

        self.session = boto3.session.Session(region_name=region)
        self.endpoint = endpoint
        self.region = region
        self.actions = actions
        self._clients: dict[str, Any] = {}

    def c(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint)
        return self._clients[service]

    @staticmethod
    def tags(**extra: str) -> dict[str, str]:
        tags = {"Project": "ollama", "Environment": ENVIRONMENT, "ManagedBy": "twin", "Service": "ollama"}
        tags.update(extra)
        return tags

    def kms_key(self) -> str:
        kms = self.c("kms")
        alias = f"alias/{PREFIX}"
        try:
            meta = kms.describe_key(KeyId=alias)["KeyMetadata"]
        except kms.exceptions.NotFoundException:
            meta = kms.create_key(
                Description=f"{PREFIX} data", Tags=[{"TagKey": k, "TagValue": v} for k, v in self.tags().items()]
            )["KeyMetadata"]
            kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
            self.actions.append(f"create KMS key {alias}")
        if not kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"]:
            kms.enable_key_rotation(KeyId=meta["KeyId"])
            self.actions.append(f"enable rotation on {alias}")
        return meta["Arn"]

    def sns_topic(self, key: str) -> str:
        sns = self.c("sns")
        name = f"{PREFIX}-alarms"
        for page in sns.get_paginator("list_topics").paginate():
            for topic in page["Topics"]:
                if topic["TopicArn"].endswith(f":{name}"):
                    return topic["TopicArn"]
        arn = sns.create_topic(
            Name=name, Attributes={"KmsMasterKeyId": key}, Tags=[{"Key": k, "Value": v} for k, v in self.tags().items()]
        )["TopicArn"]
        self.actions.append(f"create SNS topic {name}")
        return arn

    def network(self, network: str) -> tuple[str, list[str]]:
        ec2 = self.c("ec2")
        name = f"{PREFIX}-vpc"
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]
        if vpcs:
            vpc = vpcs[0]["VpcId"]
        else:
            vpc = ec2.create_vpc(CidrBlock=network, TagSpecifications=[self._spec("vpc", Name=name)])["Vpc"]["VpcId"]
            self.actions.append(f"create VPC {name} {network}")
        zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
        subnets = []
        for i, cidr in enumerate(ipaddress.ip_network(network).subnets(prefixlen_diff=1)):
            sname = f"{PREFIX}-private-{zones[i]}"
            found = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": [sname]}])["Subnets"]
            if found:
                subnets.append(found[0]["SubnetId"])
                continue
            subnets.append(
                ec2.create_subnet(
                    VpcId=vpc,
                    CidrBlock=str(cidr),
                    AvailabilityZone=zones[i],
                    TagSpecifications=[self._spec("subnet", Name=sname)],
                )["Subnet"]["SubnetId"]
            )
            self.actions.append(f"create subnet {sname} {cidr}")
        return vpc, subnets

    def _spec(self, kind: str, **extra: str) -> dict[str, Any]:
        return {"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in self.tags(**extra).items()]}

    def image(self) -> str:
        ec2 = self.c("ec2")
        param = f"/ollama/{ENVIRONMENT}/ami-id"
        ssm = self.c("ssm")
        try:
            return ssm.get_parameter(Name=param)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            pass
        images = ec2.describe_images(Owners=["amazon"])["Images"]
        if not images:
            raise TwinError("the emulator lists no AMI: is it a moto server? (tools/aws_emulator.py status)")
        image = sorted(i["ImageId"] for i in images)[0]
        ssm.put_parameter(Name=param, Value=image, Type="String")
        self.actions.append(f"put SSM parameter {param}")
        return image

    def instance(self, node: Node, subnet: str, image: str) -> str:
        ec2 = self.c("ec2")
        found = ec2.describe_instances(
            Filters=[
                {"Name": "tag:TwinContainer", "Values": [node.name]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]},
            ]
        )["Reservations"]
        for res in found:
            for inst in res["Instances"]:
                if inst.get("PrivateIpAddress") == node.ip:
                    return inst["InstanceId"]
                ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
        inst = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.medium",
            SubnetId=subnet,
            PrivateIpAddress=node.ip,
            TagSpecifications=[
                self._spec(
                    "instance", Role=node.role, Name=f"{PREFIX}-{node.role}-{node.index}", TwinContainer=node.name
                )
            ],
        )["Instances"][0]
        self.actions.append(f"register instance {inst['InstanceId']} for {node.name}")
        return inst["InstanceId"]

    def asg(self, name: str, tier: str, vpc: str, subnets: list[str], image: str, ids: list[str], port: int) -> str:
        asg, ec2, elb = self.c("autoscaling"), self.c("ec2"), self.c("elbv2")
        lt = f"{PREFIX}-{tier}-lt"
        if not ec2.describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": [lt]}])[
            "LaunchTemplates"
        ]:
            ec2.create_launch_template(LaunchTemplateName=lt, LaunchTemplateData={"ImageId": image})
            self.actions.append(f"create launch template {lt}")
        tg_name = f"{PREFIX}-{tier}-tg"
        try:
            tg = elb.describe_target_groups(Names=[tg_name])["TargetGroups"][0]["TargetGroupArn"]
        except elb.exceptions.TargetGroupNotFoundException:
            tg = elb.create_target_group(Name=tg_name, Protocol="HTTP", Port=port, VpcId=vpc)["TargetGroups"][0][
                "TargetGroupArn"
            ]
            self.actions.append(f"create target group {tg_name}")
        groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        if not groups:
            asg.create_auto_scaling_group(
                AutoScalingGroupName=name,
                MinSize=0,
                MaxSize=max(4, len(ids)),
                DesiredCapacity=0,
                LaunchTemplate={"LaunchTemplateName": lt},
                VPCZoneIdentifier=",".join(subnets),
                TargetGroupARNs=[tg],
                Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in self.tags(Role=tier).items()],
            )
            self.actions.append(f"create ASG {name}")
            groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        members = {i["InstanceId"] for i in groups[0].get("Instances", [])}
        missing = [i for i in ids if i not in members]
        if missing:
            asg.attach_instances(AutoScalingGroupName=name, InstanceIds=missing)
            self.actions.append(f"attach {', '.join(missing)} to {name}")
        if groups[0]["MinSize"] != len(ids):
            asg.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=len(ids))
        return tg

    def alarm(self, name: str, asg_name: str, topic: str, threshold: float, comparison: str) -> None:
        cw = self.c("cloudwatch")
        if cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]:
            return
        cw.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/EC2",
            MetricName="CPUUtilization",
            Dimensions=[{"Name": "AutoScalingGroupName", "Value": asg_name}],
            Statistic="Average",
            Period=300,
            EvaluationPeriods=2,
            Threshold=threshold,
            ComparisonOperator=comparison,
            AlarmActions=[topic],
            OKActions=[topic],
            Tags=[{"Key": k, "Value": v} for k, v in self.tags().items()],
        )
        self.actions.append(f"create alarm {name}")

    def table(self, key: str) -> str:
        ddb = self.c("dynamodb")
        name = f"{PREFIX}-data-table"
        try:
            ddb.describe_table(TableName=name)
        except ddb.exceptions.ResourceNotFoundException:
            ddb.create_table(
                TableName=name,
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                BillingMode="PAY_PER_REQUEST",
                SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key},
                Tags=[{"Key": k, "Value": v} for k, v in self.tags().items()],
            )
            self.actions.append(f"create DynamoDB table {name}")
        pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        if pitr.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") != "ENABLED":
            ddb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
            self.actions.append(f"enable PITR on {name}")
        return name

    def bucket(self, purpose: str, key: str) -> str:
        s3 = self.c("s3")
        prefix = f"{PREFIX}-{purpose}-"
        existing = [b["Name"] for b in s3.list_buckets().get("Buckets", []) if b["Name"].startswith(prefix)]
        if existing:
            return sorted(existing)[0]
        name = prefix + secrets.token_hex(4)
        s3.create_bucket(Bucket=name)
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]
            },
        )
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in self.tags().items()]})
        self.actions.append(f"create bucket {name}")
        return name

    def log_group(self, name: str, key: str, days: int = 7) -> None:
        logs = self.c("logs")
        if any(g["logGroupName"] == name for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]):
            return
        logs.create_log_group(logGroupName=name, kmsKeyId=key, tags=self.tags())
        logs.put_retention_policy(logGroupName=name, retentionInDays=days)
        self.actions.append(f"create log group {name}")

    def secret(self, name: str, key: str, value: str) -> str:
        sm = self.c("secretsmanager")
        try:
            return sm.describe_secret(SecretId=name)["ARN"]
        except sm.exceptions.ResourceNotFoundException:
            arn = sm.create_secret(
                Name=name,
                KmsKeyId=key,
                SecretString=value,
                Tags=[{"Key": k, "Value": v} for k, v in self.tags().items()],
            )["ARN"]
            self.actions.append(f"create secret {name}")
            return arn

    def load_balancer(self, subnets: list[str]) -> str:
        elb = self.c("elbv2")
        name = f"{PREFIX}-alb"
        try:
            return elb.describe_load_balancers(Names=[name])["LoadBalancers"][0]["DNSName"]
        except elb.exceptions.LoadBalancerNotFoundException:
            lb = elb.create_load_balancer(Name=name, Subnets=subnets, Scheme="internet-facing", Type="application")
            self.actions.append(f"create load balancer {name}")
            return lb["LoadBalancers"][0]["DNSName"]


def provision_aws(aws: Aws, nodes: list[Node], network: str) -> dict[str, Any]:
    """Create the emulated stack and return Terraform-shaped outputs."""
    key = aws.kms_key()
    topic = aws.sns_topic(key)
    vpc, subnets = aws.network(network)
    image = aws.image()
    ids = {n.name: aws.instance(n, subnets[n.zone], image) for n in nodes}
    by_role = {r: [ids[n.name] for n in nodes if n.role == r] for r in ROLE_OFFSETS}
    backend_asg, frontend_asg = f"{PREFIX}-asg", f"{PREFIX}-frontend-asg"
    if by_role["backend"]:
        aws.asg(backend_asg, "backend", vpc, subnets, image, by_role["backend"], 8000)
    if by_role["frontend"]:
        aws.asg(frontend_asg, "frontend", vpc, subnets, image, by_role["frontend"], 8080)
    aws.alarm(f"{PREFIX}-high-cpu", backend_asg, topic, 70.0, "GreaterThanOrEqualToThreshold")
    aws.alarm(f"{PREFIX}-low-cpu", backend_asg, topic, 20.0, "LessThanOrEqualToThreshold")
    table = aws.table(key)
    buckets = {p: aws.bucket(p, key) for p in ("assets", "logs", "backups")}
    for source in LOG_SOURCES:
        aws.log_group(f"/ollama/{ENVIRONMENT}/{source}", key)
    token_arn = aws.secret(f"{PREFIX}/ollama-api-token", key, secrets.token_urlsafe(32))
    webui_arn = aws.secret(f"{PREFIX}/webui-secret-key", key, secrets.token_urlsafe(32))
    data = [n for n in nodes if n.role == "data"]
    data_ip = data[0].ip if data else ""
    # As on AWS: RDS keeps its master user secret as JSON {username, password}; Redis has an AUTH token secret.
    db_arn = aws.secret(
        f"{PREFIX}/webui-db-master", key, json.dumps({"username": "openwebui", "password": secrets.token_urlsafe(24)})
    )
    redis_arn = aws.secret(f"{PREFIX}/redis-auth-token", key, secrets.token_urlsafe(48))
    alb = aws.load_balancer(subnets)
    return {
        "ollama_alb_dns_name": alb,
        "ollama_cloudfront_domain_name": "",
        "ollama_backend_asg_name": backend_asg,
        "ollama_frontend_asg_name": frontend_asg,
        "ollama_data_table_name": table,
        "ollama_backups_bucket_name": buckets["backups"],
        "ollama_assets_bucket_name": buckets["assets"],
        "ollama_logs_bucket_name": buckets["logs"],
        "ollama_sns_topic_arn": topic,
        "ollama_api_token_secret_arn": token_arn,
        "ollama_webui_secret_arn": webui_arn,
        "ollama_database_secret_arn": db_arn,
        "ollama_database_endpoint": data_ip,
        "ollama_redis_endpoint": data_ip,
        "ollama_redis_secret_arn": redis_arn,
        "ollama_internal_alb_dns_name": "",
        "ollama_service_url": "",
        "ollama_name_prefix": PREFIX,
        "ollama_log_group_names": {s: f"/ollama/{ENVIRONMENT}/{s}" for s in LOG_SOURCES},
        "ollama_ami_parameter_name": f"/ollama/{ENVIRONMENT}/ami-id",
        "ollama_kms_key_arn": key,
        "ollama_region": aws.region,
        "ollama_environment": ENVIRONMENT,
        "ollama_resource_names": {
            "asg": backend_asg,
            "frontend_asg": frontend_asg,
            "data_table": table,
            "sns_topic": f"{PREFIX}-alarms",
            "high_cpu_alarm": f"{PREFIX}-high-cpu",
            "low_cpu_alarm": f"{PREFIX}-low-cpu",
            "kms_alias": f"alias/{PREFIX}",
            "webui_secret": f"{PREFIX}/webui-secret-key",
            "api_token_secret": f"{PREFIX}/ollama-api-token",
            "redis_secret": f"{PREFIX}/redis-auth-token",
        },
    }


# --------------------------------------------------------------------------- commands
def check_prerequisites(endpoint: str) -> None:
    if not shutil.which("podman"):
        raise TwinError("podman not found: run 'make setup' (tools/bootstrap.sh) first")
    conf = os.environ.get("CONTAINERS_CONF")
    if conf and not Path(conf).exists():
        raise TwinError(f"CONTAINERS_CONF={conf} does not exist: run 'make testbed' (tools/testbed.sh) first")
    from urllib.parse import urlparse

    url = urlparse(endpoint)
    try:
        socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=3).close()
    except OSError as exc:
        raise TwinError(f"AWS emulator at {endpoint} is unreachable ({exc}): run 'tools/twin.sh up' first") from exc


def cmd_up(args: argparse.Namespace) -> dict[str, Any]:
    check_prerequisites(args.endpoint)
    actions: list[str] = []
    state_dir = Path(args.state_dir)
    key_path, pubkey = ensure_ssh_key(state_dir)
    nodes = plan_nodes({"backend": args.backend, "frontend": args.frontend, "data": args.data}, args.subnet)
    ensure_network(args.network, args.subnet, actions)
    for node in nodes:
        ensure_container(node, args.image, args.network, actions)
    for node in nodes:
        ensure_authorized_key(node, pubkey, actions)
        wait_for_ssh(node)
    outputs = provision_aws(Aws(args.endpoint, args.region, actions), nodes, args.subnet)
    result = {
        "changed": bool(actions),
        "actions": actions,
        "outputs": outputs,
        "ssh_private_key": str(key_path),
        "nodes": [{"name": n.name, "role": n.role, "ip": n.ip} for n in nodes],
    }
    (state_dir / "outputs.json").write_text(json.dumps(outputs, indent=2) + "\n")
    return result


def cmd_down(args: argparse.Namespace) -> dict[str, Any]:
    actions = []
    names = twin_containers() if shutil.which("podman") else []
    if names:
        podman("rm", "-f", "-t", "5", *names)
        actions += [f"remove container {n}" for n in names]
    if shutil.which("podman") and podman("network", "exists", args.network, check=False).returncode == 0:
        podman("network", "rm", "-f", args.network)
        actions.append(f"remove podman network {args.network}")
    return {"changed": bool(actions), "actions": actions}


def cmd_status(args: argparse.Namespace) -> dict[str, Any]:
    names = twin_containers()
    states = {n: (container_state(n) or {}).get("State", {}).get("Status") for n in names}
    return {"changed": False, "containers": states}


def parse_args(argv: list[str]) -> argparse.Namespace:
    port = os.environ.get("OLLAMA_TWIN_AWS_PORT", "4566")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=("up", "down", "status"))
    p.add_argument("--endpoint", default=os.environ.get("OLLAMA_TWIN_AWS_ENDPOINT", f"http://127.0.0.1:{port}"))
    p.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    p.add_argument("--state-dir", default=str(ROOT / ".cache" / "twin"))
    p.add_argument("--image", default="localhost/ollama-platform/debian12:latest")
    p.add_argument("--network", default="ollama-twin")
    p.add_argument("--subnet", default=os.environ.get("OLLAMA_TWIN_SUBNET", "10.213.0.0/16"))
    p.add_argument("--backend", type=int, default=1)
    p.add_argument("--frontend", type=int, default=2)
    p.add_argument("--data", type=int, default=1)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / ".cache" / "containers.conf"))
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    try:
        result = {"up": cmd_up, "down": cmd_down, "status": cmd_status}[args.command](args)
    except TwinError as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        print(f"twin_fleet: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
