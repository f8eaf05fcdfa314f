# PostgreSQL for Open-WebUI's shared state (DATABASE_URL). The master password is managed by RDS in Secrets Manager.
# It is also the shared vector store of uploaded documents (pgvector): RDS for PostgreSQL 16 ships the `vector`
# extension, which needs no parameter (no preload library; the default rds.allowed_extensions allows it). The master
# user, a member of rds_superuser, creates it in `openwebui` at the first frontend start (the open_webui role).

resource "aws_db_subnet_group" "webui" {
  name        = "${local.names.rds}-subnets"
  description = "Data subnets for ${local.names.rds}"
  subnet_ids  = aws_subnet.data[*].id
}

resource "aws_db_parameter_group" "webui" {
  name        = "${local.names.rds}-pg16"
  family      = "postgres16"
  description = "TLS-only connections and statement logging for ${local.names.rds}"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

# The logs RDS exports can hold chat content (slow statements with their parameters): each goes to a log group
# created here first, encrypted with the logs key and kept for the environment's retention. Left to RDS, the groups
# would be created unencrypted and never expire.
locals {
  rds_log_exports = ["postgresql", "upgrade"]
}

resource "aws_cloudwatch_log_group" "rds" {
  #checkov:skip=CKV_AWS_338:retention is set per environment by var.log_retention_days (30-day default per the requirements, 90 in production); longer-term evidence goes to S3 and AWS Backup
  for_each = toset(local.rds_log_exports)

  name              = "/aws/rds/instance/${local.names.rds}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

# The database secret the frontends read is encrypted with the key of the other secrets they read: the data key, or
# in a DR stack the DR key the primary created in this region (it encrypts the replicated secrets), which the
# instance roles the primary made for this region may use (iam.tf).
data "aws_kms_key" "dr_region" {
  count = local.is_primary ? 0 : 1

  key_id = local.names.kms_dr_alias
}

locals {
  instance_secrets_key_arn = local.is_primary ? aws_kms_key.data.arn : data.aws_kms_key.dr_region[0].arn
}

resource "aws_db_instance" "webui" {
  identifier            = local.names.rds
  engine                = "postgres"
  engine_version        = "16"
  instance_class        = var.rds_instance_class
  allocated_storage     = var.rds_allocated_storage_gb
  max_allocated_storage = var.rds_allocated_storage_gb * 5
  storage_type          = "gp3"
  storage_encrypted     = true
  # A restore keeps the key of the backups it starts from (RestoreDBInstanceToPointInTime takes none): in a DR stack,
  # the DR key the primary's replicated backups are encrypted with; naming another would replace the database.
  kms_key_id                            = var.dr_database_backup_arn == "" ? aws_kms_key.data.arn : data.aws_kms_key.dr_region[0].arn
  db_name                               = "openwebui"
  username                              = "openwebui"
  manage_master_user_password           = true
  master_user_secret_kms_key_id         = local.instance_secrets_key_arn
  db_subnet_group_name                  = aws_db_subnet_group.webui.name
  parameter_group_name                  = aws_db_parameter_group.webui.name
  vpc_security_group_ids                = [aws_security_group.rds.id]
  publicly_accessible                   = false
  multi_az                              = var.rds_multi_az
  backup_retention_period               = var.rds_backup_retention_days
  backup_window                         = "02:00-03:00"
  maintenance_window                    = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot                 = true
  deletion_protection                   = var.deletion_protection
  skip_final_snapshot                   = !local.is_production
  final_snapshot_identifier             = "${local.names.rds}-final"
  auto_minor_version_upgrade            = true
  iam_database_authentication_enabled   = true
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.data.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 60
  monitoring_role_arn                   = local.service_role_arns.rds_monitoring
  enabled_cloudwatch_logs_exports       = local.rds_log_exports

  # A DR stack's database: the primary's, from its automated backups replicated to this region (users, chats,
  # document vectors up to the latest restorable time, a few minutes behind the primary).
  dynamic "restore_to_point_in_time" {
    for_each = var.dr_database_backup_arn == "" ? [] : [var.dr_database_backup_arn]

    content {
      source_db_instance_automated_backups_arn = restore_to_point_in_time.value
      use_latest_restorable_time               = true
    }
  }

  # Where the database came from is its creation's business: a later apply must not restore it again.
  lifecycle {
    ignore_changes = [restore_to_point_in_time]
  }

  depends_on = [aws_cloudwatch_log_group.rds]
}
