environment         = "staging"
aws_region          = "us-east-1"
dr_region           = "us-west-2"
allowed_account_ids = ["222222222222"] # replace with the staging account

domain_name     = "chat.staging.example.com" # replace with the environment's domain
route53_zone_id = "Z0000000000000000000"     # replace with the hosted zone of domain_name

# Route 53 fails origin.<domain> over to the DR region's entry on the health of the primary's load balancer
# (terraform/failover.tf, docs/BACKUP_AND_DR.md).
dr_failover_routing = true

vpc_cidr           = "10.20.0.0/16"
az_count           = 2
single_nat_gateway = true

nat_gateway_enabled                 = true
vpc_interface_endpoints             = ["autoscaling", "secretsmanager", "logs", "monitoring", "ec2", "elasticloadbalancing", "ssm", "ssmmessages", "ec2messages", "kms"]
vpc_interface_endpoints_single_zone = false

ollama_backend_instance_types  = ["c6i.2xlarge", "c6a.2xlarge", "c7i.2xlarge"]
ollama_frontend_instance_types = ["t3.large", "t3a.large"]
ollama_backend_capacity        = { min = 1, max = 4, desired = 2 }
ollama_frontend_capacity       = { min = 2, max = 3, desired = 2 }
ollama_on_demand_base_capacity = 1
ollama_on_demand_percentage    = 25
ollama_warm_pool_size          = 0
ollama_backend_volume_gb       = 100

ollama_scale_to_zero_schedule = {
  enabled               = true
  working_days          = "MON-FRI"
  working_day_start     = "08:00"
  working_day_end       = "19:00"
  boot_to_ready_seconds = 600 # measured: launch to InService of the backend (the slower tier)
  wake_margin_seconds   = 600
  time_zone             = "Etc/UTC"
}

rds_instance_class        = "db.t4g.small"
rds_multi_az              = false
rds_backup_retention_days = 7
redis_node_type           = "cache.t4g.small"
redis_num_cache_clusters  = 2
deletion_protection       = false

log_retention_days         = 30
backup_retention_days      = 14
s3_noncurrent_version_days = 30

alarm_emails                    = ["ops@example.com"]
monthly_budget_usd              = 1500
budget_alert_thresholds_percent = [80, 100]
budget_alert_emails             = ["staging-owners@example.com"] # replace: who answers for this account's bill
billing_alarm_threshold_usd     = 2000

webui_admin_email = "admin@example.com" # replace with the Open-WebUI administrator's e-mail
