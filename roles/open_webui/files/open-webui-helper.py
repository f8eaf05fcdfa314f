"""Boot-time helper for the Open-WebUI service (installed by the open_webui role).

Runs with the Open-WebUI virtualenv's Python (boto3, SQLAlchemy and redis come with Open-WebUI).

Subcommands:
  requirements   print Open-WebUI's declared dependencies minus the excluded ones (for pip -r)
  fetch-secrets  read secrets from Secrets Manager / SSM Parameter Store into a 0600 env file
  check          check the database, Redis and the Ollama token from the service environment, and create the
                 vector extension of a pgvector store that lacks it (one replica at a time)
  migrate        run Open-WebUI's database migrations under a PostgreSQL advisory lock (one replica at a time)
  preflight      fetch-secrets + check for a staged configuration, writing nothing
  refresh        re-read the secrets (rotation); rewrite the env file and restart the service only on a change
  wait-healthy   wait until Open-WebUI's /health answers, or its main process exited (systemd ExecStartPost)

Every failure is one line on stderr that names the setting to fix.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

PROG = "open-webui-helper"


class HelperError(Exception):
    """A failure the operator can act on; the message names the cause and the fix."""


def norm(name: str) -> str:
    """Normalise a Python distribution name (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def filtered_requirements(requires: list[str], extras: set[str], excluded: set[str]) -> list[str]:
    """Return the requirement lines to install: base ones plus chosen extras, minus exclusions."""
    extras = {norm(e) for e in extras}
    excluded = {norm(e) for e in excluded}
    lines = set()
    for req in requires:
        spec, _, marker = req.partition(";")
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
        if extra and norm(extra.group(1)) not in extras:
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        if match is None or norm(match.group(1)) in excluded:
            continue
        rest = re.sub(r"\s*extra\s*==\s*['\"][^'\"]+['\"]\s*(and|or)?\s*", "", marker).strip()
        lines.add(spec.strip() + (f"; {rest}" if rest else ""))
    return sorted(lines, key=str.lower)


def env_quote(value: str) -> str:
    """Quote a value for a systemd EnvironmentFile."""
    if "\n" in value or "\r" in value:
        raise HelperError("a secret value contains a line break, which an environment file cannot hold")
    escaped = re.sub(r'([\\"$`])', r"\\\1", value)
    return f'"{escaped}"'


def split_secret_id(secret_id: str) -> tuple[str, str, str | None]:
    """Split `ssm:/name`, an SSM ARN or a Secrets Manager id, with an optional `#json_key`."""
    name, _, key = secret_id.partition("#")
    if name.startswith("ssm:"):
        return "ssm", name[4:], key or None
    if name.startswith("arn:") and ":ssm:" in name:
        return "ssm", name, key or None
    return "secretsmanager", name, key or None


class SecretReader:
    """Reads secrets through boto3 with the spec's region, endpoint and credentials."""

    def __init__(self, aws: dict[str, Any], static_env: dict[str, str]) -> None:
        self.aws = aws
        self.static_env = static_env
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            session = boto3.session.Session(
                aws_access_key_id=self.static_env.get("AWS_ACCESS_KEY_ID") or None,
                aws_secret_access_key=self.static_env.get("AWS_SECRET_ACCESS_KEY") or None,
                region_name=self.aws.get("region") or None,
            )
            self._clients[service] = session.client(
                service,
                endpoint_url=self.aws.get("endpoint_url") or None,
                verify=self.aws.get("ca_bundle") or None,
            )
        return self._clients[service]

    def read(self, secret_id: str, setting: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        service, name, key = split_secret_id(secret_id)
        where = "SSM parameter" if service == "ssm" else "Secrets Manager secret"
        region = self.aws.get("region") or "the default region"
        try:
            if service == "ssm":
                resp = self.client("ssm").get_parameter(Name=name, WithDecryption=True)
                value = resp["Parameter"]["Value"]
            else:
                # AWSCURRENT by name: the version a rotation (RDS-managed or ours) promoted last.
                value = (
                    self.client("secretsmanager")
                    .get_secret_value(SecretId=name, VersionStage="AWSCURRENT")
                    .get("SecretString")
                )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise HelperError(
                f"cannot read {where} '{name}' for {setting} in {region} ({code}): "
                f"create it or fix {setting}, and check the instance role may read it"
            ) from exc
        except BotoCoreError as exc:
            raise HelperError(
                f"cannot reach AWS to read {where} '{name}' for {setting} ({exc}): "
                "check open_webui_aws_region / open_webui_aws_endpoint_url and the network"
            ) from exc
        if value is None:
            raise HelperError(f"{where} '{name}' for {setting} has no string value: store it as a string")
        if key:
            try:
                value = json.loads(value)[key]
            except (ValueError, KeyError, TypeError) as exc:
                raise HelperError(
                    f"{where} '{name}' for {setting} is not JSON with the key '{key}': fix the secret or the #key"
                ) from exc
        if not str(value):
            raise HelperError(f"{where} '{name}' for {setting} is empty: store the value")
        return str(value)


def login_url(item: dict[str, Any], secret: str) -> str:
    """Build DATABASE_URL or REDIS_URL from a login secret; the secret's characters are URL-encoded."""
    quote = lambda value: urllib.parse.quote(str(value), safe="")  # noqa: E731
    setting = item.get("setting", "the secret id")
    if not item.get("host"):
        raise HelperError(f"{setting} is set but its host is empty: set the matching *_host setting")
    if item["kind"] == "postgresql":
        try:
            login = json.loads(secret)
            user, password = login["username"], login["password"]
        except (ValueError, KeyError, TypeError) as exc:
            raise HelperError(
                f"the secret of {setting} is not JSON with username and password (the RDS-managed secret's form)"
            ) from exc
        return (
            f"postgresql://{quote(user)}:{quote(password)}@{item['host']}:{item.get('port') or 5432}"
            f"/{item.get('database') or 'openwebui'}"
        )
    if item["kind"] == "redis":
        return f"{item.get('scheme') or 'rediss'}://:{quote(secret)}@{item['host']}:{item.get('port') or 6379}/0"
    raise HelperError(f"unknown secret kind {item['kind']!r} for {setting}")


def resolve(spec: dict[str, Any], reader: Any = None) -> dict[str, str]:
    """Resolve a secrets spec into the environment Open-WebUI needs."""
    items: dict[str, dict[str, str]] = spec.get("env", {})
    static = {name: item["value"] for name, item in items.items() if item.get("value")}
    reader = reader or SecretReader(spec.get("aws", {}), static)
    env: dict[str, str] = {}
    for name, item in items.items():
        if item.get("value"):
            env[name] = item["value"]
        elif item.get("secret_id"):
            value = reader.read(item["secret_id"], item.get("setting", name))
            env[name] = login_url(item, value) if item.get("kind") else value
        elif item.get("required"):
            raise HelperError(f"{name} has no value and no secret id: set {item.get('setting', name)}")
    ollama = spec.get("ollama", {})
    token_item = ollama.get("token", {})
    token = token_item.get("value") or (
        reader.read(token_item["secret_id"], token_item.get("setting", "OLLAMA token"))
        if token_item.get("secret_id")
        else ""
    )
    if token:
        urls = ollama.get("base_urls", [])
        env["OLLAMA_API_CONFIGS"] = json.dumps({str(i): {"enable": True, "key": token} for i in range(len(urls))})
        env["RAG_OLLAMA_API_KEY"] = token
    return env


def env_text(env: dict[str, str]) -> str:
    """The environment file's content (sorted, quoted for systemd)."""
    return "".join(f"{name}={env_quote(env[name])}\n" for name in sorted(env))


def refresh(spec: dict[str, Any], output: Path, restart: Any, reader: Any = None) -> bool:
    """Re-read every secret; when the environment changed, rewrite it and call restart(). Returns whether it did.

    A secret that cannot be read leaves the running service and its file alone (HelperError)."""
    text = env_text(resolve(spec, reader))
    try:
        current = output.read_text()
    except FileNotFoundError:
        current = None
    if current == text:
        return False
    write_env_file_text(text, output)
    try:
        restart()
    except BaseException:
        # The running service still has the old values: put the old file back so that the next read tries again.
        if current is None:
            output.unlink(missing_ok=True)
        else:
            write_env_file_text(current, output)
        raise
    return True


def write_env_file_text(text: str, output: Path) -> None:
    """Write the environment file with mode 0600, atomically."""
    output.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, output)


def write_env_file(env: dict[str, str], output: Path) -> None:
    write_env_file_text(env_text(env), output)


def read_env_file(path: Path) -> dict[str, str]:
    """Read a KEY=value file written by the role (values possibly double-quoted)."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        env[name.strip()] = value
    return env


def check_database(url: str) -> None:
    if not url or url.startswith("sqlite"):
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    target = make_url(url)
    where = f"{target.host}:{target.port or 5432}/{target.database}"
    args = {"connect_timeout": 10} if target.get_backend_name() == "postgresql" else {}
    try:
        engine = create_engine(url, connect_args=args, pool_pre_ping=False)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HelperError(
            f"database {where} is unreachable or refused the login ({first}): "
            "check DATABASE_URL (open_webui_database_url_secret_id), the security group and that the database runs"
        ) from exc


def check_vector_store(env: dict[str, str], create: bool) -> None:
    """With VECTOR_DB=pgvector: the server must offer pgvector and the vector extension must exist or be creatable.

    Open-WebUI creates the extension itself at start when it is missing, but replicas starting together race on it
    and a refusal ends in a long traceback. Here it is created under a lock, or the cause is named; ``create`` false
    (preflight) tries it in a transaction that is rolled back.
    """
    if env.get("VECTOR_DB", "") != "pgvector":
        return
    url = env.get("PGVECTOR_DB_URL") or env.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://", "postgresql+")):
        raise HelperError(
            "VECTOR_DB is pgvector but no PostgreSQL URL is set: set open_webui_database_secret_id with its host "
            "(the instance record's DATABASE_SECRET_ARN and DATABASE_HOST), or open_webui_pgvector_db_url_secret_id, "
            "or open_webui_vector_db: chroma for a single replica"
        )
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    target = make_url(url)
    where = f"{target.host}:{target.port or 5432}/{target.database}"
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 10})
        with engine.connect() as conn:
            installed = conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar()
            available = conn.execute(
                text("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
            ).scalar()
            if installed is None and available is None:
                raise HelperError(
                    f"PostgreSQL at {where} has no pgvector extension to install: use a server that ships it "
                    "(RDS for PostgreSQL does; the twin's data host gets it from the twin_data role)"
                )
            if installed is None:
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('open-webui vector extension'))"))
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
                if create:
                    conn.commit()
                else:
                    conn.rollback()
        engine.dispose()
    except HelperError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HelperError(
            f"the vector store at {where} is unusable: the vector extension is missing and cannot be created "
            f"({first}): create it once as a superuser (CREATE EXTENSION vector; on RDS the master user may) "
            "or connect the vector store with a user allowed to (open_webui_pgvector_db_url_secret_id)"
        ) from exc


def check_redis(url: str) -> None:
    if not url:
        return
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=10, socket_timeout=10).ping()
    except Exception as exc:
        raise HelperError(
            f"Redis at {url.split('@')[-1]} does not answer ({exc}): check open_webui_redis_url and that Redis runs"
        ) from exc


def check_s3(env: dict[str, str]) -> None:
    if env.get("STORAGE_PROVIDER", "local") != "s3":
        return
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = env.get("S3_BUCKET_NAME", "")
    if not bucket:
        raise HelperError("STORAGE_PROVIDER is s3 but S3_BUCKET_NAME is empty: set open_webui_s3_bucket")
    client = boto3.client(
        "s3",
        region_name=env.get("S3_REGION_NAME") or None,
        endpoint_url=env.get("S3_ENDPOINT_URL") or None,
        aws_access_key_id=env.get("S3_ACCESS_KEY_ID") or env.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=env.get("S3_SECRET_ACCESS_KEY") or env.get("AWS_SECRET_ACCESS_KEY") or None,
        verify=env.get("AWS_CA_BUNDLE") or None,
        config=Config(s3={"addressing_style": env.get("S3_ADDRESSING_STYLE") or None}),
    )
    try:
        # A listing under the uploads prefix, not HeadBucket: the instance role may list that prefix only, and
        # HeadBucket carries no prefix (AWS answers 403 to it).
        client.list_objects_v2(Bucket=bucket, Prefix=env.get("S3_KEY_PREFIX", ""), MaxKeys=1)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise HelperError(
            f"S3 bucket '{bucket}' is not usable (HTTP {code}): create it, fix open_webui_s3_bucket, or let the "
            "instance role reach it"
        ) from exc
    except BotoCoreError as exc:
        raise HelperError(f"S3 is unreachable for bucket '{bucket}' ({exc}): check open_webui_s3_endpoint_url") from exc


def check_ollama(base_urls: list[str], configs: dict[str, Any], cafile: str | None) -> list[str]:
    """Fail on a rejected token; return warnings for unreachable Ollama endpoints."""
    warnings = []
    for idx, url in enumerate(base_urls):
        key = configs.get(str(idx), {}).get("key")
        if not url.startswith(("http://", "https://")):
            raise HelperError(f"Ollama base URL '{url}' is not http(s): fix open_webui_ollama_base_urls")
        request = urllib.request.Request(f"{url.rstrip('/')}/api/tags")  # noqa: S310 - scheme checked above
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        try:
            import ssl

            context = ssl.create_default_context(cafile=cafile) if url.startswith("https") else None
            with urllib.request.urlopen(request, timeout=10, context=context):  # noqa: S310 - scheme checked
                pass
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise HelperError(
                    f"Ollama at {url} rejected the API token (HTTP {exc.code}): "
                    "fix open_webui_ollama_api_token_secret_id (it must match the Ollama tier's token)"
                ) from exc
            warnings.append(f"Ollama at {url} answered HTTP {exc.code} to /api/tags")
        except (urllib.error.URLError, OSError) as exc:
            warnings.append(f"Ollama at {url} is unreachable ({exc}); chats fail until it answers")
    return warnings


def run_checks(env: dict[str, str], create: bool = False) -> list[str]:
    if env.get("WEBUI_AUTH", "True").lower() == "true" and not env.get("WEBUI_SECRET_KEY"):
        raise HelperError("WEBUI_SECRET_KEY is empty: set open_webui_secret_key_secret_id")
    check_database(env.get("DATABASE_URL", ""))
    check_vector_store(env, create)
    check_redis(env.get("REDIS_URL", ""))
    check_s3(env)
    urls = [u.strip() for u in env.get("OLLAMA_BASE_URLS", "").split(";") if u.strip()]
    configs = json.loads(env.get("OLLAMA_API_CONFIGS") or "{}")
    return check_ollama(urls, configs, env.get("REQUESTS_CA_BUNDLE") or None)


def cmd_requirements(args: argparse.Namespace) -> int:
    requires = importlib.metadata.requires("open-webui") or []
    lines = filtered_requirements(requires, set(args.extras.split(",")) - {""}, set(args.exclude.split(",")) - {""})
    print("\n".join(lines))
    return 0


def cmd_fetch_secrets(args: argparse.Namespace) -> int:
    spec = json.loads(Path(args.spec).read_text())
    write_env_file(resolve(spec), Path(args.output))
    print(f"{PROG}: wrote {args.output}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    for path in args.env_file or []:
        env.update(read_env_file(Path(path)))
    for warning in run_checks(env, create=True):
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    print(f"{PROG}: database, vector store, Redis and Ollama token checks passed")
    return 0


def cmd_preflight(args: argparse.Namespace) -> int:
    env = read_env_file(Path(args.env_file))
    env.update(resolve(json.loads(Path(args.spec).read_text())))
    for warning in run_checks(env):
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    print(f"{PROG}: preflight passed")
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    def restart() -> None:
        # try-restart: a stopped service stays stopped; the unit's ExecStartPre checks the new secrets first. A
        # restart command (a fleet's: out of the load balancer first) is given the unit and keeps that rule.
        command = [*args.restart_command.split(), args.unit] if args.restart_command else None
        subprocess.run(command or ["/bin/systemctl", "try-restart", args.unit], check=True)

    spec = json.loads(Path(args.spec).read_text())
    if refresh(spec, Path(args.output), restart):
        print(f"{PROG}: a secret changed (rotation): {args.output} rewritten, {args.unit} restarted")
    return 0


# Open-WebUI migrates its database at start without a lock: replicas starting together on a database that needs
# migrating both run the migrations, and the later one fails (a duplicate-key error on alembic_version).
MIGRATION_LOCK = "SELECT pg_advisory_lock(hashtext('open-webui migrations'))"
MIGRATION_UNLOCK = "SELECT pg_advisory_unlock(hashtext('open-webui migrations'))"
MIGRATE_COMMAND = (sys.executable, "-c", "import open_webui.config")  # its import runs the migrations


def cmd_migrate(args: argparse.Namespace) -> int:
    """Run the migrations while holding the lock, so that the service's own pass at start finds nothing to do.
    SQLite (one replica) is left to Open-WebUI."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://", "postgresql+")):
        return 0
    from sqlalchemy import create_engine, text

    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    command = args.command.split() if args.command else list(MIGRATE_COMMAND)
    engine = create_engine(url, connect_args={"connect_timeout": 10})
    started = time.monotonic()
    with engine.connect() as conn:
        conn.execute(text(MIGRATION_LOCK))  # a session lock: released below, or when the connection closes
        waited = time.monotonic() - started
        try:
            # FROM_INIT_PY: as `open-webui serve` sets it, so that the import finds the packaged frontend.
            environment = {**os.environ, "FROM_INIT_PY": "true"}
            result = subprocess.run(command, env=environment, timeout=args.timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise HelperError(
                f"Open-WebUI's database migrations did not finish within {args.timeout} s: see the lines above, "
                "and raise open_webui_start_timeout for a long migration"
            ) from exc
        finally:
            conn.execute(text(MIGRATION_UNLOCK))
    engine.dispose()
    if result.returncode != 0:
        raise HelperError(
            f"Open-WebUI's database migrations failed (exit {result.returncode}): the lines above name the cause"
        )
    print(f"{PROG}: database migrations done ({waited:.0f} s waiting for the lock)")
    return 0


def main_process_gone(pid: int) -> bool:
    """True when the service's main process no longer runs (exited, or a zombie systemd has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def cmd_wait_healthy(args: argparse.Namespace) -> int:
    if not args.url.startswith(("http://", "https://")):
        raise HelperError(f"--url {args.url} is not http(s)")
    main_pid = int(args.main_pid) if args.main_pid.isdigit() else 0
    deadline = time.monotonic() + args.timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if main_pid and main_process_gone(main_pid):
            # systemd waits for this command even when the main process died: without this check a crash at
            # start (a failed migration) would hold the unit in "activating" for the whole timeout.
            raise HelperError(
                f"Open-WebUI exited before it became healthy at {args.url}: see `journalctl -u open-webui` for the "
                "cause (systemd starts it again after RestartSec)"
            )
        try:
            with urllib.request.urlopen(args.url, timeout=5) as resp:  # noqa: S310 - scheme checked above
                if resp.status == 200 and json.loads(resp.read() or b"{}").get("status") is True:
                    print(f"{PROG}: {args.url} is healthy")
                    return 0
                last = f"HTTP {resp.status}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(1)
    raise HelperError(
        f"Open-WebUI did not become healthy at {args.url} within {args.timeout} s (last: {last}): "
        "see `journalctl -u open-webui` for the cause"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("requirements")
    p.add_argument("--extras", default="")
    p.add_argument("--exclude", default="")
    p.set_defaults(func=cmd_requirements)
    p = sub.add_parser("fetch-secrets")
    p.add_argument("--spec", required=True)
    p.add_argument("--output", required=True)
    p.set_defaults(func=cmd_fetch_secrets)
    p = sub.add_parser("check")
    p.add_argument("--env-file", action="append")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("migrate")
    p.add_argument("--timeout", type=int, default=300)
    p.add_argument("--command", default="", help="the migration command (default: import open_webui.config)")
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser("preflight")
    p.add_argument("--spec", required=True)
    p.add_argument("--env-file", required=True)
    p.set_defaults(func=cmd_preflight)
    p = sub.add_parser("refresh")
    p.add_argument("--spec", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--unit", default="open-webui.service")
    p.add_argument("--restart-command", default="", help="program that restarts the unit it is given")
    p.set_defaults(func=cmd_refresh)
    p = sub.add_parser("wait-healthy")
    p.add_argument("--url", required=True)
    p.add_argument("--timeout", type=int, default=300)
    p.add_argument("--main-pid", default="", help="the service's main process ($MAINPID); empty: not watched")
    p.set_defaults(func=cmd_wait_healthy)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HelperError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
