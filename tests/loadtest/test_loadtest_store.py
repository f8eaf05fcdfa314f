"""Run summaries stored in the environment's DynamoDB table and compared with the previous run."""

from __future__ import annotations

import boto3
import pytest

from loadtest import store


def summary(start, ttft_p50=0.2, throughput=100.0, error_rate=0.0, users=10, scenario="chat"):
    stats = {"p50": ttft_p50, "p95": ttft_p50 * 1.5}
    return {
        "config": {"environment": "dev", "scenario": scenario, "shape": "constant", "users": users, "model": "m"},
        "run": {"start": start},
        "window": {"duration_s": 60.0},
        "trust": {"trusted": True},
        "verdict": {"text": "PASS"},
        "steady": {
            "requests": 100,
            "ttft": stats,
            "tpot": {"p50": 0.05, "p95": 0.06},
            "itl": {"p99": 0.07},
            "e2e": {"p95": 3.0},
            "output_token_throughput": throughput,
            "request_throughput": 2.0,
            "goodput": {"ratio": 1.0},
            "error_rate": error_rate,
        },
    }


@pytest.fixture
def table(aws):
    name = store.table_name("dev")
    boto3.client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
    )
    return name


def test_table_name_follows_the_naming_rule():
    assert store.table_name("production") == "ollama-data-table"
    assert store.table_name("dev") == "ollama-dev-data-table"


def test_store_and_compare_with_previous_run(table):
    first = summary(1_700_000_000.0)
    key = store.put_summary(table, first)
    assert key["pk"] == "LOADTEST#dev"
    store.put_summary(table, summary(1_700_000_500.0, users=50))  # other setup: not a baseline for 10 users
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": key["pk"]}, "sk": {"S": key["sk"]}})
    assert item["Item"]["ttft_p50_ms"]["N"] == "200.0"

    current = summary(1_700_001_000.0, ttft_p50=0.25, throughput=95.0, error_rate=0.02)
    previous = store.previous_summary(table, current)
    assert previous["run_start"] == 1_700_000_000.0
    comparison = store.compare(previous, current)
    rows = {r["metric"]: r for r in comparison["metrics"]}
    assert rows["ttft_p50_ms"]["change_pct"] == pytest.approx(25.0)
    assert rows["ttft_p50_ms"]["regression"]
    assert rows["output_token_throughput"]["change_pct"] == pytest.approx(-5.0)
    assert not rows["output_token_throughput"]["regression"]
    assert rows["error_rate"]["change_pct"] == pytest.approx(2.0)  # percentage points
    assert rows["error_rate"]["regression"]
    assert store.regressions(comparison, 30.0) == []  # 30 % allows +3 percentage points of errors
    assert {r["metric"] for r in store.regressions(comparison, 4.0)} == {
        "ttft_p50_ms",
        "ttft_p95_ms",
        "output_token_throughput",
        "error_rate",
    }


def test_first_run_has_no_baseline(table):
    assert store.previous_summary(table, summary(1.0)) is None


def test_missing_table_is_a_clear_error(aws):
    with pytest.raises(store.StoreError, match="ollama-staging-data-table does not exist"):
        store.put_summary("ollama-staging-data-table", summary(1.0))


def test_runner_stores_compares_and_fails_on_regression(table, capsys):
    from loadtest import run

    args = run.build_parser().parse_args(
        ["--host", "http://127.0.0.1:9", "--environment", "dev", "--store", "--compare", "--fail-on-regression", "20"]
    )
    derived = run.validate(args)
    first = summary(1_700_000_000.0)
    first["verdict"]["exit_code"] = 0
    assert run._post_run(args, derived, first, started=0.0) == 0
    assert first["comparison"] is None  # nothing to compare with yet
    assert first["stored"]["pk"] == "LOADTEST#dev"
    slower = summary(1_700_000_600.0, ttft_p50=0.3)
    assert run._post_run(args, derived, slower, started=0.0) == 1
    assert "REGRESSION" in slower["verdict"]["text"]
    assert any(r["metric"] == "ttft_p50_ms" and r["regression"] for r in slower["comparison"]["metrics"])
    assert len(store.list_records(table, "dev")) == 2


def test_runner_reports_a_missing_table(aws, capsys):
    from loadtest import run

    args = run.build_parser().parse_args(["--host", "http://127.0.0.1:9", "--environment", "staging", "--store"])
    assert run._post_run(args, run.validate(args), summary(1.0), started=0.0) == 2
    assert "ollama-staging-data-table does not exist" in capsys.readouterr().err
