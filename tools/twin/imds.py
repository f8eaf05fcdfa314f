"""EC2 instance-metadata service (IMDS) double for the local twin.

The twin's instances are podman containers on a bridge; they reach this server at the bridge gateway
address (the twin points ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` and cloud-init's ``metadata_urls`` at it).
It tells callers apart by the request's source IP, as the real service tells instances apart by the
network interface a request arrives on, and serves each caller the metadata of its own instance record.

Written from AWS's EC2 user guide ("Use the Instance Metadata Service to access instance metadata",
"How Instance Metadata Service Version 2 works", "Instance metadata categories", "Retrieve instance
metadata", "Instance identity documents") and checked against three consumers: botocore's
``InstanceMetadataFetcher`` / ``InstanceMetadataRegionFetcher``, cloud-init 22.4's Ec2 datasource and curl.

Where it differs from AWS (it cannot, or need not, do better):
- Only the categories listed in ``_metadata_tree`` exist; the identity document is unsigned (no
  ``pkcs7``, ``signature`` or ``rsa2048``).
- Role credentials are the fixed ones given to :class:`MetadataServer`, or with ``per_role=True`` (the twin's
  controller) each role's own (:func:`role_credentials`): an AccessKeyId that names the role, as AWS's temporary keys
  (``ASIA...``) are tied to the role session that made them, so the emulator's record of each request's key tells
  which role called (:func:`role_of_access_key`). The emulator checks neither key nor signature.
- IMDSv1 and IMDSv2 role credentials are the same; the hop limit is not emulated.

For the twin's wiring: cloud-init 22.4 uses IMDSv2 only when it identifies the platform as AWS (DMI or
/sys/hypervisor uuid starting with "ec2"); in a container it does not, so it requests without a token (IMDSv1)
and needs ``http_tokens="optional"`` on that instance's record. Its Ec2 datasource crawls
``<version>/meta-data/`` (first of 2021-03-23, 2018-09-24, 2016-09-02 to answer, else 2009-04-04),
``<version>/dynamic/instance-identity`` and ``<version>/user-data``; every listed item must answer 200 or the
whole crawl fails. Its network config matches ``network/interfaces/macs/<mac>/`` to the interface's MAC: give
the container :func:`mac_for_ip` (or the record's ``mac``) with ``podman run --mac-address``.

Standard library only, so the twin can run it anywhere Python runs.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import ipaddress
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# AWS serves IMDS at the link-local address 169.254.169.254; this double is never contacted there.

LOG = logging.getLogger(__name__)

ACCOUNT_ID = "123456789012"
# Header names and a path, not secrets.
TOKEN_PATH = "/latest/api/token"  # noqa: S105
TOKEN_TTL_REQUEST_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"  # noqa: S105
TOKEN_HEADER = "X-aws-ec2-metadata-token"  # noqa: S105
TOKEN_TTL_MIN = 1
TOKEN_TTL_MAX = 21600
CREDENTIALS_LIFETIME = timedelta(hours=6)
DEFAULT_CREDENTIALS = {"AccessKeyId": "testing", "SecretAccessKey": "testing", "Token": "testing"}
ROLE_KEY_PREFIX = "ASIA"  # AWS's prefix of temporary (role session) access keys

# The metadata builds a real instance lists at GET /; any of them (or "latest") prefixes the same tree here.
API_VERSIONS = (
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
    "2011-01-01",
    "2011-05-01",
    "2012-01-12",
    "2014-02-25",
    "2014-11-05",
    "2015-10-20",
    "2016-04-19",
    "2016-06-30",
    "2016-09-02",
    "2018-03-28",
    "2018-08-17",
    "2018-09-24",
    "2019-10-01",
    "2020-10-27",
    "2021-01-03",
    "2021-03-23",
    "2021-07-15",
    "2022-09-24",
    "2024-04-11",
    "latest",
)

# Instance tags in metadata: keys with a slash or a space, or "." / "..", cannot be paths (AWS refuses them).
_TAG_KEY_IN_METADATA = re.compile(r"^(?!\.{1,2}$)[^/\s]+$")


def _iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def role_access_key(role_name: str) -> str:
    """The AccessKeyId the double hands the instances of role ``role_name``: ``ASIA`` and 16 upper-case hex digits
    of the role name's SHA-256, the same for every instance and every run (AWS's keys are random; these are fixed
    so that a recorded call names its role)."""
    if not role_name:
        raise ValueError("an instance without a role gets no credentials: give the record an iam_role_name")
    return ROLE_KEY_PREFIX + hashlib.sha256(role_name.encode()).hexdigest()[:16].upper()


def role_of_access_key(access_key: str, role_names: Iterable[str]) -> str | None:
    """The role among ``role_names`` whose instances sign with ``access_key`` (None: no such role, e.g. the
    operator's static key)."""
    return next((name for name in role_names if name and role_access_key(name) == access_key), None)


def role_credentials(role_name: str) -> dict[str, str]:
    """The credentials of role ``role_name``: its access key, and a secret and session token derived from it (the
    emulator verifies neither)."""
    key = role_access_key(role_name)
    digest = hashlib.sha256(f"twin-secret:{role_name}".encode()).hexdigest()
    return {"AccessKeyId": key, "SecretAccessKey": digest[:40], "Token": f"twin-session-{key}"}


def mac_for_ip(private_ip: str) -> str:
    """The MAC the double reports for an instance with no explicit one: ``02:00:`` and the IPv4 octets.

    Locally administered (02) and stable, so the twin can give the container the same address
    (``podman run --mac-address``) and cloud-init matches the interface to the metadata.
    """
    octets = ipaddress.IPv4Address(private_ip).packed
    return "02:00:" + ":".join(f"{octet:02x}" for octet in octets)


@dataclass
class InstanceRecord:
    """What the metadata service knows about one instance; keyed by ``private_ip``."""

    instance_id: str
    private_ip: str
    region: str
    availability_zone: str
    image_id: str
    instance_type: str = "t3.medium"
    user_data: bytes = b""  # raw bytes; 404 when empty, as AWS
    iam_role_name: str = ""  # empty -> no iam/ category (404)
    lifecycle_state: str = ""  # autoscaling/target-lifecycle-state; empty -> 404
    tags: dict[str, str] = field(default_factory=dict)  # tags/instance/<key> (instance tags in metadata)
    public_keys: dict[str, str] = field(default_factory=dict)  # key name -> OpenSSH public key
    http_tokens: str = "required"  # "required" (IMDSv2 only) or "optional"
    mac: str = ""  # derived from the IP when empty (02:xx:xx:xx:xx:xx)

    def __post_init__(self) -> None:
        if self.http_tokens not in ("required", "optional"):
            raise ValueError(
                f"instance {self.instance_id}: http_tokens must be 'required' or 'optional', not {self.http_tokens!r}"
            )
        ipaddress.IPv4Address(self.private_ip)  # ValueError names the bad address

    @property
    def effective_mac(self) -> str:
        """The record's MAC, or the one derived from its IP."""
        return (self.mac or mac_for_ip(self.private_ip)).lower()


class Registry:
    """The instances the double answers for, by private IP. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_ip: dict[str, InstanceRecord] = {}
        self._pending_time: dict[str, datetime] = {}

    def put(self, record: InstanceRecord) -> None:
        """Add or replace the record for ``record.private_ip`` (launch time kept while the instance id is the same)."""
        with self._lock:
            previous = self._by_ip.get(record.private_ip)
            if previous is None or previous.instance_id != record.instance_id:
                self._pending_time[record.private_ip] = datetime.now(UTC)
            self._by_ip[record.private_ip] = record

    def remove(self, private_ip: str) -> None:
        """Forget the instance at ``private_ip`` (no error when there is none)."""
        with self._lock:
            self._by_ip.pop(private_ip, None)
            self._pending_time.pop(private_ip, None)

    def get(self, private_ip: str) -> InstanceRecord | None:
        """The record for ``private_ip``, or None."""
        with self._lock:
            return self._by_ip.get(private_ip)

    def pending_time(self, private_ip: str) -> datetime | None:
        """When the record for ``private_ip`` was first put (the identity document's pendingTime)."""
        with self._lock:
            return self._pending_time.get(private_ip)

    def set_lifecycle_state(self, instance_id: str, state: str) -> None:
        """Set ``autoscaling/target-lifecycle-state`` of an instance (empty string: no such category)."""
        with self._lock:
            for ip, record in self._by_ip.items():
                if record.instance_id == instance_id:
                    self._by_ip[ip] = dataclasses.replace(record, lifecycle_state=state)
                    return
        raise KeyError(
            f"no instance {instance_id} in the metadata registry: register it (Registry.put) before "
            "setting its lifecycle state"
        )

    def records(self) -> list[InstanceRecord]:
        """A snapshot of every record."""
        with self._lock:
            return list(self._by_ip.values())


@dataclass
class _Token:
    caller_ip: str
    instance_id: str
    expires: float  # time.monotonic()


class _Directory(dict):
    """A metadata category with sub-entries; ``listing`` overrides the default (``public-keys/``: ``0=name``)."""

    def __init__(self, entries: dict[str, Any], listing: str | None = None) -> None:
        super().__init__(entries)
        self.listing = listing

    def render(self) -> str:
        if self.listing is not None:
            return self.listing
        return "\n".join(f"{name}/" if isinstance(value, dict) else name for name, value in sorted(self.items()))


def _hostname(record: InstanceRecord) -> str:
    label = "ip-" + record.private_ip.replace(".", "-")
    if record.region == "us-east-1":
        return f"{label}.ec2.internal"
    return f"{label}.{record.region}.compute.internal"


def _short_id(instance_id: str) -> str:
    return instance_id.removeprefix("i-")


def _credentials_document(credentials: dict[str, str]) -> str:
    now = datetime.now(UTC)
    return json.dumps(
        {
            "Code": "Success",
            "LastUpdated": _iso_z(now),
            "Type": "AWS-HMAC",
            "AccessKeyId": credentials["AccessKeyId"],
            "SecretAccessKey": credentials["SecretAccessKey"],
            "Token": credentials["Token"],
            "Expiration": _iso_z(now + CREDENTIALS_LIFETIME),
        },
        indent=2,
    )


def _metadata_tree(record: InstanceRecord, credentials: dict[str, str]) -> _Directory:
    """The ``meta-data/`` categories of one instance (leaves are text, directories are _Directory)."""
    mac = record.effective_mac
    hostname = _hostname(record)
    interface = {
        "device-number": "0",
        "interface-id": f"eni-{_short_id(record.instance_id)}",
        "local-hostname": hostname,
        "local-ipv4s": record.private_ip,
        "mac": mac,
        "owner-id": ACCOUNT_ID,
    }
    tree: dict[str, Any] = {
        "ami-id": record.image_id,
        "ami-launch-index": "0",
        "ami-manifest-path": "(unknown)",
        "block-device-mapping": _Directory({"ami": "/dev/xvda", "root": "/dev/xvda"}),
        "hostname": hostname,
        "instance-action": "none",
        "instance-id": record.instance_id,
        "instance-life-cycle": "on-demand",
        "instance-type": record.instance_type,
        "local-hostname": hostname,
        "local-ipv4": record.private_ip,
        "mac": mac,
        "network": _Directory({"interfaces": _Directory({"macs": _Directory({mac: _Directory(interface)})})}),
        "placement": _Directory({"availability-zone": record.availability_zone, "region": record.region}),
        "profile": "default-hvm",
        "reservation-id": f"r-{_short_id(record.instance_id)}",
        "services": _Directory({"domain": "amazonaws.com", "partition": "aws"}),
    }
    if record.public_keys:
        names = list(record.public_keys)
        keys = {str(index): _Directory({"openssh-key": record.public_keys[name]}) for index, name in enumerate(names)}
        tree["public-keys"] = _Directory(keys, listing="\n".join(f"{index}={name}" for index, name in enumerate(names)))
    if record.iam_role_name:
        info = {
            "Code": "Success",
            "LastUpdated": _iso_z(datetime.now(UTC)),
            "InstanceProfileArn": f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/{record.iam_role_name}",
            "InstanceProfileId": "AIPA" + _short_id(record.instance_id).upper(),
        }
        tree["iam"] = _Directory(
            {
                "info": json.dumps(info, indent=2),
                "security-credentials": _Directory({record.iam_role_name: _credentials_document(credentials)}),
            }
        )
    if record.lifecycle_state:
        tree["autoscaling"] = _Directory({"target-lifecycle-state": record.lifecycle_state})
    tags = {key: value for key, value in record.tags.items() if _TAG_KEY_IN_METADATA.match(key)}
    if tags:
        tree["tags"] = _Directory({"instance": _Directory(tags)})
    return _Directory(tree)


def _identity_document(record: InstanceRecord, pending: datetime | None) -> str:
    document = {
        "accountId": ACCOUNT_ID,
        "architecture": "x86_64",
        "availabilityZone": record.availability_zone,
        "billingProducts": None,
        "devpayProductCodes": None,
        "marketplaceProductCodes": None,
        "imageId": record.image_id,
        "instanceId": record.instance_id,
        "instanceType": record.instance_type,
        "kernelId": None,
        "pendingTime": _iso_z(pending or datetime.now(UTC)),
        "privateIp": record.private_ip,
        "ramdiskId": None,
        "region": record.region,
        "version": "2017-09-30",
    }
    return json.dumps(document, indent=2)


class _Handler(BaseHTTPRequestHandler):
    server: _IMDSHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "EC2ws"
    sys_version = ""
    timeout = 30  # idle keep-alive connections do not pin a thread for ever
    # Headers and body leave in two writes: without TCP_NODELAY a kept-alive connection's body waits for the
    # client's delayed ACK (about 40 ms a request).
    disable_nagle_algorithm = True

    # -- plumbing ----------------------------------------------------------------------------------------
    @property
    def caller_ip(self) -> str:
        address = ipaddress.ip_address(self.client_address[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return str(address)

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("imds %s: " + format, self.caller_ip, *args)

    def _send(
        self, status: int, body: bytes | str = b"", content_type: str = "text/plain", ttl: int | None = None
    ) -> None:
        payload = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if ttl is not None:
            self.send_header("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", str(ttl))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _error(self, status: int, reason: str) -> None:
        # AWS answers errors with a small HTML page; clients only look at the status.
        self._send(status, f"<html><body><h1>{status} - {reason}</h1></body></html>\n", "text/html")

    def _drain_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)

    def _record_or_404(self) -> InstanceRecord | None:
        record = self.server.registry.get(self.caller_ip)
        if record is None:
            LOG.warning(
                "imds: no instance record for caller %s (%s %s): register the instance with this private IP",
                self.caller_ip,
                self.command,
                self.path,
            )
            self._error(404, "Not Found")
        return record

    # -- verbs ---------------------------------------------------------------------------------------------
    def do_PUT(self) -> None:
        self._drain_body()
        path = self.path.split("?", 1)[0]
        if path != TOKEN_PATH:
            self._error(405, "Method Not Allowed")
            return
        if "X-Forwarded-For" in self.headers:
            LOG.warning("imds: refused a token request from %s carrying X-Forwarded-For", self.caller_ip)
            self._error(403, "Forbidden")
            return
        record = self._record_or_404()
        if record is None:
            return
        raw_ttl = self.headers.get(TOKEN_TTL_REQUEST_HEADER, "").strip()
        if not raw_ttl.isdigit() or not TOKEN_TTL_MIN <= int(raw_ttl) <= TOKEN_TTL_MAX:
            self._error(400, "Missing or Invalid Parameters")
            return
        ttl = int(raw_ttl)
        token = self.server.issue_token(self.caller_ip, record.instance_id, ttl)
        self._send(200, token, ttl=ttl)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == TOKEN_PATH:
            self._error(405, "Method Not Allowed")
            return
        record = self._record_or_404()
        if record is None:
            return
        ttl: int | None = None
        presented = self.headers.get(TOKEN_HEADER)
        if presented is not None:
            ttl = self.server.check_token(presented, self.caller_ip, record.instance_id)
            if ttl is None:
                self._error(401, "Unauthorized")
                return
        elif record.http_tokens == "required":
            self._error(401, "Unauthorized")
            return
        found = self.server.resolve(record, path)
        if found is None:
            self._error(404, "Not Found")
            return
        body, content_type = found
        self._send(200, body, content_type, ttl=ttl)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        self._drain_body()
        self._error(405, "Method Not Allowed")

    do_DELETE = do_POST
    do_PATCH = do_POST


class _IMDSHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], registry: Registry, credentials: dict[str, str], per_role: bool = False
    ) -> None:
        super().__init__(address, _Handler)
        self.registry = registry
        self.credentials = credentials
        self.per_role = per_role
        self._tokens: dict[str, _Token] = {}
        self._tokens_lock = threading.Lock()

    def issue_token(self, caller_ip: str, instance_id: str, ttl: int) -> str:
        token = secrets.token_urlsafe(42)
        now = time.monotonic()
        with self._tokens_lock:
            for stale in [key for key, held in self._tokens.items() if held.expires <= now]:
                del self._tokens[stale]
            self._tokens[token] = _Token(caller_ip, instance_id, now + ttl)
        return token

    def check_token(self, token: str, caller_ip: str, instance_id: str) -> int | None:
        """Seconds the token has left when it is valid for this caller and instance; else None."""
        with self._tokens_lock:
            held = self._tokens.get(token)
        if held is None or held.caller_ip != caller_ip or held.instance_id != instance_id:
            return None
        left = held.expires - time.monotonic()
        if left <= 0:
            return None
        return max(1, int(left))

    def credentials_of(self, record: InstanceRecord) -> dict[str, str]:
        """The role credentials ``record``'s instance gets: its role's own, or the fixed ones."""
        if self.per_role and record.iam_role_name:
            return role_credentials(record.iam_role_name)
        return self.credentials

    def resolve(self, record: InstanceRecord, path: str) -> tuple[bytes | str, str] | None:
        """Body and content type for a GET of ``path`` by ``record``'s instance, or None (404)."""
        parts = [part for part in path.split("/") if part]
        if not parts:
            return "\n".join(API_VERSIONS), "text/plain"
        version, rest = parts[0], parts[1:]
        if version not in API_VERSIONS:
            return None
        top: dict[str, Any] = {
            "meta-data": _metadata_tree(record, self.credentials_of(record)),
            "dynamic": _Directory(
                {
                    "instance-identity": _Directory(
                        {"document": _identity_document(record, self.registry.pending_time(record.private_ip))}
                    )
                }
            ),
        }
        if record.user_data:
            if rest == ["user-data"]:
                return record.user_data, "application/octet-stream"
            top["user-data"] = record.user_data
        node: Any = _Directory(top, listing="\n".join(sorted(top)))
        for part in rest:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        if isinstance(node, _Directory):
            return node.render(), "text/plain"
        return node, "text/plain"


class MetadataServer:
    """The IMDS double on ``host:port`` (port 0: a free one), answering each caller from ``registry``.

    Role credentials: ``credentials`` (default :data:`DEFAULT_CREDENTIALS`) for every instance, or with
    ``per_role=True`` each instance its role's (:func:`role_credentials`).
    """

    def __init__(
        self,
        registry: Registry,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: dict[str, str] | None = None,
        per_role: bool = False,
    ) -> None:
        chosen = dict(DEFAULT_CREDENTIALS)
        chosen.update(credentials or {})
        missing = sorted(set(DEFAULT_CREDENTIALS) - {key for key, value in chosen.items() if value})
        if missing:
            raise ValueError(f"metadata server credentials lack {', '.join(missing)}")
        self.registry = registry
        if per_role and credentials:
            raise ValueError("give the metadata server fixed credentials or per_role=True, not both")
        self._httpd = _IMDSHTTPServer((host, port), registry, chosen, per_role)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a background (daemon) thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="imds-double", daemon=True
        )
        self._thread.start()
        LOG.info("imds double serving on %s", self.url)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._httpd.server_close()

    @property
    def url(self) -> str:
        """``http://host:port`` as bound (the real port when 0 was asked for)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"


# -- records file (the operator's command line) ---------------------------------------------------------------
_FIELDS = {item.name for item in dataclasses.fields(InstanceRecord)}


def record_from_dict(data: dict[str, Any]) -> InstanceRecord:
    """An InstanceRecord from JSON: its field names; user data as ``user_data`` (text) or ``user_data_base64``."""
    values = dict(data)
    encoded = values.pop("user_data_base64", None)
    unknown = set(values) - _FIELDS
    if unknown:
        raise ValueError(f"unknown instance record field(s) {', '.join(sorted(unknown))}; known: {sorted(_FIELDS)}")
    if encoded is not None:
        values["user_data"] = base64.b64decode(encoded)
    elif isinstance(values.get("user_data"), str):
        values["user_data"] = values["user_data"].encode()
    return InstanceRecord(**values)


def load_records(path: Path) -> list[InstanceRecord]:
    """Records from a JSON file: a list of records, or ``{"instances": [...]}``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    items = data.get("instances", []) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of instance records or {{'instances': [...]}}")
    return [record_from_dict(item) for item in items]


def sync_registry(registry: Registry, records: list[InstanceRecord]) -> None:
    """Make ``registry`` hold exactly ``records``."""
    wanted = {record.private_ip for record in records}
    for current in registry.records():
        if current.private_ip not in wanted:
            registry.remove(current.private_ip)
    for record in records:
        registry.put(record)


class RecordsFileWatcher:
    """Keeps a registry equal to a records file, re-reading it when its mtime or size changes."""

    def __init__(self, registry: Registry, path: Path, interval: float = 1.0) -> None:
        self.registry = registry
        self.path = path
        self.interval = interval
        self._seen: tuple[int, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> bool:
        """Reload when the file changed; True when the registry was updated."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            LOG.warning("imds: records file %s does not exist (yet); serving the previous records", self.path)
            return False
        signature = (stat.st_mtime_ns, stat.st_size)
        if signature == self._seen:
            return False
        self._seen = signature
        try:
            records = load_records(self.path)
        except (OSError, ValueError, TypeError) as error:
            LOG.warning("imds: cannot load %s (%s); serving the previous records until it changes", self.path, error)
            return False
        sync_registry(self.registry, records)
        LOG.info("imds: loaded %d instance record(s) from %s", len(records), self.path)
        return True

    def start(self) -> None:
        """Poll in a background (daemon) thread."""
        self.poll()
        self._thread = threading.Thread(target=self._run, name="imds-records", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.twin.imds --host H --port P --records FILE.json``."""
    parser = argparse.ArgumentParser(prog="python -m tools.twin.imds", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (the podman bridge gateway)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one, printed)")
    parser.add_argument("--records", type=Path, required=True, help="JSON file of instance records (re-read on change)")
    parser.add_argument(
        "--per-role-credentials",
        action="store_true",
        help="give each instance its role's own access key (ASIA + a hash of the role name), not one fixed key",
    )
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    registry = Registry()
    watcher = RecordsFileWatcher(registry, args.records)
    server = MetadataServer(registry, host=args.host, port=args.port, per_role=args.per_role_credentials)
    watcher.start()
    server.start()
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
