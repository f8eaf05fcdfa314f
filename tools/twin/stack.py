"""The twin's stand-in for ``terraform apply``: what terraform/ creates, created in the AWS emulator with boto3.

Terraform's AWS provider cannot run offline, so this module creates the same resources in the emulator, in the same
layers and from the same settings, and prints the same outputs (a test holds their names to terraform/outputs.tf):

- ``foundation``: network, KMS key, alarm topic, data table, buckets, log groups, secrets, instance roles, the
  public parameter of the OS's image, and the twin's data host (an instance from that image that plays RDS and
  ElastiCache, configured by the twin_data role);
- ``fleet``: per tier the launch template (user data rendered from terraform/templates/user_data.sh.tftpl, image
  from the tier's parameter the bake wrote), target group (port and health check read from terraform/alb.tf by
  tools/target_groups.py), load balancer and listener, Auto Scaling group with its launch lifecycle hook, and the CPU
  alarms; then the scaling terraform/scaling.tf declares (tools/twin/scaling.py): the backend's target tracking
  policy on the in-flight metric and both groups' night stop and morning start;
- ``destroy`` (teardown.yml's stand-in for ``terraform destroy``): every resource of the layers above in the region,
  the groups first (their instances terminate, and the controller removes their containers); a DR stack also the
  table its Terraform imported (``--dr-table``), not the uploads, secrets and images it ran on; a primary also its
  IAM roles and, with ``--dr-region``, what it made in its DR region.
  ``leftovers`` lists what remains of an environment in a region: a teardown's proof.

From there the emulator and the twin's controller (tools/twin/controller.py) take the path AWS takes: the group
launches, the instance configures itself and completes its hook, the target is registered and the proxy serves it.
Get-or-create throughout, so a second run changes nothing.

Check mode (``--check``, what ``terraform plan`` is to the apply) runs the same code and reads the emulator the same
way, but makes no mutating AWS call (its clients refuse any action but Describe*, List* and Get*): each change is
listed and not made. The fleet layer reports what the apply would change on existing resources: a new launch
template version, naming why (the image in the tier's parameter differs from the newest version's ImageId, or the
user data does: which settings of the instance record), a group's capacity, scaling policies and scheduled actions,
and what is missing (groups, lifecycle hooks, target groups, load balancers and listeners, alarms). The foundation
layer reports only what is missing (and a key's rotation or a table's point-in-time recovery that is off), not
settings of resources that exist. A resource check mode would create has no id yet: it stands as
"(known after apply)" in what follows, as in Terraform's plan. The outputs are those the existing resources give,
the last apply's when nothing is missing.

Usage: python -m tools.twin.stack foundation|fleet|destroy --endpoint URL [--region R] [--backend N --frontend N]
       [--dr-mode M --dr-table T] [--dr-region R] [--check]
       (JSON on stdout: {"changed": bool, "changes": [...], "new_versions": {tier: [why]}, "outputs": {...}})
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from filter_plugins.naming import ollama_name, ollama_name_prefix, ollama_tags
from tools import aws_emulator
from tools.dr_stack_needs import (
    SECRET_PURPOSES,
    dr_backend_record_name,
    dr_instance_role_name,
    dr_key_alias,
    origin_record_name,
)
from tools.target_groups import TargetGroup, target_groups
from tools.twin.controller import image_ref, proxy_ports
from tools.twin.proxy import stream_idle_timeout_s
from tools.twin.scaling import Capacity, ScheduledAction, TrackingPolicy, twin_capacity
from tools.twin.scaling import read as read_scaling

ROOT = Path(__file__).resolve().parents[2]
USER_DATA_TEMPLATE = ROOT / "terraform" / "templates" / "user_data.sh.tftpl"
BASE_IMAGE = "localhost/ollama-platform/debian12-cloud:latest"
# Debian's public parameter for its newest official image (the twin registers its own base image under it).
BASE_IMAGE_PARAMETER = "/aws/service/debian/release/12/latest/amd64"
TWIN_ALARM_EMAIL = "ops@example.com"
EMULATOR_ACCOUNT = "123456789012"  # the account the AWS emulator answers for
BASE_IMAGE_NAME = "debian-12-amd64-twin"
# What check mode puts where a resource it would create has no id yet (Terraform's plan says the same).
KNOWN_AFTER_APPLY = "(known after apply)"
# The only API actions check mode sends: reads.
READ_ONLY_ACTION = re.compile(r"^(Describe|List|Get)[A-Z]")


class CheckModeWrite(RuntimeError):
    """Check mode was about to send a mutating API call: a bug in this module, which must record the change
    instead (Stack.applies)."""


def refuse_writes(model: Any, **_: Any) -> None:
    """botocore ``before-call`` handler of check mode's clients: stop any action that is not a read."""
    if not READ_ONLY_ACTION.match(model.name):
        raise CheckModeWrite(
            f"check mode sent {model.service_model.service_name} {model.name}, which changes the emulator: "
            "tools/twin/stack.py must record that change with Stack.applies instead of making it"
        )


def launch_template_differences(current: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Why the apply writes a new launch template version: the newest version's data ``current`` against the data
    the settings give ``wanted`` (LaunchTemplateData), compared on the image and the user data. The user data's
    difference names the settings of the instance record whose lines differ (names only: values may be ARNs), and
    says when the template's other lines do. [] when the newest version has both."""
    differences = []
    if current.get("ImageId") != wanted.get("ImageId"):
        differences.append(f"image {current.get('ImageId') or 'none'} -> {wanted.get('ImageId')}")
    if current.get("UserData") != wanted.get("UserData"):
        old, new = (_user_data_lines(data.get("UserData", "")) for data in (current, wanted))
        before, after = _settings(old), _settings(new)
        keys = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
        parts = [f"{', '.join(keys)} {'differs' if len(keys) == 1 else 'differ'}"] if keys else []
        if [line for line in old if not _SETTING.match(line)] != [line for line in new if not _SETTING.match(line)]:
            parts.append("the template's other lines differ")
        differences.append(f"user data: {'; '.join(parts) or 'the encoding differs'}")
    return differences


_SETTING = re.compile(r"^[A-Z][A-Z0-9_]*=")


def _user_data_lines(encoded: str) -> list[str]:
    try:
        return base64.b64decode(encoded).decode().splitlines()
    except (ValueError, UnicodeDecodeError):
        return [encoded]


def _settings(lines: list[str]) -> dict[str, str]:
    """The instance record's KEY=value lines of a user data script."""
    return dict(line.split("=", 1) for line in lines if _SETTING.match(line))


def capacity_difference(current: Capacity, wanted: Capacity) -> str:
    """What the apply sets on a group whose capacity is ``current``; "" when it is ``wanted``."""
    if current == wanted:
        return ""
    return (
        f"min {wanted.min} max {wanted.max} desired {wanted.desired} "
        f"(now min {current.min} max {current.max} desired {current.desired})"
    )


@dataclass(frozen=True)
class TierSpec:
    """One tier's fleet settings, as terraform/asg.tf sets them; the target group's port and health check are read
    from terraform/alb.tf (terraform_target_group). The deregistration delay is the twin's own: shorter than
    Terraform's (the longest generation plus 30 s), so the twin's drains end sooner."""

    tier: str
    heartbeat_timeout: int
    grace_period: int
    deregistration_delay: int
    scheme: str = "internal"


TIERS = {
    "backend": TierSpec("backend", 900, 600, 120),
    "frontend": TierSpec("frontend", 600, 300, 60, scheme="internet-facing"),
}


@cache
def terraform_target_group(tier: str) -> TargetGroup:
    """The tier's target group (port, health check) as terraform/ declares it with the variables' defaults."""
    return target_groups()[tier]


def render_user_data(instance_env: dict[str, str], template: Path = USER_DATA_TEMPLATE) -> str:
    """Render the launch template's user data the way Terraform's templatefile() does for this template."""
    text = template.read_text()
    lines = "\n".join(f"{key}={value}" for key, value in instance_env.items())
    if "${instance_env}" not in text:
        raise ValueError(f"{template} does not take the variable instance_env: the twin and Terraform disagree")
    return text.replace("${instance_env}", lines).replace("$${", "${").replace("%%{", "%{")


LOG_SOURCES = ("ollama", "open-webui", "nginx", "system", "bootstrap")
TWIN_KEY_PAIR = "ollama-local-twin"  # inventories/local: ami_bake_key_name
# The buckets every stack makes for itself, a DR stack too (the uploads bucket is the primary's, or a replica).
STACK_BUCKETS = {"assets": True, "logs": True, "backups": True, "ssm-transfer": False}  # purpose: versioned


@dataclass
class FleetTier:
    """What the twin created for one tier."""

    asg_name: str
    launch_template: str
    target_group_arn: str
    load_balancer: str
    hook_name: str
    load_balancer_arn: str = ""


class Stack:
    """Emulated resources of the fleet layer for environment ``environment``; with ``check``, only what would
    change (``changes``), read from the emulator by clients that refuse any mutating call."""

    def __init__(
        self, endpoint: str, region: str, environment: str = "local", check: bool = False, dr_mode: str = ""
    ) -> None:
        import boto3

        self.session = boto3.session.Session(region_name=region)
        self.endpoint = endpoint
        self.region = region
        self.environment = environment
        self.prefix = ollama_name_prefix(environment)
        self.check = check
        # A DR stack (playbooks/dr.yml: "drill" or "failover") writes nothing to IAM and adopts the data it is given.
        self.dr_mode = dr_mode
        self.changes: list[str] = []
        # Tier -> why the apply writes (or wrote) a new version of its launch template.
        self.new_versions: dict[str, list[str]] = {}
        self._clients: dict[str, Any] = {}

    def c(self, service: str) -> Any:
        if service not in self._clients:
            client = self.session.client(service, endpoint_url=self.endpoint)
            if self.check:
                client.meta.events.register("before-call", refuse_writes)
            self._clients[service] = client
        return self._clients[service]

    def applies(self, change: str) -> bool:
        """Record ``change``; True when this run makes it, False in check mode (it is reported, not made)."""
        self.changes.append(change)
        return not self.check

    def name(self, purpose: str) -> str:
        return ollama_name(purpose, self.environment)

    def tags(self, **extra: str) -> dict[str, str]:
        return ollama_tags(self.environment, extra, managed_by="twin")

    def tag_list(self, **extra: str) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in self.tags(**extra).items()]

    # -------------------------------------------------------------------------------------------- images
    def base_image(self, podman_image: str = BASE_IMAGE) -> str:
        """Register the twin's cloud image as an AMI behind Debian's public parameter; returns its id.

        An empty ``podman_image`` registers the AMI only (an emulator-only stack, as the integration tests use)."""
        ec2, ssm = self.c("ec2"), self.c("ssm")
        try:
            image_id = ssm.get_parameter(Name=BASE_IMAGE_PARAMETER)["Parameter"]["Value"]
            if ec2.describe_images(ImageIds=[image_id])["Images"]:
                if not self.check:
                    self._tag_container_image(podman_image, image_id)
                return image_id
        except ssm.exceptions.ParameterNotFound:
            pass
        if not self.applies(f"register base image {BASE_IMAGE_NAME} behind {BASE_IMAGE_PARAMETER}"):
            return KNOWN_AFTER_APPLY
        image_id = ec2.register_image(
            Name=BASE_IMAGE_NAME,
            Architecture="x86_64",
            RootDeviceName="/dev/xvda",
            VirtualizationType="hvm",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )["ImageId"]
        aws_emulator.set_public_parameter(self.endpoint, BASE_IMAGE_PARAMETER, image_id, region=self.region)
        self._tag_container_image(podman_image, image_id)
        return image_id

    @staticmethod
    def _tag_container_image(podman_image: str, image_id: str) -> None:
        if not podman_image:
            return
        proc = subprocess.run(["podman", "tag", podman_image, image_ref(image_id)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"podman tag {podman_image} failed ({proc.stderr.strip()}): run 'make testbed' first")

    # -------------------------------------------------------------------------------------------- network
    def network(self, cidr: str) -> tuple[str, list[str]]:
        ec2 = self.c("ec2")
        name = self.name("vpc")
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]
        vpc = vpcs[0]["VpcId"] if vpcs else KNOWN_AFTER_APPLY
        if not vpcs and self.applies(f"create VPC {name}"):
            vpc = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=[self._spec("vpc", Name=name)])["Vpc"]["VpcId"]
        zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
        subnets = []
        for zone, sub in zip(zones, ipaddress.ip_network(cidr).subnets(prefixlen_diff=1), strict=False):
            sname = self.name(f"private-{zone}")
            found = ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": [sname]}])["Subnets"]
            if found:
                subnets.append(found[0]["SubnetId"])
                continue
            if not self.applies(f"create subnet {sname}"):
                subnets.append(KNOWN_AFTER_APPLY)
                continue
            subnets.append(
                ec2.create_subnet(
                    VpcId=vpc,
                    CidrBlock=str(sub),
                    AvailabilityZone=zone,
                    TagSpecifications=[self._spec("subnet", Name=sname)],
                )["Subnet"]["SubnetId"]
            )
        return vpc, subnets

    def _spec(self, kind: str, **extra: str) -> dict[str, Any]:
        return {"ResourceType": kind, "Tags": self.tag_list(**extra)}

    # -------------------------------------------------------------------------------------------- identity
    def instance_profile(self, tier: str) -> str:
        """The tier's instance role and profile (terraform/iam.tf); returns the profile ARN. A DR stack names the
        profile the primary made for its region (IAM's control plane is in us-east-1, which may be the lost region)."""
        if self.dr_mode:
            account = self.c("sts").get_caller_identity()["Account"]
            name = dr_instance_role_name(self.environment, self.region, tier)
            return f"arn:aws:iam::{account}:instance-profile/{name}"
        return self.role(self.name(f"{tier}-role"), profile=True)

    def role(self, name: str, service: str = "ec2.amazonaws.com", profile: bool = False) -> str:
        """A role ``service`` may assume, with an instance profile of the same name when ``profile``; returns the ARN
        of the profile (else of the role). IAM is global: behind the twin's region front, us-east-1's emulator answers
        for it (regions.py)."""
        iam = self.c("iam")
        missing, role_arn, profile_arn = [], "", ""
        try:
            role_arn = iam.get_role(RoleName=name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            missing.append("role")
        if profile:
            try:
                profile_arn = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
            except iam.exceptions.NoSuchEntityException:
                missing.append("instance profile")
        if missing and self.applies(f"create {' and '.join(missing)} {name}"):
            if not role_arn:
                trust = {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
                }
                role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
            if profile and not profile_arn:
                profile_arn = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
                iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        return (profile_arn if profile else role_arn) or KNOWN_AFTER_APPLY

    def key_pair(self, name: str, public_key: str) -> str:
        ec2 = self.c("ec2")
        found = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [name]}])["KeyPairs"]
        if not found and self.applies(f"import key pair {name}"):
            ec2.import_key_pair(KeyName=name, PublicKeyMaterial=public_key.encode())
        return name

    # -------------------------------------------------------------------------------------------- fleet
    def fleet_tier(
        self,
        spec: TierSpec,
        image_id: str,
        instance_env: dict[str, str],
        vpc: str,
        subnets: list[str],
        capacity: Capacity,
    ) -> FleetTier:
        ec2, asg = self.c("ec2"), self.c("autoscaling")
        name = self.name("asg") if spec.tier == "backend" else self.name(f"{spec.tier}-asg")
        hook = f"{name}-launch"
        tg_arn = self.target_group(spec, vpc)
        env = {
            **instance_env,
            "OLLAMA_PLATFORM_ASG_NAME": name,
            "OLLAMA_PLATFORM_LIFECYCLE_HOOK": hook,
            "OLLAMA_PLATFORM_DRAIN_HOOK": f"{name}-drain",
            "OLLAMA_PLATFORM_DRAIN_SECONDS": str(spec.deregistration_delay),
            # As terraform/asg.tf: the frontend restarts out of its target group when a secret rotates.
            **({"OLLAMA_PLATFORM_TARGET_GROUP_ARN": tg_arn} if spec.tier == "frontend" else {}),
        }
        lt_name = self.name(f"{spec.tier}-lt")
        data = {
            "ImageId": image_id,
            "InstanceType": "t3.medium",
            "UserData": base64.b64encode(render_user_data(env).encode()).decode(),
            "IamInstanceProfile": {"Arn": self.instance_profile(spec.tier)},
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
            "TagSpecifications": [
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in self.tags(Role=spec.tier).items()],
                }
            ],
        }
        existing = ec2.describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": [lt_name]}])
        if not existing["LaunchTemplates"]:
            if self.applies(f"create launch template {lt_name}"):
                ec2.create_launch_template(LaunchTemplateName=lt_name, LaunchTemplateData=data)
        else:
            latest = ec2.describe_launch_template_versions(LaunchTemplateName=lt_name, Versions=["$Latest"])
            current = latest["LaunchTemplateVersions"][0]["LaunchTemplateData"]
            differences = launch_template_differences(current, data)
            if differences:
                self.new_versions[spec.tier] = differences
                if self.applies(f"new version of launch template {lt_name}: {'; '.join(differences)}"):
                    version = ec2.create_launch_template_version(LaunchTemplateName=lt_name, LaunchTemplateData=data)
                    number = str(version["LaunchTemplateVersion"]["VersionNumber"])
                    ec2.modify_launch_template(LaunchTemplateName=lt_name, DefaultVersion=number)
        lb, lb_arn = self.load_balancer(spec, subnets, tg_arn)
        groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        if groups:
            current_capacity = Capacity(groups[0]["MinSize"], groups[0]["MaxSize"], groups[0]["DesiredCapacity"])
            hooks = asg.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"]
        else:
            current_capacity, hooks = Capacity(0, capacity.max, 0), []
        if not groups and self.applies(f"create Auto Scaling group {name}"):
            # As terraform/asg.tf: the group is created on a version number and never moved by the stack; a new
            # version reaches the group through the release step's instance refresh (playbooks/release.yml).
            first = ec2.describe_launch_templates(LaunchTemplateNames=[lt_name])["LaunchTemplates"][0]
            asg.create_auto_scaling_group(
                AutoScalingGroupName=name,
                MinSize=current_capacity.min,
                MaxSize=current_capacity.max,
                DesiredCapacity=current_capacity.desired,
                LaunchTemplate={"LaunchTemplateName": lt_name, "Version": str(first["DefaultVersionNumber"])},
                VPCZoneIdentifier=",".join(subnets),
                TargetGroupARNs=[tg_arn],
                HealthCheckType="ELB",
                HealthCheckGracePeriod=spec.grace_period,
                Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in self.tags(Role=spec.tier).items()],
            )
        has_hook = {h["LifecycleHookName"] for h in hooks}
        if hook not in has_hook and self.applies(f"create lifecycle hook {hook}"):
            asg.put_lifecycle_hook(
                AutoScalingGroupName=name,
                LifecycleHookName=hook,
                LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
                HeartbeatTimeout=spec.heartbeat_timeout,
                DefaultResult="ABANDON",
            )
        if f"{name}-drain" not in has_hook and self.applies(f"create lifecycle hook {name}-drain"):
            # The terminating hook ollama-platform-drain completes once the instance's streams ended
            # (terraform/asg.tf: heartbeat = drain bound + 90 s, CONTINUE by default).
            asg.put_lifecycle_hook(
                AutoScalingGroupName=name,
                LifecycleHookName=f"{name}-drain",
                LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
                HeartbeatTimeout=spec.deregistration_delay + 90,
                DefaultResult="CONTINUE",
            )
        difference = capacity_difference(current_capacity, capacity)
        if difference and self.applies(f"set {name} capacity {difference}"):
            asg.update_auto_scaling_group(
                AutoScalingGroupName=name,
                MinSize=capacity.min,
                MaxSize=capacity.max,
                DesiredCapacity=capacity.desired,
            )
        return FleetTier(name, lt_name, tg_arn, lb, hook, lb_arn)

    # -------------------------------------------------------------------------------------------- scaling
    def tracking_policy(self, group: str, policy: TrackingPolicy) -> None:
        """The target tracking policy ``policy`` on ``group``, as PutScalingPolicy leaves it."""
        asg = self.c("autoscaling")
        found = asg.describe_policies(AutoScalingGroupName=group, PolicyNames=[policy.name])["ScalingPolicies"]
        if found and found[0].get("TargetTrackingConfiguration") == policy.configuration():
            return
        if self.applies(f"put target tracking policy {policy.name} on {group}"):
            asg.put_scaling_policy(
                AutoScalingGroupName=group,
                PolicyName=policy.name,
                PolicyType="TargetTrackingScaling",
                TargetTrackingConfiguration=policy.configuration(),
            )

    def scheduled_action(self, group: str, action: ScheduledAction) -> None:
        """The recurring scheduled action ``action`` on ``group``."""
        asg = self.c("autoscaling")
        wanted = action.arguments()
        found = asg.describe_scheduled_actions(AutoScalingGroupName=group, ScheduledActionNames=[action.name])
        current = found["ScheduledUpdateGroupActions"]
        if current and {key: current[0].get(key) for key in wanted} == wanted:
            return
        if self.applies(f"put scheduled action {action.name} ({action.recurrence}) on {group}"):
            asg.put_scheduled_update_group_action(AutoScalingGroupName=group, **wanted)

    def scaling(
        self, tiers: dict[str, FleetTier], policies: tuple[TrackingPolicy, ...], actions: tuple[ScheduledAction, ...]
    ) -> None:
        """The declared policies and scheduled actions on the tiers' groups; undeclared ones of those kinds go, as
        terraform apply removes what the configuration no longer declares."""
        asg = self.c("autoscaling")
        for item in (*policies, *actions):
            if item.tier not in tiers or tiers[item.tier].asg_name != item.group_name:
                twin = tiers[item.tier].asg_name if item.tier in tiers else "none"
                raise RuntimeError(
                    f"{item.address} acts on {item.group_name}, but the twin's {item.tier} group is {twin}: "
                    "terraform/ and the twin's naming (filter_plugins/naming.py) disagree"
                )
        for policy in policies:
            self.tracking_policy(tiers[policy.tier].asg_name, policy)
        for action in actions:
            self.scheduled_action(tiers[action.tier].asg_name, action)
        for fleet_tier in tiers.values():
            group = fleet_tier.asg_name
            declared = {p.name for p in policies if p.group_name == group}
            for found in asg.describe_policies(AutoScalingGroupName=group)["ScalingPolicies"]:
                custom = (found.get("TargetTrackingConfiguration") or {}).get("CustomizedMetricSpecification")
                if (
                    custom
                    and found["PolicyName"] not in declared
                    and self.applies(f"delete policy {found['PolicyName']} from {group}")
                ):
                    asg.delete_policy(AutoScalingGroupName=group, PolicyName=found["PolicyName"])
            declared = {a.name for a in actions if a.group_name == group}
            scheduled = asg.describe_scheduled_actions(AutoScalingGroupName=group)["ScheduledUpdateGroupActions"]
            for found in scheduled:
                gone = found["ScheduledActionName"]
                if gone not in declared and self.applies(f"delete scheduled action {gone} from {group}"):
                    asg.delete_scheduled_action(AutoScalingGroupName=group, ScheduledActionName=gone)

    def target_group(self, spec: TierSpec, vpc: str) -> str:
        elb = self.c("elbv2")
        name = self.name(f"{spec.tier}-tg")
        try:
            return elb.describe_target_groups(Names=[name])["TargetGroups"][0]["TargetGroupArn"]
        except elb.exceptions.TargetGroupNotFoundException:
            pass
        if not self.applies(f"create target group {name}"):
            return KNOWN_AFTER_APPLY
        arn = elb.create_target_group(
            Name=name,
            VpcId=vpc,
            TargetType="instance",
            **terraform_target_group(spec.tier).create_arguments(),
        )["TargetGroups"][0]["TargetGroupArn"]
        elb.modify_target_group_attributes(
            TargetGroupArn=arn,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(spec.deregistration_delay)}],
        )
        return arn

    def load_balancer(self, spec: TierSpec, subnets: list[str], tg_arn: str) -> tuple[str, str]:
        """The tier's load balancer and its listener; returns its name and ARN."""
        elb = self.c("elbv2")
        name = self.name("alb") if spec.scheme == "internet-facing" else self.name("internal-alb")
        try:
            arn = elb.describe_load_balancers(Names=[name])["LoadBalancers"][0]["LoadBalancerArn"]
        except elb.exceptions.LoadBalancerNotFoundException:
            arn = KNOWN_AFTER_APPLY
            if self.applies(f"create load balancer {name}"):
                arn = elb.create_load_balancer(Name=name, Subnets=subnets, Scheme=spec.scheme, Type="application")[
                    "LoadBalancers"
                ][0]["LoadBalancerArn"]
                elb.modify_load_balancer_attributes(
                    LoadBalancerArn=arn,
                    Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": str(stream_idle_timeout_s())}],
                )
        listeners = elb.describe_listeners(LoadBalancerArn=arn)["Listeners"] if arn != KNOWN_AFTER_APPLY else []
        if not listeners and self.applies(f"create listener {name}:80"):
            elb.create_listener(
                LoadBalancerArn=arn,
                Protocol="HTTP",
                Port=80,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
            )
        return name, arn

    # -------------------------------------------------------------------------------------------- foundation
    def kms_key(self) -> str:
        kms = self.c("kms")
        alias = f"alias/{self.prefix}"
        try:
            meta = kms.describe_key(KeyId=alias)["KeyMetadata"]
        except kms.exceptions.NotFoundException:
            if not self.applies(f"create KMS key {alias}"):
                return KNOWN_AFTER_APPLY
            tags = [{"TagKey": k, "TagValue": v} for k, v in self.tags().items()]
            meta = kms.create_key(Description=f"{self.prefix} data", Tags=tags)["KeyMetadata"]
            kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
        rotating = kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"]
        if not rotating and self.applies(f"enable rotation on {alias}"):
            kms.enable_key_rotation(KeyId=meta["KeyId"])
        return meta["Arn"]

    def sns_topic(self, key: str) -> str:
        sns = self.c("sns")
        name = self.name("alarms")
        for page in sns.get_paginator("list_topics").paginate():
            for topic in page["Topics"]:
                if topic["TopicArn"].endswith(f":{name}"):
                    return topic["TopicArn"]
        # With what terraform/monitoring.tf subscribes from alarm_emails (the twin's operator address).
        if not self.applies(f"create SNS topic {name} and subscribe {TWIN_ALARM_EMAIL} to it"):
            return KNOWN_AFTER_APPLY
        arn = sns.create_topic(Name=name, Attributes={"KmsMasterKeyId": key}, Tags=self.tag_list())["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=TWIN_ALARM_EMAIL)
        return arn

    def alarm(self, name: str, asg_name: str, topic: str, threshold: float, comparison: str) -> None:
        cw = self.c("cloudwatch")
        if cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] or not self.applies(f"create alarm {name}"):
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
            Tags=self.tag_list(),
        )

    def release_alarms(self, tiers: dict[str, FleetTier], topic: str) -> None:
        """The alarms a release's instance refresh watches (playbooks/vars/release.yml), as terraform/monitoring.tf
        declares them: the public load balancer's 5xx rate, and each tier's unhealthy targets and p95 latency."""
        cw = self.c("cloudwatch")

        def put(name: str, **alarm: Any) -> None:
            if cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] or not self.applies(f"create alarm {name}"):
                return
            cw.put_metric_alarm(AlarmName=name, AlarmActions=[topic], OKActions=[topic], Tags=self.tag_list(), **alarm)

        suffixes = {tier: _arn_suffix(fleet.load_balancer_arn) for tier, fleet in tiers.items()}
        public = suffixes["frontend"]

        def elb_metric(query_id: str, metric: str) -> dict[str, Any]:
            dimensions = [{"Name": "LoadBalancer", "Value": public}]
            stat = {"Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": metric, "Dimensions": dimensions}}
            return {"Id": query_id, "MetricStat": {**stat, "Period": 60, "Stat": "Sum"}, "ReturnData": False}

        put(
            self.name("alb-5xx-rate"),
            Metrics=[
                {
                    "Id": "rate",
                    "Expression": "100 * (errors_elb + errors_target) / MAX([requests, 1])",
                    "Label": "5xx rate (%)",
                    "ReturnData": True,
                },
                elb_metric("errors_elb", "HTTPCode_ELB_5XX_Count"),
                elb_metric("errors_target", "HTTPCode_Target_5XX_Count"),
                elb_metric("requests", "RequestCount"),
            ],
            EvaluationPeriods=5,
            Threshold=5,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
        )
        for tier, fleet in tiers.items():
            dimensions = [
                {"Name": "TargetGroup", "Value": _arn_suffix(fleet.target_group_arn)},
                {"Name": "LoadBalancer", "Value": suffixes[tier]},
            ]
            common = {"Namespace": "AWS/ApplicationELB", "Dimensions": dimensions, "Period": 60}
            put(
                self.name(f"{tier}-unhealthy-hosts"),
                MetricName="UnHealthyHostCount", Statistic="Maximum", EvaluationPeriods=3, Threshold=0,
                ComparisonOperator="GreaterThanThreshold", **common,
            )  # fmt: skip
            put(
                self.name(f"{tier}-latency-p95"),
                MetricName="TargetResponseTime", ExtendedStatistic="p95", EvaluationPeriods=5,
                Threshold=60 if tier == "backend" else 5, ComparisonOperator="GreaterThanThreshold",
                TreatMissingData="notBreaching", **common,
            )  # fmt: skip

    def table(self, key: str) -> str:
        ddb = self.c("dynamodb")
        name = self.name("data-table")
        try:
            ddb.describe_table(TableName=name)
        except ddb.exceptions.ResourceNotFoundException:
            if not self.applies(f"create DynamoDB table {name}"):
                return name
            ddb.create_table(
                TableName=name,
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                BillingMode="PAY_PER_REQUEST",
                SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key},
                Tags=self.tag_list(),
            )
        pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        status = pitr.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
        if status != "ENABLED" and self.applies(f"enable PITR on {name}"):
            ddb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        return name

    def bucket(self, purpose: str, key: str, versioned: bool = True, name: str = "") -> str:
        """The stack's bucket for ``purpose`` in its region (``name``, or the purpose's name and a random suffix)."""
        s3 = self.c("s3")
        prefix = name or self.name(purpose) + "-"
        # Bucket names are global: ListBuckets shows every region's, so only this region's count.
        existing = [
            b["Name"]
            for b in s3.list_buckets().get("Buckets", [])
            if (b["Name"] == name if name else b["Name"].startswith(prefix))
            and (s3.get_bucket_location(Bucket=b["Name"]).get("LocationConstraint") or "us-east-1") == self.region
        ]
        if existing:
            return sorted(existing)[0]
        name = name or prefix + ("<random suffix>" if self.check else secrets.token_hex(4))
        if not self.applies(f"create bucket {name}"):
            return KNOWN_AFTER_APPLY
        if self.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region})
        if versioned:  # a transfer bucket keeps no old versions of what went through it
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [rule]})
        block = dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        )
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=block)
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": self.tag_list()})
        return name

    def log_group(self, name: str, key: str, days: int = 7) -> None:
        logs = self.c("logs")
        if any(g["logGroupName"] == name for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]):
            return
        if self.applies(f"create log group {name}"):
            logs.create_log_group(logGroupName=name, kmsKeyId=key, tags=self.tags())
            logs.put_retention_policy(logGroupName=name, retentionInDays=days)

    def secret(self, name: str, key: str, value: str) -> str:
        sm = self.c("secretsmanager")
        try:
            return sm.describe_secret(SecretId=name)["ARN"]
        except sm.exceptions.ResourceNotFoundException:
            if not self.applies(f"create secret {name}"):
                return KNOWN_AFTER_APPLY
            return sm.create_secret(Name=name, KmsKeyId=key, SecretString=value, Tags=self.tag_list())["ARN"]

    def data_host(self, subnet: str, image_id: str, key_name: str) -> str:
        """The twin's data host (plays RDS PostgreSQL and ElastiCache Redis); returns its private IP."""
        ec2 = self.c("ec2")
        name = self.name("data")
        found = ec2.describe_instances(
            Filters=[
                {"Name": "tag:Name", "Values": [name]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]},
            ]
        )["Reservations"]
        for reservation in found:
            for inst in reservation["Instances"]:
                return inst["PrivateIpAddress"]
        if not self.applies(f"launch data host {name}"):
            return KNOWN_AFTER_APPLY
        inst = ec2.run_instances(
            ImageId=image_id,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.medium",
            SubnetId=subnet,
            KeyName=key_name,
            MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
            TagSpecifications=[self._spec("instance", Role="data", Name=name)],
        )["Instances"][0]
        return inst["PrivateIpAddress"]

    def parameter(self, name: str) -> str:
        ssm = self.c("ssm")
        try:
            return ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            return ""


def uploads_bucket_name(environment_prefix: str, region: str, replica: bool = False) -> str:
    """The uploads bucket of a region (terraform/uploads.tf; the twin names it without a random suffix):
    ``<prefix>-uploads[-dr]-<account>-<region>``, the replica in the DR region with ``-dr``."""
    return f"{environment_prefix}-uploads{'-dr' if replica else ''}-{EMULATOR_ACCOUNT}-{region}"


def load_balancer_dns_name(stack: Stack) -> str:
    """The public load balancer's DNS name as AWS forms it; Route 53's failover health check targets it."""
    return f"{stack.name('alb')}.{stack.region}.elb.amazonaws.com"


def ami_parameter_name(environment: str, tier: str) -> str:
    """The parameter the bake writes and the tier's launch template reads (terraform/locals.tf)."""
    return f"/ollama/{environment}/{tier}/ami-id"


def foundation(
    stack: Stack,
    cidr: str,
    public_key: str,
    container_image: str = BASE_IMAGE,
    dr_table: str = "",
    dr_bucket: str = "",
) -> dict[str, Any]:
    """Everything the fleet and the bake stand on; returns the Terraform-shaped outputs known at this layer.

    A DR stack (``stack.dr_mode``, built by playbooks/dr.yml in the DR region) creates the regional resources and
    adopts the data the region holds: the table ``dr_table`` and the uploads bucket ``dr_bucket`` (the replicas, or a
    drill's copies) and the replicated secrets; it makes no instance role (the primary made them) and its data host
    is restored from the database's cross-region backup copy (provision.yml)."""
    env = stack.environment
    key = stack.kms_key()
    topic = stack.sns_topic(key)
    vpc, subnets = stack.network(cidr)
    base = stack.base_image(container_image)
    stack.key_pair(TWIN_KEY_PAIR, public_key)
    if stack.dr_mode:
        if not (dr_table and dr_bucket):
            raise RuntimeError("a DR stack runs on the data dr.yml names: pass --dr-table and --dr-bucket")
        stack.c("dynamodb").describe_table(TableName=dr_table)
        stack.c("s3").head_bucket(Bucket=dr_bucket)
        table, uploads = dr_table, dr_bucket
    else:
        for tier in TIERS:
            stack.instance_profile(tier)
        table = stack.table(key)
        uploads = stack.bucket("uploads", key, name=uploads_bucket_name(stack.prefix, stack.region))
    buckets = {purpose: stack.bucket(purpose, key, versioned) for purpose, versioned in STACK_BUCKETS.items()}
    for source in LOG_SOURCES:
        stack.log_group(f"/ollama/{env}/{source}", key)
    token_arn = stack.secret(f"{stack.prefix}/ollama-api-token", key, secrets.token_urlsafe(32))
    webui_arn = stack.secret(f"{stack.prefix}/webui-secret-key", key, secrets.token_urlsafe(32))
    # As on AWS: RDS keeps its master user secret as JSON {username, password}; Redis has an AUTH token secret.
    master = json.dumps({"username": "openwebui", "password": secrets.token_urlsafe(24)})
    db_arn = stack.secret(f"{stack.prefix}/webui-db-master", key, master)
    stack.secret(f"{stack.prefix}/redis-auth-token", key, secrets.token_urlsafe(48))
    admin_arn = stack.secret(f"{stack.prefix}/webui-admin-password", key, secrets.token_urlsafe(24))
    # CloudFront's origin header (terraform/secrets.tf): the twin has no CloudFront, a DR stack still reads its replica.
    stack.secret(f"{stack.prefix}/origin-verify-header", key, secrets.token_urlsafe(30))
    data_ip = stack.data_host(subnets[0], base, TWIN_KEY_PAIR)
    return {
        "ollama_environment": env,
        "ollama_region": stack.region,
        "ollama_dr_region": "",
        "ollama_name_prefix": stack.prefix,
        "ollama_vpc_id": vpc,
        "ollama_private_subnet_ids": subnets,
        "ollama_data_table_name": table,
        "ollama_assets_bucket_name": buckets["assets"],
        "ollama_uploads_bucket_name": uploads,
        "ollama_logs_bucket_name": buckets["logs"],
        "ollama_backups_bucket_name": buckets["backups"],
        "ollama_backups_dr_bucket_name": "",
        "ollama_sns_topic_arn": topic,
        "ollama_api_token_secret_arn": token_arn,
        "ollama_webui_secret_arn": webui_arn,
        "ollama_database_secret_arn": db_arn,
        "ollama_webui_admin_secret_arn": admin_arn,
        "ollama_ssm_transfer_bucket_name": buckets["ssm-transfer"],
        "ollama_database_endpoint": data_ip,
        "ollama_redis_endpoint": data_ip,
        "ollama_ami_parameter_names": {tier: ami_parameter_name(env, tier) for tier in TIERS},
        "ollama_ami_parameter_name": ami_parameter_name(env, "backend"),
        "ollama_log_group_names": {s: f"/ollama/{env}/{s}" for s in LOG_SOURCES},
        "ollama_dashboard_name": "",
        "ollama_backup_vault_name": "",
        "ollama_kms_key_arn": key,
        "ollama_resource_names": {
            "asg": stack.name("asg"),
            "frontend_asg": stack.name("frontend-asg"),
            "data_table": table,
            "sns_topic": stack.name("alarms"),
            "high_cpu_alarm": stack.name("high-cpu"),
            "low_cpu_alarm": stack.name("low-cpu"),
            "kms_alias": f"alias/{stack.prefix}",
            "webui_secret": f"{stack.prefix}/webui-secret-key",
            "api_token_secret": f"{stack.prefix}/ollama-api-token",
            "redis_secret": f"{stack.prefix}/redis-auth-token",
        },
    }


def _arn_suffix(arn: str) -> str:
    """What CloudWatch's load-balancer dimensions take (Terraform's arn_suffix): app/<name>/<id> for a load balancer,
    targetgroup/<name>/<id> for a target group."""
    return arn.split(":", 5)[-1].removeprefix("loadbalancer/")


def instance_settings(
    outputs: dict[str, Any], tier: str, instance_endpoint: str, urls: dict[str, str], admin_email: str = ""
) -> dict[str, str]:
    """What the user data records for a tier: the same keys terraform/asg.tf writes (names and ARNs, no values)."""
    env = outputs["ollama_environment"]
    common = {
        "OLLAMA_PLATFORM_ENVIRONMENT": env,
        "OLLAMA_PLATFORM_REGION": outputs["ollama_region"],
        "OLLAMA_PLATFORM_LOG_PREFIX": f"/ollama/{env}",
        "OLLAMA_API_TOKEN_SECRET_ARN": outputs["ollama_api_token_secret_arn"],
        "OLLAMA_PLATFORM_ROLE": tier,
    }
    if tier == "backend":
        tier_settings = {"OLLAMA_DATA_TABLE": outputs["ollama_data_table_name"]}
    else:
        tier_settings = {
            "OLLAMA_BASE_URL": urls["ollama_internal_api_url"],
            "WEBUI_URL": urls["ollama_service_url"],
            "WEBUI_SECRET_KEY_SECRET_ARN": outputs["ollama_webui_secret_arn"],
            "REDIS_AUTH_SECRET_ARN": outputs["ollama_resource_names"]["redis_secret"],
            "REDIS_HOST": outputs["ollama_redis_endpoint"],
            "DATABASE_HOST": outputs["ollama_database_endpoint"],
            "DATABASE_SECRET_ARN": outputs["ollama_database_secret_arn"],
            "WEBUI_ADMIN_EMAIL": admin_email,
            "WEBUI_ADMIN_PASSWORD_SECRET_ARN": outputs["ollama_webui_admin_secret_arn"],
            "S3_BUCKET_NAME": outputs["ollama_uploads_bucket_name"],
            "S3_KEY_PREFIX": "uploads",
            # The twin's data host serves Redis without TLS (ElastiCache: rediss, the default).
            "REDIS_SCHEME": "redis",
        }
    # The twin's one endpoint setting: the instance code stays endpoint-agnostic (absent on AWS).
    return {**common, **tier_settings, "AWS_ENDPOINT_URL": instance_endpoint}


def fleet(
    stack: Stack,
    outputs: dict[str, Any],
    counts: dict[str, int],
    instance_endpoint: str,
    urls: dict[str, str],
    admin_email: str = "",
    terraform_dir: Path | None = None,
) -> dict[str, Any]:
    """Launch templates, load balancers and groups of both tiers, from the images the bake published, and the
    scaling terraform/ (or ``terraform_dir``) declares for them. Each group's capacity is the twin's
    (tools/twin/scaling.py twin_capacity: min = desired = the tier's count, max one more). Check mode plans a tier
    whose first image the bake has not published yet with the image "(known after apply)"."""
    vpc, subnets = outputs["ollama_vpc_id"], outputs["ollama_private_subnet_ids"]
    capacities = {tier: twin_capacity(counts.get(tier, 1)) for tier in TIERS}
    scaling = read_scaling(capacities, stack.environment, stack.region, terraform_dir)
    created = {}
    for tier, spec in TIERS.items():
        parameter = outputs["ollama_ami_parameter_names"][tier]
        image = stack.parameter(parameter)
        if not image and not stack.check:
            raise RuntimeError(f"no image for the {tier} tier in {parameter}: run playbooks/bake_ami.yml first")
        settings = instance_settings(outputs, tier, instance_endpoint, urls, admin_email)
        created[tier] = stack.fleet_tier(spec, image or KNOWN_AFTER_APPLY, settings, vpc, subnets, capacities[tier])
    topic = outputs["ollama_sns_topic_arn"]
    backend_asg = created["backend"].asg_name
    stack.alarm(stack.name("high-cpu"), backend_asg, topic, 70.0, "GreaterThanOrEqualToThreshold")
    stack.alarm(stack.name("low-cpu"), backend_asg, topic, 20.0, "LessThanOrEqualToThreshold")
    stack.release_alarms(created, topic)
    stack.scaling(created, scaling.policies, scaling.actions)
    return {
        **outputs,
        "ollama_backend_asg_name": created["backend"].asg_name,
        "ollama_frontend_asg_name": created["frontend"].asg_name,
        "ollama_alb_dns_name": urls["ollama_alb_dns_name"],
        "ollama_internal_alb_dns_name": urls["ollama_internal_alb_dns_name"],
        "ollama_internal_api_url": urls["ollama_internal_api_url"],
        "ollama_service_url": urls["ollama_service_url"],
        "ollama_cloudfront_domain_name": "",
        "ollama_cloudfront_distribution_id": "",
    }


def twin_urls(gateway: str, environment: str = "local", region: str = "us-east-1") -> dict[str, str]:
    """Where the twin's load balancers answer: the proxies on the host, reached through the region's twin network."""
    ports = proxy_ports(environment, region)
    public, internal = ports[ollama_name("alb", environment)], ports[ollama_name("internal-alb", environment)]
    return {
        "ollama_alb_dns_name": f"{gateway}:{public}",
        "ollama_internal_alb_dns_name": f"{gateway}:{internal}",
        "ollama_internal_api_url": f"http://{gateway}:{internal}",
        "ollama_service_url": f"http://{gateway}:{public}",
    }


# ------------------------------------------------------------------------------------------------ teardown
def leftovers(stack: Stack, include_global: bool = False, dr_region: str = "") -> list[str]:
    """Every resource of the stack's environment in its region, found by name prefix or Environment tag (what a
    teardown must leave empty); with ``include_global``, its IAM roles and instance profiles too, and the Route 53
    records the primary made for ``dr_region``."""
    env, prefix, found = stack.environment, stack.prefix, []
    owned = prefix + "-"
    ec2, elb, asg = stack.c("ec2"), stack.c("elbv2"), stack.c("autoscaling")
    env_filter = [{"Name": "tag:Environment", "Values": [env]}]

    def named(kind: str, names: list[str]) -> list[str]:
        return [f"{kind} {name}" for name in names if name.startswith(owned)]

    found += named(
        "group", [g["AutoScalingGroupName"] for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]]
    )
    found += named(
        "launch template", [t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]]
    )
    found += named("load balancer", [b["LoadBalancerName"] for b in elb.describe_load_balancers()["LoadBalancers"]])
    found += named("target group", [t["TargetGroupName"] for t in elb.describe_target_groups()["TargetGroups"]])
    alarms = stack.c("cloudwatch").describe_alarms(AlarmNamePrefix=owned)["MetricAlarms"]
    found += [f"alarm {a['AlarmName']}" for a in alarms]
    found += [f"vpc {v['VpcId']}" for v in ec2.describe_vpcs(Filters=env_filter)["Vpcs"]]
    found += [f"subnet {s['SubnetId']}" for s in ec2.describe_subnets(Filters=env_filter)["Subnets"]]
    for reservation in ec2.describe_instances(Filters=env_filter)["Reservations"]:
        found += [f"instance {i['InstanceId']}" for i in reservation["Instances"] if i["State"]["Name"] != "terminated"]
    found += [f"image {i['ImageId']}" for i in ec2.describe_images(Owners=["self"], Filters=env_filter)["Images"]]
    found += [
        f"snapshot {s['SnapshotId']}"
        for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=env_filter)["Snapshots"]
    ]
    found += [f"elastic ip {a['PublicIp']}" for a in ec2.describe_addresses(Filters=env_filter)["Addresses"]]
    pairs = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [TWIN_KEY_PAIR]}])["KeyPairs"]
    found += [f"key pair {k['KeyName']}" for k in pairs if TWIN_KEY_PAIR.startswith(owned)]
    found += [f"table {t}" for t in stack.c("dynamodb").list_tables()["TableNames"] if t.startswith(owned)]
    found += [f"bucket {b}" for b in _region_buckets(stack) if b.startswith(owned)]
    for page in stack.c("secretsmanager").get_paginator("list_secrets").paginate(IncludePlannedDeletion=True):
        found += [f"secret {s['Name']}" for s in page["SecretList"] if s["Name"].startswith(prefix + "/")]
    for page in stack.c("ssm").get_paginator("describe_parameters").paginate():
        found += [f"parameter {p['Name']}" for p in page["Parameters"] if p["Name"].startswith(f"/ollama/{env}/")]
    groups = stack.c("logs").describe_log_groups(logGroupNamePrefix=f"/ollama/{env}/")["logGroups"]
    found += [f"log group {g['logGroupName']}" for g in groups]
    aliases = stack.c("kms").list_aliases()["Aliases"]
    keys = (f"alias/{prefix}", dr_key_alias(env))
    found += [f"kms alias {a['AliasName']}" for a in aliases if a["AliasName"] in keys]
    found += [f"certificate {c['DomainName']}" for c in _certificates(stack)]
    topics = stack.c("sns").list_topics()["Topics"]
    found += [f"topic {t['TopicArn']}" for t in topics if t["TopicArn"].endswith(f":{stack.name('alarms')}")]
    if include_global:
        iam = stack.c("iam")
        found += named("role", [r["RoleName"] for r in iam.list_roles()["Roles"]])
        profiles = iam.list_instance_profiles()["InstanceProfiles"]
        found += named("instance profile", [p["InstanceProfileName"] for p in profiles])
        checks, records = _failover_routing(stack, dr_region)
        found += [f"health check {load_balancer_dns_name(stack)}" for _ in checks]
        found += [f"record {r['Name']} {r.get('Failover', r['Type'])}" for _, r in records]
    return found


def _failover_routing(stack: Stack, dr_region: str) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    """The primary's Route 53 records for its DR region (terraform/failover.tf): the health checks on its load
    balancer and, in the hosted zone of each domain whose origin record uses one, the origin's failover pair and the
    DR backend's record (zone id, record). The hosted zone is not the platform's: it exists before it."""
    route53 = stack.c("route53")
    target = load_balancer_dns_name(stack)
    checks = [
        c["Id"]
        for c in route53.list_health_checks()["HealthChecks"]
        if c["HealthCheckConfig"].get("FullyQualifiedDomainName") == target
    ]
    records: list[tuple[str, dict[str, Any]]] = []
    for zone in route53.list_hosted_zones()["HostedZones"] if checks else []:
        zone_id = zone["Id"].rsplit("/", 1)[-1]
        held = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        origin = origin_record_name("")  # the origin record's name without its domain
        using = [r["Name"].rstrip(".") for r in held if r.get("HealthCheckId") in checks]
        domains = {name.removeprefix(origin) for name in using if name.startswith(origin)}
        names = {origin_record_name(d) for d in domains} | {dr_backend_record_name(dr_region, d) for d in domains}
        records += [(zone_id, r) for r in held if r["Name"].rstrip(".") in names]
    return checks, records


def _region_buckets(stack: Stack) -> list[str]:
    """The buckets in the stack's region (ListBuckets lists every region's)."""
    s3 = stack.c("s3")
    return [
        b["Name"]
        for b in s3.list_buckets().get("Buckets", [])
        if (s3.get_bucket_location(Bucket=b["Name"]).get("LocationConstraint") or "us-east-1") == stack.region
    ]


def _certificates(stack: Stack) -> list[dict[str, Any]]:
    """The stack environment's certificates in its region (tagged, as the DR certificate is)."""
    acm = stack.c("acm")
    found = []
    for summary in acm.list_certificates()["CertificateSummaryList"]:
        tags = acm.list_tags_for_certificate(CertificateArn=summary["CertificateArn"]).get("Tags", [])
        if {"Key": "Environment", "Value": stack.environment} in tags:
            found.append(summary)
    return found


def destroy(stack: Stack, dr_region: str = "", dr_table: str = "") -> list[str]:
    """What ``terraform destroy`` removes, removed from the emulator in the stack's region; returns what went (check
    mode: what would go, removing nothing).

    A DR stack (``stack.dr_mode``) removes what it created and, as its Terraform imported it (terraform/dynamodb.tf),
    the table it ran on (``dr_table``: the replica, or a drill's copy); it leaves the uploads it ran on, the
    replicated secrets and the images: they are the primary's. A primary removes all of its region and its IAM
    roles, and with ``dr_region`` what its Terraform made there (the replicas of the table, the uploads and the
    secrets, the DR key, the certificate, the entry addresses) and, with a domain, its failover records and their
    health check (not the hosted zone, which exists before the platform). What Terraform
    does not own (images, snapshots, parameters, log groups instances made, secrets in their recovery window) is
    teardown.yml's (environment_leftovers); log groups of the stack's own are removed here."""
    ec2, elb, asg, cw = stack.c("ec2"), stack.c("elbv2"), stack.c("autoscaling"), stack.c("cloudwatch")
    owned, env_filter = stack.prefix + "-", [{"Name": "tag:Environment", "Values": [stack.environment]}]
    for group in asg.describe_auto_scaling_groups()["AutoScalingGroups"]:
        name = group["AutoScalingGroupName"]
        if name.startswith(owned) and stack.applies(f"delete Auto Scaling group {name} and its instances"):
            # AWS deletes a group's policies and scheduled actions with it; the emulator keeps them.
            for policy in asg.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]:
                asg.delete_policy(AutoScalingGroupName=name, PolicyName=policy["PolicyName"])
            for action in asg.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]:
                asg.delete_scheduled_action(
                    AutoScalingGroupName=name, ScheduledActionName=action["ScheduledActionName"]
                )
            asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    for reservation in ec2.describe_instances(Filters=env_filter)["Reservations"]:
        for inst in reservation["Instances"]:
            if inst["State"]["Name"] not in ("terminated", "shutting-down") and stack.applies(
                f"terminate instance {inst['InstanceId']}"
            ):
                ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
    alarms = [a["AlarmName"] for a in cw.describe_alarms(AlarmNamePrefix=owned)["MetricAlarms"]]
    if alarms and stack.applies(f"delete alarms {', '.join(alarms)}"):
        cw.delete_alarms(AlarmNames=alarms)
    for balancer in elb.describe_load_balancers()["LoadBalancers"]:
        if balancer["LoadBalancerName"].startswith(owned) and stack.applies(
            f"delete load balancer {balancer['LoadBalancerName']} and its listeners"
        ):
            for listener in elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]:
                elb.delete_listener(ListenerArn=listener["ListenerArn"])
            elb.delete_load_balancer(LoadBalancerArn=balancer["LoadBalancerArn"])
    for group in elb.describe_target_groups()["TargetGroups"]:
        if group["TargetGroupName"].startswith(owned) and stack.applies(
            f"delete target group {group['TargetGroupName']}"
        ):
            elb.delete_target_group(TargetGroupArn=group["TargetGroupArn"])
    for template in ec2.describe_launch_templates()["LaunchTemplates"]:
        if template["LaunchTemplateName"].startswith(owned) and stack.applies(
            f"delete launch template {template['LaunchTemplateName']}"
        ):
            ec2.delete_launch_template(LaunchTemplateId=template["LaunchTemplateId"])
    pairs = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": [TWIN_KEY_PAIR]}])["KeyPairs"]
    if pairs and TWIN_KEY_PAIR.startswith(owned) and stack.applies(f"delete key pair {TWIN_KEY_PAIR}"):
        ec2.delete_key_pair(KeyName=TWIN_KEY_PAIR)
    for subnet in ec2.describe_subnets(Filters=env_filter)["Subnets"]:
        if stack.applies(f"delete subnet {subnet['SubnetId']}"):
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    for vpc in ec2.describe_vpcs(Filters=env_filter)["Vpcs"]:
        if stack.applies(f"delete VPC {vpc['VpcId']}"):
            ec2.delete_vpc(VpcId=vpc["VpcId"])
    own = [stack.name(purpose) + "-" for purpose in STACK_BUCKETS]
    if not stack.dr_mode:
        own.append(uploads_bucket_name(stack.prefix, stack.region))
    for bucket in _region_buckets(stack):
        if bucket.startswith(tuple(own)):
            _delete_bucket(stack, bucket)
    logs = stack.c("logs")
    for group in logs.describe_log_groups(logGroupNamePrefix=f"/ollama/{stack.environment}/")["logGroups"]:
        if stack.applies(f"delete log group {group['logGroupName']}"):
            logs.delete_log_group(logGroupName=group["logGroupName"])
    sns = stack.c("sns")
    for topic in sns.list_topics()["Topics"]:
        arn = topic["TopicArn"]
        if arn.endswith(f":{stack.name('alarms')}") and stack.applies(f"delete topic {arn}"):
            sns.delete_topic(TopicArn=topic["TopicArn"])
    _delete_key(stack, f"alias/{stack.prefix}")
    if stack.dr_mode:  # the replicated secrets are the primary's; the database's master secret is the stack's own
        _delete_secrets(stack, keep=tuple(f"{stack.prefix}/{purpose}" for purpose in SECRET_PURPOSES))
        ddb = stack.c("dynamodb")
        if dr_table in ddb.list_tables()["TableNames"] and stack.applies(f"delete table {dr_table} (imported)"):
            ddb.delete_table(TableName=dr_table)
    else:
        _delete_data(stack)
        _delete_roles(stack)
        if dr_region:
            _delete_failover_routing(stack, dr_region)
            replica = Stack(stack.endpoint, dr_region, stack.environment, check=stack.check)
            _delete_data(replica, replica_of=stack.region)
            _delete_key(replica, dr_key_alias(stack.environment))
            for address in replica.c("ec2").describe_addresses(Filters=env_filter)["Addresses"]:
                if replica.applies(f"release Elastic IP {address['PublicIp']} in {dr_region}"):
                    replica.c("ec2").release_address(AllocationId=address["AllocationId"])
            for certificate in _certificates(replica):
                if replica.applies(f"delete certificate {certificate['DomainName']} in {dr_region}"):
                    replica.c("acm").delete_certificate(CertificateArn=certificate["CertificateArn"])
            stack.changes += replica.changes
    return stack.changes


def _delete_failover_routing(stack: Stack, dr_region: str) -> None:
    route53 = stack.c("route53")
    checks, records = _failover_routing(stack, dr_region)
    for zone_id, record in records:
        if stack.applies(f"delete record {record['Name']} {record.get('Failover', record['Type'])}"):
            change = {"Action": "DELETE", "ResourceRecordSet": record}
            route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [change]})
    for check in checks:
        if stack.applies(f"delete health check {check} on {load_balancer_dns_name(stack)}"):
            route53.delete_health_check(HealthCheckId=check)


def _delete_bucket(stack: Stack, bucket: str) -> None:
    """Empty ``bucket`` (every version and delete marker) and delete it."""
    if stack.applies(f"delete bucket {bucket} and its objects"):
        doomed = stack.session.resource("s3", endpoint_url=stack.endpoint).Bucket(bucket)
        doomed.object_versions.delete()
        doomed.delete()


def _delete_key(stack: Stack, alias: str) -> None:
    """Delete ``alias`` and schedule its key's deletion (the shortest window KMS allows)."""
    kms = stack.c("kms")
    for entry in kms.list_aliases()["Aliases"]:
        if entry["AliasName"] == alias and stack.applies(f"schedule the deletion of KMS key {alias} in {stack.region}"):
            kms.delete_alias(AliasName=alias)
            kms.schedule_key_deletion(KeyId=entry["TargetKeyId"], PendingWindowInDays=7)


def _delete_data(stack: Stack, replica_of: str = "") -> None:
    """The environment's table, uploads bucket and secrets in the stack's region (a DR region's replicas when
    ``replica_of`` names the primary's region)."""
    ddb = stack.c("dynamodb")
    table = stack.name("data-table")
    if table in ddb.list_tables()["TableNames"] and stack.applies(f"delete table {table} in {stack.region}"):
        ddb.delete_table(TableName=table)
    uploads = uploads_bucket_name(stack.prefix, stack.region, replica=bool(replica_of))
    if uploads in _region_buckets(stack):
        _delete_bucket(stack, uploads)
    _delete_secrets(stack)


def _delete_secrets(stack: Stack, keep: tuple[str, ...] = ()) -> None:
    """The environment's secrets in the stack's region but those named ``keep``, without a recovery window (outside
    production, as terraform/secrets.tf sets it)."""
    sm = stack.c("secretsmanager")
    for page in sm.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True):
        for secret in page["SecretList"]:
            name = secret["Name"]
            if (
                name.startswith(stack.prefix + "/")
                and name not in keep
                and stack.applies(f"delete secret {name} in {stack.region}")
            ):
                sm.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)


def _delete_roles(stack: Stack) -> None:
    """The environment's IAM roles and instance profiles (global), the DR region's the primary made included."""
    iam, owned = stack.c("iam"), stack.prefix + "-"
    for profile in iam.list_instance_profiles()["InstanceProfiles"]:
        name = profile["InstanceProfileName"]
        if name.startswith(owned) and stack.applies(f"delete instance profile {name}"):
            for role in profile.get("Roles", []):
                iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
            iam.delete_instance_profile(InstanceProfileName=name)
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        if name.startswith(owned) and stack.applies(f"delete role {name}"):
            for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
            for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
            iam.delete_role(RoleName=name)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("layer", choices=("foundation", "fleet", "destroy"), help="destroy: what terraform destroy removes")
    p.add_argument("--endpoint", required=True, help="the AWS emulator, as the host reaches it")
    p.add_argument("--instance-endpoint", default="", help="the AWS emulator, as instances reach it")
    p.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    p.add_argument("--environment", default="local")
    p.add_argument("--subnet", default="10.213.0.0/16")
    p.add_argument("--public-key", default="", help="file with the SSH public key of the data host")
    p.add_argument("--outputs", default="", help="JSON file of the foundation outputs (fleet layer)")
    p.add_argument("--backend", type=int, default=1)
    p.add_argument("--frontend", type=int, default=2)
    p.add_argument("--webui-admin-email", default="", help="the Open-WebUI admin created at deployment (fleet layer)")
    p.add_argument("--check", action="store_true", help="report what the apply would change; change nothing")
    p.add_argument("--dr-mode", default="", choices=("", "drill", "failover"), help="a DR stack (playbooks/dr.yml)")
    p.add_argument("--dr-table", default="", help="DR stack: the table it runs on (foundation layer, destroy)")
    p.add_argument("--dr-bucket", default="", help="DR stack: the uploads bucket it runs on (foundation layer)")
    p.add_argument("--dr-region", default="", help="destroy: the primary's DR region (its replicas, DR key ...)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import botocore.exceptions

    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    stack = Stack(args.endpoint, args.region, args.environment, check=args.check, dr_mode=args.dr_mode)
    try:
        if args.layer == "destroy":
            outputs: dict[str, Any] = {}
            destroy(stack, args.dr_region, args.dr_table)
        elif args.layer == "foundation":
            public_key = Path(args.public_key).read_text().strip()
            outputs = foundation(stack, args.subnet, public_key, dr_table=args.dr_table, dr_bucket=args.dr_bucket)
        else:
            gateway = str(ipaddress.ip_network(args.subnet).network_address + 1)
            urls = twin_urls(gateway, args.environment, args.region)
            counts = {"backend": args.backend, "frontend": args.frontend}
            base = json.loads(Path(args.outputs).read_text())
            outputs = fleet(stack, base, counts, args.instance_endpoint, urls, args.webui_admin_email)
    except (
        RuntimeError,
        OSError,
        ValueError,
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.ClientError,
    ) as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        return 1
    result = {"changed": bool(stack.changes), "changes": stack.changes, "new_versions": stack.new_versions}
    print(json.dumps({**result, "outputs": outputs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
