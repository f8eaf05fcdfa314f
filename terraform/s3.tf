# Buckets: assets, logs, backups (+ its replica in the DR region, primary stack only), the Session Manager transfer bucket, each through modules/s3_bucket: versioning,
# encryption, public access block, ownership, TLS-only policy, lifecycle (intelligent tiering, noncurrent-version
# expiry). The logs bucket uses SSE-S3 because ALB access logs can only be delivered to SSE-S3 buckets.

module "assets_bucket" {
  source = "./modules/s3_bucket"

  bucket_prefix           = local.names.assets_bucket
  purpose                 = "CloudFront origin for static assets and Open-WebUI uploads"
  force_destroy           = !local.is_production
  kms_key_arn             = aws_kms_key.data.arn
  noncurrent_version_days = var.s3_noncurrent_version_days
  access_log_bucket       = module.logs_bucket.id
  access_log_prefix       = "s3/assets/"
  policy_documents        = data.aws_iam_policy_document.assets[*].json
}

module "logs_bucket" {
  source = "./modules/s3_bucket"

  bucket_prefix           = local.names.logs_bucket
  purpose                 = "ALB and CloudFront access logs"
  force_destroy           = !local.is_production
  object_ownership        = "BucketOwnerPreferred" # CloudFront standard logging writes through an ACL grant
  noncurrent_version_days = var.s3_noncurrent_version_days
  expiration_days         = var.log_retention_days * 3
  policy_documents        = [data.aws_iam_policy_document.logs.json]
}

module "backups_bucket" {
  source = "./modules/s3_bucket"

  bucket_prefix           = local.names.backups_bucket
  purpose                 = "backups, replicated to the DR region"
  force_destroy           = !local.is_production
  kms_key_arn             = aws_kms_key.data.arn
  noncurrent_version_days = var.s3_noncurrent_version_days
  access_log_bucket       = module.logs_bucket.id
  access_log_prefix       = "s3/backups/"
}

# File transfers of Ansible's Session Manager connection (amazon.aws.aws_ssm): the controller uploads and downloads
# with its own credentials and hands the instance presigned URLs for curl, so no instance role is granted access.
# Transferred files can hold secrets: no versions are kept and every object expires after a day.
module "ssm_transfer_bucket" {
  source = "./modules/s3_bucket"

  bucket_prefix           = local.names.ssm_transfer_bucket
  purpose                 = "Session Manager file transfers of the Ansible aws_ssm connection"
  force_destroy           = true # holds only files in transit
  kms_key_arn             = aws_kms_key.data.arn
  versioning_enabled      = false
  expiration_days         = 1
  noncurrent_version_days = 1
  access_log_bucket       = module.logs_bucket.id
  access_log_prefix       = "s3/ssm-transfer/"
}

module "backups_dr_bucket" {
  source    = "./modules/s3_bucket"
  count     = local.is_primary ? 1 : 0
  providers = { aws = aws.dr }

  bucket_prefix           = local.names.backups_dr_bucket
  purpose                 = "DR-region replica of the backups bucket"
  force_destroy           = !local.is_production
  kms_key_arn             = aws_kms_key.dr[0].arn
  noncurrent_version_days = var.s3_noncurrent_version_days
}

# --- Bucket policies: each bucket's service writers/readers (the module adds the TLS-only statement) ---

# CloudFront reads assets/ (the primary's distribution; a DR stack has none).
data "aws_iam_policy_document" "assets" {
  count = local.is_primary ? 1 : 0

  statement {
    sid       = "CloudFrontReadsAssets"
    actions   = ["s3:GetObject"]
    resources = ["${module.assets_bucket.arn}/assets/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.this[0].arn]
    }
  }
}

data "aws_elb_service_account" "this" {}

# ALB access logs: only this account's load balancers, only under their own account's key prefix
# (<prefix>/AWSLogs/<account>/), which ELB writes for the load balancer's owner.
locals {
  alb_log_prefixes  = { public = "alb/public", internal = "alb/internal" }
  alb_log_resources = [for prefix in values(local.alb_log_prefixes) : "${module.logs_bucket.arn}/${prefix}/AWSLogs/${local.account_id}/*"]
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "AlbAccessLogs"
    actions   = ["s3:PutObject"]
    resources = local.alb_log_resources
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:elasticloadbalancing:${var.aws_region}:${local.account_id}:loadbalancer/*"]
    }
  }

  # Regions opened before August 2022 deliver ALB logs from the region's Elastic Load Balancing account, which sends
  # no source context: the account-scoped key prefix limits it to this account's load balancers.
  statement {
    sid       = "AlbAccessLogsLegacyRegions"
    actions   = ["s3:PutObject"]
    resources = local.alb_log_resources
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.this.arn]
    }
  }

  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${module.logs_bucket.arn}/s3/*"]
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

# --- Cross-region replication of backups (not from a DR stack: its DR region is the lost primary) ---

resource "aws_s3_bucket_replication_configuration" "backups" {
  count  = local.is_primary ? 1 : 0
  bucket = module.backups_bucket.id
  role   = aws_iam_role.replication[0].arn

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
      bucket        = module.backups_dr_bucket[0].arn
      storage_class = "INTELLIGENT_TIERING"

      encryption_configuration {
        replica_kms_key_id = aws_kms_key.dr[0].arn
      }
    }
  }

  depends_on = [module.backups_bucket, module.backups_dr_bucket]
}
