locals {
  # The naming rule of terraform/locals.tf.
  name_prefix = var.environment == "production" ? "ollama" : "ollama-${var.environment}"
  account_id  = var.allowed_account_ids[0]
  names = {
    alb           = "${local.name_prefix}-alb"
    internal_alb  = "${local.name_prefix}-internal-alb"
    asg           = "${local.name_prefix}-asg"
    frontend_asg  = "${local.name_prefix}-frontend-asg"
    data_table    = "${local.name_prefix}-data-table"
    sns_topic     = "${local.name_prefix}-alarms"
    webui_secret  = "${local.name_prefix}/webui-secret-key"
    redis_secret  = "${local.name_prefix}/redis-auth-token"
    kms_alias     = "alias/${local.name_prefix}"
    assets_bucket = "${local.name_prefix}-assets-"
  }
}

# Same guard as the real root: the workspace must be the environment the variables describe.
resource "terraform_data" "environment_guard" {
  input = var.environment

  lifecycle {
    precondition {
      condition     = terraform.workspace == var.environment
      error_message = "Workspace \"${terraform.workspace}\" does not match var.environment \"${var.environment}\": run 'terraform workspace select ${var.environment}' or use environments/${terraform.workspace}.tfvars."
    }
  }
}

# Stands for the stack: its identity changes when the inputs that shape the stack change.
resource "terraform_data" "stack" {
  input = {
    environment = var.environment
    region      = var.aws_region
    backend     = var.ollama_backend_capacity
    frontend    = var.ollama_frontend_capacity
    retention   = var.log_retention_days
  }
}

resource "terraform_data" "suffix" {
  input = substr(sha256("${var.environment}-${var.aws_region}"), 0, 8)
}
