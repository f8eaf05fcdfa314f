#!/usr/bin/env bash
# Installs what the project needs on a Debian/Ubuntu machine: system packages and the pinned virtualenvs, and AWS's
# Session Manager plugin when SSM_PLUGIN_DEB names its .deb (a file or an https URL; SSM_PLUGIN_SHA256 optional).
# Idempotent: a second run only checks. Usage: tools/bootstrap.sh [--no-apt] [--only-ssm-plugin]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
APT_PACKAGES=(podman runc debootstrap uidmap slirp4netns fuse-overlayfs containernetworking-plugins
  zstd openssh-client iproute2 curl ca-certificates python3 python3-venv python3-pip git make shellcheck haproxy
  chromium lynis)

die() { echo "bootstrap: $*" >&2; exit 1; }

install_apt() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "apt-get not found: this needs a Debian or Ubuntu machine (or install ${missing[*]} yourself and pass --no-apt)"
  [ "$(id -u)" -eq 0 ] || die "installing ${missing[*]} needs root: run as root, or install them and pass --no-apt"
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed: check that the Debian mirror in /etc/apt/sources.list answers"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed: see the apt output above"
  # The twin runs its own haproxy process and configuration (tools/twin/proxy.py), never the system service.
  if [[ " ${missing[*]} " == *" haproxy "* ]]; then
    systemctl disable --now haproxy >/dev/null 2>&1 || true
  fi
}

# install_ssm_plugin: the Session Manager plugin the amazon.aws.aws_ssm connection runs, from the .deb the user
# supplies (AWS publishes it, for example .../plugin/latest/ubuntu_64bit/session-manager-plugin.deb). Nothing when
# SSM_PLUGIN_DEB is unset; playbooks/preflight.yml then reports it missing for inventories that connect over SSM.
install_ssm_plugin() {
  local src="${SSM_PLUGIN_DEB:-}" deb package
  [ -n "$src" ] || return 0
  if command -v session-manager-plugin >/dev/null; then
    echo "bootstrap: session-manager-plugin already installed ($(command -v session-manager-plugin))"
    return 0
  fi
  case "$src" in
    https://*)
      deb="$(mktemp --suffix=.deb)"
      # shellcheck disable=SC2064 # expand now: the path is local to this function
      trap "rm -f '$deb'" EXIT
      curl -fsSL --proto '=https' --retry 3 -o "$deb" "$src" \
        || die "cannot download SSM_PLUGIN_DEB=$src: check the URL, or download the .deb and pass its path"
      ;;
    *://*) die "SSM_PLUGIN_DEB=$src: give a local .deb file or an https:// URL" ;;
    *)
      [ -f "$src" ] || die "SSM_PLUGIN_DEB=$src is not a file: download session-manager-plugin.deb and pass its path"
      deb="$src"
      ;;
  esac
  if [ -n "${SSM_PLUGIN_SHA256:-}" ]; then
    echo "${SSM_PLUGIN_SHA256}  $deb" | sha256sum --check --status \
      || die "SSM_PLUGIN_DEB=$src does not match SSM_PLUGIN_SHA256: download it again from AWS"
  fi
  package="$(dpkg-deb --field "$deb" Package 2>/dev/null)" \
    || die "SSM_PLUGIN_DEB=$src is not a .deb package: give AWS's session-manager-plugin.deb"
  [ "$package" = "session-manager-plugin" ] \
    || die "SSM_PLUGIN_DEB=$src holds package '$package', not session-manager-plugin"
  [ "$(id -u)" -eq 0 ] || die "installing the Session Manager plugin needs root: run make setup as root"
  echo "bootstrap: installing the Session Manager plugin from $src"
  dpkg -i "$deb" >/dev/null || die "dpkg -i $src failed: see the output above"
  command -v session-manager-plugin >/dev/null \
    || die "session-manager-plugin is still not on PATH after installing $src: add /usr/local/bin to PATH"
}

# make_venv DIR REQUIREMENTS: (re)creates DIR when REQUIREMENTS changed since the last install.
make_venv() {
  local dir="$1" req="$2" stamp="$1/.requirements.sha256" want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PYTHON is older than 3.11: install Python 3.11+ or set PYTHON=/path/to/python3.11"
  echo "bootstrap: installing $req into ${dir#"$ROOT"/}"
  [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir" || die "python3 -m venv failed: install python3-venv"
  "$dir/bin/pip" install -q --upgrade pip >/dev/null
  # From the project root: requirements.txt installs the repository's own packages by relative path (./packages/...).
  (cd "$ROOT" && "$dir/bin/pip" install -q -r "$req") 2> >(grep -v "^WARNING: Location" >&2) \
    || die "pip install -r $req failed: check that PyPI (or PIP_INDEX_URL) answers"
  echo "$want" >"$stamp"
}

main() {
  if [ "${1:-}" = "--only-ssm-plugin" ]; then
    install_ssm_plugin
    echo "bootstrap: ok"
    return 0
  fi
  [ "${1:-}" = "--no-apt" ] || install_apt
  for tool in podman debootstrap; do
    command -v "$tool" >/dev/null || die "$tool not found: run tools/bootstrap.sh as root without --no-apt, or install it"
  done
  make_venv "$ROOT/.venv" "$ROOT/requirements.txt"
  make_venv "$ROOT/.venv-checkov" "$ROOT/requirements-checkov.txt"
  install_ssm_plugin
  command -v terraform >/dev/null \
    || echo "bootstrap: warning: terraform not found; the Terraform checks need terraform >= 1.6 on PATH" >&2
  echo "bootstrap: ok"
}

main "$@"
