"""RDS as the shared vector store of uploaded documents: the frontends connect as a user allowed to create the
`vector` extension, and no parameter keeps pgvector out.

Static (parsed HCL): RDS's own behaviour (pgvector shipped with RDS for PostgreSQL, the master user a member of
rds_superuser) is AWS's documentation, proven on AWS only.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from terraform_helpers import blocks


def vector_store_problems(hcl: dict[str, dict[str, Any]]) -> list[str]:
    """What stops Open-WebUI from keeping its documents in pgvector on the RDS instance."""
    problems = []
    instances = [
        body for _, rtype, name, body in blocks(hcl, "resource") if (rtype, name) == ("aws_db_instance", "webui")
    ]
    groups = [b for _, rtype, _, b in blocks(hcl, "resource") if rtype == "aws_db_parameter_group"]
    if len(instances) != 1:
        return ["aws_db_instance.webui is missing"]
    instance = instances[0]
    if instance.get("engine") != "postgres":
        problems.append(f"the database engine is {instance.get('engine')!r}, pgvector needs RDS for PostgreSQL")
    major = str(instance.get("engine_version", "")).split(".")[0]
    if not major.isdigit() or int(major) < 15:
        problems.append(f"PostgreSQL {major or '?'}: the vector store wants 15 or later (pgvector with hnsw)")
    for group in groups:
        for parameter in group.get("parameter", []):
            name, value = parameter.get("name", ""), str(parameter.get("value", ""))
            if name == "rds.allowed_extensions" and value not in ("*", "") and "vector" not in value.split(","):
                problems.append(f"rds.allowed_extensions = {value!r} leaves out the vector extension")
    # The instance record of the frontends (terraform/asg.tf) names the secret their DATABASE_URL is built from.
    record = json.dumps(hcl.get("asg.tf", {}))
    if not re.search(r"DATABASE_SECRET_ARN\W+aws_db_instance\.webui\.master_user_secret\[0\]\.secret_arn", record):
        problems.append(
            "the frontends' DATABASE_SECRET_ARN is not the master user's secret: another user cannot create the "
            "vector extension (create it once as the master user)"
        )
    return problems


def test_rds_can_hold_the_shared_vector_store(hcl):
    assert vector_store_problems(hcl) == []


def test_a_parameter_that_leaves_out_pgvector_is_named(hcl):
    planted = copy.deepcopy(hcl)
    for _, rtype, _, body in blocks(planted, "resource"):
        if rtype == "aws_db_parameter_group":
            body.setdefault("parameter", []).append({"name": "rds.allowed_extensions", "value": "pg_stat_statements"})
    assert vector_store_problems(planted) == [
        "rds.allowed_extensions = 'pg_stat_statements' leaves out the vector extension"
    ]


def test_an_old_engine_is_named(hcl):
    planted = copy.deepcopy(hcl)
    for _, rtype, name, body in blocks(planted, "resource"):
        if (rtype, name) == ("aws_db_instance", "webui"):
            body["engine_version"] = "12"
    assert any("PostgreSQL 12" in problem for problem in vector_store_problems(planted))
