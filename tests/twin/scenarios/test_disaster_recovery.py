"""Disaster recovery on the twin's two regions: a drill beside the healthy primary, then the primary, filled through
the product, goes down and ``playbooks/dr.yml -e dr_mode=failover`` rebuilds the service in the DR region from what
that region holds; last, teardown.yml removes both regions' stacks.

Product, the drill: ``dr.yml -e dr_mode=drill`` rebuilds on copies of the replicas, checks the rebuilt service
(site.yml's verify), records the drill in the DR region's table and removes its stack with teardown.yml: the primary's
resources and data are the same after it, and the DR region holds what it held before.

Product: dr.yml (its prerequisite check, the data it takes, site.yml for the DR region: the stack's DR mode on the
replicated table, uploads and secrets, the images copied at bake, a fleet that boots from them and configures itself
with nobody running a play, and verify). It must make no request to the primary, end with Open-WebUI serving through
the DR region's load balancer, and lose no account, chat, document or record written before the replication point.

Twin: what AWS does by itself is emulated once, just before the outage (tools/twin/dr.py): the table's global-table
replica, S3 replication of the uploads, Secrets Manager's replica regions, the bake's image copy, what the primary's
Terraform prepares for the DR region, and RDS's cross-region backup copy (a pg_dump that the DR stack's data host
restores). On AWS the replicas trail the primary by seconds (table, secrets) to 15 minutes (uploads, S3 RTC), and the
database backup copy by its schedule: docs/BACKUP_AND_DR.md states each RPO. The region front
(tools/twin/regions.py) logs every request per region and refuses the primary's once it is down; the primary's
instances are paused and its controller stopped, so nothing of it serves.

Product, the teardown: teardown.yml for the failover stack, then for the environment with its DR region, leaves no
resource of the environment in either region (tools/twin/stack.py leftovers, IAM included) and no instance. Twin:
Terraform's destroy is played by the stack's stand-in (tools/twin/stack.py destroy); the twin's own removal
(tools/twin.sh down) is skipped, as the stage ends with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from typing import Any

import pytest

from tests.twin.scenarios.conftest import ROOT, STATE_DIR, Twin, http, multipart_file, wait_for, webui_api
from tools.dr_stack_needs import settings_from_variables
from tools.twin import dr as twin_dr
from tools.twin.controller import proxy_ports
from tools.twin.stack import Stack, leftovers

pytestmark = pytest.mark.twin

PRIMARY, DR = "us-east-1", "us-west-2"
# The region front of tools/twin.sh (the emulator's port + 1 unless OLLAMA_TWIN_FRONT_PORT says otherwise).
FRONT_PORT = os.environ.get("OLLAMA_TWIN_FRONT_PORT") or str(int(os.environ.get("OLLAMA_TWIN_AWS_PORT", "4566")) + 1)
FRONT = f"http://127.0.0.1:{FRONT_PORT}"
FACT = f"The recovered region still knows the code word {uuid.uuid4().hex[:12]}."
USERS = 2
CHATS_PER_USER = 2
DR_TIMEOUT_S = 1800


def _front(body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{FRONT}/_regions/state", data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _front_log(region: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{FRONT}/_regions/log?region={region}", timeout=30) as response:
        return json.loads(response.read())


def _signin(base: str, account: dict[str, str]) -> str:
    status, body, _ = webui_api(f"{base}/api/v1/auths/signin", body=account)
    assert status == 200 and body.get("token"), f"{account['email']} cannot sign in on {base}: HTTP {status} {body}"
    return body["token"]


def _content(base: str, admin: str, users: dict[str, dict[str, str]]) -> dict[str, Any]:
    """What users see through Open-WebUI at ``base``: accounts, each user's chats, the admin's files."""
    status, listed, _ = webui_api(f"{base}/api/v1/users/all", admin)
    assert status == 200, listed
    chats = {}
    for email, account in users.items():
        status, found, _ = webui_api(f"{base}/api/v1/chats/", _signin(base, account))
        assert status == 200, found
        chats[email] = sorted((chat["id"], chat["title"]) for chat in found)
    status, files, _ = webui_api(f"{base}/api/v1/files/?content=false", admin)
    assert status == 200, files
    items = files.get("items", []) if isinstance(files, dict) else files
    return {
        "accounts": sorted((user["id"], user["email"]) for user in listed["users"]),
        "chats": chats,
        "files": sorted((item["id"], item.get("filename", "")) for item in items),
    }


def _rebuild_failure(mode: str) -> str:
    """The failed task of the newest rebuild log dr.yml kept (site.yml for the DR region), for a failure message."""
    logs = sorted((ROOT / ".cache" / "dr").glob(f"local-{DR}-{mode}/recreate-*.log"), key=lambda f: f.stat().st_mtime)
    if not logs:
        return "no rebuild log in .cache/dr"
    lines = logs[-1].read_text().splitlines()
    failed = [n for n, line in enumerate(lines) if line.startswith("fatal:")]
    where = failed[0] if failed else max(len(lines) - 40, 0)
    return f"{logs[-1].relative_to(ROOT)}:\n" + "\n".join(lines[max(where - 3, 0) : where + 25])


def _records(stack: Stack, table: str) -> set[tuple[str, str]]:
    pages = stack.c("dynamodb").get_paginator("scan").paginate(TableName=table)
    return {(item["pk"]["S"], item["sk"]["S"]) for page in pages for item in page["Items"]}


def _objects(stack: Stack, bucket: str) -> set[str]:
    pages = stack.c("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def _fill(twin: Twin, webui_account: dict[str, str]) -> dict[str, Any]:
    """Users' work on the primary, through its Open-WebUI URL: accounts, chats and an embedded document."""
    base = twin.outputs["ollama_service_url"].rstrip("/")
    admin = _signin(base, webui_account)
    users = {}
    for n in range(USERS):
        account = {"email": f"dr-{n}-{uuid.uuid4().hex[:6]}@ollama.test", "password": uuid.uuid4().hex}
        status, body, _ = webui_api(
            f"{base}/api/v1/auths/add", admin, {**account, "name": f"DR user {n}", "role": "user"}
        )
        assert status == 200, f"adding {account['email']}: HTTP {status} {body}"
        users[account["email"]] = account
        token = _signin(base, account)
        for c in range(CHATS_PER_USER):
            question = f"Question {c} of DR user {n}"
            chat = {"title": f"DR chat {c} of user {n}", "models": ["llama3.2:1b"]}
            chat["messages"] = [{"id": uuid.uuid4().hex, "role": "user", "content": question}]
            status, body, _ = webui_api(f"{base}/api/v1/chats/new", token, {"chat": chat})
            assert status == 200 and body.get("id"), f"creating a chat: HTTP {status} {body}"
    upload, content_type = multipart_file("dr-notes.txt", f"{FACT}\n".encode())
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": content_type}
    status, _, raw = http(f"{base}/api/v1/files/", headers, upload, timeout=120)
    assert status == 200, f"upload answered {status}: {raw[:300]!r}"
    file_id = json.loads(raw)["id"]

    def embedded() -> bool:
        status, body, _ = webui_api(f"{base}/api/v1/files/{file_id}/process/status", admin)
        return status == 200 and body.get("status") == "completed"

    wait_for("the upload to be embedded on the primary", embedded, timeout=180, interval=3)
    return {"admin": webui_account, "users": users, "file_id": file_id, "before": _content(base, admin, users)}


@contextlib.contextmanager
def _primary_down() -> Any:
    """The primary region fails: its API refuses at the front, its instances freeze, its controller stops."""
    containers = subprocess.run(
        ["podman", "ps", "-q", "--filter", "label=ollama-twin=1", "--filter", f"label=ollama-twin-region={PRIMARY}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    controller = int((STATE_DIR / "controller.pid").read_text())
    _front({"down": [PRIMARY]})
    os.kill(controller, signal.SIGSTOP)
    if containers:
        subprocess.run(["podman", "pause", *containers], capture_output=True, check=False)
    try:
        yield
    finally:
        if containers:
            subprocess.run(["podman", "unpause", *containers], capture_output=True, check=False)
        os.kill(controller, signal.SIGCONT)
        _front({"down": []})


def _playbook(args: list[str], log_name: str) -> tuple[int, str, float]:
    """Run ansible-playbook with ``args`` through the region front; returns (rc, its log, seconds)."""
    log = ROOT / "reports" / log_name
    log.parent.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "OLLAMA_TWIN_AWS_PORT": FRONT_PORT,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
    }
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "ansible-playbook"), *args], cwd=ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT, timeout=DR_TIMEOUT_S, check=False,
        )  # fmt: skip
    return proc.returncode, log.read_text(), time.monotonic() - started


def _dr_playbook(mode: str) -> tuple[int, str, float]:
    extra = {"dr_region": DR, "dr_mode": mode, "dr_confirm": f"local/{DR}/{mode}"}
    # The groups file only, as docs/BACKUP_AND_DR.md says: the aws_ec2 inventory would list the primary region.
    return _playbook(
        ["playbooks/dr.yml", "-i", "inventories/local/groups.yml", "-e", json.dumps(extra)], f"dr-{mode}.log"
    )


def _containers(region: str) -> list[str]:
    return subprocess.run(
        ["podman", "ps", "-a", "--format", "{{.Names}}", "--filter", "label=ollama-twin=1",
         "--filter", f"label=ollama-twin-region={region}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip


@pytest.fixture(scope="module")
def replicated(twin: Twin, webui_account: dict[str, str]) -> dict[str, Any]:
    """The primary filled through the product, then what AWS does by itself up to the replication point and what the
    primary's Terraform prepared for the DR region."""
    filled = _fill(twin, webui_account)
    primary, dr = Stack(twin.endpoint, PRIMARY), Stack(twin.endpoint, DR)
    table = twin.outputs["ollama_data_table_name"]
    uploads = twin.outputs["ollama_uploads_bucket_name"]
    filled["records"], filled["objects"] = _records(primary, table), _objects(primary, uploads)
    assert filled["objects"], f"the upload is not in {uploads}: Open-WebUI keeps uploads in S3"
    twin_dr.prepare(primary, dr, settings_from_variables("local", PRIMARY, DR, "failover", {}))
    filled["replicated"] = twin_dr.replicate(primary, dr)
    filled["backup_bytes"] = twin_dr.backup_copy(primary, STATE_DIR / DR / twin_dr.BACKUP_COPY)
    return filled


def _primary_state(twin: Twin, filled: dict[str, Any]) -> dict[str, Any]:
    """The primary's resources (IAM included; its instances aside, which health checks may replace while the drill
    loads the machine) and data: every table item and upload (with their values) and what users see in Open-WebUI."""
    primary = Stack(twin.endpoint, PRIMARY)
    base = twin.outputs["ollama_service_url"].rstrip("/")
    pages = primary.c("dynamodb").get_paginator("scan").paginate(TableName=twin.outputs["ollama_data_table_name"])
    uploads = (
        primary.c("s3").get_paginator("list_objects_v2").paginate(Bucket=twin.outputs["ollama_uploads_bucket_name"])
    )
    return {
        "resources": sorted(r for r in leftovers(primary, include_global=True) if not r.startswith("instance ")),
        "items": sorted(json.dumps(item, sort_keys=True, default=str) for page in pages for item in page["Items"]),
        "uploads": sorted((obj["Key"], obj["ETag"]) for page in uploads for obj in page.get("Contents", [])),
        "content": _content(base, _signin(base, filled["admin"]), filled["users"]),
    }


@pytest.fixture(scope="module")
def drill(twin: Twin, replicated: dict[str, Any]) -> dict[str, Any]:
    """dr.yml -e dr_mode=drill beside the healthy primary, with the state of both regions before and after."""
    dr = Stack(twin.endpoint, DR)
    before = {"primary": _primary_state(twin, replicated), "dr": sorted(leftovers(dr))}
    logged_before = len(_front_log(PRIMARY))
    rc, text, played = _dr_playbook("drill")
    primary_requests = _front_log(PRIMARY)[logged_before:]
    if rc == 0:  # the controller removes the drill's containers once their instances are terminated
        wait_for("the drill's instances to be gone", lambda: not _containers(DR), timeout=180, interval=3)
    pages = (
        dr.c("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=twin.outputs["ollama_data_table_name"],
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "DRDRILL#local"}},
        )
    )
    records = [{k: next(iter(v.values())) for k, v in item.items()} for page in pages for item in page["Items"]]
    after = {"primary": _primary_state(twin, replicated), "dr": sorted(leftovers(dr))}
    return {
        "rc": rc, "log": text, "played_s": played, "before": before, "after": after, "records": records,
        "primary_requests": primary_requests,
    }  # fmt: skip


@pytest.fixture(scope="module")
def failover(twin: Twin, webui_account: dict[str, str], replicated: dict[str, Any], drill: dict[str, Any]) -> Any:
    """dr.yml -e dr_mode=failover with the primary down (after the drill: one DR region, one stack at a time)."""
    if drill["rc"] != 0:
        pytest.fail("the drill failed (reports/dr-drill.log): the failover would run on what it left in the DR region")
    filled, dr = replicated, Stack(twin.endpoint, DR)
    with _primary_down():
        logged_before = {where: len(_front_log(where)) for where in (PRIMARY, "global")}
        started = time.monotonic()
        rc, text, played = _dr_playbook("failover")
        assert rc == 0, (
            f"dr.yml failed (rc {rc}, reports/dr-failover.log):\n{text[-3000:]}\n{_rebuild_failure('failover')}"
        )
        outputs = json.loads((STATE_DIR / DR / "fleet.json").read_text())
        base = (
            outputs["ollama_service_url"].rstrip("/").replace(outputs["ollama_alb_dns_name"].split(":")[0], "127.0.0.1")
        )
        admin = _signin(base, webui_account)
        status, answer, served_by = webui_api(
            f"{base}/api/chat/completions",
            admin,
            {"model": "llama3.2:1b", "stream": False, "messages": [{"role": "user", "content": "Still there?"}]},
            timeout=120,
        )
        first_chat = time.monotonic() - started
        after = _content(base, admin, filled["users"])
        primary_requests = [e for where, n in logged_before.items() for e in _front_log(where)[n:]]
        # The upload itself, read by Open-WebUI from the uploads replica with the DR instance role.
        content = http(f"{base}/api/v1/files/{filled['file_id']}/content", {"Authorization": f"Bearer {admin}"})
        status_retrieval, retrieved, _ = webui_api(
            f"{base}/api/v1/retrieval/query/doc",
            admin,
            {"collection_name": f"file-{filled['file_id']}", "query": "Which code word does it know?", "k": 3},
        )
    yield {
        **filled,
        "outputs": outputs,
        "base": base,
        "played_s": played,
        "first_chat_s": first_chat,
        "chat": (status, answer, served_by),
        "after": after,
        "dr_records": _records(dr, outputs["ollama_data_table_name"]),
        "dr_objects": _objects(dr, outputs["ollama_uploads_bucket_name"]),
        "primary_requests": primary_requests,
        "retrieval": (status_retrieval, retrieved),
        "content": (content[0], content[2]),
        "log": text,
    }


def test_the_drill_rebuilds_checks_records_and_removes_itself(drill: dict[str, Any], record_property) -> None:
    """Product: dr.yml's drill beside the healthy primary rebuilds on copies of the replicas (site.yml for the DR
    region, its verify included), records the drill in the DR region's table, and removes its stack (teardown.yml)
    and its copies: the DR region holds what it held before, no drill instance is left, its load balancer is gone."""
    failure = f"{drill['log'][-3000:]}\n{_rebuild_failure('drill')}"
    assert drill["rc"] == 0, f"the drill failed (rc {drill['rc']}, reports/dr-drill.log):\n{failure}"
    (record,) = [r for r in drill["records"] if r.get("mode") == "drill"]
    assert record["result"] == "success", record
    assert record["table"] == "ollama-local-drill-data-table", record
    assert int(record["copied_table_items"]) == int(record["table_items"]) > 0, record
    assert int(record["copied_uploads_objects"]) == int(record["uploads_objects"]) > 0, record
    gone = sorted(set(drill["after"]["dr"]) - set(drill["before"]["dr"]))
    new = sorted(set(drill["before"]["dr"]) - set(drill["after"]["dr"]))
    assert (gone, new) == ([], []), f"the drill left {gone} and removed {new} in {DR}"
    assert _containers(DR) == []
    port = proxy_ports("local", DR)["ollama-local-alb"]

    def closed() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) != 0

    wait_for(f"the drill's load balancer to stop listening on {port}", closed, timeout=30)
    record_property("dr_drill_playbook_s", round(drill["played_s"], 1))
    record_property("dr_drill_rto_s", float(record["rto_seconds"]))


def test_the_drill_leaves_the_primary_unchanged(drill: dict[str, Any]) -> None:
    """Product: the drill sends no request to the primary's region, and the primary's resources (IAM included),
    table items, uploads and what users see in Open-WebUI are the same after the drill. On AWS the drill's record,
    written in the DR region's replica, replicates into the primary's table like any record; the twin replicates
    once, before the drill."""
    regional = [e for e in drill["primary_requests"] if e["region"] == PRIMARY]
    assert regional == [], f"the drill made {len(regional)} request(s) to {PRIMARY}: {regional[:10]}"
    before, after = drill["before"]["primary"], drill["after"]["primary"]
    changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
    assert changed == {}, f"the drill changed the primary: {changed}"


def test_the_failover_makes_no_request_to_the_primary(failover: dict[str, Any]) -> None:
    """Product: dr.yml, the site.yml it runs and the DR fleet's instances ask nothing of the lost region. IAM and Route
    53 answer from us-east-1 (global services): dr.yml reads them once, finds them down and reports them unchecked."""
    regional = [e for e in failover["primary_requests"] if e["region"] == PRIMARY]
    assert regional == [], f"the failover made {len(regional)} request(s) to {PRIMARY}: {regional[:10]}"
    global_calls = {(e["service"], e["status"]) for e in failover["primary_requests"]}
    assert global_calls <= {("iam", 503), ("route53", 503)}, global_calls
    assert "DR prerequisites not checked (the rebuild goes on" in " ".join(failover["log"].split())


def test_open_webui_serves_through_the_dr_load_balancer(failover: dict[str, Any], twin: Twin, record_property) -> None:
    """Product: the DR fleet booted from the copied images, configured itself, and answers a chat through the DR
    region's load balancer. Reported: the drill's duration from dr.yml's start to that first answer."""
    status, answer, served_by = failover["chat"]
    assert status == 200 and answer.get("choices"), f"the DR chat answered HTTP {status}: {answer}"
    dr_group = failover["outputs"]["ollama_frontend_asg_name"]
    autoscaling = Stack(twin.endpoint, DR).c("autoscaling")
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[dr_group])["AutoScalingGroups"][0]
    assert served_by in {i["InstanceId"] for i in group["Instances"]}, (served_by, group["Instances"])
    dr = Stack(twin.endpoint, DR)
    copied = dr.parameter("/ollama/local/frontend/ami-id")
    launched = dr.c("ec2").describe_instances(InstanceIds=[served_by])["Reservations"]
    assert launched[0]["Instances"][0]["ImageId"] == copied, "the DR frontend runs another image than the copy"
    record_property("dr_playbook_s", round(failover["played_s"], 1))
    record_property("dr_to_first_chat_s", round(failover["first_chat_s"], 1))


def test_every_account_chat_document_and_record_written_before_the_replication_point_is_there(
    failover: dict[str, Any], record_property
) -> None:
    """Product: the DR stack runs on the restored database (accounts, chats, document vectors, read through
    Open-WebUI), the table replica and the uploads replica (the document's content, read by Open-WebUI from S3 with
    the DR instance role). Counted item by item; target 0 lost. The records and uploads are compared with the
    replicas the emulated replication made: what that shows is that the DR stack runs on them."""
    before, after = failover["before"], failover["after"]
    lost = {
        "accounts": sorted(set(before["accounts"]) - set(after["accounts"])),
        "chats": {u: sorted(set(c) - set(after["chats"].get(u, []))) for u, c in before["chats"].items()},
        "files": sorted(set(before["files"]) - set(after["files"])),
        "records": sorted(failover["records"] - failover["dr_records"]),
        "uploads": sorted(failover["objects"] - failover["dr_objects"]),
    }
    lost["chats"] = {u: c for u, c in lost["chats"].items() if c}
    counts = {
        "accounts": len(before["accounts"]),
        "chats": sum(len(c) for c in before["chats"].values()),
        "files": len(before["files"]),
        "records": len(failover["records"]),
        "uploads": len(failover["objects"]),
    }
    record_property("dr_items_before", json.dumps(counts))
    record_property("dr_items_lost", sum(len(v) for v in lost.values()))
    assert not any(lost.values()), f"lost in the failover: {lost}"
    assert counts["chats"] == USERS * CHATS_PER_USER and counts["accounts"] >= USERS + 1, counts
    status, body = failover["content"]
    assert status == 200 and FACT.encode() in body, (
        f"the upload is not readable in the DR region: {status} {body[:300]!r}"
    )
    status, retrieved = failover["retrieval"]
    documents = [text for group in retrieved.get("documents", []) for text in group] if status == 200 else []
    assert any(FACT in text for text in documents), f"the document's vectors were not restored: {status} {retrieved}"


@pytest.fixture(scope="module")
def teardown(twin: Twin, failover: dict[str, Any]) -> dict[str, Any]:
    """teardown.yml for the failover stack (with the variables dr.yml ran it with), then for the environment and its
    DR region; the twin's own removal (tools/twin.sh down) is the stage's."""
    work = f".cache/dr/local-{DR}-failover"
    confirm = ["-e", "platform_teardown_confirm=local"]
    dr_stack = _playbook(
        ["playbooks/teardown.yml", "-i", f"{work}/inventories/local", "-e", f"@{work}/dr-vars.json", *confirm],
        "teardown-dr.log",
    )
    environment = _playbook(
        [
            "playbooks/teardown.yml",
            "-i",
            "inventories/local",
            *confirm,
            "-e",
            f"dr_region={DR}",
            "--skip-tags",
            "twin_down",
        ],
        "teardown.log",
    )
    if dr_stack[0] == environment[0] == 0:
        wait_for("every instance to be gone", lambda: not (_containers(PRIMARY) or _containers(DR)), timeout=180)
    left = {
        region: leftovers(Stack(twin.endpoint, region), include_global=region == PRIMARY) for region in (PRIMARY, DR)
    }
    return {"dr_stack": dr_stack, "environment": environment, "left": left}


def test_teardown_leaves_nothing_in_either_region(teardown: dict[str, Any], record_property) -> None:
    """Product: teardown.yml removes the failover stack, then the environment with what it made in its DR region
    (replicas, DR key, instance roles) and what Terraform does not own (images, parameters, log groups, secrets):
    nothing of the environment is left in either region, and no instance."""
    for name, log in (("dr_stack", "teardown-dr.log"), ("environment", "teardown.log")):
        rc, text, _ = teardown[name]
        assert rc == 0, f"teardown.yml ({name}) failed (rc {rc}, reports/{log}):\n{text[-3000:]}"
    assert teardown["left"] == {PRIMARY: [], DR: []}, f"left after the teardown: {teardown['left']}"
    assert (_containers(PRIMARY), _containers(DR)) == ([], [])
    record_property("teardown_s", round(teardown["dr_stack"][2] + teardown["environment"][2], 1))
