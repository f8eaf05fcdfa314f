#!/usr/bin/env python3
"""Build a release archive of the Ollama API double shaped like Ollama's Linux release.

    python3 -m ollama_double.build_release --output-dir DIR [--version 0.12.6] [--arch amd64]
    python3 packages/ollama_double/src/ollama_double/build_release.py ...   (the same, from a checkout)

writes ``DIR/ollama-linux-<arch>.tgz`` (``./bin/ollama`` + ``./lib/ollama/``, as in the real tarball that is
unpacked with ``tar -C /usr -xzf``) and ``DIR/sha256sum.txt`` (``<sha256>  ./ollama-linux-<arch>.tgz``, the format of
the release's checksum file). ``bin/ollama`` is a Python zip application with a ``#!/usr/bin/env python3`` shebang.
The output is deterministic (fixed timestamps, owners and ordering): the same sources and version give
byte-identical files, and files whose content would not change are left untouched.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import re
import sys
import tarfile
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# Every module of the package goes into bin/ollama except this builder and the version file it writes itself.
LEFT_OUT = ("build_release.py", "_version.py")
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
TAR_MTIME = 1760572800  # 2025-10-16T00:00:00Z, fixed so rebuilds are byte-identical
SHEBANG = b"#!/usr/bin/env python3\n"
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?$")


def default_version() -> str:
    text = (PACKAGE / "_version.py").read_text()
    match = re.search(r'VERSION = "([^"]+)"', text)
    if not match:
        raise SystemExit(f"Error: no VERSION in {PACKAGE / '_version.py'}; restore the file from git")
    return match.group(1)


def build_zipapp(version: str) -> bytes:
    """``bin/ollama``: shebang + zip holding the ``ollama_double`` package and a top-level ``__main__``."""
    files: dict[str, bytes] = {
        "__main__.py": b"import sys\n\nfrom ollama_double.cli import main\n\nsys.exit(main())\n",
        "ollama_double/_version.py": (
            f'"""Version the double reports (`ollama --version`, `GET /api/version`)."""\n\nVERSION = "{version}"\n'
        ).encode(),
    }
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name not in LEFT_OUT:
            files[f"ollama_double/{path.name}"] = path.read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for arcname in sorted(files):
            info = zipfile.ZipInfo(arcname, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100644 & 0xFFFF) << 16
            info.create_system = 3
            zf.writestr(info, files[arcname], compresslevel=9)
    return SHEBANG + buf.getvalue()


def _tarinfo(name: str, *, directory: bool = False, size: int = 0, mode: int = 0o755) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = mode
    info.size = size
    info.mtime = TAR_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def build_tarball(version: str) -> bytes:
    app = build_zipapp(version)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_tarinfo("./", directory=True))
        tar.addfile(_tarinfo("./bin/", directory=True))
        tar.addfile(_tarinfo("./bin/ollama", size=len(app), mode=0o755), io.BytesIO(app))
        tar.addfile(_tarinfo("./lib/", directory=True))
        tar.addfile(_tarinfo("./lib/ollama/", directory=True))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def build(output_dir: Path, version: str, arches: list[str]) -> dict[str, str]:
    output_dir.mkdir(parents=True, exist_ok=True)
    archive = build_tarball(version)
    digest = hashlib.sha256(archive).hexdigest()
    sums = {}
    for arch in arches:
        name = f"ollama-linux-{arch}.tgz"
        changed = write_if_changed(output_dir / name, archive)
        print(f"{'wrote' if changed else 'unchanged'} {output_dir / name} (sha256 {digest})")
        sums[name] = digest
    lines = "".join(f"{sums[name]}  ./{name}\n" for name in sorted(sums))
    write_if_changed(output_dir / "sha256sum.txt", lines.encode())
    return sums


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", required=True, type=Path, help="directory for the archive and sha256sum.txt")
    parser.add_argument("--version", default=None, help="version the double reports (default: %(default)s -> 0.12.6)")
    parser.add_argument(
        "--arch",
        action="append",
        choices=("amd64", "arm64"),
        help="archive architecture name (repeatable; default amd64)",
    )
    args = parser.parse_args(argv)
    version = args.version or default_version()
    if not VERSION_RE.match(version):
        print(f"Error: --version {version!r} is not a release version; use the form 0.12.6", file=sys.stderr)
        return 2
    build(args.output_dir, version, args.arch or ["amd64"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
