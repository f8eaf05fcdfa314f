# Groups reference each other; nothing is open to 0.0.0.0/0. The public ALB accepts only CloudFront's
# origin-facing prefix list (one rule: the list counts ~55 entries against the 60-rule quota), on 443.

data "aws_ec2_managed_prefix_list" "cloudfront" {
  name = "com.amazonaws.global.cloudfront.origin-facing"
}

resource "aws_security_group" "alb" {
  name        = local.names.alb_sg
  description = "Public ALB: HTTPS from viewers via CloudFront"
  vpc_id      = aws_vpc.this.id

  tags = { Name = local.names.alb_sg }
}

# Route 53's health checkers on the primary's public ALB (failover.tf), in a group of their own: their prefix list
# counts 25 entries, CloudFront's 55, against the 60 rules of one group.
data "aws_ec2_managed_prefix_list" "route53_health_checks" {
  count = local.failover_routing ? 1 : 0

  name = "com.amazonaws.${var.aws_region}.route53-healthchecks"
}

resource "aws_security_group" "alb_health_checks" {
  count = local.failover_routing ? 1 : 0

  name        = local.names.alb_health_sg
  description = "Public ALB: its health path from Route 53 health checkers"
  vpc_id      = aws_vpc.this.id

  tags = { Name = local.names.alb_health_sg }
}

resource "aws_vpc_security_group_ingress_rule" "alb_from_health_checkers" {
  count = local.failover_routing ? 1 : 0

  security_group_id = aws_security_group.alb_health_checks[0].id
  description       = "HTTPS from Route 53 health checkers"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = data.aws_ec2_managed_prefix_list.route53_health_checks[0].id

  tags = { Name = "${local.name_prefix}-alb-from-health-checkers" }
}

resource "aws_security_group" "frontend" {
  #checkov:skip=CKV2_AWS_5:attached by the frontend launch template (asg.tf, vpc_security_group_ids from local.tiers), which checkov cannot resolve once that map carries module outputs; test_instance_security_groups_are_attached proves the attachment
  name        = local.names.frontend_sg
  description = "Open-WebUI instances: only from the public ALB"
  vpc_id      = aws_vpc.this.id

  tags = { Name = local.names.frontend_sg }
}

resource "aws_security_group" "internal_alb" {
  name        = local.names.internal_alb_sg
  description = "Internal ALB for the Ollama API: only from Open-WebUI instances"
  vpc_id      = aws_vpc.this.id

  tags = { Name = local.names.internal_alb_sg }
}

resource "aws_security_group" "backend" {
  #checkov:skip=CKV2_AWS_5:attached by the backend launch template (asg.tf, vpc_security_group_ids from local.tiers), which checkov cannot resolve once that map carries module outputs; test_instance_security_groups_are_attached proves the attachment
  name        = local.names.backend_sg
  description = "Ollama instances: only from the internal ALB"
  vpc_id      = aws_vpc.this.id

  tags = { Name = local.names.backend_sg }
}

resource "aws_security_group" "endpoints" {
  name        = local.names.endpoints_sg
  description = "Interface VPC endpoints: HTTPS from the instances"
  vpc_id      = aws_vpc.this.id

  tags = { Name = local.names.endpoints_sg }
}

resource "aws_security_group" "rds" {
  name        = local.names.rds_sg
  description = "Open-WebUI PostgreSQL: only from Open-WebUI instances"
  vpc_id      = aws_vpc.this.id

  tags = { Name = local.names.rds_sg }
}

resource "aws_security_group" "redis" {
  name        = local.names.redis_sg
  description = "Open-WebUI Redis: only from Open-WebUI instances"
  vpc_id      = aws_vpc.this.id

  tags = { Name = local.names.redis_sg }
}

locals {
  # name => [security group, port, protocol, source: sg | prefix list | cidr, description]
  ingress_rules = {
    alb_from_cloudfront = {
      sg   = aws_security_group.alb.id, port = 443, pl = data.aws_ec2_managed_prefix_list.cloudfront.id
      desc = "HTTPS from CloudFront origin-facing servers only"
    }
    frontend_from_alb = {
      sg   = aws_security_group.frontend.id, port = var.ollama_frontend_port, src = aws_security_group.alb.id
      desc = "Open-WebUI from the public ALB"
    }
    internal_alb_from_frontend = {
      sg   = aws_security_group.internal_alb.id, port = 443, src = aws_security_group.frontend.id
      desc = "Ollama API from Open-WebUI"
    }
    backend_from_internal_alb = {
      sg   = aws_security_group.backend.id, port = var.ollama_backend_port, src = aws_security_group.internal_alb.id
      desc = "Bearer-token proxy from the internal ALB"
    }
    endpoints_from_frontend = {
      sg   = aws_security_group.endpoints.id, port = 443, src = aws_security_group.frontend.id
      desc = "AWS APIs from Open-WebUI instances"
    }
    endpoints_from_backend = {
      sg   = aws_security_group.endpoints.id, port = 443, src = aws_security_group.backend.id
      desc = "AWS APIs from Ollama instances"
    }
    rds_from_frontend = {
      sg   = aws_security_group.rds.id, port = 5432, src = aws_security_group.frontend.id
      desc = "PostgreSQL from Open-WebUI"
    }
    redis_from_frontend = {
      sg   = aws_security_group.redis.id, port = 6379, src = aws_security_group.frontend.id
      desc = "Redis from Open-WebUI"
    }
  }

  egress_rules = {
    alb_to_frontend = {
      sg   = aws_security_group.alb.id, port = var.ollama_frontend_port, dst = aws_security_group.frontend.id
      desc = "To Open-WebUI instances"
    }
    internal_alb_to_backend = {
      sg   = aws_security_group.internal_alb.id, port = var.ollama_backend_port, dst = aws_security_group.backend.id
      desc = "To Ollama instances"
    }
    frontend_to_internal_alb = {
      sg   = aws_security_group.frontend.id, port = 443, dst = aws_security_group.internal_alb.id
      desc = "To the Ollama API"
    }
    frontend_to_rds = {
      sg   = aws_security_group.frontend.id, port = 5432, dst = aws_security_group.rds.id
      desc = "To PostgreSQL"
    }
    frontend_to_redis = {
      sg   = aws_security_group.frontend.id, port = 6379, dst = aws_security_group.redis.id
      desc = "To Redis"
    }
    frontend_to_endpoints = {
      sg   = aws_security_group.frontend.id, port = 443, dst = aws_security_group.endpoints.id
      desc = "To interface endpoints"
    }
    frontend_to_s3 = {
      sg   = aws_security_group.frontend.id, port = 443, pl = aws_vpc_endpoint.gateway["s3"].prefix_list_id
      desc = "To S3 through the gateway endpoint"
    }
    backend_to_endpoints = {
      sg   = aws_security_group.backend.id, port = 443, dst = aws_security_group.endpoints.id
      desc = "To interface endpoints"
    }
    backend_to_s3 = {
      sg   = aws_security_group.backend.id, port = 443, pl = aws_vpc_endpoint.gateway["s3"].prefix_list_id
      desc = "To S3 through the gateway endpoint"
    }
    backend_to_dynamodb = {
      sg   = aws_security_group.backend.id, port = 443, pl = aws_vpc_endpoint.gateway["dynamodb"].prefix_list_id
      desc = "To DynamoDB through the gateway endpoint"
    }
  }
}

resource "aws_vpc_security_group_ingress_rule" "this" {
  for_each = local.ingress_rules

  security_group_id            = each.value.sg
  description                  = each.value.desc
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = try(each.value.src, null)
  prefix_list_id               = try(each.value.pl, null)

  tags = { Name = "${local.name_prefix}-${replace(each.key, "_", "-")}" }
}

resource "aws_vpc_security_group_egress_rule" "this" {
  for_each = local.egress_rules

  security_group_id            = each.value.sg
  description                  = each.value.desc
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = try(each.value.dst, null)
  prefix_list_id               = try(each.value.pl, null)

  tags = { Name = "${local.name_prefix}-${replace(each.key, "_", "-")}" }
}
