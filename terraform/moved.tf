# State migrations: each block carries an address of an earlier layout to where the resource lives now, so an
# existing stack keeps it (tests/terraform/test_terraform_addresses.py). Never delete one while a stack may hold the old address.

# Singletons that gained count when the fleet became switchable (var.ollama_fleet_enabled).

moved {
  from = aws_autoscaling_policy.inflight
  to   = aws_autoscaling_policy.inflight[0]
}

moved {
  from = aws_autoscaling_policy.step_out
  to   = aws_autoscaling_policy.step_out[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.high_cpu
  to   = aws_cloudwatch_metric_alarm.high_cpu[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.low_cpu
  to   = aws_cloudwatch_metric_alarm.low_cpu[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.frontend_cpu
  to   = aws_cloudwatch_metric_alarm.frontend_cpu[0]
}

# Buckets moved into modules/s3_bucket (one module call per bucket, s3.tf).

moved {
  from = aws_s3_bucket.assets
  to   = module.assets_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_versioning.assets
  to   = module.assets_bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.assets
  to   = module.assets_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_public_access_block.assets
  to   = module.assets_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_ownership_controls.assets
  to   = module.assets_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.assets
  to   = module.assets_bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.assets
  to   = module.assets_bucket.aws_s3_bucket_policy.this
}

moved {
  from = aws_s3_bucket_logging.assets
  to   = module.assets_bucket.aws_s3_bucket_logging.this[0]
}

moved {
  from = aws_s3_bucket.logs
  to   = module.logs_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_versioning.logs
  to   = module.logs_bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.logs
  to   = module.logs_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_public_access_block.logs
  to   = module.logs_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_ownership_controls.logs
  to   = module.logs_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.logs
  to   = module.logs_bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.logs
  to   = module.logs_bucket.aws_s3_bucket_policy.this
}

moved {
  from = aws_s3_bucket.backups
  to   = module.backups_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_versioning.backups
  to   = module.backups_bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.backups
  to   = module.backups_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_public_access_block.backups
  to   = module.backups_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_ownership_controls.backups
  to   = module.backups_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.backups
  to   = module.backups_bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.backups
  to   = module.backups_bucket.aws_s3_bucket_policy.this
}

moved {
  from = aws_s3_bucket_logging.backups
  to   = module.backups_bucket.aws_s3_bucket_logging.this[0]
}

moved {
  from = aws_s3_bucket.backups_dr
  to   = module.backups_dr_bucket.aws_s3_bucket.this
}

moved {
  from = aws_s3_bucket_versioning.backups_dr
  to   = module.backups_dr_bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.backups_dr
  to   = module.backups_dr_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_public_access_block.backups_dr
  to   = module.backups_dr_bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_ownership_controls.backups_dr
  to   = module.backups_dr_bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.backups_dr
  to   = module.backups_dr_bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.backups_dr
  to   = module.backups_dr_bucket.aws_s3_bucket_policy.this
}

# A domain became required (no plain-HTTP mode): the HTTPS-listener singleton lost its count, and the public ALB's
# HTTP listener (redirect or 403) is gone. (Its certificates and DNS records have a count again: the primary stack's
# alone, below.)

moved {
  from = aws_lb_listener.public_https[0]
  to   = aws_lb_listener.public_https
}

removed {
  from = aws_lb_listener.public_http

  lifecycle {
    destroy = true
  }
}

# The backend's low-CPU step scale-in fought the in-flight target tracking (GPU hosts generate at low CPU): it is gone,
# and the in-flight policy alone scales the backend in (terraform/scaling.tf).
removed {
  from = aws_autoscaling_policy.step_in

  lifecycle {
    destroy = true
  }
}

# The replication role's inline policies are one for_each over local.replicated_buckets (iam.tf).
moved {
  from = aws_iam_role_policy.replication
  to   = aws_iam_role_policy.replication["backups"]
}

moved {
  from = aws_iam_role_policy.replication_uploads[0]
  to   = aws_iam_role_policy.replication["uploads"]
}

# The frontend's uploads statements are part of its instance policy (iam.tf, local.instance_bucket_access).
removed {
  from = aws_iam_role_policy.frontend_uploads

  lifecycle {
    destroy = true
  }
}

# The primary stack alone creates what lives in the DR region (local.is_primary): a DR stack's DR region is the lost
# primary. The DR key, its alias, the backups replica and the backups replication gained a count.
moved {
  from = aws_kms_key.dr
  to   = aws_kms_key.dr[0]
}

moved {
  from = aws_kms_alias.dr
  to   = aws_kms_alias.dr[0]
}

moved {
  from = module.backups_dr_bucket
  to   = module.backups_dr_bucket[0]
}

moved {
  from = aws_s3_bucket_replication_configuration.backups
  to   = aws_s3_bucket_replication_configuration.backups[0]
}

# IAM belongs to the primary stack (a DR stack writes nothing to it): its roles gained a count, the instance profiles
# are one for_each over its instance roles (its region's and the DR region's).
moved {
  from = aws_iam_instance_profile.frontend
  to   = aws_iam_instance_profile.this["frontend"]
}

moved {
  from = aws_iam_instance_profile.backend
  to   = aws_iam_instance_profile.this["backend"]
}

moved {
  from = aws_iam_role.flow_logs
  to   = aws_iam_role.flow_logs[0]
}

moved {
  from = aws_iam_role_policy.flow_logs
  to   = aws_iam_role_policy.flow_logs[0]
}

moved {
  from = aws_iam_role.backup
  to   = aws_iam_role.backup[0]
}

moved {
  from = aws_iam_role.replication
  to   = aws_iam_role.replication[0]
}

moved {
  from = aws_iam_role.rds_monitoring
  to   = aws_iam_role.rds_monitoring[0]
}

moved {
  from = aws_iam_role_policy_attachment.rds_monitoring
  to   = aws_iam_role_policy_attachment.rds_monitoring[0]
}

# The global layer belongs to the primary stack (a DR stack writes nothing to us-east-1 control planes): its
# certificates, DNS records, CloudFront distribution, WAF, us-east-1 key, billing alarm and budget gained a count.
# origin.<domain> became the PRIMARY of a failover pair (failover.tf): a set identifier replaces the record.

moved {
  from = aws_acm_certificate.regional
  to   = aws_acm_certificate.regional[0]
}

moved {
  from = aws_acm_certificate.cloudfront
  to   = aws_acm_certificate.cloudfront[0]
}

moved {
  from = aws_acm_certificate_validation.regional
  to   = aws_acm_certificate_validation.regional[0]
}

moved {
  from = aws_acm_certificate_validation.cloudfront
  to   = aws_acm_certificate_validation.cloudfront[0]
}

moved {
  from = aws_route53_record.origin
  to   = aws_route53_record.origin[0]
}

moved {
  from = aws_route53_record.backend
  to   = aws_route53_record.backend[0]
}

moved {
  from = aws_cloudfront_origin_access_control.assets
  to   = aws_cloudfront_origin_access_control.assets[0]
}

moved {
  from = aws_cloudfront_distribution.this
  to   = aws_cloudfront_distribution.this[0]
}

moved {
  from = aws_wafv2_web_acl.this
  to   = aws_wafv2_web_acl.this[0]
}

moved {
  from = aws_kms_key.edge
  to   = aws_kms_key.edge[0]
}

moved {
  from = aws_cloudwatch_log_group.waf
  to   = aws_cloudwatch_log_group.waf[0]
}

moved {
  from = aws_wafv2_web_acl_logging_configuration.this
  to   = aws_wafv2_web_acl_logging_configuration.this[0]
}

moved {
  from = aws_sns_topic.billing
  to   = aws_sns_topic.billing[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.billing
  to   = aws_cloudwatch_metric_alarm.billing[0]
}

moved {
  from = aws_budgets_budget.monthly
  to   = aws_budgets_budget.monthly[0]
}
