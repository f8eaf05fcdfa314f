# Monthly cost budget for this environment (filtered on the Environment cost-allocation tag).

resource "aws_budgets_budget" "monthly" {
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
    for_each = length(var.alarm_emails) > 0 ? toset([for p in var.budget_alert_thresholds_percent : tostring(p)]) : toset([])
    content {
      comparison_operator        = "GREATER_THAN"
      threshold                  = tonumber(notification.value)
      threshold_type             = "PERCENTAGE"
      notification_type          = "ACTUAL"
      subscriber_email_addresses = var.alarm_emails
    }
  }

  dynamic "notification" {
    for_each = length(var.alarm_emails) > 0 ? [max(var.budget_alert_thresholds_percent...)] : []
    content {
      comparison_operator        = "GREATER_THAN"
      threshold                  = notification.value
      threshold_type             = "PERCENTAGE"
      notification_type          = "FORECASTED"
      subscriber_email_addresses = var.alarm_emails
    }
  }
}
