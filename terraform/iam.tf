# Roles "ollama-<purpose>-role". Instances: SSM Session Manager (AWS managed policy) plus exactly the secrets,
# parameters, buckets, log groups and metric namespaces their tier uses.

# Trust policies: which service assumes each role. VPC flow logs sends its account, so the trust is limited to it.
locals {
  role_trust = {
    ec2            = { service = "ec2.amazonaws.com", same_account = false }
    flow_logs      = { service = "vpc-flow-logs.amazonaws.com", same_account = true }
    backup         = { service = "backup.amazonaws.com", same_account = false }
    replication    = { service = "s3.amazonaws.com", same_account = false }
    rds_monitoring = { service = "monitoring.rds.amazonaws.com", same_account = false }
  }
}

data "aws_iam_policy_document" "assume" {
  for_each = local.role_trust

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.value.service]
    }
    dynamic "condition" {
      for_each = each.value.same_account ? [local.account_id] : []
      content {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [condition.value]
      }
    }
  }
}

resource "aws_iam_role" "instance" {
  for_each = toset(["frontend", "backend"])

  name                 = each.key == "frontend" ? local.names.frontend_role : local.names.backend_role
  description          = "${each.key} instances of ${local.name_prefix}"
  assume_role_policy   = data.aws_iam_policy_document.assume["ec2"].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy_attachment" "ssm_core" {
  for_each = aws_iam_role.instance

  role       = each.value.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "frontend" {
  name = local.names.frontend_role
  role = aws_iam_role.instance["frontend"].name
}

resource "aws_iam_instance_profile" "backend" {
  name = local.names.backend_role
  role = aws_iam_role.instance["backend"].name
}

# What each tier's programs call, and on what (docs/SECURITY.md lists the programs and their calls;
# tests/terraform/test_terraform_instance_roles.py compares these statements with the calls, both ways).
locals {
  # The CloudWatch agent ships the tier's files to these groups (roles/cloudwatch_agent, cloudwatch_agent_log_files).
  instance_log_groups = {
    frontend = [local.log_groups.open_webui, local.log_groups.system]
    backend  = [local.log_groups.ollama, local.log_groups.nginx, local.log_groups.system]
  }
  # The secrets of the tier's instance record: ollama-platform-bootstrap describes each, the services read them.
  instance_secrets = {
    frontend = concat([
      aws_secretsmanager_secret.this["webui_secret_key"].arn,
      aws_secretsmanager_secret.this["redis_auth_token"].arn,
      aws_secretsmanager_secret.this["ollama_api_token"].arn,
      aws_db_instance.webui.master_user_secret[0].secret_arn,
      aws_secretsmanager_secret.this["webui_admin_password"].arn,
    ], local.webui_oidc_client_secret.secretsmanager)
    backend = [aws_secretsmanager_secret.this["ollama_api_token"].arn]
  }
  # Metric namespaces: the CloudWatch agent's (CWAgent) on both tiers, the in-flight publisher's (Ollama) on the backend.
  instance_metric_namespaces = {
    frontend = ["CWAgent"]
    backend  = ["Ollama", "CWAgent"]
  }
  # Open-WebUI (STORAGE_PROVIDER=s3) keeps uploads under uploads/ of the uploads bucket, which holds nothing else:
  # its "delete all files" lists the whole bucket.
  instance_bucket_access = {
    frontend = {
      OpenWebUIUploads     = { actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources = ["${local.uploads_bucket_arn}/uploads/*"] }
      ListOpenWebUIUploads = { actions = ["s3:ListBucket"], resources = [local.uploads_bucket_arn] }
    }
    backend = {}
  }
  # The data key, through the service that uses it for the tier (sid => service, actions and the encryption context
  # it must carry): the secrets both tiers read, the uploads bucket, and an OIDC client secret kept in a SecureString
  # parameter on the frontend. That one is held to its parameter: the SSM agent's managed policy lets the instance
  # read every parameter, so without the context it could decrypt any SecureString under the data key.
  instance_data_key_use = {
    frontend = merge({
      DecryptSecrets = { service = "secretsmanager", actions = ["kms:Decrypt"], encryption_context = {} }
      EncryptUploads = { service = "s3", actions = ["kms:Decrypt", "kms:GenerateDataKey"], encryption_context = {} }
      }, length(local.webui_oidc_client_secret.ssm) > 0 ? {
      DecryptOidcClientSecretParameter = {
        service            = "ssm"
        actions            = ["kms:Decrypt"]
        encryption_context = { PARAMETER_ARN = local.webui_oidc_client_secret.ssm }
      }
    } : {})
    backend = {
      DecryptSecrets = { service = "secretsmanager", actions = ["kms:Decrypt"], encryption_context = {} }
    }
  }
}

data "aws_iam_policy_document" "instance" {
  for_each = toset(["frontend", "backend"])

  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = local.instance_secrets[each.key]
  }

  # The OIDC client secret when the operator keeps it in an SSM parameter (a secret is in instance_secrets).
  dynamic "statement" {
    for_each = each.key == "frontend" && length(local.webui_oidc_client_secret.ssm) > 0 ? [1] : []
    content {
      sid       = "ReadOidcClientSecretParameter"
      actions   = ["ssm:GetParameter"]
      resources = local.webui_oidc_client_secret.ssm
    }
  }

  dynamic "statement" {
    for_each = local.instance_data_key_use[each.key]
    content {
      sid       = statement.key
      actions   = statement.value.actions
      resources = [aws_kms_key.data.arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["${statement.value.service}.${var.aws_region}.amazonaws.com"]
      }
      dynamic "condition" {
        for_each = statement.value.encryption_context
        content {
          test     = "StringEquals"
          variable = "kms:EncryptionContext:${condition.key}"
          values   = condition.value
        }
      }
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = flatten([for g in local.instance_log_groups[each.key] : ["arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:${g}", "arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:${g}:log-stream:*"]])
  }

  # The CloudWatch agent reads the instance's tags for the AutoScalingGroupName dimension; DescribeTags has no
  # resource-level permissions.
  statement {
    sid       = "CloudWatchAgentDimensions"
    actions   = ["ec2:DescribeTags"]
    resources = ["*"]
  }

  # PutMetricData has no resource-level permissions; the namespace condition limits it.
  statement {
    sid       = "PublishMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = local.instance_metric_namespaces[each.key]
    }
  }

  dynamic "statement" {
    for_each = local.instance_bucket_access[each.key]
    content {
      sid       = statement.key
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }

  # ollama-platform-bootstrap completes the group's launch hook; ollama-platform-drain completes the terminating
  # hook (or the launch hook on a return to the warm pool) and protects the instance from scale-in while it streams.
  statement {
    sid       = "LifecycleHooks"
    actions   = ["autoscaling:CompleteLifecycleAction", "autoscaling:SetInstanceProtection"]
    resources = ["arn:${local.partition}:autoscaling:${var.aws_region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${each.key == "backend" ? local.names.asg : local.names.frontend_asg}"]
  }
}

resource "aws_iam_role_policy" "instance" {
  for_each = aws_iam_role.instance

  name   = "${each.value.name}-access"
  role   = each.value.id
  policy = data.aws_iam_policy_document.instance[each.key].json
}

# --- VPC flow logs ---

resource "aws_iam_role" "flow_logs" {
  name               = local.names.flow_logs_role
  description        = "VPC flow logs delivery for ${local.name_prefix}"
  assume_role_policy = data.aws_iam_policy_document.assume["flow_logs"].json
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"]
    resources = [aws_cloudwatch_log_group.this["flow_logs"].arn, "${aws_cloudwatch_log_group.this["flow_logs"].arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "${local.names.flow_logs_role}-delivery"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

# --- AWS Backup ---

resource "aws_iam_role" "backup" {
  name               = local.names.backup_role
  description        = "AWS Backup for ${local.name_prefix}"
  assume_role_policy = data.aws_iam_policy_document.assume["backup"].json
}

resource "aws_iam_role_policy_attachment" "backup" {
  for_each = toset(["AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores"])

  role       = aws_iam_role.backup.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/${each.key}"
}

# --- S3 replication to the DR region: the backups and uploads buckets (a DR stack replicates nothing) ---

resource "aws_iam_role" "replication" {
  name               = local.names.replication_role
  description        = "Replicates the backups bucket of ${local.name_prefix} to ${var.dr_region}"
  assume_role_policy = data.aws_iam_policy_document.assume["replication"].json
}

# Each replicated bucket: its replica, the actions on the replica's key and the inline policy's name.
locals {
  replicated_buckets = local.is_primary ? {
    backups = {
      policy_name     = "${local.names.replication_role}-access"
      source          = module.backups_bucket.arn
      replica         = module.backups_dr_bucket[0].arn
      replica_key_use = ["kms:Encrypt", "kms:GenerateDataKey"]
    }
    uploads = {
      policy_name     = "${local.name_prefix}-replicate-uploads"
      source          = module.uploads_bucket[0].arn
      replica         = module.uploads_dr_bucket[0].arn
      replica_key_use = ["kms:Encrypt"]
    }
  } : {}
}

data "aws_iam_policy_document" "replication" {
  for_each = local.replicated_buckets

  statement {
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = [each.value.source]
  }

  statement {
    actions   = ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"]
    resources = ["${each.value.source}/*"]
  }

  statement {
    actions   = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
    resources = ["${each.value.replica}/*"]
  }

  statement {
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.data.arn]
  }

  statement {
    actions   = each.value.replica_key_use
    resources = [aws_kms_key.dr[0].arn]
  }
}

resource "aws_iam_role_policy" "replication" {
  for_each = local.replicated_buckets

  name   = each.value.policy_name
  role   = aws_iam_role.replication.id
  policy = data.aws_iam_policy_document.replication[each.key].json
}

# --- RDS enhanced monitoring ---

resource "aws_iam_role" "rds_monitoring" {
  name               = local.names.rds_monitoring
  description        = "RDS enhanced monitoring for ${local.names.rds}"
  assume_role_policy = data.aws_iam_policy_document.assume["rds_monitoring"].json
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}
