# Log groups /ollama/<env>/..., the alarm topic, alarms, the dashboard and the billing alarm.

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:retention is set per environment by var.log_retention_days (30-day default per the requirements, 90 in production); longer-term evidence goes to S3 and AWS Backup
  for_each = { for k, v in local.log_groups : k => v if k != "waf" }

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_sns_topic" "alarms" {
  name              = local.names.sns_topic
  kms_master_key_id = aws_kms_key.data.id
}

# Who the alarms reach (validated per environment in variables.tf). Each subscriber confirms once; until then
# playbooks/verify.yml lists the subscription as pending.
resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_sns_topic_subscription" "https" {
  for_each = toset(var.alarm_https_endpoints)

  topic_arn              = aws_sns_topic.alarms.arn
  protocol               = "https"
  endpoint               = each.value
  endpoint_auto_confirms = true
}

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]
  alb_dimensions = {
    frontend = { LoadBalancer = aws_lb.public.arn_suffix, TargetGroup = aws_lb_target_group.frontend.arn_suffix }
    backend  = { LoadBalancer = aws_lb.internal.arn_suffix, TargetGroup = aws_lb_target_group.backend.arn_suffix }
  }
}

# --- Scaling alarms of the backend ("ollama-high-cpu" / "ollama-low-cpu"), with the fleet ---

resource "aws_cloudwatch_metric_alarm" "high_cpu" {
  count = var.ollama_fleet_enabled ? 1 : 0

  alarm_name          = local.names.high_cpu_alarm
  alarm_description   = "Backend CPU above 75% for 3 minutes: step scale-out of ${local.names.asg}"
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 3
  threshold           = 75
  comparison_operator = "GreaterThanOrEqualToThreshold"
  dimensions          = { AutoScalingGroupName = aws_autoscaling_group.this["backend"].name }
  alarm_actions       = [aws_autoscaling_policy.step_out[0].arn, aws_sns_topic.alarms.arn]
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "low_cpu" {
  count = var.ollama_fleet_enabled ? 1 : 0

  alarm_name          = local.names.low_cpu_alarm
  alarm_description   = "Backend CPU below 20% for 15 minutes: a notice only (GPU hosts generate at low CPU; ${local.names.asg} scales in on in-flight generations)"
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  threshold           = 20
  comparison_operator = "LessThanOrEqualToThreshold"
  dimensions          = { AutoScalingGroupName = aws_autoscaling_group.this["backend"].name }
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- Service alarms ---

resource "aws_cloudwatch_metric_alarm" "alb_5xx" {
  alarm_name          = "${local.name_prefix}-alb-5xx-rate"
  alarm_description   = "More than 5% of requests to ${local.names.alb} end in a 5xx for 5 minutes"
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 5
  threshold           = 5
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = "100 * (errors_elb + errors_target) / MAX([requests, 1])"
    label       = "5xx rate (%)"
    return_data = true
  }

  metric_query {
    id = "errors_elb"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      period      = 60
      stat        = "Sum"
      dimensions  = { LoadBalancer = aws_lb.public.arn_suffix }
    }
  }

  metric_query {
    id = "errors_target"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      period      = 60
      stat        = "Sum"
      dimensions  = { LoadBalancer = aws_lb.public.arn_suffix }
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      period      = 60
      stat        = "Sum"
      dimensions  = { LoadBalancer = aws_lb.public.arn_suffix }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  for_each = local.alb_dimensions

  alarm_name          = "${local.name_prefix}-${each.key}-unhealthy-hosts"
  alarm_description   = "Unhealthy ${each.key} targets for 3 minutes"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  dimensions          = each.value
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "latency" {
  for_each = local.alb_dimensions

  alarm_name          = "${local.name_prefix}-${each.key}-latency-p95"
  alarm_description   = "p95 target response time of the ${each.key} tier too high for 5 minutes"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  extended_statistic  = "p95"
  period              = 60
  evaluation_periods  = 5
  threshold           = each.key == "backend" ? 60 : 5
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = each.value
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "frontend_cpu" {
  count = var.ollama_fleet_enabled ? 1 : 0

  alarm_name          = "${local.name_prefix}-frontend-high-cpu"
  alarm_description   = "Open-WebUI CPU above 80% for 10 minutes despite target tracking"
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 10
  threshold           = 80
  comparison_operator = "GreaterThanThreshold"
  dimensions          = { AutoScalingGroupName = aws_autoscaling_group.this["frontend"].name }
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "inflight" {
  alarm_name          = "${local.name_prefix}-inflight-requests"
  alarm_description   = "In-flight inference requests per backend instance above 2x target for 10 minutes (capacity exhausted?)"
  namespace           = "Ollama"
  metric_name         = "InFlightRequests"
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 10
  threshold           = var.ollama_inflight_target * 2
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = { AutoScalingGroupName = local.names.asg }
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "model_load_failures" {
  alarm_name          = "${local.name_prefix}-model-load-failures"
  alarm_description   = "Ollama failed to load a model on ${local.names.asg} (out of memory? corrupt blob?): read /ollama/<env>/ollama"
  namespace           = "Ollama"
  metric_name         = "ModelLoadFailures"
  statistic           = "Sum"
  unit                = "Count"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = { AutoScalingGroupName = local.names.asg }
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "rds" {
  for_each = {
    cpu     = { metric = "CPUUtilization", threshold = 80, op = "GreaterThanThreshold", desc = "RDS CPU above 80%" }
    storage = { metric = "FreeStorageSpace", threshold = 2147483648, op = "LessThanThreshold", desc = "RDS free storage below 2 GiB" }
    memory  = { metric = "FreeableMemory", threshold = 104857600, op = "LessThanThreshold", desc = "RDS freeable memory below 100 MiB" }
  }

  alarm_name          = "${local.name_prefix}-rds-${each.key}"
  alarm_description   = "${each.value.desc} on ${local.names.rds}"
  namespace           = "AWS/RDS"
  metric_name         = each.value.metric
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  threshold           = each.value.threshold
  comparison_operator = each.value.op
  dimensions          = { DBInstanceIdentifier = aws_db_instance.webui.identifier }
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  for_each = toset(["ReadThrottleEvents", "WriteThrottleEvents"])

  alarm_name          = "${local.name_prefix}-dynamodb-${lower(replace(each.key, "ThrottleEvents", ""))}-throttles"
  alarm_description   = "${each.key} on ${local.names.data_table}"
  namespace           = "AWS/DynamoDB"
  metric_name         = each.key
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = { TableName = aws_dynamodb_table.data.name }
  alarm_actions       = local.alarm_actions
}

# Billing metrics exist only in us-east-1 (and need "Receive Billing Alerts" enabled on the account). The topic uses
# the us-east-1 customer-managed key: alarms cannot publish to a topic under the AWS-managed SNS key. Account-wide
# and in us-east-1: the primary stack's alone.
resource "aws_sns_topic" "billing" {
  count    = local.is_primary ? 1 : 0
  provider = aws.us_east_1

  name              = "${local.name_prefix}-billing-alarms"
  kms_master_key_id = aws_kms_key.edge[0].id
}

resource "aws_sns_topic_subscription" "billing_email" {
  for_each = local.is_primary ? toset(var.alarm_emails) : toset([])
  provider = aws.us_east_1

  topic_arn = aws_sns_topic.billing[0].arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_sns_topic_subscription" "billing_https" {
  for_each = local.is_primary ? toset(var.alarm_https_endpoints) : toset([])
  provider = aws.us_east_1

  topic_arn              = aws_sns_topic.billing[0].arn
  protocol               = "https"
  endpoint               = each.value
  endpoint_auto_confirms = true
}

resource "aws_cloudwatch_metric_alarm" "billing" {
  count    = local.is_primary ? 1 : 0
  provider = aws.us_east_1

  alarm_name          = "${local.global_name_prefix}-estimated-charges"
  alarm_description   = "Estimated monthly AWS charges above ${var.billing_alarm_threshold_usd} USD"
  namespace           = "AWS/Billing"
  metric_name         = "EstimatedCharges"
  statistic           = "Maximum"
  period              = 21600
  evaluation_periods  = 1
  threshold           = var.billing_alarm_threshold_usd
  comparison_operator = "GreaterThanThreshold"
  dimensions          = { Currency = "USD" }
  alarm_actions       = [aws_sns_topic.billing[0].arn]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.names.dashboard
  dashboard_body = jsonencode({
    widgets = [
      for i, w in [
        { title = "CPU utilisation (%)", metrics = [
          ["AWS/EC2", "CPUUtilization", "AutoScalingGroupName", local.names.asg, { label = "backend" }],
          ["AWS/EC2", "CPUUtilization", "AutoScalingGroupName", local.names.frontend_asg, { label = "frontend" }],
        ] },
        { title = "Memory used (%)", metrics = [
          ["CWAgent", "mem_used_percent", "AutoScalingGroupName", local.names.asg, { label = "backend" }],
          ["CWAgent", "mem_used_percent", "AutoScalingGroupName", local.names.frontend_asg, { label = "frontend" }],
        ] },
        { title = "Root disk used (%) and free inodes", metrics = [
          ["CWAgent", "disk_used_percent", "AutoScalingGroupName", local.names.asg, { stat = "Maximum", label = "backend used (%)" }],
          ["CWAgent", "disk_used_percent", "AutoScalingGroupName", local.names.frontend_asg, { stat = "Maximum", label = "frontend used (%)" }],
          ["CWAgent", "disk_inodes_free", "AutoScalingGroupName", local.names.asg, { stat = "Minimum", label = "backend free inodes", yAxis = "right" }],
          ["CWAgent", "disk_inodes_free", "AutoScalingGroupName", local.names.frontend_asg, { stat = "Minimum", label = "frontend free inodes", yAxis = "right" }],
        ] },
        { title = "Request rate (per minute)", metrics = [
          ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", aws_lb.public.arn_suffix, { stat = "Sum", label = "public ALB" }],
          ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", aws_lb.internal.arn_suffix, { stat = "Sum", label = "Ollama API" }],
        ] },
        { title = "Error rate (5xx per minute)", metrics = [
          ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", aws_lb.public.arn_suffix, { stat = "Sum", label = "frontend 5xx" }],
          ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", aws_lb.internal.arn_suffix, { stat = "Sum", label = "backend 5xx" }],
          ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", aws_lb.public.arn_suffix, { stat = "Sum", label = "ALB 5xx" }],
        ] },
        { title = "Model inference latency (s)", metrics = [
          ["Ollama", "InferenceLatency", "AutoScalingGroupName", local.names.asg, { stat = "p50", label = "p50" }],
          ["Ollama", "InferenceLatency", "AutoScalingGroupName", local.names.asg, { stat = "p95", label = "p95" }],
          ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", aws_lb.internal.arn_suffix, { stat = "p95", label = "API p95 (ALB)" }],
        ] },
        { title = "Server-side time to first token (s)", metrics = [
          ["Ollama", "TimeToFirstToken", "AutoScalingGroupName", local.names.asg, { stat = "p50", label = "p50" }],
          ["Ollama", "TimeToFirstToken", "AutoScalingGroupName", local.names.asg, { stat = "p95", label = "p95" }],
        ] },
        { title = "In-flight and waiting requests per backend instance", metrics = [
          ["Ollama", "InFlightRequests", "AutoScalingGroupName", local.names.asg, { stat = "Average", label = "in flight (average)" }],
          ["Ollama", "InFlightRequests", "AutoScalingGroupName", local.names.asg, { stat = "Maximum", label = "in flight (maximum)" }],
          ["Ollama", "QueuedRequests", "AutoScalingGroupName", local.names.asg, { stat = "Maximum", label = "waiting for a slot (maximum)" }],
        ] },
        { title = "Models loaded and load failures", metrics = [
          ["Ollama", "LoadedModels", "AutoScalingGroupName", local.names.asg, { stat = "Average", label = "loaded models (average)" }],
          ["Ollama", "ModelLoadFailures", "AutoScalingGroupName", local.names.asg, { stat = "Sum", label = "load failures" }],
        ] },
        ] : {
        type   = "metric"
        x      = (i % 2) * 12
        y      = floor(i / 2) * 6
        width  = 12
        height = 6
        properties = {
          title   = w.title
          region  = var.aws_region
          view    = "timeSeries"
          stat    = "Average"
          period  = 60
          metrics = w.metrics
        }
      }
    ]
  })
}
