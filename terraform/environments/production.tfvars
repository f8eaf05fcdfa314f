environment         = "production"
aws_region          = "us-east-1"
dr_region           = "us-west-2"
allowed_account_ids = ["333333333333"] # replace with the production account

domain_name     = "chat.example.com"     # replace with the environment's domain
route53_zone_id = "Z0000000000000000000" # replace with the hosted zone of domain_name

# Route 53 fails origin.<domain> over to the DR region's entry on the health of the primary's load balancer
# (terraform/failover.tf, docs/BACKUP_AND_DR.md).
dr_failover_routing = true

vpc_cidr           = "10.30.0.0/16"
az_count           = 3
single_nat_gateway = false # one NAT gateway per zone

nat_gateway_enabled                 = true
vpc_interface_endpoints             = ["autoscaling", "secretsmanager", "logs", "monitoring", "ec2", "elasticloadbalancing", "ssm", "ssmmessages", "ec2messages", "kms"]
vpc_interface_endpoints_single_zone = false

# GPU inference: g6.xlarge (L4, 24 GiB) first, g5.xlarge (A10G, 24 GiB) when g6 capacity runs out; both hold the
# baked models (tests/gpu). CPU-only deployments use e.g. ["c6i.4xlarge", "c7i.4xlarge"].
ollama_backend_instance_types  = ["g6.xlarge", "g5.xlarge"]
ollama_frontend_instance_types = ["m6i.large", "m7i.large"]
ollama_backend_capacity        = { min = 3, max = 12, desired = 3 }
ollama_frontend_capacity       = { min = 3, max = 6, desired = 3 }
ollama_on_demand_base_capacity = 3
ollama_on_demand_percentage    = 100 # no spot in production
ollama_warm_pool_size          = 0   # a fallback type rules out a warm pool (docs/GPU.md)
ollama_backend_volume_gb       = 200

ollama_scale_to_zero_schedule = {
  enabled               = false
  working_days          = "MON-FRI"
  working_day_start     = "08:00"
  working_day_end       = "19:00"
  boot_to_ready_seconds = 600 # measured: launch to InService of the backend (the slower tier)
  wake_margin_seconds   = 600
  time_zone             = "Etc/UTC"
}

rds_instance_class        = "db.m7g.large"
rds_multi_az              = true
rds_backup_retention_days = 30
redis_node_type           = "cache.m7g.large"
redis_num_cache_clusters  = 3
deletion_protection       = true

log_retention_days         = 90
backup_retention_days      = 35
s3_noncurrent_version_days = 90

alarm_emails                    = ["ops@example.com"]
monthly_budget_usd              = 8000
budget_alert_thresholds_percent = [50, 80, 100]
budget_alert_emails             = ["finance@example.com"] # replace: who answers for this account's bill
billing_alarm_threshold_usd     = 10000

webui_admin_email = "admin@example.com" # replace with the Open-WebUI administrator's e-mail
