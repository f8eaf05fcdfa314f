# One private bucket: versioning (unless the caller turns it off for a bucket whose objects expire), encryption (SSE-KMS with the given key, else SSE-S3), public access blocked,
# ownership controls, lifecycle (intelligent tiering, noncurrent-version expiry, optional expiry), optional server
# access logging, and a bucket policy that denies plain-HTTP access plus the caller's statements.

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:cross-region replication is configured by the caller for the buckets that need it (backups to the DR region); the others hold re-creatable data or are the replica
  #checkov:skip=CKV2_AWS_62:no consumer for event notifications; access is audited through access logs and CloudTrail
  #checkov:skip=CKV_AWS_145:SSE-KMS with the caller's key unless the caller passes none: ALB access-log delivery supports only SSE-S3 (AES256) buckets
  #checkov:skip=CKV_AWS_18:access logging goes to the caller's log bucket; the log bucket itself (logging into itself would loop) and the DR replica pass none
  bucket_prefix = var.bucket_prefix
  force_destroy = var.force_destroy

  tags = { Purpose = var.purpose }
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    # "Disabled" is only valid when the bucket is created: turning versioning off later is refused by S3.
    status = var.versioning_enabled ? "Enabled" : "Disabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn == null ? null : true
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  #checkov:skip=CKV2_AWS_65:CloudFront standard logging writes through the awslogsdelivery ACL grant, which requires ACLs (BucketOwnerPreferred, log bucket only); public ACLs stay blocked by the public access block
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = var.object_ownership
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "tiering-and-cleanup"
    status = "Enabled"

    filter {}

    transition {
      days          = 0
      storage_class = "INTELLIGENT_TIERING"
    }

    dynamic "expiration" {
      for_each = var.expiration_days == null ? [] : [var.expiration_days]
      content {
        days = expiration.value
      }
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.expiration_days == null ? 7 : min(7, var.expiration_days)
    }
  }
}

resource "aws_s3_bucket_logging" "this" {
  count = var.access_log_bucket == null ? 0 : 1

  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_log_bucket
  target_prefix = var.access_log_prefix
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

# The TLS-only statement first, then the caller's statements.
data "aws_iam_policy_document" "this" {
  source_policy_documents = concat([data.aws_iam_policy_document.tls_only.json], var.policy_documents)
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.this.json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
