# Naming, tags and log group names, once. Pure functions of the variables: tests evaluate this file with
# variables.tf and guards.tf in a provider-free copy.

locals {
  # The naming rule (shared with filter_plugins/naming.py): "ollama-<purpose>" in production,
  # "ollama-<environment>-<purpose>" elsewhere, so environments can share an account.
  name_prefix   = var.environment == "production" ? "ollama" : "ollama-${var.environment}"
  is_production = var.environment == "production"

  names = {
    vpc               = "${local.name_prefix}-vpc"
    alb               = "${local.name_prefix}-alb"
    alb_sg            = "${local.name_prefix}-alb-sg"
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
    backend_role      = "${local.name_prefix}-backend-role"
    frontend_role     = "${local.name_prefix}-frontend-role"
    flow_logs_role    = "${local.name_prefix}-flow-logs-role"
    backup_role       = "${local.name_prefix}-backup-role"
    replication_role  = "${local.name_prefix}-replication-role"
    rds_monitoring    = "${local.name_prefix}-rds-monitoring-role"
    rds               = "${local.name_prefix}-webui-db"
    redis             = "${local.name_prefix}-webui-redis"
    waf               = "${local.name_prefix}-waf"
    cloudfront        = "${local.name_prefix}-cdn"
    sns_topic         = "${local.name_prefix}-alarms"
    dashboard         = "${local.name_prefix}-dashboard"
    budget            = "${local.name_prefix}-monthly-budget"
    backup_vault      = "${local.name_prefix}-backup-vault"
    backup_plan       = "${local.name_prefix}-backup-plan"
    webui_secret      = "${local.name_prefix}/webui-secret-key"
    api_token_secret  = "${local.name_prefix}/ollama-api-token"
    redis_secret      = "${local.name_prefix}/redis-auth-token"
    origin_secret     = "${local.name_prefix}/origin-verify-header"
    kms_data_alias    = "alias/${local.name_prefix}-data"
    kms_logs_alias    = "alias/${local.name_prefix}-logs"
    kms_dr_alias      = "alias/${local.name_prefix}-dr"

    # Open-WebUI admin access and the Session Manager transfer bucket.
    webui_admin_secret  = "${local.name_prefix}/webui-admin-password"
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
    waf        = "aws-waf-logs-${local.name_prefix}"
  }

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
