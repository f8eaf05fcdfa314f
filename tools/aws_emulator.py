"""Local AWS emulator: the moto server with the gaps that matter to this project patched.

One launcher for the pytest fixtures, molecule scenarios and the local twin::

    python tools/aws_emulator.py start [--host 127.0.0.1] [--port 0] [--state-dir .cache/aws-emulator]
                                       [--lifecycle-time-scale 1.0] [--heartbeat-time-scale S]
                                       [--images-pending]
    python tools/aws_emulator.py status|stop [--state-dir ...]
    python tools/aws_emulator.py serve --host H --port P      # foreground, used by ``start``

``--lifecycle-time-scale S`` (env ``OLLAMA_EMULATOR_TIME_SCALE``) multiplies lifecycle hook timeouts: at 0.01 a
HeartbeatTimeout of 900 s expires after 9 s. ``--heartbeat-time-scale S`` multiplies the launch hooks' heartbeat
timeouts instead (default: the lifecycle time scale), for callers whose instances take real time to boot while the
rest of AWS's timing is compressed. ``--images-pending`` (env ``OLLAMA_EMULATOR_IMAGES_PENDING=1``) makes
CreateImage return ``pending`` AMIs, as AWS does until the snapshot completes.

``start`` is idempotent: when the emulator of that state directory already answers, it prints its URL and returns.
Port 0 picks a free port. Bind ``0.0.0.0`` when containers must reach it at ``host.containers.internal``.

Patched gaps (moto 5.2.5), each the smallest change that makes the AWS behaviour real enough for our code paths:
- EC2 CreateImage with a ``snapshot`` TagSpecification (amazon.aws.ec2_ami ``tags:``) tags the AMI's snapshot.
- EC2 StartInstances of a stopped instance sets its LaunchTime, AWS's "time that the instance was last launched"
  (moto kept the first launch's).
- Auto Scaling DisableMetricsCollection is implemented (amazon.aws.autoscaling_group updates call it).
- Auto Scaling balances a group across its subnets (zones): each launch goes to the subnet with the fewest of the
  group's instances (moto put every instance in the first one).
- EC2 launch template versions made by CreateLaunchTemplateVersion launch with their user data (moto asserted).
- EC2 CreateLaunchTemplateVersion with ``SourceVersion`` starts from that version's data, the request's
  LaunchTemplateData replacing the parameters it names (moto kept the request's data alone).
- DynamoDB DescribeTable returns ``TableId`` (community.aws.dynamodb_table reads it).
- DynamoDB RestoreTableToPointInTime applies ``SSESpecificationOverride`` (moto ignored it): the restored table is
  encrypted with the KMS key it names (ID, ARN or alias; DescribeTable shows the key's ARN). As on AWS,
  point-in-time recovery is off on a restored table.
- Backup DescribeBackupVault of a missing vault answers AccessDeniedException, as AWS does (amazon.aws.backup_vault).
- Auto Scaling launch lifecycle hooks hold instances: with an ``autoscaling:EC2_INSTANCE_LAUNCHING`` hook, every
  instance the group launches afterwards (creation, scale-out, replacement) waits in ``Pending:Wait``, counts towards
  the desired capacity and is not registered with the group's target groups until its action completes.
  CreateAutoScalingGroup honours ``LifecycleHookSpecificationList`` (Terraform's ``initial_lifecycle_hook``);
  DeleteAutoScalingGroup deletes the group's hooks.
- CompleteLifecycleAction and RecordLifecycleActionHeartbeat are implemented (by InstanceId or by the action's
  LifecycleActionToken, a uuid the emulator gives each waiting action). CONTINUE puts the instance InService and
  registers it with the target groups (on the target group's port); ABANDON terminates it and the group launches a
  replacement. An action not completed within the hook's HeartbeatTimeout (times the time scale; a heartbeat restarts
  it; never beyond 100 x HeartbeatTimeout or 48 h) gets the hook's DefaultResult, checked every 0.5 s by a thread.
  Errors are ValidationError (400): "No active Lifecycle Action found with instance ID <id>" / "... with token <t>"
  (AWS's words); the messages for an unknown hook and a result other than CONTINUE/ABANDON are the emulator's own.
- SetInstanceHealth Unhealthy on an InService instance terminates it and launches a replacement (unless the
  ReplaceUnhealthy process is suspended; ShouldRespectGracePeriod is not emulated). A replacement after EC2
  TerminateInstances is registered with the target groups; TerminateInstanceInAutoScalingGroup deregisters the
  terminated instance (moto did neither).
- DescribeAutoScalingInstances / DescribeAutoScalingGroups show the launch template version the instance was
  launched from (moto showed the template's current default version); the ``aws:ec2launchtemplate:version`` tag
  matches it.
- Warm pools (moto kept only PutWarmPool's settings): the pool holds MaxGroupPreparedCapacity (the group's MaxSize
  when unset or -1) minus the desired capacity, at least its MinSize. An instance launched into it waits on the
  launch hooks in ``Warmed:Pending:Wait`` (EC2 running, target lifecycle state ``Warmed:<PoolState>``), then rests
  in ``Warmed:Stopped`` (EC2 stopped), ``Warmed:Running`` or ``Warmed:Hibernated`` (EC2 stopped); ABANDON or an
  EC2 termination terminates it and the pool refills. Scale-out takes rested instances first: EC2 starts them and
  they go ``Pending:Wait`` through the launch hooks again (target state ``InService``), or straight ``InService``
  without hooks. Warm instances are outside the group's capacity and target groups, listed by DescribeWarmPool and
  DescribeAutoScalingInstances; DeleteWarmPool and DeleteAutoScalingGroup terminate them. PutWarmPool refuses a
  PoolState other than Stopped/Running/Hibernated and a MaxGroupPreparedCapacity below MinSize (ValidationError).
  InstanceReusePolicy is stored, not applied (scale-in terminates).
- Terminating lifecycle hooks (``autoscaling:EC2_INSTANCE_TERMINATING``): when a group with one terminates an
  instance (scale-in, instance refresh, unhealthy replacement, TerminateInstanceInAutoScalingGroup), the instance
  leaves its target groups at once and stays ``Terminating`` (EC2 running, target lifecycle state ``Terminated``)
  for the longest ``deregistration_delay.timeout_seconds`` of the group's target groups (times the time scale),
  then waits in ``Terminating:Wait`` on the hooks; CONTINUE, ABANDON or the timeout terminates it. It no longer
  counts towards the desired capacity (an unhealthy instance's replacement launches meanwhile). Scale-in picks
  unprotected instances only (SetInstanceProtection), those off the group's launch template version first, then
  the oldest. Without a terminating hook, instances terminate at once as before. Only InService instances are
  registered with target groups.
- Target tracking policies on a CustomizedMetricSpecification are applied (moto stored them only): every minute of
  the compressed clock (at least each 0.5 s tick) the policy's Statistic of the datapoints put into the emulator's
  CloudWatch in the last three minutes (at least 5 real seconds) with the same Namespace, MetricName and exactly
  the same Dimensions sets the desired capacity to ceil(capacity x value / TargetValue) within MinSize..MaxSize
  (never lower with DisableScaleIn). No matching datapoint: nothing happens. Each change is in
  /_emulator/autoscaling-calls (source ``target-tracking``). Predefined metrics, metric math, step and simple
  policies' alarms and scheduled actions are not evaluated.
- Scheduled actions with a Recurrence (five-field cron, with day and month names such as ``MON-FRI``, in the
  action's TimeZone, UTC by default) run on the compressed clock (real time divided by the time scale;
  ``/_emulator/clock`` reads it and moves it): each minute the clock passes that the cron matches sets
  MinSize/MaxSize/DesiredCapacity as the action says. StartTime and EndTime are not applied; one-off actions (no
  Recurrence) are not run.
- Instance refresh (moto has none): StartInstanceRefresh (DesiredConfiguration.LaunchTemplate; Preferences
  MinHealthyPercentage, MaxHealthyPercentage, InstanceWarmup, CheckpointPercentages/CheckpointDelay, SkipMatching,
  AutoRollback, ScaleInProtectedInstances, StandbyInstances, AlarmSpecification), DescribeInstanceRefreshes (Status,
  StatusReason, PercentageComplete, InstancesToUpdate, RollbackDetails), CancelInstanceRefresh and
  RollbackInstanceRefresh, advanced by the lifecycle timer on the compressed clock. Each step launches from the
  desired version (through the launch hooks) while the group launches from its own, as many as
  MaxHealthyPercentage of the desired capacity allows, and terminates replaced instances (out of the target groups,
  without a replacement) as far as MinHealthyPercentage allows once the new ones are InService for InstanceWarmup
  (default DefaultInstanceWarmup, else HealthCheckGracePeriod); with no headroom it terminates first, at least one.
  The group's launch template becomes the desired one only when the refresh succeeds. A new instance terminated
  before the end (ABANDON, timeout, unhealthy) or an alarm of the AlarmSpecification in ALARM fails the refresh:
  Failed, or with AutoRollback RollbackInProgress -> RollbackSuccessful, replacing the new instances from the
  group's version. Errors as AWS names them: InstanceRefreshInProgress, ActiveInstanceRefreshNotFound,
  IrreversibleInstanceRefresh, ValidationError (bad percentages, CheckpointDelay without percentages, AutoRollback
  or rollback of a group on $Latest/$Default, unknown alarms or template versions); the messages are the emulator's.
  Not emulated: Strategy other than Rolling, BakeTime, MaxHealthyPercentage's omitted-vs-100 difference, warm pool
  instances (not replaced), ProgressDetails.
- With ``--images-pending``, CreateImage leaves the AMI ``pending`` (RegisterImage and CopyImage are unaffected).
- CopyImage: the copy names its source (DescribeImages SourceImageId, SourceImageRegion), CopyImageTags copies the
  source's user-defined tags, TagSpecifications tags the copy, and a name already used in the region is refused.
- GetSecretValue without VersionId or VersionStage returns AWSCURRENT after UpdateSecretVersionStage moved it (moto
  kept returning the version that held it before).
- API calls of Auto Scaling, EC2 and ELBv2 are serialised with the lifecycle timer (moto has no locking).

Private routes beside the AWS APIs (JSON; helpers ``lifecycle_actions()``, ``pending_lifecycle_actions()`` and
``set_image_state()``):
- ``GET /_emulator/lifecycle-actions``: every completed lifecycle action, oldest first, as
  {time, region, auto_scaling_group_name, lifecycle_hook_name, lifecycle_transition, instance_id,
  lifecycle_action_token, result, cause} with cause ``api`` or ``timeout``. ``POST /moto-api/reset`` clears it.
- ``GET /_emulator/pending-lifecycle-actions``: the actions instances wait on now, with their LifecycleActionToken
  and ``expires_in_s`` (real seconds). AWS hands the token out in the hook's notification, which is not emulated.
- ``GET /_emulator/autoscaling-calls``: the Auto Scaling calls naming a group (Describe* left out) and the
  emulator's own changes, oldest first, as {time, source, action, auto_scaling_group_name, launch_template (the
  group's {LaunchTemplateId, Version} after it)}: source ``api`` (action = the API action, previous_launch_template
  when the call changed it), ``instance-refresh`` (RollbackStarted, Successful, Failed, Cancelled,
  RollbackSuccessful, with instance_refresh_id), ``lifecycle`` (Terminating, Terminated, with instance_id) or
  ``target-tracking`` (SetDesiredCapacity, with the policy, metric value and capacities). ``POST /moto-api/reset``
  clears it. Helper ``autoscaling_calls()``.
- ``GET /_emulator/calls[?access_key=KEY]``: every AWS API request the emulator answered (the private routes and
  ``/moto-api/`` left out), oldest first, as {time, access_key, service, action, status}: the access key id of the
  SigV4 Authorization header's credential (or a presigned URL's X-Amz-Credential, or S3's signature version 2 key;
  "" when unsigned), the credential
  scope's service as IAM's prefix (``monitoring`` -> ``cloudwatch``), the API action (X-Amz-Target's operation for
  JSON protocols, the CBOR RPC path's, the Action parameter for query protocols, S3's REST operation from the
  method, path-style path and sub-resources: GetObject, HeadObject, PutObject, DeleteObject, ListObjectsV2,
  CreateMultipartUpload, UploadPart, ...) and the HTTP status answered. The newest 100,000 are kept (CALLS_KEPT).
  The twin's instances sign with their role's own key (tools/twin/imds.py), so this tells which role called what.
  ``POST /moto-api/reset`` clears it. Helper ``calls()``.
- ``GET /_emulator/clock`` {now, time_scale}; ``POST /_emulator/clock`` {"now": "<ISO 8601 with offset>"} moves the
  compressed clock scheduled actions run on (400 without an offset). Helper ``set_clock()``.
- ``GET /_emulator/target-lifecycle-states``: every Auto Scaling instance (warm pools included) as {region,
  auto_scaling_group_name, instance_id, lifecycle_state, target_lifecycle_state}: the target state is what the
  instance reads at ``autoscaling/target-lifecycle-state`` (``InService`` while launching into the group,
  ``Warmed:<PoolState>`` in a warm pool, ``Terminated`` once terminating). Helper ``target_lifecycle_states()``.
- ``POST /_emulator/images/<ami-id>/state`` with {"state": "available"|"failed"}: 200 {ImageId, State}; 404
  {"error"} for an unknown id; 400 for another state.
- ``POST /_emulator/target-health`` with {"<target group ARN>": {"<instance id>": "healthy"|"unhealthy"|"initial"}}:
  what a load balancer's own health checks found (the twin's proxies report theirs every second). From the first
  report for a target group on, DescribeTargetHealth answers with it, as ELB does: a registered target the report
  does not name yet is ``initial`` (Elb.RegistrationInProgress), ``initial`` is Elb.InitialHealthChecking,
  ``unhealthy`` is Target.FailedHealthChecks; unregistered and stopped targets keep moto's answers (``unused``). A
  target group never reported keeps moto's ``healthy`` for every registered target. 400 for another state. Helper
  ``report_target_health()``; ``POST /moto-api/reset`` clears the reports.

Checked, not patched: moto gives an Auto Scaling instance in a subnet the subnet's next free address, skipping the
network address and the three after it (AWS reserves the first four and the broadcast address). Addresses are unique
among live instances and inside the subnet CIDR; a terminated instance's address is freed and may be reused, as on
AWS.
Not emulated: notifications to the hook's target, classic ELBs seeing only InService instances, target health
``draining`` (a leaving target is removed from its target group at once), health checks of a target group no load
balancer reports on (moto answers ``healthy`` for its registered targets at once; the twin's proxies run the checks
and report them, ``/_emulator/target-health``), terminating hooks for instances abandoned at launch.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = ROOT / ".cache" / "aws-emulator"
START_TIMEOUT_S = 30.0


class EmulatorError(RuntimeError):
    """A problem the operator can fix; the message says how."""


# --------------------------------------------------------------------------------------------------------- patches
def apply_patches() -> None:
    """Patch moto in this process. Call before the server handles requests."""
    _patch_ec2_create_image()
    _patch_ec2_start_launch_time()
    _patch_autoscaling_disable_metrics()
    _patch_dynamodb_table_id()
    _patch_dynamodb_restore_encryption()
    _patch_backup_missing_vault()
    _patch_serialized_requests()
    _patch_ec2_launch_template_version_user_data()
    _patch_ec2_launch_template_source_version()
    _patch_autoscaling_zone_balance()
    _patch_autoscaling_launch_hooks()
    _patch_autoscaling_initial_hooks()
    _patch_autoscaling_lifecycle_actions()
    _patch_autoscaling_replace_unhealthy()
    _patch_elbv2_reported_target_health()
    _patch_autoscaling_warm_pools()
    _patch_autoscaling_instance_refresh()
    _patch_autoscaling_terminate_hooks()
    _patch_ec2_images_pending()
    _patch_ec2_copy_image()
    _patch_secretsmanager_current_version()


def _patch_secretsmanager_current_version() -> None:
    """GetSecretValue without VersionId or VersionStage returns AWSCURRENT (AWS's API reference); moto returned the
    version that was current before UpdateSecretVersionStage moved the label."""
    from moto.secretsmanager.models import SecretsManagerBackend

    original = SecretsManagerBackend.update_secret_version_stage

    def update_secret_version_stage(self: Any, secret_id: str, version_stage: str, *args: Any, **kwargs: Any) -> Any:
        result = original(self, secret_id, version_stage, *args, **kwargs)
        if version_stage == "AWSCURRENT":
            secret = self.secrets[secret_id]
            current = [v for v, version in secret.versions.items() if "AWSCURRENT" in version["version_stages"]]
            if current:
                secret.set_default_version_id(current[0])
        return result

    SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage


def _patch_ec2_create_image() -> None:
    from moto.ec2.models.amis import AmiBackend

    original = AmiBackend.create_image

    def create_image(self: Any, instance_id: str, name: str, description: str, tag_specifications: list) -> Any:
        snapshot_tags = [
            tag for spec in tag_specifications if spec["ResourceType"] == "snapshot" for tag in spec.get("Tags", [])
        ]
        others = [spec for spec in tag_specifications if spec["ResourceType"] != "snapshot"]
        ami = original(self, instance_id, name, description, others)
        snapshot = getattr(ami, "ebs_snapshot", None)
        if snapshot is not None and snapshot_tags:
            self.create_tags([snapshot.id], {tag["Key"]: tag["Value"] for tag in snapshot_tags})
        return ami

    AmiBackend.create_image = create_image


def _patch_ec2_start_launch_time() -> None:
    from moto.core.utils import utcnow
    from moto.ec2.models.instances import Instance

    original = Instance.start

    def start(self: Any) -> Any:
        previous = original(self)
        if previous.name != "running":
            self.launch_time = utcnow()  # AWS's LaunchTime: "the time that the instance was last launched"
        return previous

    Instance.start = start


def _patch_autoscaling_disable_metrics() -> None:
    from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    def group_disable(self: Any, metrics: list[str] | None) -> None:
        current = list(getattr(self, "metrics", None) or [])
        self.metrics = [] if not metrics else [m for m in current if m not in metrics]

    def backend_disable(self: Any, group_name: str, metrics: list[str] | None) -> None:
        self.describe_auto_scaling_groups([group_name])[0].disable_metrics_collection(metrics)

    def response_disable(self: Any) -> Any:
        self.autoscaling_backend.disable_metrics_collection(
            self._get_param("AutoScalingGroupName"), self._get_param("Metrics")
        )
        return EmptyResult()

    FakeAutoScalingGroup.disable_metrics_collection = group_disable
    AutoScalingBackend.disable_metrics_collection = backend_disable
    AutoScalingResponse.disable_metrics_collection = response_disable


def _patch_dynamodb_table_id() -> None:
    from moto.dynamodb.models.table import Table

    original = Table.describe

    def describe(self: Any, base_key: str = "TableDescription") -> dict[str, Any]:
        result = original(self, base_key)
        if not hasattr(self, "_emulator_table_id"):
            self._emulator_table_id = str(uuid.uuid5(uuid.NAMESPACE_URL, self.table_arn))
        result[base_key]["TableId"] = self._emulator_table_id
        return result

    Table.describe = describe


def _patch_dynamodb_restore_encryption() -> None:
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    original = DynamoHandler.restore_table_to_point_in_time

    def restore_table_to_point_in_time(self: Any) -> Any:
        result = original(self)
        override = self.body.get("SSESpecificationOverride") or {}
        if not override.get("Enabled"):
            return result
        from moto.kms.models import kms_backends

        table = self.dynamodb_backend.get_table(self.body["TargetTableName"])
        key = override.get("KMSMasterKeyId")
        # Any of the key's ID, ARN, alias name or alias ARN; DescribeTable names the key's ARN, as AWS does.
        key = (
            kms_backends[table.account_id][table.region_name].describe_key(key).arn
            if key
            else table._get_default_encryption_key(table.account_id, table.region_name)
        )
        table.sse_specification = {"Enabled": True, "SSEType": override.get("SSEType", "KMS"), "KMSMasterKeyId": key}
        return DynamoResult(table.describe())

    DynamoHandler.restore_table_to_point_in_time = restore_table_to_point_in_time


def _patch_backup_missing_vault() -> None:
    from moto.backup.models import BackupBackend
    from moto.core.exceptions import JsonRESTError

    original = BackupBackend.describe_backup_vault

    def describe_backup_vault(self: Any, backup_vault_name: str) -> Any:
        if backup_vault_name not in self.vaults:
            raise JsonRESTError(
                "AccessDeniedException",
                f"Insufficient privileges to perform this action or {backup_vault_name} does not exist",
            )
        return original(self, backup_vault_name)

    BackupBackend.describe_backup_vault = describe_backup_vault


# ------------------------------------------------------------------------------- Auto Scaling lifecycle and AMIs
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
LIFECYCLE_RESULTS = ("CONTINUE", "ABANDON")
IMAGE_STATES = ("available", "failed")
TIME_SCALE_ENV = "OLLAMA_EMULATOR_TIME_SCALE"
IMAGES_PENDING_ENV = "OLLAMA_EMULATOR_IMAGES_PENDING"
LIFECYCLE_TICK_S = 0.5
MAX_GLOBAL_TIMEOUT_S = 172800  # 48 hours: AWS caps a wait at this or 100 x HeartbeatTimeout, whichever is smaller
PRIVATE_PREFIX = "/_emulator/"
DEFAULT_ACCOUNT = "123456789012"  # the account moto answers for


@dataclass
class _Settings:
    lifecycle_time_scale: float = 1.0
    heartbeat_time_scale: float = 1.0
    images_pending: bool = False


@dataclass
class _PendingAction:
    """One lifecycle action an instance waits on (one per launch hook)."""

    hook_name: str
    transition: str
    token: str
    deadline: float
    global_deadline: float

    def active(self, now: float) -> bool:
        return now < min(self.deadline, self.global_deadline)


_SETTINGS = _Settings()
# Serialises the Auto Scaling, EC2 and ELBv2 APIs with the lifecycle timer thread (moto itself has no locking).
_LOCK = threading.RLock()
_COMPLETED_ACTIONS: list[dict[str, Any]] = []


def _scaled(seconds: float) -> float:
    return seconds * _SETTINGS.lifecycle_time_scale


def _scaled_heartbeat(seconds: float, transition: str) -> float:
    """A hook's heartbeat timeout: launch hooks at the heartbeat time scale, the others at the lifecycle one."""
    scale = _SETTINGS.heartbeat_time_scale if transition == LAUNCHING else _SETTINGS.lifecycle_time_scale
    return seconds * scale


def _start_action(hook: Any) -> _PendingAction:
    now = time.monotonic()
    timeout = int(hook.heartbeat_timeout)
    return _PendingAction(
        hook_name=hook.name,
        transition=hook.lifecycle_transition,
        token=str(uuid.uuid4()),
        deadline=now + _scaled_heartbeat(timeout, hook.lifecycle_transition),
        global_deadline=now + _scaled_heartbeat(min(100 * timeout, MAX_GLOBAL_TIMEOUT_S), hook.lifecycle_transition),
    )


def _pending_actions(state: Any) -> dict[str, _PendingAction]:
    return state.__dict__.setdefault("emulator_actions", {})


def _group_states(group: Any) -> list[Any]:
    """The group's instances and its warm pool's (warm instances are not part of the group's capacity)."""
    return [*group.instance_states, *_warm_states(group)]


def _warm_states(group: Any) -> list[Any]:
    return group.__dict__.setdefault("emulator_warm", [])


def _patch_serialized_requests() -> None:
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.ec2.responses import EC2Response
    from moto.elbv2.responses import ELBV2Response

    for response_class in (AutoScalingResponse, EC2Response, ELBV2Response):
        original = response_class.call_action

        def call_action(self: Any, _original: Any = original) -> Any:
            with _LOCK:
                return _original(self)

        response_class.call_action = call_action


def _patch_ec2_launch_template_version_user_data() -> None:
    """A launch template version made by CreateLaunchTemplateVersion keeps its user data as a plain string, which
    moto's Auto Scaling then refuses (an assertion) when it launches from that version: read it as base64."""
    from moto.core.types import Base64EncodedString
    from moto.ec2.models.launch_templates import LaunchTemplateVersion

    def user_data(self: Any) -> Any:
        value = self.data.get("UserData")
        if isinstance(value, str):
            value = self.data["UserData"] = Base64EncodedString(value)
        return value

    LaunchTemplateVersion.user_data = property(user_data)


def _patch_ec2_launch_template_source_version() -> None:
    """CreateLaunchTemplateVersion with SourceVersion: AWS bases the new version on that version's data, "except for
    the parameters that you specify in LaunchTemplateData". moto ignored SourceVersion, so the new version held only
    the request's data (no instance type, no instance profile, no image)."""
    import copy

    from moto.ec2.responses.launch_templates import LaunchTemplates
    from moto.ec2.utils import convert_tag_spec

    original = LaunchTemplates.create_launch_template_version

    def create_launch_template_version(self: Any) -> Any:
        source = self._get_param("SourceVersion")
        if not source:
            return original(self)
        template_id = self._get_param("LaunchTemplateId")
        template = (
            self.ec2_backend.get_launch_template(template_id)
            if template_id
            else self.ec2_backend.get_launch_template_by_name(self._get_param("LaunchTemplateName"))
        )
        base = copy.deepcopy(template.get_version(source).data)  # an unknown version fails before anything changes
        result = original(self)
        version = template.versions[-1]
        merged = {**base, **version.data}
        version.data.clear()
        version.data.update(merged)  # in place: the response being built holds this dict
        version.instance_tags = convert_tag_spec(version.data.get("TagSpecifications", [])).get("instance", {})
        return result

    LaunchTemplates.create_launch_template_version = create_launch_template_version


def _patch_autoscaling_zone_balance() -> None:
    """Auto Scaling launches each instance in the group's subnet (zone) with the fewest of its instances, as AWS
    balances a group across its Availability Zones; moto put every instance in the first subnet."""
    from moto.autoscaling.models import FakeAutoScalingGroup

    original = FakeAutoScalingGroup.replace_autoscaling_group_instances

    def replace_autoscaling_group_instances(self: Any, count_needed: int, propagated_tags: dict[str, str]) -> None:
        subnets = [s for s in (self.vpc_zone_identifier or "").split(",") if s]
        if len(subnets) < 2:
            original(self, count_needed, propagated_tags)
            return
        configured = self.vpc_zone_identifier
        try:
            for _ in range(count_needed):
                load = dict.fromkeys(subnets, 0)
                for state in self.instance_states:
                    subnet = getattr(state.instance, "subnet_id", None)
                    if subnet in load and state.instance.state != "terminated":
                        load[subnet] += 1
                self.vpc_zone_identifier = min(subnets, key=lambda subnet: (load[subnet], subnets.index(subnet)))
                original(self, 1, dict(propagated_tags))
        finally:
            self.vpc_zone_identifier = configured

    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances


def _patch_autoscaling_launch_hooks() -> None:
    from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup, InstanceState

    original_replace = FakeAutoScalingGroup.replace_autoscaling_group_instances

    def active_instances(self: Any) -> list[Any]:
        # Instances still launching count towards the desired capacity, as on AWS.
        return [
            s
            for s in self.instance_states
            if s.lifecycle_state == "InService" or s.lifecycle_state.startswith("Pending")
        ]

    def replace_autoscaling_group_instances(self: Any, count_needed: int, propagated_tags: dict[str, str]) -> None:
        first_new = len(self.instance_states)
        original_replace(self, count_needed, propagated_tags)
        hooks = _launch_hooks(self)
        template = self.ec2_launch_template
        version = template.get_version(self.launch_template_version) if template is not None else None
        for state in self.instance_states[first_new:]:
            if version is not None:
                number = str(version.number)
                state.emulator_launch_template = {
                    "LaunchTemplateId": template.id,
                    "LaunchTemplateName": template.name,
                    "Version": number,
                }
                state.instance.add_tags({"aws:ec2launchtemplate:version": number})
            if hooks:
                state.lifecycle_state = "Pending:Wait"
                _pending_actions(state).update({hook.name: _start_action(hook) for hook in hooks})

    original_launch_template = InstanceState.launch_template

    def launch_template(self: Any) -> dict[str, Any] | None:
        return getattr(self, "emulator_launch_template", None) or original_launch_template.fget(self)

    def update_attached_target_groups(self: Any, group_name: str) -> None:
        group = self.autoscaling_groups[group_name]
        if not group.target_group_arns:
            return
        in_service = [s.instance.id for s in group.instance_states if s.lifecycle_state == "InService"]
        target_groups = self.elbv2_backend.describe_target_groups(
            target_group_arns=group.target_group_arns, load_balancer_arn=None, names=None
        )
        for target_group in target_groups:
            self.elbv2_backend.register_targets(
                target_group.arn, [{"Id": instance_id, "Port": target_group.port} for instance_id in in_service]
            )

    FakeAutoScalingGroup.active_instances = active_instances
    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances
    InstanceState.launch_template = property(launch_template)
    AutoScalingBackend.update_attached_target_groups = update_attached_target_groups


def _patch_autoscaling_initial_hooks() -> None:
    from moto.autoscaling.models import AutoScalingBackend
    from moto.autoscaling.responses import AutoScalingResponse

    original_create = AutoScalingResponse.create_auto_scaling_group
    original_delete = AutoScalingBackend.delete_auto_scaling_group

    def create_auto_scaling_group(self: Any) -> Any:
        backend = self.autoscaling_backend
        group_name = self._get_param("AutoScalingGroupName")
        added = []
        for spec in self._get_param("LifecycleHookSpecificationList", []) or []:
            key = f"{group_name}_{spec['LifecycleHookName']}"
            if key not in backend.lifecycle_hooks:
                added.append(key)
            timeout = spec.get("HeartbeatTimeout")
            backend.create_lifecycle_hook(
                name=spec["LifecycleHookName"],
                as_name=group_name,
                transition=spec.get("LifecycleTransition"),
                timeout=int(timeout) if timeout is not None else None,
                result=spec.get("DefaultResult"),
            )
        try:
            return original_create(self)
        except Exception:
            for key in added:
                backend.lifecycle_hooks.pop(key, None)
            raise

    def delete_auto_scaling_group(self: Any, group_name: str) -> None:
        original_delete(self, group_name)
        for key in [k for k, hook in self.lifecycle_hooks.items() if hook.auto_scaling_group_name == group_name]:
            self.lifecycle_hooks.pop(key)

    AutoScalingResponse.create_auto_scaling_group = create_auto_scaling_group
    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group


def _terminate_and_replace(backend: Any, instance_id: str) -> None:
    """Terminate a group's instance the way EC2 TerminateInstances does; the group launches its replacement."""
    from moto.elbv2.models import elbv2_backends

    for group in list(backend.autoscaling_groups.values()):
        refresh = _active_refresh(group)
        if refresh is not None and instance_id in refresh.forward.new + (
            refresh.rollback.new if refresh.rollback else []
        ):
            _retire(group, instance_id)  # the refresh fails or replaces it itself: no replacement from the group
            return
    backend.ec2_backend.terminate_instances([instance_id])
    backend.notify_terminate_instances([instance_id])
    elbv2_backends[backend.account_id][backend.region_name].notify_terminate_instances([instance_id])


def _finish_action(backend: Any, group: Any, state: Any, action: _PendingAction, result: str, cause: str) -> None:
    actions = _pending_actions(state)
    actions.pop(action.hook_name, None)
    _COMPLETED_ACTIONS.append(
        {
            "time": datetime.now(UTC).isoformat(),
            "region": backend.region_name,
            "auto_scaling_group_name": group.name,
            "lifecycle_hook_name": action.hook_name,
            "lifecycle_transition": action.transition,
            "instance_id": state.instance.id,
            "lifecycle_action_token": action.token,
            "result": result,
            "cause": cause,
        }
    )
    if action.transition == TERMINATING:
        if result == "ABANDON" or not actions:
            _complete_termination(group, state)
    elif state in _warm_states(group):
        _finish_warm_action(backend, group, state, result)
    elif result == "ABANDON" and action.transition == LAUNCHING:
        actions.clear()
        _terminate_and_replace(backend, state.instance.id)
    elif not actions:
        state.lifecycle_state = "InService"
        backend.update_attached_target_groups(group.name)
        backend.update_attached_elbs(group.name)


def _find_action(
    backend: Any, group_name: str, hook_name: str, instance_id: str | None, token: str | None
) -> tuple[Any, Any, _PendingAction]:
    from moto.autoscaling.exceptions import ValidationError

    if f"{group_name}_{hook_name}" not in backend.lifecycle_hooks:
        raise ValidationError(f"No Lifecycle Hook found with name {hook_name} for group {group_name}")
    if not instance_id and not token:
        raise ValidationError("Either InstanceId or LifecycleActionToken must be specified")
    now = time.monotonic()
    group = backend.autoscaling_groups.get(group_name)
    for state in _group_states(group) if group is not None else []:
        action = _pending_actions(state).get(hook_name)
        if action is None or not action.active(now):
            continue
        if token and action.token == token and instance_id in (None, "", state.instance.id):
            return group, state, action
        if not token and state.instance.id == instance_id:
            return group, state, action
    if token:
        raise ValidationError(f"No active Lifecycle Action found with token {token}")
    raise ValidationError(f"No active Lifecycle Action found with instance ID {instance_id}")


def _patch_autoscaling_lifecycle_actions() -> None:
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.models import AutoScalingBackend
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import EmptyResult

    def complete_lifecycle_action(
        self: Any, group_name: str, hook_name: str, result: str, instance_id: str | None, token: str | None
    ) -> None:
        if result not in LIFECYCLE_RESULTS:
            raise ValidationError(
                f"Value '{result}' at 'lifecycleActionResult' failed to satisfy constraint: "
                "Member must be one of CONTINUE, ABANDON"
            )
        group, state, action = _find_action(self, group_name, hook_name, instance_id, token)
        _finish_action(self, group, state, action, result, "api")

    def record_lifecycle_action_heartbeat(
        self: Any, group_name: str, hook_name: str, instance_id: str | None, token: str | None
    ) -> None:
        _group, _state, action = _find_action(self, group_name, hook_name, instance_id, token)
        hook = self.lifecycle_hooks[f"{group_name}_{hook_name}"]
        action.deadline = time.monotonic() + _scaled_heartbeat(int(hook.heartbeat_timeout), hook.lifecycle_transition)

    def response_complete(self: Any) -> Any:
        self.autoscaling_backend.complete_lifecycle_action(
            self._get_param("AutoScalingGroupName"),
            self._get_param("LifecycleHookName"),
            self._get_param("LifecycleActionResult"),
            self._get_param("InstanceId"),
            self._get_param("LifecycleActionToken"),
        )
        return EmptyResult()

    def response_heartbeat(self: Any) -> Any:
        self.autoscaling_backend.record_lifecycle_action_heartbeat(
            self._get_param("AutoScalingGroupName"),
            self._get_param("LifecycleHookName"),
            self._get_param("InstanceId"),
            self._get_param("LifecycleActionToken"),
        )
        return EmptyResult()

    AutoScalingBackend.complete_lifecycle_action = complete_lifecycle_action
    AutoScalingBackend.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat
    AutoScalingResponse.complete_lifecycle_action = response_complete
    AutoScalingResponse.record_lifecycle_action_heartbeat = response_heartbeat


def expire_lifecycle_actions(now: float | None = None) -> int:
    """Apply each hook's DefaultResult to the actions whose (scaled) timeout passed; returns how many."""
    from moto.autoscaling.models import autoscaling_backends

    now = time.monotonic() if now is None else now
    expired = 0
    with _LOCK:
        for account_backends in list(autoscaling_backends.values()):
            for backend in list(account_backends.values()):
                for group in list(backend.autoscaling_groups.values()):
                    for state in _group_states(group):
                        for action in list(_pending_actions(state).values()):
                            if action.active(now) or action.hook_name not in _pending_actions(state):
                                continue
                            hook = backend.lifecycle_hooks.get(f"{group.name}_{action.hook_name}")
                            result = hook.default_result if hook is not None else "ABANDON"
                            _finish_action(backend, group, state, action, result, "timeout")
                            expired += 1
    return expired


def _waiting_actions() -> list[dict[str, Any]]:
    from moto.autoscaling.models import autoscaling_backends

    now = time.monotonic()
    waiting = []
    with _LOCK:
        for account_backends in list(autoscaling_backends.values()):
            for backend in list(account_backends.values()):
                for group in list(backend.autoscaling_groups.values()):
                    for state in _group_states(group):
                        for action in _pending_actions(state).values():
                            waiting.append(
                                {
                                    "region": backend.region_name,
                                    "auto_scaling_group_name": group.name,
                                    "lifecycle_hook_name": action.hook_name,
                                    "lifecycle_transition": action.transition,
                                    "instance_id": state.instance.id,
                                    "lifecycle_action_token": action.token,
                                    "expires_in_s": round(
                                        max(0.0, min(action.deadline, action.global_deadline) - now), 3
                                    ),
                                }
                            )
    return waiting


def _run_lifecycle_timer(stop: threading.Event) -> None:
    while not stop.wait(LIFECYCLE_TICK_S):
        try:
            expire_lifecycle_actions()
            advance_instance_refreshes()
            advance_terminations()
            complete_protected_scale_ins()
            evaluate_target_tracking()
            run_scheduled_actions()
        except Exception:  # noqa: BLE001 - one bad tick must not end timeouts for the rest of the session
            traceback.print_exc()


def _patch_autoscaling_replace_unhealthy() -> None:
    from moto.autoscaling.models import AutoScalingBackend
    from moto.elbv2.models import elbv2_backends

    original_set_health = AutoScalingBackend.set_instance_health
    original_notify = AutoScalingBackend.notify_terminate_instances
    original_terminate = AutoScalingBackend.terminate_instance

    def set_instance_health(self: Any, instance_id: str, health_status: str) -> None:
        original_set_health(self, instance_id, health_status)
        if health_status != "Unhealthy":
            return
        state = next(
            s for g in self.autoscaling_groups.values() for s in g.instance_states if s.instance.id == instance_id
        )
        suspended = {p["ProcessName"] for p in state.auto_scaling_group.suspended_processes}
        if state.lifecycle_state == "InService" and "ReplaceUnhealthy" not in suspended:
            group = state.auto_scaling_group
            if _terminate_in_group(group, state):
                group.set_desired_capacity(group.desired_capacity)  # the replacement launches meanwhile
            else:
                _terminate_and_replace(self, instance_id)

    def notify_terminate_instances(self: Any, instance_ids: list[str]) -> None:
        original_notify(self, instance_ids)
        for group_name in list(self.autoscaling_groups):
            self.update_attached_target_groups(group_name)

    def terminate_instance(self: Any, instance_id: str, should_decrement: bool) -> Any:
        activity = original_terminate(self, instance_id, should_decrement)
        elbv2_backends[self.account_id][self.region_name].notify_terminate_instances([instance_id])
        return activity

    AutoScalingBackend.set_instance_health = set_instance_health
    AutoScalingBackend.notify_terminate_instances = notify_terminate_instances
    AutoScalingBackend.terminate_instance = terminate_instance


# ------------------------------------------------------------------------------------------------- warm pools
POOL_STATES = ("Stopped", "Running", "Hibernated")


def _launch_hooks(group: Any) -> list[Any]:
    return [
        hook
        for hook in group.autoscaling_backend.lifecycle_hooks.values()
        if hook.auto_scaling_group_name == group.name and hook.lifecycle_transition == LAUNCHING
    ]


def _pool_state(group: Any) -> str:
    pool = getattr(group, "warm_pool", None)
    return pool.pool_state if pool is not None else "Stopped"


def warm_pool_size(group: Any) -> int:
    """How many instances the group's warm pool keeps: MaxGroupPreparedCapacity (the group's MaxSize when unset or
    -1) minus the desired capacity, and at least the pool's MinSize."""
    pool = getattr(group, "warm_pool", None)
    if pool is None:
        return 0
    prepared = pool.max_group_prepared_capacity
    prepared = int(group.max_size) if prepared in (None, "", -1, "-1") else int(prepared)
    return max(int(pool.min_size or 0), prepared - int(group.desired_capacity or 0))


def target_lifecycle_state(group: Any, state: Any) -> str:
    """What the instance reads at ``autoscaling/target-lifecycle-state``: where its current transition leads."""
    current = state.lifecycle_state
    if current.startswith("Warmed:"):
        return f"Warmed:{_pool_state(group)}"
    if current.startswith("Terminating") or current == "Terminated":
        return "Terminated"
    if current.startswith("Standby") or current.startswith("EnteringStandby"):
        return "Standby"
    if current.startswith("Detach"):
        return "Detached"
    return "InService"


def _enter_pool(group: Any, state: Any) -> None:
    """The launch into the warm pool completed: the instance rests in the pool's state (EC2 stopped unless the pool
    keeps instances running)."""
    pool_state = _pool_state(group)
    state.lifecycle_state = f"Warmed:{pool_state}"
    if pool_state != "Running":
        group.autoscaling_backend.ec2_backend.stop_instances([state.instance.id])


def _launch_into_pool(group: Any, count: int, launch: Any) -> None:
    for _ in range(count):
        first = len(group.instance_states)
        launch(group, 1, group.get_propagated_tags())
        new = group.instance_states[first:]
        del group.instance_states[first:]
        for state in new:
            _warm_states(group).append(state)
            if _pending_actions(state):
                state.lifecycle_state = "Warmed:Pending:Wait"
            else:
                _enter_pool(group, state)


def _terminate_warm(group: Any, states: list[Any]) -> None:
    warm = _warm_states(group)
    for state in states:
        _pending_actions(state).clear()
        if state in warm:
            warm.remove(state)
    if states:
        group.autoscaling_backend.ec2_backend.terminate_instances([s.instance.id for s in states])


def _refill_pool(group: Any, launch: Any) -> None:
    """Keep the warm pool at its size: launch into it, or terminate the newest warm instances beyond it."""
    if getattr(group, "warm_pool", None) is None:
        return
    warm = _warm_states(group)
    size = warm_pool_size(group)
    if len(warm) < size:
        _launch_into_pool(group, size - len(warm), launch)
    elif len(warm) > size:
        _terminate_warm(group, warm[size:])


def _leave_pool(group: Any, state: Any) -> None:
    """Scale-out takes a warmed instance: it starts, and goes through the launch hooks again towards InService."""
    backend = group.autoscaling_backend
    _warm_states(group).remove(state)
    if state.instance.state != "running":
        backend.ec2_backend.start_instances([state.instance.id])
    group.instance_states.append(state)
    hooks = _launch_hooks(group)
    if hooks:
        state.lifecycle_state = "Pending:Wait"
        _pending_actions(state).update({hook.name: _start_action(hook) for hook in hooks})
    else:
        state.lifecycle_state = "InService"


def _finish_warm_action(backend: Any, group: Any, state: Any, result: str) -> None:
    """A warm-pool instance's launch hook completed: CONTINUE rests it in the pool, ABANDON terminates it."""
    if result == "ABANDON":
        _terminate_warm(group, [state])
        _refill_pool(group, backend.emulator_launch)
    elif not _pending_actions(state):
        _enter_pool(group, state)


# What load balancers' health checks found, per target group ARN and instance id (POST /_emulator/target-health).
_TARGET_HEALTH: dict[str, dict[str, str]] = {}
TARGET_HEALTH = {
    "healthy": (None, None),
    "initial": ("Elb.InitialHealthChecking", "Initial health checks in progress"),
    "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
}
REGISTRATION_IN_PROGRESS = ("Elb.RegistrationInProgress", "Target registration is in progress")


def _patch_elbv2_reported_target_health() -> None:
    """A registered target of a reported target group has the health its load balancer reported, ``initial``
    until it reports one; moto answers ``healthy`` for every registered target."""
    from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

    original_health_for = FakeTargetGroup.health_for

    def health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
        found = original_health_for(self, target, ec2_backend)
        with _LOCK:
            reported = _TARGET_HEALTH.get(self.arn)
            state = None if reported is None else reported.get(found.instance_id, "")
        if state is None or found.status != "healthy":  # never reported, or not registered / stopped
            return found
        reason, description = TARGET_HEALTH[state] if state else REGISTRATION_IN_PROGRESS
        return FakeHealthStatus(
            found.instance_id, found.port, found.health_check_port, state or "initial", reason, description
        )

    FakeTargetGroup.health_for = health_for


def _report_target_health(report: Any) -> str:
    """Record a load balancer's report; returns an error message, or "" when it was recorded."""
    if not isinstance(report, dict) or not all(isinstance(v, dict) for v in report.values()):
        return 'the body must be JSON like {"<target group ARN>": {"<instance id>": "healthy"}}'
    for arn, targets in report.items():
        wrong = sorted(f"{t}={s!r}" for t, s in targets.items() if s not in TARGET_HEALTH)
        if wrong:
            return f"{arn}: {', '.join(wrong)}: a state must be one of {', '.join(TARGET_HEALTH)}"
    with _LOCK:
        _TARGET_HEALTH.update({arn: dict(targets) for arn, targets in report.items()})
    return ""


def _patch_autoscaling_warm_pools() -> None:
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult

    launch = FakeAutoScalingGroup.replace_autoscaling_group_instances
    original_set_desired = FakeAutoScalingGroup.set_desired_capacity
    original_put = AutoScalingBackend.put_warm_pool
    original_delete_pool = AutoScalingBackend.delete_warm_pool
    original_delete_group = AutoScalingBackend.delete_auto_scaling_group
    original_describe_instances = AutoScalingBackend.describe_auto_scaling_instances
    original_notify = AutoScalingBackend.notify_terminate_instances
    AutoScalingBackend.emulator_launch = staticmethod(launch)

    def replace_autoscaling_group_instances(self: Any, count_needed: int, propagated_tags: dict[str, str]) -> None:
        ready = [s for s in _warm_states(self) if not s.lifecycle_state.startswith("Warmed:Pending")]
        taken = ready[:count_needed]
        for state in taken:
            _leave_pool(self, state)
        if count_needed > len(taken):
            launch(self, count_needed - len(taken), propagated_tags)
        if taken and self.name in self.autoscaling_backend.autoscaling_groups:
            self.autoscaling_backend.update_attached_target_groups(self.name)
        _refill_pool(self, launch)

    def set_desired_capacity(self: Any, new_capacity: int | None) -> None:
        original_set_desired(self, new_capacity)
        _refill_pool(self, launch)

    def put_warm_pool(
        self: Any,
        group_name: str,
        max_group_prepared_capacity: int | None,
        min_size: int | None,
        pool_state: str | None,
        instance_reuse_policy: dict[str, bool] | None,
    ) -> None:
        if pool_state not in (None, *POOL_STATES):
            raise ValidationError(f"PoolState must be one of {', '.join(POOL_STATES)}, not {pool_state!r}")
        group = self.describe_auto_scaling_groups([group_name])[0]
        prepared = None if max_group_prepared_capacity is None else int(max_group_prepared_capacity)
        if prepared is not None and prepared != -1 and prepared < int(min_size or 0):
            raise ValidationError(
                f"MaxGroupPreparedCapacity ({prepared}) must be at least the warm pool's MinSize ({min_size}), "
                "or -1 for the group's MaxSize"
            )
        original_put(self, group_name, prepared, min_size, pool_state, instance_reuse_policy)
        _refill_pool(group, launch)

    def delete_warm_pool(self: Any, group_name: str) -> None:
        group = self.describe_auto_scaling_groups([group_name])[0]
        _terminate_warm(group, list(_warm_states(group)))
        original_delete_pool(self, group_name)

    def delete_auto_scaling_group(self: Any, group_name: str) -> None:
        group = self.autoscaling_groups.get(group_name)
        if group is not None:
            group.warm_pool = None
            _terminate_warm(group, list(_warm_states(group)))
        original_delete_group(self, group_name)

    def describe_auto_scaling_instances(self: Any, instance_ids: list[str]) -> list[Any]:
        found = original_describe_instances(self, instance_ids)
        for group in self.autoscaling_groups.values():
            found.extend(s for s in _warm_states(group) if not instance_ids or s.instance.id in instance_ids)
        return found

    def notify_terminate_instances(self: Any, instance_ids: list[str]) -> None:
        original_notify(self, instance_ids)
        for group in list(self.autoscaling_groups.values()):
            gone = [s for s in _warm_states(group) if s.instance.id in instance_ids]
            if gone:
                _terminate_warm(group, gone)
                _refill_pool(group, launch)

    def response_describe_warm_pool(self: Any) -> Any:
        group_name = self._get_param("AutoScalingGroupName")
        pool = self.autoscaling_backend.describe_warm_pool(group_name=group_name)
        group = self.autoscaling_backend.autoscaling_groups[group_name]
        return ActionResult({"WarmPoolConfiguration": pool, "Instances": list(_warm_states(group))})

    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances
    FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity
    AutoScalingBackend.put_warm_pool = put_warm_pool
    AutoScalingBackend.delete_warm_pool = delete_warm_pool
    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group
    AutoScalingBackend.describe_auto_scaling_instances = describe_auto_scaling_instances
    AutoScalingBackend.notify_terminate_instances = notify_terminate_instances
    AutoScalingResponse.describe_warm_pool = response_describe_warm_pool


# --------------------------------------------------------------------------------------------- instance refresh
REFRESH_ACTIVE = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")
REFRESH_CHOICES = {
    "ScaleInProtectedInstances": ("Refresh", "Ignore", "Wait"),
    "StandbyInstances": ("Terminate", "Ignore", "Wait"),
}
DEFAULT_CHECKPOINT_DELAY_S = 3600
_AUTOSCALING_LOG: list[dict[str, Any]] = []


@dataclass
class _Phase:
    """One pass of replacements: ``old`` instances replaced by instances launched from ``template``/``version``."""

    template_id: str
    version: str
    old: list[str]
    new: list[str] = field(default_factory=list)
    ready_at: dict[str, float] = field(default_factory=dict)
    paused_until: float = 0.0
    checkpoints: list[int] = field(default_factory=list)
    reason: str = ""

    def replaced(self, live: dict[str, Any]) -> int:
        return sum(1 for i in self.old if i not in live)

    def percentage(self, live: dict[str, Any]) -> int:
        return 100 if not self.old else int(100 * self.replaced(live) / len(self.old))


@dataclass
class _Refresh:
    refresh_id: str
    group_name: str
    preferences: dict[str, Any]
    desired: dict[str, Any] | None
    previous: dict[str, str]
    forward: _Phase
    start_time: datetime
    status: str = "Pending"
    status_reason: str = ""
    end_time: datetime | None = None
    percentage: int = 0
    rollback: _Phase | None = None
    rollback_reason: str = ""
    rollback_start: datetime | None = None
    rollback_percentage: int = 0

    def describe(self, live: dict[str, Any]) -> dict[str, Any]:
        phase = self.forward
        left = len([i for i in phase.old if i in live])
        item: dict[str, Any] = {
            "InstanceRefreshId": self.refresh_id,
            "AutoScalingGroupName": self.group_name,
            "Status": self.status,
            "StatusReason": self.status_reason,
            "StartTime": self.start_time,
            "PercentageComplete": self.percentage,
            "InstancesToUpdate": left if self.status in REFRESH_ACTIVE and self.rollback is None else 0,
            "Preferences": self.preferences,
        }
        if self.end_time is not None:
            item["EndTime"] = self.end_time
        if self.desired:
            item["DesiredConfiguration"] = self.desired
        if self.rollback is not None:
            item["RollbackDetails"] = {
                "RollbackReason": self.rollback_reason,
                "RollbackStartTime": self.rollback_start,
                "PercentageCompleteOnRollback": self.rollback_percentage,
                "InstancesToUpdateOnRollback": len([i for i in self.rollback.old if i in live]),
            }
        return item


def _refreshes(group: Any) -> list[_Refresh]:
    return group.__dict__.setdefault("emulator_refreshes", [])


def _active_refresh(group: Any) -> _Refresh | None:
    return next((r for r in _refreshes(group) if r.status in REFRESH_ACTIVE), None)


def _group_template(group: Any) -> dict[str, str]:
    template = group.ec2_launch_template
    if template is None:
        return {}
    return {"LaunchTemplateId": template.id, "Version": str(group.provided_launch_template_version or "$Default")}


def _log_autoscaling(source: str, action: str, group: Any, **details: Any) -> None:
    _AUTOSCALING_LOG.append(
        {
            "time": datetime.now(UTC).isoformat(),
            "source": source,
            "action": action,
            "auto_scaling_group_name": group.name if group is not None else None,
            "launch_template": _group_template(group) if group is not None else {},
            **details,
        }
    )


def _resolve_version(template: Any, version: str) -> str:
    if version in ("", "$Default"):
        return str(template.default_version_number)
    if version == "$Latest":
        return str(template.latest_version_number)
    return str(int(version))


def _instance_template(state: Any) -> tuple[str, str]:
    spec = state.launch_template or {}
    return str(spec.get("LaunchTemplateId", "")), str(spec.get("Version", ""))


def _launch_with(group: Any, template_id: str, version: str, count: int) -> list[str]:
    """Launch ``count`` instances from a launch template version other than the group's, leaving the group's own
    configuration as it was (Auto Scaling changes it only when the refresh succeeds)."""
    backend = group.autoscaling_backend
    saved = (group.ec2_launch_template, group.launch_template_version, group.provided_launch_template_version)
    first = len(group.instance_states)
    try:
        group.ec2_launch_template = backend.ec2_backend.get_launch_template(template_id)
        group.launch_template_version = version
        backend.emulator_launch(group, count, group.get_propagated_tags())
    finally:
        group.ec2_launch_template, group.launch_template_version, group.provided_launch_template_version = saved
    backend.update_attached_target_groups(group.name)
    return [s.instance.id for s in group.instance_states[first:]]


def _retire(group: Any, instance_id: str) -> None:
    """Terminate an instance the refresh replaced: out of the group and its target groups, no replacement."""
    from moto.elbv2.models import elbv2_backends

    backend = group.autoscaling_backend
    state = next((s for s in group.instance_states if s.instance.id == instance_id), None)
    if state is not None and _terminate_in_group(group, state):
        return
    group.instance_states = [s for s in group.instance_states if s.instance.id != instance_id]
    backend.ec2_backend.terminate_instances([instance_id])
    elbv2_backends[backend.account_id][backend.region_name].notify_terminate_instances([instance_id])


def _warmup_s(group: Any, preferences: dict[str, Any]) -> float:
    warmup = preferences.get("InstanceWarmup")
    if warmup is None:
        warmup = getattr(group, "default_instance_warmup", None) or group.health_check_period or 300
    return _scaled(int(warmup))


def _blocked(group: Any, state: Any, preferences: dict[str, Any]) -> str:
    """Why ``state`` cannot be replaced now ('' when it can)."""
    if state.protected_from_scale_in and preferences.get("ScaleInProtectedInstances", "Wait") == "Wait":
        return "Waiting for instances protected from scale in"
    if state.lifecycle_state.startswith("Standby") and preferences.get("StandbyInstances", "Wait") == "Wait":
        return "Waiting for instances in Standby"
    return ""


def _step(group: Any, phase: _Phase, preferences: dict[str, Any], now: float) -> bool:
    """Advance one phase by what MinHealthyPercentage and MaxHealthyPercentage allow; True when it is done."""
    live = {s.instance.id: s for s in group.instance_states}
    old_left = [i for i in phase.old if i in live]
    new_live = [i for i in phase.new if i in live]
    for instance_id in new_live:
        if live[instance_id].lifecycle_state == "InService" and instance_id not in phase.ready_at:
            phase.ready_at[instance_id] = now + _warmup_s(group, preferences)
    ready = [i for i in new_live if now >= phase.ready_at.get(i, float("inf"))]
    in_flight = len(new_live) - len(ready)
    if not old_left and not in_flight:
        return True
    if now < phase.paused_until:
        return False
    phase.reason = ""
    desired = int(group.desired_capacity or 0)
    active = [
        s for s in group.instance_states if s.lifecycle_state == "InService" or s.lifecycle_state.startswith("Pending")
    ]
    healthy = sum(
        1
        for s in active
        if s.lifecycle_state == "InService" and (s.instance.id not in new_live or s.instance.id in ready)
    )
    min_healthy = math.ceil(desired * int(preferences.get("MinHealthyPercentage", 90)) / 100)
    max_total = max(desired, math.floor(desired * int(preferences.get("MaxHealthyPercentage", 100)) / 100))
    replaced = len(phase.old) - len(old_left)
    unpaired = len(new_live) - replaced
    launch = min(len(old_left) - unpaired, max_total - len(active))
    if launch > 0:
        phase.new.extend(_launch_with(group, phase.template_id, phase.version, launch))
        return False
    leaving = [i for i in old_left if live[i].lifecycle_state.startswith("Terminat")]
    replaceable = [i for i in old_left if i not in leaving and not _blocked(group, live[i], preferences)]
    if not replaceable:
        waiting = [i for i in old_left if i not in leaving]
        phase.reason = (
            _blocked(group, live[waiting[0]], preferences) if waiting else "Waiting for replaced instances to terminate"
        )
        return False
    if len(active) > desired:
        count = min(len(active) - desired, healthy - min_healthy)
    elif not in_flight:
        count = max(1, healthy - min_healthy)
    else:
        count = 0
    for instance_id in replaceable[: max(0, count)]:
        _retire(group, instance_id)
    if count > 0 and phase.checkpoints:
        percentage = phase.percentage({s.instance.id: s for s in group.instance_states})
        passed = [c for c in phase.checkpoints if c <= percentage and c < 100]
        if passed:
            phase.checkpoints = [c for c in phase.checkpoints if c > percentage]
            delay = int(preferences.get("CheckpointDelay", DEFAULT_CHECKPOINT_DELAY_S))
            phase.paused_until = now + _scaled(delay)
            phase.reason = f"Waiting at checkpoint {passed[-1]}% for {delay} seconds"
    return False


def _refresh_failure(group: Any, refresh: _Refresh) -> str:
    """Why the refresh fails now ('' while it may go on): a new instance lost, or an alarm of the specification."""
    from moto.cloudwatch.models import cloudwatch_backends

    backend = group.autoscaling_backend
    live = {s.instance.id for s in group.instance_states}
    lost = [i for i in refresh.forward.new if i not in live]
    if lost:
        return (
            f"Instance {lost[0]} launched by the instance refresh was terminated before the refresh completed "
            "(its launch lifecycle action was abandoned or it failed its health check)"
        )
    alarms = (refresh.preferences.get("AlarmSpecification") or {}).get("Alarms") or []
    if alarms:
        cloudwatch = cloudwatch_backends[backend.account_id][backend.region_name]
        for name in alarms:
            alarm = cloudwatch.alarms.get(name)
            if alarm is not None and alarm.state_value == "ALARM":
                return f"CloudWatch alarm {name} of the alarm specification is in ALARM state"
    return ""


def _begin_rollback(group: Any, refresh: _Refresh, reason: str) -> None:
    live = {s.instance.id for s in group.instance_states}
    refresh.status = "RollbackInProgress"
    refresh.rollback_reason = reason
    refresh.status_reason = reason
    refresh.rollback_start = datetime.now(UTC)
    refresh.rollback = _Phase(
        template_id=refresh.previous["LaunchTemplateId"],
        version=refresh.previous["Version"],
        old=[i for i in refresh.forward.new if i in live],
    )
    _log_autoscaling(
        "instance-refresh", "RollbackStarted", group, instance_refresh_id=refresh.refresh_id, reason=reason
    )


def _end(group: Any, refresh: _Refresh, status: str, reason: str = "") -> None:
    refresh.status = status
    refresh.status_reason = reason or refresh.status_reason
    refresh.end_time = datetime.now(UTC)
    group.set_desired_capacity(group.desired_capacity)
    _log_autoscaling("instance-refresh", status, group, instance_refresh_id=refresh.refresh_id)


def _advance_refresh(group: Any, refresh: _Refresh, now: float) -> None:
    if refresh.status == "Pending":
        refresh.status = "InProgress"
    if refresh.status == "Cancelling":
        _end(group, refresh, "Cancelled", "Instance refresh cancelled by request")
        return
    live = {s.instance.id: s for s in group.instance_states}
    if refresh.status == "InProgress":
        failure = _refresh_failure(group, refresh)
        if failure and refresh.preferences.get("AutoRollback"):
            _begin_rollback(group, refresh, failure)
        elif failure:
            _end(group, refresh, "Failed", failure)
            return
        elif _step(group, refresh.forward, refresh.preferences, now):
            if refresh.desired:
                spec = refresh.desired["LaunchTemplate"]
                group._set_launch_configuration(
                    None, {"LaunchTemplateId": spec["LaunchTemplateId"], "Version": spec["Version"]}, None
                )
            refresh.percentage = 100
            _end(group, refresh, "Successful", "Instance refresh completed")
            return
        else:
            refresh.percentage = refresh.forward.percentage({s.instance.id: s for s in group.instance_states})
            refresh.status_reason = refresh.forward.reason or "Replacing instances"
            return
    if refresh.status == "RollbackInProgress" and refresh.rollback is not None:
        if _step(group, refresh.rollback, refresh.preferences, now):
            refresh.rollback_percentage = 100
            _end(group, refresh, "RollbackSuccessful", f"Rolled back: {refresh.rollback_reason}")
        else:
            refresh.rollback_percentage = refresh.rollback.percentage(live)


def advance_instance_refreshes(now: float | None = None) -> None:
    """Move every active instance refresh on by one step of the emulator's clock."""
    from moto.autoscaling.models import autoscaling_backends

    now = time.monotonic() if now is None else now
    with _LOCK:
        for account_backends in list(autoscaling_backends.values()):
            for backend in list(account_backends.values()):
                for group in list(backend.autoscaling_groups.values()):
                    refresh = _active_refresh(group)
                    if refresh is not None:
                        _advance_refresh(group, refresh, now)


def _refresh_error(code: str, message: str) -> Exception:
    from moto.autoscaling.exceptions import AutoscalingClientError

    error = AutoscalingClientError(message)
    error.code = code
    return error


def _check_preferences(backend: Any, group: Any, desired: dict[str, Any] | None, preferences: dict[str, Any]) -> None:
    from moto.autoscaling.exceptions import ValidationError

    low = int(preferences.get("MinHealthyPercentage", 90))
    if not 0 <= low <= 100:
        raise ValidationError(f"MinHealthyPercentage must be between 0 and 100, not {low}")
    if "MaxHealthyPercentage" in preferences:
        high = int(preferences["MaxHealthyPercentage"])
        if "MinHealthyPercentage" not in preferences:
            raise ValidationError("MaxHealthyPercentage needs MinHealthyPercentage: set both")
        if not 100 <= high <= 200 or high - low > 100:
            raise ValidationError(
                f"MaxHealthyPercentage must be between 100 and 200 and at most 100 above MinHealthyPercentage, "
                f"not {high} with MinHealthyPercentage {low}"
            )
    checkpoints = [int(c) for c in preferences.get("CheckpointPercentages") or []]
    if checkpoints and (checkpoints != sorted(set(checkpoints)) or checkpoints[0] < 1 or checkpoints[-1] > 100):
        raise ValidationError(f"CheckpointPercentages must be unique, ascending, between 1 and 100: {checkpoints}")
    if "CheckpointDelay" in preferences and not checkpoints:
        raise ValidationError("CheckpointDelay needs CheckpointPercentages: set both")
    for name, choices in REFRESH_CHOICES.items():
        if name in preferences and preferences[name] not in choices:
            raise ValidationError(f"{name} must be one of {', '.join(choices)}, not {preferences[name]!r}")
    if preferences.get("SkipMatching") and not desired:
        raise ValidationError("SkipMatching needs a DesiredConfiguration to match instances against")
    if preferences.get("AutoRollback"):
        if not desired:
            raise ValidationError(
                "AutoRollback needs a DesiredConfiguration: without one there is nothing to roll back"
            )
        if str(group.provided_launch_template_version or "$Default") in ("$Latest", "$Default"):
            raise ValidationError(
                f"AutoRollback is not supported: group {group.name} uses its launch template's "
                f"{group.provided_launch_template_version or '$Default'} version; set a version number on the group"
            )
    alarms = (preferences.get("AlarmSpecification") or {}).get("Alarms") or []
    if alarms:
        from moto.cloudwatch.models import cloudwatch_backends

        known = cloudwatch_backends[backend.account_id][backend.region_name].alarms
        missing = [a for a in alarms if a not in known]
        if missing:
            raise ValidationError(f"AlarmSpecification names alarms that do not exist: {', '.join(missing)}")


def _start_instance_refresh(
    backend: Any, group_name: str, desired: dict[str, Any] | None, preferences: dict[str, Any]
) -> str:
    from moto.autoscaling.exceptions import ValidationError

    group = backend.autoscaling_groups.get(group_name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{group_name}' not found")
    if _active_refresh(group) is not None:
        raise _refresh_error(
            "InstanceRefreshInProgress",
            "An Instance Refresh is already in progress and blocks the execution of this Instance Refresh.",
        )
    if group.ec2_launch_template is None:
        raise ValidationError(
            f"group {group_name} has no launch template: the emulator refreshes launch templates only"
        )
    _check_preferences(backend, group, desired, preferences)
    previous = _group_template(group)
    target_id, version = previous["LaunchTemplateId"], previous["Version"]
    if desired:
        spec = desired.get("LaunchTemplate") or {}
        try:
            template = (
                backend.ec2_backend.get_launch_template(spec["LaunchTemplateId"])
                if spec.get("LaunchTemplateId")
                else backend.ec2_backend.get_launch_template_by_name(spec["LaunchTemplateName"])
            )
            version = str(spec.get("Version") or "$Default")
            template.get_version(_resolve_version(template, version))
        except Exception as error:
            raise ValidationError(
                f"DesiredConfiguration.LaunchTemplate {spec} does not name an existing launch template version"
            ) from error
        target_id = template.id
        desired = {
            "LaunchTemplate": {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name, "Version": version}
        }
    template = backend.ec2_backend.get_launch_template(target_id)
    resolved = _resolve_version(template, version)
    old = []
    for state in group.instance_states:
        if state.lifecycle_state.startswith("Terminat"):
            continue
        if preferences.get("SkipMatching") and _instance_template(state) == (target_id, resolved):
            continue
        if state.protected_from_scale_in and preferences.get("ScaleInProtectedInstances", "Wait") == "Ignore":
            continue
        if state.lifecycle_state.startswith("Standby") and preferences.get("StandbyInstances", "Wait") == "Ignore":
            continue
        old.append(state.instance.id)
    checkpoints = [int(c) for c in preferences.get("CheckpointPercentages") or []]
    refresh = _Refresh(
        refresh_id=str(uuid.uuid4()),
        group_name=group_name,
        preferences=preferences,
        desired=desired,
        previous=previous,
        forward=_Phase(template_id=target_id, version=resolved, old=old, checkpoints=checkpoints),
        start_time=datetime.now(UTC),
    )
    _refreshes(group).insert(0, refresh)
    return refresh.refresh_id


def _patch_autoscaling_instance_refresh() -> None:
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult

    original_call = AutoScalingResponse.call_action

    def call_action(self: Any) -> Any:
        with _LOCK:
            group_name = self._get_param("AutoScalingGroupName")
            backend = self.autoscaling_backend
            before = backend.autoscaling_groups.get(group_name) if group_name else None
            before_template = _group_template(before) if before is not None else {}
            response = original_call(self)
            group = backend.autoscaling_groups.get(group_name) if group_name else None
            action = self._get_action()
            if (group is not None or before is not None) and not action.startswith("Describe"):
                details = (
                    {"previous_launch_template": before_template}
                    if group is not None and _group_template(group) != before_template
                    else {}
                )
                _log_autoscaling("api", action, group or before, **details)
            return response

    def group_of(self: Any) -> Any:
        group_name = self._get_param("AutoScalingGroupName")
        group = self.autoscaling_backend.autoscaling_groups.get(group_name)
        if group is None:
            raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{group_name}' not found")
        return group

    def start_instance_refresh(self: Any) -> Any:
        params = self._get_params()
        refresh_id = _start_instance_refresh(
            self.autoscaling_backend,
            params.get("AutoScalingGroupName"),
            params.get("DesiredConfiguration"),
            _typed_preferences(params.get("Preferences") or {}),
        )
        return ActionResult({"InstanceRefreshId": refresh_id})

    def describe_instance_refreshes(self: Any) -> Any:
        group = group_of(self)
        wanted = self._get_param("InstanceRefreshIds") or []
        live = {s.instance.id: s for s in group.instance_states}
        items = [r.describe(live) for r in _refreshes(group) if not wanted or r.refresh_id in wanted]
        return ActionResult({"InstanceRefreshes": items})

    def cancel_instance_refresh(self: Any) -> Any:
        group = group_of(self)
        refresh = _active_refresh(group)
        if refresh is None or refresh.status not in ("Pending", "InProgress", "RollbackInProgress"):
            raise _refresh_error(
                "ActiveInstanceRefreshNotFound",
                f"No in progress or pending Instance Refresh found for Auto Scaling group {group.name}",
            )
        refresh.status = "Cancelling"
        return ActionResult({"InstanceRefreshId": refresh.refresh_id})

    def rollback_instance_refresh(self: Any) -> Any:
        group = group_of(self)
        refresh = _active_refresh(group)
        if refresh is None or refresh.status not in ("Pending", "InProgress"):
            raise _refresh_error(
                "ActiveInstanceRefreshNotFound",
                f"No in progress or pending Instance Refresh found for Auto Scaling group {group.name}",
            )
        if not refresh.desired or refresh.previous.get("Version") in ("$Latest", "$Default"):
            raise _refresh_error(
                "IrreversibleInstanceRefresh",
                "The instance refresh cannot be rolled back: it has no desired configuration or the group uses "
                "its launch template's $Latest or $Default version",
            )
        _begin_rollback(group, refresh, "Rollback requested by RollbackInstanceRefresh")
        return ActionResult({"InstanceRefreshId": refresh.refresh_id})

    AutoScalingResponse.call_action = call_action
    AutoScalingResponse.start_instance_refresh = start_instance_refresh
    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes
    AutoScalingResponse.cancel_instance_refresh = cancel_instance_refresh
    AutoScalingResponse.rollback_instance_refresh = rollback_instance_refresh


def _typed_preferences(raw: dict[str, Any]) -> dict[str, Any]:
    """Preferences as AWS returns them: numbers as int, flags as bool (the query protocol sends strings)."""
    preferences = dict(raw)
    for name in ("MinHealthyPercentage", "MaxHealthyPercentage", "InstanceWarmup", "CheckpointDelay", "BakeTime"):
        if name in preferences:
            preferences[name] = int(preferences[name])
    for name in ("SkipMatching", "AutoRollback"):
        if name in preferences and isinstance(preferences[name], str):
            preferences[name] = preferences[name].lower() == "true"
    if "CheckpointPercentages" in preferences:
        preferences["CheckpointPercentages"] = [int(c) for c in preferences["CheckpointPercentages"]]
    return preferences


# ------------------------------------------------------------------------------------------ terminating hooks
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"


def _terminate_hooks(group: Any) -> list[Any]:
    return [
        hook
        for hook in group.autoscaling_backend.lifecycle_hooks.values()
        if hook.auto_scaling_group_name == group.name and hook.lifecycle_transition == TERMINATING
    ]


def _deregistration_delay_s(group: Any) -> float:
    """The longest deregistration delay of the group's target groups (AWS waits for it before Terminating:Wait)."""
    backend = group.autoscaling_backend
    delays = [0]
    for arn in group.target_group_arns:
        target_group = backend.elbv2_backend.target_groups.get(arn)
        if target_group is not None:
            delays.append(int(target_group.attributes.get("deregistration_delay.timeout_seconds", 300)))
    return _scaled(max(delays))


def _begin_termination(group: Any, state: Any) -> None:
    """The group terminates ``state``: out of its target groups now, Terminating:Wait after the deregistration delay
    (the timer moves it on), terminated when its terminating actions complete."""
    backend = group.autoscaling_backend
    state.lifecycle_state = "Terminating"
    _pending_actions(state).clear()
    for arn in group.target_group_arns:
        target_group = backend.elbv2_backend.target_groups.get(arn)
        if target_group is not None:
            target_group.targets.pop(state.instance.id, None)
    state.emulator_drained_at = time.monotonic() + _deregistration_delay_s(group)
    _log_autoscaling("lifecycle", "Terminating", group, instance_id=state.instance.id)


def _complete_termination(group: Any, state: Any) -> None:
    _pending_actions(state).clear()
    state.lifecycle_state = "Terminated"
    group.instance_states = [s for s in group.instance_states if s is not state]
    group.autoscaling_backend.ec2_backend.terminate_instances([state.instance.id])
    _log_autoscaling("lifecycle", "Terminated", group, instance_id=state.instance.id)


def _terminate_in_group(group: Any, state: Any) -> bool:
    """Terminate through the terminating hooks if the group has any; False when it has none (caller terminates)."""
    if not _terminate_hooks(group):
        return False
    _begin_termination(group, state)
    return True


def advance_terminations(now: float | None = None) -> None:
    """Instances whose deregistration delay passed go Terminating:Wait on the group's terminating hooks."""
    from moto.autoscaling.models import autoscaling_backends

    now = time.monotonic() if now is None else now
    with _LOCK:
        for account_backends in list(autoscaling_backends.values()):
            for backend in list(account_backends.values()):
                for group in list(backend.autoscaling_groups.values()):
                    for state in list(group.instance_states):
                        if state.lifecycle_state != "Terminating" or now < state.emulator_drained_at:
                            continue
                        hooks = _terminate_hooks(group)
                        if hooks:
                            state.lifecycle_state = "Terminating:Wait"
                            _pending_actions(state).update({hook.name: _start_action(hook) for hook in hooks})
                        else:
                            _complete_termination(group, state)


def complete_protected_scale_ins() -> None:
    """A scale-in that found its instances protected finishes once protection is lifted. AWS (Auto Scaling user
    guide, "Use instance scale-in protection"): when every instance is protected, the desired capacity is decremented,
    "however, the Auto Scaling group can't terminate the required number of instances until their instance scale-in
    protection settings are disabled"."""
    from moto.autoscaling.models import autoscaling_backends

    with _LOCK:
        for account_backends in list(autoscaling_backends.values()):
            for backend in list(account_backends.values()):
                for group in list(backend.autoscaling_groups.values()):
                    active = group.active_instances()
                    excess = len(active) - int(group.desired_capacity or 0)
                    if excess <= 0 or not _terminate_hooks(group) or getattr(group, "emulator_deleting", False):
                        continue
                    if _active_refresh(group) is not None:
                        continue  # an instance refresh owns the group's capacity while it runs
                    for state in _scale_in_order(group, active)[:excess]:
                        _begin_termination(group, state)


def _scale_in_order(group: Any, states: list[Any]) -> list[Any]:
    """Default termination policy, simplified: instances on another launch template version than the group's first,
    then the oldest; protected instances never."""
    current = _group_template(group)
    template = group.ec2_launch_template
    current_version = _resolve_version(template, current.get("Version", "$Default")) if template else ""
    candidates = [s for s in states if not s.protected_from_scale_in]
    return sorted(
        candidates,
        key=lambda s: (_instance_template(s) == (current.get("LaunchTemplateId", ""), current_version),),
    )


def _patch_autoscaling_terminate_hooks() -> None:
    from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup

    original_set_desired = FakeAutoScalingGroup.set_desired_capacity
    original_terminate = AutoScalingBackend.terminate_instance
    original_delete = AutoScalingBackend.delete_auto_scaling_group

    def set_desired_capacity(self: Any, new_capacity: int | None) -> None:
        target = int(self.min_size if new_capacity is None else new_capacity)
        active = self.active_instances()
        if len(active) > target and _terminate_hooks(self) and not getattr(self, "emulator_deleting", False):
            for state in _scale_in_order(self, active)[: len(active) - target]:
                _begin_termination(self, state)
        original_set_desired(self, new_capacity)

    def terminate_instance(self: Any, instance_id: str, should_decrement: bool) -> Any:
        from moto.autoscaling.models import TerminateInstanceActivity

        for group in self.autoscaling_groups.values():
            state = next((s for s in group.instance_states if s.instance.id == instance_id), None)
            if state is not None and _terminate_hooks(group) and not state.lifecycle_state.startswith("Terminat"):
                original_size = group.desired_capacity
                _begin_termination(group, state)
                if should_decrement:
                    group.desired_capacity = max(int(group.min_size or 0), int(group.desired_capacity or 0) - 1)
                group.set_desired_capacity(group.desired_capacity)
                return TerminateInstanceActivity(state.instance, original_size)
        return original_terminate(self, instance_id, should_decrement)

    def delete_auto_scaling_group(self: Any, group_name: str) -> None:
        group = self.autoscaling_groups.get(group_name)
        if group is not None:
            group.emulator_deleting = True
            for state in [s for s in group.instance_states if s.lifecycle_state.startswith("Terminat")]:
                _complete_termination(group, state)
        original_delete(self, group_name)

    FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity
    AutoScalingBackend.terminate_instance = terminate_instance
    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group


# ----------------------------------------------------------------------------------- target tracking policies
TARGET_TRACKING_PERIOD_S = 60  # AWS evaluates target tracking on one-minute datapoints
TARGET_TRACKING_WINDOW_PERIODS = 3  # the scale-out alarm looks at three of them
MIN_WINDOW_S = 5.0


def _metric_value(backend: Any, spec: dict[str, Any], now: datetime) -> float | None:
    """The statistic of the metric ``spec`` names over the recent window, None without matching datapoints."""
    from moto.cloudwatch.models import MetricDatum, cloudwatch_backends

    cloudwatch = cloudwatch_backends[backend.account_id][backend.region_name]
    dimensions = {(d["Name"], str(d["Value"])) for d in spec.get("Dimensions") or []}
    window = max(_scaled(TARGET_TRACKING_PERIOD_S * TARGET_TRACKING_WINDOW_PERIODS), MIN_WINDOW_S)
    values = []
    for datum in cloudwatch.metric_data:
        if not isinstance(datum, MetricDatum):
            continue
        if (datum.namespace, datum.name) != (spec.get("Namespace"), spec.get("MetricName")):
            continue
        if {(d.name, str(d.value)) for d in datum.dimensions} != dimensions:
            continue
        stamp = datum.timestamp if datum.timestamp.tzinfo else datum.timestamp.replace(tzinfo=UTC)
        if (now - stamp).total_seconds() <= window:
            values.append(float(datum.value))
    if not values:
        return None
    statistic = spec.get("Statistic", "Average")
    return {
        "Average": sum(values) / len(values),
        "Minimum": min(values),
        "Maximum": max(values),
        "Sum": sum(values),
        "SampleCount": float(len(values)),
    }[statistic]


def evaluate_target_tracking(now: float | None = None) -> None:
    """Apply each target tracking policy on a customized metric: capacity = ceil(capacity x metric / target),
    within the group's MinSize and MaxSize (no scale-in with DisableScaleIn)."""
    from moto.autoscaling.models import autoscaling_backends

    now = time.monotonic() if now is None else now
    wall = datetime.now(UTC)
    with _LOCK:
        for account_backends in list(autoscaling_backends.values()):
            for backend in list(account_backends.values()):
                for policy in list(backend.policies.values()):
                    config = policy.target_tracking_configuration
                    spec = getattr(config, "CustomizedMetricSpecification", None) if config is not None else None
                    group = backend.autoscaling_groups.get(policy.auto_scaling_group_name)
                    if not spec or group is None or "MetricName" not in spec or not hasattr(config, "TargetValue"):
                        continue
                    if now < policy.__dict__.get("emulator_next_evaluation", 0.0):
                        continue
                    policy.emulator_next_evaluation = now + max(_scaled(TARGET_TRACKING_PERIOD_S), LIFECYCLE_TICK_S)
                    value = _metric_value(backend, spec, wall)
                    if value is None:
                        continue
                    target = float(config.TargetValue)
                    current = int(group.desired_capacity or 0)
                    wanted = math.ceil(max(current, 1) * value / target) if target > 0 else current
                    wanted = min(max(wanted, int(group.min_size or 0)), int(group.max_size or 0))
                    disable_in = str(getattr(config, "DisableScaleIn", False)).lower() == "true"
                    if wanted == current or (wanted < current and disable_in):
                        continue
                    group.set_desired_capacity(wanted)
                    _log_autoscaling(
                        "target-tracking",
                        "SetDesiredCapacity",
                        group,
                        policy_name=policy.name,
                        metric_value=value,
                        target_value=target,
                        desired_capacity=wanted,
                        previous_desired_capacity=current,
                    )


# ---------------------------------------------------------------------------------------- scheduled actions
CRON_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))  # minute hour day-of-month month day-of-week (0 = Sunday)
# Names the month and day-of-week fields take besides numbers (any case), as in "0 20 * * MON-FRI".
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
CRON_NAMES = {
    (1, 12): {name: number for number, name in enumerate(MONTH_NAMES, 1)},
    (0, 6): {name: number for number, name in enumerate(DAY_NAMES)},
}
MAX_MINUTES_PER_TICK = 2 * 24 * 60
_CLOCK: dict[str, Any] = {}


def _cron_values(field_text: str, low: int, high: int) -> set[int]:
    """The values one cron field allows (``*``, ``*/n``, ``a-b``, ``a-b/n``, lists; 7 is Sunday too; names in the
    month and day-of-week fields, ``MON-FRI``, ``JAN,JUL``)."""
    names = CRON_NAMES.get((low, high), {})

    def number(text: str) -> int:
        return names[text.upper()] if text.upper() in names else int(text)

    values: set[int] = set()
    for part in field_text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            start, end = low, high
        elif "-" in body:
            start, end = (number(x) for x in body.split("-", 1))
        else:
            start = end = number(body)
        values.update(v % 7 if high == 6 else v for v in range(start, end + 1, step))
    return values


def cron_matches(expression: str, moment: datetime) -> bool:
    """Whether the five-field cron ``expression`` (Recurrence) fires at ``moment``'s minute."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"Recurrence {expression!r} is not a five-field cron expression")
    minute, hour, day, month, weekday = (_cron_values(f, *r) for f, r in zip(fields, CRON_FIELDS, strict=True))
    cron_weekday = (moment.weekday() + 1) % 7
    day_ok = moment.day in day
    weekday_ok = cron_weekday in weekday
    both_restricted = fields[2] != "*" and fields[4] != "*"  # cron: then either day field may match
    calendar_ok = (day_ok or weekday_ok) if both_restricted else (day_ok and weekday_ok)
    return moment.minute in minute and moment.hour in hour and moment.month in month and calendar_ok


def emulated_now() -> datetime:
    """The emulator's compressed wall clock: real time runs 1 / time scale faster from where it was last set."""
    now = time.monotonic()
    if "origin" not in _CLOCK:
        _CLOCK.update(origin=datetime.now(UTC), since=now)
    elapsed = (now - _CLOCK["since"]) / _SETTINGS.lifecycle_time_scale
    return _CLOCK["origin"] + timedelta(seconds=elapsed)


def _set_clock(moment: datetime) -> None:
    with _LOCK:
        _CLOCK.update(origin=moment, since=time.monotonic(), last=moment)


def run_scheduled_actions() -> None:
    """Apply the scheduled actions whose Recurrence fires in the minutes the compressed clock passed since the last
    tick (in the action's TimeZone, UTC by default)."""
    from zoneinfo import ZoneInfo

    from moto.autoscaling.models import autoscaling_backends

    with _LOCK:
        now = emulated_now()
        last = _CLOCK.get("last", now)
        _CLOCK["last"] = now
        first_minute = last.replace(second=0, microsecond=0) + timedelta(minutes=1)
        minutes = []
        moment = first_minute
        while moment <= now and len(minutes) < MAX_MINUTES_PER_TICK:
            minutes.append(moment)
            moment += timedelta(minutes=1)
        if not minutes:
            return
        for account_backends in list(autoscaling_backends.values()):
            for backend in list(account_backends.values()):
                for action in list(backend.scheduled_actions.values()):
                    group = backend.autoscaling_groups.get(action.auto_scaling_group_name)
                    if not action.recurrence or group is None:
                        continue
                    try:
                        zone = ZoneInfo(action.time_zone) if action.time_zone else UTC
                        if not any(cron_matches(action.recurrence, m.astimezone(zone)) for m in minutes):
                            continue
                    except (ValueError, KeyError):  # a recurrence or zone the emulator cannot read never fires
                        continue
                    if action.min_size is not None:
                        group.min_size = int(action.min_size)
                    if action.max_size is not None:
                        group.max_size = int(action.max_size)
                    desired = action.desired_capacity
                    if desired is None:
                        desired = min(max(int(group.desired_capacity or 0), group.min_size), group.max_size)
                    group.set_desired_capacity(int(desired))
                    _log_autoscaling(
                        "schedule",
                        "ScheduledActionRun",
                        group,
                        scheduled_action_name=action.scheduled_action_name,
                        emulated_time=now.isoformat(),
                        desired_capacity=int(desired),
                    )


def _target_lifecycle_states() -> list[dict[str, Any]]:
    from moto.autoscaling.models import autoscaling_backends

    found = []
    with _LOCK:
        for account_backends in list(autoscaling_backends.values()):
            for backend in list(account_backends.values()):
                for group in list(backend.autoscaling_groups.values()):
                    for state in _group_states(group):
                        found.append(
                            {
                                "region": backend.region_name,
                                "auto_scaling_group_name": group.name,
                                "instance_id": state.instance.id,
                                "lifecycle_state": state.lifecycle_state,
                                "target_lifecycle_state": target_lifecycle_state(group, state),
                            }
                        )
    return found


def _patch_ec2_images_pending() -> None:
    from moto.ec2.models.amis import AmiBackend

    original = AmiBackend.create_image

    def create_image(self: Any, *args: Any, **kwargs: Any) -> Any:
        ami = original(self, *args, **kwargs)
        if _SETTINGS.images_pending:
            ami.state = "pending"
        return ami

    AmiBackend.create_image = create_image


def _patch_ec2_copy_image() -> None:
    """CopyImage as AWS's API reference describes it: the copy names its source (DescribeImages SourceImageId and
    SourceImageRegion), CopyImageTags copies the source's user-defined tags and TagSpecifications adds tags to the
    new AMI; an AMI name already used in the destination region is refused. moto kept none of these."""
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import InvalidParameterValueError
    from moto.ec2.models import ec2_backends
    from moto.ec2.responses.amis import AmisResponse

    def copy_image(self: Any) -> Any:
        self.error_on_dryrun()
        source_id, source_region = self._get_param("SourceImageId"), self._get_param("SourceRegion")
        name = self._get_param("Name")
        if any(ami.name == name for ami in self.ec2_backend.amis.values()):
            raise InvalidParameterValueError(f"AMI name {name} is already in use by an AMI in this region")
        image = self.ec2_backend.copy_image(source_id, source_region, name, self._get_param("Description"))
        image.source_image_id, image.source_image_region = source_id, source_region
        tags = {}
        if str(self._get_param("CopyImageTags", False)).lower() == "true":
            source_backend = ec2_backends[self.ec2_backend.account_id][source_region]
            tags.update({k: v for k, v in source_backend.tags.get(source_id, {}).items() if not k.startswith("aws:")})
        for spec in self._get_param("TagSpecifications", []):
            if spec.get("ResourceType") == "image":
                tags.update({tag["Key"]: tag["Value"] for tag in spec.get("Tags", [])})
        if tags:
            self.ec2_backend.create_tags([image.id], tags)
        return ActionResult({"ImageId": image.id})

    AmisResponse.copy_image = copy_image


def _set_image_state(image_id: str, state: str) -> bool:
    from moto.ec2.models import ec2_backends

    found = False
    with _LOCK:
        for account_backends in list(ec2_backends.values()):
            for backend in list(account_backends.values()):
                if image_id in backend.amis:
                    backend.amis[image_id].state = state
                    found = True
    return found


# ------------------------------------------------------------------------------------------------- API call record
CALLS_KEPT = 100_000  # the newest calls kept (the twin makes tens of thousands in a run)
# Credential scopes (signing names) whose IAM service prefix differs.
_IAM_PREFIX_OF_SCOPE = {"monitoring": "cloudwatch"}
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/[^/]+/([^/]+)/aws4_request")
_CBOR_OPERATION = re.compile(r"^/service/[^/]+/operation/([A-Za-z0-9]+)$")
_S3_LIST_PARAMETERS = {"prefix", "delimiter", "marker", "continuation-token", "start-after", "encoding-type"}
_CALLS: deque[tuple[float, str, str, str, int]] = deque(maxlen=CALLS_KEPT)
_CALLS_LOCK = threading.Lock()


def _s3_operation(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> str:
    """The S3 REST operation of a path-style request (``/bucket`` or ``/bucket/key``), as far as S3's API reference
    names them for the requests the product makes (objects, multipart uploads, listings); other bucket
    sub-resources get ``<Get|Put|Delete>Bucket<Sub-resource>``."""
    parts = path.lstrip("/").split("/", 1)
    if not parts[0]:
        return "ListBuckets" if method == "GET" else f"{method} /"
    has = set(query)
    if len(parts) == 1 or not parts[1]:  # the bucket
        if method == "HEAD":
            return "HeadBucket"
        if method == "POST" and "delete" in has:
            return "DeleteObjects"
        if method == "GET" and "uploads" in has:
            return "ListMultipartUploads"
        if method == "GET" and "versions" in has:
            return "ListObjectVersions"
        verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, method)
        # A sub-resource is a parameter without a value (?versioning); a listing's parameters have values.
        sub = sorted(name for name, values in query.items() if values == [""] and name not in _S3_LIST_PARAMETERS)
        if sub:
            return f"{verb}Bucket{sub[0][:1].upper()}{sub[0][1:]}"
        if method == "GET":
            return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
        return {"PUT": "CreateBucket", "DELETE": "DeleteBucket"}.get(method, f"{method} bucket")
    copy = "x-amz-copy-source" in headers
    if "uploadId" in has:
        return {
            "PUT": "UploadPartCopy" if copy else "UploadPart",
            "POST": "CompleteMultipartUpload",
            "DELETE": "AbortMultipartUpload",
            "GET": "ListParts",
        }.get(method, f"{method} object")
    if method == "POST" and "uploads" in has:
        return "CreateMultipartUpload"
    if "tagging" in has:
        return {"GET": "GetObjectTagging", "PUT": "PutObjectTagging", "DELETE": "DeleteObjectTagging"}.get(
            method, f"{method} object"
        )
    return {
        "GET": "GetObject",
        "HEAD": "HeadObject",
        "PUT": "CopyObject" if copy else "PutObject",
        "DELETE": "DeleteObject",
    }.get(method, f"{method} object")


def call_of_request(
    method: str, path: str, query_string: str, headers: dict[str, str], form: bytes = b""
) -> tuple[str, str, str]:
    """(access key id, IAM service prefix, API action) of one AWS API request; "" where the request does not say.

    The key and service come from the SigV4 Authorization header's credential scope (or a presigned URL's
    X-Amz-Credential), or S3's signature version 2 (``AWS key:signature``, a presigned URL's AWSAccessKeyId); the
    action from X-Amz-Target (JSON protocols), the Smithy RPC v2 CBOR path, the Action
    parameter (query protocols: in the query string or the form body ``form``) or, for S3, the method and path
    (:func:`_s3_operation`). ``headers`` has lower-case names.
    """
    query = urllib.parse.parse_qs(query_string, keep_blank_values=True)
    access_key = service = ""
    match = _CREDENTIAL.search(headers.get("authorization", ""))
    if match is None and query.get("X-Amz-Credential"):
        match = _CREDENTIAL.search("Credential=" + query["X-Amz-Credential"][0])
    if match is not None:
        access_key, scope = match.group(1), match.group(2)
        service = _IAM_PREFIX_OF_SCOPE.get(scope, scope)
    elif headers.get("authorization", "").startswith("AWS ") or {"AWSAccessKeyId", "Expires"} <= set(query):
        # S3's signature version 2 (boto3 presigns S3 URLs with it unless told s3v4): only S3 takes it.
        v2 = headers.get("authorization", "")[4:].split(":", 1)[0] or query.get("AWSAccessKeyId", [""])[0]
        access_key, service = v2, "s3"
    target = headers.get("x-amz-target", "")
    cbor = _CBOR_OPERATION.match(path)
    if target:
        action = target.rsplit(".", 1)[-1]
    elif cbor is not None:
        action = cbor.group(1)
    elif query.get("Action"):
        action = query["Action"][0]
    elif form and b"Action=" in form:
        action = urllib.parse.parse_qs(form.decode("utf-8", "replace")).get("Action", [""])[0]
    elif service == "s3":
        action = _s3_operation(method, path, query, headers)
    else:
        action = ""
    return access_key, service, action


def _record_call(environ: dict[str, Any], status: int) -> None:
    """Add one request of the WSGI ``environ`` to the call record (the form body is read before the request runs)."""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    access_key, service, action = call_of_request(
        environ.get("REQUEST_METHOD", "GET"),
        environ.get("PATH_INFO") or "/",
        environ.get("QUERY_STRING", ""),
        headers,
        environ.get("ollama.form", b""),
    )
    entry = (round(time.time(), 3), sys.intern(access_key), sys.intern(service), sys.intern(action), status)
    with _CALLS_LOCK:
        _CALLS.append(entry)


def _buffer_form(environ: dict[str, Any]) -> None:
    """Read a form-encoded body (a query-protocol call: small) so its Action can be recorded, and hand moto a copy."""
    if not (environ.get("CONTENT_TYPE") or "").startswith("application/x-www-form-urlencoded"):
        return
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length <= 0:
        return
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["ollama.form"] = body


def recorded_calls(access_key: str | None = None) -> list[dict[str, Any]]:
    """The recorded calls (of ``access_key`` only, when given), oldest first."""
    with _CALLS_LOCK:
        held = list(_CALLS)
    return [
        {"time": when, "access_key": key, "service": service, "action": action, "status": status}
        for when, key, service, action, status in held
        if access_key is None or key == access_key
    ]


class EmulatorApp:
    """WSGI wrapper around the moto server: the private ``/_emulator/`` routes, and reset of their records."""

    def __init__(self, moto_app: Any) -> None:
        self.moto_app = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO") or ""
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith(PRIVATE_PREFIX):
            status, body = self._private(method, path, environ)
            payload = json.dumps(body).encode()
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
            return [payload]
        if method == "POST" and path == "/moto-api/reset":
            with _LOCK:
                response = self.moto_app(environ, start_response)
                _COMPLETED_ACTIONS.clear()
                _AUTOSCALING_LOG.clear()
                _CLOCK.clear()
                _TARGET_HEALTH.clear()
            with _CALLS_LOCK:
                _CALLS.clear()
            return response
        if path.startswith("/moto-api/"):
            return self.moto_app(environ, start_response)
        return self._recorded(environ, start_response)

    def _recorded(self, environ: dict[str, Any], start_response: Any) -> Any:
        """An AWS API request, passed to moto and added to the call record with the status moto answered."""
        _buffer_form(environ)
        answered: list[int] = []

        def recording_start_response(status: str, headers: Any, *args: Any) -> Any:
            answered.append(int(status.split(" ", 1)[0]))
            return start_response(status, headers, *args)

        try:
            response = self.moto_app(environ, recording_start_response)
        except Exception:
            _record_call(environ, 500)
            raise
        _record_call(environ, answered[-1] if answered else 0)
        return response

    def _private(self, method: str, path: str, environ: dict[str, Any]) -> tuple[str, Any]:
        if path == f"{PRIVATE_PREFIX}lifecycle-actions":
            if method != "GET":
                return "405 Method Not Allowed", {"error": f"{path} answers GET only"}
            with _LOCK:
                return "200 OK", list(_COMPLETED_ACTIONS)
        if path == f"{PRIVATE_PREFIX}pending-lifecycle-actions":
            if method != "GET":
                return "405 Method Not Allowed", {"error": f"{path} answers GET only"}
            return "200 OK", _waiting_actions()
        if path == f"{PRIVATE_PREFIX}clock":
            return self._clock(method, environ)
        if path == f"{PRIVATE_PREFIX}autoscaling-calls":
            if method != "GET":
                return "405 Method Not Allowed", {"error": f"{path} answers GET only"}
            with _LOCK:
                return "200 OK", list(_AUTOSCALING_LOG)
        if path == f"{PRIVATE_PREFIX}calls":
            if method != "GET":
                return "405 Method Not Allowed", {"error": f"{path} answers GET only"}
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            return "200 OK", recorded_calls(query["access_key"][0] if query.get("access_key") else None)
        if path == f"{PRIVATE_PREFIX}target-lifecycle-states":
            if method != "GET":
                return "405 Method Not Allowed", {"error": f"{path} answers GET only"}
            return "200 OK", _target_lifecycle_states()
        if path == f"{PRIVATE_PREFIX}ssm/public-parameters":
            return self._public_parameter(method, environ)
        if path == f"{PRIVATE_PREFIX}target-health":
            if method != "POST":
                return "405 Method Not Allowed", {"error": f"{path} answers POST only"}
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                report = json.loads(environ["wsgi.input"].read(length) or b"{}")
            except (ValueError, AttributeError):
                report = None
            error = _report_target_health(report)
            return ("400 Bad Request", {"error": error}) if error else ("200 OK", {"target_groups": len(report)})
        match = re.fullmatch(rf"{PRIVATE_PREFIX}images/([^/]+)/state", path)
        if match is None:
            return "404 Not Found", {"error": f"no emulator route {path}"}
        if method != "POST":
            return "405 Method Not Allowed", {"error": f"{path} answers POST only"}
        image_id = match.group(1)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            state = body.get("state")
        except (ValueError, AttributeError):
            return "400 Bad Request", {"error": 'the body must be JSON like {"state": "available"}'}
        if state not in IMAGE_STATES:
            return "400 Bad Request", {"error": f"state must be one of {', '.join(IMAGE_STATES)}, not {state!r}"}
        if not _set_image_state(image_id, state):
            return "404 Not Found", {"error": f"no image {image_id} in the emulator: check the id CreateImage returned"}
        return "200 OK", {"ImageId": image_id, "State": state}

    @staticmethod
    def _clock(method: str, environ: dict[str, Any]) -> tuple[str, Any]:
        """GET the compressed clock scheduled actions run on; POST {"now": ISO 8601 with offset} moves it."""
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                moment = datetime.fromisoformat(json.loads(environ["wsgi.input"].read(length) or b"{}")["now"])
            except (ValueError, KeyError, TypeError, AttributeError):
                return "400 Bad Request", {"error": 'the body must be JSON like {"now": "2026-12-07T06:55:00+00:00"}'}
            if moment.tzinfo is None:
                return "400 Bad Request", {"error": f"{moment.isoformat()} has no UTC offset: add +00:00"}
            _set_clock(moment.astimezone(UTC))
        elif method != "GET":
            return "405 Method Not Allowed", {"error": "the clock answers GET and POST"}
        return "200 OK", {"now": emulated_now().isoformat(), "time_scale": _SETTINGS.lifecycle_time_scale}

    @staticmethod
    def _public_parameter(method: str, environ: dict[str, Any]) -> tuple[str, Any]:
        """Publish an AWS-owned parameter (``/aws/service/...``), which PutParameter refuses as on AWS."""
        if method != "POST":
            return "405 Method Not Allowed", {"error": "public parameters are published with POST"}
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            name, value, region = body["name"], body["value"], body.get("region", "us-east-1")
        except (ValueError, KeyError, AttributeError):
            return "400 Bad Request", {
                "error": 'the body must be JSON like {"name": "/aws/service/...", "value": "..."}'
            }
        if not str(name).startswith("/aws/service/"):
            return "400 Bad Request", {
                "error": f"{name} is not a public parameter (/aws/service/...): use PutParameter"
            }
        from moto.ssm.models import ssm_backends

        with _LOCK:
            backend = ssm_backends[DEFAULT_ACCOUNT][region]
            versions = backend._parameters[name]
            versions.append(_public_ssm_parameter(name, value, len(versions) + 1))
        return "200 OK", {"Name": name, "Value": value}


def _public_ssm_parameter(name: str, value: str, version: int) -> Any:
    from moto.core.utils import utcnow
    from moto.ssm.models import Parameter

    return Parameter(
        account_id=DEFAULT_ACCOUNT,
        name=name,
        value=value,
        parameter_type="String",
        description="",
        allowed_pattern=None,
        keyid=None,
        last_modified_date=utcnow(),
        version=version,
        data_type="text",
    )


def _post_private(endpoint: str, path: str, body: dict[str, Any], doing: str) -> None:
    """POST ``body`` to a private route of the emulator at ``endpoint``; an error names what was being done."""
    request = urllib.request.Request(  # noqa: S310
        f"{endpoint}{PRIVATE_PREFIX}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            return
    except urllib.error.HTTPError as error:
        detail = json.loads(error.read() or b"{}").get("error", f"HTTP {error.code}")
        raise EmulatorError(f"{doing} at {endpoint} failed: {detail}") from error


def set_public_parameter(endpoint: str, name: str, value: str, region: str = "us-east-1") -> None:
    """Publish ``name`` (an ``/aws/service/...`` parameter AWS owns) with ``value`` in the emulator."""
    _post_private(
        endpoint, "ssm/public-parameters", {"name": name, "value": value, "region": region}, f"publishing {name}"
    )


def lifecycle_actions(endpoint: str) -> list[dict[str, Any]]:
    """The lifecycle actions the emulator at ``endpoint`` completed (by API call or timeout), oldest first."""
    with urllib.request.urlopen(f"{endpoint}{PRIVATE_PREFIX}lifecycle-actions", timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def pending_lifecycle_actions(endpoint: str) -> list[dict[str, Any]]:
    """The lifecycle actions instances of the emulator at ``endpoint`` wait on, with their tokens.

    AWS hands the token out in the hook's notification; the emulator sends none, so this is where a client finds it.
    """
    with urllib.request.urlopen(f"{endpoint}{PRIVATE_PREFIX}pending-lifecycle-actions", timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def set_clock(endpoint: str, moment: datetime) -> None:
    """Move the compressed clock scheduled actions run on (the emulator at ``endpoint``) to ``moment``."""
    _post_private(endpoint, "clock", {"now": moment.isoformat()}, f"setting the clock to {moment.isoformat()}")


def autoscaling_calls(endpoint: str) -> list[dict[str, Any]]:
    """The Auto Scaling calls the emulator at ``endpoint`` answered and its instance refreshes' own changes, oldest
    first, each with the group's launch template after it."""
    with urllib.request.urlopen(f"{endpoint}{PRIVATE_PREFIX}autoscaling-calls", timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def calls(endpoint: str, access_key: str | None = None) -> list[dict[str, Any]]:
    """The AWS API calls the emulator at ``endpoint`` answered (those signed with ``access_key`` only, when given),
    oldest first, as {time, access_key, service, action, status}."""
    suffix = "?" + urllib.parse.urlencode({"access_key": access_key}) if access_key is not None else ""
    with urllib.request.urlopen(f"{endpoint}{PRIVATE_PREFIX}calls{suffix}", timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


def target_lifecycle_states(endpoint: str) -> dict[str, str]:
    """Instance id -> the target lifecycle state each Auto Scaling instance (warm pool included) of the emulator at
    ``endpoint`` reads at ``autoscaling/target-lifecycle-state``."""
    with urllib.request.urlopen(f"{endpoint}{PRIVATE_PREFIX}target-lifecycle-states", timeout=10) as response:  # noqa: S310
        return {item["instance_id"]: item["target_lifecycle_state"] for item in json.loads(response.read())}


def report_target_health(endpoint: str, report: dict[str, dict[str, str]]) -> None:
    """Tell the emulator at ``endpoint`` what a load balancer's health checks found: {target group ARN: {instance
    id: healthy|unhealthy|initial}}, each group's whole set of targets."""
    _post_private(endpoint, "target-health", report, "reporting target health")


def set_image_state(endpoint: str, image_id: str, state: str) -> None:
    """Move an AMI of the emulator at ``endpoint`` to ``state`` (available or failed)."""
    _post_private(endpoint, f"images/{image_id}/state", {"state": state}, f"setting image {image_id} to {state!r}")


# -------------------------------------------------------------------------------------------------------- launcher
@dataclass(frozen=True)
class Endpoint:
    """Where a started emulator listens and which process it is."""

    host: str
    port: int
    pid: int
    lifecycle_time_scale: float = 1.0
    heartbeat_time_scale: float = 1.0
    images_pending: bool = False

    @property
    def url(self) -> str:
        """URL for clients on this machine (0.0.0.0 is reached through loopback)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def answers(url: str, timeout: float = 5.0) -> bool:
    """True when this project's emulator answers at ``url`` (a cheap private route: moto's data.json dump grows with
    the emulated state and can take seconds on a busy twin)."""
    try:
        with urllib.request.urlopen(f"{url}{PRIVATE_PREFIX}lifecycle-actions", timeout=timeout) as response:  # noqa: S310
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def reset(url: str) -> None:
    """Wipe all emulated AWS state."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        if response.status != 200:
            raise EmulatorError(f"resetting the emulator at {url} answered HTTP {response.status}")


def _state_file(state_dir: Path) -> Path:
    return state_dir / "emulator.json"


def read_state(state_dir: Path) -> Endpoint | None:
    """The emulator recorded in ``state_dir`` if its process is alive, else None."""
    try:
        data = json.loads(_state_file(state_dir).read_text())
        endpoint = Endpoint(
            host=data["host"],
            port=int(data["port"]),
            pid=int(data["pid"]),
            lifecycle_time_scale=float(data.get("lifecycle_time_scale", 1.0)),
            heartbeat_time_scale=float(data.get("heartbeat_time_scale", data.get("lifecycle_time_scale", 1.0))),
            images_pending=bool(data.get("images_pending", False)),
        )
    except (OSError, ValueError, KeyError):
        return None
    try:
        os.kill(endpoint.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return endpoint


def time_scale_from_env() -> float:
    """The lifecycle time scale ``OLLAMA_EMULATOR_TIME_SCALE`` asks for (1.0 when unset)."""
    raw = os.environ.get(TIME_SCALE_ENV, "").strip()
    return check_time_scale(raw or "1.0", source=TIME_SCALE_ENV)


def images_pending_from_env() -> bool:
    """Whether ``OLLAMA_EMULATOR_IMAGES_PENDING`` asks for pending AMIs (off when unset)."""
    raw = os.environ.get(IMAGES_PENDING_ENV, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise EmulatorError(f"{IMAGES_PENDING_ENV} must be 1 or 0, not {raw!r}")


def check_time_scale(value: str | float, source: str = "--lifecycle-time-scale") -> float:
    """A valid time scale (a positive number) or an EmulatorError naming ``source``."""
    try:
        scale = float(value)
    except ValueError:
        scale = 0.0
    if not scale > 0:
        raise EmulatorError(
            f"{source} must be a positive number (1.0 is real time, 0.01 is 100x faster), not {value!r}"
        )
    return scale


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    state_dir: Path = DEFAULT_STATE_DIR,
    lifecycle_time_scale: float | None = None,
    images_pending: bool | None = None,
    heartbeat_time_scale: float | None = None,
) -> Endpoint:
    """Start the emulator in the background (or return the one already running for ``state_dir``).

    ``lifecycle_time_scale`` and ``images_pending`` default to ``OLLAMA_EMULATOR_TIME_SCALE`` and
    ``OLLAMA_EMULATOR_IMAGES_PENDING`` (1.0 and off when unset); ``heartbeat_time_scale`` to the lifecycle time scale.
    """
    scale = time_scale_from_env() if lifecycle_time_scale is None else check_time_scale(lifecycle_time_scale)
    heartbeat = (
        scale if heartbeat_time_scale is None else check_time_scale(heartbeat_time_scale, "--heartbeat-time-scale")
    )
    pending = images_pending_from_env() if images_pending is None else images_pending
    state_dir.mkdir(parents=True, exist_ok=True)
    running = read_state(state_dir)
    if running is not None and answers(running.url):
        if port and running.port != port:
            raise EmulatorError(
                f"an emulator for {state_dir} already runs on port {running.port}, not {port}: "
                f"stop it first (python tools/aws_emulator.py stop --state-dir {state_dir})"
            )
        if (running.lifecycle_time_scale, running.heartbeat_time_scale, running.images_pending) != (
            scale,
            heartbeat,
            pending,
        ):
            raise EmulatorError(
                f"an emulator for {state_dir} already runs with lifecycle time scale {running.lifecycle_time_scale}, "
                f"heartbeat time scale {running.heartbeat_time_scale} and images pending {running.images_pending}, "
                f"not {scale}, {heartbeat} and {pending}: "
                f"stop it first (python tools/aws_emulator.py stop --state-dir {state_dir})"
            )
        return running
    if port and port_in_use(host, port):
        raise EmulatorError(f"port {port} on {host} is in use: stop what listens there or choose another --port")
    port = port or free_port(host)
    log = (state_dir / "emulator.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "serve",
            "--host",
            host,
            "--port",
            str(port),
            "--lifecycle-time-scale",
            str(scale),
            "--heartbeat-time-scale",
            str(heartbeat),
            *(["--images-pending"] if pending else []),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=str(ROOT),
    )
    endpoint = Endpoint(host, port, process.pid, scale, heartbeat, pending)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorError(
                f"the emulator exited with status {process.returncode} while starting: see {state_dir / 'emulator.log'}"
            )
        if answers(endpoint.url, timeout=0.5):
            record = {"host": host, "port": port, "pid": process.pid}
            record.update(lifecycle_time_scale=scale, heartbeat_time_scale=heartbeat, images_pending=pending)
            _state_file(state_dir).write_text(json.dumps(record))
            return endpoint
        time.sleep(0.1)
    process.kill()
    raise EmulatorError(f"the emulator did not answer on {endpoint.url} within {START_TIMEOUT_S:.0f}s: see the log")


def stop(state_dir: Path = DEFAULT_STATE_DIR) -> bool:
    """Stop the emulator of ``state_dir``. Returns False when none was running."""
    running = read_state(state_dir)
    _state_file(state_dir).unlink(missing_ok=True)
    if running is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(running.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(running.pid, 0)
        except ProcessLookupError:
            return True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(running.pid, os.WNOHANG)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(running.pid, signal.SIGKILL)
    return True


def serve(
    host: str,
    port: int,
    lifecycle_time_scale: float = 1.0,
    images_pending: bool = False,
    heartbeat_time_scale: float | None = None,
) -> None:
    """Run the patched moto server (with the private routes and the lifecycle timer) until SIGTERM/SIGINT."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    _SETTINGS.lifecycle_time_scale = check_time_scale(lifecycle_time_scale)
    _SETTINGS.heartbeat_time_scale = (
        _SETTINGS.lifecycle_time_scale
        if heartbeat_time_scale is None
        else check_time_scale(heartbeat_time_scale, "--heartbeat-time-scale")
    )
    _SETTINGS.images_pending = images_pending
    apply_patches()
    app = EmulatorApp(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    server_thread = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    server_thread.start()
    timer_stop = threading.Event()
    timer = threading.Thread(target=_run_lifecycle_timer, args=(timer_stop,), name="lifecycle-timer", daemon=True)
    timer.start()
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stopping:
        time.sleep(0.2)
    timer_stop.set()
    server.shutdown()
    server_thread.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "status", "serve"])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 for containers)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="where the pid/port record lives")
    parser.add_argument(
        "--lifecycle-time-scale",
        default=None,
        help=f"multiplier for lifecycle hook timeouts (0.01: 900 s pass in 9 s; default ${TIME_SCALE_ENV} or 1.0)",
    )
    parser.add_argument(
        "--heartbeat-time-scale",
        default=None,
        help="multiplier for launch hooks' heartbeat timeouts only (default: the lifecycle time scale)",
    )
    parser.add_argument(
        "--images-pending",
        action="store_true",
        default=None,
        help=f"CreateImage returns pending AMIs until /_emulator/images/ID/state (default ${IMAGES_PENDING_ENV})",
    )
    args = parser.parse_args(argv)
    try:
        scale = (
            time_scale_from_env() if args.lifecycle_time_scale is None else check_time_scale(args.lifecycle_time_scale)
        )
        pending = images_pending_from_env() if args.images_pending is None else args.images_pending
        heartbeat = args.heartbeat_time_scale
        if args.command == "serve":
            serve(args.host, args.port, scale, pending, heartbeat)
        elif args.command == "start":
            print(start(args.host, args.port, args.state_dir, scale, pending, heartbeat).url)
        elif args.command == "stop":
            print("stopped" if stop(args.state_dir) else "not running")
        else:
            running = read_state(args.state_dir)
            if running is None or not answers(running.url):
                print("stopped")
                return 3
            print(running.url)
    except EmulatorError as error:
        print(f"aws-emulator: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
