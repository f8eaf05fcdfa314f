"""The twin's hypervisor and Auto Scaling data plane: emulator instances become systemd-booted containers.

AWS runs an instance from an image and hands it its metadata; Auto Scaling launches, waits on lifecycle hooks and
replaces what fails. The AWS emulator (tools/aws_emulator.py) keeps the control-plane state of all that; this
controller plays the part that runs machines:

- every EC2 instance of the emulator whose image has a container image (``localhost/ollama-platform/ami:<ami-id>``)
  runs as a container with the instance's private IP on the twin network; stopped instances are stopped containers,
  terminated ones are removed; an instance EC2 stopped and started between two looks (its LaunchTime, "the time that
  the instance was last launched", later than the one its container booted for) boots again;
- each container gets its metadata (IMDSv2, user data, role credentials, target lifecycle state) from the twin's
  metadata double, which cloud-init and the AWS SDKs inside are pointed at explicitly; the link-local metadata
  address is made unreachable inside every container. The role credentials are the role's own
  (tools/twin/imds.py ``role_credentials``: an access key per instance role), so the emulator's record of the calls
  (``/_emulator/calls``) tells which role made each;
- an image that the emulator reports ``pending`` after CreateImage is committed from its source instance's container,
  then marked ``available``; a copy (CopyImage) runs its source's container image;
- a terminated instance's console output (systemd and the bootstrap write to the console) is kept in
  ``<state dir>/console/<instance-id>.log``, as AWS keeps it for GetConsoleOutput;
- a container that dies while its instance runs makes the instance unhealthy (the group replaces it), as does a
  target whose health checks failed after the group's health check grace period (groups with the ELB check);
- the load balancers are HAProxy, rendered from the emulator's target groups (tools/twin/proxy.py) every second
  by a thread of their own, as an ALB's data plane follows registrations whatever EC2 is doing; what their health
  checks find is reported to the emulator, whose DescribeTargetHealth answers it (a new target ``initial`` until
  it passed its checks, ``unhealthy`` once it failed them);
- one controller plays one region (``--region``, TWIN_REGIONS): its containers carry the label
  ``ollama-twin-region``, and it never touches another region's.

Lifecycle hooks, their timeouts and target registration are the emulator's (AWS's control plane); the controller
never completes a lifecycle action itself: the instance does, from its own bootstrap.

Usage: python -m tools.twin.controller run --endpoint URL --state-dir DIR [--region R --network NAME --subnet CIDR ...]
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import aws_emulator
from tools.twin.imds import InstanceRecord, MetadataServer, Registry, mac_for_ip

LOG = logging.getLogger("twin.controller")
IMAGE_REPOSITORY = "localhost/ollama-platform/ami"
LABEL = "ollama-twin=1"
CONTAINER_PREFIX = "ollama-twin-"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# Never contacted: made unreachable inside every container (AWS's link-local metadata address).
LINK_LOCAL_METADATA = "169.254.169.254/32"
# Host port of each load balancer's proxy, by the load balancer's purpose (terraform/alb.tf: "alb", "internal-alb").
LOAD_BALANCER_PORTS = {"alb": 18080, "internal-alb": 18000}


@dataclass(frozen=True)
class TwinRegion:
    """Where the twin plays one region: its VPC's podman network, its metadata double's port and how far above
    LOAD_BALANCER_PORTS its load balancers answer."""

    network: str
    subnet: str
    metadata_port: int
    port_offset: int


# The twin's two regions, each served by its own controller (tools/twin.sh): the primary, and the DR region that
# playbooks/dr.yml rebuilds in while the primary is down (reached through the region front, tools/twin/regions.py).
TWIN_REGIONS = {
    "us-east-1": TwinRegion("ollama-twin", "10.213.0.0/16", 1338, 0),
    "us-west-2": TwinRegion("ollama-twin-us-west-2", "10.214.0.0/16", 1339, 100),
}


class ControllerError(RuntimeError):
    """A problem the operator can fix; the message says how."""


def proxy_ports(environment: str = "local", region: str = "us-east-1") -> dict[str, int]:
    """Host port of each of the environment's load balancers in ``region``, by load balancer name."""
    from filter_plugins.naming import ollama_name

    offset = twin_region(region).port_offset
    return {ollama_name(purpose, environment): port + offset for purpose, port in LOAD_BALANCER_PORTS.items()}


def twin_region(region: str) -> TwinRegion:
    if region not in TWIN_REGIONS:
        raise ControllerError(f"the twin plays regions {', '.join(TWIN_REGIONS)}, not {region}")
    return TWIN_REGIONS[region]


def image_ref(image_id: str) -> str:
    """The container image that plays AMI ``image_id``."""
    return f"{IMAGE_REPOSITORY}:{image_id}"


def container_name(instance_id: str) -> str:
    return f"{CONTAINER_PREFIX}{instance_id}"


def hostname_for(ip: str) -> str:
    """EC2's resource name for a private IP (ip-10-0-0-12)."""
    return "ip-" + ip.replace(".", "-")


def target_lifecycle_state(lifecycle_state: str) -> str:
    """What ``autoscaling/target-lifecycle-state`` shows for an instance's current Auto Scaling lifecycle state.

    AWS documents the target state: ``InService`` while the launch hook waits, ``Warmed:<state>`` for warm-pool
    instances, ``Terminated`` once termination starts; no value outside a group.
    """
    if not lifecycle_state:
        return ""
    if lifecycle_state.startswith("Warmed:"):
        parts = lifecycle_state.split(":")
        return "Warmed:" + (parts[1] if parts[1] not in ("Pending", "Terminating") else "Stopped")
    if lifecycle_state.startswith("Terminating") or lifecycle_state == "Terminated":
        return "Terminated"
    if lifecycle_state in ("Detaching", "Detached"):
        return "Detached"
    if lifecycle_state.startswith("Standby") or lifecycle_state.startswith("EnteringStandby"):
        return "Standby"
    return "InService"


@dataclass
class Instance:
    """What the controller needs of one emulator instance."""

    instance_id: str
    state: str
    private_ip: str
    image_id: str
    instance_type: str
    availability_zone: str
    key_name: str = ""
    profile_arn: str = ""
    group: str = ""
    lifecycle_state: str = ""
    launch_time: float = 0.0
    tags: dict[str, str] = field(default_factory=dict)


class Podman:
    """The few podman calls the controller makes, on the containers of one region (label ``ollama-twin-region``):
    a twin serves two regions, each with its own controller."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region

    def __call__(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        try:
            proc = subprocess.run(["podman", *args], capture_output=True, text=True, check=False, timeout=timeout)
        except subprocess.TimeoutExpired as exc:  # a hung call must not stop every later launch
            raise ControllerError(f"podman {' '.join(args[:3])} did not finish in {timeout:.0f} s") from exc
        if check and proc.returncode != 0:
            raise ControllerError(f"podman {' '.join(args[:3])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def containers(self) -> dict[str, dict[str, Any]]:
        """Twin instance containers by instance id: {running, pid, name}."""
        out = self(
            "ps", "-a", "--filter", f"label={LABEL}", "--filter", "label=ollama-twin-instance",
            "--filter", f"label=ollama-twin-region={self.region}", "--format", "json",
        )  # fmt: skip
        result = {}
        for item in json.loads(out.stdout or "[]"):
            labels = item.get("Labels") or {}
            instance_id = labels.get("ollama-twin-instance")
            if instance_id:
                result[instance_id] = {"running": item.get("State") == "running", "name": item["Names"][0]}
        return result

    def image_exists(self, ref: str) -> bool:
        return self("image", "exists", ref, check=False).returncode == 0


class FleetProxy:
    """The emulator's load balancers served by HAProxy (tools/twin/proxy.py), rendered again on every change."""

    def __init__(self, elbv2: Any, ec2: Any, state_dir: Path, port_map: dict[str, int], time_scale: float) -> None:
        from tools.twin.proxy import Proxy

        if time_scale <= 0:
            raise ControllerError(f"time scale {time_scale} must be positive: 0.2 runs AWS's timers 5x faster")
        self.elbv2, self.ec2 = elbv2, ec2
        self.port_map = port_map
        self.time_scale = time_scale
        self.proxy = Proxy(state_dir / "proxy" / "haproxy.cfg", state_dir / "proxy" / "haproxy.pid")
        self._arns: dict[str, str] = {}  # target group name -> ARN, as the last sync read them

    def sync(self) -> bool:
        from tools.twin.proxy import read_state

        # Every address: the twin network's gateway address exists only while a container runs.
        every = ("0.0.0.0",)  # noqa: S104
        # The proxy's time scale is a speed (10 checks 10x faster); the twin's multiplies AWS's timers (0.2).
        speed = 1 / self.time_scale
        state = read_state(self.elbv2, self.ec2, self.port_map, bind_addresses=every, time_scale=speed)
        self._arns = {backend.name: backend.arn for backend in state.backends}
        if not state.frontends:  # no load balancer yet, or none any more (its stack was destroyed)
            if not self.proxy.pids():
                return False
            self.proxy.stop()
            return True
        return self.proxy.apply(self.proxy.render(state))

    def targets(self) -> dict[str, list[str]]:
        """The servers of each target group in the proxy's configuration (instance ids); none while no proxy runs."""
        if not self.proxy.pids():
            return {}
        return {backend: sorted(servers) for backend, servers in self.proxy.server_states().items()}

    def target_health(self) -> dict[str, dict[str, str]] | None:
        """Per target group ARN, per instance id: the health HAProxy's checks found (healthy, unhealthy, initial;
        tools/twin/proxy.py), every group of the last sync listed; None while it cannot say (reloading in the
        follower's thread)."""
        from tools.twin.proxy import ProxyError

        if not self.proxy.pids():
            return {}
        try:
            health = self.proxy.target_health()
        except ProxyError:
            return None
        return {arn: health.get(name, {}) for name, arn in self._arns.items() if arn}

    def down_targets(self) -> set[str] | None:
        """The targets whose health checks failed (``unhealthy``; ``initial`` ones are not down); None while the
        proxy cannot say."""
        health = self.target_health()
        if health is None:
            return None
        return {target for targets in health.values() for target, state in targets.items() if state == "unhealthy"}

    def stop(self) -> None:
        self.proxy.stop()


class Controller:
    """Reconciles the emulator's instances, images and load balancers with containers and HAProxy."""

    def __init__(
        self,
        endpoint: str,
        region: str,
        state_dir: Path,
        network: str,
        subnet: str,
        registry: Registry,
        metadata_url: str,
        proxy: Any = None,
        time_scale: float = 1.0,
    ) -> None:
        import boto3  # deferred: --help works without the venv

        session = boto3.session.Session(region_name=region)
        self.ec2 = session.client("ec2", endpoint_url=endpoint)
        self.asg = session.client("autoscaling", endpoint_url=endpoint)
        self.iam = session.client("iam", endpoint_url=endpoint)
        self.elbv2 = session.client("elbv2", endpoint_url=endpoint)
        self.endpoint = endpoint
        self.region = region
        self.state_dir = state_dir
        self.network = network
        self.subnet = ipaddress.ip_network(subnet)
        self.registry = registry
        self.metadata_url = metadata_url
        self.proxy = proxy
        self.time_scale = time_scale
        self.podman = Podman(region)
        self.events: list[dict[str, Any]] = []
        self._role_names: dict[str, str] = {}
        self._template_profiles: dict[str, str] = {}
        self._down_since: dict[str, float] = {}
        self._stopped: set[str] = set()  # instances EC2 stopped (their containers are started again, not replaced)
        # The EC2 LaunchTime each container booted for: a later one means EC2 stopped and started the instance
        # between two looks (a warm-pool instance taken by scale-out just after it rested), so its machine reboots.
        self._booted_for: dict[str, float] = {}
        self._copies_seen: set[str] = set()  # copied AMIs already given their source's container image
        self._write_instance_config()

    # ------------------------------------------------------------------------------------------------ reading
    def instances(self) -> list[Instance]:
        lifecycle: dict[str, tuple[str, str]] = {}
        for page in self.asg.get_paginator("describe_auto_scaling_instances").paginate():
            for item in page["AutoScalingInstances"]:
                lifecycle[item["InstanceId"]] = (item["AutoScalingGroupName"], item["LifecycleState"])
        result = []
        for page in self.ec2.get_paginator("describe_instances").paginate():
            for reservation in page["Reservations"]:
                for raw in reservation["Instances"]:
                    group, state = lifecycle.get(raw["InstanceId"], ("", ""))
                    tags = {t["Key"]: t["Value"] for t in raw.get("Tags", [])}
                    profile = raw.get("IamInstanceProfile", {}).get("Arn", "") or self.template_profile(tags)
                    result.append(
                        Instance(
                            instance_id=raw["InstanceId"],
                            state=raw["State"]["Name"],
                            private_ip=raw.get("PrivateIpAddress", ""),
                            image_id=raw["ImageId"],
                            instance_type=raw.get("InstanceType", "t3.medium"),
                            availability_zone=raw.get("Placement", {}).get("AvailabilityZone", f"{self.region}a"),
                            key_name=raw.get("KeyName", ""),
                            profile_arn=profile,
                            group=group,
                            lifecycle_state=state,
                            launch_time=raw["LaunchTime"].timestamp() if raw.get("LaunchTime") else time.time(),
                            tags=tags,
                        )
                    )
        return result

    def template_profile(self, tags: dict[str, str]) -> str:
        """The instance profile of the launch template version an instance was launched from (the emulator does not
        copy it onto the instance, AWS does)."""
        template, version = tags.get("aws:ec2launchtemplate:id", ""), tags.get("aws:ec2launchtemplate:version", "")
        if not template or not version:
            return ""
        key = f"{template}:{version}"
        if key not in self._template_profiles:
            try:
                data = self.ec2.describe_launch_template_versions(LaunchTemplateId=template, Versions=[version])
            except self.ec2.exceptions.ClientError as exc:  # deleted after the launch (the instance is terminating)
                LOG.warning("no launch template %s for an instance: %s", key, exc)
                self._template_profiles[key] = ""
                return ""
            profile = data["LaunchTemplateVersions"][0]["LaunchTemplateData"].get("IamInstanceProfile", {})
            self._template_profiles[key] = profile.get("Arn", "") or (
                f"arn:aws:iam::123456789012:instance-profile/{profile['Name']}" if profile.get("Name") else ""
            )
        return self._template_profiles[key]

    def user_data(self, instance_id: str) -> bytes:
        value = self.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
        encoded = value.get("UserData", {}).get("Value", "")
        return base64.b64decode(encoded) if encoded else b""

    def role_name(self, profile_arn: str) -> str:
        if not profile_arn:
            return ""
        if profile_arn not in self._role_names:
            name = profile_arn.rsplit("/", 1)[-1]
            try:
                roles = self.iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
                self._role_names[profile_arn] = roles[0]["RoleName"] if roles else ""
            except self.iam.exceptions.NoSuchEntityException:
                self._role_names[profile_arn] = ""
        return self._role_names[profile_arn]

    def public_keys(self, key_name: str) -> dict[str, str]:
        if not key_name:
            return {}
        pairs = self.ec2.describe_key_pairs(KeyNames=[key_name], IncludePublicKey=True)["KeyPairs"]
        return {key_name: pairs[0]["PublicKey"].strip()} if pairs and pairs[0].get("PublicKey") else {}

    # ------------------------------------------------------------------------------------------------ containers
    def _write_instance_config(self) -> None:
        """Files the hypervisor hands every container: where metadata and the AWS endpoint are."""
        conf = self.state_dir / "instance"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "99-twin-metadata.cfg").write_text(
            "# The twin's metadata double (never the link-local address).\n"
            "datasource_list: [Ec2, None]\n"
            "datasource:\n"
            "  Ec2:\n"
            "    strict_id: false\n"
            "    timeout: 5\n"
            "    max_wait: 30\n"
            f"    metadata_urls: ['{self.metadata_url}']\n"
            "network:\n"
            "  config: disabled\n"
        )
        (conf / "twin-metadata.conf").write_text(
            "[Manager]\n"
            f"DefaultEnvironment=AWS_EC2_METADATA_SERVICE_ENDPOINT={self.metadata_url}/ "
            f"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv4\n"
        )

    def launch_container(self, inst: Instance) -> None:
        ref = image_ref(inst.image_id)
        if not self.podman.image_exists(ref):
            LOG.warning("instance %s: image %s has no container image %s yet", inst.instance_id, inst.image_id, ref)
            return
        if ipaddress.ip_address(inst.private_ip) not in self.subnet:
            raise ControllerError(
                f"instance {inst.instance_id} has IP {inst.private_ip} outside the twin network {self.subnet}: "
                "create the twin's subnets inside it (tools/twin.sh down, then up)"
            )
        conf = self.state_dir / "instance"
        name = container_name(inst.instance_id)
        self.podman("rm", "-f", name, check=False)
        args = [
            "run", "-d", "--tty", "--systemd=always", "--name", name, "--hostname", hostname_for(inst.private_ip),
            "--network", self.network, "--ip", inst.private_ip, "--mac-address", mac_for_ip(inst.private_ip),
            "--label", LABEL, "--label", f"ollama-twin-instance={inst.instance_id}",
            "--label", f"ollama-twin-role={inst.tags.get('Role', '')}", "--label", f"ollama-twin-region={self.region}",
            "-v", f"{conf / '99-twin-metadata.cfg'}:/etc/cloud/cloud.cfg.d/99-twin-metadata.cfg:ro",
            "-v", f"{conf / 'twin-metadata.conf'}:/etc/systemd/system.conf.d/twin-metadata.conf:ro",
        ]  # fmt: skip
        if Path(CA_BUNDLE).exists():
            args += ["-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"]
        if inst.tags.get("Role") != "data":
            # The product's hosts (fleet and builders): their systemd builds a mount namespace for each sandboxed
            # service (ProtectSystem=, DynamicUser=) as on EC2; without CAP_SYS_ADMIN it silently skips most
            # sandboxing and refuses DynamicUser=. The data host plays managed services (RDS, ElastiCache) and keeps
            # podman's default capabilities: Debian's redis-server unit does not start with its sandboxing applied.
            args += ["--cap-add", "SYS_ADMIN"]
        try:
            self.podman(*args, ref)
        except ControllerError:
            self.podman("rm", "-f", name, check=False)  # retried at the next pass
            raise
        self.block_link_local(name)
        self._booted_for[inst.instance_id] = inst.launch_time
        self.record("launch", inst.instance_id, image=inst.image_id, ip=inst.private_ip, group=inst.group)

    def block_link_local(self, name: str) -> None:
        """Make the link-local metadata address unreachable inside the container's network namespace."""
        pid = self.podman("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
        proc = subprocess.run(
            ["nsenter", "-t", pid, "-n", "ip", "route", "replace", "prohibit", LINK_LOCAL_METADATA],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            self.podman("rm", "-f", name, check=False)
            raise ControllerError(f"cannot block the link-local metadata address in {name}: {proc.stderr.strip()}")

    def save_console(self, instance_id: str, name: str) -> None:
        """Keep a terminated instance's console output (AWS keeps it for GetConsoleOutput after termination): the
        container's terminal is its console."""
        folder = self.state_dir / "console"
        folder.mkdir(exist_ok=True)
        output = self.podman("logs", name, check=False)
        (folder / f"{instance_id}.log").write_text(output.stdout + output.stderr)

    def metadata_record(self, inst: Instance) -> InstanceRecord:
        return InstanceRecord(
            instance_id=inst.instance_id,
            private_ip=inst.private_ip,
            region=self.region,
            availability_zone=inst.availability_zone,
            image_id=inst.image_id,
            instance_type=inst.instance_type,
            user_data=self.user_data(inst.instance_id),
            iam_role_name=self.role_name(inst.profile_arn),
            lifecycle_state=target_lifecycle_state(inst.lifecycle_state),
            tags=inst.tags,
            public_keys=self.public_keys(inst.key_name),
            # cloud-init 22.4 asks for a token only where it identifies AWS from DMI or the hypervisor UUID, which a
            # container has neither of: the twin's one IMDS difference (the bootstrap and the SDKs use tokens).
            http_tokens="optional",
        )

    # ------------------------------------------------------------------------------------------------ images
    def commit_pending_images(self, containers: dict[str, dict[str, Any]]) -> None:
        """CreateImage left the AMI pending: snapshot the source instance's container, then make the AMI available."""
        pending = self.ec2.describe_images(Owners=["self"], Filters=[{"Name": "state", "Values": ["pending"]}])
        if not pending["Images"]:
            return
        committed = set()
        for instance_id, have in containers.items():
            images = self.ec2.describe_images(
                Owners=["self"],
                Filters=[
                    {"Name": "state", "Values": ["pending"]},
                    {"Name": "source-instance-id", "Values": [instance_id]},
                ],
            )["Images"]
            for image in images:
                self.podman("commit", "--quiet", have["name"], image_ref(image["ImageId"]))
                aws_emulator.set_image_state(self.endpoint, image["ImageId"], "available")
                committed.add(image["ImageId"])
                self.record("commit", instance_id, image=image["ImageId"])
        for image in pending["Images"]:
            if image["ImageId"] not in committed:
                LOG.warning("image %s is pending but its source instance has no container: failed", image["ImageId"])
                aws_emulator.set_image_state(self.endpoint, image["ImageId"], "failed")

    def give_copies_their_images(self) -> None:
        """CopyImage: AWS copies the source AMI's snapshots into the new one; the copy runs the source's container
        image (DescribeImages names the source of a copy)."""
        images = self.ec2.describe_images(Owners=["self"], Filters=[{"Name": "state", "Values": ["available"]}])
        for image in images["Images"]:
            source = image.get("SourceImageId")
            if not source or image["ImageId"] in self._copies_seen:
                continue
            self._copies_seen.add(image["ImageId"])
            if self.podman.image_exists(image_ref(image["ImageId"])):
                continue
            if not self.podman.image_exists(image_ref(source)):
                LOG.warning("image %s is a copy of %s, which has no container image: not runnable", image["ImageId"],
                            source)  # fmt: skip
                continue
            self.podman("tag", image_ref(source), image_ref(image["ImageId"]))
            self.record("copy", "", image=image["ImageId"], source=source)

    # ------------------------------------------------------------------------------------------------ loop
    def reconcile(self) -> None:
        containers = self.podman.containers()
        self.commit_pending_images(containers)
        self.give_copies_their_images()
        instances = [i for i in self.instances() if i.private_ip and self.podman.image_exists(image_ref(i.image_id))]
        by_id = {i.instance_id: i for i in instances}  # the instances the twin plays (an image of ours)
        # Terminated instances go first: AWS reuses a private IP as soon as its instance is gone.
        for instance_id, have in list(containers.items()):
            inst = by_id.get(instance_id)
            if inst is not None and inst.state in ("pending", "running", "stopping", "stopped"):
                continue
            self.save_console(instance_id, have["name"])
            self.podman("rm", "-f", "-t", "10", have["name"], check=False)
            del containers[instance_id]
            self._booted_for.pop(instance_id, None)
            self.record("remove", instance_id)
        for inst in instances:
            have = containers.get(inst.instance_id)
            if inst.state in ("pending", "running"):
                if have is None:
                    self.registry.put(self.metadata_record(inst))
                    self.launch_container(inst)
                    continue
                if self.registry.get(inst.private_ip) is None:  # the controller restarted: serve it again
                    self.registry.put(self.metadata_record(inst))
                self.registry.set_lifecycle_state(inst.instance_id, target_lifecycle_state(inst.lifecycle_state))
                if not have["running"] and inst.instance_id in self._stopped:
                    self.start_container(inst, have["name"])
                elif not have["running"]:
                    self.container_died(inst)
                elif inst.launch_time > self._booted_for.setdefault(inst.instance_id, inst.launch_time):
                    self.podman("stop", "-t", "30", have["name"])
                    self.record("stop", inst.instance_id, cause="EC2 stopped and started it since the last look")
                    self.start_container(inst, have["name"])
            elif inst.state in ("stopping", "stopped") and have and have["running"]:
                self.registry.set_lifecycle_state(inst.instance_id, target_lifecycle_state(inst.lifecycle_state))
                self.podman("stop", "-t", "30", have["name"])
                self._stopped.add(inst.instance_id)
                self.record("stop", inst.instance_id)
        if self.proxy is not None:  # the proxy itself follows the target groups in its own thread (run)
            self.replace_unhealthy_targets(instances)

    def start_container(self, inst: Instance, name: str) -> None:
        """An instance EC2 started again (a warm-pool instance leaving the pool): the same machine boots again, so
        its bootstrap runs at boot and reads its new target lifecycle state."""
        self.registry.put(self.metadata_record(inst))
        self.registry.set_lifecycle_state(inst.instance_id, target_lifecycle_state(inst.lifecycle_state))
        self.podman("start", name)
        self.block_link_local(name)
        self._stopped.discard(inst.instance_id)
        self._booted_for[inst.instance_id] = inst.launch_time
        self.record("start", inst.instance_id, group=inst.group)

    def container_died(self, inst: Instance) -> None:
        """An instance whose machine stopped running fails its EC2 status check: the group replaces it. Reported
        once: the group is already terminating it (waiting on its terminating hook) on the next passes."""
        if inst.lifecycle_state.startswith("Terminating"):
            return
        if inst.group:
            self.asg.set_instance_health(InstanceId=inst.instance_id, HealthStatus="Unhealthy")
            self.record("unhealthy", inst.instance_id, cause="container not running", group=inst.group)
        else:
            self.ec2.stop_instances(InstanceIds=[inst.instance_id])
            self.record("stopped", inst.instance_id, cause="container not running")

    def replace_unhealthy_targets(self, instances: list[Instance]) -> None:
        """Groups with the ELB health check replace InService targets the load balancer marks down."""
        down = self.proxy.down_targets()
        if down is None:  # the proxy is reloading: look again at the next reconcile
            return
        groups = {}
        now = time.time()
        for inst in instances:
            if inst.instance_id not in down or inst.lifecycle_state != "InService" or not inst.group:
                self._down_since.pop(inst.instance_id, None)
                continue
            if inst.group not in groups:
                groups[inst.group] = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[inst.group])[
                    "AutoScalingGroups"
                ][0]
            group = groups[inst.group]
            if group.get("HealthCheckType") != "ELB":
                continue
            grace = group.get("HealthCheckGracePeriod", 300) * self.time_scale
            since = self._down_since.setdefault(inst.instance_id, now)
            if now - inst.launch_time > grace and now - since > 0:
                self.asg.set_instance_health(InstanceId=inst.instance_id, HealthStatus="Unhealthy")
                self.record("unhealthy", inst.instance_id, cause="load balancer health check", group=inst.group)

    def record(self, event: str, instance_id: str, **details: Any) -> None:
        entry = {"time": round(time.time(), 3), "event": event, "instance_id": instance_id, **details}
        self.events.append(entry)
        LOG.info("%s", json.dumps(entry))
        with (self.state_dir / "events.jsonl").open("a") as fh:
            fh.write(json.dumps(entry) + "\n")

    def follow_load_balancers(self, stop: threading.Event, interval: float = 1.0) -> None:
        """The load balancers' data plane: HAProxy follows the target groups every ``interval`` seconds, in a
        thread of its own, and reports what its health checks find to the emulator (DescribeTargetHealth answers
        it). An ALB stops routing to a deregistered target within seconds, whatever EC2 is doing; a proxy synced by
        the reconcile would wait behind a container's stop (up to 30 s) or an image's commit."""
        reported: dict[str, dict[str, str]] | None = None
        while not stop.is_set():
            try:
                if self.proxy.sync():
                    LOG.info("proxy: %s", json.dumps(self.proxy.targets()))
                health = self.proxy.target_health()
                if health and health != reported:  # None: reloading; {}: no load balancer
                    aws_emulator.report_target_health(self.endpoint, health)
                    LOG.info("target health: %s", json.dumps(health))
                    reported = health
            except Exception as exc:  # keep following; the traceback names the failing call
                LOG.exception("proxy sync failed: %r", exc)
            stop.wait(interval)

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        follower = None
        if self.proxy is not None:
            follower = threading.Thread(
                target=self.follow_load_balancers, args=(stop, interval), name="load-balancers", daemon=True
            )
            follower.start()
        while not stop.is_set():
            try:
                self.reconcile()
            except ControllerError as exc:
                LOG.error("%s", exc)
            except Exception as exc:  # keep the data plane running; the traceback names the failing call
                LOG.exception("reconcile failed: %r", exc)
            stop.wait(interval)
        if follower is not None:
            follower.join()


def ensure_network(name: str, subnet: str) -> None:
    """The twin network: the VPC's address range on a podman bridge whose gateway is the host."""
    podman = Podman()
    if podman("network", "exists", name, check=False).returncode == 0:
        info = json.loads(podman("network", "inspect", name).stdout)[0]
        have = [s.get("subnet") for s in info.get("subnets", [])]
        if subnet not in have:
            raise ControllerError(
                f"podman network {name} has subnet {have}, not {subnet}: run tools/twin.sh down first"
            )
        return
    gateway = str(ipaddress.ip_network(subnet).network_address + 1)
    podman("network", "create", "--subnet", subnet, "--gateway", gateway, "--label", LABEL, name)


def read_events(state_dir: Path) -> list[dict[str, Any]]:
    """The controller's event log (launch, commit, unhealthy, remove ...), oldest first."""
    path = state_dir / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=("run",))
    p.add_argument("--endpoint", required=True, help="the AWS emulator URL, as seen from the host")
    p.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    p.add_argument("--state-dir", required=True)
    p.add_argument("--network", default=None, help="default: the region's (TWIN_REGIONS)")
    p.add_argument("--subnet", default=None, help="default: the region's (TWIN_REGIONS)")
    p.add_argument("--metadata-port", type=int, default=None, help="default: the region's (TWIN_REGIONS)")
    p.add_argument("--time-scale", type=float, default=1.0, help="multiply AWS's timeouts (0.05 = 20x faster)")
    p.add_argument(
        "--proxy-ports",
        default=None,
        help='host port of each load balancer, JSON {"<name>": port} (default: the local twin\'s in the region); '
        '"" no proxies',
    )
    args = p.parse_args(argv)
    try:
        site = twin_region(args.region)
    except ControllerError as exc:
        p.error(str(exc))
    args.network = args.network or site.network
    args.subnet = args.subnet or site.subnet
    args.metadata_port = args.metadata_port or site.metadata_port
    if args.proxy_ports is None:
        args.proxy_ports = json.dumps(proxy_ports("local", args.region))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    gateway = str(ipaddress.ip_network(args.subnet).network_address + 1)
    ensure_network(args.network, args.subnet)
    registry = Registry()
    # Every address: the bridge's gateway address exists only while a container runs. Callers are told apart by
    # their source address, so only the twin's instances get answers.
    # Each instance signs with its role's own key (imds.role_credentials), so recorded calls name their role.
    metadata = MetadataServer(registry, host="0.0.0.0", port=args.metadata_port, per_role=True)  # noqa: S104
    metadata.start()
    metadata_url = f"http://{gateway}:{args.metadata_port}"
    controller = Controller(
        args.endpoint, args.region, state_dir, args.network, args.subnet, registry, metadata_url, None,
        args.time_scale,
    )  # fmt: skip
    if args.proxy_ports:
        ports = json.loads(args.proxy_ports)
        controller.proxy = FleetProxy(controller.elbv2, controller.ec2, state_dir, ports, args.time_scale)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    (state_dir / "controller.pid").write_text(f"{os.getpid()}\n")
    try:
        controller.run(stop)
    finally:
        metadata.stop()
        if controller.proxy is not None:
            controller.proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
