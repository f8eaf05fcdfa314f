"""Store load-test summaries in the platform's DynamoDB table and compare a run with the previous one.

Items live in ``<prefix>-data-table`` (``ollama-data-table`` in production) under ``pk = LOADTEST#<environment>``
and ``sk = <UTC time>#<run id>``; the previous run is the newest item with the same scenario, shape, users and
model. ``python -m loadtest.store --environment dev --show`` lists the stored runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import uuid
from decimal import Decimal
from typing import Any

from loadtest.naming import resource_name

# metric -> (how to read it from a compact record, True when higher is better)
COMPARED: dict[str, bool] = {
    "ttft_p50_ms": False,
    "ttft_p95_ms": False,
    "tpot_p50_ms": False,
    "tpot_p95_ms": False,
    "itl_p99_ms": False,
    "e2e_p95_ms": False,
    "output_token_throughput": True,
    "request_throughput": True,
    "goodput_ratio": True,
    "error_rate": False,
}
DEFAULT_REGRESSION_PCT = 10.0


class StoreError(Exception):
    """DynamoDB could not be used; the message says why and what to do."""


def table_name(environment: str) -> str:
    """The platform's data table of an environment."""
    return resource_name("data-table", environment)


def _ms(stats: dict[str, Any], key: str) -> float | None:
    value = stats.get(key)
    return None if value is None else value * 1000.0


def compact(summary: dict[str, Any]) -> dict[str, Any]:
    """The part of a summary worth keeping as a baseline (a few hundred bytes)."""
    steady = summary["steady"]
    cfg = summary["config"]
    return {
        "run_start": summary["run"]["start"],
        "environment": cfg.get("environment"),
        "scenario": cfg.get("scenario"),
        "shape": cfg.get("shape"),
        "users": cfg.get("users"),
        "model": cfg.get("model"),
        "host": cfg.get("host"),
        "trusted": summary["trust"]["trusted"],
        "verdict": summary.get("verdict", {}).get("text"),
        "window_s": summary["window"]["duration_s"],
        "requests": steady["requests"],
        "metrics": {
            "ttft_p50_ms": _ms(steady["ttft"], "p50"),
            "ttft_p95_ms": _ms(steady["ttft"], "p95"),
            "tpot_p50_ms": _ms(steady["tpot"], "p50"),
            "tpot_p95_ms": _ms(steady["tpot"], "p95"),
            "itl_p99_ms": _ms(steady["itl"], "p99"),
            "e2e_p95_ms": _ms(steady["e2e"], "p95"),
            "output_token_throughput": steady["output_token_throughput"],
            "request_throughput": steady["request_throughput"],
            "goodput_ratio": steady["goodput"]["ratio"],
            "error_rate": steady["error_rate"],
        },
    }


def same_setup(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Runs are comparable when scenario, shape, users and model match."""
    return all(a.get(k) == b.get(k) for k in ("scenario", "shape", "users", "model"))


def compare(previous: dict[str, Any], summary: dict[str, Any], threshold_pct: float = DEFAULT_REGRESSION_PCT) -> dict:
    """Compare the current run with a previous compact record; a change worse than ``threshold_pct`` regresses.

    Error rate is compared in percentage points (its relative change from 0 is undefined).
    """
    current = compact(summary)
    rows = []
    for metric, higher_better in COMPARED.items():
        before = previous["metrics"].get(metric)
        now = current["metrics"].get(metric)
        change = None
        regression = False
        if before is not None and now is not None:
            if metric == "error_rate":
                change = (now - before) * 100.0
                regression = change > threshold_pct / 10.0  # 10 % threshold -> +1 percentage point
            elif before != 0:
                change = (now - before) / abs(before) * 100.0
                regression = (-change if higher_better else change) > threshold_pct
        rows.append(
            {"metric": metric, "previous": before, "current": now, "change_pct": change, "regression": regression}
        )
    return {
        "previous_run": datetime.datetime.fromtimestamp(previous["run_start"], datetime.UTC).isoformat(),
        "threshold_pct": threshold_pct,
        "metrics": rows,
    }


def regressions(comparison: dict[str, Any] | None, limit_pct: float | None) -> list[dict[str, Any]]:
    """Rows that regressed by more than ``limit_pct`` (or the comparison's own threshold)."""
    if not comparison:
        return []
    if limit_pct is None:
        return [r for r in comparison["metrics"] if r["regression"]]
    out = []
    for row in comparison["metrics"]:
        change = row["change_pct"]
        if change is None:
            continue
        worse = -change if COMPARED[row["metric"]] else change
        limit = limit_pct / 10.0 if row["metric"] == "error_rate" else limit_pct
        if worse > limit:
            out.append(row)
    return out


def _client(region: str | None) -> Any:
    import boto3

    return boto3.client("dynamodb", region_name=region)


def _errors() -> tuple[type[BaseException], ...]:
    import botocore.exceptions

    return (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


def _explain(exc: BaseException, table: str) -> StoreError:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
    if code == "ResourceNotFoundException":
        return StoreError(f"DynamoDB table {table} does not exist: deploy the environment first or pass --table")
    return StoreError(f"DynamoDB table {table}: {code}: {exc} (check AWS credentials, region and permissions)")


def put_summary(table: str, summary: dict[str, Any], region: str | None = None, client: Any = None) -> dict[str, str]:
    """Store the compact record of a run; return its key."""
    record = compact(summary)
    start = datetime.datetime.fromtimestamp(record["run_start"], datetime.UTC)
    key = {
        "pk": f"LOADTEST#{record['environment']}",
        "sk": f"{start.strftime('%Y-%m-%dT%H:%M:%SZ')}#{uuid.uuid4().hex[:8]}",
    }
    item = {
        "pk": {"S": key["pk"]},
        "sk": {"S": key["sk"]},
        "kind": {"S": "loadtest"},
        "scenario": {"S": str(record["scenario"])},
        "verdict": {"S": str(record["verdict"])},
        "record": {"S": json.dumps(record)},
    }
    for metric, value in record["metrics"].items():
        if value is not None:
            item[metric] = {"N": str(Decimal(str(round(value, 6))))}
    try:
        (client or _client(region)).put_item(TableName=table, Item=item)
    except _errors() as exc:
        raise _explain(exc, table) from exc
    return key


def list_records(table: str, environment: str, region: str | None = None, client: Any = None, limit: int = 50) -> list:
    """Newest first: the compact records stored for an environment."""
    try:
        resp = (client or _client(region)).query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"LOADTEST#{environment}"}},
            ScanIndexForward=False,
            Limit=limit,
        )
    except _errors() as exc:
        raise _explain(exc, table) from exc
    return [json.loads(item["record"]["S"]) for item in resp.get("Items", []) if "record" in item]


def previous_summary(
    table: str, summary: dict[str, Any], region: str | None = None, client: Any = None
) -> dict[str, Any] | None:
    """The newest stored run of the same environment and setup, or None."""
    current = compact(summary)
    for record in list_records(table, str(current["environment"]), region=region, client=client):
        if same_setup(record, current) and record["run_start"] != current["run_start"]:
            return record
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.store", description="Store or list load-test runs.")
    parser.add_argument("--environment", required=True)
    parser.add_argument("--table", default="")
    parser.add_argument("--region", default=None)
    parser.add_argument("--put", default="", help="summary.json to store")
    parser.add_argument("--show", action="store_true", help="list stored runs (newest first)")
    args = parser.parse_args(argv)
    try:
        table = args.table or table_name(args.environment)
        if args.put:
            with open(args.put) as handle:
                print(json.dumps(put_summary(table, json.load(handle), region=args.region)))
        if args.show or not args.put:
            for record in list_records(table, args.environment, region=args.region):
                print(json.dumps(record))
    except (StoreError, ValueError, OSError) as exc:
        print(f"loadtest.store: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
