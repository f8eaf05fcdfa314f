# The real root's output names, with values of the right shape.
locals {
  arn_prefix = "arn:aws:%s:${var.aws_region}:${local.account_id}"
  suffix     = terraform_data.suffix.output
}

output "ollama_environment" {
  description = "Environment."
  value       = var.environment
}

output "ollama_region" {
  description = "Primary region."
  value       = var.aws_region
}

output "ollama_dr_region" {
  description = "Disaster-recovery region."
  value       = var.dr_region
}

output "ollama_name_prefix" {
  description = "Resource name prefix."
  value       = local.name_prefix
}

output "ollama_resource_names" {
  description = "Names of the main resources."
  value       = local.names
}

output "ollama_vpc_id" {
  description = "VPC id."
  value       = "vpc-${local.suffix}"
}

output "ollama_private_subnet_ids" {
  description = "Private subnet ids."
  value       = ["subnet-${local.suffix}a", "subnet-${local.suffix}b"]
}

output "ollama_alb_dns_name" {
  description = "Public ALB DNS name."
  value       = "${local.names.alb}-${local.suffix}.${var.aws_region}.elb.amazonaws.com"
}

output "ollama_internal_alb_dns_name" {
  description = "Internal ALB DNS name."
  value       = "internal-${local.names.internal_alb}-${local.suffix}.${var.aws_region}.elb.amazonaws.com"
}

output "ollama_internal_api_url" {
  description = "URL of the Ollama API behind the internal ALB."
  value       = "${var.domain_name != "" ? "https" : "http"}://internal-${local.names.internal_alb}-${local.suffix}.${var.aws_region}.elb.amazonaws.com"
}

output "ollama_cloudfront_domain_name" {
  description = "CloudFront domain."
  value       = "d${local.suffix}.cloudfront.net"
}

output "ollama_cloudfront_distribution_id" {
  description = "CloudFront distribution id."
  value       = upper("E${local.suffix}")
}

output "ollama_service_url" {
  description = "Public URL of the service."
  value       = var.domain_name != "" ? "https://${var.domain_name}" : "https://d${local.suffix}.cloudfront.net"
}

output "ollama_backend_asg_name" {
  description = "Backend ASG."
  value       = var.ollama_fleet_enabled ? local.names.asg : "" # "" without the fleet, as the real root
}

output "ollama_frontend_asg_name" {
  description = "Frontend ASG."
  value       = var.ollama_fleet_enabled ? local.names.frontend_asg : "" # "" without the fleet, as the real root
}

output "ollama_data_table_name" {
  description = "DynamoDB table."
  value       = local.names.data_table
}

output "ollama_assets_bucket_name" {
  description = "Assets bucket."
  value       = "${local.name_prefix}-assets-${local.suffix}"
}

output "ollama_uploads_bucket_name" {
  description = "Open-WebUI uploads bucket."
  value       = var.dr_uploads_bucket != "" ? var.dr_uploads_bucket : "${local.name_prefix}-uploads-${local.suffix}"
}

output "ollama_logs_bucket_name" {
  description = "Logs bucket."
  value       = "${local.name_prefix}-logs-${local.suffix}"
}

output "ollama_backups_bucket_name" {
  description = "Backups bucket."
  value       = "${local.name_prefix}-backups-${local.suffix}"
}

output "ollama_backups_dr_bucket_name" {
  description = "DR backups bucket."
  value       = "${local.name_prefix}-backups-dr-${local.suffix}"
}

output "ollama_sns_topic_arn" {
  description = "Alarm topic."
  value       = "${format(local.arn_prefix, "sns")}:${local.names.sns_topic}"
}

output "ollama_api_token_secret_arn" {
  description = "Secret ARN of the Ollama API token."
  value       = "${format(local.arn_prefix, "secretsmanager")}:secret:${local.name_prefix}/ollama-api-token-${local.suffix}"
}

output "ollama_webui_secret_arn" {
  description = "Secret ARN of WEBUI_SECRET_KEY."
  value       = "${format(local.arn_prefix, "secretsmanager")}:secret:${local.names.webui_secret}-${local.suffix}"
}

output "ollama_webui_admin_secret_arn" {
  description = "Secret ARN of the Open-WebUI admin password."
  value       = "${format(local.arn_prefix, "secretsmanager")}:secret:${local.name_prefix}/webui-admin-password-${local.suffix}"
}

output "ollama_ssm_transfer_bucket_name" {
  description = "Unversioned, short-lived bucket Session Manager transfers files through."
  value       = "${local.name_prefix}-ssm-transfer-${local.suffix}"
}

output "ollama_database_secret_arn" {
  description = "RDS master user secret ARN."
  value       = "${format(local.arn_prefix, "secretsmanager")}:secret:rds!db-${local.suffix}"
}

output "ollama_database_endpoint" {
  description = "Database address."
  value       = "${local.name_prefix}-webui-db.${local.suffix}.${var.aws_region}.rds.amazonaws.com"
}

output "ollama_redis_endpoint" {
  description = "Redis primary endpoint."
  value       = "master.${local.name_prefix}-webui-redis.${local.suffix}.cache.amazonaws.com"
}

output "ollama_ami_parameter_names" {
  description = "SSM parameter of the AMI id per tier."
  value       = { for tier in ["backend", "frontend"] : tier => "/ollama/${var.environment}/${tier}/ami-id" }
}

output "ollama_ami_parameter_name" {
  description = "The backend tier's AMI parameter (single pre-tier name)."
  value       = "/ollama/${var.environment}/backend/ami-id"
}

output "ollama_log_group_names" {
  description = "Log groups."
  value       = { for s in ["ollama", "open-webui", "nginx", "system"] : s => "/ollama/${var.environment}/${s}" }
}

output "ollama_dashboard_name" {
  description = "Dashboard."
  value       = "${local.name_prefix}-dashboard"
}

output "ollama_backup_vault_name" {
  description = "Backup vault."
  value       = "${local.name_prefix}-backup-vault"
}

output "ollama_kms_key_arn" {
  description = "Data KMS key."
  value       = "${format(local.arn_prefix, "kms")}:key/${terraform_data.stack.id}"
}
