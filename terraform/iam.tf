# Roles "ollama-<region>-<purpose>-role", all created by the primary stack (a DR stack writes nothing to IAM).
# Instances: SSM Session Manager (AWS managed policy) plus exactly the secrets, parameters, buckets, log groups and
# metric namespaces their tier uses.

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

# Instance roles and profiles: this region's, and in the primary stack the DR region's, created in advance for the
# stacks playbooks/dr.yml rebuilds there (drill and failover). A DR stack launches with those and writes nothing to
# IAM, whose control plane is in us-east-1: a failed primary there takes IAM writes with it.
resource "aws_iam_role" "instance" {
  for_each = local.is_primary ? toset(["frontend", "backend"]) : toset([])

  name                 = local.instance_role_names[var.aws_region][each.key]
  description          = "${each.key} instances of ${local.name_prefix}"
  assume_role_policy   = data.aws_iam_policy_document.assume["ec2"].json
  max_session_duration = 3600
}

resource "aws_iam_role" "dr_instance" {
  for_each = local.is_primary ? toset(["frontend", "backend"]) : toset([])

  name                 = local.instance_role_names[var.dr_region][each.key]
  description          = "${each.key} instances of the stacks playbooks/dr.yml rebuilds in ${var.dr_region} for ${local.name_prefix}"
  assume_role_policy   = data.aws_iam_policy_document.assume["ec2"].json
  max_session_duration = 3600
}

locals {
  # Every instance role this stack creates: "<tier>" for its region, "dr-<tier>" for the DR region.
  instance_roles = merge(aws_iam_role.instance, { for tier, role in aws_iam_role.dr_instance : "dr-${tier}" => role })
  # The profiles this stack's groups launch with: its own, or (DR stack) those the primary made for this region.
  instance_profile_arns = {
    for tier in ["frontend", "backend"] : tier => local.is_primary ? aws_iam_instance_profile.this[tier].arn : "arn:${local.partition}:iam::${local.account_id}:instance-profile/${local.instance_role_names[var.aws_region][tier]}"
  }
}

resource "aws_iam_role_policy_attachment" "ssm_core" {
  for_each = local.instance_roles

  role       = each.value.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "this" {
  for_each = local.instance_roles

  name = each.value.name
  role = each.value.name
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
      local.secret_arns["webui_secret_key"],
      local.secret_arns["redis_auth_token"],
      local.secret_arns["ollama_api_token"],
      aws_db_instance.webui.master_user_secret[0].secret_arn,
      local.secret_arns["webui_admin_password"],
    ], local.webui_oidc_client_secret.secretsmanager)
    backend = [local.secret_arns["ollama_api_token"]]
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

# What the instances of the stacks dr.yml rebuilds in the DR region call, as the primary knows it in advance: the
# failover stack has the primary's names, a drill's carry "-drill" (locals.tf); both run on the replicated secrets and
# encrypt their database secret with the DR key (rds.tf); the failover's uploads are the replica (DR key), a drill's a
# copy of it (DR key, playbooks/dr.yml). tests/terraform/test_terraform_instance_roles.py holds these to the calls of
# both stacks' programs.
locals {
  dr_key_arn         = local.is_primary ? aws_kms_key.dr[0].arn : ""
  dr_stack_prefixes  = [local.primary_name_prefix, "${local.primary_name_prefix}-drill"]
  dr_secret_arns     = { for key, secret in local.generated_secrets : key => "arn:${local.partition}:secretsmanager:${var.dr_region}:${local.account_id}:secret:${secret.name}-??????" }
  dr_uploads_buckets = [for bucket in [local.is_primary ? module.uploads_dr_bucket[0].id : "", "${local.primary_name_prefix}-drill-uploads-${local.account_id}-${var.dr_region}"] : "arn:${local.partition}:s3:::${bucket}"]
  dr_instance_secrets = {
    frontend = [
      local.dr_secret_arns["webui_secret_key"],
      local.dr_secret_arns["redis_auth_token"],
      local.dr_secret_arns["ollama_api_token"],
      # The DR stack's database secret (RDS names it rds!db-<id>): of the RDS-managed secrets in the DR region, only
      # those encrypted with this environment's DR key can be read (DecryptSecrets).
      "arn:${local.partition}:secretsmanager:${var.dr_region}:${local.account_id}:secret:rds!db-*",
      local.dr_secret_arns["webui_admin_password"],
    ]
    backend = [local.dr_secret_arns["ollama_api_token"]]
  }
  dr_instance_bucket_access = {
    frontend = {
      OpenWebUIUploads     = { actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources = [for arn in local.dr_uploads_buckets : "${arn}/uploads/*"] }
      ListOpenWebUIUploads = { actions = ["s3:ListBucket"], resources = local.dr_uploads_buckets }
    }
    backend = {}
  }
  dr_instance_key_use = {
    frontend = {
      DecryptSecrets = { service = "secretsmanager", actions = ["kms:Decrypt"], encryption_context = {} }
      EncryptUploads = { service = "s3", actions = ["kms:Decrypt", "kms:GenerateDataKey"], encryption_context = {} }
    }
    backend = { DecryptSecrets = { service = "secretsmanager", actions = ["kms:Decrypt"], encryption_context = {} } }
  }

  # Each instance policy: its tier, region, key and what the tier uses there.
  instance_policies = merge(
    { for tier in ["frontend", "backend"] : tier => {
      tier            = tier
      region          = var.aws_region
      key             = aws_kms_key.data.arn
      secrets         = local.instance_secrets[tier]
      key_use         = local.instance_data_key_use[tier]
      oidc_parameters = tier == "frontend" ? local.webui_oidc_client_secret.ssm : []
      buckets         = local.instance_bucket_access[tier]
      groups          = [tier == "backend" ? local.names.asg : local.names.frontend_asg]
      target_groups   = tier == "frontend" ? [aws_lb_target_group.frontend.arn] : []
    } },
    { for tier in ["frontend", "backend"] : "dr-${tier}" => {
      tier            = tier
      region          = var.dr_region
      key             = local.dr_key_arn
      secrets         = local.dr_instance_secrets[tier]
      key_use         = local.dr_instance_key_use[tier]
      oidc_parameters = []
      buckets         = local.dr_instance_bucket_access[tier]
      groups          = [for prefix in local.dr_stack_prefixes : tier == "backend" ? "${prefix}-asg" : "${prefix}-frontend-asg"]
      target_groups   = tier == "frontend" ? [for prefix in local.dr_stack_prefixes : "arn:${local.partition}:elasticloadbalancing:${var.dr_region}:${local.account_id}:targetgroup/${prefix}-frontend-tg/*"] : []
    } },
  )
}

data "aws_iam_policy_document" "instance" {
  for_each = { for key, policy in local.instance_policies : key => policy if contains(keys(local.instance_roles), key) }

  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = each.value.secrets
  }

  # The OIDC client secret when the operator keeps it in an SSM parameter (a secret is in instance_secrets).
  dynamic "statement" {
    for_each = length(each.value.oidc_parameters) > 0 ? [1] : []
    content {
      sid       = "ReadOidcClientSecretParameter"
      actions   = ["ssm:GetParameter"]
      resources = each.value.oidc_parameters
    }
  }

  dynamic "statement" {
    for_each = each.value.key_use
    content {
      sid       = statement.key
      actions   = statement.value.actions
      resources = [each.value.key]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["${statement.value.service}.${each.value.region}.amazonaws.com"]
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
    resources = flatten([for g in local.instance_log_groups[each.value.tier] : ["arn:${local.partition}:logs:${each.value.region}:${local.account_id}:log-group:${g}", "arn:${local.partition}:logs:${each.value.region}:${local.account_id}:log-group:${g}:log-stream:*"]])
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
      values   = local.instance_metric_namespaces[each.value.tier]
    }
  }

  dynamic "statement" {
    for_each = each.value.buckets
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
    resources = [for group in each.value.groups : "arn:${local.partition}:autoscaling:${each.value.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${group}"]
  }

  # ollama-platform-drain --restart: a frontend restarts Open-WebUI out of its target group when a secret rotates
  # (one replica at a time: it reads the group's target health first, which has no resource-level permissions).
  dynamic "statement" {
    for_each = length(each.value.target_groups) > 0 ? {
      RestartOutOfService = { actions = ["elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:RegisterTargets"], resources = each.value.target_groups }
      ReadTargetHealth    = { actions = ["elasticloadbalancing:DescribeTargetHealth"], resources = ["*"] }
    } : {}
    content {
      sid       = statement.key
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "instance" {
  for_each = local.instance_roles

  name   = "${each.value.name}-access"
  role   = each.value.id
  policy = data.aws_iam_policy_document.instance[each.key].json
}

# --- VPC flow logs ---

resource "aws_iam_role" "flow_logs" {
  count = local.is_primary ? 1 : 0

  name               = local.names.flow_logs_role
  description        = "VPC flow logs delivery for ${local.name_prefix} and the stacks rebuilt in ${var.dr_region}"
  assume_role_policy = data.aws_iam_policy_document.assume["flow_logs"].json
}

# The flow-log group of this region and of the DR region (a DR stack's VPC logs there with this role).
data "aws_iam_policy_document" "flow_logs" {
  count = local.is_primary ? 1 : 0

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"]
    resources = flatten([for region in [var.aws_region, var.dr_region] : ["arn:${local.partition}:logs:${region}:${local.account_id}:log-group:${local.log_groups.flow_logs}", "arn:${local.partition}:logs:${region}:${local.account_id}:log-group:${local.log_groups.flow_logs}:*"]])
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  count = local.is_primary ? 1 : 0

  name   = "${local.names.flow_logs_role}-delivery"
  role   = aws_iam_role.flow_logs[0].id
  policy = data.aws_iam_policy_document.flow_logs[0].json
}

# --- AWS Backup ---

resource "aws_iam_role" "backup" {
  count = local.is_primary ? 1 : 0

  name               = local.names.backup_role
  description        = "AWS Backup for ${local.name_prefix}"
  assume_role_policy = data.aws_iam_policy_document.assume["backup"].json
}

resource "aws_iam_role_policy_attachment" "backup" {
  for_each = local.is_primary ? toset(["AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores"]) : toset([])

  role       = aws_iam_role.backup[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/${each.key}"
}

# --- S3 replication to the DR region: the backups and uploads buckets (a DR stack replicates nothing) ---

resource "aws_iam_role" "replication" {
  count = local.is_primary ? 1 : 0

  name               = local.names.replication_role
  description        = "Replicates the backups and uploads buckets of ${local.name_prefix} to ${var.dr_region}"
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
  role   = aws_iam_role.replication[0].id
  policy = data.aws_iam_policy_document.replication[each.key].json
}

# --- RDS enhanced monitoring ---

resource "aws_iam_role" "rds_monitoring" {
  count = local.is_primary ? 1 : 0

  name               = local.names.rds_monitoring
  description        = "RDS enhanced monitoring for ${local.names.rds}"
  assume_role_policy = data.aws_iam_policy_document.assume["rds_monitoring"].json
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  count = local.is_primary ? 1 : 0

  role       = aws_iam_role.rds_monitoring[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# The roles services assume for this stack: the primary's, by name in a DR stack (IAM is global; their policies are
# AWS managed ones, and the flow-logs policy names the DR region's group too).
locals {
  service_role_arns = local.is_primary ? {
    flow_logs      = aws_iam_role.flow_logs[0].arn
    backup         = aws_iam_role.backup[0].arn
    rds_monitoring = aws_iam_role.rds_monitoring[0].arn
    } : {
    for role, name in { flow_logs = local.names.flow_logs_role, backup = local.names.backup_role, rds_monitoring = local.names.rds_monitoring } :
    role => "arn:${local.partition}:iam::${local.account_id}:role/${name}"
  }
}
