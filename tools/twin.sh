#!/usr/bin/env bash
# The local twin: the AWS emulator plays AWS, systemd-booted podman containers play the instances.
#
# Usage: tools/twin.sh up      start the emulator and the twin's controller (idempotent); then run
#                              .venv/bin/ansible-playbook site.yml -i inventories/local
#        tools/twin.sh down    stop the controller and its proxies, remove the instances' containers and the
#                              network, stop the emulator
#        tools/twin.sh test    up, site.yml twice (the second run must report changed=0 on every host), down
#        tools/twin.sh status
# Two regions: the primary (us-east-1) on the emulator's port, and the DR region (us-west-2) with its own controller,
# network (10.214.0.0/16) and load balancers (100 ports above the primary's). The region front on the next port
# (tools/twin/regions.py) serves both regions from the one emulator, logs every request per region and can take a
# region down: playbooks/dr.yml runs through it (OLLAMA_TWIN_AWS_PORT=<front port>), as the DR scenario does.
# Env:   OLLAMA_TWIN_AWS_PORT     emulator port (default 4566); inventories/local reads the same variable.
#        OLLAMA_TWIN_SUBNET       the twin's VPC range (default 10.213.0.0/16), a podman network of the same range.
#        OLLAMA_TWIN_TIME_SCALE   AWS's timeouts (lifecycle hooks, health checks, grace periods, warm-up, delays)
#                                 multiplied by this (default 0.2); the emulator's clock, on which scheduled actions
#                                 run, goes 1/scale times faster (it starts at the beginning of a working day: the
#                                 night stop comes after 12 h of that clock, 144 real minutes).
#        OLLAMA_TWIN_HEARTBEAT_TIME_SCALE  the launch hooks' heartbeat timeouts multiplied by this (default 0.5: a
#                                 600 s frontend heartbeat is 300 s). Instances boot at real speed: 66-92 s on two
#                                 cores alone, over 120 s with the other test stages running beside the twin.
#        OLLAMA_TWIN_FRONT_PORT   the region front's port (default: the emulator's port + 1).
# Ports: 1338 instance metadata (on the twin network only; 1339 in the DR region); the load balancers' proxies on the
#        ports of tools/twin/controller.py LOAD_BALANCER_PORTS (Open-WebUI 18080, the authenticated Ollama API 18000).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="$ROOT/.cache/twin"
PORT="${OLLAMA_TWIN_AWS_PORT:-4566}"
SUBNET="${OLLAMA_TWIN_SUBNET:-10.213.0.0/16}"
TIME_SCALE="${OLLAMA_TWIN_TIME_SCALE:-0.2}"
HEARTBEAT_TIME_SCALE="${OLLAMA_TWIN_HEARTBEAT_TIME_SCALE:-0.5}"
FRONT_PORT="${OLLAMA_TWIN_FRONT_PORT:-$((PORT + 1))}"
NETWORK=ollama-twin
PRIMARY_REGION=us-east-1
DR_REGION=us-west-2
DR_NETWORK=ollama-twin-us-west-2
PYTHON="$ROOT/.venv/bin/python"
PLAYBOOK="$ROOT/.venv/bin/ansible-playbook"
IMAGE="localhost/ollama-platform/debian12-cloud:latest"
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
  # The twin's key pair: the data host and the image builders accept it (fleet instances launch without one).
  if [ ! -f "$STATE_DIR/ssh/id_ed25519" ]; then
    install -d -m 0700 "$STATE_DIR/ssh"
    ssh-keygen -q -t ed25519 -N "" -C ollama-twin -f "$STATE_DIR/ssh/id_ed25519"
  fi
  local fresh=0
  "$PYTHON" "$ROOT/tools/aws_emulator.py" status --state-dir "$STATE_DIR" >/dev/null 2>&1 || fresh=1
  # Containers reach the emulator on the host through the twin network's gateway, so it binds every address.
  "$PYTHON" "$ROOT/tools/aws_emulator.py" start --host 0.0.0.0 --port "$PORT" --state-dir "$STATE_DIR" \
      --lifecycle-time-scale "$TIME_SCALE" --heartbeat-time-scale "$HEARTBEAT_TIME_SCALE" --images-pending >/dev/null \
    || die "the AWS emulator did not start on port $PORT: is the port taken? set OLLAMA_TWIN_AWS_PORT to a free port"
  if [ "$fresh" -eq 1 ]; then
    # The stack creates terraform/scaling.tf's night stop and morning start; they run on the emulator's compressed
    # clock. A new emulator's clock starts at the beginning of a working day, so a whole run (about 45 minutes real)
    # stays inside it and the schedule only acts when a scenario moves the clock (tools/twin/scaling.py).
    (cd "$ROOT" && "$PYTHON" -m tools.twin.scaling start-clock --endpoint "http://127.0.0.1:$PORT" >/dev/null) \
      || die "could not set the AWS emulator's clock to the start of a working day (see above)"
  fi
  command -v haproxy >/dev/null || die "haproxy not found: run 'make setup' first"
  start_process "$STATE_DIR" controller -m tools.twin.controller run --endpoint "http://127.0.0.1:$PORT" \
      --state-dir "$STATE_DIR" --region "$PRIMARY_REGION" --network "$NETWORK" --subnet "$SUBNET" \
      --time-scale "$TIME_SCALE"
  # The DR region's Auto Scaling and load balancers: idle until a DR stack is built there.
  start_process "$STATE_DIR/$DR_REGION" controller -m tools.twin.controller run --endpoint "http://127.0.0.1:$PORT" \
      --state-dir "$STATE_DIR/$DR_REGION" --region "$DR_REGION" --time-scale "$TIME_SCALE"
  start_process "$STATE_DIR/regions" front -m tools.twin.regions serve --host 0.0.0.0 --port "$FRONT_PORT" \
      --region "$PRIMARY_REGION=http://127.0.0.1:$PORT" --region "$DR_REGION=http://127.0.0.1:$PORT" \
      --log-dir "$STATE_DIR/regions/log" --pid-file "$STATE_DIR/regions/front.pid"
  log "AWS emulator on http://127.0.0.1:$PORT ($PRIMARY_REGION and $DR_REGION; region front on port $FRONT_PORT)," \
      "controllers running; next: .venv/bin/ansible-playbook site.yml -i inventories/local"
}

# process_pid DIR NAME: the pid of the twin's process NAME (its DIR/NAME.pid), when it runs.
process_pid() {
  local pid
  pid="$(cat "$1/$2.pid" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# start_process DIR NAME ARGS...: run python ARGS in the background (log DIR/NAME.log) unless it runs; it writes
# DIR/NAME.pid itself once it serves.
start_process() {
  local dir="$1" name="$2" waited=0
  shift 2
  mkdir -p "$dir"
  [ -z "$(process_pid "$dir" "$name")" ] || return 0
  (cd "$ROOT" && exec setsid "$PYTHON" "$@" >>"$dir/$name.log" 2>&1 </dev/null &)
  until [ -n "$(process_pid "$dir" "$name")" ]; do
    sleep 1; waited=$((waited + 1))
    [ "$waited" -lt 30 ] || die "the twin's $name did not start: see ${dir#"$ROOT"/}/$name.log (a port in use?" \
        "set OLLAMA_TWIN_AWS_PORT or OLLAMA_TWIN_FRONT_PORT to free ones, or stop what holds it)"
  done
}

# stop_process DIR NAME
stop_process() {
  local pid waited=0
  pid="$(process_pid "$1" "$2" || true)"
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 20 ]; do sleep 1; waited=$((waited + 1)); done
  kill -9 "$pid" 2>/dev/null || true
}

cmd_down() {
  local names network
  stop_process "$STATE_DIR/regions" front
  stop_process "$STATE_DIR/$DR_REGION" controller
  stop_process "$STATE_DIR" controller
  names="$(podman ps -aq --filter label=ollama-twin=1 2>/dev/null || true)"
  # shellcheck disable=SC2086 # one id per word
  [ -z "$names" ] || podman rm -f -t 5 $names >/dev/null || log "removing the twin's containers failed (see above)"
  for network in "$NETWORK" "$DR_NETWORK"; do
    if podman network exists "$network" 2>/dev/null; then podman network rm -f "$network" >/dev/null || true; fi
  done
  podman images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/ollama-platform/ami:' | xargs -r podman rmi -f >/dev/null 2>&1 || true
  "$PYTHON" "$ROOT/tools/aws_emulator.py" stop --state-dir "$STATE_DIR" >/dev/null 2>&1 || true
  rm -rf "$STATE_DIR/outputs.json" "$STATE_DIR/foundation.json" "$STATE_DIR/events.jsonl" "$STATE_DIR/proxy" \
      "${STATE_DIR:?}/${DR_REGION:?}" "$STATE_DIR/regions"
  log "twin removed"
}

# status_of DIR NAME LABEL
status_of() {
  if [ -n "$(process_pid "$1" "$2")" ]; then log "$3 running (pid $(process_pid "$1" "$2"))"; else log "$3 stopped"; fi
}

cmd_status() {
  "$PYTHON" "$ROOT/tools/aws_emulator.py" status --state-dir "$STATE_DIR" || true
  status_of "$STATE_DIR" controller "controller of $PRIMARY_REGION"
  status_of "$STATE_DIR/$DR_REGION" controller "controller of $DR_REGION"
  status_of "$STATE_DIR/regions" front "region front on port $FRONT_PORT"
  podman ps -a --filter label=ollama-twin=1 --format '{{.Names}} {{.Status}} {{index .Labels "ollama-twin-region"}} {{index .Labels "ollama-twin-role"}}'
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
  fi
  local scenarios=0
  echo "twin: scenarios on the running twin (tests/twin/scenarios)"
  # xunit1: the report keeps each scenario's measured values (record_property), listed after the run.
  if "$ROOT/.venv/bin/pytest" -p no:cacheprovider -m twin -o junit_family=xunit1 \
      --junitxml="$ROOT/reports/twin-scenarios.xml" "$ROOT/tests/twin/scenarios"; then
    scenarios=1
  else
    rc=1
  fi
  "$PYTHON" - "$ROOT/reports/twin-scenarios.xml" <<'PY' || true
import sys
import xml.etree.ElementTree as ET

for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    for prop in case.iter("property"):
        print(f"twin: measured {case.get('name')[:60]}: {prop.get('name')} = {prop.get('value')}")
PY
  if [ "$rc" -eq 0 ]; then
    echo "twin: PASSED - site.yml converged in ${first}s, second run changed=0 on every host in ${second}s, scenarios passed"
  elif [ "$scenarios" -eq 0 ]; then
    echo "twin: FAILED - scenarios failed (reports/twin-scenarios.xml)"
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
