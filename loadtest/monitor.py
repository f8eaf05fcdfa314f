"""Scaling validation: read CloudWatch for the ``ollama-*`` resources over a test window.

Reports when scale-out started (the ASG's desired capacity rose) and when the capacity arrived (instances in
service reached the new desired capacity), with ALB request count, latency and 5xx and the platform's in-flight
metric alongside. Requirement 10.5: capacity within 5 minutes (``--limit``).

    python -m loadtest.monitor --environment dev --start -30m [--end now] [--limit 5m] [--json]

Exit status: 0 scale-out met the limit (or none was needed), 1 it did not, 2 bad input / AWS unusable.
CloudWatch publishes the ASG's group metrics per minute and a few minutes late: run this 3-5 minutes after the
test, or pass ``--wait``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from loadtest.naming import resource_name
from loadtest.shapes import parse_duration

INFLIGHT_NAMESPACE = "Ollama"
INFLIGHT_METRIC = "InFlightRequests"
DEFAULT_LIMIT_S = 300.0

Series = list[tuple[float, float]]


class MonitorError(Exception):
    """CloudWatch could not be read; the message says why and what to do."""


def analyze_scaling(
    desired: Series, in_service: Series, load_start: float, end: float, limit_s: float = DEFAULT_LIMIT_S
) -> dict[str, Any]:
    """Find the scale-out events in the desired-capacity series and when each one's capacity was in service.

    An event starts at the first data point where desired capacity exceeds every earlier value; its capacity has
    arrived at the first in-service point at or after it with at least that many instances. The run fails when an
    event took longer than ``limit_s``, or is still short of capacity more than ``limit_s`` after it started.
    """
    desired = sorted(desired)
    in_service = sorted(in_service)
    events: list[dict[str, Any]] = []
    if desired:
        highest = desired[0][1]
        for t, value in desired[1:]:
            if value > highest:
                events.append({"started": t, "from": highest, "to": value})
                highest = value
    for event in events:
        arrived = next((t for t, v in in_service if t >= event["started"] and v >= event["to"]), None)
        event["arrived"] = arrived
        event["seconds"] = None if arrived is None else arrived - event["started"]
        if arrived is not None:
            event["status"] = "ok" if event["seconds"] <= limit_s else "late"
        elif end - event["started"] > limit_s:
            event["status"] = "late"
        else:
            event["status"] = "pending"
    first = events[0] if events else None
    last_arrival = events[-1]["arrived"] if events else None
    if not events:
        verdict = "none"
        text = "No scale-out during the window (desired capacity never rose)."
    elif any(e["status"] == "late" for e in events):
        verdict = "fail"
        text = "Scale-out was too slow: " + "; ".join(_event_text(e, load_start) for e in events)
    elif any(e["status"] == "pending" for e in events):
        verdict = "incomplete"
        text = "Scale-out still in progress at the end of the window: " + "; ".join(
            _event_text(e, load_start) for e in events
        )
    else:
        verdict = "pass"
        text = "Scale-out within the limit: " + "; ".join(_event_text(e, load_start) for e in events)
    return {
        "verdict": verdict,
        "limit_s": limit_s,
        "baseline_desired": desired[0][1] if desired else None,
        "peak_desired": max((v for _, v in desired), default=None),
        "scale_out_started": first["started"] if first else None,
        "capacity_arrived": last_arrival,
        "reaction_s": (first["started"] - load_start) if first else None,
        "time_to_capacity_s": (last_arrival - first["started"]) if first and last_arrival else None,
        "events": events,
        "text": f"{text} (limit {limit_s:.0f} s)",
    }


def _event_text(event: dict[str, Any], load_start: float) -> str:
    start = f"{event['from']:g}->{event['to']:g} at +{event['started'] - load_start:.0f} s"
    if event["arrived"] is None:
        return f"{start}, capacity not in service yet"
    return f"{start}, in service after {event['seconds']:.0f} s"


def _alb_dimension(elbv2: Any, cloudwatch: Any, name: str) -> str | None:
    """The ALB's CloudWatch dimension value ``app/<name>/<id>``."""
    import botocore.exceptions

    try:
        resp = elbv2.describe_load_balancers(Names=[name])
        arn = resp["LoadBalancers"][0]["LoadBalancerArn"]
        return arn.split(":loadbalancer/", 1)[1]
    except (botocore.exceptions.ClientError, KeyError, IndexError):
        # Not found, or no elasticloadbalancing permission: look for the metrics themselves.
        resp = None
    resp = cloudwatch.list_metrics(Namespace="AWS/ApplicationELB", MetricName="RequestCount")
    for metric in resp.get("Metrics", []):
        for dim in metric.get("Dimensions", []):
            if dim["Name"] == "LoadBalancer" and dim["Value"].startswith(f"app/{name}/"):
                return dim["Value"]
    return None


def _queries(asg: str, alb_dim: str | None, period: int) -> list[dict[str, Any]]:
    def q(qid: str, namespace: str, metric: str, dims: dict[str, str], stat: str) -> dict[str, Any]:
        return {
            "Id": qid,
            "MetricStat": {
                "Metric": {
                    "Namespace": namespace,
                    "MetricName": metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                },
                "Period": period,
                "Stat": stat,
            },
            "ReturnData": True,
        }

    group = {"AutoScalingGroupName": asg}
    out = [
        q("desired", "AWS/AutoScaling", "GroupDesiredCapacity", group, "Maximum"),
        q("in_service", "AWS/AutoScaling", "GroupInServiceInstances", group, "Minimum"),
        q("inflight_avg", INFLIGHT_NAMESPACE, INFLIGHT_METRIC, group, "Average"),
        q("inflight_max", INFLIGHT_NAMESPACE, INFLIGHT_METRIC, group, "Maximum"),
    ]
    if alb_dim:
        lb = {"LoadBalancer": alb_dim}
        out += [
            q("alb_requests", "AWS/ApplicationELB", "RequestCount", lb, "Sum"),
            q("alb_latency", "AWS/ApplicationELB", "TargetResponseTime", lb, "Average"),
            q("alb_target_5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", lb, "Sum"),
            q("alb_elb_5xx", "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", lb, "Sum"),
        ]
    return out


def fetch_series(cloudwatch: Any, queries: Sequence[dict[str, Any]], start: float, end: float) -> dict[str, Series]:
    """Run GetMetricData (paginated) and return id -> [(epoch, value)] sorted by time."""
    out: dict[str, Series] = {q["Id"]: [] for q in queries}
    period = min(int(q["MetricStat"]["Period"]) for q in queries)
    start = (start // period) * period  # CloudWatch buckets align to the period; so do our timestamps
    kwargs: dict[str, Any] = {
        "MetricDataQueries": list(queries),
        "StartTime": datetime.datetime.fromtimestamp(start, datetime.UTC),
        "EndTime": datetime.datetime.fromtimestamp(end, datetime.UTC),
        "ScanBy": "TimestampAscending",
    }
    while True:
        resp = cloudwatch.get_metric_data(**kwargs)
        for result in resp.get("MetricDataResults", []):
            points = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
            out[result["Id"]].extend((ts.timestamp(), float(v)) for ts, v in points)
        token = resp.get("NextToken")
        if not token:
            break
        kwargs["NextToken"] = token
    return {k: sorted(v) for k, v in out.items()}


def _stats(series: Series) -> dict[str, Any]:
    values = [v for _, v in series]
    if not values:
        return {"points": 0}
    return {"points": len(values), "min": min(values), "max": max(values), "sum": sum(values)}


def check_scaling(
    environment: str,
    start: float,
    end: float,
    limit_s: float = DEFAULT_LIMIT_S,
    region: str | None = None,
    asg: str | None = None,
    alb: str | None = None,
    period: int = 60,
    session: Any = None,
) -> dict[str, Any]:
    """Read CloudWatch for the environment's ASG and ALB over [start, end] and analyse the scale-out."""
    if end <= start:
        raise MonitorError("the window is empty: --end must be after --start")
    try:
        asg = asg or resource_name("asg", environment)
        alb = alb or resource_name("alb", environment)
    except ValueError as exc:
        raise MonitorError(str(exc)) from exc
    import boto3
    import botocore.exceptions

    session = session or boto3.session.Session(region_name=region)
    try:
        cloudwatch = session.client("cloudwatch")
        alb_dim = _alb_dimension(session.client("elbv2"), cloudwatch, alb)
        series = fetch_series(cloudwatch, _queries(asg, alb_dim, period), start, end)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise MonitorError(f"cannot read CloudWatch for {asg}/{alb}: {exc} (check credentials and region)") from exc
    if not series["desired"]:
        raise MonitorError(
            f"no GroupDesiredCapacity data for {asg} between {_iso(start)} and {_iso(end)}: check the environment, "
            "that group metrics are enabled, and wait a few minutes after the test (CloudWatch lags)"
        )
    result = analyze_scaling(series["desired"], series["in_service"], start, end, limit_s)
    result.update(
        {
            "environment": environment,
            "asg": asg,
            "alb": alb,
            "alb_dimension": alb_dim,
            "window": {"start": _iso(start), "end": _iso(end)},
            "metrics": {k: _stats(v) for k, v in series.items()},
            "series": {k: [[t, v] for t, v in s] for k, s in series.items()},
        }
    )
    if alb_dim is None:
        result["text"] += f" ALB {alb} not found: request count, latency and 5xx were not read."
    return result


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str, now: float | None = None) -> float:
    """``now``, ``-30m`` (relative), epoch seconds, or ISO 8601 (``2026-11-26T08:00:00Z``)."""
    now = time.time() if now is None else now
    raw = text.strip()
    if raw == "now":
        return now
    if raw.startswith("-"):
        return now - parse_duration(raw[1:])
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        parsed = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"invalid time {text!r}: use now, -30m, epoch seconds or 2026-11-26T08:00:00Z") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.monitor", description=__doc__.splitlines()[0])
    parser.add_argument("--environment", required=True, help="local, dev, staging or production")
    parser.add_argument("--start", required=True, help="window start: -30m, epoch or ISO 8601")
    parser.add_argument("--end", default="now")
    parser.add_argument("--limit", default="5m", help="longest acceptable scale-out (requirement 10.5: 5m)")
    parser.add_argument("--asg", default="", help="override the ASG name (default ollama[-env]-asg)")
    parser.add_argument("--alb", default="", help="override the ALB name (default ollama[-env]-alb)")
    parser.add_argument("--region", default=None)
    parser.add_argument("--period", type=int, default=60)
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = parser.parse_args(argv)
    try:
        start, end = parse_time(args.start), parse_time(args.end)
        limit = parse_duration(args.limit)
        result = check_scaling(
            args.environment, start, end, limit, args.region, args.asg or None, args.alb or None, args.period
        )
    except (ValueError, MonitorError) as exc:
        print(f"loadtest.monitor: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1) if args.json else result["text"])
    return 1 if result["verdict"] == "fail" else 0


if __name__ == "__main__":
    sys.exit(main())
