# AWS Backup: daily recovery points of RDS, DynamoDB and EBS-backed resources tagged
# for this environment, kept per environment and copied to the DR-region vault.

resource "aws_backup_vault" "this" {
  name          = local.names.backup_vault
  kms_key_arn   = aws_kms_key.data.arn
  force_destroy = !local.is_production
}

resource "aws_backup_vault" "dr" {
  count    = local.is_primary ? 1 : 0
  provider = aws.dr

  name          = "${local.names.backup_vault}-dr"
  kms_key_arn   = aws_kms_key.dr[0].arn
  force_destroy = !local.is_production
}

resource "aws_backup_plan" "this" {
  name = local.names.backup_plan

  rule {
    rule_name         = "daily"
    target_vault_name = aws_backup_vault.this.name
    schedule          = "cron(0 3 * * ? *)"
    start_window      = 60
    completion_window = 360

    lifecycle {
      delete_after = var.backup_retention_days
    }

    # Copies to the DR region (not from a DR stack: its DR region is the lost primary).
    dynamic "copy_action" {
      for_each = aws_backup_vault.dr
      content {
        destination_vault_arn = copy_action.value.arn

        lifecycle {
          delete_after = var.backup_retention_days
        }
      }
    }
  }
}

resource "aws_backup_selection" "this" {
  name         = "${local.name_prefix}-data"
  plan_id      = aws_backup_plan.this.id
  iam_role_arn = local.service_role_arns.backup
  resources = [
    aws_db_instance.webui.arn,
    aws_dynamodb_table.data.arn,
  ]
}

# EBS volumes of the fleet are rebuilt from the baked AMI; only volumes tagged Backup=true (e.g. by an operator
# keeping an instance for forensics) are backed up.
resource "aws_backup_selection" "ebs" {
  name         = "${local.name_prefix}-ebs"
  plan_id      = aws_backup_plan.this.id
  iam_role_arn = local.service_role_arns.backup
  resources    = ["arn:${local.partition}:ec2:*:*:volume/*"]

  condition {
    string_equals {
      key   = "aws:ResourceTag/Environment"
      value = var.environment
    }
    string_equals {
      key   = "aws:ResourceTag/Backup"
      value = "true"
    }
  }
}

# RDS automated backups (snapshots + transaction logs) copied continuously to the DR region: a failover restores the
# database to any second of the retention window there (RPO: minutes), with nothing read from the primary region.
resource "aws_db_instance_automated_backups_replication" "webui" {
  count    = local.is_primary ? 1 : 0
  provider = aws.dr

  source_db_instance_arn = aws_db_instance.webui.arn
  kms_key_id             = aws_kms_key.dr[0].arn
  retention_period       = var.rds_backup_retention_days
}

moved {
  from = aws_backup_vault.dr
  to   = aws_backup_vault.dr[0]
}
