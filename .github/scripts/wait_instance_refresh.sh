#!/usr/bin/env bash
# Waits for the newest instance refresh of each Auto Scaling group to finish (deploy workflow).
# Usage: wait_instance_refresh.sh [--timeout SECONDS] ASG_NAME...
# Exit 0: every refresh succeeded (or none was started); 1: a refresh failed, was cancelled or was rolled back
# by its alarms (the ASG already restored the previous launch template); 2: bad usage or timeout.
set -euo pipefail

timeout=3600
if [ "${1:-}" = "--timeout" ]; then timeout="$2"; shift 2; fi
[ $# -gt 0 ] || { echo "usage: $0 [--timeout SECONDS] ASG_NAME..." >&2; exit 2; }
command -v aws >/dev/null || { echo "aws CLI not found: install AWS CLI v2" >&2; exit 2; }

deadline=$(( $(date +%s) + timeout ))
rc=0
for asg in "$@"; do
  while :; do
    read -r status reason < <(aws autoscaling describe-instance-refreshes --auto-scaling-group-name "$asg" \
      --max-records 1 --query 'InstanceRefreshes[0].[Status,StatusReason]' --output text)
    case "$status" in
      None|Successful)
        echo "$asg: instance refresh ${status/None/not started}"; break ;;
      Pending|InProgress|Cancelling|RollbackInProgress|Baking)
        if [ "$(date +%s)" -ge "$deadline" ]; then
          echo "$asg: instance refresh still $status after ${timeout}s: check the ASG's activity in the console" >&2
          exit 2
        fi
        sleep 30 ;;
      *)
        echo "$asg: instance refresh $status (${reason:-no reason given})" >&2
        rc=1; break ;;
    esac
  done
done
exit "$rc"
