# Buckets: assets, logs, backups (+ its replica in the DR region). Every bucket: versioning, encryption,
# public access block, TLS-only policy, lifecycle (intelligent tiering, noncurrent-version expiry).
# The logs bucket uses SSE-S3 because ALB access logs can only be delivered to SSE-S3 buckets.

resource "aws_s3_bucket" "assets" {
  #checkov:skip=CKV_AWS_144:assets are rebuilt from the repository by the deploy; cross-region replication is kept for backups
  #checkov:skip=CKV2_AWS_62:no consumer for event notifications; access is audited through access logs and CloudTrail
  bucket_prefix = local.names.assets_bucket
  force_destroy = !local.is_production

  tags = { Purpose = "CloudFront origin for static assets and Open-WebUI uploads" }
}

resource "aws_s3_bucket_versioning" "assets" {
  bucket = aws_s3_bucket.assets.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "assets" {
  bucket = aws_s3_bucket.assets.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "assets" {
  bucket                  = aws_s3_bucket.assets.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "assets" {
  bucket = aws_s3_bucket.assets.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "assets" {
  bucket = aws_s3_bucket.assets.id

  rule {
    id     = "tiering-and-cleanup"
    status = "Enabled"

    filter {}

    transition {
      days          = 0
      storage_class = "INTELLIGENT_TIERING"
    }

    noncurrent_version_expiration {
      noncurrent_days = var.s3_noncurrent_version_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_logging" "assets" {
  bucket        = aws_s3_bucket.assets.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/assets/"
}

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_145:ALB access log delivery supports only SSE-S3 (AES256) buckets; SSE-S3 is enabled
  #checkov:skip=CKV_AWS_18:this is the access-log bucket itself; logging it into itself would loop
  #checkov:skip=CKV_AWS_144:access logs are re-creatable operational data, kept for a bounded period in-region
  #checkov:skip=CKV2_AWS_62:no consumer for event notifications; access is audited through access logs and CloudTrail
  bucket_prefix = local.names.logs_bucket
  force_destroy = !local.is_production

  tags = { Purpose = "ALB and CloudFront access logs" }
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  #checkov:skip=CKV2_AWS_65:CloudFront standard logging writes through the awslogsdelivery ACL grant, which requires ACLs (BucketOwnerPreferred); public ACLs stay blocked by the public access block
  bucket = aws_s3_bucket.logs.id

  rule {
    object_ownership = "BucketOwnerPreferred"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "tiering-and-cleanup"
    status = "Enabled"

    filter {}

    transition {
      days          = 0
      storage_class = "INTELLIGENT_TIERING"
    }

    expiration {
      days = var.log_retention_days * 3
    }

    noncurrent_version_expiration {
      noncurrent_days = var.s3_noncurrent_version_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket" "backups" {
  #checkov:skip=CKV2_AWS_62:no consumer for event notifications; access is audited through access logs and CloudTrail
  bucket_prefix = local.names.backups_bucket
  force_destroy = !local.is_production

  tags = { Purpose = "backups, replicated to the DR region" }
}

resource "aws_s3_bucket_versioning" "backups" {
  bucket = aws_s3_bucket.backups.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "backups" {
  bucket = aws_s3_bucket.backups.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "backups" {
  bucket                  = aws_s3_bucket.backups.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "backups" {
  bucket = aws_s3_bucket.backups.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "backups" {
  bucket = aws_s3_bucket.backups.id

  rule {
    id     = "tiering-and-cleanup"
    status = "Enabled"

    filter {}

    transition {
      days          = 0
      storage_class = "INTELLIGENT_TIERING"
    }

    noncurrent_version_expiration {
      noncurrent_days = var.s3_noncurrent_version_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_logging" "backups" {
  bucket        = aws_s3_bucket.backups.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/backups/"
}

resource "aws_s3_bucket" "backups_dr" {
  provider = aws.dr

  #checkov:skip=CKV_AWS_144:this bucket is the cross-region replica; replicating it again adds no protection
  #checkov:skip=CKV_AWS_18:replica of the backups bucket, whose access is logged in the primary region
  #checkov:skip=CKV2_AWS_62:no consumer for event notifications; access is audited through access logs and CloudTrail
  bucket_prefix = local.names.backups_dr_bucket
  force_destroy = !local.is_production

  tags = { Purpose = "DR-region replica of the backups bucket" }
}

resource "aws_s3_bucket_versioning" "backups_dr" {
  provider = aws.dr

  bucket = aws_s3_bucket.backups_dr.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "backups_dr" {
  provider = aws.dr

  bucket = aws_s3_bucket.backups_dr.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.dr.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "backups_dr" {
  provider = aws.dr

  bucket                  = aws_s3_bucket.backups_dr.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "backups_dr" {
  provider = aws.dr

  bucket = aws_s3_bucket.backups_dr.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "backups_dr" {
  provider = aws.dr

  bucket = aws_s3_bucket.backups_dr.id

  rule {
    id     = "tiering-and-cleanup"
    status = "Enabled"

    filter {}

    transition {
      days          = 0
      storage_class = "INTELLIGENT_TIERING"
    }

    noncurrent_version_expiration {
      noncurrent_days = var.s3_noncurrent_version_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# --- Bucket policies: TLS only, plus each bucket's service writers/readers ---

data "aws_iam_policy_document" "tls_only" {
  for_each = {
    assets     = aws_s3_bucket.assets.arn
    logs       = aws_s3_bucket.logs.arn
    backups    = aws_s3_bucket.backups.arn
    backups_dr = aws_s3_bucket.backups_dr.arn
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [each.value, "${each.value}/*"]
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

data "aws_iam_policy_document" "assets" {
  source_policy_documents = [data.aws_iam_policy_document.tls_only["assets"].json]

  statement {
    sid       = "CloudFrontReadsAssets"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.assets.arn}/assets/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.this.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "assets" {
  bucket = aws_s3_bucket.assets.id
  policy = data.aws_iam_policy_document.assets.json

  depends_on = [aws_s3_bucket_public_access_block.assets]
}

data "aws_elb_service_account" "this" {}

data "aws_iam_policy_document" "logs" {
  source_policy_documents = [data.aws_iam_policy_document.tls_only["logs"].json]

  statement {
    sid       = "AlbAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/*"]
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }

  # Regions opened before August 2022 deliver ALB logs from the regional Elastic Load Balancing account.
  statement {
    sid       = "AlbAccessLogsLegacyRegions"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.this.arn]
    }
  }

  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs.json

  depends_on = [aws_s3_bucket_public_access_block.logs]
}

resource "aws_s3_bucket_policy" "backups" {
  bucket = aws_s3_bucket.backups.id
  policy = data.aws_iam_policy_document.tls_only["backups"].json

  depends_on = [aws_s3_bucket_public_access_block.backups]
}

resource "aws_s3_bucket_policy" "backups_dr" {
  provider = aws.dr

  bucket = aws_s3_bucket.backups_dr.id
  policy = data.aws_iam_policy_document.tls_only["backups_dr"].json

  depends_on = [aws_s3_bucket_public_access_block.backups_dr]
}

# --- Cross-region replication of backups ---

resource "aws_s3_bucket_replication_configuration" "backups" {
  bucket = aws_s3_bucket.backups.id
  role   = aws_iam_role.replication.arn

  rule {
    id     = "backups-to-dr-region"
    status = "Enabled"

    filter {}

    delete_marker_replication {
      status = "Enabled"
    }

    source_selection_criteria {
      sse_kms_encrypted_objects {
        status = "Enabled"
      }
    }

    destination {
      bucket        = aws_s3_bucket.backups_dr.arn
      storage_class = "INTELLIGENT_TIERING"

      encryption_configuration {
        replica_kms_key_id = aws_kms_key.dr.arn
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.backups, aws_s3_bucket_versioning.backups_dr]
}
