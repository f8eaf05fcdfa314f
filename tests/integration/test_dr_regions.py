"""Two emulated regions behind the twin's region-aware front (tools/twin/regions.py), and disaster recovery on it.

One emulator per region (``tools.aws_emulator.start`` as tests/conftest.py does) behind one front that dispatches on
the request's SigV4 signing region, can take a region down (503) and logs every request per region.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import pytest

from tools.twin import regions

pytestmark = pytest.mark.emulator

PRIMARY = "us-east-1"
DR = "us-west-2"
NO_RETRY = botocore.config.Config(
    retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30
)


@pytest.fixture(scope="module")
def front_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[regions.RegionFront]:
    state = tmp_path_factory.mktemp("regions")
    with regions.two_regions(state, [PRIMARY, DR], log_dir=state / "log") as front:
        yield front


@pytest.fixture
def front(front_session: regions.RegionFront, monkeypatch: pytest.MonkeyPatch) -> Iterator[regions.RegionFront]:
    """Both regions up and empty, the log cleared, boto3 and Ansible pointed at the front."""
    regions.reset(front_session)
    monkeypatch.setenv("AWS_ENDPOINT_URL", front_session.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", PRIMARY)
    monkeypatch.setenv("AWS_REGION", PRIMARY)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    yield front_session


def client(service: str, region: str, url: str | None = None):
    return boto3.client(
        service, region_name=region, endpoint_url=url or os.environ["AWS_ENDPOINT_URL"], config=NO_RETRY
    )


def test_front_dispatches_on_the_signing_region_and_logs_each_request(front: regions.RegionFront) -> None:
    client("ssm", PRIMARY).put_parameter(Name="/drill/where", Value="primary", Type="String")
    client("ssm", DR).put_parameter(Name="/drill/where", Value="dr", Type="String")
    client("s3", DR).create_bucket(Bucket="only-in-dr", CreateBucketConfiguration={"LocationConstraint": DR})

    # Each region's emulator holds only what was signed for it.
    primary_ssm = client("ssm", PRIMARY, front.backends[PRIMARY])
    dr_ssm = client("ssm", DR, front.backends[DR])
    assert primary_ssm.get_parameter(Name="/drill/where")["Parameter"]["Value"] == "primary"
    assert dr_ssm.get_parameter(Name="/drill/where")["Parameter"]["Value"] == "dr"
    assert [b["Name"] for b in client("s3", DR, front.backends[DR]).list_buckets()["Buckets"]] == ["only-in-dr"]
    assert client("s3", PRIMARY, front.backends[PRIMARY]).list_buckets()["Buckets"] == []
    # Through the front, each region sees its own.
    assert client("ssm", DR).get_parameter(Name="/drill/where")["Parameter"]["Value"] == "dr"

    logged = {(e.region, e.service, e.action, e.status) for e in front.log()}
    assert (PRIMARY, "ssm", "PutParameter", 200) in logged
    assert (DR, "ssm", "PutParameter", 200) in logged
    assert (DR, "ssm", "GetParameter", 200) in logged
    assert (DR, "s3", "PUT /only-in-dr", 200) in logged
    assert {e.region for e in front.log(PRIMARY)} == {PRIMARY}
    assert len(front.log(PRIMARY)) == 1 and len(front.log(DR)) == 3
    lines = (front.log_dir / f"{DR}.jsonl").read_text().splitlines()
    assert any('"action": "GetParameter"' in line for line in lines)


def test_a_region_taken_down_refuses_and_the_other_answers(front: regions.RegionFront) -> None:
    client("ssm", DR).put_parameter(Name="/drill/up", Value="yes", Type="String")
    front.take_down(PRIMARY)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client("dynamodb", PRIMARY).list_tables()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert client("ssm", DR).get_parameter(Name="/drill/up")["Parameter"]["Value"] == "yes"
    assert [(e.service, e.action, e.status) for e in front.log(PRIMARY)] == [("dynamodb", "ListTables", 503)]
    front.bring_up(PRIMARY)
    assert client("dynamodb", PRIMARY).list_tables()["TableNames"] == []


def test_the_front_adds_no_fixed_delay_to_a_request(front: regions.RegionFront) -> None:
    """A request through the front costs about what it costs at the emulator: no wait on a delayed ACK (Nagle's
    algorithm held every reply's body for about 40 ms, which made a drill's hundreds of requests slow)."""
    import statistics
    import time

    def median_ms(ssm) -> float:
        ssm.describe_parameters()  # the connection is open before the timing starts
        times = []
        for _ in range(15):
            started = time.perf_counter()
            ssm.describe_parameters()
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    direct = median_ms(client("ssm", PRIMARY, front.backends[PRIMARY]))
    through = median_ms(client("ssm", PRIMARY))
    assert through < direct + 20, f"through the front {through:.1f} ms, at the emulator {direct:.1f} ms"


def test_front_refuses_bad_settings() -> None:
    with pytest.raises(regions.RegionError, match="default region eu-west-1 has no emulator"):
        regions.RegionFront({PRIMARY: "http://127.0.0.1:1"}, "eu-west-1")
    with pytest.raises(regions.RegionError, match="must be an http://host:port URL"):
        regions.RegionFront({PRIMARY: "localhost"}, PRIMARY)


def test_global_services_answer_from_us_east_1_and_go_down_with_it(front: regions.RegionFront) -> None:
    """IAM and Route 53 have one endpoint, served from us-east-1: the twin signs them for the client's region (an
    endpoint URL is set), the front sends them to us-east-1's emulator and logs them under "global"."""
    trust = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, '
    )
    trust += '"Action": "sts:AssumeRole"}]}'
    client("iam", DR).create_role(RoleName="drill-global", AssumeRolePolicyDocument=trust)
    assert client("iam", PRIMARY, front.backends[PRIMARY]).get_role(RoleName="drill-global")["Role"]
    with pytest.raises(botocore.exceptions.ClientError):
        client("iam", DR, front.backends[DR]).get_role(RoleName="drill-global")
    front.take_down(PRIMARY)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client("route53", DR).list_hosted_zones()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert "the global endpoint of route53, in us-east-1, is down" in str(refused.value)
    logged = [(e.region, e.service, e.action, e.status) for e in front.log()]
    assert logged == [("global", "iam", "CreateRole", 200), ("global", "route53", "GET /2013-04-01", 503)]
    assert front.log(PRIMARY) == [] and front.log(DR) == []


def test_unsigned_private_routes_go_to_the_region_they_name(front: regions.RegionFront) -> None:
    from tools import aws_emulator

    aws_emulator.set_public_parameter(front.url, "/aws/service/drill/image", "ami-12345678", region=DR)
    assert client("ssm", DR).get_parameter(Name="/aws/service/drill/image")["Parameter"]["Value"] == "ami-12345678"
    assert [(e.region, e.service) for e in front.log() if e.service == "emulator"] == [(DR, "emulator")]


# ---------------------------------------------------------------------------------------------------- DR drills
ROOT = Path(__file__).resolve().parents[2]
GROUPS_ONLY = ROOT / "inventories" / "local" / "groups.yml"  # no aws_ec2 source: it would list the primary
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGo5vD4b8m2p0o1xJkq3Zl2Qm3p9zYv8r8mP5cQeXb2T test"
RECORDS = 40
UPLOADS = 3


def run_dr(
    front: regions.RegionFront,
    tmp_path: Path,
    extra: dict,
    check: bool = False,
    backup_copy: bool = True,
    **env_extra: str,
):
    """Run dr.yml against the front; ``backup_copy`` puts the twin's copy of the database backups in the DR region
    (tools/twin/dr.py backup-copy; the stand-in rebuild does not restore it)."""
    import json
    import subprocess
    from urllib.parse import urlparse

    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "OLLAMA_TWIN_AWS_PORT": str(urlparse(front.url).port),
        **env_extra,
    }
    twin_state = tmp_path / "twin"
    if backup_copy:
        (twin_state / DR).mkdir(parents=True, exist_ok=True)
        (twin_state / DR / "database-backup-copy.sql").write_text("-- the primary's database\n")
    settings = {
        "dr_region": DR,
        "dr_work_dir": str(tmp_path / "dr"),
        "platform_twin_state_dir": str(twin_state),
        "dr_recreate_playbook": str(ROOT / "tests" / "playbooks" / "dr_twin_rebuild.yml"),
        "dr_teardown_playbook": str(ROOT / "tests" / "playbooks" / "dr_twin_remove.yml"),
        **extra,
    }
    cmd = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), str(ROOT / "playbooks" / "dr.yml"), "-i", str(GROUPS_ONLY)]
    cmd += ["-e", json.dumps(settings)] + (["--check"] if check else [])
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


DOMAIN = "chat.local.test"


def build_primary(front: regions.RegionFront) -> dict:
    """The primary as the twin builds it (tools/twin/stack.py foundation), filled, baked, and replicated, with what
    its Terraform makes in advance for a DR stack (tools/twin/dr.py prepare) for a domain with failover routing.
    Returns those settings, dr.yml's dr_stack_settings (the twin has no Terraform variables)."""
    from tools.dr_stack_needs import settings_from_variables
    from tools.twin import dr as twin_dr
    from tools.twin import stack as twin_stack

    primary = twin_stack.Stack(front.url, PRIMARY)
    outputs = twin_stack.foundation(primary, "10.213.0.0/16", PUBLIC_KEY, container_image="")
    ddb, s3, ec2, ssm = primary.c("dynamodb"), primary.c("s3"), primary.c("ec2"), primary.c("ssm")
    for n in range(RECORDS):
        item = {"pk": {"S": f"MODEL#{n % 4}"}, "sk": {"S": f"V#{n:03d}"}, "record_type": {"S": "model"}}
        ddb.put_item(TableName=outputs["ollama_data_table_name"], Item=item)
    uploads = outputs["ollama_uploads_bucket_name"]
    assert uploads == twin_stack.uploads_bucket_name(primary.prefix, PRIMARY)
    for n in range(UPLOADS):
        s3.put_object(Bucket=uploads, Key=f"uploads/doc-{n}.txt", Body=f"document {n}".encode())
    for tier, parameter in outputs["ollama_ami_parameter_names"].items():
        image = ec2.register_image(
            Name=f"ollama-local-ami-{tier}-20261201T000000Z",
            RootDeviceName="/dev/xvda",
            TagSpecifications=[{"ResourceType": "image", "Tags": primary.tag_list(Tier=tier, Role="ollama-ami")}],
        )
        ssm.put_parameter(Name=parameter, Value=image["ImageId"], Type="String", Overwrite=True)
    dr = twin_stack.Stack(front.url, DR)
    counts = twin_dr.replicate(primary, dr)
    assert counts == {"items": RECORDS, "objects": UPLOADS, "secrets": 5, "images": 2}, counts
    settings = {"domain_name": DOMAIN, "route53_zone_id": twin_dr.hosted_zone(primary, DOMAIN)}
    settings |= {"dr_failover_routing": True, "az_count": 2}
    prepared = twin_dr.prepare(primary, dr, settings_from_variables("local", PRIMARY, DR, "failover", settings))
    assert prepared == {
        "instance_profile": 2, "role": 3, "kms_alias": 1, "certificate": 1, "elastic_ip": 2, "failover_record": 1,
        "record": 1,
    }, prepared  # fmt: skip
    return settings


def test_what_the_twin_prepares_is_made_once(front) -> None:
    from tools.dr_stack_needs import settings_from_variables
    from tools.twin import dr as twin_dr
    from tools.twin import stack as twin_stack

    settings = build_primary(front)
    primary, dr = twin_stack.Stack(front.url, PRIMARY), twin_stack.Stack(front.url, DR)
    twin_dr.prepare(primary, dr, settings_from_variables("local", PRIMARY, DR, "failover", settings))
    assert primary.changes + dr.changes == []


def region_state(url: str, region: str) -> dict:
    """Everything of environment local in one region's emulator (read directly, not through the front)."""
    from tools.twin import stack as twin_stack

    stack = twin_stack.Stack(url, region)
    state = {"resources": sorted(twin_stack.leftovers(stack))}
    ddb = stack.c("dynamodb")
    for table in ddb.list_tables()["TableNames"]:
        items = [i for page in ddb.get_paginator("scan").paginate(TableName=table) for i in page["Items"]]
        state[f"table {table}"] = sorted(str(sorted(i.items())) for i in items)
    s3 = stack.c("s3")
    for bucket in s3.list_buckets().get("Buckets", []):
        state[f"bucket {bucket['Name']}"] = sorted(
            o["Key"] for o in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", [])
        )
    sm = stack.c("secretsmanager")
    for secret in sm.list_secrets()["SecretList"]:
        state[f"secret {secret['Name']}"] = sm.get_secret_value(SecretId=secret["Name"])["SecretString"]
    return state


def drill_records(region: str) -> list[dict]:
    table = boto3.resource("dynamodb", region_name=region).Table("ollama-local-data-table")
    return table.query(KeyConditionExpression=boto3.dynamodb.conditions.Key("pk").eq("DRDRILL#local"))["Items"]


def global_requests(front: regions.RegionFront) -> list[tuple[str, str, int]]:
    """(service, action, status) of the requests to global endpoints; fails on any that is not a read."""
    found = [(e.service, e.action, e.status) for e in front.log(regions.GLOBAL)]
    writes = [entry for entry in found if not entry[1].startswith(("Get", "List", "GET "))]
    assert writes == [], f"requests to a global endpoint that are not reads: {writes}"
    return found


def test_failover_rebuilds_from_the_dr_region_alone_with_the_primary_down(front, tmp_path: Path) -> None:
    import re

    settings = build_primary(front)
    front.take_down(PRIMARY)
    front.clear_log()

    extra = {"dr_mode": "failover", "dr_confirm": "local/us-west-2/failover", "dr_stack_settings": settings}
    proc = run_dr(front, tmp_path, extra)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    touched = [(e.service, e.action) for e in front.log(PRIMARY)]
    assert touched == [], f"the failover made {len(touched)} request(s) to the primary: {touched}"
    assert len(front.log(DR)) > 10  # it did work, all of it in the DR region
    # IAM and Route 53 answer from us-east-1, down with the primary: what they hold is unchecked, not missing, and
    # each service is asked once; the regional reads (certificate, entry addresses, key) were made in the DR region.
    assert {(service, status) for service, _, status in global_requests(front)} == {("iam", 503), ("route53", 503)}
    text = re.sub(r"\s+", " ", proc.stdout)
    assert "DR prerequisites not checked (the rebuild goes on" in text, text[-3000:]
    for unchecked in (
        "instance profile ollama-local-us-west-2-frontend-role could not be checked: the IAM endpoint did not answer",
        "role ollama-local-us-east-1-backup-role could not be checked: the IAM endpoint did not answer",
        f"failover record origin.{DOMAIN} could not be checked: the Route 53 endpoint did not answer",
    ):
        assert unchecked in text, unchecked
    assert "4 of 11 prepared resources found" in text, text[-3000:]
    assert {e.action for e in front.log(DR)} >= {"ListCertificates", "DescribeAddresses", "DescribeKey"}

    (record,) = drill_records(DR)
    assert record["mode"] == "failover" and record["result"] == "success", record
    assert int(record["table_items"]) == RECORDS and int(record["uploads_objects"]) == UPLOADS
    assert int(record["secrets_readable"]) == 5 and record["table"] == "ollama-local-data-table"
    assert float(record["rto_seconds"]) > 0 and float(record["rebuild_seconds"]) > 0
    import json

    outputs = json.loads((tmp_path / "dr" / "outputs.json").read_text())
    assert outputs["ollama_region"] == DR and outputs["ollama_data_table_name"] == "ollama-local-data-table"
    assert set(outputs["ollama_ami_ids"]) == {"backend", "frontend"}
    # Nothing lost: every record and upload written before the (emulated) replication is in the DR region.
    dr_state = region_state(front.backends[DR], DR)
    assert len(dr_state["table ollama-local-data-table"]) == RECORDS + 1  # + the failover's own record
    assert len(dr_state[f"bucket ollama-local-uploads-dr-123456789012-{DR}"]) == UPLOADS


def test_the_no_primary_check_fails_on_a_planted_primary_request(front, tmp_path: Path) -> None:
    build_primary(front)
    front.take_down(PRIMARY)
    front.clear_log()
    extra = {"dr_mode": "failover", "dr_confirm": "local/us-west-2/failover"}
    proc = run_dr(front, tmp_path, extra, DR_TWIN_TOUCH_PRIMARY="1")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert [(e.service, e.action, e.status) for e in front.log(PRIMARY)][:1] == [("ssm", "DescribeParameters", 503)]


def test_drill_beside_a_healthy_primary_changes_nothing_there_and_removes_itself(front, tmp_path: Path) -> None:
    settings = build_primary(front)
    primary_before = region_state(front.backends[PRIMARY], PRIMARY)
    dr_before = region_state(front.backends[DR], DR)
    front.clear_log()

    extra = {"dr_mode": "drill", "dr_confirm": "local/us-west-2/drill", "dr_stack_settings": settings}
    proc = run_dr(front, tmp_path, extra)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert front.log(PRIMARY) == [], "the drill sent requests to the primary"
    # With us-east-1 up, IAM and Route 53 answer: every prepared resource was read there, and found.
    assert {(service, status) for service, _, status in global_requests(front)} == {("iam", 200), ("route53", 200)}
    assert "11 of 11 prepared resources found" in proc.stdout, proc.stdout[-3000:]
    assert "not checked" not in proc.stdout
    assert region_state(front.backends[PRIMARY], PRIMARY) == primary_before

    (record,) = drill_records(DR)
    assert record["mode"] == "drill" and record["result"] == "success", record
    assert int(record["copied_table_items"]) == RECORDS == int(record["table_items"])
    assert int(record["copied_uploads_objects"]) == UPLOADS and record["table"] == "ollama-local-drill-data-table"
    assert float(record["data_seconds"]) > 0 and float(record["rebuild_seconds"]) > 0
    # The drill stack and its copies are gone; the replicas hold what they held, plus the drill's record.
    dr_after = region_state(front.backends[DR], DR)
    table = "table ollama-local-data-table"
    assert len(dr_after.pop(table)) == len(dr_before.pop(table)) + 1
    assert dr_after == dr_before


def test_check_mode_lists_each_step_and_changes_nothing(front, tmp_path: Path) -> None:
    settings = build_primary(front)
    before = region_state(front.backends[DR], DR)
    proc = run_dr(front, tmp_path, {"dr_mode": "drill", "dr_stack_settings": settings}, check=True)
    assert proc.returncode == 0, proc.stdout[-4000:]
    for step in (
        "1. check the inputs",
        "3. check in us-west-2",
        "4. copy the table replica",
        "7. remove the drill stack",
    ):
        assert step in proc.stdout, proc.stdout[-3000:]
    assert region_state(front.backends[DR], DR) == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"dr_mode": "rebuild"}, "dr_mode 'rebuild' is not a DR mode: use -e dr_mode=drill"),
        ({"dr_mode": "failover", "dr_confirm": "local/us-west-2"}, "-e dr_confirm=local/us-west-2/failover"),
        ({"dr_mode": "drill", "dr_region": PRIMARY}, "is the primary region"),
    ],
    ids=["unknown-mode", "confirmation", "same-region"],
)
def test_bad_dr_input_fails_before_any_request(front, tmp_path: Path, extra: dict, message: str) -> None:
    import re

    proc = run_dr(front, tmp_path, extra)
    assert proc.returncode != 0
    assert message in re.sub(r"\s+", " ", proc.stdout + proc.stderr), proc.stdout[-3000:]
    assert front.log() == []


def test_missing_replicas_are_listed_with_their_fix(front, tmp_path: Path) -> None:
    import re

    proc = run_dr(front, tmp_path, {"dr_mode": "failover", "dr_confirm": "local/us-west-2/failover"}, backup_copy=False)
    assert proc.returncode != 0
    text = re.sub(r"\s+", " ", proc.stdout)
    assert "DR prerequisites missing in us-west-2" in text, text[-3000:]
    assert "no available backend image in us-west-2 (SSM /ollama/local/backend/ami-id): copy one with" in text
    assert "table ollama-local-data-table has no replica in us-west-2" in text
    assert "secret ollama-local/webui-secret-key is not replicated to us-west-2" in text
    assert "no instance profile ollama-local-us-west-2-frontend-role (IAM): the primary stack makes it" in text
    assert "no key alias/ollama-local-dr in us-west-2 (KMS)" in text
    assert "no backup copy of the database in us-west-2" in text and "tools.twin.dr backup-copy" in text
    assert front.log(PRIMARY) == []


def _remove_profile(front: regions.RegionFront) -> None:
    iam = client("iam", PRIMARY)
    name = "ollama-local-us-west-2-frontend-role"
    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=name)
    iam.delete_instance_profile(InstanceProfileName=name)


def _remove_certificate(front: regions.RegionFront) -> None:
    acm = client("acm", DR)
    for certificate in acm.list_certificates()["CertificateSummaryList"]:
        acm.delete_certificate(CertificateArn=certificate["CertificateArn"])


def _release_entry_address(front: regions.RegionFront) -> None:
    ec2 = client("ec2", DR)
    (address,) = ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": ["ollama-local-dr-entry-1"]}])[
        "Addresses"
    ]
    ec2.release_address(AllocationId=address["AllocationId"])


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        (
            _remove_profile,
            "no instance profile ollama-local-us-west-2-frontend-role (IAM): the primary stack makes it "
            "(terraform/iam.tf, aws_iam_role.dr_instance and its instance profile): apply it while us-east-1 is up",
        ),
        (
            _remove_certificate,
            f"no certificate of origin.{DOMAIN} in us-west-2 (ACM): the primary stack makes it "
            "(terraform/failover.tf, aws_acm_certificate.dr, validated by DNS): apply it while us-east-1 is up",
        ),
        (
            _release_entry_address,
            "no Elastic IP tagged Name=ollama-local-dr-entry-1 in us-west-2 (EC2): the primary stack makes it "
            "(terraform/failover.tf, aws_eip.dr_entry): apply it while us-east-1 is up",
        ),
    ],
    ids=["dr-instance-profile", "certificate", "entry-address"],
)
def test_missing_prepared_resources_are_named_with_their_fix(front, tmp_path: Path, remove, message: str) -> None:
    """What the primary makes in advance for a DR stack, one piece missing: named with the primary apply that makes
    it, before anything changes."""
    import re

    settings = build_primary(front)
    remove(front)
    before = {region: region_state(front.backends[region], region) for region in (PRIMARY, DR)}
    front.clear_log()
    extra = {"dr_mode": "failover", "dr_confirm": "local/us-west-2/failover", "dr_stack_settings": settings}
    proc = run_dr(front, tmp_path, extra)
    assert proc.returncode != 0
    text = re.sub(r"\s+", " ", proc.stdout)
    assert "DR prerequisites missing in us-west-2" in text, text[-3000:]
    assert message in text, text[-3000:]
    findings = text.split("DR prerequisites missing in us-west-2: ", 1)[1].split(" Origin: ", 1)[0]
    assert findings.count("the primary stack makes it") == 1, findings  # only the piece removed
    assert front.log(PRIMARY) == []
    assert {region: region_state(front.backends[region], region) for region in (PRIMARY, DR)} == before


# ---------------------------------------------------------------------------------------------------- teardown
OUTSIDE_TERRAFORM = ("image ", "snapshot ", "parameter ", "log group ", "secret ")


def outside_terraform(url: str, region: str) -> list[str]:
    """What teardown.yml removes beyond Terraform destroy, found in one region's emulator."""
    from tools.twin import stack as twin_stack

    return [r for r in twin_stack.leftovers(twin_stack.Stack(url, region)) if r.startswith(OUTSIDE_TERRAFORM)]


def test_teardown_leaves_nothing_of_the_environment_in_either_region(front, tmp_path: Path) -> None:
    import json
    import subprocess
    from urllib.parse import urlparse

    build_primary(front)
    boto3.client("logs", region_name=DR).create_log_group(logGroupName="/ollama/local/bootstrap")  # an instance's
    before = {region: outside_terraform(front.backends[region], region) for region in (PRIMARY, DR)}
    assert all(before.values()), before  # the check below can fail: both regions hold leftovers now
    from tools.twin import stack as twin_stack

    primary = twin_stack.Stack(front.backends[PRIMARY], PRIMARY)
    routing = twin_stack.leftovers(primary, include_global=True, dr_region=DR)
    assert {r for r in routing if r.startswith(("record ", "health check "))} == {
        f"record origin.{DOMAIN}. PRIMARY", f"record origin.{DOMAIN}. SECONDARY", f"record backend.{DR}.{DOMAIN}. A",
        "health check ollama-local-alb.us-east-1.elb.amazonaws.com",
    }, routing  # fmt: skip

    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "OLLAMA_TWIN_AWS_PORT": str(urlparse(front.url).port),
    }
    cmd = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), str(ROOT / "playbooks" / "teardown.yml")]
    cmd += ["-i", str(GROUPS_ONLY), "-e", json.dumps({"platform_teardown_confirm": "local", "dr_region": DR})]
    # The twin's own removal (tools/twin.sh down: containers and the emulator) is not for a test to run.
    cmd += ["--skip-tags", "twin_down"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:]
    for region in (PRIMARY, DR):
        assert outside_terraform(front.backends[region], region) == [], region
    # And what Terraform owns (its stand-in, tools/twin/stack.py destroy): nothing of the environment anywhere. The
    # hosted zone stays: it is the domain's, made before the platform.
    for region in (PRIMARY, DR):
        stack = twin_stack.Stack(front.backends[region], region)
        assert twin_stack.leftovers(stack, include_global=region == PRIMARY, dr_region=DR) == [], region
    zones = client("route53", PRIMARY, front.backends[PRIMARY]).list_hosted_zones()["HostedZones"]
    assert [z["Name"] for z in zones] == [f"{DOMAIN}."]
