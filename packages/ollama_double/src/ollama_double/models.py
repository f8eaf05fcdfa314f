"""Model names, the pull catalog and the on-disk model store of the Ollama API double.

Mirrors Ollama's layout: ``$OLLAMA_MODELS/manifests/<host>/<namespace>/<model>/<tag>`` holds a registry manifest,
``$OLLAMA_MODELS/blobs/sha256-<hex>`` holds the blobs it references. Model weights are stand-ins: the "model" layer
blob is a small JSON document with the GGUF metadata the double needs (family, context length, ...), while the
manifest records the size the real model has, so ``/api/tags`` and ``ollama list`` show realistic sizes.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
MISSING_PART = "!"

MEDIA_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_MODEL = "application/vnd.ollama.image.model"
MEDIA_TEMPLATE = "application/vnd.ollama.image.template"
MEDIA_PARAMS = "application/vnd.ollama.image.params"
MEDIA_LICENSE = "application/vnd.ollama.image.license"

CHAT_TEMPLATE = "{{- range .Messages }}<|{{ .Role }}|>\n{{ .Content }}\n{{ end }}<|assistant|>\n"


class InvalidName(ValueError):
    """A model name Ollama would reject."""


@dataclasses.dataclass(frozen=True)
class Name:
    """A fully qualified model name (host/namespace/model:tag), as Ollama's ``model.ParseName`` builds it."""

    host: str
    namespace: str
    model: str
    tag: str

    @classmethod
    def parse(cls, raw: str) -> Name:
        """Parse like Ollama: missing host/namespace/tag default to registry.ollama.ai/library/...:latest."""
        s = raw
        host = namespace = tag = ""
        if s.rfind(":") > s.rfind("/"):
            s, tag = _cut_promised(s, ":")
        if "/" in s:
            s, model = _cut_promised(s, "/")
            if "/" in s:
                s, namespace = _cut_promised(s, "/")
                host = s.split("://", 1)[1] if "://" in s else s
            else:
                namespace = s
        else:
            model = s
        return cls(host or DEFAULT_HOST, namespace or DEFAULT_NAMESPACE, model, tag or DEFAULT_TAG)

    @property
    def valid(self) -> bool:
        return (
            _valid_part("host", self.host)
            and _valid_part("namespace", self.namespace)
            and _valid_part("model", self.model)
            and _valid_part("tag", self.tag)
        )

    def display(self) -> str:
        """Ollama's ``DisplayShortest``: ``llama3.2:1b``, ``user/model:tag`` or ``host/ns/model:tag``."""
        if self.host.lower() != DEFAULT_HOST:
            return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        if self.namespace.lower() != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"

    def key(self) -> tuple[str, str, str, str]:
        return (self.host.lower(), self.namespace.lower(), self.model.lower(), self.tag.lower())

    def relpath(self) -> Path:
        return Path(self.host, self.namespace, self.model, self.tag)


def _cut_promised(s: str, sep: str) -> tuple[str, str]:
    before, _, after = s.rpartition(sep)
    return before or MISSING_PART, after or MISSING_PART


def _valid_part(kind: str, s: str) -> bool:
    if not 1 <= len(s) <= (350 if kind == "host" else 80):
        return False
    if not (s[0].isascii() and (s[0].isalnum() or s[0] == "_")):
        return False
    for ch in s[1:]:
        if ch in "_-":
            continue
        if ch == ".":
            if kind == "namespace":
                return False
            continue
        if ch == ":":
            if kind != "host":
                return False
            continue
        if not (ch.isascii() and ch.isalnum()):
            return False
    return True


def normalize(raw: str) -> str:
    """``tinyllama`` -> ``tinyllama:latest`` (raises InvalidName like Ollama's "invalid model name")."""
    name = Name.parse(raw.strip())
    if not name.valid:
        raise InvalidName(raw)
    return name.display()


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the double needs to know about a model (normally read from the GGUF file)."""

    family: str
    parameter_size: str
    quantization: str
    size: int
    context_length: int
    embedding_length: int
    block_count: int
    parameter_count: int
    capabilities: tuple[str, ...] = ("completion",)

    @property
    def embedding_only(self) -> bool:
        return "completion" not in self.capabilities


# Metadata of a few small public models, as `ollama show` / `ollama list` report them.
CATALOG: dict[str, ModelSpec] = {
    "llama3.2:1b": ModelSpec(
        "llama", "1.2B", "Q8_0", 1321098329, 131072, 2048, 16, 1235814432, ("completion", "tools")
    ),
    "llama3.2:latest": ModelSpec(
        "llama", "3.2B", "Q4_K_M", 2019393189, 131072, 3072, 28, 3212749888, ("completion", "tools")
    ),
    "qwen2.5:0.5b": ModelSpec(
        "qwen2", "494.03M", "Q4_K_M", 397821319, 32768, 896, 24, 494032768, ("completion", "tools")
    ),
    "tinyllama:latest": ModelSpec("llama", "1B", "Q4_0", 637700138, 2048, 2048, 22, 1100048384),
    "smollm2:135m": ModelSpec("llama", "134.52M", "F16", 270898672, 8192, 576, 30, 134515008, ("completion", "tools")),
    "nomic-embed-text:latest": ModelSpec(
        "nomic-bert", "137M", "F16", 274302450, 2048, 768, 12, 136727040, ("embedding",)
    ),
    "all-minilm:latest": ModelSpec("bert", "23M", "F16", 45960996, 512, 384, 6, 22565376, ("embedding",)),
}

DEFAULT_REGISTRY = ("llama3.2:1b", "qwen2.5:0.5b", "tinyllama:latest", "nomic-embed-text:latest")


def spec_for(name: str) -> ModelSpec:
    """Catalog entry for a normalised name; unknown names get plausible defaults (embedding if the name says so)."""
    if name in CATALOG:
        return CATALOG[name]
    if "embed" in name.lower() or "minilm" in name.lower():
        return ModelSpec("bert", "110M", "F16", 220000000, 2048, 768, 12, 110000000, ("embedding",))
    digest = int(hashlib.sha256(name.encode()).hexdigest()[:6], 16)
    return ModelSpec("llama", "1.1B", "Q4_K_M", 600000000 + digest, 8192, 2048, 22, 1100000000, ("completion",))


def parse_duration_ns(value: Any, *, env: bool = False) -> int | None:
    """Parse an Ollama keep_alive value into nanoseconds; None means "forever" (negative durations).

    Numbers are seconds; strings are Go durations ("5m", "1h30m", "250ms", "0"). For the OLLAMA_KEEP_ALIVE
    environment variable a bare integer string also means seconds, as in Ollama.
    """
    if isinstance(value, bool):
        raise ValueError(f"json: cannot unmarshal bool into Go value of type api.Duration: {value!r}")
    if isinstance(value, int | float):
        return None if value < 0 else int(value * 1_000_000_000)
    if not isinstance(value, str):
        raise ValueError(f"Unsupported type: '{type(value).__name__}'")
    s = value.strip()
    if env and re.fullmatch(r"-?\d+", s):
        n = int(s)
        return None if n < 0 else n * 1_000_000_000
    ns = go_parse_duration(s)
    return None if ns < 0 else ns


_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_parse_duration(s: str) -> int:
    """Go's time.ParseDuration (nanoseconds)."""
    orig = s
    sign = 1
    if s[:1] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{orig}"')
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            if re.fullmatch(r"\d+(\.\d*)?", s[pos:]):
                raise ValueError(f'time: missing unit in duration "{orig}"')
            raise ValueError(f'time: invalid duration "{orig}"')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * int(total)


def go_time_local(ts: float) -> str:
    """A wall-clock time formatted like Go's JSON encoding of a local time.Time (RFC 3339, nanoseconds)."""
    ns = int(ts * 1_000_000_000)
    sec, frac = divmod(ns, 1_000_000_000)
    dt = datetime.datetime.fromtimestamp(sec).astimezone()
    out = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        out += "." + f"{frac:09d}".rstrip("0")
    offset = dt.utcoffset() or datetime.timedelta(0)
    if not offset:
        return out + "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{out}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@dataclasses.dataclass
class StoredModel:
    name: str  # display name, e.g. "llama3.2:1b"
    digest: str  # sha256 hex of the manifest file
    size: int
    modified: float
    spec: ModelSpec
    model_digest: str
    template: str

    def details(self) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.spec.family,
            "families": [self.spec.family],
            "parameter_size": self.spec.parameter_size,
            "quantization_level": self.spec.quantization,
        }


def _blob_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class ModelStore:
    """Manifests and blobs under OLLAMA_MODELS, read and written like Ollama does."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()
        self.manifests = self.root / "manifests"
        self.blobs = self.root / "blobs"
        self._cache: tuple[float, list[tuple[Name, Path]]] | None = None
        self._loaded: dict[Path, tuple[int, int, StoredModel | None]] = {}

    CACHE_SECONDS = 1.0

    def invalidate(self) -> None:
        """Forget cached listings (called after every change this process makes)."""
        self._cache = None

    def ensure_dirs(self) -> None:
        self.manifests.mkdir(parents=True, exist_ok=True)
        self.blobs.mkdir(parents=True, exist_ok=True)

    def blob_path(self, digest: str) -> Path:
        return self.blobs / digest.replace(":", "-")

    def build(self, name: str, spec: ModelSpec) -> tuple[bytes, dict[str, bytes]]:
        """The manifest and blobs a registry would serve for ``name`` (deterministic)."""
        gguf = _blob_json(
            {
                "double_gguf": dataclasses.asdict(spec),
                "name": name,
            }
        )
        blobs: dict[str, bytes] = {}
        layers = []

        def add(media: str, data: bytes, size: int | None = None) -> None:
            digest = _sha(data)
            blobs[digest] = data
            layers.append({"mediaType": media, "digest": digest, "size": size if size is not None else len(data)})

        add(MEDIA_MODEL, gguf, spec.size)
        if not spec.embedding_only:
            add(MEDIA_TEMPLATE, CHAT_TEMPLATE.encode())
            add(MEDIA_PARAMS, _blob_json({"stop": ["<|end|>"]}))
        add(MEDIA_LICENSE, f"License of {name} (stand-in text for tests).\n".encode())
        config = _blob_json(
            {
                "model_format": "gguf",
                "model_family": spec.family,
                "model_families": [spec.family],
                "model_type": spec.parameter_size,
                "file_type": spec.quantization,
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
            }
        )
        config_digest = _sha(config)
        blobs[config_digest] = config
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": layers,
        }
        return json.dumps(manifest, separators=(",", ":")).encode(), blobs

    def write_blob(self, digest: str, data: bytes) -> None:
        path = self.blob_path(digest)
        if path.exists() and path.stat().st_size == len(data):
            return
        self.blobs.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + "-partial")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    def write_manifest(self, name: str, data: bytes) -> None:
        path = self.manifests / Name.parse(name).relpath()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        self.invalidate()

    def install(self, name: str, spec: ModelSpec) -> None:
        manifest, blobs = self.build(name, spec)
        for digest, data in blobs.items():
            self.write_blob(digest, data)
        self.write_manifest(name, manifest)

    def _manifest_files(self) -> list[tuple[Name, Path]]:
        """Manifest files, re-read from disk at most once a second (changes made by others show up that fast)."""
        now = time.monotonic()
        if self._cache is not None and now - self._cache[0] < self.CACHE_SECONDS:
            return self._cache[1]
        out = self._scan()
        self._cache = (now, out)
        return out

    def _scan(self) -> list[tuple[Name, Path]]:
        out: list[tuple[Name, Path]] = []
        if not self.manifests.is_dir():
            return out
        for path in self.manifests.glob("*/*/*/*"):
            if not path.is_file() or path.name.endswith(".tmp"):
                continue
            rel = path.relative_to(self.manifests).parts
            name = Name(*rel)
            if name.valid:
                out.append((name, path))
        return out

    def find(self, raw: str) -> tuple[Name, Path] | None:
        """Case-insensitive lookup (Ollama's getExistingName)."""
        try:
            want = Name.parse(raw.strip())
        except Exception:  # noqa: BLE001
            return None
        if not want.valid:
            return None
        for name, path in self._manifest_files():
            if name.key() == want.key():
                return name, path
        return None

    def load(self, name: Name, path: Path) -> StoredModel | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        cached = self._loaded.get(path)
        if cached is not None and cached[0] == stat.st_mtime_ns and cached[1] == stat.st_size:
            return cached[2]
        model = self._load(name, path, stat)
        self._loaded[path] = (stat.st_mtime_ns, stat.st_size, model)
        return model

    def _load(self, name: Name, path: Path, stat: os.stat_result) -> StoredModel | None:
        try:
            data = path.read_bytes()
            manifest = json.loads(data)
        except (OSError, ValueError):
            return None
        spec = None
        model_digest = ""
        template = ""
        size = manifest.get("config", {}).get("size", 0)
        for layer in manifest.get("layers", []):
            size += layer.get("size", 0)
            media = layer.get("mediaType")
            try:
                if media == MEDIA_MODEL:
                    model_digest = layer["digest"]
                    meta = json.loads(self.blob_path(layer["digest"]).read_bytes())["double_gguf"]
                    meta["capabilities"] = tuple(meta["capabilities"])
                    spec = ModelSpec(**meta)
                elif media == MEDIA_TEMPLATE:
                    template = self.blob_path(layer["digest"]).read_text()
            except (OSError, ValueError, KeyError, TypeError):
                continue
        display = name.display()
        if spec is None:
            spec = spec_for(display)
        return StoredModel(
            name=display,
            digest=hashlib.sha256(data).hexdigest(),
            size=size,
            modified=stat.st_mtime,
            spec=spec,
            model_digest=model_digest,
            template=template,
        )

    def get(self, raw: str) -> StoredModel | None:
        found = self.find(raw)
        return self.load(*found) if found else None

    def list(self) -> list[StoredModel]:
        models = [m for m in (self.load(n, p) for n, p in self._manifest_files()) if m is not None]
        models.sort(key=lambda m: int(m.modified), reverse=True)
        return models

    def delete(self, raw: str) -> bool:
        found = self.find(raw)
        if not found:
            return False
        _, path = found
        try:
            manifest = json.loads(path.read_bytes())
        except (OSError, ValueError):
            manifest = {}
        path.unlink()
        self.invalidate()
        parent = path.parent
        while parent != self.manifests and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
        still_used: set[str] = set()
        for _, other in self._manifest_files():
            try:
                m = json.loads(other.read_bytes())
            except (OSError, ValueError):
                continue
            still_used.update(layer.get("digest", "") for layer in [*m.get("layers", []), m.get("config", {})])
        for layer in [*manifest.get("layers", []), manifest.get("config", {})]:
            digest = layer.get("digest", "")
            if digest and digest not in still_used:
                self.blob_path(digest).unlink(missing_ok=True)
        return True

    def copy(self, src: str, dst: str) -> bool:
        found = self.find(src)
        if not found:
            return False
        target = self.manifests / Name.parse(dst).relpath()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found[1], target)
        os.utime(target, (time.time(), time.time()))
        self.invalidate()
        return True
