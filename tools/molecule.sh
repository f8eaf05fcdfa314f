#!/usr/bin/env bash
# Runs molecule with the project's toolchain and podman settings: tools/molecule.sh <molecule args>
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/.venv/bin:$PATH"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/.cache/containers.conf}"
export ANSIBLE_CONFIG="${ANSIBLE_CONFIG:-$ROOT/ansible.cfg}"
[ -x "$ROOT/.venv/bin/molecule" ] || { echo "molecule: not installed, run 'make setup'" >&2; exit 1; }
[ -f "$CONTAINERS_CONF" ] || { echo "molecule: $CONTAINERS_CONF missing, run 'make testbed'" >&2; exit 1; }
exec molecule "$@"
