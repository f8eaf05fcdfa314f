"""Secret rotation under load on the twin: the fleet follows each rotation by itself and no request fails.

While the load suite streams chat through the Open-WebUI URL (the public load balancer) and through the internal
Ollama URL, the three rotated secrets change the way AWS changes them:
- the API token in two steps (docs/SECURITY.md): the new value as AWSPENDING, which every backend accepts within its
  refresh interval, then AWSCURRENT;
- the Redis token as ElastiCache's ROTATE strategy does it: the data host (playing ElastiCache) accepts the old and
  the new token, the secret holds the new one, and once every frontend uses it the old one is removed (SET);
- the database password as RDS's managed rotation does it: the password and the secret change together.

Product: each frontend's rotation timer reads the new values and restarts Open-WebUI out of its target group, one
replica at a time (ollama-platform-drain --restart), with no play run and no request failed. Twin only: the data
host's Redis and PostgreSQL play ElastiCache's and RDS's side of the rotation (commands on its console).
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from tests.twin.scenarios.conftest import (
    Twin,
    console,
    describe_failures,
    http,
    load_samples,
    start_load,
    stop_loads,
    wait_for,
)

pytestmark = pytest.mark.twin

# The frontends' rotation timer reads every 120 s plus up to 60 s (roles/open_webui defaults, docs/SECURITY.md),
# the backends' every 60 s; each frontend then restarts out of service, one after the other.
FRONTEND_FOLLOWS_S = 180
BACKEND_FOLLOWS_S = 60
LOAD_S = 480


def _data_host(twin: Twin) -> str:
    reservations = twin.client("ec2").describe_instances(
        Filters=[{"Name": "tag:Role", "Values": ["data"]}, {"Name": "instance-state-name", "Values": ["running"]}]
    )["Reservations"]
    return reservations[0]["Instances"][0]["InstanceId"]


def _on_data_host(instance_id: str, *command: str) -> str:
    done = console(instance_id, *command)
    assert done.returncode == 0, f"{' '.join(command[:3])} on the data host: {done.stdout}{done.stderr}"
    return done.stdout


def _frontend_journals(frontends: list[str], since: str) -> str:
    """What each frontend's rotation timer did (its restart out of service, step by step) and Open-WebUI's errors,
    for a failure report."""
    parts = []
    for frontend in frontends:
        refresh = console(frontend, "journalctl", "-u", "open-webui-secrets-refresh.service", "--since", since,
                          "--no-pager", "-o", "short-iso")  # fmt: skip
        errors = console(frontend, "journalctl", "-u", "open-webui.service", "--since", since, "--no-pager",
                         "-o", "short-iso", "--grep", "error|exception|fail|Started|Stopping")  # fmt: skip
        parts.append(f"--- {frontend} open-webui-secrets-refresh\n{refresh.stdout[-4000:]}{refresh.stderr[-500:]}")
        parts.append(f"--- {frontend} open-webui (errors, starts and stops)\n{errors.stdout[-3000:]}")
    return "\n".join(parts)


def _backends_accept(twin: Twin, token: str) -> bool:
    """Every backend in service answered the token (the internal proxy names the one that served)."""
    backends = set(twin.in_service(twin.outputs["ollama_backend_asg_name"]))
    served = set()
    for _ in range(4 * len(backends)):
        status, headers, _ = http(
            f"{twin.outputs['ollama_internal_api_url']}/api/version", {"Authorization": f"Bearer {token}"}
        )
        if status != 200:
            return False
        served.add(headers.get("x-served-by", ""))
    return served >= backends


def _restarted_out_of_service(instance_id: str, since: str) -> bool:
    log = console(instance_id, "journalctl", "-u", "open-webui-secrets-refresh.service", "--since", since, "-o", "cat")
    return "restarted out of service" in log.stdout


def test_rotations_under_load_fail_no_request(twin: Twin, webui_session: str, tmp_path: Path):
    sm = twin.client("secretsmanager")
    outputs = twin.outputs
    frontends = twin.in_service(outputs["ollama_frontend_asg_name"])
    assert len(frontends) >= 2, "a rotation without a gap needs two frontends"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 5))
    # Three streams at most reach the twin's backend: below the in-flight policy's target of 4, so no scale-out.
    loads = {
        "webui-chat": start_load(
            outputs["ollama_service_url"].rstrip("/"), "webui-chat", webui_session, tmp_path / "webui", 2, LOAD_S, 3000
        ),
        "chat": start_load(
            outputs["ollama_internal_api_url"], "chat", twin.token(), tmp_path / "ollama", 1, LOAD_S, 3000
        ),
    }
    try:
        time.sleep(20)  # steady state first
        started = time.monotonic()

        # API token, step 1: the new value as AWSPENDING; every backend accepts it within its refresh interval.
        token_arn = outputs["ollama_api_token_secret_arn"]
        old_token = sm.describe_secret(SecretId=token_arn)
        old_version = next(v for v, stages in old_token["VersionIdsToStages"].items() if "AWSCURRENT" in stages)
        new_token = secrets.token_urlsafe(32)
        pending = sm.put_secret_value(SecretId=token_arn, SecretString=new_token, VersionStages=["AWSPENDING"])
        wait_for("every backend to accept the pending token", lambda: _backends_accept(twin, new_token),
                 BACKEND_FOLLOWS_S + 30, interval=5)  # fmt: skip
        accepted = time.monotonic() - started

        # Step 2 and the two others at once: one restart per frontend follows all three.
        sm.update_secret_version_stage(
            SecretId=token_arn, VersionStage="AWSCURRENT", MoveToVersionId=pending["VersionId"],
            RemoveFromVersionId=old_version,
        )  # fmt: skip
        data = _data_host(twin)
        redis_arn = outputs["ollama_resource_names"]["redis_secret"]
        old_redis = sm.get_secret_value(SecretId=redis_arn)["SecretString"]
        new_redis = secrets.token_hex(24)
        redis_cli = ["redis-cli", "--no-auth-warning", "-a", old_redis]
        _on_data_host(data, *redis_cli, "ACL", "SETUSER", "default", f">{new_redis}")  # ROTATE: both accepted
        sm.put_secret_value(SecretId=redis_arn, SecretString=new_redis)
        database_arn = outputs["ollama_database_secret_arn"]
        login = json.loads(sm.get_secret_value(SecretId=database_arn)["SecretString"])
        login["password"] = secrets.token_hex(24)
        sql = f"ALTER ROLE \"{login['username']}\" PASSWORD '{login['password']}'"
        _on_data_host(data, "runuser", "-u", "postgres", "--", "psql", "-q", "-c", sql)
        sm.put_secret_value(SecretId=database_arn, SecretString=json.dumps(login))
        rotated = time.monotonic()

        try:
            for frontend in frontends:
                wait_for(f"{frontend} to restart out of service",
                         lambda f=frontend: _restarted_out_of_service(f, since),
                         FRONTEND_FOLLOWS_S + 120 * len(frontends), interval=5)  # fmt: skip
        except BaseException:
            print(_frontend_journals(frontends, since))
            raise
        followed = time.monotonic() - rotated
        _on_data_host(
            data, "redis-cli", "--no-auth-warning", "-a", new_redis, "ACL", "SETUSER", "default", f"<{old_redis}"
        )
        print(f"rotation: backends accepted the pending token in {accepted:.0f} s; both frontends followed the "
              f"three rotations in {followed:.0f} s")  # fmt: skip
        time.sleep(15)  # requests after the old Redis token is gone
    finally:
        load_outputs = stop_loads(loads)  # the load suite stops its users and writes its summary
    for name, output in load_outputs.items():
        assert "killed it" not in output, f"{name}: a request hung past the load suite's stop timeout\n{output[-2000:]}"
        samples = load_samples(tmp_path / ("webui" if name == "webui-chat" else "ollama"))
        failed = [sample for sample in samples if not sample.get("ok")]
        print(f"{name}: {len(samples)} requests, {len(failed)} failed")
        assert samples, output[-2000:]
        assert not failed, (
            f"{name}: {len(failed)} failed\n{describe_failures(samples)}\n{output[-1500:]}\n"
            + _frontend_journals(frontends, since)
        )
