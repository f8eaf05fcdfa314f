# How the groups size themselves (docs/OPERATIONS.md, "Scaling and schedules"):
#   backend   in-flight generations per instance (Ollama/InFlightRequests, published by the backends) is the one
#             signal that scales in; ALB requests per target and the "ollama-high-cpu" step policy only add capacity
#             (GPU hosts generate at low CPU, so a CPU-based scale-in would remove busy hosts and flap);
#   frontend  CPU and ALB requests per target, both ways;
#   both      scale-to-zero at night for non-production (scheduled actions, the only home of the schedule).

resource "aws_autoscaling_policy" "cpu" {
  for_each = var.ollama_fleet_enabled ? { frontend = local.tiers.frontend } : {}

  name                   = "${each.value.asg_name}-cpu-target"
  autoscaling_group_name = aws_autoscaling_group.this[each.key].name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = var.ollama_cpu_target_percent

    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
  }
}

resource "aws_autoscaling_policy" "requests" {
  for_each = var.ollama_fleet_enabled ? local.tiers : {}

  name                   = "${each.value.asg_name}-requests-target"
  autoscaling_group_name = aws_autoscaling_group.this[each.key].name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = var.ollama_requests_per_target[each.key]
    # A generation is one long request: few requests per target says nothing about how busy a backend is.
    disable_scale_in = each.key == "backend"

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = each.key == "backend" ? "${aws_lb.internal.arn_suffix}/${aws_lb_target_group.backend.arn_suffix}" : "${aws_lb.public.arn_suffix}/${aws_lb_target_group.frontend.arn_suffix}"
    }
  }
}

# The backend's scaling signal: in-flight generations per instance, published by every backend (roles/ollama,
# ollama-inflight-metric) as Ollama/InFlightRequests with the dimension AutoScalingGroupName.
resource "aws_autoscaling_policy" "inflight" {
  count = var.ollama_fleet_enabled ? 1 : 0

  name                   = "${local.names.asg}-inflight-target"
  autoscaling_group_name = aws_autoscaling_group.this["backend"].name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = var.ollama_inflight_target

    customized_metric_specification {
      metric_name = "InFlightRequests"
      namespace   = "Ollama"
      statistic   = "Average"
      unit        = "Count"

      metric_dimension {
        name  = "AutoScalingGroupName"
        value = local.names.asg
      }
    }
  }
}

# CPU guard behind the "ollama-high-cpu" alarm (monitoring.tf): adds capacity, never removes it.
resource "aws_autoscaling_policy" "step_out" {
  count = var.ollama_fleet_enabled ? 1 : 0

  name                      = "${local.names.asg}-cpu-step-out"
  autoscaling_group_name    = aws_autoscaling_group.this["backend"].name
  policy_type               = "StepScaling"
  adjustment_type           = "ChangeInCapacity"
  estimated_instance_warmup = 180

  step_adjustment {
    metric_interval_lower_bound = 0
    metric_interval_upper_bound = 15
    scaling_adjustment          = 1
  }

  step_adjustment {
    metric_interval_lower_bound = 15
    scaling_adjustment          = 2
  }
}

# Night-time scale-to-zero for non-production: down at working_day_end, back at the wake time derived from
# working_day_start (locals.tf, schedule_cron). The wake launches through the ordinary boot path (baked image,
# instance bootstrap, launch hook), with nobody running a play.
resource "aws_autoscaling_schedule" "stop" {
  for_each = var.ollama_scale_to_zero_schedule.enabled && var.ollama_fleet_enabled ? local.tiers : {}

  scheduled_action_name  = "${each.value.asg_name}-night-stop"
  autoscaling_group_name = aws_autoscaling_group.this[each.key].name
  recurrence             = local.schedule_cron.sleep
  time_zone              = var.ollama_scale_to_zero_schedule.time_zone
  min_size               = 0
  max_size               = 0
  desired_capacity       = 0
}

resource "aws_autoscaling_schedule" "start" {
  for_each = var.ollama_scale_to_zero_schedule.enabled && var.ollama_fleet_enabled ? local.tiers : {}

  scheduled_action_name  = "${each.value.asg_name}-morning-start"
  autoscaling_group_name = aws_autoscaling_group.this[each.key].name
  recurrence             = local.schedule_cron.wake
  time_zone              = var.ollama_scale_to_zero_schedule.time_zone
  min_size               = each.value.capacity.min
  max_size               = each.value.capacity.max
  desired_capacity       = each.value.capacity.desired
}
