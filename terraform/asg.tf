# Two tiers in private subnets: the Open-WebUI frontend and the Ollama backend ("ollama-asg"). Baked AMI from the
# SSM parameter the bake playbook writes; a new AMI id -> new launch template version. Terraform never moves a group
# to that version: the release step (playbooks/release.yml) rolls it out with an instance refresh whose desired
# configuration names it, so AWS keeps the group's previous version recorded and rolls back to it by itself.
# Everything here that needs a baked image is keyed on var.ollama_fleet_enabled: a new account's first apply (false)
# builds the foundation the bake needs, the second (true) the fleet. Scaling policies and schedules: scaling.tf.

# One baked image per tier (roles/ami_bake writes /ollama/<env>/<tier>/ami-id).
data "aws_ssm_parameter" "ami" {
  for_each = local.fleet_ami_parameter_names

  name = each.value
}

# The baked image itself: its root device name differs between Debian ("/dev/xvda") and Ubuntu ("/dev/sda1").
data "aws_ami" "baked" {
  for_each = data.aws_ssm_parameter.ami

  owners = ["self"]

  filter {
    name   = "image-id"
    values = [each.value.insecure_value]
  }
}

locals {
  group_metrics     = ["GroupDesiredCapacity", "GroupInServiceInstances", "GroupPendingInstances", "GroupTerminatingInstances", "GroupTotalInstances"]
  warm_pool_metrics = ["WarmPoolWarmedCapacity", "WarmPoolPendingCapacity", "WarmPoolTotalCapacity"]

  common_settings = {
    OLLAMA_PLATFORM_ENVIRONMENT = var.environment
    OLLAMA_PLATFORM_REGION      = var.aws_region
    OLLAMA_PLATFORM_LOG_PREFIX  = local.log_group_prefix
    OLLAMA_API_TOKEN_SECRET_ARN = local.secret_arns["ollama_api_token"]
  }

  tiers = {
    frontend = {
      asg_name       = local.names.frontend_asg
      lt_name        = local.names.frontend_lt
      instance_types = var.ollama_frontend_instance_types
      capacity       = var.ollama_frontend_capacity
      volume_gb      = var.ollama_frontend_volume_gb
      sg             = aws_security_group.frontend.id
      profile        = local.instance_profile_arns.frontend
      target_group   = aws_lb_target_group.frontend.arn
      settings = merge(local.common_settings, {
        OLLAMA_PLATFORM_ROLE           = "frontend"
        OLLAMA_PLATFORM_ASG_NAME       = local.names.frontend_asg
        OLLAMA_PLATFORM_LIFECYCLE_HOOK = "${local.names.frontend_asg}-launch"
        OLLAMA_PLATFORM_DRAIN_HOOK     = "${local.names.frontend_asg}-drain"
        OLLAMA_PLATFORM_DRAIN_SECONDS  = local.drain_seconds
        # ollama-platform-drain --restart: Open-WebUI restarts out of this group when a secret rotates.
        OLLAMA_PLATFORM_TARGET_GROUP_ARN = aws_lb_target_group.frontend.arn
        WEBUI_URL                        = local.service_url
        OLLAMA_BASE_URL                  = local.backend_url
        WEBUI_SECRET_KEY_SECRET_ARN      = local.secret_arns["webui_secret_key"]
        REDIS_AUTH_SECRET_ARN            = local.secret_arns["redis_auth_token"]
        REDIS_HOST                       = aws_elasticache_replication_group.this.primary_endpoint_address
        DATABASE_HOST                    = aws_db_instance.webui.address
        DATABASE_SECRET_ARN              = aws_db_instance.webui.master_user_secret[0].secret_arn
        DATABASE_NAME                    = aws_db_instance.webui.db_name
        DATABASE_PORT                    = aws_db_instance.webui.port
        S3_BUCKET_NAME                   = local.uploads_bucket
        S3_KEY_PREFIX                    = "uploads"
        }, {
        # Admin account created on the first start, and the optional single sign-on (var.webui_oidc; not in a DR
        # stack: the client secret var.webui_oidc names lives in the primary's region).
        WEBUI_ADMIN_EMAIL               = var.webui_admin_email
        WEBUI_ADMIN_PASSWORD_SECRET_ARN = local.secret_arns["webui_admin_password"]
        }, var.webui_oidc == null || !local.is_primary ? {} : {
        OIDC_PROVIDER_URL      = var.webui_oidc.provider_url
        OIDC_CLIENT_ID         = var.webui_oidc.client_id
        OIDC_CLIENT_SECRET_ARN = var.webui_oidc.client_secret_arn
        OIDC_PROVIDER_NAME     = var.webui_oidc.provider_name
      })
    }
    backend = {
      asg_name       = local.names.asg
      lt_name        = local.names.backend_lt
      instance_types = var.ollama_backend_instance_types
      capacity       = var.ollama_backend_capacity
      volume_gb      = var.ollama_backend_volume_gb
      sg             = aws_security_group.backend.id
      profile        = local.instance_profile_arns.backend
      target_group   = aws_lb_target_group.backend.arn
      settings = merge(local.common_settings, {
        OLLAMA_PLATFORM_ROLE           = "backend"
        OLLAMA_PLATFORM_ASG_NAME       = local.names.asg
        OLLAMA_PLATFORM_LIFECYCLE_HOOK = "${local.names.asg}-launch"
        OLLAMA_PLATFORM_DRAIN_HOOK     = "${local.names.asg}-drain"
        OLLAMA_PLATFORM_DRAIN_SECONDS  = local.drain_seconds
        OLLAMA_DATA_TABLE              = aws_dynamodb_table.data.name
      })
    }
  }
}

# The switch is spelled out on each tier-keyed resource rather than held in a second local: checkov follows one local
# hop, and through two it no longer sees the security groups attached here (CKV2_AWS_5).
resource "aws_launch_template" "this" {
  for_each = var.ollama_fleet_enabled ? local.tiers : {}

  name                   = each.value.lt_name
  description            = "${each.key} tier, baked AMI from ${local.ami_parameter_names[each.key]}"
  image_id               = data.aws_ami.baked[each.key].id
  instance_type          = each.value.instance_types[0]
  vpc_security_group_ids = [each.value.sg]
  update_default_version = true
  ebs_optimized          = true
  # The instance record (names and ARNs, never secret values) for the bootstrap baked into the image.
  user_data = base64encode(templatefile("${path.module}/templates/user_data.sh.tftpl", {
    instance_env = join("\n", [for key, value in each.value.settings : "${key}=${value}"])
  }))

  iam_instance_profile {
    arn = each.value.profile
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "enabled"
  }

  block_device_mappings {
    device_name = data.aws_ami.baked[each.key].root_device_name

    ebs {
      volume_size           = each.value.volume_gb
      volume_type           = "gp3"
      encrypted             = true
      kms_key_id            = aws_kms_key.data.arn
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = true # 1-minute metrics: scale-out decisions within the 5-minute objective
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${each.value.asg_name}-instance", Role = each.key })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = "${each.value.asg_name}-volume", Role = each.key })
  }
}

resource "aws_autoscaling_group" "this" {
  for_each = var.ollama_fleet_enabled ? local.tiers : {}

  name                      = each.value.asg_name
  vpc_zone_identifier       = aws_subnet.private[*].id
  target_group_arns         = [each.value.target_group]
  min_size                  = each.value.capacity.min
  max_size                  = each.value.capacity.max
  desired_capacity          = each.value.capacity.desired
  health_check_type         = "ELB"
  health_check_grace_period = each.key == "backend" ? 600 : 300
  default_instance_warmup   = each.key == "backend" ? 180 : 120
  capacity_rebalance        = var.ollama_on_demand_percentage < 100
  protect_from_scale_in     = false
  wait_for_capacity_timeout = "15m"
  enabled_metrics           = concat(local.group_metrics, each.key == "backend" ? local.warm_pool_metrics : [])

  # Several instance types (or spot): a mixed-instances policy. On-demand capacity takes the types in their order
  # ("prioritized"): the first type while it has capacity, the next when it runs out (docs/GPU.md).
  dynamic "mixed_instances_policy" {
    for_each = var.ollama_on_demand_percentage < 100 || length(each.value.instance_types) > 1 ? [1] : []
    content {
      instances_distribution {
        on_demand_base_capacity                  = var.ollama_on_demand_base_capacity
        on_demand_percentage_above_base_capacity = var.ollama_on_demand_percentage
        on_demand_allocation_strategy            = "prioritized"
        spot_allocation_strategy                 = "price-capacity-optimized"
      }

      launch_template {
        launch_template_specification {
          launch_template_id = aws_launch_template.this[each.key].id
          version            = aws_launch_template.this[each.key].latest_version
        }

        dynamic "override" {
          for_each = each.value.instance_types
          content {
            instance_type = override.value
          }
        }
      }
    }
  }

  dynamic "launch_template" {
    for_each = var.ollama_on_demand_percentage < 100 || length(each.value.instance_types) > 1 ? [] : [1]
    content {
      id      = aws_launch_template.this[each.key].id
      version = aws_launch_template.this[each.key].latest_version
    }
  }

  # Warm pools cannot be combined with mixed instances (spot or several types): a single-type on-demand backend only.
  dynamic "warm_pool" {
    for_each = each.key == "backend" && var.ollama_warm_pool_size > 0 && var.ollama_on_demand_percentage == 100 && length(each.value.instance_types) == 1 ? [1] : []
    content {
      pool_state                  = "Stopped"
      min_size                    = var.ollama_warm_pool_size
      max_group_prepared_capacity = var.ollama_warm_pool_size + each.value.capacity.desired

      instance_reuse_policy {
        reuse_on_scale_in = true
      }
    }
  }

  # The instance bootstrap (roles/instance_bootstrap) completes this hook once the tier answers its readiness
  # check (backend /ready: the default model has generated once; frontend /health) and abandons it on a failure.
  initial_lifecycle_hook {
    name                 = "${each.value.asg_name}-launch"
    lifecycle_transition = "autoscaling:EC2_INSTANCE_LAUNCHING"
    heartbeat_timeout    = var.ollama_lifecycle_heartbeat_timeout[each.key]
    default_result       = "ABANDON"
  }

  # An instance leaving service (scale-in, refresh, schedule) drains first: the instance's drain handler
  # (roles/instance_bootstrap, ollama-platform-drain) sees Terminated as its target lifecycle state, stops taking new
  # work, waits for its streams up to local.drain_seconds and completes this hook with CONTINUE.
  initial_lifecycle_hook {
    name                 = "${each.value.asg_name}-drain"
    lifecycle_transition = "autoscaling:EC2_INSTANCE_TERMINATING"
    heartbeat_timeout    = local.drain_hook_timeout
    default_result       = "CONTINUE"
  }

  # No instance_refresh block: Terraform would move the group to the new launch template version before the refresh
  # starts, so an automatic rollback would "restore" the same bad version (hashicorp/terraform-provider-aws#34189),
  # and an apply would race the release step's refresh. playbooks/release.yml starts and watches the refresh.

  dynamic "tag" {
    for_each = merge(local.tags, { Name = "${each.value.asg_name}-instance", Role = each.key })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    ignore_changes = [
      desired_capacity, # owned by scaling policies and schedules after creation
      # The launch template version the group runs is the release step's (an instance refresh's desired
      # configuration); Terraform only sets it when it creates the group.
      launch_template[0].version,
      mixed_instances_policy[0].launch_template[0].launch_template_specification[0].version,
    ]

    precondition {
      condition     = !(each.key == "backend" && var.ollama_warm_pool_size > 0 && (var.ollama_on_demand_percentage < 100 || length(each.value.instance_types) > 1))
      error_message = "var.ollama_warm_pool_size > 0 needs var.ollama_on_demand_percentage = 100 and a single ollama_backend_instance_types entry: AWS warm pools cannot be used with a mixed-instances policy (spot or fallback types). Set the warm pool to 0 to keep the fallback types (docs/GPU.md)."
    }
  }

  # A DR stack's internal entry takes its fixed private addresses before any instance could (failover.tf).
  depends_on = [aws_lb.entry]
}
