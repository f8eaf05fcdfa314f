#!/usr/bin/env bash
# The local twin: the AWS emulator plays AWS, systemd-booted podman containers play the instances.
#
# Usage: tools/twin.sh up      start the emulator for the twin (idempotent); then run
#                              .venv/bin/ansible-playbook site.yml -i inventories/local
#        tools/twin.sh down    remove the twin's containers and network, stop its emulator
#        tools/twin.sh test    up, site.yml twice (the second run must report changed=0 on every host), down
#        tools/twin.sh status
# Env:   OLLAMA_TWIN_AWS_PORT  emulator port (default 4566); inventories/local reads the same variable.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="$ROOT/.cache/twin"
PORT="${OLLAMA_TWIN_AWS_PORT:-4566}"
PYTHON="$ROOT/.venv/bin/python"
PLAYBOOK="$ROOT/.venv/bin/ansible-playbook"
IMAGE="localhost/ollama-platform/debian12:latest"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/.cache/containers.conf}"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"

die() { echo "twin: $*" >&2; exit 1; }
log() { echo "twin: $*"; }

check_prerequisites() {
  [ -x "$PYTHON" ] || die ".venv is missing: run 'make setup' first"
  command -v podman >/dev/null || die "podman not found: run 'make setup' first"
  [ -f "$CONTAINERS_CONF" ] || die "$CONTAINERS_CONF is missing: run 'make testbed' first"
  podman image exists "$IMAGE" || die "image $IMAGE not found: run 'make testbed' first"
  [ -f "$ROOT/.cache/ollama-release/ollama-linux-amd64.tgz" ] \
    || die "the Ollama release archive is missing in .cache/ollama-release: run 'make testbed' first"
  [ -d "$ROOT/.cache/wheelhouse/open-webui" ] \
    || die "the Open-WebUI wheelhouse is missing in .cache/wheelhouse/open-webui: run 'make testbed' first"
}

cmd_up() {
  check_prerequisites
  mkdir -p "$STATE_DIR"
  # Containers reach the emulator on the host through the twin network's gateway, so it binds every address.
  "$PYTHON" "$ROOT/tools/aws_emulator.py" start --host 0.0.0.0 --port "$PORT" --state-dir "$STATE_DIR" >/dev/null \
    || die "the AWS emulator did not start on port $PORT: is the port taken? set OLLAMA_TWIN_AWS_PORT to a free port"
  log "AWS emulator on http://127.0.0.1:$PORT; next: .venv/bin/ansible-playbook site.yml -i inventories/local"
}

cmd_down() {
  "$PYTHON" "$ROOT/tools/twin_fleet.py" down >/dev/null || log "removing the twin's containers failed (see above)"
  "$PYTHON" "$ROOT/tools/aws_emulator.py" stop --state-dir "$STATE_DIR" >/dev/null 2>&1 || true
  rm -f "$STATE_DIR/outputs.json"
  log "twin removed"
}

cmd_status() {
  "$PYTHON" "$ROOT/tools/aws_emulator.py" status --state-dir "$STATE_DIR" || true
  "$PYTHON" "$ROOT/tools/twin_fleet.py" status
}

# changed_counts LOG: prints "host changed=N" for every host of the PLAY RECAP in LOG.
changed_counts() {
  sed -n '/^PLAY RECAP/,$p' "$1" | grep -E 'changed=[0-9]+' | sed -E 's/^([^ ]+) +: .*changed=([0-9]+).*/\1 changed=\2/'
}

cmd_test() {
  local started first second logs="$STATE_DIR/logs" rc=0
  started=$(date +%s)
  mkdir -p "$logs"
  trap 'cmd_down >/dev/null 2>&1 || true' EXIT
  cmd_up
  cd "$ROOT"
  if ! "$PLAYBOOK" site.yml -i inventories/local 2>&1 | tee "$logs/site-1.log"; then
    echo "twin: FAILED - first site.yml run failed after $(( $(date +%s) - started ))s (log: ${logs#"$ROOT"/}/site-1.log)"
    return 1
  fi
  first=$(( $(date +%s) - started ))
  if ! "$PLAYBOOK" site.yml -i inventories/local 2>&1 | tee "$logs/site-2.log"; then
    echo "twin: FAILED - second site.yml run failed (log: ${logs#"$ROOT"/}/site-2.log)"
    return 1
  fi
  second=$(( $(date +%s) - started - first ))
  local changed
  changed="$(changed_counts "$logs/site-2.log" | grep -v ' changed=0$' || true)"
  if [ -n "$changed" ]; then
    echo "twin: FAILED - the second run changed something: $(echo "$changed" | tr '\n' ' ')(log: ${logs#"$ROOT"/}/site-2.log)"
    rc=1
  elif [ -z "$(changed_counts "$logs/site-2.log")" ]; then
    echo "twin: FAILED - no PLAY RECAP in the second run (log: ${logs#"$ROOT"/}/site-2.log)"
    rc=1
  else
    echo "twin: PASSED - site.yml converged in ${first}s, second run changed=0 on every host in ${second}s"
  fi
  return "$rc"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  test) cmd_test ;;
  *) die "usage: tools/twin.sh up|down|test|status" ;;
esac
