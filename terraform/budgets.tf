# Cost alerts that reach a person: the monthly budget (actual and forecast) and Cost Anomaly Detection, both to
# var.budget_alert_emails. The budget filters on the Environment cost-allocation tag: AWS applies such a filter only
# once the tag is activated in the payer account's Billing console (Cost allocation tags), see docs/COSTS.md.
# Global services (control plane in us-east-1): the primary stack's alone; they keep counting a DR stack's spend.

resource "aws_budgets_budget" "monthly" {
  count = local.is_primary ? 1 : 0

  name         = local.names.budget
  budget_type  = "COST"
  limit_amount = tostring(var.monthly_budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  cost_filter {
    name   = "TagKeyValue"
    values = [format("user:Environment$%s", var.environment)]
  }

  dynamic "notification" {
    for_each = toset([for p in var.budget_alert_thresholds_percent : tostring(p)])
    content {
      comparison_operator        = "GREATER_THAN"
      threshold                  = tonumber(notification.value)
      threshold_type             = "PERCENTAGE"
      notification_type          = "ACTUAL"
      subscriber_email_addresses = var.budget_alert_emails
    }
  }

  notification {
    comparison_operator        = "GREATER_THAN"
    threshold                  = max(var.budget_alert_thresholds_percent...)
    threshold_type             = "PERCENTAGE"
    notification_type          = "FORECASTED"
    subscriber_email_addresses = var.budget_alert_emails
  }
}

# One anomaly monitor per account (AWS allows one per service dimension): where environments share an account, set
# var.cost_anomaly_monitor_enabled = false in all but one of them.
resource "aws_ce_anomaly_monitor" "this" {
  count = var.cost_anomaly_monitor_enabled && local.is_primary ? 1 : 0

  name              = "${local.name_prefix}-cost-anomalies"
  monitor_type      = "DIMENSIONAL"
  monitor_dimension = "SERVICE"
}

resource "aws_ce_anomaly_subscription" "this" {
  count = var.cost_anomaly_monitor_enabled && local.is_primary ? 1 : 0

  name             = "${local.name_prefix}-cost-anomalies"
  frequency        = "DAILY"
  monitor_arn_list = [aws_ce_anomaly_monitor.this[0].arn]

  threshold_expression {
    dimension {
      key           = "ANOMALY_TOTAL_IMPACT_ABSOLUTE"
      match_options = ["GREATER_THAN_OR_EQUAL"]
      values        = [tostring(var.cost_anomaly_threshold_usd)]
    }
  }

  dynamic "subscriber" {
    for_each = toset(var.budget_alert_emails)
    content {
      type    = "EMAIL"
      address = subscriber.value
    }
  }
}
