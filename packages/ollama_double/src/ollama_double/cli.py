"""``ollama`` command line of the double: ``serve`` and client subcommands that talk to OLLAMA_HOST."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from . import knobs
from . import models as m
from ._version import VERSION

NOT_RUNNING = "ollama server not responding - could not connect to ollama server, run 'ollama serve' to start it"


class CliError(Exception):
    pass


class Client:
    def __init__(self) -> None:
        host, port = knobs.parse_host(os.environ.get("OLLAMA_HOST"))
        self.host = knobs.connectable_host(host)
        self.port = port

    def _conn(self, timeout: float | None = None) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method: str, path: str, body: Any = None, timeout: float | None = 600) -> Any:
        conn = self._conn(timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json", "Accept": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (ConnectionRefusedError, OSError) as e:
            raise CliError(NOT_RUNNING if isinstance(e, ConnectionRefusedError) else str(e)) from None
        finally:
            conn.close()
        if resp.status >= 400:
            raise CliError(_error_text(raw, resp.status))
        if not raw:
            return None
        return json.loads(raw)

    def stream(self, path: str, body: Any) -> Iterator[dict[str, Any]]:
        conn = self._conn(None)
        try:
            conn.request("POST", path, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
        except (ConnectionRefusedError, OSError) as e:
            conn.close()
            raise CliError(NOT_RUNNING if isinstance(e, ConnectionRefusedError) else str(e)) from None
        try:
            if resp.status >= 400:
                raise CliError(_error_text(resp.read(), resp.status))
            for line in resp:
                line = line.strip()
                if not line:
                    continue
                obj = json.loads(line)
                if obj.get("error"):
                    raise CliError(obj["error"])
                yield obj
        finally:
            conn.close()

    def heartbeat(self) -> None:
        conn = self._conn(5)
        try:
            conn.request("HEAD", "/")
            conn.getresponse().read()
        except OSError:
            raise CliError(NOT_RUNNING) from None
        finally:
            conn.close()


def _error_text(raw: bytes, status: int) -> str:
    try:
        obj = json.loads(raw)
        if isinstance(obj, dict) and obj.get("error"):
            err = obj["error"]
            return err["message"] if isinstance(err, dict) else str(err)
    except ValueError:
        pass
    return raw.decode(errors="replace").strip() or f"{status}"


def human_bytes(b: int) -> str:
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if b >= size:
            value = b / size
            if value >= 10 or value == int(value):
                return f"{int(value)} {unit}"
            return f"{value:.1f} {unit}"
    return f"{b} B"


def _human_duration(seconds: float) -> str:
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds // 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 14:
        return f"{hours // 24} days"
    if hours < 24 * 60:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 730:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds // 3600) // 24 // 365} years"


def human_time(ts: float) -> str:
    delta = time.time() - ts
    if delta / 3600 / 24 / 365 < -20:
        return "Forever"
    if delta < 0:
        return _human_duration(-delta) + " from now"
    return _human_duration(delta) + " ago"


def parse_time(value: str) -> float:
    """RFC 3339 with up to nanoseconds (Go) -> epoch seconds."""
    import datetime

    v = value.replace("Z", "+00:00")
    if "." in v:
        head, rest = v.split(".", 1)
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        v = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    return datetime.datetime.fromisoformat(v).timestamp()


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("    ".join(cells))
    return "\n".join(lines) + "\n"


# ---- subcommands -----------------------------------------------------------------------------------------------------


def cmd_version(_: argparse.Namespace) -> int:
    client = Client()
    try:
        server_version = client.request("GET", "/api/version", timeout=5)["version"]
    except CliError:
        server_version = ""
        print("Warning: could not connect to a running Ollama instance")
    if server_version:
        print(f"ollama version is {server_version}")
    if server_version != VERSION:
        print(f"Warning: client version is {VERSION}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from . import server

    cfg = knobs.TABLE.from_env(knobs.TABLE.env_from_flags(args, os.environ))
    return server.serve(cfg)


def cmd_list(args: argparse.Namespace) -> int:
    client = Client()
    client.heartbeat()
    resp = client.request("GET", "/api/tags")
    rows = [["NAME", "ID", "SIZE", "MODIFIED"]]
    for mod in resp.get("models") or []:
        if args.prefix and not mod["name"].lower().startswith(args.prefix.lower()):
            continue
        rows.append(
            [mod["name"], mod["digest"][:12], human_bytes(mod["size"]), human_time(parse_time(mod["modified_at"]))]
        )
    sys.stdout.write(table(rows))
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    client = Client()
    client.heartbeat()
    resp = client.request("GET", "/api/ps")
    rows = [["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"]]
    for mod in resp.get("models") or []:
        if args.prefix and not mod["name"].startswith(args.prefix):
            continue
        size, vram = mod["size"], mod.get("size_vram", 0)
        if vram == 0:
            proc = "100% CPU"
        elif vram == size:
            proc = "100% GPU"
        else:
            cpu = round((size - vram) / size * 100)
            proc = f"{cpu}%/{100 - cpu}% CPU/GPU"
        expires = parse_time(mod["expires_at"])
        until = "Stopping..." if expires < time.time() else human_time(expires)
        rows.append(
            [mod["name"], mod["digest"][:12], human_bytes(size), proc, str(mod.get("context_length", 0)), until]
        )
    sys.stdout.write(table(rows))
    return 0


def _pull(client: Client, name: str, insecure: bool = False) -> None:
    last_status = None
    shown: dict[str, int] = {}
    for p in client.stream("/api/pull", {"model": name, "insecure": insecure, "stream": True}):
        digest = p.get("digest")
        if digest:
            completed, total = p.get("completed", 0), p.get("total", 0)
            if not completed:
                continue
            pct = int(completed * 100 / total) if total else 100
            if shown.get(digest) != pct and (pct == 100 or pct - shown.get(digest, -100) >= 25):
                shown[digest] = pct
                sys.stderr.write(f"pulling {digest[7:19]}: {pct:3d}% {human_bytes(total)}\n")
        elif p.get("status") != last_status:
            last_status = p.get("status")
            sys.stderr.write(f"{last_status}\n")
        sys.stderr.flush()


def cmd_pull(args: argparse.Namespace) -> int:
    client = Client()
    client.heartbeat()
    _pull(client, args.model, args.insecure)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    client = Client()
    client.heartbeat()
    try:
        client.request("POST", "/api/generate", {"model": args.models[0], "keep_alive": 0})
    except CliError as e:
        if "not found" not in str(e).lower():
            sys.stderr.write(f"Warning: unable to stop model '{args.models[0]}'\n")
    for name in args.models:
        client.request("DELETE", "/api/delete", {"model": name})
        print(f"deleted '{name}'")
    return 0


def cmd_cp(args: argparse.Namespace) -> int:
    client = Client()
    client.heartbeat()
    client.request("POST", "/api/copy", {"source": args.source, "destination": args.destination})
    print(f"copied '{args.source}' to '{args.destination}'")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    client = Client()
    client.heartbeat()
    loaded = [mod["name"] for mod in client.request("GET", "/api/ps").get("models") or []]
    if m.normalize(args.model) not in loaded:
        raise CliError(f'couldn\'t find model "{args.model}" to stop')
    client.request("POST", "/api/generate", {"model": args.model, "keep_alive": 0})
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    client = Client()
    client.heartbeat()
    resp = client.request("POST", "/api/show", {"model": args.model})
    for flag in ("license", "modelfile", "parameters", "system", "template"):
        if getattr(args, flag):
            sys.stdout.write((resp.get(flag) or "") + "\n")
            return 0
    details = resp.get("details", {})
    info = resp.get("model_info", {})
    arch = info.get("general.architecture", "")
    rows = [
        ("architecture", arch),
        ("parameters", details.get("parameter_size", "")),
        ("context length", str(info.get(f"{arch}.context_length", ""))),
        ("embedding length", str(info.get(f"{arch}.embedding_length", ""))),
        ("quantization", details.get("quantization_level", "")),
    ]
    out = ["  Model"] + [f"    {k:<20}{v}" for k, v in rows]
    out += ["", "  Capabilities"] + [f"    {c}" for c in resp.get("capabilities", [])]
    if resp.get("parameters"):
        out += ["", "  Parameters"] + [f"    {line}" for line in resp["parameters"].splitlines()]
    out += ["", "  License"] + [f"    {line}" for line in (resp.get("license") or "").strip().splitlines()]
    print("\n".join(out) + "\n")
    return 0


def _fmt_ns(ns: int) -> str:
    s = ns / 1e9
    if s >= 1:
        return f"{s:.9g}s"
    return f"{ns / 1e6:.6g}ms"


def cmd_run(args: argparse.Namespace) -> int:
    client = Client()
    client.heartbeat()
    try:
        client.request("POST", "/api/show", {"model": args.model})
    except CliError as e:
        if "not found" not in str(e):
            raise
        _pull(client, args.model)
    prompt = " ".join(args.prompt)
    if not prompt and not sys.stdin.isatty():
        prompt = sys.stdin.read()
    body: dict[str, Any] = {"model": args.model, "messages": [], "stream": True}
    if args.keepalive:
        body["keep_alive"] = args.keepalive
    if not prompt:
        client.request("POST", "/api/chat", body)
        return 0
    body["messages"] = [{"role": "user", "content": prompt}]
    final: dict[str, Any] = {}
    for part in client.stream("/api/chat", body):
        sys.stdout.write(part.get("message", {}).get("content", ""))
        sys.stdout.flush()
        if part.get("done"):
            final = part
    sys.stdout.write("\n\n")
    if args.verbose and final:
        pe, ev = final.get("prompt_eval_duration", 1), final.get("eval_duration", 1)
        lines = [
            f"total duration:       {_fmt_ns(final.get('total_duration', 0))}",
            f"load duration:        {_fmt_ns(final.get('load_duration', 0))}",
            f"prompt eval count:    {final.get('prompt_eval_count', 0)} token(s)",
            f"prompt eval duration: {_fmt_ns(pe)}",
            f"prompt eval rate:     {final.get('prompt_eval_count', 0) / (pe / 1e9):.2f} tokens/s",
            f"eval count:           {final.get('eval_count', 0)} token(s)",
            f"eval duration:        {_fmt_ns(ev)}",
            f"eval rate:            {final.get('eval_count', 0) / (ev / 1e9):.2f} tokens/s",
        ]
        sys.stderr.write("\n".join(lines) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ollama", description="Large language model runner (API double)")
    parser.add_argument("-v", "--version", action="store_true", help="Show version information")
    sub = parser.add_subparsers(dest="command", metavar="command")

    p = sub.add_parser("serve", aliases=["start"], help="Start ollama")
    knobs.TABLE.add_serve_flags(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("show", help="Show information for a model")
    p.add_argument("model")
    for flag in ("license", "modelfile", "parameters", "system", "template"):
        p.add_argument(f"--{flag}", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("run", help="Run a model")
    p.add_argument("model")
    p.add_argument("prompt", nargs="*")
    p.add_argument("--keepalive")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--nowordwrap", action="store_true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("stop", help="Stop a running model")
    p.add_argument("model")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("pull", help="Pull a model from a registry")
    p.add_argument("model")
    p.add_argument("--insecure", action="store_true")
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("list", aliases=["ls"], help="List models")
    p.add_argument("prefix", nargs="?")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("ps", help="List running models")
    p.add_argument("prefix", nargs="?")
    p.set_defaults(func=cmd_ps)

    p = sub.add_parser("cp", help="Copy a model")
    p.add_argument("source")
    p.add_argument("destination")
    p.set_defaults(func=cmd_cp)

    p = sub.add_parser("rm", help="Remove a model")
    p.add_argument("models", nargs="+")
    p.set_defaults(func=cmd_rm)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        return cmd_version(args)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except CliError as e:
        sys.stderr.write(f"Error: {e}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
