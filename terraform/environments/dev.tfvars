environment         = "dev"
aws_region          = "us-east-1"
dr_region           = "us-west-2"
allowed_account_ids = ["111111111111"] # replace with the dev account

domain_name     = "chat.dev.example.com" # replace with the environment's domain
route53_zone_id = "Z0000000000000000000" # replace with the hosted zone of domain_name

# No Route 53 failover of origin.<domain> in dev (its Elastic IPs and health check would take dev over half its
# budget): a dev DR stack is rebuilt and checked, but traffic stays on the primary's record.
dr_failover_routing = false

vpc_cidr           = "10.10.0.0/16"
az_count           = 2
single_nat_gateway = true

# Dev pays for what its instances use (docs/COSTS.md): no NAT gateway (the bake's builder takes a public IP), the
# boot path's interface endpoints only, in one zone. Add ssm, ssmmessages, ec2messages for Session Manager shells.
nat_gateway_enabled                 = false
vpc_interface_endpoints             = ["autoscaling", "secretsmanager", "logs", "monitoring", "ec2"]
vpc_interface_endpoints_single_zone = true

ollama_backend_instance_types  = ["c6i.xlarge", "c6a.xlarge", "c7i.xlarge"]
ollama_frontend_instance_types = ["t3.medium", "t3a.medium"]
ollama_backend_capacity        = { min = 1, max = 2, desired = 1 }
ollama_frontend_capacity       = { min = 1, max = 2, desired = 1 }
ollama_on_demand_base_capacity = 0
ollama_on_demand_percentage    = 0 # all spot
ollama_warm_pool_size          = 0
ollama_backend_volume_gb       = 60

ollama_scale_to_zero_schedule = {
  enabled               = true
  working_days          = "MON-FRI"
  working_day_start     = "08:00"
  working_day_end       = "19:00"
  boot_to_ready_seconds = 600 # measured: launch to InService of the backend (the slower tier)
  wake_margin_seconds   = 600
  time_zone             = "Etc/UTC"
}

rds_instance_class        = "db.t4g.micro"
rds_multi_az              = false
rds_backup_retention_days = 1
redis_node_type           = "cache.t4g.micro"
redis_num_cache_clusters  = 1
deletion_protection       = false

log_retention_days         = 14
backup_retention_days      = 7
s3_noncurrent_version_days = 7

alarm_emails                    = ["ops@example.com"]
monthly_budget_usd              = 300
budget_alert_thresholds_percent = [80, 100]
budget_alert_emails             = ["dev-owners@example.com"] # replace: who answers for this account's bill
billing_alarm_threshold_usd     = 400

webui_admin_email = "admin@example.com" # replace with the Open-WebUI administrator's e-mail
