"""The twin's instance-metadata double against AWS's IMDS documentation and its real consumers.

Doc statements are quoted from the Amazon EC2 User Guide pages "Use the Instance Metadata Service to access
instance metadata" (IMDS), "How Instance Metadata Service Version 2 works" (IMDSv2), "Instance metadata
categories" (Categories), "Retrieve instance metadata" (Retrieve) and "Instance identity documents".
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tools.twin import imds
from tools.twin.imds import InstanceRecord, MetadataServer, Registry

CALLER_A = "127.0.0.2"
CALLER_B = "127.0.0.3"
SELF_IP = "127.0.0.1"  # the test process itself, for botocore and curl
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKeyForTheTwinOnly operator@twin"
CLOUD_INIT_VERSIONS = ("2021-03-23", "2018-09-24", "2016-09-02", "2009-04-04")  # DataSourceEc2 22.4


def _record(ip: str, **overrides: object) -> InstanceRecord:
    suffix = ip.rsplit(".", 1)[1]
    values: dict[str, object] = {
        "instance_id": f"i-0abc00000000000{suffix}",
        "private_ip": ip,
        "region": "eu-west-1",
        "availability_zone": "eu-west-1b",
        "image_id": "ami-0123456789abcdef0",
    }
    values.update(overrides)
    return InstanceRecord(**values)  # type: ignore[arg-type]


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def server(registry: Registry) -> Iterator[MetadataServer]:
    running = MetadataServer(registry, host="127.0.0.1", port=0)
    running.start()
    try:
        yield running
    finally:
        running.stop()


class Client:
    """One caller: every request leaves from ``source_ip``."""

    def __init__(self, url: str, source_ip: str) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.source_ip = parts.hostname, parts.port, source_ip

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, http.client.HTTPMessage]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=5, source_address=(self.source_ip, 0))
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read(), response.headers
        finally:
            connection.close()

    def token(self, ttl: int = 21600) -> str:
        status, body, _ = self.request("PUT", "/latest/api/token", {imds.TOKEN_TTL_REQUEST_HEADER: str(ttl)})
        assert status == 200, f"token PUT answered {status}: {body!r}"
        return body.decode()

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes, http.client.HTTPMessage]:
        return self.request("GET", path, {imds.TOKEN_HEADER: token} if token is not None else {})

    def text(self, path: str, token: str) -> str:
        status, body, _ = self.get(path, token)
        assert status == 200, f"GET {path} answered {status}"
        return body.decode()


@pytest.fixture
def caller_a(server: MetadataServer, registry: Registry) -> Client:
    registry.put(_record(CALLER_A))
    return Client(server.url, CALLER_A)


def test_a_kept_alive_connection_gets_each_answer_without_a_fixed_delay(caller_a: Client) -> None:
    """SDKs and cloud-init keep the connection open; each answer comes without waiting on a delayed ACK (Nagle's
    algorithm held every body for about 40 ms)."""
    import statistics

    token = caller_a.token()
    connection = http.client.HTTPConnection(caller_a.host, caller_a.port, timeout=5, source_address=(CALLER_A, 0))
    times = []
    try:
        for _ in range(16):
            started = time.perf_counter()
            connection.request("GET", "/latest/meta-data/instance-id", headers={imds.TOKEN_HEADER: token})
            response = connection.getresponse()
            assert response.status == 200 and response.read()
            times.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    assert statistics.median(times[1:]) < 20, f"median {statistics.median(times[1:]):.1f} ms a request"


# -- token flow -----------------------------------------------------------------------------------------------


def test_token_flow_serves_metadata_with_ttl_header(caller_a: Client) -> None:
    """IMDSv2: "you create a session token ... using the PUT request", then "use the token to generate top-level
    metadata items" with the X-aws-ec2-metadata-token header."""
    status, body, headers = caller_a.request("PUT", "/latest/api/token", {imds.TOKEN_TTL_REQUEST_HEADER: "60"})
    assert status == 200 and body
    assert headers["X-Aws-Ec2-Metadata-Token-Ttl-Seconds"] == "60"
    status, body, headers = caller_a.get("/latest/meta-data/instance-id", body.decode())
    assert (status, body) == (200, b"i-0abc000000000002")
    assert 0 < int(headers["X-Aws-Ec2-Metadata-Token-Ttl-Seconds"]) <= 60


def test_token_is_reusable_until_it_expires(caller_a: Client) -> None:
    """IMDSv2: "During the specified duration, you can use the same session token for subsequent requests.
    After the specified duration expires, you must create a new session token" (Retrieve: 401 for an invalid token)."""
    token = caller_a.token(ttl=1)
    assert caller_a.get("/latest/meta-data/ami-id", token)[0] == 200
    assert caller_a.get("/latest/meta-data/ami-id", token)[0] == 200
    time.sleep(1.2)
    assert caller_a.get("/latest/meta-data/ami-id", token)[0] == 401


def test_required_tokens_refuse_requests_without_token(caller_a: Client) -> None:
    """IMDS: "When you specify that IMDSv2 must be used, IMDSv1 no longer works"; Retrieve: "401 - Unauthorized"."""
    assert caller_a.get("/latest/meta-data/instance-id")[0] == 401
    assert caller_a.get("/latest/meta-data/")[0] == 401


def test_optional_tokens_serve_imdsv1_but_still_reject_bad_tokens(server: MetadataServer, registry: Registry) -> None:
    """IMDS: "By default, you can use either IMDSv1 or IMDSv2, or both"; Retrieve: "401 - Unauthorized - The GET
    request uses an invalid token"."""
    registry.put(_record(CALLER_B, http_tokens="optional"))
    client = Client(server.url, CALLER_B)
    status, body, headers = client.get("/latest/meta-data/local-ipv4")
    assert (status, body) == (200, CALLER_B.encode())
    assert "X-Aws-Ec2-Metadata-Token-Ttl-Seconds" not in headers
    assert client.get("/latest/meta-data/local-ipv4", "not-a-token")[0] == 401


def test_invalid_token_is_401(caller_a: Client) -> None:
    """Retrieve: "401 - Unauthorized - The GET request uses an invalid token. The recommended action is to generate
    a new token"."""
    assert caller_a.get("/latest/meta-data/instance-id", "forged")[0] == 401
    assert caller_a.get("/latest/meta-data/instance-id", "")[0] == 401


@pytest.mark.parametrize("ttl", [None, "0", "21601", "-5", "six-hours", ""])
def test_token_ttl_out_of_bounds_is_400(caller_a: Client, ttl: str | None) -> None:
    """IMDSv2: the session duration "can be a minimum of one second and a maximum of six hours";
    Retrieve: "400 - Missing or Invalid Parameters - The PUT request is not valid"."""
    headers = {} if ttl is None else {imds.TOKEN_TTL_REQUEST_HEADER: ttl}
    assert caller_a.request("PUT", "/latest/api/token", headers)[0] == 400


@pytest.mark.parametrize("ttl", [1, 21600])
def test_token_ttl_bounds_are_inclusive(caller_a: Client, ttl: int) -> None:
    """IMDSv2: "a minimum of one second and a maximum of six hours" (21,600 seconds)."""
    assert caller_a.token(ttl)


def test_token_request_with_x_forwarded_for_is_refused(caller_a: Client) -> None:
    """IMDSv2 (defense in depth against open reverse proxies): a token PUT carrying an X-Forwarded-For header is
    refused; Retrieve: "403 - Forbidden - The request is not allowed"."""
    headers = {imds.TOKEN_TTL_REQUEST_HEADER: "60", "X-Forwarded-For": "203.0.113.9"}
    assert caller_a.request("PUT", "/latest/api/token", headers)[0] == 403


def test_token_path_only_takes_put(caller_a: Client) -> None:
    """IMDSv2: "Use a PUT request to initiate a session to the instance metadata service"."""
    assert caller_a.get("/latest/api/token", caller_a.token())[0] == 405
    assert caller_a.request("PUT", "/latest/meta-data/ami-id", {imds.TOKEN_TTL_REQUEST_HEADER: "60"})[0] == 405


# -- callers are instances -------------------------------------------------------------------------------------


def test_each_caller_sees_its_own_instance_and_tokens_do_not_cross(server: MetadataServer, registry: Registry) -> None:
    """IMDSv2: "The token is an instance-specific key. The token is not valid on other EC2 instances and will be
    rejected if you attempt to use it outside of the instance on which it was generated"."""
    registry.put(_record(CALLER_A))
    registry.put(_record(CALLER_B, availability_zone="eu-west-1c"))
    a, b = Client(server.url, CALLER_A), Client(server.url, CALLER_B)
    token_a, token_b = a.token(), b.token()
    assert a.text("/latest/meta-data/local-ipv4", token_a) == CALLER_A
    assert b.text("/latest/meta-data/local-ipv4", token_b) == CALLER_B
    assert b.text("/latest/meta-data/placement/availability-zone", token_b) == "eu-west-1c"
    assert b.get("/latest/meta-data/instance-id", token_a)[0] == 401
    assert a.get("/latest/meta-data/instance-id", token_b)[0] == 401


def test_token_dies_with_its_instance(server: MetadataServer, registry: Registry) -> None:
    """IMDSv2: a token is valid only on "the instance on which it was generated": a new instance reusing the
    private IP does not inherit it."""
    registry.put(_record(CALLER_A))
    client = Client(server.url, CALLER_A)
    token = client.token()
    registry.put(_record(CALLER_A, instance_id="i-0fffffffffffffff1"))
    assert client.get("/latest/meta-data/instance-id", token)[0] == 401
    assert client.text("/latest/meta-data/instance-id", client.token()) == "i-0fffffffffffffff1"


def test_unknown_caller_is_404_and_logged(server: MetadataServer, caplog: pytest.LogCaptureFixture) -> None:
    """Retrieve: "404 - Not Found - The resource is not available"; the double names the unregistered IP so a
    misconfigured twin is debuggable."""
    client = Client(server.url, CALLER_B)
    with caplog.at_level(logging.WARNING, logger=imds.__name__):
        status, _, _ = client.request("PUT", "/latest/api/token", {imds.TOKEN_TTL_REQUEST_HEADER: "60"})
        assert status == 404
        assert client.get("/latest/meta-data/instance-id", "x")[0] == 404
    assert CALLER_B in caplog.text


def test_debug_log_names_caller_and_path_but_never_credentials(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    """The double's own contract: each request at debug level with caller IP and path; no secrets in logs."""
    secrets = {"AccessKeyId": "AKIATWINLOGCHECK", "SecretAccessKey": "never-in-a-log-1", "Token": "never-in-a-log-2"}
    registry.put(_record(CALLER_A, iam_role_name="twin-backend"))
    running = MetadataServer(registry, credentials=secrets)
    running.start()
    try:
        client = Client(running.url, CALLER_A)
        with caplog.at_level(logging.DEBUG, logger=imds.__name__):
            token = client.token()
            document = json.loads(client.text("/latest/meta-data/iam/security-credentials/twin-backend", token))
    finally:
        running.stop()
    assert document["SecretAccessKey"] == "never-in-a-log-1"
    assert CALLER_A in caplog.text and "/latest/meta-data/iam/security-credentials/twin-backend" in caplog.text
    for secret in (token, *secrets.values()):
        assert secret not in caplog.text


# -- categories ------------------------------------------------------------------------------------------------


def test_top_level_listing_has_categories_with_trailing_slash_on_directories(caller_a: Client) -> None:
    """Categories/Retrieve: "GET /latest/meta-data/" lists the top-level items; sub-categories end in "/"."""
    token = caller_a.token()
    listing = caller_a.text("/latest/meta-data/", token).split("\n")
    for leaf in ("ami-id", "hostname", "instance-id", "instance-type", "local-hostname", "local-ipv4", "mac"):
        assert leaf in listing
    for directory in ("placement/", "network/", "services/"):
        assert directory in listing
    assert "iam/" not in listing and "public-keys/" not in listing and "tags/" not in listing
    assert caller_a.text("/latest/meta-data", token) == "\n".join(listing)
    assert caller_a.text("/latest/", token).split("\n") == ["dynamic", "meta-data"]


def test_any_api_version_serves_the_same_tree(caller_a: Client) -> None:
    """Retrieve ("Get the available versions of the instance metadata"): GET / lists the versions, and each
    version (or "latest") prefixes the categories."""
    token = caller_a.token()
    versions = caller_a.text("/", token).split("\n")
    assert "latest" in versions and "2009-04-04" in versions and "2021-03-23" in versions
    for version in ("latest", "2009-04-04", "2021-03-23", "2016-09-02"):
        assert caller_a.text(f"/{version}/meta-data/instance-id", token) == "i-0abc000000000002"
    assert caller_a.get("/1999-01-01/meta-data/instance-id", token)[0] == 404


def test_leaf_values(caller_a: Client) -> None:
    """Categories: ami-id, instance-type, local-hostname, placement/availability-zone, placement/region,
    services/domain ("amazonaws.com"), services/partition ("aws"), mac."""
    token = caller_a.token()
    assert caller_a.text("/latest/meta-data/ami-id", token) == "ami-0123456789abcdef0"
    assert caller_a.text("/latest/meta-data/instance-type", token) == "t3.medium"
    assert caller_a.text("/latest/meta-data/local-hostname", token) == "ip-127-0-0-2.eu-west-1.compute.internal"
    assert caller_a.text("/latest/meta-data/placement/availability-zone", token) == "eu-west-1b"
    assert caller_a.text("/latest/meta-data/placement/region", token) == "eu-west-1"
    assert caller_a.text("/latest/meta-data/services/domain", token) == "amazonaws.com"
    assert caller_a.text("/latest/meta-data/services/partition", token) == "aws"
    assert caller_a.text("/latest/meta-data/mac", token) == "02:00:7f:00:00:02"
    assert caller_a.get("/latest/meta-data/no-such-category", token)[0] == 404


def test_network_interface_by_mac(caller_a: Client) -> None:
    """Categories: network/interfaces/macs/mac/device-number, .../local-ipv4s, .../mac."""
    token = caller_a.token()
    mac = caller_a.text("/latest/meta-data/mac", token)
    assert caller_a.text("/latest/meta-data/network/interfaces/macs/", token) == f"{mac}/"
    base = f"/latest/meta-data/network/interfaces/macs/{mac}"
    assert "device-number" in caller_a.text(f"{base}/", token).split("\n")
    assert caller_a.text(f"{base}/device-number", token) == "0"
    assert caller_a.text(f"{base}/local-ipv4s", token) == CALLER_A
    assert caller_a.text(f"{base}/mac", token) == mac


def test_public_keys(server: MetadataServer, registry: Registry) -> None:
    """Categories: public-keys/0/openssh-key: "Public key. Only available if supplied at instance launch time";
    the listing names each key as ``0=<key name>``."""
    registry.put(_record(CALLER_A, public_keys={"twin-operator": PUBLIC_KEY}))
    client = Client(server.url, CALLER_A)
    token = client.token()
    assert client.text("/latest/meta-data/public-keys/", token) == "0=twin-operator"
    assert client.text("/latest/meta-data/public-keys/0/", token) == "openssh-key"
    assert client.text("/latest/meta-data/public-keys/0/openssh-key", token) == PUBLIC_KEY


def test_user_data_absent_is_404_present_is_raw_bytes(server: MetadataServer, registry: Registry) -> None:
    """Retrieve ("Retrieve user data"): "If user data is not supplied, 404 - Not Found"; user data comes back as
    supplied (opaque bytes)."""
    registry.put(_record(CALLER_A))
    payload = b"#cloud-config\nruncmd: [[true]]\n\x00\xff binary tail"
    registry.put(_record(CALLER_B, user_data=payload))
    a, b = Client(server.url, CALLER_A), Client(server.url, CALLER_B)
    assert a.get("/latest/user-data", a.token())[0] == 404
    status, body, headers = b.get("/latest/user-data", b.token())
    assert (status, body) == (200, payload)
    assert headers["Content-Type"] == "application/octet-stream"
    assert "user-data" in b.text("/2009-04-04/", b.token()).split("\n")


def test_role_credentials_json(server: MetadataServer, registry: Registry) -> None:
    """Categories: iam/security-credentials/role-name returns temporary credentials ("Code", "LastUpdated",
    "Type": "AWS-HMAC", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"); iam/info exists with a role."""
    registry.put(_record(CALLER_A, iam_role_name="twin-backend"))
    client = Client(server.url, CALLER_A)
    token = client.token()
    assert "iam/" in client.text("/latest/meta-data/", token).split("\n")
    assert client.text("/latest/meta-data/iam/security-credentials/", token) == "twin-backend"
    document = json.loads(client.text("/latest/meta-data/iam/security-credentials/twin-backend", token))
    assert set(document) == {"Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert (document["Code"], document["Type"]) == ("Success", "AWS-HMAC")
    assert (document["AccessKeyId"], document["SecretAccessKey"], document["Token"]) == ("testing",) * 3
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["Expiration"])
    expiration = datetime.strptime(document["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert timedelta(hours=1) < expiration - datetime.now(UTC) <= timedelta(hours=6, seconds=5)
    info = json.loads(client.text("/latest/meta-data/iam/info", token))
    assert info["Code"] == "Success" and info["InstanceProfileArn"].endswith("/twin-backend")


def test_no_role_no_iam_category(caller_a: Client) -> None:
    """Categories: iam/ is present only "if there is an IAM role associated with the instance"."""
    token = caller_a.token()
    assert caller_a.get("/latest/meta-data/iam/security-credentials/", token)[0] == 404
    assert caller_a.get("/latest/meta-data/iam/info", token)[0] == 404


def test_custom_credentials_are_served(registry: Registry) -> None:
    """The double hands out the credentials it was given (the emulator accepts any)."""
    registry.put(_record(CALLER_A, iam_role_name="r"))
    custom = {"AccessKeyId": "AKIATWIN", "SecretAccessKey": "s3cr3t", "Token": "tok"}
    running = MetadataServer(registry, credentials=custom)
    running.start()
    try:
        client = Client(running.url, CALLER_A)
        document = json.loads(client.text("/latest/meta-data/iam/security-credentials/r", client.token()))
    finally:
        running.stop()
    assert {key: document[key] for key in custom} == custom


def test_per_role_credentials_name_the_role(registry: Registry) -> None:
    """The twin's controller runs the double with per_role=True: instances of different roles get different keys
    (ASIA and 16 upper-case hex digits, as AWS's temporary keys start), instances of one role the same, and the key
    maps back to its role, so the emulator's record of a call's key tells which role made it."""
    roles = {CALLER_A: "ollama-local-frontend-role", CALLER_B: "ollama-local-backend-role"}
    for ip, role in roles.items():
        registry.put(_record(ip, iam_role_name=role))
    running = MetadataServer(registry, per_role=True)
    running.start()
    try:
        keys = {}
        for ip, role in roles.items():
            client = Client(running.url, ip)
            document = json.loads(client.text(f"/latest/meta-data/iam/security-credentials/{role}", client.token()))
            keys[role] = document["AccessKeyId"]
            assert {k: document[k] for k in ("AccessKeyId", "SecretAccessKey", "Token")} == imds.role_credentials(role)
    finally:
        running.stop()
    assert len(set(keys.values())) == 2, keys
    for role, key in keys.items():
        assert re.fullmatch(r"ASIA[0-9A-F]{16}", key), key
        assert key == imds.role_access_key(role), "the same role gets the same key on every instance and run"
        assert imds.role_of_access_key(key, roles.values()) == role
    assert imds.role_of_access_key("testing", roles.values()) is None, "the operator's key is no role's"
    with pytest.raises(ValueError, match="not both"):
        MetadataServer(registry, credentials={"AccessKeyId": "AKIATWIN"}, per_role=True)


def test_lifecycle_state_follows_registry(caller_a: Client, registry: Registry) -> None:
    """Categories: autoscaling/target-lifecycle-state: "Value showing the target Auto Scaling lifecycle state that an
    Auto Scaling instance is transitioning to" (e.g. InService, Terminated)."""
    token = caller_a.token()
    path = "/latest/meta-data/autoscaling/target-lifecycle-state"
    assert caller_a.get(path, token)[0] == 404
    registry.set_lifecycle_state("i-0abc000000000002", "InService")
    assert caller_a.text(path, token) == "InService"
    registry.set_lifecycle_state("i-0abc000000000002", "Terminated")
    assert caller_a.text(path, token) == "Terminated"
    with pytest.raises(KeyError, match="i-0nothere"):
        registry.set_lifecycle_state("i-0nothere", "InService")


def test_instance_tags(server: MetadataServer, registry: Registry) -> None:
    """Categories: tags/instance: "The instance tags associated with the instance. Only available if you explicitly
    allow access to tags in instance metadata"; keys with "/" or spaces are not available."""
    tags = {"Name": "ollama-local-backend-1", "Role": "backend", "aws:autoscaling:groupName": "asg", "a/b": "x"}
    registry.put(_record(CALLER_A, tags=tags))
    client = Client(server.url, CALLER_A)
    token = client.token()
    listing = client.text("/latest/meta-data/tags/instance/", token).split("\n")
    assert sorted(listing) == sorted(["Name", "Role", "aws:autoscaling:groupName"])
    assert client.text("/latest/meta-data/tags/instance/Role", token) == "backend"


def test_instance_identity_document(caller_a: Client) -> None:
    """Instance identity documents: "plaintext JSON" with accountId, architecture, availabilityZone, imageId,
    instanceId, instanceType, pendingTime, privateIp, region, version."""
    token = caller_a.token()
    assert caller_a.text("/latest/dynamic/", token) == "instance-identity/"
    assert "document" in caller_a.text("/latest/dynamic/instance-identity/", token).split("\n")
    document = json.loads(caller_a.text("/latest/dynamic/instance-identity/document", token))
    assert document["accountId"] == "123456789012"
    assert document["architecture"] == "x86_64"
    assert document["availabilityZone"] == "eu-west-1b"
    assert document["imageId"] == "ami-0123456789abcdef0"
    assert document["instanceId"] == "i-0abc000000000002"
    assert document["instanceType"] == "t3.medium"
    assert document["privateIp"] == CALLER_A
    assert document["region"] == "eu-west-1"
    assert document["version"] == "2017-09-30"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["pendingTime"])


# -- cloud-init's crawl ----------------------------------------------------------------------------------------


def _crawl(client: Client, token: str, url: str, seen: dict[str, bytes]) -> None:
    """cloud-init 22.4's MetadataMaterializer: children end in "/", ``N=name`` means ``N/openssh-key``,
    "security-credentials" is never materialized; every listed leaf must answer 200."""
    status, body, _ = client.get(url, token)
    assert status == 200, f"listing {url} answered {status}"
    for field in body.decode().splitlines():
        field = field.strip()
        name = field.rstrip("/")
        if not name or name == "security-credentials":
            continue
        if field.endswith("/"):
            _crawl(client, token, f"{url.rstrip('/')}/{name}/", seen)
            continue
        ident, _, key_name = field.partition("=")
        resource = f"{ident}/openssh-key" if key_name and ident.isdigit() else name
        leaf = f"{url.rstrip('/')}/{resource}"
        status, content, _ = client.get(leaf, token)
        assert status == 200, f"listed leaf {leaf} answered {status}"
        seen[leaf] = content


def test_cloud_init_crawl_reaches_every_listed_item(server: MetadataServer, registry: Registry) -> None:
    """What cloud-init 22.4's DataSourceEc2 requests: PUT latest/api/token, then the first extended version whose
    meta-data/instance-id answers 200, then <ver>/user-data, the meta-data/ tree and dynamic/instance-identity."""
    registry.put(
        _record(
            CALLER_A,
            iam_role_name="twin-backend",
            lifecycle_state="InService",
            tags={"Role": "backend"},
            public_keys={"twin-operator": PUBLIC_KEY},
            user_data=b"#cloud-config\n{}\n",
        )
    )
    client = Client(server.url, CALLER_A)
    token = client.token()
    version = next(v for v in CLOUD_INIT_VERSIONS if client.get(f"/{v}/meta-data/instance-id", token)[0] == 200)
    assert version == "2021-03-23"
    assert client.get(f"/{version}/user-data", token)[0] == 200
    seen: dict[str, bytes] = {}
    _crawl(client, token, f"/{version}/meta-data/", seen)
    _crawl(client, token, f"/{version}/dynamic/instance-identity", seen)
    assert seen[f"/{version}/meta-data/public-keys/0/openssh-key"].decode() == PUBLIC_KEY
    assert seen[f"/{version}/meta-data/placement/availability-zone"] == b"eu-west-1b"
    assert json.loads(seen[f"/{version}/dynamic/instance-identity/document"])["instanceId"] == "i-0abc000000000002"
    assert not any("security-credentials" in url for url in seen)


# -- real consumers ---------------------------------------------------------------------------------------------


@pytest.fixture
def as_instance(server: MetadataServer, registry: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The test process (source 127.0.0.1) registered as an instance with a role; AWS SDK pointed at the double."""
    registry.put(
        _record(SELF_IP, iam_role_name="twin-backend", region="eu-central-1", availability_zone="eu-central-1a")
    )
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url + "/")
    return server.url


def test_boto3_session_gets_role_credentials_from_the_double(as_instance: str) -> None:
    """IMDS: "applications ... use the security credentials" of the instance's role from
    iam/security-credentials/role-name; botocore's default chain reads them over IMDSv2."""
    import boto3

    credentials = boto3.Session().get_credentials()
    assert credentials is not None and credentials.method == "iam-role"
    frozen = credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == ("testing", "testing", "testing")


def test_botocore_instance_metadata_provider_and_region(as_instance: str) -> None:
    """Categories: placement/availability-zone; botocore derives the region from it (with a trailing slash)."""
    import botocore.session
    from botocore.credentials import InstanceMetadataProvider
    from botocore.utils import IMDSRegionProvider, InstanceMetadataFetcher

    session = botocore.session.Session()
    endpoint = session.get_config_variable("ec2_metadata_service_endpoint")
    assert endpoint == as_instance + "/"
    fetcher = InstanceMetadataFetcher(timeout=2, num_attempts=1, config={"ec2_metadata_service_endpoint": endpoint})
    loaded = InstanceMetadataProvider(iam_role_fetcher=fetcher).load()
    assert loaded is not None and loaded.method == "iam-role"
    assert (loaded.access_key, loaded.secret_key, loaded.token) == ("testing", "testing", "testing")
    assert IMDSRegionProvider(session).provide() == "eu-central-1"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_plain_curl_imdsv2(as_instance: str) -> None:
    """IMDSv2: the documented two curl commands: PUT .../latest/api/token with the TTL header, then GET with the
    X-aws-ec2-metadata-token header."""
    token = subprocess.run(
        [
            "curl",
            "-sSf",
            "-X",
            "PUT",
            f"{as_instance}/latest/api/token",
            "-H",
            f"{imds.TOKEN_TTL_REQUEST_HEADER}: 21600",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    region = subprocess.run(
        ["curl", "-sSf", "-H", f"{imds.TOKEN_HEADER}: {token}", f"{as_instance}/latest/meta-data/placement/region"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    assert region == "eu-central-1"


# -- command line and records file -------------------------------------------------------------------------------


def test_records_file_is_reloaded_when_it_changes(tmp_path: Path) -> None:
    """The operator's command line serves records from a JSON file and follows its changes."""
    path = tmp_path / "records.json"
    first = {"instance_id": "i-01", "private_ip": CALLER_A, "region": "eu-west-1"}
    first |= {"availability_zone": "eu-west-1a", "image_id": "ami-1", "user_data": "#!/bin/sh\n"}
    path.write_text(json.dumps([first]))
    registry = Registry()
    watcher = imds.RecordsFileWatcher(registry, path)
    assert watcher.poll()
    assert registry.get(CALLER_A).user_data == b"#!/bin/sh\n"
    assert not watcher.poll()
    second = dict(first, private_ip=CALLER_B, instance_id="i-02", lifecycle_state="InService")
    second.pop("user_data")
    path.write_text(json.dumps({"instances": [second]}))
    assert watcher.poll()
    assert registry.get(CALLER_A) is None
    assert registry.get(CALLER_B).lifecycle_state == "InService"
    path.write_text("{not json")
    assert not watcher.poll()
    assert registry.get(CALLER_B) is not None


def test_command_line_serves_the_records_file(tmp_path: Path) -> None:
    """``python -m tools.twin.imds --host H --port P --records FILE.json`` serves the file's instances."""
    path = tmp_path / "records.json"
    record = {"instance_id": "i-0cli", "private_ip": CALLER_A, "region": "eu-west-1"}
    record |= {"availability_zone": "eu-west-1a", "image_id": "ami-1", "http_tokens": "optional"}
    path.write_text(json.dumps([record]))
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tools.twin.imds",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--records",
            str(path),
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        status, body, _ = Client(url, CALLER_A).get("/latest/meta-data/instance-id")
        assert (status, body) == (200, b"i-0cli")
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- the link-local address -------------------------------------------------------------------------------------


def test_no_code_path_names_the_real_metadata_address() -> None:
    """The twin never contacts AWS's link-local metadata address: in tools/twin/ it appears only in a comment saying
    so, or in a constant used solely to block it inside instances (a ``prohibit`` route)."""
    address = ".".join(["169", "254", "169", "254"])
    twin = Path(imds.__file__).resolve().parent
    for source in sorted(twin.rglob("*.py")):
        lines = source.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            if address not in line or (line.lstrip().startswith("#") and "never contacted" in line):
                continue
            # The one other shape allowed: a constant used only to block the address (a prohibit/blackhole route).
            constant = re.fullmatch(rf'\s*([A-Z_]+) = "{re.escape(address)}(/32)?"', line)
            assert constant, f"{source}:{number} names the link-local metadata address outside a comment: {line}"
            uses = [text for index, text in enumerate(lines, 1) if constant.group(1) in text and index != number]
            assert uses, f"{source}:{number}: {constant.group(1)} is never used"
            for use in uses:
                assert re.search(r"prohibit|blackhole|unreachable", use), (
                    f"{source}: {constant.group(1)} is used for something other than blocking it: {use.strip()}"
                )
