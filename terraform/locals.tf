# Naming, tags and log group names, once. Pure functions of the variables: tests evaluate this file with
# variables.tf and guards.tf in a provider-free copy.

locals {
  # The naming rule (shared with filter_plugins/naming.py): "ollama-<purpose>" in production,
  # "ollama-<environment>-<purpose>" elsewhere, so environments can share an account.
  # A DR drill's stack (var.dr_mode = "drill") has names of its own: it stands beside the primary's replicas.
  primary_name_prefix = var.environment == "production" ? "ollama" : "ollama-${var.environment}"
  name_prefix         = "${local.primary_name_prefix}${var.dr_mode == "drill" ? "-drill" : ""}"
  # us-east-1-only names (CloudFront, WAF, budget, billing alarm) carry the stack's region.
  global_name_prefix = "${local.name_prefix}-${var.aws_region}"
  is_production      = var.environment == "production"
  # The primary stack (var.dr_mode = "") prepares the DR region (aws.dr: its key, the replicas, the backup vault copy)
  # and owns IAM. A DR stack's var.dr_region is the lost primary: it creates nothing there and its aws.dr provider
  # points at its own region (providers.tf), so nothing it plans or applies calls the lost region.
  is_primary = var.dr_mode == ""
  # IAM is global and its control plane is in us-east-1: the primary stack creates every role, named for its region,
  # and the DR region's instance roles in advance (iam.tf). A DR stack uses them by name and writes nothing to IAM.
  primary_region  = local.is_primary ? var.aws_region : var.dr_region
  iam_name_prefix = "${local.primary_name_prefix}-${local.primary_region}"
  # The instance roles (and profiles, of the same names) each region's stacks launch with.
  instance_role_names = {
    for region in [var.aws_region, var.dr_region] : region => {
      for tier in ["frontend", "backend"] : tier => "${local.primary_name_prefix}-${region}-${tier}-role"
    }
  }

  names = {
    vpc               = "${local.name_prefix}-vpc"
    alb               = "${local.name_prefix}-alb"
    alb_sg            = "${local.name_prefix}-alb-sg"
    alb_health_sg     = "${local.name_prefix}-alb-health-sg"
    entry             = "${local.name_prefix}-entry"
    internal_entry    = "${local.name_prefix}-entry-int"
    dr_entry          = "${local.primary_name_prefix}-dr-entry"
    internal_alb      = "${local.name_prefix}-internal-alb"
    internal_alb_sg   = "${local.name_prefix}-internal-alb-sg"
    frontend_tg       = "${local.name_prefix}-frontend-tg"
    backend_tg        = "${local.name_prefix}-backend-tg"
    frontend_sg       = "${local.name_prefix}-frontend-sg"
    backend_sg        = "${local.name_prefix}-backend-sg"
    endpoints_sg      = "${local.name_prefix}-endpoints-sg"
    rds_sg            = "${local.name_prefix}-rds-sg"
    redis_sg          = "${local.name_prefix}-redis-sg"
    asg               = "${local.name_prefix}-asg"
    frontend_asg      = "${local.name_prefix}-frontend-asg"
    backend_lt        = "${local.name_prefix}-backend-lt"
    frontend_lt       = "${local.name_prefix}-frontend-lt"
    high_cpu_alarm    = "${local.name_prefix}-high-cpu"
    low_cpu_alarm     = "${local.name_prefix}-low-cpu"
    data_table        = "${local.name_prefix}-data-table"
    assets_bucket     = "${local.name_prefix}-assets-"
    logs_bucket       = "${local.name_prefix}-logs-"
    backups_bucket    = "${local.name_prefix}-backups-"
    backups_dr_bucket = "${local.name_prefix}-backups-dr-"
    backend_role      = local.instance_role_names[var.aws_region].backend
    frontend_role     = local.instance_role_names[var.aws_region].frontend
    flow_logs_role    = "${local.iam_name_prefix}-flow-logs-role"
    backup_role       = "${local.iam_name_prefix}-backup-role"
    replication_role  = "${local.iam_name_prefix}-replication-role"
    rds_monitoring    = "${local.iam_name_prefix}-rds-monitoring-role"
    rds               = "${local.name_prefix}-webui-db"
    redis             = "${local.name_prefix}-webui-redis"
    waf               = "${local.global_name_prefix}-waf"
    cloudfront        = "${local.name_prefix}-cdn"
    sns_topic         = "${local.name_prefix}-alarms"
    dashboard         = "${local.name_prefix}-dashboard"
    budget            = "${local.global_name_prefix}-monthly-budget"
    backup_vault      = "${local.name_prefix}-backup-vault"
    backup_plan       = "${local.name_prefix}-backup-plan"
    # The primary's secrets, which a DR stack reads as the replicas in its region (secrets.tf), and its DR-region key.
    webui_secret     = "${local.primary_name_prefix}/webui-secret-key"
    api_token_secret = "${local.primary_name_prefix}/ollama-api-token"
    redis_secret     = "${local.primary_name_prefix}/redis-auth-token"
    origin_secret    = "${local.primary_name_prefix}/origin-verify-header"
    kms_data_alias   = "alias/${local.name_prefix}-data"
    kms_logs_alias   = "alias/${local.name_prefix}-logs"
    kms_dr_alias     = "alias/${local.primary_name_prefix}-dr"

    # Open-WebUI admin access and the Session Manager transfer bucket.
    webui_admin_secret  = "${local.primary_name_prefix}/webui-admin-password"
    ssm_transfer_bucket = "${local.name_prefix}-ssm-transfer-"
  }

  # Log groups: /ollama/<environment>/<source>.
  log_group_prefix = "/ollama/${var.environment}"
  log_groups = {
    ollama     = "${local.log_group_prefix}/ollama"
    open_webui = "${local.log_group_prefix}/open-webui"
    nginx      = "${local.log_group_prefix}/nginx"
    system     = "${local.log_group_prefix}/system"
    flow_logs  = "${local.log_group_prefix}/vpc-flow-logs"
    waf        = "aws-waf-logs-${local.global_name_prefix}"
  }

  # SSM parameters in the DR region that tell playbooks/dr.yml where the replicas are (read there, never in the primary).
  dr_parameter_names = { uploads_bucket = "/ollama/${var.environment}/dr/uploads-bucket" }

  # SSM parameters the AMI bake writes (roles/ami_bake, one image per tier) and the launch templates read.
  ami_parameter_names = { for tier in ["backend", "frontend"] : tier => "/ollama/${var.environment}/${tier}/ami-id" }
  # The tiers whose image is looked up (asg.tf): none until the first bake has written them (var.ollama_fleet_enabled).
  fleet_ami_parameter_names = var.ollama_fleet_enabled ? local.ami_parameter_names : {}

  # The OIDC client secret of var.webui_oidc by the service holding it (a Secrets Manager secret or an SSM
  # parameter): the frontend role may read exactly that one (iam.tf).
  webui_oidc_client_secret = {
    for service in ["secretsmanager", "ssm"] : service => [
      for arn in(var.webui_oidc == null ? [] : [var.webui_oidc.client_secret_arn]) : arn if split(":", arn)[2] == service
    ]
  }

  tags = merge(
    {
      Project     = "ollama"
      Environment = var.environment
      ManagedBy   = "terraform"
      Service     = "ollama"
      CostCenter  = var.cost_center
      Owner       = var.owner
    },
    var.extra_tags,
  )
}

# Drain and schedule timings derived from the variables (asg.tf, alb.tf, scaling.tf), evaluated offline by the tests.
locals {
  # An instance leaving service keeps its streams for the longest generation plus the time to send the last tokens.
  drain_seconds = var.ollama_max_generation_seconds + 30
  # The terminating hook outlives the drain, so the instance completes it (CONTINUE) before the heartbeat runs out.
  drain_hook_timeout = local.drain_seconds + 90

  # Minutes after midnight; a malformed "HH:MM" is refused by the variable's validation, not here.
  schedule_start_minute = try(tonumber(split(":", var.ollama_scale_to_zero_schedule.working_day_start)[0]) * 60 + tonumber(split(":", var.ollama_scale_to_zero_schedule.working_day_start)[1]), 0)
  schedule_end_minute   = try(tonumber(split(":", var.ollama_scale_to_zero_schedule.working_day_end)[0]) * 60 + tonumber(split(":", var.ollama_scale_to_zero_schedule.working_day_end)[1]), 0)
  schedule_wake_minute = local.schedule_start_minute - ceil(
    (var.ollama_scale_to_zero_schedule.boot_to_ready_seconds + var.ollama_scale_to_zero_schedule.wake_margin_seconds) / 60
  )
  schedule_cron = {
    wake  = "${local.schedule_wake_minute % 60} ${floor(local.schedule_wake_minute / 60)} * * ${var.ollama_scale_to_zero_schedule.working_days}"
    sleep = "${local.schedule_end_minute % 60} ${floor(local.schedule_end_minute / 60)} * * ${var.ollama_scale_to_zero_schedule.working_days}"
  }
}
