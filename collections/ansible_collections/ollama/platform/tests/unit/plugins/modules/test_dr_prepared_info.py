"""dr_prepared_info: what a DR stack finds by name, judged as its lookups would be (AWS behaviour against the emulator:
tests/integration/test_dr_regions.py)."""

from datetime import UTC, datetime, timedelta

from ansible_collections.ollama.platform.plugins.modules import dr_prepared_info as mod
from ansible_collections.ollama.platform.tests.unit.plugins.modules._doc_spec import assert_doc_matches_spec
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

NAME, BACKEND = "origin.chat.example.com", "backend.us-west-2.chat.example.com"
NOW = datetime.now(UTC)


def _error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


def test_documentation_matches_argument_spec():
    assert_doc_matches_spec(mod)


def test_an_endpoint_that_does_not_answer_is_unreachable_an_answer_is_not():
    assert mod.unreachable_reason(EndpointConnectionError(endpoint_url="https://iam.amazonaws.com/")).startswith(
        "EndpointConnectionError"
    )
    assert mod.unreachable_reason(ConnectTimeoutError(endpoint_url="https://route53.amazonaws.com/"))
    assert mod.unreachable_reason(_error("ServiceUnavailable", 503)) == "HTTP 503 ServiceUnavailable: m"
    assert mod.unreachable_reason(_error("", 500)) == "HTTP 500: m"
    for answer in (_error("NoSuchEntity", 404), _error("AccessDenied", 403), ValueError("x")):
        assert mod.unreachable_reason(answer) == ""


def test_an_instance_profile_must_hold_its_role():
    assert mod.profile_problem(None, "r") == "no instance profile r (IAM)"
    assert "holds no role" in mod.profile_problem({"Roles": []}, "r")
    assert "holds ['other']" in mod.profile_problem({"Roles": [{"RoleName": "other"}]}, "r")
    assert mod.profile_problem({"Roles": [{"RoleName": "r"}]}, "r") == ""


def _certificate(status: str, names: list[str], issued: datetime, arn: str = "arn:1") -> dict:
    return {
        "CertificateArn": arn,
        "DomainName": NAME,
        "SubjectAlternativeNames": names,
        "Status": status,
        "IssuedAt": issued,
        "NotAfter": issued + timedelta(days=395),
    }


def test_a_certificate_is_the_newest_issued_one_of_the_name_and_covers_the_backend():
    assert (
        mod.certificate_problem([], NAME, [BACKEND], "us-west-2")[0] == f"no certificate of {NAME} in us-west-2 (ACM)"
    )
    pending = _certificate("PENDING_VALIDATION", [NAME, BACKEND], NOW)
    assert "is PENDING_VALIDATION, not ISSUED" in mod.certificate_problem([pending], NAME, [BACKEND], "us-west-2")[0]
    old = _certificate("ISSUED", [NAME, BACKEND], NOW - timedelta(days=30), "arn:old")
    new = _certificate("ISSUED", [NAME], NOW, "arn:new")
    problem, found = mod.certificate_problem([old, new, pending], NAME, [BACKEND], "us-west-2")
    assert problem == f"the certificate arn:new of {NAME} in us-west-2 does not cover {BACKEND} (ACM)"
    problem, found = mod.certificate_problem([old, pending], f"{NAME}.", [BACKEND.upper()], "us-west-2")
    assert problem == "" and found["arn"] == "arn:old" and 360 <= found["days_left"] <= 366


def _record(failover: str, values: list[str]) -> dict:
    return {"Name": f"{NAME}.", "Type": "A", "Failover": failover, "ResourceRecords": [{"Value": v} for v in values]}


def test_the_failover_pair_has_both_sides_and_its_secondary_answers_the_entry_addresses():
    assert (
        mod.failover_problem([], NAME, None)[0] == f"{NAME} has no PRIMARY and no SECONDARY failover record (Route 53)"
    )
    primary = _record("PRIMARY", ["192.0.2.10"])
    assert "has no SECONDARY" in mod.failover_problem([primary], NAME, None)[0]
    pair = [primary, _record("SECONDARY", ["198.51.100.2", "198.51.100.1"])]
    assert mod.failover_problem(pair, NAME, ["198.51.100.1", "198.51.100.2"]) == (
        "",
        {"secondary": ["198.51.100.1", "198.51.100.2"]},
    )
    assert mod.failover_problem(pair, NAME, None)[0] == ""  # entry addresses not all found: not compared
    problem = mod.failover_problem(pair, NAME, ["203.0.113.9"])[0]
    assert problem.startswith(f"the SECONDARY record of {NAME} answers ['198.51.100.1', '198.51.100.2']")


def _address(name: str) -> dict:
    return {"PublicIp": "198.51.100.1", "Tags": [{"Key": "Name", "Value": name}]}


def test_the_address_quota_leaves_room_for_the_stacks_own_addresses_once():
    own = ["ollama-nat-0", "ollama-nat-1", "ollama-nat-2"]
    entries = [_address(f"ollama-dr-entry-{i}") for i in range(3)]
    problem, found = mod.address_quota_problem(entries, own, 5.0, "us-west-2")
    assert found == {"allocated": 3, "needed": 6, "quota": 5.0, "held": []}
    assert problem.startswith("the EC2-VPC Elastic IPs quota (ec2/L-0263D0A3) is 5 in us-west-2, the stack needs 6")
    assert "--desired-value 6 --region us-west-2" in problem
    # An earlier attempt holds two of its own addresses already: they are not counted twice.
    held = [*entries, _address("ollama-nat-0"), _address("ollama-nat-1")]
    assert mod.address_quota_problem(held, own, 6.0, "us-west-2") == (
        "",
        {"allocated": 5, "needed": 6, "quota": 6.0, "held": ["ollama-nat-0", "ollama-nat-1"]},
    )
