# Open-WebUI uploads in a bucket of their own (not the CloudFront origin), replicated to the DR region with
# S3 Replication Time Control (15-minute SLA). The DR region's SSM parameter /ollama/<env>/dr/uploads-bucket names
# the replica, so playbooks/dr.yml finds it without reading the primary region. A DR stack (var.dr_mode) creates
# no uploads bucket: it runs on the bucket dr.yml gives it (the replica in a failover, the drill's copy in a drill).
# The replication role's policy and the frontend's access to the bucket are in iam.tf.

module "uploads_bucket" {
  source = "./modules/s3_bucket"
  count  = local.is_primary ? 1 : 0

  bucket_prefix           = "${local.name_prefix}-uploads-"
  purpose                 = "Open-WebUI uploads, replicated to the DR region"
  force_destroy           = !local.is_production
  kms_key_arn             = aws_kms_key.data.arn
  noncurrent_version_days = var.s3_noncurrent_version_days
  access_log_bucket       = module.logs_bucket.id
  access_log_prefix       = "s3/uploads/"
}

module "uploads_dr_bucket" {
  source    = "./modules/s3_bucket"
  count     = local.is_primary ? 1 : 0
  providers = { aws = aws.dr }

  bucket_prefix           = "${local.name_prefix}-uploads-dr-"
  purpose                 = "DR-region replica of the uploads bucket"
  force_destroy           = !local.is_production
  kms_key_arn             = aws_kms_key.dr[0].arn
  noncurrent_version_days = var.s3_noncurrent_version_days
}

locals {
  uploads_bucket     = var.dr_mode == "" ? module.uploads_bucket[0].id : var.dr_uploads_bucket
  uploads_bucket_arn = "arn:${local.partition}:s3:::${local.uploads_bucket}"
}

resource "aws_s3_bucket_replication_configuration" "uploads" {
  count  = local.is_primary ? 1 : 0
  bucket = module.uploads_bucket[0].id
  role   = aws_iam_role.replication[0].arn

  rule {
    id     = "uploads-to-dr-region"
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
      bucket        = module.uploads_dr_bucket[0].arn
      storage_class = "STANDARD"

      encryption_configuration {
        replica_kms_key_id = aws_kms_key.dr[0].arn
      }

      replication_time {
        status = "Enabled"
        time {
          minutes = 15
        }
      }

      metrics {
        status = "Enabled"
        event_threshold {
          minutes = 15
        }
      }
    }
  }

  depends_on = [module.uploads_bucket, module.uploads_dr_bucket]
}

# Where dr.yml finds the replica (read in the DR region only).
resource "aws_ssm_parameter" "dr_uploads_bucket" {
  count    = local.is_primary ? 1 : 0
  provider = aws.dr

  #checkov:skip=CKV2_AWS_34:a bucket name, not a secret (dr.yml reads it with no key access in the DR region)
  name        = local.dr_parameter_names.uploads_bucket
  description = "Replica of the uploads bucket of ${local.name_prefix} (read by playbooks/dr.yml)"
  type        = "String"
  value       = module.uploads_dr_bucket[0].id
}
