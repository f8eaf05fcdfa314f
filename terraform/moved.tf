# Addresses that changed when the fleet became switchable (var.ollama_fleet_enabled): singletons gained count.
# Tier-keyed resources kept their keys and need no entry.

moved {
  from = aws_autoscaling_policy.inflight
  to   = aws_autoscaling_policy.inflight[0]
}

moved {
  from = aws_autoscaling_policy.step_out
  to   = aws_autoscaling_policy.step_out[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.high_cpu
  to   = aws_cloudwatch_metric_alarm.high_cpu[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.low_cpu
  to   = aws_cloudwatch_metric_alarm.low_cpu[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.frontend_cpu
  to   = aws_cloudwatch_metric_alarm.frontend_cpu[0]
}
