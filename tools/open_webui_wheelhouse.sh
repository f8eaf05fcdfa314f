#!/usr/bin/env bash
# Build a local wheelhouse for the pinned Open-WebUI release, without the torch/CUDA stack.
#
# The result installs offline with the `open_webui` role (open_webui_pip_find_links) or by hand:
#   python3 -m venv /opt/open-webui/venv
#   /opt/open-webui/venv/bin/pip install --no-index --find-links DIR --no-deps open-webui==VERSION
#   /opt/open-webui/venv/bin/pip install --no-index --find-links DIR -r DIR/requirements.txt
#
# Open-WebUI declares accelerate and sentence-transformers as hard dependencies; they pull torch
# and the NVIDIA wheels (~3.4 GB) for local embeddings that this platform sends to Ollama instead
# (RAG_EMBEDDING_ENGINE=ollama). The wheelhouse therefore holds open-webui itself (fetched without
# dependencies) plus `requirements.txt`: its declared dependencies (with the `postgres` extra)
# minus the role's `open_webui_pip_exclude` list, resolved and built as wheels.
#
# The build uses pip in isolated mode, so local pip configuration (find-links, constraints) does
# not leak into it. A wheelhouse whose stamp matches the requested version, exclusions and
# Python is reused as is.
#
# Build it with the same Python (exact version) and architecture as the target hosts; the default
# is /usr/bin/python3, the distribution's.
#
# Usage: tools/open_webui_wheelhouse.sh [--version V] [--index-url URL] [--python PY] [--force] [DIR]
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
defaults="${repo_root}/roles/open_webui/defaults/main.yml"

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

die() {
  echo "open_webui_wheelhouse: $*" >&2
  exit 1
}

# Reads a scalar (`name: value`) from the role defaults.
default_scalar() {
  sed -n "s/^$1: *\"\{0,1\}\([^\"]*\)\"\{0,1\} *$/\1/p" "${defaults}" | head -n 1
}

# Reads a YAML block list (`name:` followed by `  - item` lines) from the role defaults.
default_list() {
  awk -v key="$1:" '
    $0 == key { inside = 1; next }
    inside && /^  - / { sub(/^  - /, ""); print; next }
    inside && !/^ *#/ { inside = 0 }
  ' "${defaults}"
}

version=""
index_url="${OPEN_WEBUI_PIP_INDEX_URL:-}"
# The distribution's Python by default: markers such as `python_full_version < "3.11.3"` are
# evaluated by the Python that resolves, so it must match the hosts' Python exactly.
python="${PYTHON:-}"
if [ -z "${python}" ]; then
  if [ -x /usr/bin/python3 ]; then python=/usr/bin/python3; else python=python3; fi
fi
force=0
output=""
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version="${2:?--version needs a value}"; shift 2 ;;
    --index-url) index_url="${2:?--index-url needs a value}"; shift 2 ;;
    --python) python="${2:?--python needs a value}"; shift 2 ;;
    --force) force=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) output="$1"; shift ;;
  esac
done

[ -r "${defaults}" ] || die "cannot read ${defaults}: run this from a checkout of the project"
[ -n "${version}" ] || version="$(default_scalar open_webui_version)"
[ -n "${version}" ] || die "no Open-WebUI version: pass --version or set open_webui_version in ${defaults}"
mapfile -t excludes < <(default_list open_webui_pip_exclude)
mapfile -t extras < <(default_list open_webui_pip_extras)
[ "${#excludes[@]}" -gt 0 ] || die "open_webui_pip_exclude is empty in ${defaults}: refusing to build a wheelhouse with torch/CUDA"
command -v "${python}" >/dev/null || die "'${python}' not found: install python3 (same minor version as the target hosts) or pass --python"
"${python}" -m pip --version >/dev/null 2>&1 || die "'${python} -m pip' does not work: install python3-pip"

output="${output:-${repo_root}/.cache/wheelhouse/open-webui}"
output="${output%/}"
py_tag="$("${python}" -c 'import platform; print(f"{platform.python_version()}-{platform.machine()}")')"
stamp="open-webui==${version} python=${py_tag} extras=$(IFS=,; echo "${extras[*]}") exclude=$(IFS=,; echo "${excludes[*]}")"

if [ "${force}" -eq 0 ] && [ -f "${output}/.wheelhouse-stamp" ] && [ -f "${output}/requirements.txt" ] \
  && [ "$(cat "${output}/.wheelhouse-stamp")" = "${stamp}" ]; then
  echo "open_webui_wheelhouse: reusing ${output} (${stamp})"
  exit 0
fi

# pip in isolated mode ignores PIP_* variables and pip.conf files; keep only the CA bundle and
# the index, which a proxied or air-gapped network legitimately needs.
pip_args=(--isolated --disable-pip-version-check --no-input --timeout 120)
cert="${PIP_CERT:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-}}}"
[ -n "${cert}" ] && [ -f "${cert}" ] && pip_args+=(--cert "${cert}")
index_args=()
[ -n "${index_url}" ] && index_args+=(--index-url "${index_url}")

mkdir -p "$(dirname "${output}")"
work="$(mktemp -d "${output}.tmp.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

started=$(date +%s)
echo "open_webui_wheelhouse: building ${output} (${stamp})"
"${python}" -m pip "${pip_args[@]}" download "${index_args[@]}" --no-deps --only-binary=:all: \
  --dest "${work}" "open-webui==${version}" >"${work}.log" 2>&1 \
  || { cat "${work}.log" >&2; rm -f "${work}.log"; die "cannot download open-webui==${version}: check the version and the index (--index-url)"; }
rm -f "${work}.log"

wheel="$(find "${work}" -maxdepth 1 -name "open_webui-${version}-*.whl" | head -n 1)"
[ -n "${wheel}" ] || die "pip did not produce an open-webui ${version} wheel in ${work}"

# requirements.txt = declared dependencies (+ chosen extras) minus the exclusions.
"${python}" - "${wheel}" "$(IFS=,; echo "${extras[*]}")" "$(IFS=,; echo "${excludes[*]}")" \
  >"${work}/requirements.txt" <<'PY'
import re
import sys
import zipfile
from email.parser import Parser

wheel, extras, excludes = sys.argv[1], sys.argv[2], sys.argv[3]


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


extras_set = {norm(e) for e in extras.split(",") if e}
excluded = {norm(e) for e in excludes.split(",") if e}
with zipfile.ZipFile(wheel) as archive:
    meta_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    meta = Parser().parsestr(archive.read(meta_name).decode())
lines = []
for req in meta.get_all("Requires-Dist") or []:
    spec, _, marker = req.partition(";")
    extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
    if extra and norm(extra.group(1)) not in extras_set:
        continue
    name = norm(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec).group(1))
    if name in excluded:
        continue
    rest = re.sub(r"\s*extra\s*==\s*['\"][^'\"]+['\"]\s*(and|or)?\s*", "", marker).strip()
    lines.append(spec.strip() + (f"; {rest}" if rest else ""))
print("\n".join(sorted(set(lines), key=str.lower)))
PY

# `pip wheel` keeps published wheels as they are and builds the few sdist-only packages, so the
# target hosts never need a compiler or build dependencies.
"${python}" -m pip "${pip_args[@]}" wheel "${index_args[@]}" --wheel-dir "${work}" \
  -r "${work}/requirements.txt" >"${work}/build.log" 2>&1 \
  || { tail -n 30 "${work}/build.log" >&2; die "resolving Open-WebUI's dependencies failed (full log above); check the index and Python (${py_tag})"; }
rm -f "${work}/build.log"

# The exclusions must not come back through another dependency.
leaked="$(find "${work}" -maxdepth 1 -name '*.whl' -printf '%f\n' \
  | grep -Ei '^(torch|triton|nvidia_|sentence_transformers|accelerate)[-_]' || true)"
[ -z "${leaked}" ] || die "excluded packages were pulled in by another dependency: ${leaked//$'\n'/ }; extend open_webui_pip_exclude"

echo "${stamp}" >"${work}/.wheelhouse-stamp"
rm -rf "${output}"
mv "${work}" "${output}"
trap - EXIT
echo "open_webui_wheelhouse: ${output}: $(find "${output}" -maxdepth 1 -name '*.whl' | wc -l) wheels, $(du -sh "${output}" | cut -f1), $(($(date +%s) - started)) s"
