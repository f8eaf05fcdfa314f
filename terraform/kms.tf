# Customer-managed keys (rotation on): "data" for S3, DynamoDB, RDS, ElastiCache, Secrets Manager, SNS, EBS and
# AWS Backup; "logs" for CloudWatch Logs; "dr" in the disaster-recovery region.

# Every key policy starts from this one: the account administers the key, IAM policies decide who may use it.
data "aws_iam_policy_document" "kms_admin" {
  #checkov:skip=CKV_AWS_111:key policy - Resource "*" means this key only; the only principal is the owning account root, which delegates use to IAM policies
  #checkov:skip=CKV_AWS_356:key policy - Resource "*" is the only valid resource in a KMS key policy and denotes the key itself
  #checkov:skip=CKV_AWS_109:key policy - key administration is granted to the owning account root only, so IAM policies decide who manages the key
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

data "aws_iam_policy_document" "kms_data" {
  #checkov:skip=CKV_AWS_111:key policy - the Auto Scaling service-linked role must encrypt volumes of the instances it launches; Resource "*" in a key policy is this key only
  #checkov:skip=CKV_AWS_356:key policy - Resource "*" is the only valid resource in a KMS key policy and denotes the key itself
  source_policy_documents = [data.aws_iam_policy_document.kms_admin.json]

  statement {
    sid       = "AutoScalingEncryptedVolumes"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"]
    }
  }

  statement {
    sid       = "AutoScalingGrants"
    actions   = ["kms:CreateGrant"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"]
    }
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }

  statement {
    sid       = "AlarmAndEventPublishers"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.amazonaws.com", "backup.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "CloudFrontReadsAssets"
    actions   = ["kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "data" {
  description             = "${local.name_prefix}: S3, DynamoDB, RDS, ElastiCache, Secrets Manager, SNS, EBS, Backup"
  enable_key_rotation     = true
  deletion_window_in_days = local.is_production ? 30 : 7
  policy                  = data.aws_iam_policy_document.kms_data.json
}

resource "aws_kms_alias" "data" {
  name          = local.names.kms_data_alias
  target_key_id = aws_kms_key.data.key_id
}

data "aws_iam_policy_document" "kms_logs" {
  source_policy_documents = [data.aws_iam_policy_document.kms_admin.json]

  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.aws_region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:*"]
    }
  }
}

resource "aws_kms_key" "logs" {
  description             = "${local.name_prefix}: CloudWatch Logs"
  enable_key_rotation     = true
  deletion_window_in_days = local.is_production ? 30 : 7
  policy                  = data.aws_iam_policy_document.kms_logs.json
}

resource "aws_kms_alias" "logs" {
  name          = local.names.kms_logs_alias
  target_key_id = aws_kms_key.logs.key_id
}

data "aws_iam_policy_document" "kms_dr" {
  source_policy_documents = [data.aws_iam_policy_document.kms_admin.json]

  statement {
    sid       = "BackupCopies"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["backup.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "dr" {
  provider = aws.dr

  description             = "${local.name_prefix}: disaster-recovery copies (DynamoDB replica, backups bucket, backup vault)"
  enable_key_rotation     = true
  deletion_window_in_days = local.is_production ? 30 : 7
  policy                  = data.aws_iam_policy_document.kms_dr.json
}

resource "aws_kms_alias" "dr" {
  provider = aws.dr

  name          = local.names.kms_dr_alias
  target_key_id = aws_kms_key.dr.key_id
}
