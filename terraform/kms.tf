# Customer-managed keys (rotation on): "data" for S3, DynamoDB, RDS, ElastiCache, Secrets Manager, SNS, EBS and
# AWS Backup; "logs" for CloudWatch Logs; "dr" in the disaster-recovery region; "edge" in us-east-1 (waf.tf).
#
# Every key policy is the account-administration statement plus that key's service statements, written once as data
# below. The Auto Scaling service-linked role is matched by a condition on aws:PrincipalArn, not named as a
# principal: KMS rejects a policy whose principal does not exist yet, and a fresh account has no such role until the
# first Auto Scaling group creates it.

locals {
  autoscaling_service_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
  same_account                 = { test = "StringEquals", variable = "aws:SourceAccount", values = [local.account_id] }

  # key => statements: sid, actions, principal type and identifiers, conditions.
  kms_key_statements = {
    data = [
      {
        # Encrypted volumes of the instances the groups launch; grants only for AWS resources.
        sid        = "AutoScalingEncryptedVolumes", type = "AWS", identifiers = ["*"]
        actions    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        conditions = [{ test = "StringEquals", variable = "aws:PrincipalArn", values = [local.autoscaling_service_role_arn] }]
      },
      {
        sid = "AutoScalingGrants", type = "AWS", identifiers = ["*"], actions = ["kms:CreateGrant"]
        conditions = [
          { test = "StringEquals", variable = "aws:PrincipalArn", values = [local.autoscaling_service_role_arn] },
          { test = "Bool", variable = "kms:GrantIsForAWSResource", values = ["true"] },
        ]
      },
      {
        sid         = "AlarmAndEventPublishers", type = "Service", actions = ["kms:Decrypt", "kms:GenerateDataKey*"]
        identifiers = ["cloudwatch.amazonaws.com", "events.amazonaws.com", "backup.amazonaws.com"]
        conditions  = [local.same_account]
      },
      {
        sid     = "CloudFrontReadsAssets", type = "Service", identifiers = ["cloudfront.amazonaws.com"]
        actions = ["kms:Decrypt"], conditions = [local.same_account]
      },
    ]
    logs = [local.logs_key_statement[var.aws_region]]
    dr = [
      {
        sid        = "BackupCopies", type = "Service", identifiers = ["backup.amazonaws.com"]
        actions    = ["kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"]
        conditions = [local.same_account]
      },
    ]
    edge = [
      local.logs_key_statement["us-east-1"],
      {
        sid     = "BillingAlarmsPublish", type = "Service", identifiers = ["cloudwatch.amazonaws.com"]
        actions = ["kms:Decrypt", "kms:GenerateDataKey*"], conditions = [local.same_account]
      },
    ]
  }

  # CloudWatch Logs of one region encrypts this account's log groups there.
  logs_key_statement = { for region in distinct([var.aws_region, "us-east-1"]) : region => {
    sid     = "CloudWatchLogs", type = "Service", identifiers = ["logs.${region}.amazonaws.com"]
    actions = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    conditions = [{
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${region}:${local.account_id}:log-group:*"]
    }]
  } }
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:key policy - Resource "*" means this key only; principals are the owning account root, services limited to this account, and the Auto Scaling role matched by its exact ARN
  #checkov:skip=CKV_AWS_356:key policy - Resource "*" is the only valid resource in a KMS key policy and denotes the key itself
  #checkov:skip=CKV_AWS_109:key policy - key administration is granted to the owning account root only, so IAM policies decide who manages the key
  # A DR stack creates only its data and logs keys (the DR and edge keys are the primary's).
  for_each = { for key, statements in local.kms_key_statements : key => statements if local.is_primary || contains(["data", "logs"], key) }

  # The account administers the key; IAM policies decide who else may use it.
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  dynamic "statement" {
    for_each = each.value
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = ["*"]
      principals {
        type        = statement.value.type
        identifiers = statement.value.identifiers
      }
      dynamic "condition" {
        for_each = statement.value.conditions
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_kms_key" "data" {
  description             = "${local.name_prefix}: S3, DynamoDB, RDS, ElastiCache, Secrets Manager, SNS, EBS, Backup"
  enable_key_rotation     = true
  deletion_window_in_days = local.is_production ? 30 : 7
  policy                  = data.aws_iam_policy_document.kms["data"].json
}

resource "aws_kms_alias" "data" {
  name          = local.names.kms_data_alias
  target_key_id = aws_kms_key.data.key_id
}

resource "aws_kms_key" "logs" {
  description             = "${local.name_prefix}: CloudWatch Logs"
  enable_key_rotation     = true
  deletion_window_in_days = local.is_production ? 30 : 7
  policy                  = data.aws_iam_policy_document.kms["logs"].json
}

resource "aws_kms_alias" "logs" {
  name          = local.names.kms_logs_alias
  target_key_id = aws_kms_key.logs.key_id
}

resource "aws_kms_key" "dr" {
  count    = local.is_primary ? 1 : 0
  provider = aws.dr

  description             = "${local.name_prefix}: disaster-recovery copies (DynamoDB replica, backups bucket, backup vault)"
  enable_key_rotation     = true
  deletion_window_in_days = local.is_production ? 30 : 7
  policy                  = data.aws_iam_policy_document.kms["dr"].json
}

resource "aws_kms_alias" "dr" {
  count    = local.is_primary ? 1 : 0
  provider = aws.dr

  name          = local.names.kms_dr_alias
  target_key_id = aws_kms_key.dr[0].key_id
}
