#!/usr/bin/env python3
"""Write one bake record to the platform's DynamoDB table unless a record with the same key is already there.

    bake_record.py TABLE REGION ITEM_JSON

Prints {"changed": true} when it wrote the item, {"changed": false} when pk/sk already existed (a reused image
keeps the record of the bake that made it).
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal

import boto3
from botocore.exceptions import BotoCoreError, ClientError


def main(argv: list[str]) -> int:
    table_name, region, item = argv[1], argv[2], json.loads(argv[3], parse_float=Decimal)
    try:
        table = boto3.resource("dynamodb", region_name=region).Table(table_name)
        existing = table.get_item(Key={"pk": item["pk"], "sk": item["sk"]}).get("Item")
        if existing is not None:
            print(json.dumps({"changed": False}))
            return 0
        table.put_item(Item=item)
    except (BotoCoreError, ClientError) as error:
        print(
            f"cannot write to DynamoDB table {table_name} in {region}: {error}. "
            "Fix: apply Terraform for this environment (it creates the table) or check the credentials",
            file=sys.stderr,
        )
        return 1
    print(json.dumps({"changed": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
