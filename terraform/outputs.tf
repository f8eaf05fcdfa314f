# Names the Ansible side reads (roles, inventories, playbooks). No secret values: only names and ARNs.

output "ollama_environment" {
  description = "Environment this state belongs to (dev, staging or production)."
  value       = var.environment
}

output "ollama_region" {
  description = "Primary AWS region."
  value       = var.aws_region
}

output "ollama_dr_region" {
  description = "Disaster-recovery region (DynamoDB replica, backups replica, backup vault copy)."
  value       = var.dr_region
}

output "ollama_name_prefix" {
  description = "Naming prefix: \"ollama\" in production, \"ollama-<environment>\" elsewhere."
  value       = local.name_prefix
}

output "ollama_resource_names" {
  description = "Map of purpose to resource name, as built by the naming rule (bucket entries are prefixes)."
  value       = local.names
}

output "ollama_vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "ollama_private_subnet_ids" {
  description = "Private subnets of the instances, one per availability zone."
  value       = aws_subnet.private[*].id
}

output "ollama_alb_dns_name" {
  description = "DNS name of the public ALB (reachable only through CloudFront)."
  value       = aws_lb.public.dns_name
}

output "ollama_internal_alb_dns_name" {
  description = "DNS name of the internal ALB in front of the Ollama API."
  value       = aws_lb.internal.dns_name
}

output "ollama_internal_api_url" {
  description = "URL of the Ollama API behind the internal ALB (bearer token required): what Open-WebUI and verify call."
  value       = local.backend_url
}

output "ollama_cloudfront_domain_name" {
  description = "CloudFront domain name of the service; \"\" in a DR stack (the primary's distribution serves it)."
  value       = local.is_primary ? aws_cloudfront_distribution.this[0].domain_name : ""
}

output "ollama_cloudfront_distribution_id" {
  description = "CloudFront distribution ID (for invalidations after an assets deploy); \"\" in a DR stack."
  value       = local.is_primary ? aws_cloudfront_distribution.this[0].id : ""
}

output "ollama_service_url" {
  description = "URL users open: the custom domain when one is set, else the CloudFront domain."
  value       = local.service_url
}

output "ollama_backend_asg_name" {
  description = "Name of the Ollama backend Auto Scaling group; \"\" while var.ollama_fleet_enabled is false."
  value       = var.ollama_fleet_enabled ? aws_autoscaling_group.this["backend"].name : ""
}

output "ollama_frontend_asg_name" {
  description = "Name of the Open-WebUI frontend Auto Scaling group; \"\" while var.ollama_fleet_enabled is false."
  value       = var.ollama_fleet_enabled ? aws_autoscaling_group.this["frontend"].name : ""
}

output "ollama_data_table_name" {
  description = "Name of the platform's DynamoDB table."
  value       = aws_dynamodb_table.data.name
}

output "ollama_assets_bucket_name" {
  description = "Assets bucket (the CloudFront origin)."
  value       = module.assets_bucket.id
}

output "ollama_uploads_bucket_name" {
  description = "Open-WebUI uploads bucket (under uploads/): the environment's own, or in a DR stack the one dr.yml gave it."
  value       = local.uploads_bucket
}

output "ollama_logs_bucket_name" {
  description = "Access-log bucket (ALB and CloudFront)."
  value       = module.logs_bucket.id
}

output "ollama_backups_bucket_name" {
  description = "Backups bucket, replicated to the DR region."
  value       = module.backups_bucket.id
}

output "ollama_backups_dr_bucket_name" {
  description = "Replica of the backups bucket in the DR region; \"\" in a DR stack (it replicates nothing)."
  value       = local.is_primary ? module.backups_dr_bucket[0].id : ""
}

output "ollama_ssm_transfer_bucket_name" {
  description = "Name of the bucket Ansible's Session Manager connection (amazon.aws.aws_ssm) transfers files through (ansible_aws_ssm_bucket_name); objects expire after a day."
  value       = module.ssm_transfer_bucket.id
}

output "ollama_sns_topic_arn" {
  description = "ARN of the alarm SNS topic."
  value       = aws_sns_topic.alarms.arn
}

output "ollama_api_token_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the Ollama API bearer token (the ARN, not the value)."
  value       = local.secret_arns["ollama_api_token"]
}

output "ollama_webui_secret_arn" {
  description = "ARN of the Secrets Manager secret holding WEBUI_SECRET_KEY (the ARN, not the value)."
  value       = local.secret_arns["webui_secret_key"]
}

output "ollama_webui_admin_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the password of the Open-WebUI admin account var.webui_admin_email (the ARN, not the value)."
  value       = local.secret_arns["webui_admin_password"]
}

output "ollama_database_secret_arn" {
  description = "ARN of the RDS-managed master user secret of the Open-WebUI database."
  value       = aws_db_instance.webui.master_user_secret[0].secret_arn
}

output "ollama_database_endpoint" {
  description = "Address of the Open-WebUI PostgreSQL instance."
  value       = aws_db_instance.webui.address
}

output "ollama_redis_endpoint" {
  description = "Primary endpoint of the Open-WebUI Redis replication group (TLS, AUTH)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "ollama_ami_parameter_names" {
  description = "SSM parameter per tier (backend, frontend) the AMI bake writes and that tier's launch template reads."
  value       = local.ami_parameter_names
}

output "ollama_ami_parameter_name" {
  description = "The backend tier's AMI parameter, for readers of the single pre-tier name (the deploy workflow's rollback); use ollama_ami_parameter_names."
  value       = local.ami_parameter_names["backend"]
}

output "ollama_log_group_names" {
  description = "CloudWatch log groups by source."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.name }
}

output "ollama_dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "ollama_backup_vault_name" {
  description = "Name of the AWS Backup vault in the primary region."
  value       = aws_backup_vault.this.name
}

output "ollama_kms_key_arn" {
  description = "ARN of the customer-managed data key."
  value       = aws_kms_key.data.arn
}
