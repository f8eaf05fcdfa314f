#!/usr/bin/python3
"""Host backups of the Ollama platform: archive what lives only on this host, upload it to S3, restore it.

    ollama-backup [--config /etc/ollama-backup/config.json] backup
    ollama-backup [--config ...] list
    ollama-backup [--config ...] restore [--key KEY|latest] [--path /etc/nginx ...]

Installed by the Ansible role ``backups``; S3 keeps versions and expires them by lifecycle, this tool keeps the
newest ``keep_local`` archives on the host. Output is one JSON object; errors say what to fix.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import socket
import sys
import tarfile
from pathlib import Path
from typing import Any

MANIFEST_LIST = "ollama-backup/ollama-manifests.txt"


class BackupError(Exception):
    """An error the operator can fix; the message says how."""


def load_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"cannot read {path}: {error}. Fix: re-run the backups role") from error
    if not config.get("bucket"):
        raise BackupError(f"no bucket in {path}: set backups_bucket and re-run the backups role")
    return config


def load_environment(path: Path) -> None:
    """Read KEY=VALUE lines of the service's environment file (manual runs get what the timer gets)."""
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#") and key.strip() not in os.environ:
            os.environ[key.strip()] = value.strip()


def s3_client(config: dict[str, Any]) -> Any:
    import boto3
    from botocore.config import Config

    kwargs: dict[str, Any] = {"region_name": config.get("region") or None}
    if config.get("endpoint_url"):
        # S3-compatible endpoints (emulators, MinIO, VPC endpoint URLs) want path-style requests.
        kwargs["endpoint_url"] = config["endpoint_url"]
        kwargs["config"] = Config(s3={"addressing_style": "path"})
    return boto3.client("s3", **kwargs)


def model_manifests(models_dir: str) -> list[str]:
    """Names of the models on this host (Ollama manifests: <registry>/<namespace>/<model>/<tag>)."""
    root = Path(models_dir) / "manifests"
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def build_archive(config: dict[str, Any], target: Path) -> list[str]:
    """Write a tar.gz of the existing configured paths plus the model list; return the archived paths."""
    archived: list[str] = []
    with tarfile.open(target, "w:gz") as tar:
        for path in config.get("paths", []):
            if os.path.exists(path):
                tar.add(path, arcname=path.lstrip("/"))
                archived.append(path)
        if config.get("models_dir"):
            data = ("\n".join(model_manifests(config["models_dir"])) + "\n").encode()
            info = tarfile.TarInfo(MANIFEST_LIST)
            info.size = len(data)
            info.mtime = int(datetime.datetime.now(datetime.timezone.utc).timestamp())  # noqa: UP017 - Ubuntu 22.04 runs Python 3.10
            tar.addfile(info, io.BytesIO(data))
    return archived


def prune_local(local_dir: Path, keep: int) -> list[str]:
    archives = sorted(local_dir.glob("*.tar.gz"))
    removed = archives[:-keep] if keep > 0 else []
    for archive in removed:
        archive.unlink()
    return [a.name for a in removed]


def backup(config: dict[str, Any]) -> dict[str, Any]:
    local_dir = Path(config["local_dir"])
    local_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")  # noqa: UP017 - Ubuntu 22.04 runs Python 3.10
    name = f"{config.get('name') or socket.gethostname()}-{stamp}.tar.gz"
    archive = local_dir / name
    archived = build_archive(config, archive)
    key = f"{config['prefix'].strip('/')}/{name}"
    extra = {"ServerSideEncryption": "aws:kms"} if config.get("kms") else {}
    try:
        s3_client(config).upload_file(str(archive), config["bucket"], key, ExtraArgs=extra or None)
    except Exception as error:  # boto3 raises many types here; all mean the upload failed
        raise BackupError(
            f"upload of {archive} to s3://{config['bucket']}/{key} failed: {error}. "
            "Fix: check the instance role (s3:PutObject on the backups bucket) and the network"
        ) from error
    return {
        "bucket": config["bucket"],
        "key": key,
        "paths": archived,
        "pruned_local": prune_local(local_dir, int(config.get("keep_local", 7))),
    }


def list_keys(config: dict[str, Any]) -> list[str]:
    client = s3_client(config)
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=config["bucket"], Prefix=config["prefix"].strip("/") + "/"
    ):
        keys += [obj["Key"] for obj in page.get("Contents", []) if obj["Key"].endswith(".tar.gz")]
    return sorted(keys)


def safe_members(tar: tarfile.TarFile, only: list[str]) -> list[tarfile.TarInfo]:
    """Members that stay under / and under one of ``only`` (all when empty); links and devices are refused."""
    chosen = []
    prefixes = [p.strip("/") for p in only]
    for member in tar.getmembers():
        name = member.name
        if name.startswith("/") or ".." in Path(name).parts or not (member.isfile() or member.isdir()):
            continue
        if name.startswith("ollama-backup/"):
            continue
        if prefixes and not any(name == p or name.startswith(p + "/") for p in prefixes):
            continue
        chosen.append(member)
    return chosen


def restore(config: dict[str, Any], key: str, only: list[str], root: str = "/") -> dict[str, Any]:
    keys = list_keys(config)
    if not keys:
        raise BackupError(
            f"no backups under s3://{config['bucket']}/{config['prefix']}: run ollama-backup backup first"
        )
    if key == "latest":
        key = keys[-1]
    elif key not in keys:
        raise BackupError(f"backup {key} not found: choose one of {', '.join(keys[-5:])} (ollama-backup list)")
    local_dir = Path(config["local_dir"])
    local_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = local_dir / ("restore-" + Path(key).name)
    s3_client(config).download_file(config["bucket"], key, str(target))
    restored: list[str] = []
    try:
        with tarfile.open(target, "r:gz") as tar:
            members = safe_members(tar, only)
            for member in members:
                destination = Path(root) / member.name
                if member.isfile() and destination.is_file():
                    current = destination.read_bytes()
                    extracted = tar.extractfile(member)
                    if extracted is not None and extracted.read() == current:
                        continue
                tar.extract(member, path=root)
                if member.isfile():
                    restored.append("/" + member.name)
    finally:
        target.unlink(missing_ok=True)
    return {"key": key, "restored": restored, "changed": bool(restored)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("/etc/ollama-backup/config.json"))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("backup", help="archive, upload, prune local copies")
    sub.add_parser("list", help="list the backups of this host")
    restore_parser = sub.add_parser("restore", help="bring files back from a backup")
    restore_parser.add_argument("--key", default="latest", help="S3 key of the archive, or 'latest'")
    restore_parser.add_argument("--path", action="append", default=[], help="restore only under this path")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        load_environment(args.config.parent / "aws.env")
        if args.command == "backup":
            result: Any = backup(config)
        elif args.command == "list":
            result = {"keys": list_keys(config)}
        else:
            result = restore(config, args.key, args.path)
    except BackupError as error:
        print(json.dumps({"failed": True, "msg": str(error)}))
        print(f"ollama-backup: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
