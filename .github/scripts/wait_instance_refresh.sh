#!/usr/bin/env bash
# Waits for the newest instance refresh of each Auto Scaling group to finish (deploy workflow).
# Usage: wait_instance_refresh.sh [--timeout SECONDS] ASG_NAME...
# Exit 0: every refresh succeeded (or none was started); 1: a refresh failed, was cancelled or was rolled back
# by its alarms (the ASG already restored the previous launch template); 2: bad usage or timeout.
# Env: POLL_SECONDS (default 30) between two reads of a refresh still in progress.
set -euo pipefail

timeout=3600
poll="${POLL_SECONDS:-30}"
if [ "${1:-}" = "--timeout" ]; then timeout="${2:-}"; shift 2 || true; fi
[[ "$timeout" =~ ^[0-9]+$ ]] || { echo "--timeout needs a number of seconds, got '$timeout'" >&2; exit 2; }
[ $# -gt 0 ] || { echo "usage: $0 [--timeout SECONDS] ASG_NAME..." >&2; exit 2; }
command -v aws >/dev/null || { echo "aws CLI not found: install AWS CLI v2" >&2; exit 2; }

deadline=$(( $(date +%s) + timeout ))
rc=0
for asg in "$@"; do
  while :; do
    out="$(aws autoscaling describe-instance-refreshes --auto-scaling-group-name "$asg" \
      --max-records 1 --query 'InstanceRefreshes[0].[Status,StatusReason]' --output text)" \
      || { echo "$asg: cannot read its instance refreshes (see the AWS CLI error above)" >&2; exit 2; }
    read -r status reason <<<"$out"
    case "$status" in
      None|Successful)
        echo "$asg: instance refresh ${status/None/not started}"; break ;;
      Pending|InProgress|Cancelling|RollbackInProgress|Baking)
        if [ "$(date +%s)" -ge "$deadline" ]; then
          echo "$asg: instance refresh still $status after ${timeout}s: check the ASG's activity in the console" >&2
          exit 2
        fi
        sleep "$poll" ;;
      *)
        echo "$asg: instance refresh $status (${reason:-no reason given})" >&2
        rc=1; break ;;
    esac
  done
done
exit "$rc"
