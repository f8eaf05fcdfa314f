"""The emulator's record of AWS API calls (GET /_emulator/calls): each request with the access key that signed it,
the service as IAM names it and the API action, through the real AWS SDK. The twin holds its instance roles'
policies to this record (tests/twin/scenarios/test_instance_calls.py)."""

from __future__ import annotations

import urllib.request

import boto3
import pytest
from botocore.config import Config

from tools import aws_emulator

FRONTEND_KEY = "ASIAFRONTEND0000001"
BACKEND_KEY = "ASIABACKEND00000002"


def client(service: str, url: str, key: str, config: Config | None = None):
    return boto3.client(
        service,
        config=config,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key="any",  # the emulator checks no signature
        aws_session_token=f"session-of-{key}",
    )


def actions(url: str, key: str) -> list[tuple[str, str, int]]:
    return [(c["service"], c["action"], c["status"]) for c in aws_emulator.calls(url, key)]


def test_calls_are_recorded_by_key_with_service_and_action(aws: str) -> None:
    """A JSON-protocol service (Secrets Manager), query-protocol ones (Auto Scaling, ELBv2) and CloudWatch, each
    under the key that signed it; errors are recorded with their status."""
    secrets = client("secretsmanager", aws, FRONTEND_KEY)
    arn = secrets.create_secret(Name="ollama/probe", SecretString="s3cret")["ARN"]
    secrets.get_secret_value(SecretId=arn)
    with pytest.raises(secrets.exceptions.ResourceNotFoundException):
        secrets.describe_secret(SecretId="ollama/missing")
    client("autoscaling", aws, BACKEND_KEY).describe_auto_scaling_groups()
    client("elbv2", aws, BACKEND_KEY).describe_target_groups()
    client("cloudwatch", aws, BACKEND_KEY).put_metric_data(
        Namespace="Ollama", MetricData=[{"MetricName": "InFlight", "Value": 1.0}]
    )

    assert actions(aws, FRONTEND_KEY) == [
        ("secretsmanager", "CreateSecret", 200),
        ("secretsmanager", "GetSecretValue", 200),
        ("secretsmanager", "DescribeSecret", 404),  # moto's status for ResourceNotFoundException
    ]
    assert actions(aws, BACKEND_KEY) == [
        ("autoscaling", "DescribeAutoScalingGroups", 200),
        ("elasticloadbalancing", "DescribeTargetGroups", 200),
        ("cloudwatch", "PutMetricData", 200),  # signed for "monitoring", IAM's prefix is cloudwatch
    ]
    every = aws_emulator.calls(aws)
    assert {c["access_key"] for c in every} == {FRONTEND_KEY, BACKEND_KEY}
    assert set(every[0]) == {"time", "access_key", "service", "action", "status"}
    assert [c["time"] for c in every] == sorted(c["time"] for c in every), "oldest first"


def test_s3_rest_calls_are_named_by_their_operation(aws: str) -> None:
    """S3 has no action parameter: the operation comes from the method, the path and its sub-resources, for the
    requests Open-WebUI's storage and the helper make (objects, listings, multipart uploads, presigned URLs)."""
    admin = client("s3", aws, "testing")
    admin.create_bucket(Bucket="ollama-uploads")
    s3 = client("s3", aws, FRONTEND_KEY)
    s3.put_object(Bucket="ollama-uploads", Key="uploads/a.txt", Body=b"a")
    s3.head_object(Bucket="ollama-uploads", Key="uploads/a.txt")
    s3.get_object(Bucket="ollama-uploads", Key="uploads/a.txt")["Body"].read()
    s3.list_objects_v2(Bucket="ollama-uploads", Prefix="uploads/")
    upload = s3.create_multipart_upload(Bucket="ollama-uploads", Key="uploads/big.bin")["UploadId"]
    part = s3.upload_part(Bucket="ollama-uploads", Key="uploads/big.bin", UploadId=upload, PartNumber=1, Body=b"x")
    s3.complete_multipart_upload(
        Bucket="ollama-uploads",
        Key="uploads/big.bin",
        UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    s3.delete_object(Bucket="ollama-uploads", Key="uploads/a.txt")
    object_params = {"Bucket": "ollama-uploads", "Key": "uploads/big.bin"}
    s3v4 = client("s3", aws, FRONTEND_KEY, Config(signature_version="s3v4"))
    presigned = [  # boto3 presigns S3 URLs with signature version 2 unless told s3v4
        s3.generate_presigned_url("get_object", Params=object_params),
        s3v4.generate_presigned_url("get_object", Params=object_params),
    ]
    for url in presigned:
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == b"x"

    assert actions(aws, FRONTEND_KEY) == [
        ("s3", "PutObject", 200),
        ("s3", "HeadObject", 200),
        ("s3", "GetObject", 200),
        ("s3", "ListObjectsV2", 200),
        ("s3", "CreateMultipartUpload", 200),
        ("s3", "UploadPart", 200),
        ("s3", "CompleteMultipartUpload", 200),
        ("s3", "DeleteObject", 204),
        ("s3", "GetObject", 200),  # the presigned URLs: by their AWSAccessKeyId
        ("s3", "GetObject", 200),  # and X-Amz-Credential
    ]
    assert actions(aws, "testing") == [("s3", "CreateBucket", 200)]


def test_reset_clears_the_record_and_private_routes_are_not_recorded(aws: str) -> None:
    client("secretsmanager", aws, FRONTEND_KEY).list_secrets()
    aws_emulator.lifecycle_actions(aws)
    assert [c["action"] for c in aws_emulator.calls(aws)] == ["ListSecrets"]
    aws_emulator.reset(aws)
    assert aws_emulator.calls(aws) == []


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "expected"),
    [
        ("GET", "/", "", {}, "ListBuckets"),
        ("HEAD", "/b", "", {}, "HeadBucket"),
        ("GET", "/b", "list-type=2&prefix=uploads%2F", {}, "ListObjectsV2"),
        ("GET", "/b", "prefix=x", {}, "ListObjects"),
        ("PUT", "/b", "versioning", {}, "PutBucketVersioning"),
        ("POST", "/b", "delete", {}, "DeleteObjects"),
        ("PUT", "/b/k", "", {"x-amz-copy-source": "/b/j"}, "CopyObject"),
        ("DELETE", "/b/k", "uploadId=u", {}, "AbortMultipartUpload"),
        ("PUT", "/b/k", "tagging", {}, "PutObjectTagging"),
    ],
)
def test_s3_operations_of_other_requests(method, path, query, headers, expected) -> None:
    signed = {"authorization": "AWS4-HMAC-SHA256 Credential=ASIAX/20260101/us-east-1/s3/aws4_request, Signature=x"}
    assert aws_emulator.call_of_request(method, path, query, {**signed, **headers}) == ("ASIAX", "s3", expected)


def test_signature_version_2_is_s3s() -> None:
    assert aws_emulator.call_of_request("GET", "/b/k", "", {"authorization": "AWS ASIAV2:c2ln"}) == (
        "ASIAV2",
        "s3",
        "GetObject",
    )


def test_unsigned_requests_are_recorded_without_key_or_service() -> None:
    assert aws_emulator.call_of_request("GET", "/", "Action=GetCallerIdentity", {}) == ("", "", "GetCallerIdentity")
